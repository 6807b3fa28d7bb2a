"""Which organizations a user may work in (the admin's organization switcher).

:func:`may_work_in` is the one rule: the middleware re-checks a chosen organization with it
on every admin request, and the admin offers "work here" where it holds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Exists, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables

from beep_shared.rls.context import (
    bypass_configured,
    bypass_rls,
    current_scope,
    tenant_context,
    tenant_id,
)
from beep_shared.rls.scope import CheckStatement, TenantCheck


def may_work_in(user: Any, organization: Any) -> bool:
    """Whether ``user`` may work in ``organization`` (an Organization or its id) now.

    Superusers: any existing organization. Other users who may authenticate (active, not
    banned, not soft-deleted): organizations they own or
    hold a membership of (``TenantModel.tenant_memberships``, e.g. an active ``member`` row).
    One statement, run as that organization, so its membership rows are visible without
    the bypass alias (and the answer sees the caller's uncommitted rows).
    """
    from beep_shared.models import Organization
    from beep_shared.models.user import user_may_authenticate

    if not user_may_authenticate(user):
        return False
    try:
        organization_id = tenant_id(organization)
    except ValidationError:
        return False
    if organization_id is None:
        return False
    loaded = _answer_loaded_with(user, organization_id)
    if loaded is not None:
        exists, member = loaded
        return exists if user.is_superuser else member
    if user.is_superuser:
        with tenant_context(organization_id):
            return Organization.objects.filter(pk=organization_id).exists()
    sql, params = _membership_check()
    # The statement's shape is fixed; only the user and the organization change.
    bound = [
        user.pk if p == _SOME_USER else organization_id if p == _SOME_ORGANIZATION else p
        for p in params
    ]
    alias = router.db_for_read(Organization)
    with tenant_context(organization_id, using=alias), connections[alias].cursor() as cursor:
        cursor.execute(sql, bound)
        return cursor.fetchone() is not None


# Stand-ins the membership statement is compiled with once; each call binds its own values.
_SOME_USER = "user__00000000-0000-7000-8000-00000000beef"
_SOME_ORGANIZATION = "organization__00000000-0000-7000-8000-00000000beef"
_compiled: tuple[str, list[Any]] | None = None


def _membership_check() -> tuple[str, list[Any]]:
    """:func:`may_work_in`'s statement for a non-superuser: the organization, owned by the
    user or holding one of their memberships (``TenantModel.tenant_memberships``). Built by the
    ORM once per process: building it per request cost more than running it."""
    global _compiled
    if _compiled is None:
        from django.contrib.auth import get_user_model

        from beep_shared.models import Organization
        from beep_shared.rls.registry import tenant_models

        someone = get_user_model()(pk=_SOME_USER)
        allowed = Q(owner_user=someone)
        for model in tenant_models():
            memberships = model.tenant_memberships(someone)  # type: ignore[attr-defined]
            if memberships is not None:
                # The organization by value, not by reference to the outer row: correlated
                # and inside an OR, PostgreSQL hashes all of the organization's active
                # memberships to find the user's (4-9 ms with 10,000 members, on every
                # request); by value it is one probe of the (organization, user) index.
                memberships = memberships.filter(organization_id=_SOME_ORGANIZATION)
                allowed |= Q(Exists(memberships))
        rows = Organization.objects.filter(Q(pk=_SOME_ORGANIZATION) & allowed)
        query = rows.query.exists()
        alias = router.db_for_read(Organization)
        sql, params = query.get_compiler(alias).as_sql()
        sql, found = _qualified(sql, alias)
        if not found:
            return sql, list(params)
        _compiled = (sql, list(params))
    return _compiled


# A table the statement reads, by its quoted name (not a column: no "." follows).
_TABLE_RE = re.compile(r'\b(FROM|JOIN)\s+"((?:[^"]|"")+)"(?!\.)')
_SCHEMAS_SQL = """
SELECT DISTINCT ON (c.relname) c.relname, n.nspname
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = ANY(%s) AND c.relpersistence <> 't'
  AND n.nspname = ANY(pg_catalog.current_schemas(false))
ORDER BY c.relname, pg_catalog.array_position(pg_catalog.current_schemas(false), n.nspname)
"""


def _qualified(sql: str, alias: str) -> tuple[str, bool]:
    """``sql`` with every table it reads named with its schema, and whether all were found.

    Unqualified, a name means the first table of that name on the session's search path,
    and a temporary table comes before all of them: SQL injected on a persistent or pooled
    server session could leave one that answers the check of every later request
    (docs/rls.md, "Threat model"). The schema is the one the migrations made the table in,
    as the search path finds it (temporary tables left out), looked up once per process.
    """
    from django.db import connections

    tables = {match[2].replace('""', '"') for match in _TABLE_RE.finditer(sql)}
    if not tables:
        return sql, True
    connection = connections[alias]
    connection.ensure_connection()
    # Past the wrapper: the catalog has no row level security, and the lookup must not
    # answer a check pending on this connection in passing.
    with connection.connection.cursor() as cursor:
        cursor.execute(_SCHEMAS_SQL, [sorted(tables)])
        schemas = dict(cursor.fetchall())
    qn = connection.ops.quote_name

    def qualify(match: re.Match[str]) -> str:
        table = match[2].replace('""', '"')
        schema = schemas.get(table)
        return match[0] if schema is None else f'{match[1]} {qn(schema)}."{match[2]}"'

    return _TABLE_RE.sub(qualify, sql), tables <= schemas.keys()


# --- the check riding on the user's own load -------------------------------------------------
#
# TenantMiddleware needs the request's user (Django verifies the session with it) and then
# this check: two statements. While a check is pending for the organization the request
# runs as, UserBackend.get_user() loads the user with both answers of the check as two
# more columns of its one statement; may_work_in() uses them once, for that user and
# organization only, and still applies every other part of the rule (validity, superuser
# rights as they stand after loading) in Python.

_pending: ContextVar[str | None] = ContextVar("beep_rls_pending_check", default=None)
_LOADED_ATTR = "_beep_work_in_loaded"
_EXISTS_COLUMN = "_beep_tenant_exists"
_MEMBER_COLUMN = "_beep_tenant_member"
_compiled_exists: tuple[str, list[Any]] | None = None


@contextmanager
def check_with_user_load(organization_id: str) -> Iterator[None]:
    """While the block loads the request's user, answer ``may_work_in(user,
    organization_id)`` in the same statement (see :func:`annotate_user_load`)."""
    token = _pending.set(organization_id)
    try:
        yield
    finally:
        _pending.reset(token)


def annotate_user_load(queryset: QuerySet[Any], user_id: Any) -> QuerySet[Any]:
    """``queryset`` (the user by ``user_id``) with the pending check's answers, if any.

    Only when the pending organization is the tenant the load itself runs as: membership
    rows are visible to that tenant alone (anything else would answer "no" for members).
    """
    organization_id = _pending.get()
    if organization_id is None or current_scope(queryset.db).tenant_id != organization_id:
        return queryset
    exists_sql, exists_params = _organization_check()
    member_sql, member_params = _membership_check()
    bind = {_SOME_USER: user_id, _SOME_ORGANIZATION: organization_id}
    return queryset.annotate(
        **{
            _EXISTS_COLUMN: RawSQL(
                f"EXISTS({exists_sql})", [bind.get(p, p) for p in exists_params]
            ),
            _MEMBER_COLUMN: RawSQL(
                f"EXISTS({member_sql})", [bind.get(p, p) for p in member_params]
            ),
        }
    )


def mark_user_load(user: Any, user_id: Any) -> None:
    """Remember on the loaded user which user and organization its answers are for."""
    organization_id = _pending.get()
    if organization_id is None or not hasattr(user, _EXISTS_COLUMN):
        return
    setattr(user, _LOADED_ATTR, (str(user_id), organization_id))


def _answer_loaded_with(user: Any, organization_id: str) -> tuple[bool, bool] | None:
    """(organization exists, user owns it or holds a membership) from the user's load, used
    once: a later call in the same request asks the database again."""
    # Attribute access, not __dict__: request.user is a lazy proxy of the instance.
    loaded = getattr(user, _LOADED_ATTR, None)
    if loaded is None:
        return None
    answers = (getattr(user, _EXISTS_COLUMN), getattr(user, _MEMBER_COLUMN))
    for name in (_LOADED_ATTR, _EXISTS_COLUMN, _MEMBER_COLUMN):
        delattr(user, name)
    if loaded != (str(user.pk), organization_id):
        return None
    exists, member = bool(answers[0]), bool(answers[1])
    return exists, exists and member


def _organization_check() -> tuple[str, list[Any]]:
    """The superuser's half of the rule: the organization exists (compiled once)."""
    global _compiled_exists
    if _compiled_exists is None:
        from beep_shared.models import Organization

        query = Organization.objects.filter(pk=_SOME_ORGANIZATION).query.exists()
        alias = router.db_for_read(Organization)
        sql, params = query.get_compiler(alias).as_sql()
        sql, found = _qualified(sql, alias)
        if not found:
            return sql, list(params)
        _compiled_exists = (sql, list(params))
    return _compiled_exists


