"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, as MCP
2025-11-25 uses it): a ``client_id`` that is an https URL names a JSON document, served at
that URL, describing the client.

With ``BEEP_IAM["OAUTH2_CLIENT_ID_METADATA_DOCUMENTS"]`` on, :func:`discover` (one call, where
authorize proves the client and where the token endpoint authenticates it) fetches the
document through the SSRF-hardened fetcher (:mod:`beep_iam.oauth2.fetch`), checks it and
stores the client in ``oauth_client`` as better-auth's CIMD package does: ``client_id`` the
URL, ``client_discovery_id`` ``"cimd"``, no secret, ``application_type`` NULL unless given,
``client_credentials_scopes`` kept from the row it replaces (empty for a new one), ``scopes``
the registration scopes. A row is refreshed once its time is up (the document's
``Cache-Control: max-age`` or ``Expires``, held between :data:`MIN_TTL` and :data:`MAX_TTL`;
:data:`DEFAULT_TTL` without either), keeping what an operator set on it (``disabled``,
``skip_consent``, ``enable_end_session``). Rows whose document was not fetched for
:data:`STALE_AFTER` and that hold no live token are purged by ``purge_expired_tokens``.

Checks: the document's ``client_id`` equals the URL exactly; every metadata rule of the
services (``build_client`` -> ``full_clean()``); no secret-based authentication (``none`` by
default, or ``private_key_jwt`` with keys), no client secret, no back-channel logout target;
the rest as dynamic registration (:func:`beep_iam.oauth2.registration.client_arguments`).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import Message

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from beep_iam.choices import CLIENT_METADATA_DOCUMENT, TokenEndpointAuthMethod
from beep_iam.conf import iam_settings
from beep_iam.models import OAuthClient
from beep_iam.oauth2 import fetch
from beep_iam.oauth2.metadata import (
    RegistrationError,
    client_arguments,
    from_validation,
    replace_metadata,
)
from beep_iam.services.oauth_clients import (
    build_client,
    create_client,
    link_registration_defaults,
)

