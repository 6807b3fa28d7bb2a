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

from django.db.models import Exists, OuterRef, QuerySet

from beep_iam.conf import iam_settings
from beep_iam.maintenance.purge import PurgeTarget, register
from beep_iam.models import (
    DeviceCode,
    OAuthAccessToken,
    OAuthClient,
    OAuthRefreshToken,
    RateLimit,
    Verification,
)
from beep_iam.models.oauth import OAuthClientAssertion


def _revoked_before(now: dt.datetime) -> dt.datetime:
    return now - iam_settings().revoked_token_retention


def _without_live_access_token(rows: QuerySet[Any], now: dt.datetime) -> QuerySet[Any]:
    minted = OAuthAccessToken.objects.filter(oauth_refresh_token=OuterRef("pk")).live(now)
    return rows.filter(~Exists(minted))


register(
    PurgeTarget(
        name="oauth_access_token.expired",
        rows=lambda now: OAuthAccessToken.objects.expired(now).filter(revoked__isnull=True),
        key="expires_at",
        description="access tokens past their expiry (not revoked)",
    )
)
register(
    PurgeTarget(
        name="oauth_access_token.revoked",
        rows=lambda now: OAuthAccessToken.objects.filter(revoked__lt=_revoked_before(now)),
        key="revoked",
        description="access tokens revoked longer ago than the retention",
    )
)
register(
    PurgeTarget(
        name="oauth_refresh_token.expired",
        rows=lambda now: _without_live_access_token(OAuthRefreshToken.objects.expired(now), now),
        key="expires_at",
        description="refresh tokens past their expiry with no live access token",
    )
)
register(
    PurgeTarget(
        name="oauth_refresh_token.revoked",
        rows=lambda now: _without_live_access_token(
            OAuthRefreshToken.objects.filter(revoked__lt=_revoked_before(now)), now
        ),
        key="revoked",
        description="refresh tokens revoked longer ago than the retention, no live access token",
    )
)
register(
    PurgeTarget(
        name="verification.expired",
        rows=lambda now: Verification.objects.expired(now),
        key="expires_at",
        description="verification values past their expiry",
    )
)
register(
    PurgeTarget(
        name="device_code.expired",
        rows=lambda now: DeviceCode.objects.expired(now),
        key="expires_at",
        description="device authorizations past their expiry",
    )
)
register(
    PurgeTarget(
        name="oauth_client_assertion.expired",
        rows=lambda now: OAuthClientAssertion.objects.expired(now),
        key="expires_at",
        description="used client assertions (private_key_jwt) past their expiry",
    )
)


def _stale_metadata_documents(now: dt.datetime) -> QuerySet[Any]:
    """Clients from metadata documents not fetched for ``cimd.STALE_AFTER`` and holding no
    live token (deleting a client deletes its tokens)."""
    from beep_iam.oauth2.cimd import DISCOVERY_ID, STALE_AFTER

    live_access = OAuthAccessToken.objects.filter(client_id=OuterRef("client_id")).live(now)
    live_refresh = OAuthRefreshToken.objects.filter(client_id=OuterRef("client_id")).live(now)
    return OAuthClient.objects.filter(
        client_discovery_id=DISCOVERY_ID, updated_at__lt=now - STALE_AFTER
    ).filter(~Exists(live_access), ~Exists(live_refresh))


#: Counters are kept at least this long: better-auth's own rules on the shared table have
#: windows of their own (seconds to minutes by default), which Django does not know.
RATE_LIMIT_RETENTION = dt.timedelta(days=1)


def _stale_rate_limits(now: dt.datetime) -> QuerySet[Any]:
    """A counter whose last request is older than every window starts again from one at its
    next request (the rule of both servers), so deleting it changes nothing."""
    windows = [
        dt.timedelta(seconds=limit.window) for limit in iam_settings().oauth2_rate_limits.values()
    ]
    keep = max([RATE_LIMIT_RETENTION, *windows])
    return RateLimit.objects.filter(last_request__lt=int((now - keep).timestamp() * 1000))


register(
    PurgeTarget(
        name="oauth_client.stale_metadata_document",
        rows=_stale_metadata_documents,
        key="updated_at",
        description="clients from metadata documents not fetched for 30 days, no live token",
    )
)
register(
    PurgeTarget(
        name="rate_limit.stale",
        rows=_stale_rate_limits,
        key="key",  # the unique index; last_request has none
        description="rate-limit counters whose window ended longer ago than a day",
    )
)
