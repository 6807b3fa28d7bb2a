"""UserInfo, revocation, introspection, discovery, JWKS and the signing keys."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from joserfc import jwt
from joserfc.jwk import KeySet

from beep_iam.conf import load
from beep_iam.models import Jwks
from beep_iam.oauth2 import keys
from beep_iam.oauth2.claims import id_token
from beep_iam.services.oauth_tokens import issue_tokens, validate_access_token
from tests.oauth2.conftest import ISSUER, basic, with_issuer

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


def form(http, path, body, registered=None):
    headers = {}
    if registered is not None:
        headers["HTTP_AUTHORIZATION"] = basic(registered.client.client_id, registered.client_secret)
    return http.post(path, urlencode(body), content_type=FORM, **headers)


# --- userinfo ------------------------------------------------------------------------------


def test_userinfo_get_and_post(client, web, user):
    issued = issue_tokens(web.client, scopes=["openid", "profile", "email"], user=user)
    for method in (client.get, client.post):
        response = method("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {issued.access_token}")
        assert response.status_code == 200, response.content
        assert response.json() == {
            "sub": user.pk,
            "name": "Alice Example",
            "email": "alice@example.com",
            "email_verified": True,
        }


def test_userinfo_refusals(client, web, user):
    response = client.get("/oauth2/userinfo")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    response = client.get("/oauth2/userinfo", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    issued = issue_tokens(web.client, scopes=["email"], user=user)
    response = client.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {issued.access_token}")
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    user.is_active = False
    user.save()
    issued = issue_tokens(web.client, scopes=["openid"], user=None)
    response = client.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {issued.access_token}")
    assert response.status_code == 401  # a token without a user has no userinfo


# --- revocation ----------------------------------------------------------------------------


def test_revoking_a_refresh_token_ends_its_access_tokens(client, web, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user, with_refresh=True)
    response = form(client, "/oauth2/revoke", {"token": issued.refresh_token}, web)
    assert response.status_code == 200
    assert validate_access_token(issued.access_token) is None


def test_revoking_another_clients_token_changes_nothing(client, web, machine, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    response = form(client, "/oauth2/revoke", {"token": issued.access_token}, machine)
    assert response.status_code == 200
    assert validate_access_token(issued.access_token) is not None


def test_revocation_refusals(client, web):
    assert form(client, "/oauth2/revoke", {"token": "x"}).status_code == 401
    response = form(client, "/oauth2/revoke", {}, web)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    response = form(client, "/oauth2/revoke?token=x", {}, web)
    assert response.status_code == 400
    assert form(client, "/oauth2/revoke", {"token": "unknown"}, web).status_code == 200


# --- introspection -------------------------------------------------------------------------


def test_introspection_by_the_issuing_client(client, web, machine, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    body = form(client, "/oauth2/introspect", {"token": issued.access_token}, web).json()
    assert body["active"] is True
    assert body["client_id"] == web.client.client_id
    assert body["sub"] == user.pk
    assert body["iss"] == ISSUER
    other = form(client, "/oauth2/introspect", {"token": issued.access_token}, machine).json()
    assert other == {"active": False}


def test_introspection_needs_an_authenticated_confidential_client(client, spa, web, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    response = form(
        client,
        "/oauth2/introspect",
        {"token": issued.access_token, "client_id": spa.client.client_id},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def _statements(captured) -> list[str]:
    return [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]


@pytest.mark.parametrize("hint", [None, "access_token"])
def test_introspection_reads_the_client_and_the_token_in_one_statement(client, web, user, hint):
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    body = {"token": issued.access_token, **({"token_type_hint": hint} if hint else {})}
    with CaptureQueriesContext(connection) as captured:
        answer = form(client, "/oauth2/introspect", body, web).json()
    assert answer["active"] is True and answer["client_id"] == web.client.client_id
    (statement,) = _statements(captured)
    assert "oauth_client" in statement and "oauth_access_token" in statement


def test_introspection_of_the_other_kind_reads_on(client, web, user):
    issued = issue_tokens(
        web.client, scopes=["openid", "offline_access"], user=user, with_refresh=True
    )
    assert issued.refresh_token is not None
    with CaptureQueriesContext(connection) as captured:
        answer = form(client, "/oauth2/introspect", {"token": issued.refresh_token}, web).json()
    assert answer["active"] is True and answer["token_type"] == "refresh_token"
    assert len(_statements(captured)) == 2  # the client with the access tokens, then refresh
    hinted = {"token": issued.refresh_token, "token_type_hint": "refresh_token"}
    with CaptureQueriesContext(connection) as captured:
        assert form(client, "/oauth2/introspect", hinted, web).json()["active"] is True
    assert len(_statements(captured)) == 1
    assert form(client, "/oauth2/introspect", {"token": issued.access_token}, web).json()["active"]


def test_a_token_read_with_a_client_that_fails_authentication_is_not_answered(client, web, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    wrong = basic(web.client.client_id, "not-the-secret")
    response = client.post(
        "/oauth2/introspect",
        urlencode({"token": issued.access_token}),
        content_type=FORM,
        HTTP_AUTHORIZATION=wrong,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.json()
    web.client.disabled = True
    web.client.save(update_fields=["disabled"])
    response = form(client, "/oauth2/introspect", {"token": issued.access_token}, web)
    assert response.status_code == 401
    unknown = client.post(
        "/oauth2/introspect",
        urlencode({"token": issued.access_token}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic("no-such-client", "x"),
    )
    assert unknown.status_code == 401


def test_an_unknown_or_invalid_token_read_with_the_client_is_inactive(client, web, user):
    issued = issue_tokens(web.client, scopes=["openid"], user=user)
    for token in ("unknown", issued.access_token + "x", "a" * 43):
        assert form(client, "/oauth2/introspect", {"token": token}, web).json() == {"active": False}
    validate_access_token(issued.access_token)
    user.banned = True
    user.save(update_fields=["banned"])
    body = form(client, "/oauth2/introspect", {"token": issued.access_token}, web).json()
    assert body == {"active": False}


# --- discovery -----------------------------------------------------------------------------


def test_discovery_documents(client):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        response = client.get(path)
        assert response.status_code == 200
        assert response["Cache-Control"].startswith("public, max-age=15")
        doc = response.json()
        assert doc["issuer"] == ISSUER
        assert doc["token_endpoint"] == ISSUER + "/oauth2/token"
        assert doc["authorization_endpoint"] == ISSUER + "/oauth2/authorize"
        assert doc["jwks_uri"] == ISSUER + "/jwks"
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert doc["authorization_response_iss_parameter_supported"] is True
    oidc = client.get("/.well-known/openid-configuration").json()
    assert oidc["userinfo_endpoint"] == ISSUER + "/oauth2/userinfo"
    # OpenID Connect Discovery 3: RS256 among them; EdDSA, the default, first.
    assert oidc["id_token_signing_alg_values_supported"] == ["EdDSA", "ES256", "RS256"]


def test_endpoint_urls_follow_the_issuers_origin_not_the_host_header(client):
    with with_issuer("https://auth.example.com"):
        doc = client.get("/.well-known/openid-configuration", HTTP_HOST="localhost").json()
    assert doc["token_endpoint"] == "https://auth.example.com/oauth2/token"


# Without an issuer: tests/oauth2/test_issuer_missing.py (a 503 and beep_iam.W040).


@pytest.mark.parametrize(
    "issuer",
    [
        "http://auth.example.com",
        "https://auth.example.com/",
        "https://auth.example.com?x=1",
        "https://auth.example.com#f",
        "https://user@auth.example.com",
        "auth.example.com",
        "https://auth.example.com:99999",
        42,
    ],
)
def test_bad_issuers_are_refused(issuer):
    with pytest.raises(ImproperlyConfigured, match="OAUTH2_ISSUER"):
        load({"OAUTH2_ISSUER": issuer})


@pytest.mark.parametrize(
    "issuer", ["https://auth.example.com", "https://x.example/api/auth", "http://localhost:8000"]
)
def test_good_issuers(issuer):
    assert load({"OAUTH2_ISSUER": issuer}).oauth2_issuer == issuer


# --- keys ----------------------------------------------------------------------------------


def test_jwks_publishes_public_keys_only(client):
    response = client.get("/jwks")
    assert response.status_code == 200
    assert "max-age" in response["Cache-Control"]
    published = response.json()["keys"]
    assert len(published) == 1
    (key,) = published
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"
    assert "d" not in key
    assert key["kid"] == Jwks.objects.get().pk


def test_private_keys_are_encrypted_under_the_better_auth_secret(settings):
    secret = "s" * 40
    with override_settings(BEEP_IAM={**settings.BEEP_IAM, "BETTER_AUTH_SECRET": secret}):
        row = keys.create_key()
        stored = json.loads(row.private_key)
        assert isinstance(stored, str)  # better-auth's form: hex in a JSON string
        assert json.loads(keys.decrypt(secret, stored))["d"]
        assert keys.signing_key().kid == row.pk
    with (
        override_settings(BEEP_IAM={**settings.BEEP_IAM, "BETTER_AUTH_SECRET": "t" * 40}),
        pytest.raises(ImproperlyConfigured, match="does not decrypt"),
    ):
        keys.signing_key()


def test_xchacha20_poly1305_test_vector():
    """draft-irtf-cfrg-xchacha-03 A.3.1's HChaCha20 vector."""
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    assert keys._hchacha20(key, nonce).hex() == (
        "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    )


def test_rotation_keeps_the_old_public_key_published(client, web, user):
    old_token = id_token(
        user=user, client_id=web.client.client_id, scopes=["openid"], access_token="a"
    )
    call_command("rotate_signing_key", stdout=open("/dev/null", "w"))  # noqa: SIM115
    new_token = id_token(
        user=user, client_id=web.client.client_id, scopes=["openid"], access_token="a"
    )
    published = KeySet.import_key_set(client.get("/jwks").json())
    assert len(published.keys) == 2
    old = jwt.decode(old_token, published, algorithms=["EdDSA"])
    new = jwt.decode(new_token, published, algorithms=["EdDSA"])
    assert old.header["kid"] != new.header["kid"]
    assert keys.signing_key().kid == new.header["kid"]
