"""Issuing, validating, rotating, revoking and introspecting OAuth tokens.

Raw tokens are returned once (``IssuedTokens``); the tables hold SHA-256 digests only.

Concurrency of refresh rotation: every change to a token *family* (the refresh and access
tokens of one client and user) that reacts to a refresh token's state takes a
transaction-level advisory lock on the family first, then the token row. Two rotations of
one token therefore run one after the other: the first wins, the second finds the token
already rotated and, as for any replay of a rotated token, revokes the whole family (the
winner's fresh pair included) and raises ``RefreshTokenReused``. The family revocation
cannot miss a pair minted by a concurrent rotation, because that rotation holds the same lock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import router, transaction
from django.db.models import TextField
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from beep_iam import validators as rules
from beep_iam.conf import iam_settings
from beep_iam.models import OAuthAccessToken, OAuthClient, OAuthRefreshToken
from beep_iam.models.oauth import GrantType
from beep_iam.services import prepared
from beep_iam.services.oauth_errors import (
    InvalidClient,
    InvalidGrant,
    InvalidScope,
    RefreshTokenReused,
    UnauthorizedClient,
)
from beep_iam.services.prepared import ModelLookup, fetch_one
from beep_shared import crypto
from beep_shared.db.show_once import set_new_secret
from beep_shared.models.user import may_authenticate_sql

# First key of the two-int advisory lock on a token family; the second is a hash of it.
FAMILY_LOCK_NAMESPACE = 0x6F617574  # "oaut"

ACCESS_TOKEN = "access_token"
REFRESH_TOKEN = "refresh_token"


class _AnyClient:
    def __repr__(self) -> str:
        return "ANY_CLIENT"


#: ``client_id=ANY_CLIENT``: trusted server-side code (the admin, support tools) acting on a
#: token of whichever client holds it. Endpoints pass the authenticated client's id.
ANY_CLIENT: Any = _AnyClient()


def _check_caller(client_id: object) -> None:
    if client_id is ANY_CLIENT:
        return
    if not isinstance(client_id, str) or not client_id:
        raise TypeError(
            "client_id must name the authenticated client presenting the token, or be "
            "oauth_tokens.ANY_CLIENT for trusted code acting on any client's token; "
            f"got {client_id!r}."
        )


@dataclass(frozen=True)
class IssuedTokens:
    """A token response. The raw tokens exist only here; hand them to the client once."""

    access_token: str = field(repr=False)  # "" when the caller signs its own (JWT) token
    refresh_token: str | None = field(repr=False)
    access: OAuthAccessToken | None
    refresh: OAuthRefreshToken | None
    expires_in: int
    scopes: list[str]
    token_type: str = "Bearer"
    #: The ``cnf`` the access token is bound to (DPoP), also for a JWT the caller signs.
    confirmation: dict[str, Any] | None = None


class Rotation(NamedTuple):
    """What a rotation issues, decided under the lock from the refresh token itself (see
    ``rotate_refresh_token(plan=...)``): the arguments of the same names."""

    scopes: list[str] | None = None
    opaque_access: bool = True
    refresh_lifetime: dt.timedelta | None = None


class AccessTokenInfo(NamedTuple):
    """What a resource server needs about a valid access token."""

    id: str
    client_id: str
    user_id: str | None
    session_id: str | None
    reference_id: str | None
    scopes: list[str]
    expires_at: dt.datetime | None
    #: The JWK thumbprint a DPoP-bound token is bound to (``cnf.jkt``), else None; ``""``
    #: for a confirmation this server cannot check (not ``jkt``), so no presentation passes.
    dpop_jkt: str | None = None
    #: The resources an opaque token is bound to (RFC 8707; better-auth without its jwt
    #: plugin issues such tokens), else None; a JWT's audience is checked from the JWT.
    resources: list[str] | None = None


def token_type_of(confirmation: Any) -> str:
    """``"DPoP"`` for a token bound to a DPoP key (RFC 9449 5), else ``"Bearer"``."""
    return "DPoP" if isinstance(confirmation, dict) and confirmation.get("jkt") else "Bearer"


def _db_for_write() -> str:
    return router.db_for_write(OAuthAccessToken)


# --- issuing -----------------------------------------------------------------------------


def allowed_scopes(client: OAuthClient, scopes: Iterable[str]) -> list[str]:
    """``scopes`` as valid scope tokens (``ValidationError``), each one ``client`` allows
    (``InvalidScope``; no ``client.scopes`` means unrestricted)."""
    requested = rules.validate_scopes(scopes)
    extra = client.scopes_not_allowed(requested)
    if extra:
        raise InvalidScope(f"scope(s) {', '.join(extra)} not allowed for client {client.client_id}")
    return requested


def check_grant(client: OAuthClient, grant: str) -> None:
    """``UnauthorizedClient`` unless ``client`` may use ``grant``."""
    if not client.allows_grant(grant):
        raise UnauthorizedClient(f"client {client.client_id} may not use the {str(grant)!r} grant")


@sensitive_variables("raw_refresh", "raw_access")
def _mint(
    client: OAuthClient,
    *,
    user_id: str | None,
    session_id: str | None,
    scopes: list[str],
    access_scopes: list[str],
    with_refresh: bool,
    reference_id: str | None,
    resources: list[str] | None,
    auth_time: dt.datetime | None,
    using: str,
    authorization_code_id: str | None = None,
    opaque_access: bool = True,
    refresh_lifetime: dt.timedelta | None = None,
    confirmation: dict[str, Any] | None = None,
    refresh_confirmation: dict[str, Any] | None = None,
    before: tuple[str, list[Any]] | None = None,
) -> IssuedTokens:
    conf = iam_settings()
    now = timezone.now()
    refresh = raw_refresh = None
    rows: list[OAuthRefreshToken | OAuthAccessToken] = []
    if with_refresh:
        if user_id is None:
            raise InvalidGrant("a refresh token is issued to a user; none was given")
        refresh = OAuthRefreshToken(
            client_id=client.client_id,
            user_id=user_id,
            session_id=session_id,
            reference_id=reference_id,
            expires_at=now
            + min(conf.refresh_token_lifetime, refresh_lifetime or conf.refresh_token_lifetime),
            scopes=scopes,
            auth_time=auth_time,
            resources=resources,
            authorization_code_id=authorization_code_id,
            confirmation=refresh_confirmation,
        )
        raw_refresh = set_new_secret(refresh)
        rows.append(refresh)
    raw_access, access = "", None
    if opaque_access:
        access = OAuthAccessToken(
            client_id=client.client_id,
            user_id=user_id,
            session_id=session_id,
            reference_id=reference_id,
            oauth_refresh_token=refresh,
            expires_at=now + conf.access_token_lifetime,
            scopes=access_scopes,
            resources=resources,
            authorization_code_id=authorization_code_id,
            confirmation=confirmation,
        )
        raw_access = set_new_secret(access)
        rows.append(access)
    # One statement (with ``before``, the rotation's revocation of the old token): atomic
    # by itself, and one round trip.
    assert rows or before is None, "a rotation always writes a new refresh token"
    if rows:
        prepared.insert(using, rows, before)
    return IssuedTokens(
        access_token=raw_access,
        refresh_token=raw_refresh,
        access=access,
        refresh=refresh,
        expires_in=int(conf.access_token_lifetime.total_seconds()),
        scopes=access_scopes,
        token_type=token_type_of(confirmation),
        confirmation=confirmation,
    )


def issue_tokens(
    client: OAuthClient,
    *,
    scopes: Iterable[str],
    user: Any = None,
    session: Any = None,
    with_refresh: bool = False,
    reference_id: str | None = None,
    resources: list[str] | None = None,
    auth_time: dt.datetime | None = None,
    authorization_code_id: str | None = None,
    opaque_access: bool = True,
    refresh_lifetime: dt.timedelta | None = None,
    confirmation: dict[str, Any] | None = None,
    refresh_confirmation: dict[str, Any] | None = None,
) -> IssuedTokens:
    """Issue an access token (and a refresh token if ``with_refresh``) for ``client``.

    Lifetimes come from ``BEEP_IAM`` (defaults 1 hour and 30 days). A refresh token needs a
    user and a client allowed to use the ``refresh_token`` grant. ``authorization_code_id``:
    the digest of the code they are issued for, so a replay of it can revoke them.
    ``opaque_access=False``: no access token row, for a caller that signs a JWT access token
    (``beep_iam.oauth2.access_jwt``) after these checks. ``refresh_lifetime``: a shorter
    refresh token lifetime (an RFC 8707 resource's ``refresh_token_ttl``).
    ``confirmation`` / ``refresh_confirmation``: the ``cnf`` the tokens are bound to (DPoP:
    ``{"jkt": thumbprint}``, stored as better-auth stores it), None for bearer tokens.
    """
    if not client.may_authenticate:
        raise InvalidClient(f"client {client.client_id} is disabled")
    if hasattr(user, "may_authenticate") and not user.may_authenticate():
        raise InvalidGrant("the user is inactive, banned or deleted")
    granted = allowed_scopes(client, scopes)
    if with_refresh:
        if user is None:
            raise InvalidGrant("a refresh token is issued to a user; none was given")
        check_grant(client, GrantType.REFRESH_TOKEN)
    # The rows go in one statement (_mint): atomic without BEGIN and COMMIT, which would be
    # two of the three round trips of a client_credentials grant.
    return _mint(
        client,
        user_id=getattr(user, "pk", user),
        session_id=getattr(session, "pk", session),
        scopes=granted,
        access_scopes=granted,
        with_refresh=with_refresh,
        reference_id=reference_id,
        resources=resources,
        auth_time=auth_time,
        using=_db_for_write(),
        authorization_code_id=authorization_code_id,
        opaque_access=opaque_access,
        refresh_lifetime=refresh_lifetime,
        confirmation=confirmation,
        refresh_confirmation=refresh_confirmation,
    )


# --- validating ----------------------------------------------------------------------------

# The hot path: one statement that the unique index on token answers, joined to the client
# through its unique client_id index. Written as SQL once rather than built by the ORM per
# call, and run as a prepared statement: building or planning it would cost more than
# executing it.
# What makes a token valid, shared by validation, introspection and (in Python) rotation:
# not revoked, expired or soft-deleted; its client valid (OAuthClient.may_authenticate); its
# user, when it has one, valid (User.may_authenticate: the rule of every login path).
# The user is joined through its primary key: still one statement on unique indexes.
_VALIDITY = f"""
  AND t.revoked IS NULL
  AND t.deleted_at IS NULL
  AND (t.expires_at IS NULL OR t.expires_at > now())
  AND {OAuthClient.may_authenticate_sql("c")}
  AND (t.user_id IS NULL OR {may_authenticate_sql("u")})
"""
_VALID_ACCESS_TOKEN_SQL = (
    """
SELECT t.id, t.client_id, t.user_id, t.session_id, t.reference_id, t.scopes, t.expires_at,
       CASE WHEN t.confirmation IS NULL OR t.confirmation = 'null'::jsonb THEN NULL
            ELSE coalesce(t.confirmation ->> 'jkt', '') END,
       t.resources
FROM oauth_access_token t
JOIN oauth_client c ON c.client_id = t.client_id
LEFT JOIN "user" u ON u.id = t.user_id
WHERE t.token = %s"""
    + _VALIDITY
)


@sensitive_variables("raw_token")
def validate_access_token(raw_token: str | None) -> AccessTokenInfo | None:
    """The valid access token ``raw_token``, or ``None`` if it is unknown, expired, revoked
    or soft-deleted, its client is disabled or soft-deleted, or its user is inactive,
    banned or soft-deleted. One indexed query."""
    if not raw_token:
        return None
    row = fetch_one(
        router.db_for_read(OAuthAccessToken), _VALID_ACCESS_TOKEN_SQL, (crypto.digest(raw_token),)
    )
    return None if row is None else AccessTokenInfo._make(row)


# --- rotating ------------------------------------------------------------------------------

_t = OAuthRefreshToken._meta
# The family lock, taken as the token's row is read (see _LOCKED_TOKEN).
_FAMILY_LOCK_SQL = (
    f'pg_advisory_xact_lock(%s, hashtext("{_t.db_table}"."client_id" || chr(31) || '
    f'"{_t.db_table}"."user_id"))::text'
)

# The token under its family's lock, locked itself, with its client and user: one prepared
# statement. The lock is computed in the row's projection, before the row lock is taken; a
# concurrent rotation of this token is committed by then, and the row lock reads the row as
# it left it (READ COMMITTED re-reads a row changed since the statement began).
_LOCKED_TOKEN = ModelLookup(
    OAuthRefreshToken,
    lambda digest: (
        OAuthRefreshToken.objects.select_for_update(of=("self",))
        .select_related("client", "user")
        .annotate(family_lock=RawSQL(_FAMILY_LOCK_SQL, (FAMILY_LOCK_NAMESPACE,), TextField()))
        .filter(token=digest)
    ),
)
# The rotated token's revocation, sent in one statement with the new pair (``_mint``).
_ROTATED_SQL = (
    f'UPDATE "{_t.db_table}" SET "{_t.get_field("revoked").column}" = %s, '
    f'"{_t.get_field("rotated_at").column}" = %s WHERE "{_t.pk.column}" = %s'
)


def _just_rotated(token: OAuthRefreshToken, now: dt.datetime) -> bool:
    """Within ``REFRESH_TOKEN_REPLAY_WINDOW`` of its rotation (a revoked token never is): a
    retry or a second tab, refused without revoking the family. The new pair is not repeated:
    only its digests exist, and a copy kept for repeats would be a token in clear text."""
    window = iam_settings().refresh_token_replay_window
    return bool(window) and token.rotated_at is not None and now - token.rotated_at <= window


@sensitive_variables("raw_token", "digest", "issued")
def rotate_refresh_token(
    raw_token: str,
    *,
    client_id: str,
    scopes: Iterable[str] | None = None,
    opaque_access: bool = True,
    refresh_lifetime: dt.timedelta | None = None,
    bind: Callable[[Any], dict[str, Any] | None] | None = None,
    plan: Callable[[OAuthRefreshToken], Rotation] | None = None,
) -> IssuedTokens:
    """Exchange a refresh token for a new access and refresh token, atomically.
    ``opaque_access=False``: the new refresh token only; ``refresh_lifetime``: a shorter
    lifetime for it (see :func:`issue_tokens`).

    ``client_id``: the authenticated client presenting the token (it must own it), or
    ``ANY_CLIENT`` for trusted code. ``scopes``: optional narrower scopes for the new access
    token (RFC 6749 section 6). The new refresh token keeps the original scopes, cut to
    those the client is still allowed (its ``scopes``, when set); none left: ``InvalidScope``.
    ``bind``: called under the lock with the refresh token's ``confirmation``, returns the new
    access token's (DPoP: :func:`beep_iam.oauth2.dpop.refresh_binding`, which raises when the
    proof's key is not the one the refresh token is bound to); the new refresh token keeps
    the old one's confirmation.
    ``plan``: called under the lock with the refresh token once it is known to be valid and
    the client's, returns the ``scopes``, ``opaque_access`` and ``refresh_lifetime`` to use
    instead of the arguments (what the token's resources make of the request); an exception
    it raises leaves the token unused.
    A token of an inactive, banned or soft-deleted user, a soft-deleted token or client is
    refused with ``InvalidGrant`` / ``InvalidClient``.

    Raises ``InvalidGrant`` (unknown, expired, other client's token), ``InvalidClient``
    (disabled client), ``UnauthorizedClient``, ``InvalidScope``, or ``RefreshTokenReused``
    after revoking the family when the token had already been rotated or revoked (but
    ``InvalidGrant`` alone within ``REFRESH_TOKEN_REPLAY_WINDOW`` of its rotation). That
    revocation is committed before the exception is raised; a caller running inside its own
    transaction (``ATOMIC_REQUESTS``) must catch the exception and let that transaction
    commit, or the revocation is rolled back with it.
    """
    _check_caller(client_id)
    digest = crypto.digest(raw_token or "")
    using = _db_for_write()
    reused = False
    with transaction.atomic(using=using):
        # Under the family lock: a concurrent rotation has either committed or not started.
        current = _LOCKED_TOKEN.get(digest, using=using)
        if current is None:
            raise InvalidGrant("unknown refresh token")
        if client_id is not ANY_CLIENT and current.client_id != client_id:
            raise InvalidGrant("refresh token was issued to another client")
        now = timezone.now()
        if current.revoked is not None:
            if _just_rotated(current, now):
                raise InvalidGrant("refresh token was already rotated; use the new one")
            OAuthRefreshToken.objects.using(using).revoke_family(
                current.client_id, current.user_id, now
            )
            reused = True
        else:
            if current.expired_by(now):
                raise InvalidGrant("refresh token expired")
            if current.deleted_at is not None:
                raise InvalidGrant("unknown refresh token")
            client = current.client
            if not client.may_authenticate:
                raise InvalidClient(f"client {client.client_id} is disabled")
            if not current.user.may_authenticate(now):
                raise InvalidGrant("the token's user is inactive, banned or deleted")
            check_grant(client, GrantType.REFRESH_TOKEN)
            # The client's allowed scopes may have been cut since.
            kept = client.keep_allowed_scopes(current.scopes)
            if not kept and client.scopes:
                raise InvalidScope(
                    f"none of the refresh token's scopes is still allowed for client "
                    f"{client.client_id}"
                )
            if plan is not None:
                scopes, opaque_access, refresh_lifetime = plan(current)
            access_scopes = kept
            if scopes is not None:
                access_scopes = rules.validate_scopes(scopes)
                held = set(kept)
                wider = [s for s in access_scopes if s not in held]
                if wider:
                    raise InvalidScope(
                        f"scope(s) {', '.join(wider)} exceed the refresh token's scopes"
                    )
            # Without ``bind`` (trusted code) the new access token stays bound as the old.
            confirmation = bind(current.confirmation) if bind is not None else current.confirmation
            issued = _mint(
                client,
                user_id=current.user_id,
                session_id=current.session_id,
                scopes=kept,
                access_scopes=access_scopes,
                with_refresh=True,
                reference_id=current.reference_id,
                resources=current.resources,
                auth_time=current.auth_time,
                using=using,
                authorization_code_id=current.authorization_code_id,
                opaque_access=opaque_access,
                refresh_lifetime=refresh_lifetime,
                confirmation=confirmation,
                refresh_confirmation=current.confirmation,
                before=(_ROTATED_SQL, [now, now, current.pk]),
            )
            if issued.refresh is not None:
                issued.refresh.user = current.user  # loaded under the lock: no second query
    # Raised after the block so that the family revocation above is committed.
    if reused:
        raise RefreshTokenReused(
            "refresh token was already used; all tokens of this client and user are revoked"
        )
    return issued


# --- revoking ------------------------------------------------------------------------------


def _lookup(model: type[OAuthAccessToken | OAuthRefreshToken], digest: str, using: str) -> Any:
    return model.objects.using(using).filter(token=digest).values_list("pk", "client_id").first()


@sensitive_variables("raw_token", "digest")
def revoke_token(
    raw_token: str,
    *,
    client_id: str,
    token_type_hint: str | None = None,
) -> bool:
    """Revoke an access or refresh token (RFC 7009).

    Revoking a refresh token also revokes the access tokens it minted. An unknown token is
    not an error (the RFC answers 200 either way); the return value says whether one was
    found. ``client_id`` (required) must own the token, else ``UnauthorizedClient``;
    ``ANY_CLIENT`` lets trusted code revoke any client's token.
    Revoking twice keeps the first revocation time.
    """
    _check_caller(client_id)
    if token_type_hint not in (None, ACCESS_TOKEN, REFRESH_TOKEN):
        # RFC 7009 2.1: an unknown hint is ignored, the search covers both kinds.
        token_type_hint = None
    digest = crypto.digest(raw_token or "")
    order: list[type[OAuthRefreshToken] | type[OAuthAccessToken]] = [
        OAuthRefreshToken,
        OAuthAccessToken,
    ]
    if token_type_hint == ACCESS_TOKEN:
        order.reverse()
    using = _db_for_write()
    now = timezone.now()
    with transaction.atomic(using=using):
        for model in order:
            found = _lookup(model, digest, using)
            if found is None:
                continue
            pk, owner = found
            if client_id is not ANY_CLIENT and owner != client_id:
                raise UnauthorizedClient("token was issued to another client")
            if model is OAuthRefreshToken:
                OAuthRefreshToken.objects.using(using).filter(pk=pk).revoke_with_access_tokens(now)
            else:
                OAuthAccessToken.objects.using(using).filter(pk=pk).revoke(now)
            return True
    return False


def revoke_client_tokens(client_ids: Iterable[str]) -> tuple[int, int]:
    """Revoke every live token of the given clients; returns (refresh, access) counts."""
    ids = list(client_ids)
    using = _db_for_write()
    now = timezone.now()
    with transaction.atomic(using=using):
        refresh = OAuthRefreshToken.objects.using(using).filter(client_id__in=ids).revoke(now)
        access = OAuthAccessToken.objects.using(using).filter(client_id__in=ids).revoke(now)
    return refresh, access


# --- introspecting -------------------------------------------------------------------------

# Same validity rules as _VALID_ACCESS_TOKEN_SQL; times come back as epoch seconds.
_INTROSPECT_SQL = (
    """
SELECT t.client_id, t.user_id, t.scopes,
       floor(extract(epoch FROM t.expires_at))::bigint,
       floor(extract(epoch FROM t.created_at))::bigint,
       t.reference_id,
       t.confirmation::text
FROM {table} t
JOIN oauth_client c ON c.client_id = t.client_id
LEFT JOIN "user" u ON u.id = t.user_id
WHERE t.token = %s"""
    + _VALIDITY
)
_INTROSPECT = {
    ACCESS_TOKEN: (OAuthAccessToken, _INTROSPECT_SQL.format(table="oauth_access_token"), "Bearer"),
    REFRESH_TOKEN: (
        OAuthRefreshToken,
        _INTROSPECT_SQL.format(table="oauth_refresh_token"),
        REFRESH_TOKEN,
    ),
}


def _claims(kind: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """RFC 7662's members of a valid token's row (of ``_INTROSPECT_SQL``)."""
    token_type = _INTROSPECT[kind][2]
    client_id, user_id, scopes, exp, iat, reference_id, confirmation = row
    claims: dict[str, Any] = {
        "active": True,
        "scope": " ".join(scopes),
        "client_id": client_id,
        "iat": iat,
        "token_type": token_type,
    }
    if user_id is not None:
        claims["sub"] = user_id
    if exp is not None:
        claims["exp"] = exp
    if reference_id is not None:
        claims["reference_id"] = reference_id
    cnf = json.loads(confirmation) if confirmation is not None else None
    if isinstance(cnf, dict):
        claims["cnf"] = cnf
        if kind == ACCESS_TOKEN:
            claims["token_type"] = token_type_of(cnf)
    return claims


class Introspection:
    """The lookups of an introspection (RFC 7662): access tokens first unless
    ``token_type_hint="refresh_token"``. :meth:`load_client` loads the caller's client and,
    in the same statement, the token as the first kind: the round trip an introspection
    would spend on authenticating its client; :meth:`claims` then looks no further for it."""

    @sensitive_variables("raw_token")
    def __init__(self, raw_token: str, *, token_type_hint: str | None = None) -> None:
        self._digest = crypto.digest(raw_token) if raw_token else None
        self._kinds = [ACCESS_TOKEN, REFRESH_TOKEN]
        if token_type_hint == REFRESH_TOKEN:
            self._kinds.reverse()
        self._first: tuple[Any, ...] | None = None  # the first kind's row, when read

    def load_client(self, lookup: ModelLookup[OAuthClient], client_id: str) -> OAuthClient | None:
        """``lookup.get(client_id)``, reading the token along when both live on one database."""
        model, sql, _ = _INTROSPECT[self._kinds[0]]
        alias = router.db_for_read(model)
        if self._digest is None or alias != router.db_for_read(OAuthClient):
            return lookup.get(client_id)
        client, row = lookup.get_with(client_id, sql, (self._digest,), using=alias)
        if client is not None:
            self._first = row
        return client

    def claims(self) -> dict[str, Any]:
        """The response body: ``{"active": False}`` unless the token is valid."""
        if self._digest is None:
            return {"active": False}
        for kind in self._kinds:
            model, sql, _ = _INTROSPECT[kind]
            if self._first is not None and kind == self._kinds[0]:
                # A token row joins its client: a row without one is no token.
                row: tuple[Any, ...] | None = self._first if self._first[0] is not None else None
            else:
                row = fetch_one(router.db_for_read(model), sql, (self._digest,))
            if row is not None:
                return _claims(kind, row)
        return {"active": False}


@sensitive_variables("raw_token")
def introspect(raw_token: str, *, token_type_hint: str | None = None) -> dict[str, Any]:
    """RFC 7662 response body: ``{"active": False}`` unless the token is valid, else
    ``active``, ``scope``, ``client_id``, ``sub`` (when there is a user), ``exp`` (when it
    expires), ``iat``, ``token_type`` (``"Bearer"``, ``"DPoP"`` for a DPoP-bound access token,
    or ``"refresh_token"``), ``reference_id`` (when the grant is for an organization or
    another reference) and ``cnf`` for a bound token (RFC 9449 6.2).

    Access tokens are looked up first unless ``token_type_hint="refresh_token"``."""
    return Introspection(raw_token, token_type_hint=token_type_hint).claims()
