"""private_key_jwt client authentication and what it refuses."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from urllib.parse import urlencode

import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey, OctKey

from beep_iam.models import OAuthClientAssertion
from beep_iam.services.oauth_clients import register_client
from tests.oauth2.conftest import ISSUER, basic

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_URL = ISSUER + "/oauth2/token"


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "k1"})


@pytest.fixture
def signed_client(key):
    registered = register_client(
        redirect_uris=[],
        name="Signed robot",
        token_endpoint_auth_method="private_key_jwt",
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
        jwks=json.dumps({"keys": [key.as_dict(private=False)]}),
    )
    return registered.client


def assertion(client_id: str, key, *, alg: str = "ES256", **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key, algorithms=[alg])


def token(client, signed: str, path: str = "/oauth2/token", **extra: str):
    body = {
        "grant_type": "client_credentials",
        "client_assertion_type": TYPE,
        "client_assertion": signed,
        **extra,
    }
    return client.post(path, urlencode(body), content_type=FORM)


def test_a_valid_assertion_once(client, signed_client, key):
    signed = assertion(signed_client.client_id, key)
    response = token(client, signed)
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "invoices:read"
    jti = jwt.decode(signed, key).claims["jti"]
    # The replay record, in better-auth's form.
    expected = base64.urlsafe_b64encode(
        hashlib.sha256(f"private_key_jwt:{signed_client.client_id}:{jti}".encode()).digest()[:24]
    )
    assert OAuthClientAssertion.objects.filter(id=expected.rstrip(b"=").decode()).exists()
    replay = token(client, signed)
    assert replay.status_code == 401
    assert "already been used" in replay.json()["error_description"]


def test_the_issuer_is_an_accepted_audience(client, signed_client, key):
    assert token(client, assertion(signed_client.client_id, key, aud=ISSUER)).status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": ISSUER + "/oauth2/introspect"},
        {"aud": "https://elsewhere.example.com/token"},
        {"exp": int(time.time()) - 5},
        {"exp": int(time.time()) + 3600},
        {"exp": None},
        {"jti": None},
        {"iat": int(time.time()) - 3600},
        {"iss": "someone-else"},
    ],
    ids=["other endpoint", "other aud", "expired", "too long", "no exp", "no jti", "old", "iss"],
)
def test_refused_assertions(client, signed_client, key, overrides):
    response = token(client, assertion(signed_client.client_id, key, **overrides))
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in response


def test_another_key(client, signed_client):
    other = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    assert token(client, assertion(signed_client.client_id, other)).status_code == 401


def test_symmetric_algorithms_are_refused(client, signed_client):
    secret = OctKey.import_key("x" * 32)
    response = token(client, assertion(signed_client.client_id, secret, alg="HS256"))
    assert response.status_code == 401
    assert "algorithm" in response.json()["error_description"]


def test_a_secret_client_cannot_switch_to_assertions(client, machine, key):
    response = token(client, assertion(machine.client.client_id, key))
    assert response.status_code == 401


def test_assertion_and_secret_together(client, signed_client, key):
    response = token(client, assertion(signed_client.client_id, key), client_secret="also-a-secret")
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_malformed_assertions(client, signed_client):
    for bad in ("", "a.b", "not-a-jwt", "e30.e30.e30"):
        response = token(client, bad)
        assert response.status_code == 401, bad


def test_introspection_with_an_assertion_for_that_endpoint(client, signed_client, key):
    issued = token(client, assertion(signed_client.client_id, key)).json()
    body = {
        "token": issued["access_token"],
        "client_assertion_type": TYPE,
        "client_assertion": assertion(
            signed_client.client_id, key, aud=ISSUER + "/oauth2/introspect"
        ),
    }
    response = client.post("/oauth2/introspect", urlencode(body), content_type=FORM)
    assert response.status_code == 200, response.content
    assert response.json()["active"] is True


# --- hostile assertions (session-8 review) ------------------------------------------------


def test_an_assertion_not_valid_yet_is_refused(client, signed_client, key):
    now = int(time.time())
    early = assertion(signed_client.client_id, key, iat=None, exp=now + 290, nbf=now + 280)
    response = token(client, early)
    assert response.status_code == 401
    assert "nbf" in response.json()["error_description"]
    valid_since = assertion(signed_client.client_id, key, nbf=now - 5)
    assert token(client, valid_since).status_code == 200


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1" + "0" * 400])
def test_an_assertion_date_that_is_no_number_is_refused(client, signed_client, key, claim, value):
    # Python's JSON reader takes these literals (JavaScript's does not) and integers past any
    # float: written by hand.
    cid, now = signed_client.client_id, int(time.time())
    dates = {"exp": str(now + 60), claim: value}
    payload = (
        f'{{"iss":"{cid}","sub":"{cid}","aud":"{TOKEN_URL}","jti":"{uuid.uuid4()}",'
        + ",".join(f'"{k}":{v}' for k, v in dates.items())
        + "}"
    )
    signed = jws.serialize_compact({"alg": "ES256", "kid": "k1"}, payload.encode(), key)
    response = token(client, signed)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_basic_and_an_assertion_together_are_refused(client, signed_client, key, machine):
    body = {
        "grant_type": "client_credentials",
        "client_assertion_type": TYPE,
        "client_assertion": assertion(signed_client.client_id, key),
    }
    response = client.post(
        "/oauth2/token",
        urlencode(body),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
