"""Registering and authenticating OAuth clients.

Only the SHA-256 digest of a client secret is stored; the raw secret is returned once by
``register_client`` / ``rotate_client_secret``. Public clients
(``token_endpoint_auth_method="none"``) and ``private_key_jwt`` clients have no secret.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from beep_iam.conf import iam_settings
from beep_iam.models import OAuthClient, OAuthClientResource, OAuthResource
from beep_iam.models.oauth import GrantType, ResponseType, TokenEndpointAuthMethod
from beep_iam.services.oauth_errors import InvalidClient, InvalidRequest
from beep_iam.services.prepared import ModelLookup
from beep_iam.validators import MAX_URI_LENGTH
from beep_shared import crypto
from beep_shared.db.show_once import set_new_secret

CLIENT_ID_BYTES = 24  # 32 URL-safe characters

# The client fields register_client takes: its named arguments (build_client's keyword
# parameters), then the metadata it accepts besides them (all nullable model fields). The
# admin's add form asks for exactly these.
REGISTRATION_ARGUMENTS = (
    "name",
    "user",
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "scopes",
)
OPTIONAL_METADATA = frozenset(
    {
        "uri",
        "icon",
        "contacts",
        "tos",
        "policy",
        "software_id",
        "software_version",
        "software_statement",
        "post_logout_redirect_uris",
        "skip_consent",
        "enable_end_session",
        "type",
        "reference_id",
        "metadata",
        "client_credentials_scopes",
        "require_pkce",
        "subject_type",
        "application_type",
        "jwks",
        "jwks_uri",
        "backchannel_logout_uri",
        "backchannel_logout_session_required",
        "dpop_bound_access_tokens",
    }
)

REGISTRATION_FIELDS = (*REGISTRATION_ARGUMENTS, *sorted(OPTIONAL_METADATA))

# Compared against when the client does not exist, so both paths cost one digest comparison.
_DUMMY_DIGEST = crypto.digest("beep-iam-no-such-client")


@dataclass(frozen=True)
class RegisteredClient:
    """A new client and, for secret-based auth methods, its raw secret (never stored)."""

    client: OAuthClient
    client_secret: str | None = field(repr=False)


def build_client(
    *,
    redirect_uris: list[str],
    name: str | None = None,
    token_endpoint_auth_method: str = TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
    grant_types: list[str] | None = None,
    response_types: list[str] | None = None,
    scopes: list[str] | None = None,
    user: Any = None,
    **extra: Any,
) -> OAuthClient:
    """An unsaved client with RFC 7591's defaults: ``grant_types=["authorization_code"]``,
    ``response_types=["code"]``, auth method ``client_secret_basic``. Not validated."""
    unknown = sorted(set(extra) - OPTIONAL_METADATA)
    if unknown:
        raise TypeError(f"register_client() got unknown metadata: {', '.join(unknown)}")
    return OAuthClient(
        name=name,
        redirect_uris=redirect_uris,
        token_endpoint_auth_method=token_endpoint_auth_method,
        grant_types=[GrantType.AUTHORIZATION_CODE] if grant_types is None else grant_types,
        response_types=[ResponseType.CODE] if response_types is None else response_types,
        scopes=scopes,
        user=user,
        **extra,
    )


@sensitive_variables("raw_secret")
def create_client(client: OAuthClient, *, client_id: str | None = None) -> RegisteredClient:
    """Give an unsaved client its id (``client_id``, or a random one) and, for the
    client-secret methods, a secret (only its digest is stored); validate it with
    ``full_clean()`` and insert it.

    The one place a client is created: ``register_client`` and the admin's add page (in
    ``save_model``, after its form validated the same rules) call it."""
    client.client_secret = None
    raw_secret = set_new_secret(client) if client.uses_secret else None
    client.client_id = client_id or crypto.generate_token(CLIENT_ID_BYTES)
    client.full_clean()
    client.save(force_insert=True)
    return RegisteredClient(client=client, client_secret=raw_secret)


def register_client(**arguments: Any) -> RegisteredClient:
    """Build (``build_client``, which names the arguments), validate and store a client;
    return it with its raw secret (``None`` if its auth method has none).

    Raises ``ValidationError`` with every broken rule per field (``OAuthClient.clean()``)."""
    return create_client(build_client(**arguments))


@sensitive_variables("raw_secret")
def verify_client_secret(client: OAuthClient, raw_secret: str | None) -> bool:
    """Constant-time check of a presented secret; a client without a secret never matches."""
    if not raw_secret:
        return False
    return crypto.matches(raw_secret, client.client_secret)


# The client of every token, introspection and revocation request: one prepared statement.
_CLIENT_BY_ID = ModelLookup(OAuthClient, lambda key: OAuthClient.objects.filter(client_id=key))


class ReadAlong(Protocol):
    """A row a request will need, read in the statement that loads its client (one round
    trip for both): ``oauth_tokens.Introspection`` (the token asked about),
    ``keys.NewestKeyRead`` (the key of the ID token a grant may issue)."""

    def load_client(
        self, lookup: ModelLookup[OAuthClient], client_id: str
    ) -> OAuthClient | None: ...


@sensitive_variables("raw_secret")
def authenticate_client(
    client_id: str, raw_secret: str | None, *, along: ReadAlong | None = None
) -> OAuthClient:
    """The valid client ``client_id`` (``OAuthClient.may_authenticate``: enabled, not
    soft-deleted), authenticated by its secret if it has one; ``along`` reads what it
    needs in the same statement (:class:`ReadAlong`).

    Raises ``InvalidClient`` with the same message for an unknown client, an invalid one and a
    wrong secret, so the answer does not reveal which client ids exist.
    """
    if along is not None:
        client = along.load_client(_CLIENT_BY_ID, client_id)
    else:
        client = _CLIENT_BY_ID.get(client_id)
    if client is None:
        crypto.matches(raw_secret or "", _DUMMY_DIGEST)
        raise InvalidClient("client authentication failed")
    if client.client_secret is None:
        ok = not raw_secret and client.token_endpoint_auth_method in (
            TokenEndpointAuthMethod.NONE,
            None,
        )
    else:
        ok = verify_client_secret(client, raw_secret)
    if not ok or not client.may_authenticate:
        raise InvalidClient("client authentication failed")
    return client


@sensitive_variables("raw")
def rotate_client_secret(client: OAuthClient) -> str:
    """Replace a confidential client's secret; return the new raw secret (shown once)."""
    if not client.uses_secret:
        raise ValidationError(
            {
                "token_endpoint_auth_method": (
                    f"{client.token_endpoint_auth_method!r} clients have no secret to rotate."
                )
            }
        )
    raw = set_new_secret(client)
    client.save(update_fields=["client_secret"])
    return raw


