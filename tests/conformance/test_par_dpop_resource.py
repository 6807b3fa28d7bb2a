"""RFC 9126 PAR, RFC 9449 DPoP and RFC 8707 resource indicator probes."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.test import Client
from joserfc.jwk import ECKey

from beep_iam.services.oauth_tokens import issue_tokens
from tests.conformance.helpers import FORM, assert_json_error, challenge_params, form, redeem
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, basic, pkce, query_of
from tests.oauth2.test_dpop import proof

pytestmark = pytest.mark.django_db

TOKEN_URL = f"{ISSUER}/oauth2/token"
PAR_URL = f"{ISSUER}/oauth2/par"
USERINFO = "http://testserver/oauth2/userinfo"


def _params(client_id: str, challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email",
        "state": "st-123",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def _push(registered, challenge, headers=None, **extra):
    return Client().post(
        "/oauth2/par",
        urlencode(_params(registered.client.client_id, challenge, **extra)),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
        **(headers or {}),
    )


def _code_via(signed_in, registered, request_uri):
    url = "/oauth2/authorize?" + urlencode(
        {"client_id": registered.client.client_id, "request_uri": request_uri}
    )
    response = signed_in.get(url)
    if response.status_code == 200:
        response = signed_in.post(url, {"decision": "allow"})
    assert response.status_code == 302, response.content[:300]
    return query_of(response["Location"])


# --- RFC 9126 --------------------------------------------------------------------------------


def test_9126_2_2_created_with_request_uri_and_expires_in(web):
    response = _push(web, pkce()[1])
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert re.fullmatch(r"urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]+", body["request_uri"])
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0


def test_9126_2_1_request_uri_is_refused_at_par(web):
    response = _push(web, pkce()[1], request_uri="urn:ietf:params:oauth:request_uri:abc")
    assert_json_error(response, 400, "invalid_request")


def test_9126_2_3_errors(web):
    response = _push(web, pkce()[1], redirect_uri="https://evil.example/cb")
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_redirect_uri")
    assert Client().get("/oauth2/par").status_code == 405  # 2.3: 405 for other methods


def test_9126_2_3_oversized_request_is_413(web):
    """2.3: "413: If the request size was beyond the upper bound that the authorization server
    allows, the authorization server responds with an HTTP 413 (Payload Too Large) status"."""
    response = _push(
        web,
        pkce()[1],
        state="x" * 4000,
        nonce="y" * 4000,
        login_hint="z" * 4000,
        ui_locales="w" * 4000,
        acr_values="v" * 4000,
    )
    assert response.status_code == 413, (response.status_code, response.content)


def test_9126_4_one_time_use(signed_in, web):
    request_uri = _push(web, pkce()[1]).json()["request_uri"]
    params = _code_via(signed_in, web, request_uri)
    assert params["code"] and params["iss"] == ISSUER
    again = signed_in.get(
        "/oauth2/authorize?"
        + urlencode({"client_id": web.client.client_id, "request_uri": request_uri})
    )
    assert again.status_code == 400 and "Location" not in again


# --- RFC 9449 --------------------------------------------------------------------------------


def test_9449_5_token_type_dpop(client, machine):
    key = ECKey.generate_key("P-256")
    response = form(
        client,
        "/oauth2/token",
        {"grant_type": "client_credentials", "scope": "invoices:read"},
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
        HTTP_DPOP=proof(key),
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "DPoP"


def test_9449_5_invalid_proof_at_token_endpoint_is_400(client, machine):
    key = ECKey.generate_key("P-256")
    response = form(
        client,
        "/oauth2/token",
        {"grant_type": "client_credentials", "scope": "invoices:read"},
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
        HTTP_DPOP=proof(key, htu="https://elsewhere.example/token"),
    )
    assert_json_error(response, 400, "invalid_dpop_proof")
    assert "WWW-Authenticate" not in response


def test_9449_8_use_dpop_nonce_at_token_endpoint(client, machine, settings):
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DPOP": {"NONCE_REQUIRED": True}}
    key = ECKey.generate_key("P-256")
    auth = basic(machine.client.client_id, machine.client_secret)
    body = {"grant_type": "client_credentials", "scope": "invoices:read"}
    response = form(client, "/oauth2/token", body, HTTP_AUTHORIZATION=auth, HTTP_DPOP=proof(key))
    assert_json_error(response, 400, "use_dpop_nonce")
    nonce = response["DPoP-Nonce"]
    assert "DPoP-Nonce" in response["Access-Control-Expose-Headers"]
    retry = form(
        client, "/oauth2/token", body, HTTP_AUTHORIZATION=auth, HTTP_DPOP=proof(key, nonce=nonce)
    )
    assert retry.status_code == 200 and retry.json()["token_type"] == "DPoP"


def _bound_userinfo_token(web, user, key):
    from beep_iam.oauth2.dpop import Proof  # noqa: F401

    issued = issue_tokens(
        web.client,
        scopes=["openid"],
        user=user,
        confirmation={"jkt": key.thumbprint()},
    )
    return issued.access_token


def test_9449_7_1_resource_401_with_dpop_challenge_and_algs(client, web, user):
    key = ECKey.generate_key("P-256")
    token = _bound_userinfo_token(web, user, key)
    response = client.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"DPoP {token}")  # no proof
    assert response.status_code == 401
    scheme, params = challenge_params(response["WWW-Authenticate"])
    assert scheme == "DPoP" and params.get("algs") and params.get("error")
    ok = client.get(
        "/oauth2/userinfo",
        HTTP_AUTHORIZATION=f"DPoP {token}",
        HTTP_DPOP=proof(key, "GET", USERINFO, access_token=token),
    )
    assert ok.status_code == 200, ok.content


