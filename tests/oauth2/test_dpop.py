"""DPoP (RFC 9449): proofs at the token endpoint and the resource side, bound tokens, nonces."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets as std_secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse, JsonResponse
from django.test import Client, RequestFactory
from joserfc import jws
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from beep_iam.conf import load
from beep_iam.models import OAuthAccessToken, OAuthClient, OAuthRefreshToken, Verification
from beep_iam.oauth2 import dpop
from beep_iam.oauth2.resource import require_oauth
from beep_iam.services.oauth_tokens import issue_tokens
from tests.oauth2.conftest import ISSUER, basic, get_code, pkce, with_issuer

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
TOKEN_URL = f"{ISSUER}/oauth2/token"
RESOURCE_URL = "http://testserver/invoices"
SPA_REDIRECT = "http://127.0.0.1/cb"


def proof(
    key: Any,
    htm: str = "POST",
    htu: str = TOKEN_URL,
    *,
    alg: str = "ES256",
    iat: Any = None,
    access_token: str | None = None,
    nonce: str | None = None,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    protected = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    protected.update(header or {})
    body: dict[str, Any] = {
        "jti": std_secrets.token_urlsafe(16),
        "htm": htm,
        "htu": htu,
        "iat": int(time.time()) if iat is None else iat,
        **claims,
    }
    if access_token is not None:
        body["ath"] = dpop.access_token_hash(access_token)
    if nonce is not None:
        body["nonce"] = nonce
    return jws.serialize_compact(protected, json.dumps(body).encode(), key, algorithms=[alg])


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


def token_request(http: Client, body: dict[str, str], *, auth: str | None = None, **headers):
    if auth:
        headers["HTTP_AUTHORIZATION"] = auth
    return http.post("/oauth2/token", urlencode(body), content_type=FORM, **headers)


def machine_token(http: Client, machine: Any, key: Any, **proof_args: Any):
    return token_request(
        http,
        {"grant_type": "client_credentials", "scope": "invoices:read"},
        auth=basic(machine.client.client_id, machine.client_secret),
        HTTP_DPOP=proof(key, **proof_args),
    )


@require_oauth("invoices:read")
def invoices(request) -> HttpResponse:
    return JsonResponse({"client": request.oauth_token.client_id})


@require_oauth("invoices:read", dpop=True)
def dpop_only(request) -> HttpResponse:
    return JsonResponse({"client": request.oauth_token.client_id})


def resource(token: str, scheme: str = "DPoP", proof_jwt: str | None = None, view=invoices):
    headers = {"HTTP_AUTHORIZATION": f"{scheme} {token}"}
    if proof_jwt is not None:
        headers["HTTP_DPOP"] = proof_jwt
    return view(RequestFactory().get("/invoices?page=2", **headers))


def assert_refused(response, status: int, error: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"] == error, response.json()


def assert_challenge(response, error: str) -> None:
    assert response.status_code == 401, response.content
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("DPoP "), challenge
    assert f'error="{error}"' in challenge and 'algs="EdDSA ES256' in challenge, challenge


# --- token endpoint -------------------------------------------------------------------------


def test_client_credentials_with_a_proof_issues_a_bound_token(client, machine, key):
    response = machine_token(client, machine, key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "DPoP"
    row = OAuthAccessToken.objects.get(client_id=machine.client.client_id)
    # better-auth's form: {"jkt": <RFC 7638 SHA-256 thumbprint, base64url>}
    assert row.confirmation == {"jkt": key.thumbprint()}
    introspected = client.post(
        "/oauth2/introspect",
        urlencode({"token": body["access_token"]}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    ).json()
    assert introspected["cnf"] == {"jkt": key.thumbprint()}
    assert introspected["token_type"] == "DPoP"


def test_without_a_proof_the_token_is_a_bearer_token(client, machine):
    response = token_request(
        client,
        {"grant_type": "client_credentials"},
        auth=basic(machine.client.client_id, machine.client_secret),
    )
    assert response.json()["token_type"] == "Bearer"
    assert OAuthAccessToken.objects.get(client_id=machine.client.client_id).confirmation is None


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda k: proof(k, htm="GET"), id="wrong htm"),
        pytest.param(lambda k: proof(k, htu=f"{ISSUER}/oauth2/introspect"), id="wrong htu path"),
        pytest.param(lambda k: proof(k, htu="https://evil.example/oauth2/token"), id="other host"),
        pytest.param(lambda k: proof(k, htu="http://testserver/oauth2/token"), id="http"),
        pytest.param(lambda k: proof(k, iat=int(time.time()) - 301), id="stale iat"),
        pytest.param(lambda k: proof(k, iat=int(time.time()) + 60), id="future iat"),
        pytest.param(lambda k: proof(k, header={"typ": "JWT"}), id="typ"),
        pytest.param(lambda k: proof(k, jti=""), id="empty jti"),
        pytest.param(lambda k: proof(k, iat=float("nan")), id="NaN iat"),
        pytest.param(lambda k: proof(k, iat=float("inf")), id="infinite iat"),
        pytest.param(lambda k: proof(k, iat=10**400), id="iat past any float"),
        pytest.param(lambda k: proof(k, iat="now"), id="text iat"),
        pytest.param(lambda k: proof(k, jti="j" * 513), id="long jti"),
        pytest.param(
            lambda k: proof(k, header={"jwk": ECKey.generate_key("P-256").as_dict(private=False)}),
            id="signed by another key than the header's",
        ),
        pytest.param(lambda k: proof(k, header={"jwk": k.as_dict(private=True)}), id="private"),
        pytest.param(
            lambda k: proof(OctKey.generate_key(256), alg="HS256", header={"jwk": {"kty": "oct"}}),
            id="symmetric",
        ),
        pytest.param(lambda k: proof(k) + "x", id="bad signature"),
        pytest.param(lambda k: "not.a.proof", id="garbage"),
        pytest.param(lambda k: proof(k) + "," + proof(k), id="two headers"),
    ],
)
def test_bad_proofs_are_invalid_dpop_proof(client, machine, key, make):
    response = token_request(
        client,
        {"grant_type": "client_credentials"},
        auth=basic(machine.client.client_id, machine.client_secret),
        HTTP_DPOP=make(key),
    )
    assert_refused(response, 400, "invalid_dpop_proof")
    assert "no-store" in response["Cache-Control"]
    assert not OAuthAccessToken.objects.filter(client_id=machine.client.client_id).exists()


def test_a_replayed_proof_is_refused(client, machine, key):
    used = proof(key)
    auth = basic(machine.client.client_id, machine.client_secret)
    body = {"grant_type": "client_credentials"}
    assert token_request(client, body, auth=auth, HTTP_DPOP=used).status_code == 200
    again = token_request(client, body, auth=auth, HTTP_DPOP=used)
    assert_refused(again, 400, "invalid_dpop_proof")
    assert "used before" in again.json()["error_description"]


def test_htu_is_compared_normalized_without_query_or_fragment(client, machine, key):
    response = machine_token(
        client, machine, key, htu="HTTPS://TestServer:443/oauth2/%74oken?x=1#f"
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "make_key,alg",
    [
        (lambda: OKPKey.generate_key("Ed25519"), "EdDSA"),
        (lambda: RSAKey.generate_key(2048), "PS256"),
        (lambda: ECKey.generate_key("P-384"), "ES384"),
    ],
)
def test_other_asymmetric_algorithms(client, machine, make_key, alg):
    other = make_key()
    response = machine_token(client, machine, other, alg=alg)
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"


@pytest.mark.parametrize("where", ["column", "metadata"])
def test_a_client_that_requires_dpop_needs_a_proof(client, machine, where):
    if where == "column":
        OAuthClient.objects.filter(pk=machine.client.pk).update(dpop_bound_access_tokens=True)
    else:
        OAuthClient.objects.filter(pk=machine.client.pk).update(
            metadata={"dpop_bound_access_tokens": True}
        )
    response = token_request(
        client,
        {"grant_type": "client_credentials"},
        auth=basic(machine.client.client_id, machine.client_secret),
    )
    assert_refused(response, 400, "invalid_dpop_proof")


# --- code flow and refresh ------------------------------------------------------------------


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def spa_tokens(http: Client, spa: Any, key: Any, **authorize_extra: str) -> Any:
    verifier, challenge = pkce()
    code = get_code(
        http,
        spa.client.client_id,
        challenge,
        redirect_uri=SPA_REDIRECT,
        scope="openid offline_access",
        **authorize_extra,
    )
    return token_request(
        http,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": SPA_REDIRECT,
            "code_verifier": verifier,
            "client_id": spa.client.client_id,
        },
        HTTP_DPOP=proof(key),
    )


def spa_refresh(http: Client, spa: Any, refresh_token: str, proof_jwt: str | None):
    headers = {"HTTP_DPOP": proof_jwt} if proof_jwt else {}
    return token_request(
        http,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": spa.client.client_id,
        },
        **headers,
    )


def test_public_client_refresh_tokens_are_bound_to_the_key(signed_in, spa, key):
    response = spa_tokens(signed_in, spa, key)
    assert response.status_code == 200, response.content
    first = response.json()
    assert first["token_type"] == "DPoP"
    jkt = {"jkt": key.thumbprint()}
    assert OAuthRefreshToken.objects.get(client_id=spa.client.client_id).confirmation == jkt

    # Without a proof, or with another key's: refused, and the refresh token is not spent.
    missing = spa_refresh(signed_in, spa, first["refresh_token"], None)
    assert_refused(missing, 400, "invalid_dpop_proof")
    other = ECKey.generate_key("P-256")
    wrong = spa_refresh(signed_in, spa, first["refresh_token"], proof(other))
    assert_refused(wrong, 400, "invalid_dpop_proof")

    rotated = spa_refresh(signed_in, spa, first["refresh_token"], proof(key))
    assert rotated.status_code == 200, rotated.content
    assert rotated.json()["token_type"] == "DPoP"
    new = OAuthRefreshToken.objects.filter(client_id=spa.client.client_id, revoked__isnull=True)
    assert [t.confirmation for t in new] == [jkt]
    assert resource(rotated.json()["access_token"], proof_jwt=None).status_code == 401


def test_confidential_client_refresh_tokens_are_not_bound(signed_in, web, key):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    auth = basic(web.client.client_id, web.client_secret)
    from tests.oauth2.conftest import REDIRECT_URI

    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    issued = token_request(signed_in, body, auth=auth, HTTP_DPOP=proof(key)).json()
    assert issued["token_type"] == "DPoP"
    assert OAuthRefreshToken.objects.get(client_id=web.client.client_id).confirmation is None
    # The client proves itself with its secret; a new key binds the new access token.
    other = ECKey.generate_key("P-256")
    refreshed = token_request(
        signed_in,
        {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        auth=auth,
        HTTP_DPOP=proof(other),
    ).json()
    assert refreshed["token_type"] == "DPoP"
    latest = OAuthAccessToken.objects.filter(client_id=web.client.client_id).latest("created_at")
    assert latest.confirmation == {"jkt": other.thumbprint()}


def test_dpop_jkt_of_the_authorization_request_must_match(signed_in, spa, key):
    other = ECKey.generate_key("P-256")
    response = spa_tokens(signed_in, spa, key, dpop_jkt=other.thumbprint())
    assert_refused(response, 400, "invalid_dpop_proof")
    assert spa_tokens(signed_in, spa, key, dpop_jkt=key.thumbprint()).status_code == 200


def test_a_malformed_dpop_jkt_is_refused_at_the_authorization_endpoint(signed_in, spa):
    from tests.oauth2.conftest import authorize_url, query_of

    _, challenge = pkce()
    url = authorize_url(spa.client.client_id, challenge, redirect_uri=SPA_REDIRECT, dpop_jkt="x")
    response = signed_in.get(url)
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_request"


# --- resource side --------------------------------------------------------------------------


@pytest.fixture
def bound(client, machine, key) -> str:
    return machine_token(client, machine, key).json()["access_token"]


def test_bound_token_with_its_proof(bound, key):
    response = resource(bound, proof_jwt=proof(key, "GET", RESOURCE_URL, access_token=bound))
    assert response.status_code == 200, response.content


def test_bound_token_presented_as_bearer_is_refused(bound, key):
    response = resource(
        bound, "Bearer", proof_jwt=proof(key, "GET", RESOURCE_URL, access_token=bound)
    )
    assert_challenge(response, "invalid_token")


def test_bound_token_without_its_proof_is_refused(bound):
    assert_challenge(resource(bound), "invalid_dpop_proof")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda k, t: proof(ECKey.generate_key("P-256"), "GET", RESOURCE_URL, access_token=t),
            id="another key",
        ),
        pytest.param(lambda k, t: proof(k, "GET", RESOURCE_URL), id="no ath"),
        pytest.param(lambda k, t: proof(k, "GET", RESOURCE_URL, access_token="x"), id="wrong ath"),
        pytest.param(lambda k, t: proof(k, "POST", RESOURCE_URL, access_token=t), id="wrong htm"),
        pytest.param(
            lambda k, t: proof(k, "GET", "http://testserver/other", access_token=t),
            id="wrong htu",
        ),
        pytest.param(
            lambda k, t: proof(k, "GET", RESOURCE_URL, iat=int(time.time()) - 600, access_token=t),
            id="stale iat",
        ),
    ],
)
def test_bound_token_with_a_wrong_proof_is_refused(bound, key, make):
    assert_challenge(resource(bound, proof_jwt=make(key, bound)), "invalid_dpop_proof")


def test_a_replayed_proof_at_the_resource_is_refused(bound, key):
    used = proof(key, "GET", RESOURCE_URL, access_token=bound)
    assert resource(bound, proof_jwt=used).status_code == 200
    assert_challenge(resource(bound, proof_jwt=used), "invalid_dpop_proof")


def test_bearer_token_presented_as_dpop_is_refused(machine, key):
    plain = issue_tokens(machine.client, scopes=["invoices:read"]).access_token
    response = resource(plain, proof_jwt=proof(key, "GET", RESOURCE_URL, access_token=plain))
    assert_challenge(response, "invalid_token")
    assert resource(plain, "Bearer").status_code == 200


def test_a_resource_that_requires_dpop_refuses_bearer_tokens(machine, bound, key):
    plain = issue_tokens(machine.client, scopes=["invoices:read"]).access_token
    assert_challenge(resource(plain, "Bearer", view=dpop_only), "invalid_token")
    missing = dpop_only(RequestFactory().get("/invoices"))
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("DPoP ")
    ok = resource(
        bound, proof_jwt=proof(key, "GET", RESOURCE_URL, access_token=bound), view=dpop_only
    )
    assert ok.status_code == 200


def test_userinfo_refuses_a_bound_token_as_bearer(signed_in, spa, key):
    access = spa_tokens(signed_in, spa, key).json()["access_token"]
    as_bearer = signed_in.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert_challenge(as_bearer, "invalid_token")
    proven = signed_in.get(
        "/oauth2/userinfo",
        HTTP_AUTHORIZATION=f"DPoP {access}",
        HTTP_DPOP=proof(key, "GET", "http://testserver/oauth2/userinfo", access_token=access),
    )
    assert proven.status_code == 200, proven.content


def test_an_unverifiable_confirmation_is_never_accepted(machine, key):
    issued = issue_tokens(
        machine.client, scopes=["invoices:read"], confirmation={"x5t#S256": "abc"}
    )
    raw = issued.access_token
    assert resource(raw, "Bearer").status_code == 401
    response = resource(raw, proof_jwt=proof(key, "GET", RESOURCE_URL, access_token=raw))
    assert response.status_code == 401


# --- nonces ---------------------------------------------------------------------------------


@pytest.fixture
def nonces(settings):
    with with_issuer(ISSUER):
        settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DPOP": {"NONCE_REQUIRED": True}}
        yield


def test_nonce_flow_at_the_token_endpoint(client, machine, key, nonces):
    first = machine_token(client, machine, key)
    assert_refused(first, 400, "use_dpop_nonce")
    nonce = first["DPoP-Nonce"]
    assert nonce
    wrong = machine_token(client, machine, key, nonce="0.forged")
    assert_refused(wrong, 400, "use_dpop_nonce")
    retried = machine_token(client, machine, key, nonce=nonce)
    assert retried.status_code == 200, retried.content
    assert retried["DPoP-Nonce"]


def test_nonce_flow_at_the_resource(client, machine, key, nonces):
    nonce = machine_token(client, machine, key)["DPoP-Nonce"]
    token = machine_token(client, machine, key, nonce=nonce).json()["access_token"]
    first = resource(token, proof_jwt=proof(key, "GET", RESOURCE_URL, access_token=token))
    assert_challenge(first, "use_dpop_nonce")
    fresh = first["DPoP-Nonce"]
    retried = resource(
        token, proof_jwt=proof(key, "GET", RESOURCE_URL, access_token=token, nonce=fresh)
    )
    assert retried.status_code == 200, retried.content


# --- metadata and settings ------------------------------------------------------------------


def test_discovery_names_the_proof_algorithms(client):
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["dpop_signing_alg_values_supported"][:2] == ["EdDSA", "ES256"]


def test_cache_replay_store(client, machine, key, settings):
    settings.BEEP_IAM = {
        **settings.BEEP_IAM,
        "OAUTH2_ISSUER": ISSUER,
        "OAUTH2_DPOP": {"REPLAY_STORE": "cache"},
    }
    used = proof(key)
    auth = basic(machine.client.client_id, machine.client_secret)
    body = {"grant_type": "client_credentials"}
    assert token_request(client, body, auth=auth, HTTP_DPOP=used).status_code == 200
    assert_refused(
        token_request(client, body, auth=auth, HTTP_DPOP=used), 400, "invalid_dpop_proof"
    )


@pytest.mark.parametrize(
    "value,named",
    [
        ({"ALGORITHMS": ["HS256"]}, "['OAUTH2_DPOP']['ALGORITHMS']"),
        ({"ALGORITHMS": "ES256"}, "['OAUTH2_DPOP']['ALGORITHMS']"),
        ({"PROOF_MAX_AGE": -1}, "['OAUTH2_DPOP']['PROOF_MAX_AGE']"),
        ({"NONCE_REQUIRED": "yes"}, "['OAUTH2_DPOP']['NONCE_REQUIRED']"),
        ({"REPLAY_STORE": "memory"}, "['OAUTH2_DPOP']['REPLAY_STORE']"),
        ({"NONCES": True}, "NONCES"),
        ([], "OAUTH2_DPOP"),
    ],
)
def test_bad_settings_name_the_key(value, named):
    # A nested key is named as it is written: BEEP_IAM['OAUTH2_DPOP']['PROOF_MAX_AGE'].
    with pytest.raises(ImproperlyConfigured, match=re.escape(named)):
        load({"OAUTH2_DPOP": value})


# --- the replay store -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_replay_reservation_outside_a_transaction_in_better_auths_form(machine, key):
    """Outside a transaction the reservation commits on its own (asynchronously); a replay is
    still refused, and the row is the one better-auth's reserveVerificationValue writes."""
    with with_issuer(ISSUER):
        raw = issue_tokens(
            machine.client, scopes=["invoices:read"], confirmation={"jkt": key.thumbprint()}
        ).access_token
        used = proof(key, "GET", RESOURCE_URL, access_token=raw)
        assert resource(raw, proof_jwt=used).status_code == 200
        assert_challenge(resource(raw, proof_jwt=used), "invalid_dpop_proof")
    claims = json.loads(jws.extract_compact(used.encode()).payload)
    replay_key = _b64(
        hashlib.sha256(
            f"{key.thumbprint()}\nGET\n{RESOURCE_URL}\n{claims['jti']}".encode()
        ).digest()
    )
    row_id = _b64(hashlib.sha256(f"reserve:dpop-proof:{replay_key}".encode()).digest())
    row = Verification.objects.filter(identifier=f"dpop-proof:{replay_key}").values(
        "id", "value", "expires_at"
    )
    assert list(row) == [
        {
            "id": row_id,
            "value": replay_key,
            "expires_at": datetime.fromtimestamp(claims["iat"] + 300, tz=UTC),
        }
    ]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "backend,expected",
    [
        ("django.core.cache.backends.dummy.DummyCache", "beep_iam.E042"),
        ("django.core.cache.backends.locmem.LocMemCache", "beep_iam.W042"),
        ("django.core.cache.backends.db.DatabaseCache", None),
    ],
)
def test_a_cache_replay_store_must_be_shared(settings, backend, expected):
    from beep_iam.conf import check_settings

    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "beep_cache"}}
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DPOP": {"REPLAY_STORE": "cache"}}
    ids = [m.id for m in check_settings()]
    assert ids == ([expected] if expected else [])
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DPOP": {}}
    assert check_settings() == []