def disable_clients(client_ids: list[str]) -> int:
    """Disable clients by ``client_id``; their tokens stop validating at once."""
    with transaction.atomic():
        return OAuthClient.objects.filter(client_id__in=client_ids, disabled=False).update(
            disabled=True
        )


def match_redirect_uri(client: OAuthClient, requested: str | None, *, openid: bool = False) -> str:
    """The redirect URI an authorization request may use, by exact match (RFC 9700 2.1).

    ``requested`` must equal one of the client's registered URIs character for character
    (no prefix, wildcard, case or normalisation tolerance). The one exception is RFC 8252
    7.3: for a registered loopback IP literal (``http://127.0.0.1/...``, ``http://[::1]/...``)
    a native app may pick any port. Without ``requested`` the client must have exactly one
    registered URI, which is returned, unless the request is an OpenID Connect one
    (``openid``: OIDC Core 3.1.2.1 requires the parameter, as better-auth does for every
    request). Raises ``InvalidRequest`` (never redirect then: show the error to the user,
    RFC 6749 4.1.2.1).
    """
    registered = list(client.redirect_uris or [])
    if requested is None:
        if openid:
            raise InvalidRequest("redirect_uri is required in an OpenID Connect request")
        if len(registered) == 1:
            return registered[0]
        raise InvalidRequest("redirect_uri is required: the client registered several or none")
    if requested in registered:
        return requested
    if isinstance(requested, str) and len(requested) <= MAX_URI_LENGTH:
        for uri in registered:
            if _same_loopback_uri_but_port(uri, requested):
                return requested
    raise InvalidRequest("redirect_uri does not match a registered redirect URI")


def _same_loopback_uri_but_port(registered: str, requested: str) -> bool:
    try:
        a, b = urlsplit(registered), urlsplit(requested)
        if a.scheme != "http" or b.scheme != "http" or a.hostname != b.hostname:
            return False
        ipaddress.ip_address(a.hostname or "")
        b.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return False
    if "@" in b.netloc or "\\" in requested:
        return False
    return (a.path, a.query, a.fragment) == (b.path, b.query, b.fragment) and ipaddress.ip_address(
        a.hostname or ""
    ).is_loopback


def link_registration_defaults(client: OAuthClient) -> None:
    """Link a client that registered itself (RFC 7591 or a metadata document) to
    ``OAUTH2_REGISTRATION_DEFAULT_RESOURCES`` (better-auth's
    ``clientRegistrationDefaultResources``), so it may ask for them under the per-client rule.
    A listed identifier without an ``oauth_resource`` row is skipped: the token request
    reports it (``invalid_target``), not the registration."""
    wanted = iam_settings().oauth2_registration_default_resources
    if not wanted:
        return
    known = OAuthResource.objects.filter(identifier__in=wanted).values_list("identifier", flat=True)
    OAuthClientResource.objects.bulk_create(
        [OAuthClientResource(client_id=client.client_id, resource_id=r) for r in known],
        ignore_conflicts=True,
    )
