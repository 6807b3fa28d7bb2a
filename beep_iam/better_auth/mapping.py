"""The better-auth side of the schema contract, read from the Django models.

better-auth addresses a table by a model key (``oauthClient``) and a column by a field key
(``clientId``). Every concrete model of ``beep_shared`` and ``beep_iam`` is one better-auth
model: its key is the camel-cased table name and each column's key the camel-cased column name
(foreign keys use the column, ``user_id`` -> ``userId``), except the few spellings better-auth
chose otherwise (:data:`FIELD_KEYS`). The audit columns better-auth does not know are part of
its schema too (with their database defaults, so better-auth's schema check accepts them).
Django's own user columns (:data:`DJANGO_COLUMNS`) are in the mapping but not in better-auth's
view of it (:attr:`MappedTable.better_auth_columns`): the generated Drizzle schema leaves them
out and the better-auth role may not read or write them (:mod:`.grants`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connection as default_connection
from django.db import models
from django.db.models.fields import NOT_PROVIDED

MAPPED_APPS = ("beep_shared", "beep_iam")

# better-auth field keys that are not the camel-cased column name.
FIELD_KEYS = {
    ("oauth_client", "require_pkce"): "requirePKCE",
    ("passkey", "credential_id"): "credentialID",
}

# Django's own columns on the user model: authentication and admin rights. better-auth never
# reads or writes them and must not be able to (a better-auth server that could set
# is_superuser would make Django superusers); their database defaults fill them in for the
# users better-auth inserts.
DJANGO_COLUMNS = frozenset(
    ("user", column)
    for column in ("password", "last_login", "is_staff", "is_superuser", "is_active")
)

# NOT NULL columns better-auth never writes that a trigger fills in on INSERT (see the models),
# replacing the column's database default ('': the database itself says an INSERT may omit them).
DERIVED_COLUMNS = {
    ("team", "slug"): "trigger team_derive_slug: the name, slugified, plus 8 id characters",
    ("team_member", "organization_id"): "trigger team_member_derive_org: the team's organization",
}


@dataclass(frozen=True)
class Column:
    key: str  # better-auth field key
    name: str  # SQL column
    sql_type: str  # as PostgreSQL spells it in format_type(), e.g. "timestamp with time zone"
    not_null: bool
    primary_key: bool
    default_sql: str | None  # the column's database default, or None
    derived: str | None  # how the database fills it in when better-auth leaves it out
    django_only: bool = False  # one of DJANGO_COLUMNS: outside better-auth's reach


@dataclass(frozen=True)
class MappedTable:
    """One mapped table as better-auth's schema sees it: its model key and columns."""

    model_key: str  # better-auth model key
    name: str  # SQL table
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    @property
    def better_auth_columns(self) -> tuple[Column, ...]:
        """The columns better-auth's schema has, and its role may read and write."""
        return tuple(column for column in self.columns if not column.django_only)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def mapped_models() -> list[type[models.Model]]:
    """Concrete models of the mapped apps (not Django's auto-created many-to-many tables)."""
    return [
        model
        for label in MAPPED_APPS
        for model in apps.get_app_config(label).get_models()
        if not model._meta.auto_created and model._meta.managed
    ]


def _sql_type(field: models.Field[Any, Any], connection: Any) -> str:
    sql_type = field.db_type(connection)
    if sql_type is None:
        raise ValueError(f"{field.model.__name__}.{field.name} has no column type")
    # EntityIdField spells text in capitals on purpose (see its db_type); the column is text.
    return "text" if sql_type == "TEXT" else sql_type.replace("varchar", "character varying")


def _default_sql(field: models.Field[Any, Any], connection: Any) -> str | None:
    if field.db_default is NOT_PROVIDED:
        return None
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        sql, params = editor.db_default_sql(field)
        return sql % tuple(editor.quote_value(param) for param in params)


def table_for(model: type[models.Model], connection: Any = None) -> MappedTable:
    connection = connection or default_connection
    table = model._meta.db_table
    columns = []
    for field in model._meta.concrete_fields:
        column = str(field.column)  # concrete fields always have one
        columns.append(
            Column(
                key=FIELD_KEYS.get((table, column), camel(column)),
                name=column,
                sql_type=_sql_type(field, connection),
                not_null=not field.null,
                primary_key=field.primary_key,
                default_sql=_default_sql(field, connection),
                derived=DERIVED_COLUMNS.get((table, column)),
                django_only=(table, column) in DJANGO_COLUMNS,
            )
        )
    return MappedTable(model_key=camel(table), name=table, columns=tuple(columns))


def tables(connection: Any = None) -> list[MappedTable]:
    """The mapping: one :class:`MappedTable` per mapped model, in a stable order (by table name)."""
    return sorted((table_for(m, connection) for m in mapped_models()), key=lambda t: t.name)


def table_names() -> list[str]:
    return sorted(model._meta.db_table for model in mapped_models())
