"""ID tokens and UserInfo claims (OpenID Connect Core 1.0).

Scope to claims, as better-auth's oauth-provider maps them: ``openid`` gives ``sub``;
``profile`` ``name``, ``picture``, ``preferred_username`` (when set); ``email`` ``email`` and
``email_verified``. ``BEEP_IAM`` has no hook for custom claims yet.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt

from beep_iam.conf import iam_settings
from beep_iam.oauth2 import keys
from beep_iam.oauth2.endpoint import issuer


def user_claims(user: Any, scopes: list[str]) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": str(user.pk)}
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


def id_token(
    *,
    user: Any,
    client_id: str,
    scopes: list[str],
    access_token: str,
    nonce: str | None = None,
    auth_time: dt.datetime | None = None,
    session_id: str | None = None,
) -> str:
    """A signed ID token for ``user`` and the client, bound to ``access_token`` (``at_hash``)."""
    key = keys.signing_key()
    now = int(time.time())
    claims: dict[str, Any] = {
        **user_claims(user, scopes),
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
