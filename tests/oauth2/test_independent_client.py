"""An OAuth client nobody here wrote (requests-oauth2client) against a live server: discovery,
client credentials, a real sign-in and consent, code + PKCE with ID token validation,
userinfo, refresh, introspection and revocation."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from requests_oauth2client import ClientSecretBasic, OAuth2Client

from beep_iam.services.oauth_clients import register_client
from tests.factories import UserFactory
from tests.oauth2.conftest import with_issuer

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def server(live_server: Any, settings: Any) -> Any:
    # Plain http on loopback: the cookies must not be Secure-only for the browser stand-in.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    with with_issuer(live_server.url):
        yield live_server


def discover(server: Any, client_id: str, secret: str, alg: str | None = "EdDSA") -> OAuth2Client:
    # Client metadata: OIDC's default for a client is RS256; this server signs EdDSA unless
    # told otherwise (OAUTH2_ID_TOKEN_SIGNING_ALG, or the client's registered algorithm), as
    # better-auth's jwt plugin does. alg None: the library's own default.
    chosen = {} if alg is None else {"id_token_signed_response_alg": alg}
    return OAuth2Client.from_discovery_endpoint(
        issuer=server.url,
        auth=ClientSecretBasic(client_id, secret),
        testing=True,  # http on loopback; nothing else relaxed
        **chosen,
    )


def test_client_credentials(server):
    registered = register_client(
        redirect_uris=[],
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
    )
    oauth = discover(server, registered.client.client_id, registered.client_secret)
    token = oauth.client_credentials(scope="invoices:read")
    assert token.scope == "invoices:read"
    assert token.expires_in and token.expires_in > 3000
    info = oauth.introspect_token(token)
    assert info["active"] is True and info["client_id"] == registered.client.client_id
    assert oauth.revoke_token(token) is True
    assert oauth.introspect_token(token) == {"active": False}


def _form_post(browser: requests.Session, url: str, page: requests.Response, **data: str):
    match = _CSRF.search(page.text)
    assert match, page.text[:500]
    return browser.post(
        url,
        data={"csrfmiddlewaretoken": match.group(1), **data},
        headers={"Referer": page.url},
        allow_redirects=False,
    )


def sign_in_and_consent(
    server: Any, url: str, email: str, browser: requests.Session | None = None
) -> str:
    """The user's part in a browser: the authorization URL sends them to sign in, they sign
    in and allow on the consent page; returns where the server redirects (the callback)."""
    browser = browser or requests.Session()
    response = browser.get(url, allow_redirects=False)
    assert response.status_code == 302, response.text[:500]  # to the sign-in page
    login_url = server.url + response.headers["Location"]
    page = browser.get(login_url)
    response = _form_post(browser, login_url, page, username=email, password=PASSWORD)
    assert response.status_code == 302, response.text[:500]
    consent_url = server.url + response.headers["Location"]
    page = browser.get(consent_url, allow_redirects=False)
    assert page.status_code == 200, page.text[:500]
    response = _form_post(browser, consent_url, page, decision="allow")
    assert response.status_code == 302, response.text[:500]
    callback: str = response.headers["Location"]
    return callback


def test_code_flow_with_pkce_sign_in_and_consent(server):
    redirect_uri = "http://127.0.0.1:9/callback"
    registered = register_client(
        redirect_uris=[redirect_uri],
        name="Independent client",
        grant_types=["authorization_code", "refresh_token"],
    )
    user = UserFactory(email="bob@example.com", name="Bob", password=PASSWORD)
    oauth = discover(server, registered.client.client_id, registered.client_secret)
    oauth.update_authorization_server_public_keys()
    request = oauth.authorization_request(
        scope="openid profile email offline_access", redirect_uri=redirect_uri
    )
    assert request.code_challenge_method == "S256"

    browser = requests.Session()
    response = browser.get(str(request.uri), allow_redirects=False)
    assert response.status_code == 302  # to the sign-in page
    login_url = server.url + response.headers["Location"]
    page = browser.get(login_url)
    response = _form_post(browser, login_url, page, username=user.email, password=PASSWORD)
    assert response.status_code == 302, response.text[:500]
    consent_url = server.url + response.headers["Location"]
    page = browser.get(consent_url, allow_redirects=False)
    assert page.status_code == 200 and "Independent client" in page.text
    response = _form_post(browser, consent_url, page, decision="allow")
    assert response.status_code == 302
    callback = response.headers["Location"]
    assert callback.startswith(redirect_uri)

    # Checks state and RFC 9207's iss against the discovered issuer.
    authorization = request.validate_callback(callback)
    token = oauth.authorization_code(authorization)  # validates the ID token (sig, iss, aud, nonce)
    assert token.id_token is not None
    assert token.id_token.subject == user.pk
    assert token.refresh_token

    claims = oauth.userinfo(token)
    assert claims == {
        "sub": user.pk,
        "name": "Bob",
        "email": "bob@example.com",
        "email_verified": False,
    }
    refreshed = oauth.refresh_token(token)
    assert refreshed.access_token != token.access_token
    assert oauth.introspect_token(refreshed)["active"] is True
    assert oauth.introspect_token(token.access_token)["active"] is True  # still valid until exp
    assert oauth.revoke_token(refreshed.refresh_token, token_type_hint="refresh_token")
    assert oauth.introspect_token(refreshed)["active"] is False


@pytest.mark.parametrize(
    ("server_default", "registered", "client_side"),
    [
        ("RS256", None, None),  # OIDC's default, and the library's: nothing set on its side
        ("EdDSA", "ES256", "ES256"),  # the client registered its algorithm
        ("EdDSA", "RS256", None),
    ],
)
def test_id_tokens_in_the_algorithm_the_client_expects(
    server, settings, server_default, registered, client_side
):
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_ID_TOKEN_SIGNING_ALG": server_default}
    redirect_uri = "http://127.0.0.1:9/callback"
    registered_client = register_client(
        redirect_uris=[redirect_uri],
        grant_types=["authorization_code", "refresh_token"],
        **({"metadata": {"id_token_signed_response_alg": registered}} if registered else {}),
    )
    user = UserFactory(email="carol@example.com", name="Carol", password=PASSWORD)
    oauth = discover(
        server, registered_client.client.client_id, registered_client.client_secret, client_side
    )
    oauth.update_authorization_server_public_keys()
    request = oauth.authorization_request(
        scope="openid email offline_access", redirect_uri=redirect_uri
    )
    callback = sign_in_and_consent(server, str(request.uri), user.email)
    token = oauth.authorization_code(request.validate_callback(callback))  # checks the ID token
    assert token.id_token is not None
    assert token.id_token.alg == (registered or server_default)
    assert token.id_token.subject == user.pk
    refreshed = oauth.refresh_token(token)  # the refreshed ID token is validated as well
    assert refreshed.id_token is not None and refreshed.id_token.alg == token.id_token.alg
