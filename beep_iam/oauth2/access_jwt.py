"""JWT access tokens (RFC 9068), issued when a token request names a resource (RFC 8707), in
the form better-auth 1.7's oauth-provider issues them, so either server's tokens verify at
the other's resource side.

Header ``{"alg": "EdDSA", "kid": <jwks row>, "typ": "at+jwt"}``, signed with the ``jwks``
table's current key (:mod:`beep_iam.oauth2.keys`). Claims: ``iss`` (the issuer), ``sub``
(the user, or the client itself for ``client_credentials``), ``aud`` (the resource, a list
when several, plus the userinfo endpoint when ``openid`` is granted), ``client_id`` and
``azp`` (the client), ``scope``, ``iat``, ``exp``, ``jti``, ``sid`` (the sign-in session, when
there is one), ``reference_id`` (the organization the grant was for, when set: the resource
helper runs the view as that tenant) and the resources' ``custom_claims``.

Revocation (better-auth's choice, kept): a JWT access token is self-contained and never
stored, so no row is looked up and none can be revoked one by one; the revocation endpoint
answers ``unsupported_token_type`` for one (RFC 7009 section 2.2.1). It is short-lived (the
access token lifetime, or the resource's shorter ``access_token_ttl``) and stops verifying
early when its session ends (sign-out), its client is disabled or deleted, its user is
banned, deactivated or deleted, or one of its resources is deleted: :func:`validate` checks
all of these in one statement, and introspection reports such a token inactive.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from django.db import router
from django.db.models.signals import post_delete, post_save
from django.views.decorators.debug import sensitive_variables
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from beep_iam.conf import iam_settings
from beep_iam.models import Jwks, OAuthAccessToken, OAuthClient, OAuthClientResource
from beep_iam.oauth2 import jose, keys
from beep_iam.oauth2.endpoint import issuer
from beep_iam.oauth2.resources import Policy, userinfo_resource
from beep_iam.services.oauth_tokens import AccessTokenInfo, token_type_of, validate_access_token
from beep_iam.services.prepared import fetch_one
from beep_shared.models.user import may_authenticate_sql

TYP = "at+jwt"
#: Claims the server sets; a resource's custom_claims never replace them (better-auth strips
#: the same names).
RESERVED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "azp", "scope", "sid",
     "auth_time", "acr", "amr", "cnf", "reference_id"}
)  # fmt: skip
LEEWAY_SECONDS = 30
#: How long a process trusts its copy of the published keys; a token naming a key it has not
#: seen reloads them at once, and a change to the ``jwks`` table in this process drops them.
KEYS_TTL_SECONDS = 30.0

_published: tuple[float, KeySet, keys.Published] | None = None


def _forget_keys(**kwargs: Any) -> None:
    global _published
    _published = None


def connect() -> None:
    """A new or deleted signing key makes the published key set stale (from ``ready()``)."""
    for signal in (post_save, post_delete):
        signal.connect(_forget_keys, sender=Jwks, dispatch_uid="beep_iam_access_jwt_keys")


@sensitive_variables("raw")
def _kid(raw: str) -> str | None:
    try:
        part = raw.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except jose.MALFORMED:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def _key_set(kid: str | None) -> tuple[KeySet, keys.Published]:
    """The published keys (a query and a key import each time would cost more than the
    rest of a validation), reloaded after :data:`KEYS_TTL_SECONDS` or for an unknown ``kid``."""
    global _published
    now = time.monotonic()
    cached = _published
    if (
        cached is None
        or now - cached[0] > KEYS_TTL_SECONDS
        or (kid and all(k["kid"] != kid for k in cached[2].keys))
    ):
        published = keys.published()
        cached = (now, KeySet.import_key_set({"keys": published.keys}), published)
        _published = cached
    return cached[1], cached[2]


def looks_like_jwt(raw: str) -> bool:
    """A compact JWS has three dot-separated parts; opaque tokens here have none."""
    return raw.count(".") == 2


def issue(
    client: OAuthClient,
    policy: Policy,
    *,
    scopes: list[str],
    user_id: str | None = None,
    session_id: str | None = None,
    reference_id: str | None = None,
    confirmation: dict[str, Any] | None = None,
) -> tuple[str, int]:
    """A signed access token for ``policy``'s audience; returns it and its lifetime.
    ``confirmation``: the ``cnf`` claim of a DPoP-bound token (RFC 9449 6.1)."""
    lifetime = int(iam_settings().access_token_lifetime.total_seconds())
    if policy.access_token_ttl is not None:
        lifetime = min(lifetime, policy.access_token_ttl)
    key = keys.signing_key(policy.signing_key_id, alg=policy.signing_algorithm or keys.ALG)
    now = int(time.time())
    claims: dict[str, Any] = {
        k: v for k, v in policy.custom_claims.items() if k not in RESERVED_CLAIMS
    }
    claims.update(
        iss=issuer(),
        sub=user_id or client.client_id,
        aud=policy.audience,
        client_id=client.client_id,
        azp=client.client_id,
        scope=" ".join(scopes),
        iat=now,
        exp=now + lifetime,
        jti=secrets.token_urlsafe(24),
    )
    if session_id:
        claims["sid"] = session_id
    if reference_id:
        claims["reference_id"] = reference_id
    if confirmation:
        claims["cnf"] = confirmation
    header = {"alg": key.alg, "kid": key.kid, "typ": TYP}
    return jwt.encode(header, claims, key.key, algorithms=[key.alg]), lifetime


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    values = aud if isinstance(aud, list) else [aud]
    return [v for v in values if isinstance(v, str)]


def typed_as_access_token(header: dict[str, Any]) -> bool:
    """Whether a JWS header's ``typ`` says RFC 9068 access token (``at+jwt``, any case, with
    or without ``application/``): what this server's access tokens carry and its ID tokens
    do not, so neither passes for the other."""
    return str(header.get("typ", "")).lower() in (TYP, f"application/{TYP}")


@sensitive_variables("raw", "token")
def _verified_claims(raw: str) -> dict[str, Any] | None:
    """The claims of ``raw`` if this server signed it as an access token (``typ``), for this
    issuer, unexpired; else None."""
    kid = _kid(raw)
    try:
        key_set, published = _key_set(kid)  # no keys at all: MissingKeyError, malformed too
        token = jwt.decode(raw, key_set, algorithms=list(keys.ALGORITHMS))
        if not typed_as_access_token(token.header):
            return None
        JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer()},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
        ).validate(token.claims)
    except jose.MALFORMED:
        return None
    claims: dict[str, Any] = token.claims
    if not isinstance(claims.get("client_id"), str) or not _audiences(claims):
        return None
    lifetime = iam_settings().access_token_lifetime.total_seconds()
    if not published.signed_while_current(kid, claims, lifetime=lifetime):
        return None
    return claims


# What keeps a JWT access token valid after it was signed (the rule of the module docstring),
# in one statement on unique indexes: its client and user as the opaque token's validity SQL
# judges them, its session alive, each of its resources still registered.
_STILL_VALID_SQL = f"""
SELECT
  EXISTS (SELECT 1 FROM oauth_client c
          WHERE c.client_id = %s AND {OAuthClient.may_authenticate_sql("c")})
  AND (%s::text IS NULL OR EXISTS (
          SELECT 1 FROM "user" u WHERE u.id = %s AND {may_authenticate_sql("u")}))
  AND (%s::text IS NULL OR EXISTS (
          SELECT 1 FROM session s
          WHERE s.id = %s AND s.expires_at > now() AND s.deleted_at IS NULL))
  AND (SELECT count(*) FROM oauth_resource r WHERE r.identifier = ANY(%s::text[]))
      = cardinality(%s::text[])
