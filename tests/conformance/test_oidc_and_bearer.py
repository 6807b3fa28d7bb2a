"""OpenID Connect Core, RP-Initiated Logout and RFC 6750 probes (UserInfo is the resource)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from beep_iam.services.oauth_tokens import issue_tokens
from tests.conformance.helpers import challenge_params, form, jwt_claims, redeem
from tests.oauth2.conftest import AFTER_LOGOUT as AFTER
from tests.oauth2.conftest import (
    ISSUER,
    authorize_url,
    basic,
    get_code,
    pkce,
    query_of,
)
from tests.oauth2.test_end_session import hint_for

pytestmark = pytest.mark.django_db


def _tokens(http, web, **extra):
    verifier, challenge = pkce()
    code = get_code(http, web.client.client_id, challenge, **extra)
    response = redeem(web, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


# --- OIDC Core 2 / 3.1.3.6: ID token -----------------------------------------------------------


def test_oidc_2_id_token_required_claims(signed_in, web, user):
    tokens = _tokens(signed_in, web)
    claims = jwt_claims(tokens["id_token"])
    assert claims["iss"] == ISSUER
    assert claims["sub"] == str(user.pk)
    assert claims["aud"] in (web.client.client_id, [web.client.client_id])
    assert isinstance(claims["exp"], int) and isinstance(claims["iat"], int)
    assert claims["nonce"] == "n-456"
    assert "at_hash" in claims


def test_oidc_2_auth_time_when_max_age_was_requested(signed_in, web):
    tokens = _tokens(signed_in, web, max_age="3600")
    assert isinstance(jwt_claims(tokens["id_token"]).get("auth_time"), int)


def test_oidc_12_2_refreshed_id_token_keeps_auth_time(signed_in, web):
    """OIDC Core 12.2: "if the ID Token contains an auth_time Claim, its value MUST represent
    the time of the original authentication"."""
    tokens = _tokens(signed_in, web, max_age="3600")
    original = jwt_claims(tokens["id_token"])
    refreshed = form(
        Client(),
        "/oauth2/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    ).json()
    again = jwt_claims(refreshed["id_token"])
    assert again["sub"] == original["sub"] and again["iss"] == original["iss"]
    assert again.get("auth_time") == original.get("auth_time")
    assert again.get("azp") == original.get("azp")


# --- OIDC Core 3.1.2.6: prompt=none --------------------------------------------------------------


def test_oidc_3_1_2_6_prompt_none_without_session_is_login_required(client, web):
    response = client.get(authorize_url(web.client.client_id, pkce()[1], prompt="none"))
    assert response.status_code == 302
    params = query_of(response["Location"])
    assert params["error"] == "login_required" and params["iss"] == ISSUER
    assert params["state"] == "st-123"


def test_oidc_3_1_2_6_prompt_none_without_consent_is_consent_required(signed_in, web):
    response = signed_in.get(authorize_url(web.client.client_id, pkce()[1], prompt="none"))
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "consent_required"


def test_oidc_3_1_2_6_prompt_none_with_max_age_exceeded_is_login_required(signed_in, web):
    get_code(signed_in, web.client.client_id, pkce()[1])  # consent given
    time.sleep(1.1)
    response = signed_in.get(
        authorize_url(web.client.client_id, pkce()[1], prompt="none", max_age="0")
    )
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "login_required"


def test_oidc_3_1_2_1_prompt_none_with_other_values_is_invalid_request(signed_in, web):
    response = signed_in.get(authorize_url(web.client.client_id, pkce()[1], prompt="none login"))
    assert query_of(response["Location"])["error"] == "invalid_request"


# --- OIDC Core 5.3 / 5.4: UserInfo ----------------------------------------------------------


def test_oidc_5_3_userinfo_sub_and_claims_by_scope(signed_in, web, user):
    tokens = _tokens(signed_in, web, scope="openid email")
    body = (
        Client()
        .get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
        .json()
    )
    assert body["sub"] == jwt_claims(tokens["id_token"])["sub"]
    assert body["email"] == user.email and "email_verified" in body
    assert "name" not in body  # profile was not asked for


def test_oidc_5_3_3_userinfo_error_carries_www_authenticate(client):
    response = client.get("/oauth2/userinfo", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401
    scheme, params = challenge_params(response["WWW-Authenticate"])
    assert scheme == "Bearer" and params["error"] == "invalid_token"
    assert "error_description" in params


# --- RFC 6750 ------------------------------------------------------------------------------------


def test_rfc6750_3_1_no_error_code_without_credentials(client):
    response = client.get("/oauth2/userinfo")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in response["WWW-Authenticate"]


def test_rfc6750_3_1_insufficient_scope_is_403_with_scope(client, web, user):
    """3.1: insufficient_scope "SHOULD respond with the HTTP 403 ... and MAY include the "scope"
    attribute with the scope necessary to access the protected resource"."""
    issued = issue_tokens(web.client, scopes=["email"], user=user)
    response = client.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {issued.access_token}")
    assert response.status_code == 403
    _, params = challenge_params(response["WWW-Authenticate"])
    assert params["error"] == "insufficient_scope"
    assert params.get("scope") == "openid"


def test_rfc6750_2_2_form_body_token_is_refused_without_error_code(client, web, user):
    """2.2 is a MAY: unsupported, the request "lacks any authentication information" (3.1)."""
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    response = form(client, "/oauth2/userinfo", {"access_token": issued.access_token})
    assert response.status_code in (200, 401)
    if response.status_code == 401:
        assert "error=" not in response["WWW-Authenticate"]


def test_rfc6750_2_3_query_token_is_refused_without_error_code(client, web, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    response = client.get("/oauth2/userinfo?access_token=" + issued.access_token)
    assert response.status_code in (200, 401)
    if response.status_code == 401:
        assert "error=" not in response["WWW-Authenticate"]
    else:
        assert "private" in response["Cache-Control"]  # 2.3


def test_rfc6750_3_1_two_methods_is_invalid_request(client, web, user):
    """3.1 invalid_request: "... uses more than one method for including an access token, or is
    otherwise malformed. The resource server SHOULD respond with the HTTP 400"."""
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    response = client.get(
        "/oauth2/userinfo?access_token=" + issued.access_token,
        HTTP_AUTHORIZATION=f"Bearer {issued.access_token}",
    )
    assert response.status_code == 400
    assert 'error="invalid_request"' in response["WWW-Authenticate"]


def test_rfc6750_3_1_malformed_authorization_is_invalid_request(client):
    """A b64token has no space (2.1); "Bearer" alone is no credentials at all."""
    response = client.get("/oauth2/userinfo", HTTP_AUTHORIZATION="Bearer a b c")
    assert response.status_code == 400
    assert 'error="invalid_request"' in response["WWW-Authenticate"]


# --- RP-Initiated Logout 1.0 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", [AFTER + "/", AFTER + "?x=1", AFTER.upper().replace("HTTPS", "https")]
)
def test_logout_2_post_logout_redirect_uri_exact_match(client, user, logout_client, target):
    response = client.get(
        "/oauth2/end-session?"
        + urlencode(
            {"id_token_hint": hint_for(user, logout_client), "post_logout_redirect_uri": target}
        )
    )
    assert response.status_code != 302


def test_logout_2_state_is_echoed(client, user, logout_client):
    response = client.get(
        "/oauth2/end-session?"
        + urlencode(
            {
                "id_token_hint": hint_for(user, logout_client),
                "post_logout_redirect_uri": AFTER,
                "state": "s t",
            }
        )
    )
    assert response.status_code == 302
    assert query_of(response["Location"]) == {"state": "s t"}


def test_logout_2_foreign_id_token_hint_is_refused(client, user, logout_client):
    from joserfc import jwt
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    now = int(time.time())
    forged = jwt.encode(
        {"alg": "ES256"},
        {
            "iss": ISSUER,
            "sub": str(user.pk),
            "aud": logout_client.client.client_id,
            "iat": now,
            "exp": now + 60,
        },
        key,
    )
    response = client.get(
        "/oauth2/end-session?"
        + urlencode({"id_token_hint": forged, "post_logout_redirect_uri": AFTER})
    )
    assert response.status_code == 400 and "Location" not in response