# --- the check in SQL, for a session Django has verified before --------------------------------
#
# Loading the request's user costs a statement and, in Python, about as much as a small
# view. A Django session that TenantMiddleware has once verified through the ordinary load
# (Django's session hash, then may_work_in()) remembers the user and a fingerprint of the
# password hash Django verified it against (:func:`verified_session_record`); later
# requests of that session let the database answer the whole rule in front of their first
# statement (:func:`tenant_check_sql`): the same user, the same password hash (a password
# change, which ends the session for Django, ends this too), allowed to authenticate, and a
# superuser of an existing organization or its owner or member. Anything else sends the
# request back through the ordinary load.

_RECORD_SALT = "beep_shared.rls.access.verified_session_record"
_FINGERPRINT_RE = re.compile(r"[0-9a-f]{64}")


def password_fingerprint(password: str) -> str:
    """SHA-256 (hex) of the stored password hash; the SQL twin is in tenant_check_sql()."""
    return hashlib.sha256(password.encode()).hexdigest()


def verified_session_record(user: Any) -> list[str]:
    """What a session keeps once Django verified it for ``user``: its id, the fingerprint
    of its password hash, and a MAC of both under SECRET_KEY (a rotated key without the
    ordinary load's fallbacks ends the record, as it ends Django's session hash)."""
    fingerprint = password_fingerprint(user.password)
    return [str(user.pk), fingerprint, _record_mac(str(user.pk), fingerprint)]


