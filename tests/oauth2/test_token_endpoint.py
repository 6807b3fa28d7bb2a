"""The token endpoint's client_credentials grant and what it refuses for every grant."""

from __future__ import annotations

import pytest
from django.test import Client

from beep_iam.services.oauth_clients import disable_clients
from beep_iam.services.oauth_tokens import validate_access_token
from tests.oauth2.conftest import ISSUER, basic

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


def post(http: Client, body: str, *, auth: str | None = None, path: str = "/oauth2/token"):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    return http.post(path, body, content_type=FORM, **headers)


def assert_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["error"] == error, body
    return body


def test_client_credentials_with_basic(client, machine):
    response = post(
        client,
        "grant_type=client_credentials&scope=invoices:read",
        auth=basic(machine.client.client_id, machine.client_secret),
    )
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "invoices:read"
    assert "refresh_token" not in body
    info = validate_access_token(body["access_token"])
    assert info is not None
    assert info.client_id == machine.client.client_id
    assert info.user_id is None
    assert info.scopes == ["invoices:read"]


def test_client_credentials_with_post_gets_every_allowed_scope(client, machine):
    machine.client.token_endpoint_auth_method = "client_secret_post"
    machine.client.save()
    response = post(
        client,
        f"grant_type=client_credentials&client_id={machine.client.client_id}"
        f"&client_secret={machine.client_secret}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "invoices:read invoices:write"


def test_client_credentials_fails_closed_without_machine_scopes(client, web):
    web.client.grant_types = ["authorization_code", "client_credentials"]
    web.client.save()
    response = post(
        client,
        "grant_type=client_credentials",
        auth=basic(web.client.client_id, web.client_secret),
    )
    assert_error(response, 400, "unauthorized_client")


@pytest.mark.parametrize("scope", ["invoices:delete", "openid", "invoices:read offline_access"])
def test_client_credentials_refuses_other_scopes(client, machine, scope):
    response = post(
        client,
        f"grant_type=client_credentials&scope={scope}",
        auth=basic(machine.client.client_id, machine.client_secret),
    )
    assert_error(response, 400, "invalid_scope")


def test_grant_the_client_is_not_registered_for(client, web):
    response = post(
        client,
        "grant_type=client_credentials",
        auth=basic(web.client.client_id, web.client_secret),
    )
    assert_error(response, 400, "unauthorized_client")


def test_public_client_cannot_use_client_credentials(client, spa):
    response = post(client, f"grant_type=client_credentials&client_id={spa.client.client_id}")
    assert response.status_code == 400
    assert response.json()["error"] in ("unauthorized_client",)


@pytest.mark.parametrize(
    "credentials",
    [
        lambda c: basic(c.client.client_id, "wrong-secret"),
        lambda c: basic("no-such-client", c.client_secret),
        lambda c: basic(c.client.client_id, ""),
        lambda c: "Basic !!!notbase64",
        lambda c: "Bearer something",
    ],
    ids=["wrong secret", "unknown client", "empty secret", "malformed", "other scheme"],
)
def test_invalid_client_is_401_with_a_challenge(client, machine, credentials):
    response = post(client, "grant_type=client_credentials", auth=credentials(machine))
    assert_error(response, 401, "invalid_client")
    # RFC 7617 2: a Basic challenge names its realm; one challenge, one header.
    assert response["WWW-Authenticate"].startswith(
        f'Basic realm="{ISSUER}", error="invalid_client"'
    )


def test_no_client_authentication(client, machine):
    response = post(client, "grant_type=client_credentials")
    assert_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"].startswith("Basic ")


def test_wrong_secret_in_the_body_is_401(client, machine):
    machine.client.token_endpoint_auth_method = "client_secret_post"
    machine.client.save()
    response = post(
        client,
        f"grant_type=client_credentials&client_id={machine.client.client_id}&client_secret=x",
    )
    assert_error(response, 401, "invalid_client")


def test_disabled_client(client, machine):
    disable_clients([machine.client.client_id])
    response = post(
        client,
        "grant_type=client_credentials",
        auth=basic(machine.client.client_id, machine.client_secret),
    )
    assert_error(response, 401, "invalid_client")


def test_secret_sent_by_another_method_than_registered(client, machine):
    # Registered for client_secret_basic: the right secret in the body is still refused.
    response = post(
        client,
        f"grant_type=client_credentials&client_id={machine.client.client_id}"
        f"&client_secret={machine.client_secret}",
    )
    assert_error(response, 401, "invalid_client")


def test_two_authentication_methods_at_once(client, machine):
    response = post(
        client,
        f"grant_type=client_credentials&client_secret={machine.client_secret}",
        auth=basic(machine.client.client_id, machine.client_secret),
    )
    assert_error(response, 400, "invalid_request")


def test_parameters_in_the_query_string_are_refused(client, machine):
    response = post(
        client,
        "scope=invoices:read",
        auth=basic(machine.client.client_id, machine.client_secret),
        path="/oauth2/token?grant_type=client_credentials",
    )
    body = assert_error(response, 400, "invalid_request")
    assert "query string" in body["error_description"]


def test_repeated_parameters_are_refused(client, machine):
    response = post(
        client,
        "grant_type=client_credentials&scope=invoices:read&scope=invoices:write",
        auth=basic(machine.client.client_id, machine.client_secret),
    )
    body = assert_error(response, 400, "invalid_request")
    assert "repeated" in body["error_description"]


def test_oversized_input_is_refused(client, machine):
    auth = basic(machine.client.client_id, machine.client_secret)
    response = post(client, "grant_type=client_credentials&x=" + "a" * 20_000, auth=auth)
    assert_error(response, 413, "invalid_request")  # Payload Too Large (RFC 9110 15.5.14)
    response = post(client, "grant_type=client_credentials&scope=" + "a" * 5_000, auth=auth)
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        # A percent-escape that is not UTF-8: refused, not read as a replacement character.
        ("grant_type=client_credentials&scope=invoices%FFread", "not UTF-8"),
        (b"grant_type=client_credentials&scope=invoices\xffread", "not UTF-8"),
        ("grant_type=client_credentials" + "&x=1" * 6, "too many parameters"),
    ],
)
def test_a_malformed_form_gets_the_rfc_error(client, machine, settings, body, words):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    response = client.post(
        "/oauth2/token",
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert words in assert_error(response, 400, "invalid_request")["error_description"]


def test_form_values_are_read_as_the_form_encodes_them(client, machine):
    auth = basic(machine.client.client_id, machine.client_secret)
    # "+" is a space and %3A a colon; an empty parameter counts as absent.
    response = post(
        client, "grant_type=client_credentials&scope=invoices%3Aread&resource=", auth=auth
    )
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "invoices:read"
    response = post(client, "grant_type=client_credentials&scope=invoices:read+nope", auth=auth)
    assert "nope" in assert_error(response, 400, "invalid_scope")["error_description"]


@pytest.mark.parametrize("grant", ["password", "implicit", "urn:x:unknown"])
def test_unsupported_grant_types(client, machine, grant):
    response = post(
        client,
        f"grant_type={grant}",
        auth=basic(machine.client.client_id, machine.client_secret),
    )
    assert_error(response, 400, "unsupported_grant_type")


def test_missing_grant_type(client, machine):
    response = post(client, "", auth=basic(machine.client.client_id, machine.client_secret))
    assert_error(response, 400, "invalid_request")


def test_json_bodies_and_get_are_refused(client, machine):
    auth = {"HTTP_AUTHORIZATION": basic(machine.client.client_id, machine.client_secret)}
    response = client.post(
        "/oauth2/token",
        {"grant_type": "client_credentials"},
        content_type="application/json",
        **auth,
    )
    assert_error(response, 400, "invalid_request")
    assert client.get("/oauth2/token?grant_type=client_credentials", **auth).status_code == 405


def test_private_key_jwt_is_refused_cleanly(client, machine):
    response = post(
        client,
        "grant_type=client_credentials&client_assertion_type="
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=e30.e30.x",
    )
    assert_error(response, 401, "invalid_client")
