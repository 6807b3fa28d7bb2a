"""Cross-origin access (beep_iam.oauth2.cors): a browser app on another origin reads discovery
and the keys, calls the token, userinfo, revocation and registration endpoints, and sees
their challenges; the pages a user sees are not opened; HEAD works wherever GET does."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.oauth2.conftest import basic

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
APP = {"HTTP_ORIGIN": "https://app.example.net"}
PREFLIGHT = {
    **APP,
    "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
    "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization, content-type, dpop",
}


def assert_open(response) -> None:
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response  # never with cookies


@pytest.mark.parametrize(
    "path",
    [
        "/oauth2/token",
        "/oauth2/par",
        "/oauth2/userinfo",
        "/oauth2/revoke",
        "/oauth2/introspect",
        "/oauth2/register",
        "/device/code",
        "/jwks",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ],
)
def test_a_preflight_is_answered(client, path):
    response = client.options(path, **PREFLIGHT)
    assert response.status_code == 204
    assert_open(response)
    allowed = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
    # The MCP TypeScript SDK sends MCP-Protocol-Version on its discovery requests.
    assert {"authorization", "content-type", "dpop", "mcp-protocol-version"} <= allowed
    assert "POST" in response["Access-Control-Allow-Methods"]


def test_answers_and_their_challenges_are_readable(client, machine):
    body = urlencode({"grant_type": "client_credentials"})
    ok = client.post(
        "/oauth2/token",
        body,
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
        **APP,
    )
    assert ok.status_code == 200, ok.content
    assert_open(ok)
    refused = client.post(
        "/oauth2/token",
        body,
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(machine.client.client_id, "wrong"),
        **APP,
    )
    assert refused.status_code == 401
    assert_open(refused)
    exposed = {h.strip() for h in refused["Access-Control-Expose-Headers"].split(",")}
    assert {"WWW-Authenticate", "DPoP-Nonce", "Retry-After"} <= exposed
    assert_open(client.get("/oauth2/userinfo", **APP))  # 401 with its Bearer challenge


@pytest.mark.parametrize("path", ["/oauth2/authorize", "/device", "/oauth2/end-session"])
def test_the_pages_a_user_sees_are_not_opened(client, path):
    response = client.options(path, **PREFLIGHT)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in client.get(path, **APP)


@pytest.mark.parametrize(
    "path",
    ["/jwks", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"],
)
def test_head_is_answered_where_get_is(client, path):
    """RFC 9110 9.1: a server that supports GET supports HEAD (uptime probes, curl -I)."""
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == got.status_code == 200
    assert head["Content-Type"] == got["Content-Type"]
    assert head.content == b""


def test_a_404_is_readable_across_origins(client):
    """An MCP client probes /.well-known/oauth-protected-resource/<path> first and falls back
    on a 404: raised as Http404, it still carries the CORS headers."""
    response = client.get("/.well-known/oauth-protected-resource/unknown", **APP)
    assert response.status_code == 404
    assert_open(response)


def test_resource_metadata_without_an_issuer_is_a_503(client, settings):
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_ISSUER": None}
    response = client.get("/.well-known/oauth-protected-resource/unknown", **APP)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert_open(response)
