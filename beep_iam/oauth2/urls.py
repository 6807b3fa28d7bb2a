"""The OAuth 2.1 / OpenID Connect endpoints; include them where better-auth serves its own
(its ``baseURL``), e.g. ``path("", include("beep_iam.oauth2.urls"))`` or under ``api/auth/``.

The paths are better-auth's oauth-provider and jwt plugin paths, so a client configured for
one server works against the other.

For an issuer with a path (``https://example.com/api/auth``), include these where that path
is, and add :data:`well_known_urlpatterns` at the root of your URLconf: the discovery
documents where RFC 8414 section 3.1 and OpenID Connect Discovery put them."""

from django.urls import path

from beep_iam.oauth2 import device, device_page, par, registration, views
from beep_iam.oauth2.cors import cross_origin
from beep_iam.oauth2.endpoint import needs_issuer

app_name = "beep_iam_oauth2"

urlpatterns = [
    path("oauth2/authorize", views.authorize, name="authorize"),
    path("oauth2/token", views.token, name="token"),
    path("oauth2/par", par.pushed_authorization_request, name="par"),
    path("oauth2/userinfo", views.userinfo, name="userinfo"),
    path("oauth2/revoke", views.revoke, name="revoke"),
    path("oauth2/introspect", views.introspect, name="introspect"),
    path("oauth2/end-session", views.end_session, name="end-session"),
    # better-auth's device-authorization plugin paths: its /device is a JSON API, here the page.
    path("device/code", device.device_authorization, name="device-authorization"),
    path("device", device_page.verify, name="device"),
    path("oauth2/register", registration.register, name="register"),
    path("oauth2/register/<str:client_id>", registration.manage, name="register-client"),
    path("jwks", views.jwks, name="jwks"),
    path(
        ".well-known/openid-configuration",
        views.openid_configuration,
        name="openid-configuration",
    ),
    path(
        ".well-known/oauth-authorization-server",
        views.authorization_server_metadata,
        name="oauth-authorization-server",
    ),
]

#: The discovery documents of an issuer with a path, for the root of the host's URLconf:
#: RFC 8414's path-insert form ``/.well-known/oauth-authorization-server/<issuer path>`` (and
#: the same form of ``openid-configuration``, which some clients try), and OpenID Connect's
#: ``<issuer path>/.well-known/openid-configuration`` wherever the endpoints are included.
#: Any path but the issuer's is a 404.
well_known_urlpatterns = [
    path(
        ".well-known/oauth-authorization-server/<path:issuer_path>",
        views.authorization_server_metadata,
    ),
    path(".well-known/openid-configuration/<path:issuer_path>", views.openid_configuration),
    path("<path:issuer_path>/.well-known/openid-configuration", views.openid_configuration),
    path(
        "<path:issuer_path>/.well-known/oauth-authorization-server",
        views.authorization_server_metadata,
    ),
]

#: What a browser app calls itself, from any origin (beep_iam.oauth2.cors); not the pages a
#: user sees (authorize, device, end-session), nor the well-known documents' other forms,
#: which are opened below.
CROSS_ORIGIN = frozenset(
    {
        "token",
        "par",
        "userinfo",
        "revoke",
        "introspect",
        "device-authorization",
        "register",
        "register-client",
        "jwks",
        "openid-configuration",
        "oauth-authorization-server",
    }
)

# Every endpoint needs the issuer; without it a 503, never a server error.
for _pattern in (*urlpatterns, *well_known_urlpatterns):
    _pattern.callback = needs_issuer(_pattern.callback)
    if _pattern.name in CROSS_ORIGIN or _pattern in well_known_urlpatterns:
        _pattern.callback = cross_origin(_pattern.callback)