"""


def _info(claims: dict[str, Any]) -> AccessTokenInfo | None:
    client_id = claims["client_id"]
    sub = claims.get("sub")
    # A machine token's subject is its client (RFC 9068 section 2.2); it has no user.
    user_id = sub if isinstance(sub, str) and sub != client_id else None
    sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
    implicit = userinfo_resource()
    resources = [a for a in _audiences(claims) if a != implicit]
    row = fetch_one(
        router.db_for_read(OAuthAccessToken),
        _STILL_VALID_SQL,
        (client_id, user_id, user_id, sid, sid, resources, resources),
    )
    if row is None or not row[0]:
        return None
    scope = claims.get("scope")
    reference_id = claims.get("reference_id")
    return AccessTokenInfo(
        id=str(claims.get("jti") or ""),
        client_id=client_id,
        user_id=user_id,
        session_id=sid,
        reference_id=reference_id if isinstance(reference_id, str) else None,
        scopes=scope.split() if isinstance(scope, str) else [],
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
        dpop_jkt=_jkt(claims.get("cnf")),
    )


def _jkt(cnf: Any) -> str | None:
    """``cnf.jkt`` of a bound token; ``""`` for a confirmation method this server cannot
    check, so no presentation passes (as ``AccessTokenInfo.dpop_jkt`` says)."""
    if cnf is None:
        return None
    if isinstance(cnf, dict) and isinstance(cnf.get("jkt"), str) and cnf["jkt"]:
        return str(cnf["jkt"])
    return ""


@sensitive_variables("raw")
def validate(raw: str, audience: str) -> AccessTokenInfo | None:
    """The valid JWT access token ``raw`` whose audience includes ``audience``, or None."""
    claims = _verified_claims(raw)
    if claims is None or audience not in _audiences(claims):
        return None
    return _info(claims)


@sensitive_variables("raw")
def introspect(raw: str, client_id: str) -> dict[str, Any]:
    """RFC 7662 body for a JWT access token, asked by the authenticated client ``client_id``:
    its claims when it is valid and the caller is the client it was issued to or a client
    linked to one of its resources (better-auth's rule: a resource server may introspect
    tokens for its audience); ``{"active": False}`` otherwise."""
    claims = _verified_claims(raw)
    if claims is None or _info(claims) is None:
        return {"active": False}
    if claims["client_id"] != client_id:
        resources = [a for a in _audiences(claims) if a != userinfo_resource()]
        if not OAuthClientResource.objects.filter(
            client_id=client_id, resource_id__in=resources
        ).exists():
            return {"active": False}
    return {**claims, "active": True, "token_type": token_type_of(claims.get("cnf"))}


@sensitive_variables("raw")
def validate_bearer(raw: str, audience: str | None) -> AccessTokenInfo | None:
    """The valid access token ``raw`` of either form for a resource server: a JWT whose
    audience includes ``audience`` (never without one: its audience could not be checked),
    or an opaque token bound to ``audience`` (among its ``resources``) when one is given,
    and bound to no resource when none is (one meant for another resource is no good at a
    view that names none). The one check of the resource helper
    (``resource.authenticate_bearer``)."""
    if looks_like_jwt(raw):
        return validate(raw, audience) if audience else None
    info = validate_access_token(raw)
    if info is None:
        return None
    bound_to = info.resources or ()
    if audience is None:
        return None if bound_to else info
    return info if audience in bound_to else None
