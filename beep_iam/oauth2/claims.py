"""ID tokens and UserInfo claims (OpenID Connect Core 1.0).

Scope to claims, as better-auth's oauth-provider maps them: ``openid`` gives ``sub``;
``profile`` ``name``, ``picture``, ``preferred_username`` (when set); ``email`` ``email`` and
``email_verified``. ``BEEP_IAM["OAUTH2_EXTRA_CLAIMS"]`` names a callable
``(user, client, scopes) -> dict`` whose claims join both (:func:`extra_claims`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from authlib.oidc.core.util import create_half_hash
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables
from joserfc import jwt

from beep_iam.conf import iam_settings
from beep_iam.models import OAuthClient
from beep_iam.oauth2 import keys
from beep_iam.oauth2.endpoint import issuer

#: Claims a hook may not set: the JWT's and OpenID Connect's own, and those this server takes
#: from the user table (a hook could otherwise make a user claim an unverified address).
RESERVED_CLAIMS = frozenset(
    {
        "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "auth_time", "nonce", "acr", "amr",
        "azp", "at_hash", "c_hash", "s_hash", "sid", "cnf",
        "name", "picture", "preferred_username", "email", "email_verified",
    }
)  # fmt: skip


def extra_claims(user: Any, client_id: str, scopes: list[str]) -> dict[str, Any]:
    """The claims of the ``OAUTH2_EXTRA_CLAIMS`` hook; ImproperlyConfigured when it returns
    anything but a dict of new claims that JSON can carry."""
    hook = iam_settings().oauth2_extra_claims
    if hook is None:
        return {}
    client = OAuthClient.objects.get(client_id=client_id)
    extra = hook(user, client, list(scopes))
    where = "BEEP_IAM['OAUTH2_EXTRA_CLAIMS']"
    if not isinstance(extra, dict) or not all(isinstance(k, str) for k in extra):
        raise ImproperlyConfigured(f"{where} must return a dict with str keys, got {extra!r}.")
    reserved = sorted(RESERVED_CLAIMS.intersection(extra))
    if reserved:
        raise ImproperlyConfigured(
            f"{where} returned reserved claim(s) {', '.join(reserved)}; the server sets those."
        )
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{where} returned claims JSON cannot carry: {exc}.") from None
    return extra


def user_claims(user: Any, scopes: list[str], *, client_id: str) -> dict[str, Any]:
    """The UserInfo claims for ``scopes``, the hook's included."""
    claims: dict[str, Any] = {**extra_claims(user, client_id, scopes), "sub": str(user.pk)}
    if "profile" in scopes:
        claims["name"] = user.name
        if user.image:
            claims["picture"] = user.image
        if user.username:
            claims["preferred_username"] = user.username
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = bool(user.email_verified)
    return claims


def id_token_alg(client: OAuthClient) -> str:
    """The algorithm of ``client``'s ID tokens: the ``id_token_signed_response_alg`` it
    registered (OpenID Connect Dynamic Client Registration 2), else
    ``OAUTH2_ID_TOKEN_SIGNING_ALG``. A value this server cannot sign with (from other tools)
    counts as none: the relying party then refuses the token, as it should."""
    alg = client.registered("id_token_signed_response_alg")
    return alg if alg in keys.ALGORITHMS else iam_settings().oauth2_id_token_signing_alg


@sensitive_variables("access_token", "key")
def id_token(
    *,
    user: Any,
    client_id: str,
    scopes: list[str],
    access_token: str,
    nonce: str | None = None,
    auth_time: dt.datetime | None = None,
    session_id: str | None = None,
    alg: str = keys.ALG,
) -> str:
    """A signed ID token for ``user`` and the client, bound to ``access_token`` (``at_hash``),
    signed with ``alg`` (:func:`id_token_alg` says which)."""
    key = keys.signing_key(alg=alg)
    now = int(time.time())
    claims: dict[str, Any] = {
        **user_claims(user, scopes, client_id=client_id),
        "iss": issuer(),
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + int(iam_settings().id_token_lifetime.total_seconds()),
        "at_hash": create_half_hash(access_token, key.alg).decode(),
    }
    if auth_time is not None:
        claims["auth_time"] = int(auth_time.timestamp())
    if nonce:
        claims["nonce"] = nonce
    if session_id:
        claims["sid"] = session_id
    return jwt.encode({"alg": key.alg, "kid": key.kid}, claims, key.key, algorithms=[key.alg])
