"""RFC 7009 revocation and RFC 7662 introspection probes."""

from __future__ import annotations

import pytest

from beep_iam.services.oauth_tokens import issue_tokens, revoke_token
from tests.conformance.helpers import assert_json_error, form
from tests.oauth2.conftest import ISSUER, basic

pytestmark = pytest.mark.django_db


def _auth(registered):
    return {"HTTP_AUTHORIZATION": basic(registered.client.client_id, registered.client_secret)}


# --- RFC 7009 ------------------------------------------------------------------------------------


def test_7009_2_2_invalid_token_is_200(client, web):
    response = form(client, "/oauth2/revoke", {"token": "no-such-token"}, **_auth(web))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_7009_2_1_unknown_token_type_hint_is_ignored(client, web, user):
    """2.1: "An invalid token type hint value is ignored by the authorization server and does
    not influence the revocation response." (it must still revoke)."""
    issued = issue_tokens(web.client, scopes=["openid"], user=user, with_refresh=True)
    assert issued.refresh_token is not None
    response = form(
        client,
        "/oauth2/revoke",
        {"token": issued.refresh_token, "token_type_hint": "something_else"},
        **_auth(web),
    )
    assert response.status_code == 200
    body = form(client, "/oauth2/introspect", {"token": issued.refresh_token}, **_auth(web)).json()
    assert body == {"active": False}


def test_7009_2_1_wrong_hint_still_revokes(client, web, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user, with_refresh=True)
    form(
        client,
        "/oauth2/revoke",
        {"token": issued.access_token, "token_type_hint": "refresh_token"},
        **_auth(web),
    )
    body = form(client, "/oauth2/introspect", {"token": issued.access_token}, **_auth(web)).json()
    assert body == {"active": False}


def test_7009_2_1_client_authentication_is_checked(client, web):
    response = form(
        client,
        "/oauth2/revoke",
        {"token": "x"},
        HTTP_AUTHORIZATION=basic(web.client.client_id, "wrong"),
    )
    assert_json_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"].startswith("Basic")


def test_7009_2_1_missing_token_is_invalid_request(client, web):
    assert_json_error(form(client, "/oauth2/revoke", {}, **_auth(web)), 400, "invalid_request")


def test_7009_revocation_is_post_only(client):
    response = client.get("/oauth2/revoke")
    assert response.status_code == 405 and response["Allow"] == "POST"


# --- RFC 7662 ------------------------------------------------------------------------------------


def test_7662_2_2_active_response(client, web, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    response = form(client, "/oauth2/introspect", {"token": issued.access_token}, **_auth(web))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["active"] is True and body["client_id"] == web.client.client_id
    assert body["iss"] == ISSUER and body["token_type"] == "Bearer"


@pytest.mark.parametrize("case", ["unknown", "revoked", "other_client"])
def test_7662_2_2_inactive_carries_only_active_false(client, web, machine, user, case):
    issued = issue_tokens(web.client, scopes=["openid"], user=user, with_refresh=True)
    token = issued.access_token
    asker = web
    if case == "unknown":
        token = "no-such-token"
    elif case == "revoked":
        revoke_token(token, client_id=web.client.client_id)
    else:
        asker = machine
    response = form(client, "/oauth2/introspect", {"token": token}, **_auth(asker))
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_7662_2_1_authorization_required(client, web, spa, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    response = form(client, "/oauth2/introspect", {"token": issued.access_token})
    assert response.status_code == 401 and "WWW-Authenticate" in response
    response = form(
        client,
        "/oauth2/introspect",
        {"token": issued.access_token, "client_id": spa.client.client_id},
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_7662_2_1_hint_miss_extends_search(client, web, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user, with_refresh=True)
    assert issued.refresh_token is not None
    body = form(
        client,
        "/oauth2/introspect",
        {"token": issued.refresh_token, "token_type_hint": "access_token"},
        **_auth(web),
    ).json()
    assert body["active"] is True