DISCOVERY_ID = CLIENT_METADATA_DOCUMENT
MIN_TTL = timedelta(minutes=1)
MAX_TTL = timedelta(hours=24)
DEFAULT_TTL = timedelta(hours=1)
STALE_AFTER = timedelta(days=30)
MAX_DOCUMENT_BYTES = 16 * 1024  # better-auth's CIMD limit is 5 KB; documents are small
FETCH_TIMEOUT = 5.0
#: Server-side fields a document must not carry (better-auth's CIMD_FORBIDDEN list).
FORBIDDEN = ("client_secret", "client_secret_expires_at", "client_id_issued_at")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class DiscoveryError(Exception):
    """The client's metadata document could not be used; ``description`` says why, to
    anyone who names the URL (so a fetch failure is only :class:`fetch.FetchError`'s reason,
    which holds no resolved address or connection detail)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def is_metadata_url(client_id: str | None) -> bool:
    """Whether ``client_id`` names a metadata document: CIMD is on and it is an https URL
    with a path (plain http only where the fetcher may reach loopback)."""
    if not client_id or not iam_settings().oauth2_client_id_metadata_documents:
        return False
    scheme, _, rest = client_id.partition("://")
    if scheme != "https" and not (scheme == "http" and iam_settings().oauth2_fetch_allow_loopback):
        return False
    return "/" in rest and not rest.endswith("://")


def _fresh_key(client_id: str) -> str:
    return "beep_iam:cimd:" + hashlib.sha256(client_id.encode()).hexdigest()


def discover(client_id: str | None, before_fetch: Callable[[], None] | None = None) -> None:
    """Make sure ``client_id``'s row is current when it names a metadata document: fetch,
    check and store it when missing or due. Nothing for any other client id.
    ``before_fetch``: called just before a document is fetched (an abuse limit may raise).

    Raises :class:`DiscoveryError` (show ``invalid_client``); never anything else for a bad
    document or server."""
    if client_id is None or not is_metadata_url(client_id):
        return
    row = OAuthClient.objects.filter(client_id=client_id).first()
    if row is not None:
        if row.client_discovery_id != DISCOVERY_ID:
            return  # registered some other way: not ours to replace
        if cache.get(_fresh_key(client_id)) or row.updated_at > timezone.now() - MIN_TTL:
            return
    if before_fetch is not None:
        before_fetch()
    try:
        fetched = fetch.fetch(client_id, max_bytes=MAX_DOCUMENT_BYTES, timeout=FETCH_TIMEOUT)
    except fetch.FetchError as exc:
        raise DiscoveryError(
            f"the client metadata document could not be fetched: {exc.reason}"
        ) from None
    ttl = time_to_live(fetched.headers)
    _store(client_id, _document(client_id, fetched.body), row)
    cache.set(_fresh_key(client_id), True, int(ttl.total_seconds()))


def time_to_live(headers: Message, now: datetime | None = None) -> timedelta:
    """How long a fetched document is used: ``max-age`` (``no-store``/``no-cache``: the
    floor), else ``Expires``, else :data:`DEFAULT_TTL`; within [MIN_TTL, MAX_TTL]."""
    control = ", ".join(headers.get_all("Cache-Control") or [])
    ttl = DEFAULT_TTL
    match = _MAX_AGE.search(control)
    if re.search(r"no-store|no-cache", control, re.IGNORECASE):
        ttl = MIN_TTL
    elif match:
        ttl = timedelta(seconds=min(int(match.group(1)), int(MAX_TTL.total_seconds())))
    elif headers.get("Expires"):
        try:
            expires = email.utils.parsedate_to_datetime(headers["Expires"])
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            ttl = expires - (now or datetime.now(UTC))
        except (TypeError, ValueError, IndexError):
            ttl = MIN_TTL  # an invalid Expires means "already expired" (RFC 9111 5.3)
    return max(MIN_TTL, min(MAX_TTL, ttl))


def _document(client_id: str, body: bytes) -> dict[str, object]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise DiscoveryError("the client metadata document is not JSON") from None
    if not isinstance(document, dict):
        raise DiscoveryError("the client metadata document is not a JSON object")
    if document.get("client_id") != client_id:
        raise DiscoveryError("the client metadata document's client_id is not its URL")
    present = [name for name in FORBIDDEN if name in document]
    if present:
        raise DiscoveryError(f"a client metadata document must not carry {', '.join(present)}")
    method = document.get("token_endpoint_auth_method", TokenEndpointAuthMethod.NONE)
    if method not in (TokenEndpointAuthMethod.NONE, TokenEndpointAuthMethod.PRIVATE_KEY_JWT):
        raise DiscoveryError("a client metadata document client cannot use a shared secret")
    if "backchannel_logout_uri" in document or "backchannel_logout_session_required" in document:
        raise DiscoveryError("a client metadata document cannot register a back-channel logout")
    return document


def _store(client_id: str, document: dict[str, object], row: OAuthClient | None) -> None:
    metadata = {k: v for k, v in document.items() if k != "client_id"}
    try:
        client = build_client(**client_arguments(metadata, document=True))
        client.client_discovery_id = DISCOVERY_ID
        client.client_credentials_scopes = []
        if row is None:
            try:
                with transaction.atomic():
                    link_registration_defaults(create_client(client, client_id=client_id).client)
            except IntegrityError:
                pass  # a concurrent request stored it first; its copy is as good
            return
        replace_metadata(row, client)
        row.client_secret = None
        row.full_clean()
        row.updated_at = timezone.now()
        row.save()
    except ValidationError as exc:
        raise DiscoveryError(
            f"the client metadata document is invalid: {from_validation(exc).description}"
        ) from None
    except RegistrationError as exc:
        raise DiscoveryError(
            f"the client metadata document is invalid: {exc.description}"
        ) from None
