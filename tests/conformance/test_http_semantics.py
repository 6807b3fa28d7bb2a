"""RFC 9110 method semantics and error-text rules shared by every endpoint."""

from __future__ import annotations

import pytest

from tests.conformance.helpers import form
from tests.oauth2.conftest import authorize_url, pkce, query_of

pytestmark = pytest.mark.django_db

ALLOWED = {
    "/oauth2/authorize": {"GET", "POST"},
    "/oauth2/token": {"POST"},
    "/oauth2/par": {"POST"},
    "/oauth2/userinfo": {"GET", "POST"},
    "/oauth2/revoke": {"POST"},
    "/oauth2/introspect": {"POST"},
    "/oauth2/end-session": {"GET", "POST"},
    "/device/code": {"POST"},
    "/device": {"GET", "POST"},
    "/jwks": {"GET", "HEAD"},
    "/.well-known/openid-configuration": {"GET", "HEAD"},
    "/.well-known/oauth-authorization-server": {"GET", "HEAD"},
}


@pytest.mark.parametrize("path", sorted(ALLOWED))
def test_9110_15_5_6_405_carries_allow(client, path):
    """RFC 9110 15.5.6: "The origin server MUST generate an Allow header field in a 405
    response containing a list of the target resource's currently supported methods"."""
    response = client.generic("PATCH", path)
    assert response.status_code == 405
    assert {m.strip() for m in response["Allow"].split(",")} >= ALLOWED[path]


def test_9110_json_errors_are_application_json(client):
    for path in (
        "/oauth2/token",
        "/oauth2/revoke",
        "/oauth2/introspect",
        "/oauth2/par",
        "/device/code",
    ):
        response = form(client, path, {})
        assert response.status_code in (400, 401)
        assert response["Content-Type"] == "application/json", path
        assert "error" in response.json()


def test_6749_4_1_2_1_error_description_charset(client, user, web):
    """4.1.2.1: "Values for the "error_description" parameter MUST NOT include characters
    outside the set %x20-21 / %x23-5B / %x5D-7E"."""
    client.force_login(user)
    response = client.get(
        authorize_url(web.client.client_id, pkce()[1], response_type='tok"en\\\u00e9')
    )
    assert response.status_code == 302
    params = query_of(response["Location"])
    assert params["error"] == "unsupported_response_type"
    description = params.get("error_description", "")
    assert all(
        ch in ("\x20", "\x21") or 0x23 <= ord(ch) <= 0x5B or 0x5D <= ord(ch) <= 0x7E
        for ch in description
    ), description
