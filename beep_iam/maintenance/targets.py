"""The purge targets of ``purge_expired_tokens``, in the order they run.

Access tokens go first. A refresh token is kept while an access token it minted is still
live, because deleting it would delete that token too (``refresh_id ... ON DELETE
CASCADE``): expiry of the refresh token must not cut short an access token's own lifetime.
Revoked rows are kept for ``BEEP_IAM["REVOKED_TOKEN_RETENTION"]`` (default 7 days), the
window in which replaying a rotated refresh token is still recognised as reuse.

Revoking an access token also moves its ``expires_at`` to the revocation time (for
better-auth 1.4, see ``OAuthAccessToken``), so the expiry target skips revoked rows: they
keep the retention like revoked refresh tokens.

Expired verification values, device codes and used client assertions follow: all are dead
the moment they expire (a device polling with an expired code gets ``expired_token`` either
way; an expired assertion is refused by its own ``exp``).

Rate-limit counters (``rate_limit``, shared with better-auth) go last, once no window can
still reach them (:func:`_rate_limit_stale_before`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from beep_iam.conf import iam_settings
from beep_iam.maintenance.purge import PurgeTarget, register


def _revoked_before(now: dt.datetime) -> dict[str, Any]:
    return {"revoked_before": now - iam_settings().revoked_token_retention}


_NO_LIVE_ACCESS_TOKEN = """
NOT EXISTS (
    SELECT 1 FROM oauth_access_token a
    WHERE a.refresh_id = oauth_refresh_token.id
      AND a.revoked IS NULL
      AND (a.expires_at IS NULL OR a.expires_at > %(now)s)
)"""

register(
    PurgeTarget(
        name="oauth_access_token.expired",
        table="oauth_access_token",
        key="expires_at",
        where="expires_at < %(now)s AND revoked IS NULL",
        description="access tokens past their expiry (not revoked)",
    )
)
register(
    PurgeTarget(
        name="oauth_access_token.revoked",
        table="oauth_access_token",
        key="revoked",
        where="revoked < %(revoked_before)s",
        params=_revoked_before,
        description="access tokens revoked longer ago than the retention",
    )
)
register(
    PurgeTarget(
        name="oauth_refresh_token.expired",
        table="oauth_refresh_token",
        key="expires_at",
        where=f"expires_at < %(now)s AND {_NO_LIVE_ACCESS_TOKEN}",
        description="refresh tokens past their expiry with no live access token",
    )
)
register(
    PurgeTarget(
        name="oauth_refresh_token.revoked",
        table="oauth_refresh_token",
        key="revoked",
        where=f"revoked < %(revoked_before)s AND {_NO_LIVE_ACCESS_TOKEN}",
        params=_revoked_before,
        description="refresh tokens revoked longer ago than the retention, no live access token",
    )
)
register(
    PurgeTarget(
        name="verification.expired",
        table="verification",
        key="expires_at",
        where="expires_at <= %(now)s",  # as Verification.objects.expired()
        description="verification values past their expiry",
    )
)
register(
    PurgeTarget(
        name="device_code.expired",
        table="device_code",
        key="expires_at",
        where="expires_at <= %(now)s",  # as DeviceCode.objects.expired()
        description="device authorizations past their expiry",
    )
)
register(
    PurgeTarget(
        name="oauth_client_assertion.expired",
        table="oauth_client_assertion",
        key="expires_at",
        where="expires_at <= %(now)s",  # as OAuthClientAssertion.objects.expired()
        description="used client assertions (private_key_jwt) past their expiry",
    )
)


def _stale_before(now: dt.datetime) -> dict[str, Any]:
    from beep_iam.oauth2.cimd import STALE_AFTER

    return {"stale_before": now - STALE_AFTER}


def _no_live_token(table: str) -> str:
    return f"""NOT EXISTS (
    SELECT 1 FROM {table} t
    WHERE t.client_id = oauth_client.client_id
      AND t.revoked IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > %(now)s)
)"""


#: Counters are kept at least this long: better-auth's own rules on the shared table have
#: windows of their own (seconds to minutes by default), which Django does not know.
RATE_LIMIT_RETENTION = dt.timedelta(days=1)


def _rate_limit_stale_before(now: dt.datetime) -> dict[str, Any]:
    """A counter whose last request is older than every window starts again from one at its
    next request (the rule of both servers), so deleting it changes nothing."""
    windows = [
        dt.timedelta(seconds=limit.window) for limit in iam_settings().oauth2_rate_limits.values()
    ]
    keep = max([RATE_LIMIT_RETENTION, *windows])
    return {"stale_before_ms": int((now - keep).timestamp() * 1000)}


register(
    PurgeTarget(
        name="oauth_client.stale_metadata_document",
        table="oauth_client",
        key="updated_at",
        where=(
            "client_discovery_id = 'cimd' AND updated_at < %(stale_before)s"
            f" AND {_no_live_token('oauth_access_token')}"
            f" AND {_no_live_token('oauth_refresh_token')}"
        ),
        params=_stale_before,
        description="clients from metadata documents not fetched for 30 days, no live token",
    )
)


register(
    PurgeTarget(
        name="rate_limit.stale",
        table="rate_limit",
        key="key",  # the unique index; last_request has none
        where="last_request < %(stale_before_ms)s",
        params=_rate_limit_stale_before,
        description="rate-limit counters whose window ended longer ago than a day",
    )
)
