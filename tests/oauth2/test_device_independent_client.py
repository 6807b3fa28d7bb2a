"""The device flow driven by a client nobody here wrote (requests-oauth2client) against a live
server: discovery of the device authorization endpoint, the code pair, polling, a real sign-in
in a browser stand-in, code entry and approval, then tokens."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from requests_oauth2client import AuthorizationPending, ClientSecretBasic, OAuth2Client, SlowDown

from beep_iam.services.oauth_clients import register_client
from tests.factories import UserFactory
from tests.oauth2.test_device_flow import GRANT, let_time_pass
from tests.oauth2.test_independent_client import PASSWORD, _form_post, server

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["server"]  # the live server fixture, shared with the code flow's tests


def signed_in_page(browser: requests.Session, server: Any, url: str, email: str) -> Any:
    """The user opens ``url``, is sent to sign in, signs in and lands on the page."""
    response = browser.get(url, allow_redirects=False)
    assert response.status_code == 302, response.text[:500]  # to the sign-in page
    login_url = server.url + response.headers["Location"]
    page = browser.get(login_url)
    response = _form_post(browser, login_url, page, username=email, password=PASSWORD)
    assert response.status_code == 302, response.text[:500]
    page = browser.get(server.url + response.headers["Location"])
    assert page.status_code == 200, page.text[:500]
    return page


def decide_on_device_page(
    server: Any, verification_uri: str, user_code: str, email: str, decision: str = "allow"
) -> Any:
    """The user's part on another screen: open the bare verification URI, sign in, type the
    user code, see the client and its scopes, allow or deny; the page's answer."""
    browser = requests.Session()
    form = signed_in_page(browser, server, verification_uri, email)
    shown = _form_post(browser, verification_uri, form, user_code=user_code)
    assert shown.status_code == 200, shown.text[:500]
    return _form_post(browser, verification_uri, shown, user_code=user_code, decision=decision)


def test_device_flow(server):
    registered = register_client(
        redirect_uris=[],
        name="Smart TV",
        grant_types=[GRANT],
        response_types=[],
        scopes=["openid", "profile"],
    )
    user = UserFactory(email="tv-owner@example.com", password=PASSWORD)
    metadata = requests.get(f"{server.url}/.well-known/openid-configuration", timeout=10).json()
    # The library's discovery reads no device_authorization_endpoint: given from the document.
    oauth = OAuth2Client.from_discovery_document(
        metadata,
        issuer=server.url,
        auth=ClientSecretBasic(registered.client.client_id, registered.client_secret),
        testing=True,
        id_token_signed_response_alg="EdDSA",
        device_authorization_endpoint=metadata["device_authorization_endpoint"],
    )
    assert oauth.device_authorization_endpoint == f"{server.url}/device/code"
    authorization = oauth.authorize_device(scope="openid profile")
    assert authorization.interval == 5
    with pytest.raises(AuthorizationPending):
        oauth.device_code(authorization)
    with pytest.raises(SlowDown):
        oauth.device_code(authorization)

    browser = requests.Session()
    complete = authorization.verification_uri_complete
    assert complete is not None
    page = signed_in_page(browser, server, complete, user.email)
    assert "Smart TV" in page.text, page.text[:500]
    done = _form_post(
        browser,
        f"{server.url}/device",
        page,
        user_code=authorization.user_code,
        decision="allow",
    )
    assert done.status_code == 200 and "Device connected" in done.text

    let_time_pass(authorization.device_code)
    token = oauth.device_code(authorization)
    assert set((token.scope or "").split()) == {"openid", "profile"}
    assert token.id_token is not None
    assert oauth.userinfo(token)["sub"] == str(user.pk)