def test_a_resource_requiring_dpop_gets_a_bound_jwt(client, machine, key):
    """A resource that takes DPoP-bound tokens only: with a proof, its JWT access token
    (RFC 9068) carries cnf.jkt and is accepted at the resource with a proof of that key only."""
    from beep_iam.models import OAuthClientResource, OAuthResource
    from beep_iam.oauth2 import access_jwt

    api = "https://api.example.com/invoices"
    row = OAuthResource.objects.create(
        identifier=api, name="Invoices", dpop_bound_access_tokens_required=True
    )
    OAuthClientResource.objects.create(client_id=machine.client.client_id, resource=row)
    response = token_request(
        client,
        {"grant_type": "client_credentials", "scope": "invoices:read", "resource": api},
        auth=basic(machine.client.client_id, machine.client_secret),
        HTTP_DPOP=proof(key),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "DPoP"
    info = access_jwt.validate(body["access_token"], api)
    assert info is not None and info.dpop_jkt == key.thumbprint()

    @require_oauth("invoices:read", resource=api)
    def view(request) -> HttpResponse:
        return JsonResponse({"client": request.oauth_token.client_id})

    url = "http://testserver/api/invoices"
    token = body["access_token"]
    bound = RequestFactory().get(
        "/api/invoices",
        HTTP_AUTHORIZATION=f"DPoP {token}",
        HTTP_DPOP=proof(key, "GET", url, access_token=token),
    )
    assert view(bound).status_code == 200
    as_bearer = RequestFactory().get("/api/invoices", HTTP_AUTHORIZATION=f"Bearer {token}")
    refused = view(as_bearer)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("DPoP ")
    assert "resource_metadata=" in refused["WWW-Authenticate"]
