"""Redeeming codes, refreshing, ID tokens, and what the token endpoint refuses on the way."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from beep_iam.models import OAuthAccessToken, OAuthClient, OAuthRefreshToken, Verification
from beep_iam.services.oauth_tokens import validate_access_token
from beep_shared import crypto
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, authorize_url, basic, get_code, pkce
from tests.oauth2.test_registration import configure

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def exchange(http, registered, code, verifier, **extra):
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        **extra,
    }
    body = {k: v for k, v in body.items() if v is not None}
    from urllib.parse import urlencode

    return http.post(
        "/oauth2/token",
        urlencode(body),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
    )


def refresh(http, registered, token, **extra):
    from urllib.parse import urlencode

    return http.post(
        "/oauth2/token",
        urlencode({"grant_type": "refresh_token", "refresh_token": token, **extra}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
    )


def verify_id_token(http, id_token: str) -> dict:
    keys = KeySet.import_key_set(http.get("/jwks").json())
    return jwt.decode(id_token, keys, algorithms=["EdDSA"]).claims


def test_code_with_pkce_gives_tokens_and_an_id_token(signed_in, web, user):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    response = exchange(signed_in, web, code, verifier)
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["scope"] == "openid email offline_access"
    info = validate_access_token(body["access_token"])
    assert info.user_id == user.pk and info.client_id == web.client.client_id
    assert body["refresh_token"]
    claims = verify_id_token(signed_in, body["id_token"])
    assert claims["iss"] == ISSUER
    assert claims["sub"] == user.pk
    assert claims["aud"] == web.client.client_id
    assert claims["azp"] == web.client.client_id
    assert claims["nonce"] == "n-456"
    assert claims["email"] == "alice@example.com" and claims["email_verified"] is True
    assert "name" not in claims  # no profile scope
    assert claims["exp"] - claims["iat"] == 36_000
    assert abs(claims["auth_time"] - int(user.last_login.timestamp())) <= 1
    from authlib.oidc.core.util import create_half_hash

    assert claims["at_hash"] == create_half_hash(body["access_token"], "EdDSA").decode()
    # Neither the code nor a token is in the database in clear.
    assert not Verification.objects.filter(identifier=code).exists()
    assert not OAuthAccessToken.objects.filter(token=body["access_token"]).exists()


def test_without_offline_access_no_refresh_token(signed_in, web):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge, scope="openid")
    body = exchange(signed_in, web, code, verifier).json()
    assert "refresh_token" not in body and "id_token" in body


def test_public_client_with_pkce(signed_in, spa):
    from urllib.parse import urlencode

    verifier, challenge = pkce()
    code = get_code(
        signed_in,
        spa.client.client_id,
        challenge,
        redirect_uri="http://127.0.0.1/cb",
        scope="openid",
    )
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://127.0.0.1/cb",
        "code_verifier": verifier,
        "client_id": spa.client.client_id,
    }
    response = signed_in.post("/oauth2/token", urlencode(body), content_type=FORM)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("verifier", ["wrong" * 10, None])
def test_wrong_or_missing_verifier(signed_in, web, verifier):
    _, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    response = exchange(signed_in, web, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_replayed_code_is_refused_and_revokes_what_it_issued(signed_in, web):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    first = exchange(signed_in, web, code, verifier).json()
    rotated = refresh(signed_in, web, first["refresh_token"]).json()
    assert validate_access_token(rotated["access_token"]) is not None
    replay = exchange(signed_in, web, code, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert validate_access_token(first["access_token"]) is None
    assert validate_access_token(rotated["access_token"]) is None
    refused = refresh(signed_in, web, rotated["refresh_token"])
    assert refused.json()["error"] == "invalid_grant"


def test_expired_code(signed_in, web):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    # Well before the test's transaction began: the redemption compares with now(), the
    # transaction's start, which a loaded machine may put over a second in the past.
    Verification.objects.filter(identifier=crypto.digest(code)).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    response = exchange(signed_in, web, code, verifier)
    assert response.json()["error"] == "invalid_grant"


def test_another_clients_code(signed_in, web):
    from beep_iam.services.oauth_clients import register_client

    other = register_client(redirect_uris=[REDIRECT_URI], grant_types=["authorization_code"])
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    response = exchange(signed_in, other, code, verifier)
    assert response.json()["error"] == "invalid_grant"
    # Consumed by the attempt: the rightful client cannot use it either (single use).
    assert exchange(signed_in, web, code, verifier).json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_the_requests(signed_in, web):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    response = exchange(signed_in, web, code, verifier, redirect_uri="https://client.example.com/x")
    assert response.json()["error"] == "invalid_grant"


def test_banned_or_inactive_user_gets_no_tokens(signed_in, web, user):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    user.banned = True
    user.save()
    response = exchange(signed_in, web, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_refresh_rotates_and_detects_reuse(signed_in, web):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    first = exchange(signed_in, web, code, verifier).json()
    second = refresh(signed_in, web, first["refresh_token"])
    assert second.status_code == 200, second.content
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert "id_token" in second
    # Reuse of the rotated token revokes the family, the fresh pair included.
    reused = refresh(signed_in, web, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert validate_access_token(second["access_token"]) is None
    assert OAuthRefreshToken.objects.filter(revoked__isnull=True).count() == 0


def test_refresh_may_narrow_but_not_widen(signed_in, web):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge, scope="email offline_access")
    first = exchange(signed_in, web, code, verifier).json()
    wider = refresh(signed_in, web, first["refresh_token"], scope="email profile")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    narrower = refresh(signed_in, web, first["refresh_token"], scope="email")
    assert narrower.status_code == 200 and narrower.json()["scope"] == "email"


def test_another_clients_refresh_token(signed_in, web):
    from beep_iam.services.oauth_clients import register_client

    other = register_client(
        redirect_uris=[REDIRECT_URI], grant_types=["authorization_code", "refresh_token"]
    )
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    first = exchange(signed_in, web, code, verifier).json()
    response = refresh(signed_in, other, first["refresh_token"])
    assert response.json()["error"] == "invalid_grant"
    assert refresh(signed_in, web, first["refresh_token"]).status_code == 200


def test_the_code_value_is_what_better_auth_parses(signed_in, web, user):
    """The fields better-auth 1.7's verificationValueSchema requires, with their types."""
    _, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    value = json.loads(Verification.objects.get(identifier=crypto.digest(code)).value)
    assert value["type"] == "authorization_code"
    assert isinstance(value["query"], dict)
    assert isinstance(value["sessionId"], str)
    assert isinstance(value["userId"], str)
    assert "referenceId" not in value or isinstance(value["referenceId"], str)