def _record_mac(user_id: str, fingerprint: str) -> str:
    # Checked on every request of a verified session: the MACs computed under the current
    # SECRET_KEY are kept (a bounded number; the key object is compared, never stored
    # anywhere else).
    if _macs.secret is not settings.SECRET_KEY or len(_macs.values) >= _MACS_KEPT:
        _macs.secret = settings.SECRET_KEY
        _macs.values = {}
    try:
        return _macs.values[user_id, fingerprint]
    except KeyError:
        mac = salted_hmac(_RECORD_SALT, f"{user_id}:{fingerprint}", algorithm="sha256")
        value = _macs.values[user_id, fingerprint] = mac.hexdigest()
        return value


class _Macs:
    __slots__ = ("secret", "values")

    def __init__(self) -> None:
        self.secret: object = None
        self.values: dict[tuple[str, str], str] = {}


_macs = _Macs()
_MACS_KEPT = 10_000


@sensitive_variables("record")
def record_holds(record: Any, user_id: Any) -> str | None:
    """The fingerprint of ``record`` when it is intact and for ``user_id``, else None."""
    if not isinstance(record, list) or len(record) != 3:
        return None
    uid, fingerprint, mac = record
    if not (isinstance(uid, str) and isinstance(fingerprint, str) and isinstance(mac, str)):
        return None
    if uid != str(user_id) or not _FINGERPRINT_RE.fullmatch(fingerprint) or not mac.isascii():
        return None
    # Constant time on the strings themselves (both ASCII), without encoding them first:
    # this runs on every request of a verified session.
    if not hmac.compare_digest(mac, _record_mac(uid, fingerprint)):
        return None
    return fingerprint


def tenant_check(user_id: str, fingerprint: str, organization: str) -> TenantCheck | None:
    """The check that sets the tenant to ``organization`` if the user of a verified session
    (``user_id``, ``fingerprint``) may work there now (may_work_in()'s rule, on the stored
    rows), to ``''`` otherwise, and returns it. None when the rule cannot be put in SQL here
    (a user model without beep's validity columns). ``organization``: a validated id."""
    statement = _check_statement()
    if statement is None or not _FINGERPRINT_RE.fullmatch(fingerprint):
        return None
    return TenantCheck(statement, (str(user_id), fingerprint, organization))


def tenant_check_sql(user_id: Any, fingerprint: str, organization: Any) -> str | None:
    """:func:`tenant_check`'s ``SELECT`` with its values written in (what runs where
    statements are not prepared), or None."""
    from beep_shared.rls.sql import literal

    try:
        organization_id = tenant_id(organization)
    except ValidationError:
        return None
    check = tenant_check(str(user_id), fingerprint, organization_id) if organization_id else None
    return None if check is None else check.statement.inline_sql(check.args, literal)


