"""RFC 9700 4.11.2: the authorization server is no open redirector. A client that registered
itself (open or signed-in registration) or a metadata document's names redirect URIs nobody
vouches for: errors go there by themselves only once the user consented to the client; until
then they are shown on a page. The operator's clients are unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, override_settings

from beep_iam.models import OAuthClient
from beep_iam.oauth2 import cimd
from beep_iam.services.oauth_consent import grant_consent
from beep_shared import crypto
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, authorize_url, pkce, query_of

pytestmark = pytest.mark.django_db

EVIL = "https://evil.example/landing"
IAT = "iat-" + "y" * 40


def configure(mode: str | None) -> Any:
    from django.conf import settings

    return override_settings(
        BEEP_IAM={
            **settings.BEEP_IAM,
            "OAUTH2_ISSUER": ISSUER,
            "OAUTH2_REGISTRATION": mode,
            "OAUTH2_INITIAL_ACCESS_TOKENS": [crypto.digest(IAT)],
            "OAUTH2_RATE_LIMITS": {"register": None},
        }
    )


def register(mode: str, http: Client | None = None, **headers: str) -> OAuthClient:
    body = {"redirect_uris": [EVIL], "token_endpoint_auth_method": "none"}
    with configure(mode):
        response = (http or Client()).post(
            "/oauth2/register", json.dumps(body), content_type="application/json", **headers
        )
    assert response.status_code == 201, response.content
    return OAuthClient.objects.get(client_id=response.json()["client_id"])


@pytest.fixture
def self_registered() -> OAuthClient:
    return register("open")


def bad_request_url(client: OAuthClient, **extra: str) -> str:
    _, challenge = pkce()
    return authorize_url(client.client_id, challenge, redirect_uri=EVIL, response_type="x", **extra)


def assert_page_not_redirect(response) -> None:
    assert response.status_code == 400, response.content
    assert not response.has_header("Location")


def test_an_anonymous_visitor_is_not_sent_to_a_self_registered_uri(self_registered):
    assert_page_not_redirect(Client().get(bad_request_url(self_registered)))


def test_prompt_none_for_an_anonymous_visitor_is_a_page(self_registered):
    _, challenge = pkce()
    url = authorize_url(self_registered.client_id, challenge, redirect_uri=EVIL, prompt="none")
    assert_page_not_redirect(Client().get(url))


def test_a_signed_in_user_who_never_consented_gets_a_page(client, user, self_registered):
    client.force_login(user)
    assert_page_not_redirect(client.get(bad_request_url(self_registered)))


def test_once_the_user_consented_errors_go_to_the_client(client, user, self_registered):
    grant_consent(self_registered, user, ["openid"])
    client.force_login(user)
    response = client.get(bad_request_url(self_registered))
    assert response.status_code == 302
    assert response["Location"].startswith(EVIL + "?")
    assert query_of(response["Location"])["error"] == "unsupported_response_type"


def test_the_consent_page_says_who_registered_it_and_deny_still_returns(
    client, user, self_registered
):
    client.force_login(user)
    _, challenge = pkce()
    url = authorize_url(self_registered.client_id, challenge, redirect_uri=EVIL, scope="openid")
    page = client.get(url)
    assert page.status_code == 200
    assert b"registered itself" in page.content and b"evil.example" in page.content
    denied = client.post(url, {"decision": "deny"})  # the user saw where it returns to
    assert denied.status_code == 302 and denied["Location"].startswith(EVIL + "?")
    assert query_of(denied["Location"])["error"] == "access_denied"


def test_signed_in_registration_is_self_registration_too(user):
    http = Client()
    http.force_login(user)
    client = register("signed_in", http)
    assert_page_not_redirect(Client().get(bad_request_url(client)))


def test_a_metadata_documents_client_is_not_vouched_for(client, user, self_registered):
    OAuthClient.objects.filter(pk=self_registered.pk).update(
        metadata=None, client_discovery_id=cimd.DISCOVERY_ID
    )
    assert_page_not_redirect(Client().get(bad_request_url(self_registered)))
    client.force_login(user)
    _, challenge = pkce()
    url = authorize_url(self_registered.client_id, challenge, redirect_uri=EVIL, scope="openid")
    page = client.get(url)
    assert page.status_code == 200
    assert f"describes itself at {self_registered.client_id}".encode() in page.content


def test_the_operators_clients_still_get_their_errors(web):
    response = Client().get(authorize_url(web.client.client_id, pkce()[1], response_type="x"))
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI + "?")


def test_a_client_registered_with_an_initial_access_token_is_the_operators():
    client = register("initial_access_token", HTTP_AUTHORIZATION=f"Bearer {IAT}")
    response = Client().get(bad_request_url(client))
    assert response.status_code == 302 and response["Location"].startswith(EVIL + "?")


def test_the_marker_cannot_be_registered_away(self_registered):
    """An update sends metadata; the marker is the server's and stays."""
    assert self_registered.registered("self_registered") is True
    with configure("open"):
        body = {"redirect_uris": [EVIL], "token_endpoint_auth_method": "none",
                "self_registered": False}  # fmt: skip
        response = Client().post(
            "/oauth2/register", json.dumps(body), content_type="application/json"
        )
    row = OAuthClient.objects.get(client_id=response.json()["client_id"])
    assert row.registered("self_registered") is True