def test_9449_7_2_bound_token_as_bearer_is_refused(client, web, user):
    key = ECKey.generate_key("P-256")
    token = _bound_userinfo_token(web, user, key)
    response = client.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_9449_9_use_dpop_nonce_at_resource_is_401(client, web, user, settings):
    key = ECKey.generate_key("P-256")
    token = _bound_userinfo_token(web, user, key)
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DPOP": {"NONCE_REQUIRED": True}}
    response = client.get(
        "/oauth2/userinfo",
        HTTP_AUTHORIZATION=f"DPoP {token}",
        HTTP_DPOP=proof(key, "GET", USERINFO, access_token=token),
    )
    assert response.status_code == 401
    scheme, params = challenge_params(response["WWW-Authenticate"])
    assert scheme == "DPoP" and params["error"] == "use_dpop_nonce"
    assert response["DPoP-Nonce"]


def test_9449_6_2_introspection_of_a_bound_token(client, web, user):
    key = ECKey.generate_key("P-256")
    token = _bound_userinfo_token(web, user, key)
    body = form(
        client,
        "/oauth2/introspect",
        {"token": token},
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    ).json()
    assert body["cnf"] == {"jkt": key.thumbprint()} and body["token_type"] == "DPoP"


def test_9449_10_1_par_with_dpop_header_and_different_dpop_jkt_is_refused(web):
    """10.1: "If both mechanisms are used at the same time, the authorization server MUST
    reject the request. The JWK Thumbprint in dpop_jkt MUST match the value of the jkt claim in
    the DPoP proof." (read: mismatching values are refused)."""
    key, other = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    response = _push(
        web, pkce()[1], {"HTTP_DPOP": proof(key, htu=PAR_URL)}, dpop_jkt=other.thumbprint()
    )
    assert response.status_code == 400, (response.status_code, response.content)


def test_9449_10_1_par_dpop_header_binds_the_code(signed_in, web):
    """10.1: at the PAR endpoint the DPoP key may be given by "the DPoP header"; the code is
    then bound to that key: a token request with a proof of another key must fail."""
    key, other = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    verifier, challenge = pkce()
    pushed = _push(web, challenge, {"HTTP_DPOP": proof(key, htu=PAR_URL)})
    assert pushed.status_code == 201
    code = _code_via(signed_in, web, pushed.json()["request_uri"])["code"]
    response = redeem(web, code, verifier, HTTP_DPOP=proof(other))
    assert_json_error(response, 400, "invalid_dpop_proof")


def test_9449_10_1_par_rejects_an_invalid_dpop_header(web):
    response = _push(web, pkce()[1], {"HTTP_DPOP": "not-a-proof"})
    assert_json_error(response, 400, "invalid_dpop_proof")


# --- RFC 8707 ------------------------------------------------------------------------------------


def test_8707_2_invalid_target_at_token_endpoint(client, machine):
    for resource in ("https://unknown.example/api", "relative/path", "https://x.example/a#frag"):
        response = form(
            client,
            "/oauth2/token",
            {"grant_type": "client_credentials", "scope": "invoices:read", "resource": resource},
            HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
        )
        assert_json_error(response, 400, "invalid_target")


def test_8707_2_invalid_target_at_authorization_endpoint(signed_in, web):
    url = "/oauth2/authorize?" + urlencode(
        _params(web.client.client_id, pkce()[1], resource="https://unknown.example/api")
    )
    response = signed_in.get(url)
    assert response.status_code == 302
    params = query_of(response["Location"])
    assert params["error"] == "invalid_target" and params["iss"] == ISSUER
