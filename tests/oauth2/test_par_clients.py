"""Pushed authorization requests (RFC 9126) from clients nobody here wrote, against a live
server: requests-oauth2client's ``pushed_authorization_request`` and oauth4webapi's
``pushedAuthorizationRequest`` (interop/oauth4webapi/par.mjs)."""

from __future__ import annotations

import pytest
import requests

from beep_iam.services.oauth_clients import register_client
from tests.factories import UserFactory
from tests.npm import node_json
from tests.oauth2.test_independent_client import (  # noqa: F401 (the fixture)
    PASSWORD,
    discover,
    server,
    sign_in_and_consent,
)
from tests.oauth2.test_oauth4webapi import oauth4webapi  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.interop]


def test_requests_oauth2client_code_flow_through_par(server):  # noqa: F811
    redirect_uri = "http://127.0.0.1:9/callback"
    registered = register_client(
        redirect_uris=[redirect_uri],
        name="PAR client",
        grant_types=["authorization_code", "refresh_token"],
        metadata={"require_pushed_authorization_requests": True},
    )
    user = UserFactory(email="par@example.com", name="Par", password=PASSWORD)
    oauth = discover(server, registered.client.client_id, registered.client_secret)
    oauth.update_authorization_server_public_keys()
    request = oauth.authorization_request(scope="openid email", redirect_uri=redirect_uri)
    pushed = oauth.pushed_authorization_request(request)
    assert pushed.request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    assert "redirect_uri" not in str(pushed.uri)

    callback = sign_in_and_consent(server, str(pushed.uri), user.email, requests.Session())
    assert callback.startswith(redirect_uri)
    token = oauth.authorization_code(request.validate_callback(callback))
    assert token.id_token is not None and token.id_token.subject == user.pk

    # The plain authorization URL is refused for this client, with an error to its callback.
    plain = requests.get(str(request.uri), allow_redirects=False)
    assert plain.status_code == 302
    assert "error=invalid_request" in plain.headers["Location"]


def test_oauth4webapi_code_flow_through_par(server, oauth4webapi):  # noqa: F811
    redirect_uri = "http://127.0.0.1:9/callback"
    registered = register_client(
        redirect_uris=[redirect_uri],
        name="PAR client",
        grant_types=["authorization_code", "refresh_token"],
    )
    user = UserFactory(email="panva@example.com", name="Panva", password=PASSWORD)
    common = {
        "issuer": server.url,
        "client_id": registered.client.client_id,
        "client_secret": registered.client_secret,
        "redirect_uri": redirect_uri,
    }
    pushed = node_json(oauth4webapi, "par.mjs", command="push", scope="openid email", **common)
    assert pushed["endpoint"] == server.url + "/oauth2/par"
    assert pushed["expires_in"] == 60
    callback = sign_in_and_consent(server, pushed["url"], user.email)
    finished = node_json(
        oauth4webapi,
        "par.mjs",
        command="finish",
        callback=callback,
        state=pushed["state"],
        nonce=pushed["nonce"],
        code_verifier=pushed["code_verifier"],
        **common,
    )
    assert finished["sub"] == str(user.pk)
    assert finished["nonce"] == pushed["nonce"]
    # The request_uri was used up by the code.
    again = requests.get(pushed["url"], allow_redirects=False)
    assert again.status_code == 400