def test_redirect_uri_left_out_of_the_request_is_left_out_at_the_token_endpoint(signed_in, web):
    # Not an OpenID Connect request: OAuth 2.1 lets a client with one redirect URI omit it.
    oauth_only = {"redirect_uri": "", "scope": "email offline_access"}
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge, **oauth_only)
    assert exchange(signed_in, web, code, verifier, redirect_uri=None).status_code == 200
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge, **oauth_only)
    response = exchange(signed_in, web, code, verifier)  # names one the request did not
    assert response.json()["error"] == "invalid_grant"


def test_an_openid_request_without_redirect_uri_is_shown_an_error(signed_in, web):
    """OIDC Core 3.1.2.1: redirect_uri is required; the error is a page, never a redirect
    (RFC 6749 4.1.2.1), even to the one URI the client registered."""
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge, redirect_uri=""))
    assert response.status_code == 400
    assert b"redirect_uri is required in an OpenID Connect request" in response.content
    assert not Verification.objects.exists()


@pytest.fixture
def open_registration():
    with configure():
        yield


def test_a_native_app_registered_with_a_private_use_scheme_gets_its_code(
    signed_in, open_registration
):
    """RFC 8252 7.1: a native app registers (DCR) a reverse-domain private-use redirect URI;
    the consent page names the app's scheme and the code comes back to that URI."""
    app_uri = "com.example.notes:/oauth2redirect"
    registered = signed_in.post(
        "/oauth2/register",
        json.dumps(
            {
                "redirect_uris": [app_uri],
                "application_type": "native",
                "token_endpoint_auth_method": "none",
                "client_name": "Notes",
            }
        ),
        content_type="application/json",
    )
    assert registered.status_code == 201, registered.content
    client_id = registered.json()["client_id"]
    verifier, challenge = pkce()
    url = authorize_url(client_id, challenge, redirect_uri=app_uri, scope="openid")
    page = signed_in.get(url)
    assert page.status_code == 200
    assert b"<strong>com.example.notes</strong>" in page.content
    allowed = signed_in.post(url, {"decision": "allow"})
    assert allowed.status_code == 302
    location = allowed["Location"]
    assert location.startswith(app_uri + "?code=")
    code = dict(pair.split("=", 1) for pair in location.split("?", 1)[1].split("&"))["code"]
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app_uri,
        "code_verifier": verifier,
        "client_id": client_id,
    }
    tokens = signed_in.post("/oauth2/token", urlencode(body), content_type=FORM)
    assert tokens.status_code == 200, tokens.content
    # A web client may not register one.
    web = signed_in.post(
        "/oauth2/register",
        json.dumps({"redirect_uris": [app_uri], "token_endpoint_auth_method": "none"}),
        content_type="application/json",
    )
    assert web.status_code == 400
    assert web.json()["error"] == "invalid_redirect_uri"


def test_a_stored_redirect_uri_no_validator_saw_is_never_a_relative_redirect(signed_in, web):
    """A row written around the validators (raw SQL) with a URI that is no absolute URI:
    a 400, not a Location the browser resolves against this server (with the code)."""
    odd = "com.exampl\u212a.app:/cb"
    OAuthClient.objects.filter(pk=web.client.pk).update(redirect_uris=[odd], skip_consent=True)
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge, redirect_uri=odd))
    assert response.status_code == 400
    assert not response.has_header("Location")