# The check's statement per user model; its parts (the user's validity columns, the
# membership statement) are fixed per process.
_check_statements: dict[str, CheckStatement | None] = {}
# Where the check's arguments go while the statement is built (no compiled SQL holds NUL).
_ARGUMENT = "\x00beep_argument_{}\x00"


def _check_statement() -> CheckStatement | None:
    # Keyed by the setting's value: get_user_model() per request cost more than the rest.
    try:
        return _check_statements[settings.AUTH_USER_MODEL]
    except KeyError:
        from django.contrib.auth import get_user_model

        statement, complete = _build_check_statement(get_user_model())
        if complete:  # every table named with its schema (else: not migrated yet)
            _check_statements[settings.AUTH_USER_MODEL] = statement
        return statement


def _build_check_statement(model: type) -> tuple[CheckStatement | None, bool]:
    from beep_shared.models import User
    from beep_shared.models.user import may_authenticate_sql
    from beep_shared.rls.sql import TENANT_SETTING, literal

    if not issubclass(model, User):
        return None, True
    user, fingerprint, org = (_ARGUMENT.format(n) for n in range(3))
    # The organization asked about, once the tenant is set to it (see below).
    asked = "beep_asked.tenant"
    values = {_SOME_USER: user, _SOME_ORGANIZATION: asked}
    exists = _inline(*_organization_check(), values)
    member = _inline(*_membership_check(), values)
    if exists is None or member is None:
        return None, True
    setting = literal(TENANT_SETTING)
    # The membership rows are visible to their organization's tenant only, so the tenant is
    # set to the organization first, in the same statement (one statement and result less
    # per request than a SET LOCAL in front): the subquery in FROM is evaluated before the
    # target list that reads its output (OFFSET 0 keeps the planner from merging it into
    # the outer query), and the rule's subqueries refer to that output, so they run after
    # it, whatever the plan. beep's User columns, as in may_authenticate_sql().
    sql = (
        f"SELECT set_config({setting}, CASE WHEN EXISTS("
        f'SELECT 1 FROM "{model._meta.db_table}" u WHERE u.id = {user}'
        f" AND {may_authenticate_sql('u')}"
        f" AND encode(sha256(convert_to(u.password, 'UTF8')), 'hex') = {fingerprint}"
        f" AND CASE WHEN u.is_superuser THEN EXISTS({exists})"
        f" ELSE EXISTS({member}) END"
        f") THEN {asked} ELSE '' END, true)"
        f" FROM (SELECT set_config({setting}, {org}, true) AS tenant OFFSET 0) beep_asked"
    )
    sql, complete = _qualified(sql, router.db_for_read(model))
    pieces: list[str | int] = []
    for number, part in enumerate(re.split("\x00beep_argument_(\\d)\x00", sql)):
        pieces.append(int(part) if number % 2 else part)
    name = "beep_tenant_check_" + hashlib.sha256(sql.encode()).hexdigest()[:16]
    return CheckStatement(name, tuple(pieces)), complete


def _inline(sql: str, params: list[Any], values: dict[str, str]) -> str | None:
    """``sql`` with its parameters as literals (the stand-ins replaced by ``values``)."""
    from beep_shared.rls.sql import literal

    rendered = []
    for param in params:
        if isinstance(param, str) and param in values:
            rendered.append(values[param])
        elif isinstance(param, bool):
            rendered.append("TRUE" if param else "FALSE")
        elif isinstance(param, int):
            rendered.append(str(int(param)))
        elif isinstance(param, str):  # also text choices (str subclasses): their value
            rendered.append(literal(str.__str__(param)))
        else:
            return None
    return sql % tuple(rendered)


def tenants_for_user(user: Any) -> QuerySet[Any]:
    """Superusers: all. Others: owned organizations and those of their memberships.

    Memberships span tenants, so they are read through the bypass alias (committed rows
    only); without one only owned organizations are offered. :func:`may_work_in` decides
    for one organization without the bypass.
    """
    from beep_shared.models import Organization
    from beep_shared.models.user import user_may_authenticate
    from beep_shared.rls.registry import tenant_models

    if not user_may_authenticate(user):
        return Organization.objects.none()
    if user.is_superuser:
        return Organization.objects.all()
    ids = set(Organization.objects.filter(owner_user=user).values_list("id", flat=True))
    if bypass_configured():
        with bypass_rls():
            for model in tenant_models():
                memberships = model.tenant_memberships(user)  # type: ignore[attr-defined]
                if memberships is not None:
                    ids.update(memberships.values_list("organization_id", flat=True))
    return Organization.objects.filter(id__in=ids)
