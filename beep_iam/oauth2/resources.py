"""Resource indicators (RFC 8707): the ``resource`` parameter of the authorization and token
requests, checked as better-auth 1.7's oauth-provider checks it.

A requested resource must be a row of ``oauth_resource`` (not disabled) that the client is
linked to through ``oauth_client_resource`` (better-auth's default
``enforcePerClientResources: true``); otherwise the request fails with ``invalid_target``
(RFC 8707 section 2). A resource's ``allowed_scopes`` narrow the granted scopes (none left:
``invalid_scope``), its ``access_token_ttl`` shortens the access token. The identifier of the
userinfo endpoint (``<issuer>/oauth2/userinfo``) needs no row: it joins the audience whenever
``openid`` is granted, as better-auth adds it.

A token request may name fewer resources than were authorized, never others: the resources
of the authorization request (for a code) or of the refresh token (for a refresh) bound what
a later request may ask for. Naming a resource makes the access token a JWT (RFC 9068, see
:mod:`beep_iam.oauth2.access_jwt`) with that audience.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import errors
from authlib.oauth2.rfc6749.errors import OAuth2Error

from beep_iam.conf import iam_settings
from beep_iam.models import OAuthClient, OAuthClientResource, OAuthResource
from beep_iam.oauth2 import dpop, keys
from beep_iam.oauth2.endpoint import issuer
from beep_iam.oauth2.text import printable

#: The parameter name, and the separator single_values joins repeated values with (an
#: absolute URI holds no space).
PARAM = "resource"
SEPARATOR = " "
#: better-auth's ceiling on audience values (MAX_AUD_VALUES).
MAX_RESOURCES = 64
_DANGEROUS_SCHEMES = frozenset({"javascript", "data", "vbscript"})


class InvalidTargetError(OAuth2Error):
    """RFC 8707 section 2: the requested resource is invalid, unknown or not allowed."""

    error = "invalid_target"

    def __init__(self, description: str | None = None, **kwargs: Any) -> None:
        # Every message here quotes a requested resource: any characters a client sent.
        super().__init__(printable(description) if description else None, **kwargs)


def userinfo_resource() -> str:
    """The implicit audience of tokens granted ``openid``, in better-auth's form."""
    return f"{issuer()}/oauth2/userinfo"


def check_identifier(value: str) -> str:
    """``value`` if it is an absolute URI without fragment (RFC 8707 section 2), else
    :class:`InvalidTargetError` naming the rule."""
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or not parts.scheme or not (parts.netloc or parts.path):
        raise InvalidTargetError(description=f"resource {value!r} must be an absolute URI")
    if "#" in value:
        raise InvalidTargetError(description=f"resource {value!r} must not contain a fragment")
    if parts.scheme.lower() in _DANGEROUS_SCHEMES or any(c.isspace() for c in value):
        raise InvalidTargetError(description=f"resource {value!r} is not a valid URI")
    return value


def requested(params: dict[str, str]) -> list[str] | None:
    """The ``resource`` values of a request's parameters (``single_values`` joins repeated
    ones), each checked, duplicates dropped; ``None`` when there is none."""
    raw = params.get(PARAM)
    if raw is None:
        return None
    values = list(dict.fromkeys(check_identifier(v) for v in raw.split(SEPARATOR) if v))
    if len(values) > MAX_RESOURCES:
        raise InvalidTargetError(description=f"at most {MAX_RESOURCES} resources per request")
    return values or None


def within(wanted: list[str] | None, authorized: Sequence[str] | None) -> list[str] | None:
    """The resources of a token request: ``wanted`` when each was ``authorized`` (the
    authorization request's or the refresh token's), ``authorized`` when none is named.
    A token request may narrow the resources, never widen them: ``invalid_target``."""
    if not wanted:
        return list(authorized) if authorized else None
    held = set(authorized or ())
    extra = [r for r in wanted if r not in held]
    if extra:
        raise InvalidTargetError(
            description=f"resource(s) {', '.join(extra)} were not authorized for this grant"
        )
    return wanted


def shown(identifiers: Sequence[str] | None) -> list[tuple[str, str]]:
    """(name, identifier) of each resource, for a page that asks the user about them: the
    registered name, else the identifier."""
    if not identifiers:
        return []
    names = dict(
        OAuthResource.objects.filter(identifier__in=identifiers).values_list("identifier", "name")
    )
    return [(names.get(identifier) or identifier, identifier) for identifier in identifiers]


