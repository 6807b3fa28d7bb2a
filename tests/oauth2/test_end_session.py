"""RP-initiated logout: only with an ID token of the signed-in user, for a client that may,
back to a registered URI only."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from beep_iam.oauth2.claims import id_token
from tests.factories import UserFactory
from tests.oauth2.conftest import query_of

pytestmark = pytest.mark.django_db

AFTER = "https://client.example.com/signed-out"


@pytest.fixture
def logout_client(web):
    web.client.enable_end_session = True
    web.client.post_logout_redirect_uris = [AFTER]
    web.client.save()
    return web


def hint_for(user, registered) -> str:
    return id_token(
        user=user, client_id=registered.client.client_id, scopes=["openid"], access_token="x"
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def end(client, **params):
    return client.get("/oauth2/end-session?" + urlencode(params))


def test_signs_out_and_returns_with_state(client, user, logout_client):
    client.force_login(user)
    response = end(
        client,
        id_token_hint=hint_for(user, logout_client),
        post_logout_redirect_uri=AFTER,
        state="bye",
    )
    assert response.status_code == 302
    assert response["Location"].startswith(AFTER + "?")
    assert query_of(response["Location"]) == {"state": "bye"}
    assert not signed_in(client)


def test_without_a_redirect_uri_a_page(client, user, logout_client):
    client.force_login(user)
    response = client.post("/oauth2/end-session", {"id_token_hint": hint_for(user, logout_client)})
    assert response.status_code == 200
    assert b"signed out" in response.content
    assert not signed_in(client)


def test_refusals_sign_no_one_out_and_redirect_nowhere(client, user, web, logout_client):
    client.force_login(user)
    other = UserFactory()
    forged = hint_for(user, logout_client)[:-4] + "AAAA"
    cases = [
        {},  # no hint
        {"id_token_hint": "not.a.jwt"},
        {"id_token_hint": forged},
        {"id_token_hint": hint_for(user, logout_client), "post_logout_redirect_uri": AFTER + "x"},
        {"id_token_hint": hint_for(user, logout_client), "client_id": "someone-else"},
        {"id_token_hint": hint_for(other, logout_client)},
    ]
    for params in cases:
        response = end(client, **params)
        assert response.status_code == 400, params
        assert not response.has_header("Location"), params
        assert signed_in(client), params


def test_a_client_without_enable_end_session(client, user, web):
    client.force_login(user)
    response = end(client, id_token_hint=hint_for(user, web))
    assert response.status_code == 400
    assert signed_in(client)


def test_advertised(client):
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["end_session_endpoint"] == "https://testserver/oauth2/end-session"
