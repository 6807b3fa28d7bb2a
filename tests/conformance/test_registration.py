"""RFC 7591 dynamic client registration and RFC 7592 management probes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.conformance.helpers import assert_json_error
from tests.oauth2.conftest import ISSUER, REDIRECT_URI

# Open registration, the issuer set: the autouse fixture of tests/oauth2/test_registration.
from tests.oauth2.test_registration import _open, configure  # noqa: F401

pytestmark = pytest.mark.django_db

URL = "/oauth2/register"


def post(body: Any, **headers: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return Client().post(URL, data, content_type="application/json", **headers)


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def registered() -> dict[str, Any]:
    response = post({"redirect_uris": [REDIRECT_URI], "client_name": "Web"})
    assert response.status_code == 201
    return response.json()


# --- RFC 7591 3.2.1 ---------------------------------------------------------------------------


def test_7591_3_2_1_201_and_members(registered):
    response = post({"redirect_uris": [REDIRECT_URI]})
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"] and response["Pragma"] == "no-cache"
    body = response.json()
    assert body["client_id"] and body["client_secret"]
    assert isinstance(body["client_id_issued_at"], int)
    assert body["client_secret_expires_at"] == 0  # REQUIRED when a secret is issued
    assert body["redirect_uris"] == [REDIRECT_URI]
    assert body["registration_access_token"]  # RFC 7592 3
    assert body["registration_client_uri"] == f"{ISSUER}{URL}/{body['client_id']}"


def test_7591_3_2_1_public_client_has_no_secret():
    body = post({"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}).json()
    assert "client_secret" not in body and "client_secret_expires_at" not in body


# --- RFC 7591 3.2.2 errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, error",
    [
        ({"redirect_uris": ["not a uri"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://x.example/cb#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": "https://x.example/cb"}, "invalid_redirect_uri"),
        (
            {"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "magic"},
            "invalid_client_metadata",
        ),
        ({"redirect_uris": [REDIRECT_URI], "grant_types": ["password"]}, "invalid_client_metadata"),
        (
            {"redirect_uris": [REDIRECT_URI], "software_statement": "nope"},
            "invalid_software_statement",
        ),
        (
            {"redirect_uris": [REDIRECT_URI], "software_statement": "a.b.c"},
            "unapproved_software_statement",
        ),
    ],
)
def test_7591_3_2_2_error_codes(body, error):
    response = post(body)
    assert_json_error(response, 400, error)
    assert "no-store" in response["Cache-Control"]


def test_7591_3_2_2_post_logout_redirect_uris_are_client_metadata():
    """RFC 7591 3.2.2: invalid_redirect_uri is "The value of one or more redirection URIs is
    invalid" (OIDC Registration 3.3: "one or more redirect_uris"); post_logout_redirect_uris
    (RP-Initiated Logout 3.1) is other client metadata: invalid_client_metadata."""
    response = post({"redirect_uris": [REDIRECT_URI], "post_logout_redirect_uris": ["nope"]})
    assert_json_error(response, 400, "invalid_client_metadata")


def test_7591_3_2_2_redirect_uris_required_for_code_grant():
    """2: redirect_uris is required for redirect-based flows: invalid_redirect_uri or
    invalid_client_metadata."""
    response = post({"client_name": "No redirects", "grant_types": ["authorization_code"]})
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")


def test_7591_3_initial_access_token_refusal_is_rfc6750():
    with configure(
        OAUTH2_REGISTRATION="initial_access_token", OAUTH2_INITIAL_ACCESS_TOKENS=["x" * 43]
    ):
        response = post({"redirect_uris": [REDIRECT_URI]})
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        # RFC 6750 3.1: no error code when the request lacks any authentication information.
        assert "error=" not in response["WWW-Authenticate"], response["WWW-Authenticate"]


def test_7591_register_is_post_only():
    response = Client().get(URL)
    assert response.status_code == 405 and response["Allow"] == "POST"


# --- RFC 7592 ---------------------------------------------------------------------------------


def test_7592_3_read_response_members(registered):
    """3: the client information response includes "registration_access_token REQUIRED" and
    "registration_client_uri REQUIRED"; 7591 3.2.1: client_secret_expires_at "REQUIRED if
    client_secret is issued"."""
    url = registered["registration_client_uri"].removeprefix(ISSUER)
    response = Client().get(url, **bearer(registered["registration_access_token"]))
    assert response.status_code == 200
    body = response.json()
    assert body["client_id"] == registered["client_id"]
    missing = {"registration_access_token", "registration_client_uri"} - body.keys()
    assert not missing, missing


def test_7592_2_1_missing_token_is_401_without_error_code(registered):
    url = registered["registration_client_uri"].removeprefix(ISSUER)
    response = Client().get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in response["WWW-Authenticate"], response["WWW-Authenticate"]


def test_7592_2_1_invalid_token_is_401_invalid_token(registered):
    url = registered["registration_client_uri"].removeprefix(ISSUER)
    response = Client().get(url, **bearer("wrong"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_7592_2_3_delete_is_204_and_the_token_dies(registered):
    url = registered["registration_client_uri"].removeprefix(ISSUER)
    token = registered["registration_access_token"]
    assert Client().delete(url, **bearer(token)).status_code == 204
    again = Client().get(url, **bearer(token))
    assert again.status_code == 401  # 2.1: a client that no longer exists: 401


def test_7592_2_2_update_must_send_client_id(registered):
    url = registered["registration_client_uri"].removeprefix(ISSUER)
    response = Client().put(
        url,
        json.dumps({"redirect_uris": [REDIRECT_URI]}),
        content_type="application/json",
        **bearer(registered["registration_access_token"]),
    )
    assert_json_error(response, 400, "invalid_client_metadata")


def test_7592_2_2_update_response_is_200_with_members(registered):
    url = registered["registration_client_uri"].removeprefix(ISSUER)
    body = {
        k: v
        for k, v in registered.items()
        if k
        not in (
            "registration_access_token",
            "registration_client_uri",
            "client_secret_expires_at",
            "client_id_issued_at",
            "client_secret",
        )
    }
    body["client_name"] = "Renamed"
    for server_field in (
        "disabled",
        "skip_consent",
        "enable_end_session",
        "require_pkce",
        "user_id",
        "reference_id",
    ):
        body.pop(server_field, None)
    response = Client().put(
        url,
        json.dumps(body),
        content_type="application/json",
        **bearer(registered["registration_access_token"]),
    )
    assert response.status_code == 200, response.content
    out = response.json()
    assert out["client_name"] == "Renamed" and out["client_id"] == registered["client_id"]
    assert {"registration_access_token", "registration_client_uri"} <= out.keys()


def test_7592_405_allow(registered):
    url = registered["registration_client_uri"].removeprefix(ISSUER)
    response = Client().post(url, "{}", content_type="application/json")
    assert response.status_code == 405
    assert {m.strip() for m in response["Allow"].split(",")} == {"GET", "PUT", "DELETE"}
