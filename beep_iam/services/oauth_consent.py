"""A user's consent to a client's scopes: one row per (client, user)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from beep_iam import validators as rules
from beep_iam.models import OAuthClient, OAuthConsent
from beep_iam.services.oauth_tokens import allowed_scopes

_UPSERT_SQL = """
INSERT INTO oauth_consent (client_id, user_id, scopes, reference_id, resources)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (client_id, user_id) DO UPDATE
SET scopes = EXCLUDED.scopes, reference_id = EXCLUDED.reference_id,
    resources = coalesce(EXCLUDED.resources, oauth_consent.resources)
RETURNING *
"""


def consented_scopes(client: OAuthClient, user: Any, scopes: Iterable[str]) -> list[str]:
    """The scopes a consent of ``user`` to ``client`` would store, checked without writing:
    valid scope tokens (``ValidationError``), each one the client allows (``InvalidScope``);
    ``ValueError`` without a user."""
    if user is None:
        raise ValueError("grant_consent() needs a user.")
    return allowed_scopes(client, scopes)


def grant_consent(
    client: OAuthClient,
    user: Any,
    scopes: Iterable[str],
    *,
    reference_id: str | None = None,
    resources: list[str] | None = None,
) -> OAuthConsent:
    """Record that ``user`` consents to ``scopes`` for ``client``, replacing earlier scopes
    (and earlier RFC 8707 ``resources`` when some are given; none keeps them, as better-auth's
    update leaves an absent field alone).

    One ``INSERT ... ON CONFLICT (client_id, user_id) DO UPDATE``, so concurrent grants for
    the same pair cannot create two rows or fail on the unique constraint.
    """
    granted = consented_scopes(client, user, scopes)
    # Raw SQL: bulk_create(update_conflicts=True) would not report the id of an existing
    # row, since ids are generated in Python before the INSERT.
    (consent,) = OAuthConsent.objects.raw(
        _UPSERT_SQL,
        [
            client.client_id,
            getattr(user, "pk", user),
            granted,
            reference_id,
            resources,
        ],
    )
    return consent


def consent_covers(
    client: OAuthClient | str,
    user: Any,
    scopes: Iterable[str],
    *,
    resources: Iterable[str] | None = None,
    reference_id: str | None = None,
) -> bool:
    """Whether the stored consent of ``user`` for ``client`` includes every scope in ``scopes``
    and every RFC 8707 resource in ``resources`` (better-auth asks again for a new one), and,
    with a ``reference_id``, was given for it (as better-auth looks consents up)."""
    client_id = client.client_id if isinstance(client, OAuthClient) else client
    consents = OAuthConsent.objects.filter(
        client_id=client_id,
        user_id=getattr(user, "pk", user),
        scopes__contains=rules.validate_scopes(scopes, allow_empty=True),
    )
    wanted = list(resources or ())
    if wanted:
        consents = consents.filter(resources__contains=wanted)
    if reference_id is not None:
        consents = consents.filter(reference_id=reference_id)
    return consents.exists()


def revoke_consent(client: OAuthClient | str, user: Any) -> bool:
    """Forget the consent of ``user`` for ``client``; True if there was one."""
    client_id = client.client_id if isinstance(client, OAuthClient) else client
    deleted, _ = OAuthConsent.objects.filter(
        client_id=client_id, user_id=getattr(user, "pk", user)
    ).delete()
    return deleted > 0
