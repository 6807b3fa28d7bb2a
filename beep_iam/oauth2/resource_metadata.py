"""Protected resource metadata (RFC 9728) for Django resource servers protected by
:func:`beep_iam.oauth2.resource.require_oauth` or the DRF classes.

A resource is an ``oauth_resource`` row (better-auth 1.7's registry). Its metadata is served
where RFC 9728 section 3.1 puts it: ``/.well-known/oauth-protected-resource`` followed by the
identifier's path (``https://api.example.com/mcp`` ->
``https://api.example.com/.well-known/oauth-protected-resource/mcp``), so add
:data:`urlpatterns` at the root of the resource server's URLconf. The document names this
server's issuer as the authorization server, the resource's ``allowed_scopes`` as
``scopes_supported``, its ``name`` as ``resource_name``, and the RFC 9728 fields found in its
``metadata`` JSON (:data:`METADATA_FIELDS`).

Every 401 of the helper carries ``WWW-Authenticate: Bearer resource_metadata="<that URL>"``
(RFC 9728 section 5.1), which is how an MCP client finds the authorization server from a
bare 401.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from beep_iam.models import OAuthResource
from beep_iam.oauth2.cors import cross_origin
from beep_iam.oauth2.endpoint import issuer, json_response, needs_issuer

WELL_KNOWN = "/.well-known/oauth-protected-resource"
#: Optional RFC 9728 section 2 fields a resource's ``metadata`` JSON may set.
METADATA_FIELDS = (
    "jwks_uri",
    "resource_documentation",
    "resource_policy_uri",
    "resource_tos_uri",
    "resource_signing_alg_values_supported",
    "tls_client_certificate_bound_access_tokens",
    "authorization_details_types_supported",
    "dpop_signing_alg_values_supported",
)
CACHE_CONTROL = "public, max-age=300"


def metadata_url(identifier: str) -> str:
    """The URL of the metadata of the resource ``identifier`` (RFC 9728 section 3.1)."""
    parts = urlsplit(identifier)
    suffix = parts.path if parts.path not in ("", "/") else ""
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + suffix, parts.query, ""))


def metadata(resource: OAuthResource) -> dict[str, Any]:
    """The RFC 9728 document of ``resource``."""
    body: dict[str, Any] = {
        "resource": resource.identifier,
        "authorization_servers": [issuer()],
        "bearer_methods_supported": ["header"],
        "resource_name": resource.name or resource.identifier,
    }
    if resource.allowed_scopes is not None:
        body["scopes_supported"] = list(resource.allowed_scopes)
    if resource.dpop_bound_access_tokens_required:
        body["dpop_bound_access_tokens_required"] = True
    extra = resource.metadata if isinstance(resource.metadata, dict) else {}
    body.update({k: extra[k] for k in METADATA_FIELDS if k in extra})
    return body


@require_safe
def protected_resource_metadata(request: HttpRequest, resource_path: str = "") -> HttpResponse:
    """The metadata of the resource whose identifier is this host (its scheme and
    ``Host``, which Django checks against ``ALLOWED_HOSTS``) and ``resource_path``; 404 for
    any other, or a disabled one."""
    origin = f"{request.scheme}://{request.get_host()}"
    candidates = [f"{origin}/{resource_path}"] if resource_path else [origin, f"{origin}/"]
    resource = OAuthResource.objects.filter(identifier__in=candidates).first()
    if resource is None or resource.disabled:
        raise Http404("no protected resource has this identifier")
    return json_response(metadata(resource), headers={"Cache-Control": CACHE_CONTROL})


_view = cross_origin(needs_issuer(protected_resource_metadata))

#: For the root of the resource server's URLconf (RFC 9728 section 3.1).
urlpatterns = [
    path(WELL_KNOWN.lstrip("/"), _view, name="oauth-protected-resource"),
    path(WELL_KNOWN.lstrip("/") + "/<path:resource_path>", _view),
]
