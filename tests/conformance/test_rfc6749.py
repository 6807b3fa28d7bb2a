"""RFC 6749 / OAuth 2.1 draft probes: token endpoint, client authentication, authorization
endpoint errors."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conformance.helpers import assert_json_error, form, redeem
from tests.oauth2.conftest import (
    ISSUER,
    REDIRECT_URI,
    authorize_url,
    basic,
    get_code,
    pkce,
    query_of,
)

pytestmark = pytest.mark.django_db


# --- 5.1 successful response -------------------------------------------------------------


def test_5_1_token_response_headers_and_members(client, machine):
    response = form(
        client,
        "/oauth2/token",
        {"grant_type": "client_credentials", "scope": "invoices:read"},
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == "application/json"
    assert "no-store" in [v.strip() for v in response["Cache-Control"].split(",")]
    assert response["Pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert isinstance(body["expires_in"], int)
    assert "access_token" in body


# --- 5.2 error responses ---------------------------------------------------------------------


def test_5_2_missing_grant_type_is_invalid_request(client):
    body = assert_json_error(
        form(client, "/oauth2/token", {"client_id": "x"}), 400, "invalid_request"
    )
    assert set(body) <= {"error", "error_description", "error_uri"}


def test_5_2_unsupported_grant_type_password_and_implicit(client, web):
    auth = basic(web.client.client_id, web.client_secret)
    for grant in ("password", "implicit", "urn:example:nope"):
        response = form(
            client,
            "/oauth2/token",
            {"grant_type": grant, "username": "a", "password": "b"},
            HTTP_AUTHORIZATION=auth,
        )
        assert_json_error(response, 400, "unsupported_grant_type")


def test_5_2_invalid_client_with_basic_is_401_with_basic_challenge(client, machine):
    response = form(
        client,
        "/oauth2/token",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic(machine.client.client_id, "wrong"),
    )
    assert_json_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert "no-store" in response["Cache-Control"]


def test_5_2_invalid_client_with_body_credentials(client, machine):
    """400 or 401 are both allowed ("MAY return an HTTP 401"); a 401 needs WWW-Authenticate
    (RFC 9110 15.5.2)."""
    response = form(
        client,
        "/oauth2/token",
        {
            "grant_type": "client_credentials",
            "client_id": machine.client.client_id,
            "client_secret": "wrong",
        },
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
    if response.status_code == 401:
        assert "WWW-Authenticate" in response


def test_5_2_invalid_grant_for_unknown_code(client, web):
    response = form(
        client,
        "/oauth2/token",
        {"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT_URI},
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    assert_json_error(response, 400, "invalid_grant")


def test_5_2_unauthorized_client_for_a_grant_it_may_not_use(client, web):
    response = form(
        client,
        "/oauth2/token",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    assert_json_error(response, 400, "unauthorized_client")


def test_5_2_invalid_scope(client, machine):
    response = form(
        client,
        "/oauth2/token",
        {"grant_type": "client_credentials", "scope": "admin:everything"},
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert_json_error(response, 400, "invalid_scope")


def test_5_2_refresh_may_not_widen_scope(signed_in, web):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge, scope="openid offline_access")
    auth = basic(web.client.client_id, web.client_secret)
    tokens = redeem(web, code, verifier).json()
    response = form(
        Client(),
        "/oauth2/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "openid offline_access email",
        },
        HTTP_AUTHORIZATION=auth,
    )
    assert_json_error(response, 400, "invalid_scope")


# --- 2.3 one client authentication method per request -------------------------------------


def test_2_3_basic_and_client_secret_in_body_is_refused(client, machine):
    response = form(
        client,
        "/oauth2/token",
        {
            "grant_type": "client_credentials",
            "client_id": machine.client.client_id,
            "client_secret": machine.client_secret,
        },
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert_json_error(response, 400, "invalid_request")


def test_2_3_unsupported_authorization_scheme(client, machine):
    """5.2: a 401 "MUST ... include the WWW-Authenticate response header field matching the
    authentication scheme used by the client"."""
    response = form(
        client,
        "/oauth2/token",
        {"grant_type": "client_credentials", "client_id": machine.client.client_id},
        HTTP_AUTHORIZATION="Bearer abc",
    )
    assert response.json()["error"] in ("invalid_client", "invalid_request")
    if response.status_code == 401:
        assert response["WWW-Authenticate"].split(" ")[0] in ("Bearer", "Basic")


# --- 3.1 / 3.2 parameters ------------------------------------------------------------------


