"""Django's OAuth endpoints and stock better-auth 1.7 on one database: authorization codes
issued by either server redeem at the other, a replayed code revokes what the other issued,
signing keys and ID tokens verify across, a client assertion is used once across both
(better-auth 1.4 has no verification-row codes of this form nor the jwks columns, so the line
is 1.7 only)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet

from beep_iam.oauth2 import claims, keys
from beep_iam.services import oauth_clients, oauth_tokens
from tests.oauth2.conftest import pkce, query_of

from . import oauth
from .conftest import SECRET, server_env
from .node import BetterAuth
from .test_accounts import sign_up

pytestmark = pytest.mark.django_db(transaction=True)

ISSUER = "http://localhost:3000/api/auth"  # better-auth's baseURL in the harness
FORM = "application/x-www-form-urlencoded"
MIDDLEWARE_PATH = "beep_iam.better_auth.middleware.BetterAuthSessionMiddleware"


@pytest.fixture(scope="module")
def better_auth_17(
    django_db_setup: None, django_db_blocker: object, interop_packages: None
) -> Iterator[BetterAuth]:
    server = BetterAuth("1.7", server_env())
    yield server
    server.close()


@pytest.fixture(autouse=True)
def co_tenancy(settings):
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "plain"}
    settings.BEEP_IAM = {
        "BETTER_AUTH_SECRET": SECRET,
        "OAUTH2_ISSUER": ISSUER,
    }
    middleware = list(django_settings.MIDDLEWARE)
    if MIDDLEWARE_PATH not in middleware:
        middleware.insert(
            middleware.index("beep_shared.rls.middleware.TenantMiddleware"), MIDDLEWARE_PATH
        )
    settings.MIDDLEWARE = middleware


def django_client_registered() -> dict[str, str]:
    registered = oauth_clients.register_client(
        name="Shared App",
        redirect_uris=[oauth.REDIRECT_URI],
        token_endpoint_auth_method="client_secret_post",
        grant_types=["authorization_code", "refresh_token"],
        scopes=oauth.SCOPE.split(),
    )
    assert registered.client_secret is not None
    return {"client_id": registered.client.client_id, "client_secret": registered.client_secret}


def django_token(http: Client, client: dict[str, str], **form: str):
    body = {"client_id": client["client_id"], "client_secret": client["client_secret"], **form}
    return http.post("/oauth2/token", urlencode(body), content_type=FORM)


def jwks_of(server: BetterAuth) -> KeySet:
    response = server.request("GET", "/api/auth/jwks")
    assert response.status == 200, response.body
    return KeySet.import_key_set(response.body)


def test_better_auth_code_redeems_at_django_and_replay_at_better_auth_revokes(better_auth_17):
    browser, user_body = sign_up(better_auth_17)
    client = django_client_registered()
    code, verifier = oauth.authorize(browser, client["client_id"])

    http = Client()
    response = django_token(
        http,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=oauth.REDIRECT_URI,
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    info = oauth_tokens.validate_access_token(body["access_token"])
    assert info is not None and info.user_id == user_body["id"]
    assert info.session_id is not None  # better-auth's session, carried by the code
    # Django's ID token verifies with better-auth's JWKS (one jwks table).
    claims = jwt.decode(body["id_token"], jwks_of(better_auth_17), algorithms=["EdDSA"]).claims
    assert claims["sub"] == user_body["id"] and claims["iss"] == ISSUER
    assert claims["sid"] == info.session_id

    # better-auth refreshes Django's refresh token...
    refreshed = oauth.token(
        better_auth_17, client, grant_type="refresh_token", refresh_token=body["refresh_token"]
    )
    assert refreshed.status == 200, refreshed.body
    # ...and treats a replay of the code as better-auth does its own: what it issued goes.
    replay = oauth.exchange_code(better_auth_17, client, code, verifier)
    assert replay.status == 400 and replay.body["error"] == "invalid_grant", replay.body
    assert oauth_tokens.validate_access_token(body["access_token"]) is None
    assert oauth_tokens.validate_access_token(refreshed.body["access_token"]) is None


def test_django_code_redeems_at_better_auth_and_keys_cross(better_auth_17):
    browser, user_body = sign_up(better_auth_17, email="grace@example.com", name="Grace")
    client = django_client_registered()
    # A key made by Django (encrypted under the better-auth secret) is the newest: better-auth
    # must decrypt it to sign.
    django_key = keys.create_key()

    # Signed in on better-auth only: its session cookie signs the user in on Django.
    http = Client()
    for name, value in browser.cookies.items():
        http.cookies[name] = value
    verifier, challenge = pkce()
    url = "/oauth2/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": oauth.REDIRECT_URI,
            "scope": oauth.SCOPE,
            "state": "s",
            "nonce": "n",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    assert http.get(url).status_code == 200  # Django's consent page
    response = http.post(url, {"decision": "allow"})
    assert response.status_code == 302, response.content
    code = query_of(response["Location"])["code"]

    issued = oauth.exchange_code(better_auth_17, client, code, verifier)
    assert issued.status == 200, issued.body
    token = jwt.decode(
        issued.body["id_token"],
        KeySet.import_key_set({"keys": keys.published_keys()}),
        algorithms=["EdDSA"],
    )
    assert token.header["kid"] == django_key.pk
    assert token.claims["sub"] == user_body["id"] and token.claims["nonce"] == "n"
    assert oauth_tokens.validate_access_token(issued.body["access_token"]) is not None

    # Replayed at Django: refused, and better-auth's tokens for it revoked.
    replay = django_token(
        http,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=oauth.REDIRECT_URI,
        code_verifier=verifier,
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert oauth_tokens.validate_access_token(issued.body["access_token"]) is None
    assert not oauth.is_active(
        better_auth_17, client, issued.body["refresh_token"], "refresh_token"
    )


def test_a_client_assertion_used_at_django_is_refused_at_better_auth(better_auth_17):
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    registered = oauth_clients.register_client(
        redirect_uris=[],
        name="Signed robot",
        token_endpoint_auth_method="private_key_jwt",
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
        jwks=json.dumps({"keys": [key.as_dict(private=False)]}),
    )
    client_id = registered.client.client_id
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER,  # the issuer: an audience both servers accept
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    signed = jwt.encode({"alg": "ES256", "kid": "k1"}, claims, key, algorithms=["ES256"])
    form = {
        "grant_type": "client_credentials",
        "scope": "invoices:read",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
    }
    response = Client().post("/oauth2/token", urlencode(form), content_type=FORM)
    assert response.status_code == 200, response.content
    replay = better_auth_17.request("POST", "/api/auth/oauth2/token", form=form)
    assert replay.status >= 400, replay.body
    assert replay.body["error"] == "invalid_client"
    assert "already been used" in replay.body["error_description"]


def test_keys_of_other_algorithms_cross_and_leave_better_auths_own_alone(better_auth_17):
    """An RS256 key Django makes (encrypted under the better-auth secret, the newest row) is
    published by better-auth as the RSA key it is, Django's RS256 ID tokens verify with
    better-auth's JWKS, and better-auth keeps signing with its own algorithm's key."""
    browser, user_body = sign_up(better_auth_17, email="heidi@example.com", name="Heidi")
    client = django_client_registered()
    keys.signing_key()  # the EdDSA key, older
    rsa = keys.create_key(alg="RS256")
    response = better_auth_17.request("GET", "/api/auth/jwks")
    published = {k["kid"]: k for k in response.body["keys"]}
    assert published[rsa.pk]["kty"] == "RSA" and published[rsa.pk]["alg"] == "RS256"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(published[rsa.pk])

    code, verifier = oauth.authorize(browser, client["client_id"])
    issued = oauth.exchange_code(better_auth_17, client, code, verifier)
    assert issued.status == 200, issued.body
    header = jws.extract_compact(issued.body["id_token"].encode()).headers()
    assert header["alg"] == "EdDSA" and header["kid"] != rsa.pk

    user = get_user_model().objects.get(pk=user_body["id"])
    token = claims.id_token(
        alg="RS256",
        user=user,
        client_id=client["client_id"],
        scopes=["openid"],
        access_token="a" * 43,
    )
    verified = jwt.decode(token, jwks_of(better_auth_17), algorithms=["RS256"])
    assert verified.header["kid"] == rsa.pk and verified.claims["sub"] == user_body["id"]
