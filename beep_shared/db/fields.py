"""Model fields: entity id keys and foreign keys whose ON DELETE lives in the database."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute

from beep_shared.db.functions import entity_id_default
from beep_shared.ids import make_id, validate_id


class _ValidatedIdAttribute(DeferredAttribute):
    """Validates an id when it is assigned, so a bad key fails where it was set."""

    def __set__(self, instance: models.Model, value: Any) -> None:
        field = self.field
        if value is not None and not hasattr(value, "resolve_expression"):
            validate_id(field.prefix, value)  # type: ignore[attr-defined]
        instance.__dict__[field.attname] = value


class EntityIdField(models.CharField):
    """Primary key ``"<prefix>__<uuid>"``, made in Python (UUIDv7) and by the database default.

    ``prefix`` defaults to the model's table name. Values are validated on assignment, in
    ``to_python`` and in lookups (``get_prep_value``), raising ``ValidationError``.
    """

    descriptor_class = _ValidatedIdAttribute
    description = "Entity id '<table>__<uuid>'"

    def __init__(self, *args: Any, prefix: str | None = None, **kwargs: Any) -> None:
        self.prefix = prefix
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        kwargs.pop("max_length", None)
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False):
        if self.prefix is None and not cls._meta.abstract:
            self.prefix = cls._meta.db_table
        if self.prefix is not None:
            self.default = _IdFactory(self.prefix)
            self.db_default = entity_id_default(self.prefix)
        super().contribute_to_class(cls, name, private_only)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        for key in ("default", "db_default", "max_length"):
            kwargs.pop(key, None)
        if kwargs.get("primary_key") is True:
            kwargs.pop("primary_key")
        if kwargs.get("editable") is False:
            kwargs.pop("editable")
        path = "beep_shared.db.fields.EntityIdField"
        return name, path, args, kwargs

    def db_type(self, connection: Any) -> str:
        # Upper case on purpose: Django's PostgreSQL schema editor adds a second
        # text_pattern_ops index to every indexed column whose type starts with lower-case
        # "text". Keys are never LIKE-searched through an index, so that index would only
        # cost space and write time on every table and foreign key.
        return "TEXT"

    def rel_db_type(self, connection: Any) -> str:
        return self.db_type(connection)

    def cast_db_type(self, connection: Any) -> str:
        return "text"

    def to_python(self, value: Any) -> Any:
        if value is None or value == "":
            return value
        return validate_id(self._require_prefix(), value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return value
        return validate_id(self._require_prefix(), value)

    def _require_prefix(self) -> str:
        assert self.prefix is not None, "EntityIdField used before it was added to a model"
        return self.prefix


class ForeignIdField(EntityIdField):
    """An :class:`EntityIdField` whose rows may also carry ids another server chose (the
    ``verification`` rows better-auth's ``reserveVerificationValue`` keys by a digest: DPoP
    proof reservations of either server). New rows get an entity id as usual; the ids it
    reads and looks up are taken as they are, so one foreign row cannot break a listing."""

    descriptor_class = DeferredAttribute  # type: ignore[assignment]
    description = "Entity id '<table>__<uuid>', or another server's id"

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        return models.CharField.get_prep_value(self, value)

    def deconstruct(self) -> Any:
        name, _, args, kwargs = super().deconstruct()
        return name, "beep_shared.db.fields.ForeignIdField", args, kwargs


class _IdFactory:
    """Callable default; a class (not a lambda) so it is named in error messages."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self) -> str:
        return make_id(self.prefix)

    def __repr__(self) -> str:
        return f"make_id({self.prefix!r})"


_DB_ACTIONS = {
    models.CASCADE: "CASCADE",
    models.SET_NULL: "SET NULL",
    models.PROTECT: "RESTRICT",
    models.RESTRICT: "RESTRICT",
    models.DO_NOTHING: "NO ACTION",
}


def database_action(on_delete: Any) -> str:
    """The ``ON DELETE`` clause matching a Django ``on_delete`` handler."""
    try:
        return _DB_ACTIONS[on_delete]
    except KeyError:
        raise TypeError(
            f"on_delete={on_delete!r} has no database equivalent; use CASCADE, SET_NULL, "
            "PROTECT, RESTRICT or DO_NOTHING."
        ) from None


class ForeignKey(models.ForeignKey):
    """A foreign key whose ON DELETE action is also enforced by PostgreSQL.

    Django's own constraint carries no ON DELETE clause on Django 5.2, so raw SQL deletes
    would fail or orphan rows. This field lets Django skip its constraint and instead
    contributes a :class:`~beep_shared.db.constraints.ForeignKeyConstraint` to the model's
    ``Meta.constraints`` with the matching action; ``makemigrations`` writes it like any
    constraint. Django's collector keeps running ``on_delete`` in Python too, so the admin's
    delete confirmation and signals behave as usual.

    Indexes are not implied (``db_index=False``): declare named ones in ``Meta.indexes``.
    """

    def __init__(self, to: Any, on_delete: Any, **kwargs: Any) -> None:
        database_action(on_delete)  # fail at class definition on an unsupported handler
        kwargs["db_constraint"] = False
        kwargs.setdefault("db_index", False)
        super().__init__(to, on_delete, **kwargs)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        kwargs.pop("db_constraint", None)
        return name, "beep_shared.db.fields.ForeignKey", args, kwargs

    @property
    def db_on_delete(self) -> str:
        return database_action(self.remote_field.on_delete)


class TextIPAddressField(models.GenericIPAddressField):
    """An IP address validated like ``GenericIPAddressField`` but stored in a ``text`` column.

    For columns another writer fills with ``''`` when it knows no address (better-auth's
    ``session.ip_address``): an ``inet`` column rejects ``''`` before any trigger runs, so the
    column is text and a trigger turns ``''`` into NULL and checks the rest is an address.
    """

    def db_type(self, connection: Any) -> str:
        return "text"

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        return value or None