def test_3_2_repeated_parameter_is_invalid_request(client, machine):
    response = form(
        client,
        "/oauth2/token",
        "grant_type=client_credentials&scope=invoices:read&scope=invoices:write",
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert_json_error(response, 400, "invalid_request")


def test_3_1_empty_parameter_is_as_if_omitted(client, machine):
    response = form(
        client,
        "/oauth2/token",
        "grant_type=client_credentials&scope=",
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert response.status_code == 200, response.content


def test_3_1_repeated_parameter_at_authorize_is_an_error(signed_in, web):
    url = authorize_url(web.client.client_id, pkce()[1]) + "&state=again"
    response = signed_in.get(url)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert query_of(response["Location"])["error"] == "invalid_request"


def test_3_2_token_endpoint_is_post_only_with_allow(client):
    for method in (client.get, client.put, client.delete):
        response = method("/oauth2/token")
        assert response.status_code == 405
        assert "POST" in [m.strip() for m in response["Allow"].split(",")]


# --- 4.1.2.1 authorization errors -----------------------------------------------------------


def test_4_1_2_1_bad_redirect_uri_is_not_redirected(signed_in, web):
    response = signed_in.get(
        authorize_url(web.client.client_id, pkce()[1], redirect_uri="https://evil.example/cb")
    )
    assert response.status_code == 400
    assert "Location" not in response


def test_4_1_2_1_unknown_client_is_not_redirected(signed_in):
    response = signed_in.get(authorize_url("no-such-client", pkce()[1]))
    assert response.status_code in (400, 401)
    assert "Location" not in response


def test_4_1_2_1_errors_are_redirected_with_state_and_iss(signed_in, web):
    cases = {
        "unsupported_response_type": {"response_type": "token"},
        "invalid_scope": {"scope": "openid admin"},
        "invalid_request": {"code_challenge_method": "plain"},
    }
    for error, extra in cases.items():
        response = signed_in.get(authorize_url(web.client.client_id, pkce()[1], **extra))
        assert response.status_code == 302, (error, response.content[:300])
        params = query_of(response["Location"])
        assert params["error"] == error, params
        assert params["state"] == "st-123"
        assert params["iss"] == ISSUER  # RFC 9207 2


def test_4_1_2_1_missing_response_type_is_invalid_request(signed_in, web):
    url = authorize_url(web.client.client_id, pkce()[1]).replace("response_type=code&", "")
    response = signed_in.get(url)
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_request"


def test_4_1_2_1_access_denied_carries_iss(signed_in, web):
    url = authorize_url(web.client.client_id, pkce()[1])
    assert signed_in.get(url).status_code == 200
    response = signed_in.post(url, {"decision": "deny"})
    params = query_of(response["Location"])
    assert params["error"] == "access_denied"
    assert params["state"] == "st-123" and params["iss"] == ISSUER


def test_4_1_2_success_carries_iss_and_state(signed_in, web):
    url = authorize_url(web.client.client_id, pkce()[1])
    signed_in.get(url)
    response = signed_in.post(url, {"decision": "allow"})
    params = query_of(response["Location"])
    assert params["iss"] == ISSUER and params["state"] == "st-123" and params["code"]


# --- OAuth 2.1: PKCE and exact redirect matching --------------------------------------------


def test_oauth21_pkce_required_for_public_clients(signed_in, spa):
    url = authorize_url(spa.client.client_id, None, redirect_uri="http://127.0.0.1/cb")
    response = signed_in.get(url)
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_request"


def test_oauth21_code_verifier_mismatch_is_invalid_grant(signed_in, web):
    code = get_code(signed_in, web.client.client_id, pkce()[1])
    response = redeem(web, code, pkce()[0])
    assert_json_error(response, 400, "invalid_grant")


def test_oauth21_redirect_uri_exact_match(signed_in, web):
    for variant in (
        REDIRECT_URI + "/",
        REDIRECT_URI + "?x=1",
        REDIRECT_URI.upper().replace("HTTPS", "https"),
        REDIRECT_URI.replace("client.example.com", "client.example.com:443"),
    ):
        response = signed_in.get(
            authorize_url(web.client.client_id, pkce()[1], redirect_uri=variant)
        )
        assert response.status_code == 400 and "Location" not in response, variant


def test_oauth21_token_endpoint_refuses_a_different_redirect_uri(signed_in, web):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    response = redeem(web, code, verifier, REDIRECT_URI + "/other")
    assert_json_error(response, 400, "invalid_grant")


def test_multiple_response_types_2_1_unsupported_response_mode_is_refused(signed_in, web):
    """Metadata says response_modes_supported ["query"]; a request naming form_post (OAuth 2.0
    Form Post Response Mode) is answered with a consent page and then in the query, which
    the client does not read."""
    url = authorize_url(web.client.client_id, pkce()[1], response_mode="form_post")
    response = signed_in.get(url)
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_request"
