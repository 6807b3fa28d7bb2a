"""Authorization codes, stored as better-auth 1.7's oauth-provider stores them.

A ``verification`` row per code: ``identifier`` is the code's SHA-256 digest (base64url, the
plugin's "hashed" storage), ``value`` the JSON ``{"type": "authorization_code", "query":
{...the authorization request...}, "userId", "sessionId", "referenceId", "authTime" (ms),
"resource"}``, expiring after ten minutes (its ``codeExpiresIn``). A code issued by either
server therefore redeems at the other.

Redemption locks the row (``FOR UPDATE``) and deletes it in the transaction that issues the
code's tokens, so a code is used once even under concurrent requests. The tokens a code yields
carry its digest (``authorization_code_id``); presenting a code whose row is gone revokes them
(RFC 6749 section 4.1.2), as better-auth does.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from beep_iam.models import OAuthAccessToken, OAuthRefreshToken, Verification
from beep_iam.models.verification import typed_value
from beep_shared import crypto

CODE_LIFETIME = timedelta(minutes=10)
CODE_LENGTH = 32  # better-auth: generateRandomString(32, "a-z", "A-Z", "0-9"), ~190 bits
_ALPHABET = string.ascii_letters + string.digits
TYPE = "authorization_code"


@dataclass(frozen=True)
class CodeGrant:
    """What an authorization code stands for."""

    id: str  # the code's digest; also the tokens' authorization_code_id
    query: dict[str, Any]
    user_id: str
    session_id: str
    reference_id: str | None
    auth_time_ms: int | None
    resource: list[str] | None

    @property
    def client_id(self) -> str | None:
        return self.query.get("client_id")

    @property
    def scopes(self) -> list[str]:
        return (self.query.get("scope") or "").split()


@sensitive_variables("code")
def issue_code(
    query: dict[str, Any],
    *,
    user_id: str,
    session_id: str,
    auth_time_ms: int | None,
    reference_id: str | None = None,
    resource: list[str] | None = None,
) -> str:
    """Store a new code for the authorization request ``query``; return the raw code.
    ``resource``: the RFC 8707 resources authorized, as a list in the query and beside it
    (where better-auth reads them first)."""
    code = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
    query = {k: v for k, v in query.items() if k != "resource"}
    value: dict[str, Any] = {
        "type": TYPE,
        "query": {**query, "resource": resource} if resource else query,
        "userId": user_id,
        "sessionId": session_id,
        "authTime": auth_time_ms,
        "resource": resource or [],
    }
    if reference_id is not None:
        value["referenceId"] = reference_id
    Verification.objects.create(
        identifier=crypto.digest(code),
        value=json.dumps(value, separators=(",", ":")),
        expires_at=timezone.now() + CODE_LIFETIME,
    )
    return code


# The rows under the code's digest, locked: a concurrent redemption of the same code waits
# until the first one's transaction ends, then finds the row gone: it is a replay and revokes
# what the first issued. Only a code's row is used up: a registration access token or a
# pushed request_uri presented as a code has the same form of identifier (a digest). The type
# is read here rather than cast in SQL: a value may be JSON that jsonb refuses (a \u0000).
_LOCK_SQL = (
    "SELECT id, value, expires_at > now() FROM verification WHERE identifier = %s FOR UPDATE"
)
_DELETE_SQL = "DELETE FROM verification WHERE id = %s"


@sensitive_variables("code", "digest")
def redeem_code(code: str) -> CodeGrant | None:
    """The grant of ``code``, deleting it; ``None`` if it is unknown, used, expired or
    malformed. An unknown or used code revokes the tokens issued for it.

    Call it inside the transaction that issues the code's tokens, and commit that transaction
    whatever the outcome: the row stays locked until then, so a concurrent replay waits for
    the tokens it must revoke, and a failed redemption still uses the code up."""
    digest = crypto.digest(code)
    using = router.db_for_write(Verification)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(_LOCK_SQL, (digest,))
        found: tuple[dict[str, Any], bool] | None = None
        for pk, text, unexpired in cursor.fetchall():
            value = typed_value(text, TYPE)
            if value is not None:
                cursor.execute(_DELETE_SQL, (pk,))
                found = value, unexpired
                break
    if found is None:
        revoke_code_tokens(digest)
        return None
    value, unexpired = found
    if not unexpired:
        return None
    try:
        if not isinstance(value.get("query"), dict):
            return None
        return CodeGrant(
            id=digest,
            query=value["query"],
            user_id=str(value["userId"]),
            session_id=str(value.get("sessionId") or ""),
            reference_id=value.get("referenceId"),
            auth_time_ms=value.get("authTime"),
            resource=_resources(value.get("resource"))
            or _resources(value["query"].get("resource")),
        )
    except (KeyError, TypeError, AttributeError):
        return None


def _resources(value: Any) -> list[str] | None:
    # better-auth writes a list beside the query, and the query's own one value or list.
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return None


def revoke_code_tokens(code_id: str) -> None:
    """Revoke what the code ``code_id`` yielded: its refresh tokens with the access tokens they
    minted (rotations carry the code's id on), and its access tokens."""
    using = router.db_for_write(OAuthAccessToken)
    with transaction.atomic(using=using):
        OAuthRefreshToken.objects.using(using).filter(
            authorization_code_id=code_id
        ).revoke_with_access_tokens()
        OAuthAccessToken.objects.using(using).filter(authorization_code_id=code_id).revoke()