@dataclass(frozen=True)
class Policy:
    """What the named resources make of a token: its audience (``None``: an opaque token),
    the scopes left after each resource's ``allowed_scopes``, the shortest access and refresh
    token lifetimes of the resources (seconds) and their custom claims."""

    @property
    def refresh_lifetime(self) -> timedelta | None:
        return None if self.refresh_token_ttl is None else timedelta(seconds=self.refresh_token_ttl)

    resources: list[str]
    audience: str | list[str] | None
    scopes: list[str]
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None
    custom_claims: dict[str, Any] = field(default_factory=dict)
    signing_key_id: str | None = None
    #: The algorithm the resources require (``signing_algorithm``); None: the default.
    signing_algorithm: str | None = None


def resolve(client: OAuthClient, resources: list[str] | None, scopes: Iterable[str]) -> Policy:
    """The policy for ``client`` asking ``resources`` with ``scopes``: every resource known,
    enabled and linked to the client, or ``invalid_target``; scopes narrowed by the
    resources' ``allowed_scopes`` (nothing left: ``invalid_scope``)."""
    granted = list(scopes)
    if not resources:
        return Policy(resources=[], audience=None, scopes=granted)
    implicit = userinfo_resource()
    named = [r for r in resources if r != implicit]
    rows = {row.identifier: row for row in OAuthResource.objects.filter(identifier__in=named)}
    for identifier in named:
        row = rows.get(identifier)
        if row is None:
            raise InvalidTargetError(description=f"resource {identifier} is not registered")
        if row.disabled:
            raise InvalidTargetError(description=f"resource {identifier} is disabled")
    unlinked = []
    if iam_settings().oauth2_enforce_per_client_resources:
        linked = set(
            OAuthClientResource.objects.filter(
                client_id=client.client_id, resource_id__in=named
            ).values_list("resource_id", flat=True)
        )
        unlinked = [r for r in named if r not in linked]
    if unlinked:
        raise InvalidTargetError(
            description=f"client {client.client_id} may not ask for resource(s) "
            f"{', '.join(unlinked)}"
        )
    ttl: int | None = None
    refresh_ttl: int | None = None
    claims: dict[str, Any] = {}
    kids = {rows[i].signing_key_id for i in named if rows[i].signing_key_id}
    if len(kids) > 1:
        raise errors.InvalidRequestError(
            description="the resources pin different signing keys; one token has one signature"
        )
    kid = next(iter(kids), None)
    algs = {rows[i].signing_algorithm for i in named if rows[i].signing_algorithm}
    if len(algs) > 1:
        raise errors.InvalidRequestError(
            description="the resources require different signing algorithms; one token has "
            "one signature"
        )
    alg = next(iter(algs), None)
    if kid is not None:
        try:
            pinned = keys.signing_key(kid)
        except LookupError:
            raise errors.InvalidRequestError(
                description=f"the resources pin signing key {kid}, which is not an active key"
            ) from None
        if alg is not None and pinned.alg != alg:
            raise errors.InvalidRequestError(
                description=f"the resources pin signing key {kid} ({pinned.alg}) but require "
                f"{alg} tokens"
            )
    for identifier in named:
        row = rows[identifier]
        if row.allowed_scopes is not None:
            allowed = set(row.allowed_scopes)
            granted = [s for s in granted if s in allowed]
            if not granted:
                raise errors.InvalidScopeError(
                    description=f"none of the requested scopes is allowed for resource {identifier}"
                )
        if row.access_token_ttl is not None:
            ttl = row.access_token_ttl if ttl is None else min(ttl, row.access_token_ttl)
        if row.refresh_token_ttl is not None:
            refresh_ttl = (
                row.refresh_token_ttl
                if refresh_ttl is None
                else min(refresh_ttl, row.refresh_token_ttl)
            )
        if row.signing_algorithm and row.signing_algorithm not in keys.ALGORITHMS:
            # Never sign with another algorithm than the resource expects.
            raise errors.InvalidRequestError(
                description=f"resource {identifier} requires {row.signing_algorithm} tokens; "
                f"this server signs {', '.join(keys.ALGORITHMS)}"
            )
        if row.dpop_bound_access_tokens_required:
            # No bearer token for a resource that accepts only DPoP-bound ones.
            dpop.require_proof(
                f"resource {identifier} requires DPoP-bound access tokens (RFC 9449): "
                "a DPoP proof is required"
            )
        if isinstance(row.custom_claims, dict):
            claims.update(row.custom_claims)
    audience = list(dict.fromkeys([*named, *([implicit] if "openid" in granted else [])]))
    return Policy(
        resources=named,
        audience=audience[0] if len(audience) == 1 else audience,
        scopes=granted,
        access_token_ttl=ttl,
        refresh_token_ttl=refresh_ttl,
        custom_claims=claims,
        signing_key_id=kid,
        signing_algorithm=alg,
    )
