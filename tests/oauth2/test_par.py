"""Pushed authorization requests (RFC 9126): the PAR endpoint, request_uri at the
authorization endpoint, and the per-client and global requirement."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from joserfc.jwk import ECKey

from beep_iam.models import Verification
from beep_iam.oauth2 import par
from beep_shared import crypto
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, basic, pkce, query_of
from tests.oauth2.test_code_flow import exchange
from tests.oauth2.test_dpop import proof

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def request_params(client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email offline_access",
        "state": "st-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return {k: v for k, v in params.items() if v}


def push(http, registered, challenge: str, *, auth: bool = True, **extra: str):
    headers = {}
    if auth:
        headers["HTTP_AUTHORIZATION"] = basic(registered.client.client_id, registered.client_secret)
    return http.post(
        "/oauth2/par",
        urlencode(request_params(registered.client.client_id, challenge, **extra)),
        content_type=FORM,
        **headers,
    )


def pushed_uri(http, registered, challenge: str, **extra: str) -> str:
    response = push(http, registered, challenge, **extra)
    assert response.status_code == 201, response.content
    return response.json()["request_uri"]


def authorize(http, client_id: str, request_uri: str, **extra: str):
    return http.get(
        "/oauth2/authorize?"
        + urlencode({"client_id": client_id, "request_uri": request_uri, **extra})
    )


def consented_code(http, client_id: str, request_uri: str):
    url = "/oauth2/authorize?" + urlencode({"client_id": client_id, "request_uri": request_uri})
    response = http.get(url)
    assert response.status_code == 200, response.content  # the consent page
    return http.post(url, {"decision": "allow"})


def assert_error_page(response) -> None:
    assert response.status_code == 400
    assert not response.has_header("Location")
    assert b"cannot be completed" in response.content


def test_the_answer_and_how_the_request_is_stored(client, web):
    _, challenge = pkce()
    response = push(client, web, challenge)
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["expires_in"] == 60
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    token = body["request_uri"].removeprefix(par.PREFIX)
    assert len(token) >= 43
    # The row holds a digest, never the request_uri, nor the client's secret.
    row = Verification.objects.get(identifier=crypto.digest(token))
    assert token not in row.value and web.client_secret not in row.value
    value = json.loads(row.value)
    assert value["type"] == "par"
    assert value["clientId"] == web.client.client_id
    assert value["query"]["redirect_uri"] == REDIRECT_URI
    assert 55 <= (row.expires_at - timezone.now()).total_seconds() <= 60


def test_full_code_flow_through_par(signed_in, web, user):
    verifier, challenge = pkce()
    request_uri = pushed_uri(signed_in, web, challenge)
    response = consented_code(signed_in, web.client.client_id, request_uri)
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI + "?")
    params = query_of(response["Location"])
    assert params["state"] == "st-123" and params["iss"] == ISSUER
    tokens = exchange(signed_in, web, params["code"], verifier)
    assert tokens.status_code == 200, tokens.content
    assert tokens.json()["access_token"]
    # Used up: the same request_uri does not give a second code.
    assert_error_page(authorize(signed_in, web.client.client_id, request_uri))


def test_query_parameters_beside_request_uri_are_ignored(signed_in, web):
    _, challenge = pkce()
    request_uri = pushed_uri(signed_in, web, challenge)
    web.client.skip_consent = True
    web.client.save()
    response = authorize(
        signed_in,
        web.client.client_id,
        request_uri,
        redirect_uri="https://evil.example.com/cb",
        state="forged",
    )
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI + "?")
    assert query_of(response["Location"])["state"] == "st-123"


def test_sign_in_keeps_the_request_uri_and_drops_prompt_login(client, web, user):
    _, challenge = pkce()
    request_uri = pushed_uri(client, web, challenge, prompt="login")
    response = authorize(client, web.client.client_id, request_uri)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/accounts/login/?next=")
    assert "request_uri" in location and "redirect_uri" not in location
    client.force_login(user)
    # Back from sign-in: the consent page, not sign-in again.
    response = authorize(client, web.client.client_id, request_uri)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("auth", "extra", "status", "error"),
    [
        (False, {}, 401, "invalid_client"),
        (True, {"redirect_uri": "https://evil.example.com/cb"}, 400, "invalid_request"),
        (True, {"redirect_uri": ""}, 400, "invalid_request"),  # an OpenID Connect request
        (True, {"response_type": "token"}, 400, "unsupported_response_type"),
        (True, {"scope": "openid admin"}, 400, "invalid_scope"),
        (True, {"code_challenge_method": "plain"}, 400, "invalid_request"),
        (True, {"request_uri": par.PREFIX + "x"}, 400, "invalid_request"),
        (True, {"request": "eyJ.x.y"}, 400, "request_not_supported"),
        (True, {"prompt": "bogus"}, 400, "invalid_request"),
        (True, {"resource": "https://unknown.example.com"}, 400, "invalid_target"),
    ],
)
def test_par_refusals(client, web, auth, extra, status, error):
    _, challenge = pkce()
    response = push(client, web, challenge, auth=auth, **extra)
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert "no-store" in response["Cache-Control"]
    assert not Verification.objects.filter(value__contains='"type":"par"').exists()


def test_wrong_secret_and_query_string_are_refused(client, web):
    _, challenge = pkce()
    body = urlencode(request_params(web.client.client_id, challenge))
    wrong = client.post(
        "/oauth2/par",
        body,
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(web.client.client_id, "wrong"),
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    in_query = client.post(
        "/oauth2/par?" + body,
        "",
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    assert in_query.status_code == 400 and in_query.json()["error"] == "invalid_request"
    assert client.get("/oauth2/par").status_code == 405


def test_public_client_pushes_naming_itself(client, spa):
    _, challenge = pkce()
    params = request_params(spa.client.client_id, challenge, redirect_uri="http://127.0.0.1/cb")
    response = client.post("/oauth2/par", urlencode(params), content_type=FORM)
    assert response.status_code == 201, response.content


def test_expired_request_uri(signed_in, web):
    _, challenge = pkce()
    request_uri = pushed_uri(signed_in, web, challenge)
    Verification.objects.filter(value__contains='"type":"par"').update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert_error_page(authorize(signed_in, web.client.client_id, request_uri))


def test_another_clients_request_uri(signed_in, web, user):
    from beep_iam.services.oauth_clients import register_client

    other = register_client(
        redirect_uris=[REDIRECT_URI],
        name="Other",
        grant_types=["authorization_code"],
        scopes=["openid", "email", "offline_access"],
    )
    _, challenge = pkce()
    request_uri = pushed_uri(signed_in, web, challenge)
    assert_error_page(authorize(signed_in, other.client.client_id, request_uri))
    # Without client_id, too.
    response = signed_in.get("/oauth2/authorize?" + urlencode({"request_uri": request_uri}))
    assert_error_page(response)
    # The owner still can.
    assert authorize(signed_in, web.client.client_id, request_uri).status_code == 200


@pytest.mark.parametrize("request_uri", [par.PREFIX + "unknown", "https://evil.example.com/r"])
def test_unknown_request_uri(signed_in, web, request_uri):
    assert_error_page(authorize(signed_in, web.client.client_id, request_uri))


def test_a_denied_request_is_used_up(signed_in, web):
    _, challenge = pkce()
    request_uri = pushed_uri(signed_in, web, challenge)
    url = "/oauth2/authorize?" + urlencode(
        {"client_id": web.client.client_id, "request_uri": request_uri}
    )
    assert signed_in.get(url).status_code == 200
    denied = signed_in.post(url, {"decision": "deny"})
    assert query_of(denied["Location"])["error"] == "access_denied"
    assert_error_page(signed_in.get(url))


def test_client_requiring_par_refuses_plain_authorize(signed_in, web):
    web.client.metadata = {"require_pushed_authorization_requests": True}
    web.client.save()
    _, challenge = pkce()
    plain = signed_in.get(
        "/oauth2/authorize?" + urlencode(request_params(web.client.client_id, challenge))
    )
    assert plain.status_code == 302
    params = query_of(plain["Location"])
    assert params["error"] == "invalid_request" and "code" not in params
    request_uri = pushed_uri(signed_in, web, challenge)
    assert authorize(signed_in, web.client.client_id, request_uri).status_code == 200


def test_global_setting_requires_par_and_is_advertised(signed_in, web, client):
    _, challenge = pkce()
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["pushed_authorization_request_endpoint"] == ISSUER + "/oauth2/par"
    assert metadata["require_pushed_authorization_requests"] is False
    beep = {**settings.BEEP_IAM, "OAUTH2_ISSUER": ISSUER, "OAUTH2_REQUIRE_PAR": True}
    with override_settings(BEEP_IAM=beep):
        metadata = client.get("/.well-known/oauth-authorization-server").json()
        assert metadata["require_pushed_authorization_requests"] is True
        plain = signed_in.get(
            "/oauth2/authorize?" + urlencode(request_params(web.client.client_id, challenge))
        )
        assert query_of(plain["Location"])["error"] == "invalid_request"
        request_uri = pushed_uri(signed_in, web, challenge)
        assert authorize(signed_in, web.client.client_id, request_uri).status_code == 200


def test_par_is_rate_limited_with_the_token_endpoint(client, web):
    limits = {"token": {"window": 3600, "per_ip": 2, "per_client": None}}
    beep = {**settings.BEEP_IAM, "OAUTH2_ISSUER": ISSUER, "OAUTH2_RATE_LIMITS": limits}
    _, challenge = pkce()
    with override_settings(BEEP_IAM=beep):
        assert push(client, web, challenge).status_code == 201
        assert push(client, web, challenge).status_code == 201
        refused = push(client, web, challenge)
    assert refused.status_code == 429
    assert refused.has_header("Retry-After")


# --- DPoP at PAR (RFC 9449 10.1) ------------------------------------------------------------

PAR_URL = f"{ISSUER}/oauth2/par"


def push_with_proof(http, registered, challenge: str, proof_jwt: str, **extra: str):
    return http.post(
        "/oauth2/par",
        urlencode(request_params(registered.client.client_id, challenge, **extra)),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
        HTTP_DPOP=proof_jwt,
    )


def redeem_with_proof(http, registered, code: str, verifier: str, proof_jwt: str):
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    return http.post(
        "/oauth2/token",
        urlencode(body),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
        HTTP_DPOP=proof_jwt,
    )


def test_a_proof_at_par_binds_the_code_to_its_key(signed_in, web):
    verifier, challenge = pkce()
    key, other = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    pushed = push_with_proof(signed_in, web, challenge, proof(key, htu=PAR_URL))
    assert pushed.status_code == 201, pushed.content
    pushed_row = Verification.objects.get(value__contains='"type":"par"')
    assert json.loads(pushed_row.value)["query"]["dpop_jkt"] == key.thumbprint()
    response = consented_code(signed_in, web.client.client_id, pushed.json()["request_uri"])
    code = query_of(response["Location"])["code"]
    refused = redeem_with_proof(signed_in, web, code, verifier, proof(other))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_dpop_proof"


def test_the_code_of_a_proof_at_par_redeems_with_that_key(signed_in, web):
    verifier, challenge = pkce()
    key = ECKey.generate_key("P-256")
    pushed = push_with_proof(signed_in, web, challenge, proof(key, htu=PAR_URL))
    response = consented_code(signed_in, web.client.client_id, pushed.json()["request_uri"])
    code = query_of(response["Location"])["code"]
    tokens = redeem_with_proof(signed_in, web, code, verifier, proof(key))
    assert tokens.status_code == 200, tokens.content
    assert tokens.json()["token_type"] == "DPoP"


@pytest.mark.parametrize("case", ["other dpop_jkt", "malformed", "wrong htu", "replayed"])
def test_a_bad_proof_at_par_is_refused(client, web, case):
    _, challenge = pkce()
    key, other = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    extra: dict[str, str] = {}
    sent = proof(key, htu=PAR_URL)
    if case == "other dpop_jkt":
        extra["dpop_jkt"] = other.thumbprint()
    elif case == "malformed":
        sent = "not-a-jwt"
    elif case == "wrong htu":
        sent = proof(key)  # made for the token endpoint
    else:
        assert push_with_proof(client, web, challenge, sent).status_code == 201
    response = push_with_proof(client, web, challenge, sent, **extra)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_dpop_proof"
    assert not response.has_header("WWW-Authenticate")


def test_the_same_key_as_dpop_jkt_and_proof_is_accepted(client, web):
    _, challenge = pkce()
    key = ECKey.generate_key("P-256")
    sent = proof(key, htu=PAR_URL)
    response = push_with_proof(client, web, challenge, sent, dpop_jkt=key.thumbprint())
    assert response.status_code == 201, response.content
