"""Resource indicators (RFC 8707) on the authorization and token endpoints, the JWT access
tokens (RFC 9068) they yield, and every refusal on the way."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from beep_iam.models import (
    OAuthAccessToken,
    OAuthClientResource,
    OAuthConsent,
    OAuthRefreshToken,
    OAuthResource,
)
from beep_iam.oauth2 import access_jwt
from tests.oauth2.conftest import ISSUER, authorize_url, basic, get_code, pkce, query_of
from tests.oauth2.test_code_flow import exchange, refresh

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
API = "https://api.example.com/invoices"
MCP = "https://mcp.example.com/mcp"
USERINFO = f"{ISSUER}/oauth2/userinfo"


def resource(identifier: str, *clients, **fields) -> OAuthResource:
    row = OAuthResource.objects.create(identifier=identifier, name=f"{identifier} API", **fields)
    for registered in clients:
        OAuthClientResource.objects.create(client_id=registered.client.client_id, resource=row)
    return row


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def decode(token: str, http, alg: str = "EdDSA") -> tuple[dict, dict]:
    keys = KeySet.import_key_set(http.get("/jwks").json())
    decoded = jwt.decode(token, keys, algorithms=[alg])
    return dict(decoded.header), dict(decoded.claims)


def authorize_error(http, registered, **extra) -> dict[str, str]:
    _, challenge = pkce()
    response = http.get(authorize_url(registered.client.client_id, challenge, **extra))
    assert response.status_code == 302, response.content
    return query_of(response["Location"])


def machine_token(http, registered, **form):
    return http.post(
        "/oauth2/token",
        urlencode({"grant_type": "client_credentials", **form}, doseq=True),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
    )


# --- authorization endpoint ---------------------------------------------------------------


def test_authorize_refuses_an_unknown_resource(signed_in, web):
    params = authorize_error(signed_in, web, resource=API)
    assert params["error"] == "invalid_target"
    assert "not registered" in params["error_description"]
    assert params["state"] == "st-123" and params["iss"] == ISSUER


def test_authorize_refuses_a_resource_not_linked_to_the_client(signed_in, web, spa):
    resource(API, spa)
    params = authorize_error(signed_in, web, resource=API)
    assert params["error"] == "invalid_target"
    assert "may not ask for resource" in params["error_description"]


def test_authorize_refuses_a_disabled_resource(signed_in, web):
    resource(API, web, disabled=True)
    assert authorize_error(signed_in, web, resource=API)["error"] == "invalid_target"


@pytest.mark.parametrize("bad", ["not-a-uri", "https://api.example.com/x#frag", "/relative"])
def test_authorize_refuses_a_malformed_resource(signed_in, web, bad):
    assert authorize_error(signed_in, web, resource=bad)["error"] == "invalid_target"


def test_consent_records_the_resources_and_is_asked_again_for_a_new_one(signed_in, web, user):
    resource(API, web)
    resource(MCP, web)
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge, resource=API)
    page = signed_in.get(url)
    assert page.status_code == 200  # the consent page, naming the resource asked for
    assert f"<code>{API}</code>".encode() in page.content
    assert MCP.encode() not in page.content
    signed_in.post(url, {"decision": "allow"})
    consent = OAuthConsent.objects.get(client_id=web.client.client_id, user=user)
    assert consent.resources == [API]
    assert signed_in.get(url).status_code == 302  # covered now
    other = authorize_url(web.client.client_id, challenge, resource=MCP)
    assert signed_in.get(other).status_code == 200  # a new resource: asked again
    # A consent given again without a resource keeps the recorded ones (better-auth's update).
    plain = authorize_url(web.client.client_id, challenge, prompt="consent")
    assert signed_in.post(plain, {"decision": "allow"}).status_code == 302
    consent.refresh_from_db()
    assert consent.resources == [API]


# --- authorization code -------------------------------------------------------------------


def test_code_for_a_resource_gives_a_jwt_access_token(signed_in, web, user):
    resource(API, web)
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge, resource=API)
    response = exchange(signed_in, web, code, verifier)
    assert response.status_code == 200, response.content
    body = response.json()
    header, claims = decode(body["access_token"], signed_in)
    assert header["typ"] == "at+jwt" and header["alg"] == "EdDSA" and header["kid"]
    assert claims["iss"] == ISSUER
    assert claims["sub"] == str(user.pk)
    assert claims["aud"] == [API, USERINFO]  # openid: the userinfo endpoint too
    assert claims["client_id"] == claims["azp"] == web.client.client_id
    assert claims["scope"] == "openid email offline_access"
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 3600
    assert len(claims["jti"]) >= 32
    # Nothing stored for the JWT; the refresh token keeps the authorized resources.
    assert not OAuthAccessToken.objects.filter(client_id=web.client.client_id).exists()
    assert OAuthRefreshToken.objects.get(client_id=web.client.client_id).resources == [API]
    # Its ID token's at_hash is the JWT's, and userinfo takes the JWT (its audience).
    from authlib.oidc.core.util import create_half_hash

    id_claims = decode(body["id_token"], signed_in)[1]
    assert id_claims["at_hash"] == create_half_hash(body["access_token"], "EdDSA").decode()
    info = signed_in.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert info.status_code == 200 and info.json()["sub"] == str(user.pk)


def test_code_without_a_resource_still_gives_an_opaque_token(signed_in, web):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    body = exchange(signed_in, web, code, verifier).json()
    assert not access_jwt.looks_like_jwt(body["access_token"])
    assert OAuthAccessToken.objects.filter(client_id=web.client.client_id).count() == 1


def test_two_resources_then_one_at_the_token_endpoint(signed_in, web):
    resource(API, web)
    resource(MCP, web)
    verifier, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge, scope="email offline_access")
    url += "&" + urlencode({"resource": [API, MCP]}, doseq=True)
    response = signed_in.get(url)
    response = signed_in.post(url, {"decision": "allow"})
    code = query_of(response["Location"])["code"]
    body = exchange(signed_in, web, code, verifier, resource=MCP).json()
    assert decode(body["access_token"], signed_in)[1]["aud"] == MCP
    assert OAuthRefreshToken.objects.get(client_id=web.client.client_id).resources == [API, MCP]


def test_token_request_may_not_name_a_resource_the_code_was_not_for(signed_in, web):
    resource(API, web)
    resource(MCP, web)
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge, resource=API)
    response = exchange(signed_in, web, code, verifier, resource=MCP)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_token_request_may_not_add_a_resource_to_a_code_without_one(signed_in, web):
    resource(API, web)
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    response = exchange(signed_in, web, code, verifier, resource=API)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


# --- refresh ------------------------------------------------------------------------------


def _two_resource_grant(http, web) -> dict:
    resource(API, web)
    resource(MCP, web)
    verifier, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge, scope="email offline_access")
    url += "&" + urlencode({"resource": [API, MCP]}, doseq=True)
    http.get(url)
    code = query_of(http.post(url, {"decision": "allow"})["Location"])["code"]
    return exchange(http, web, code, verifier).json()


def test_refresh_may_narrow_the_resources(signed_in, web):
    first = _two_resource_grant(signed_in, web)
    assert decode(first["access_token"], signed_in)[1]["aud"] == [API, MCP]
    narrowed = refresh(signed_in, web, first["refresh_token"], resource=API)
    assert narrowed.status_code == 200, narrowed.content
    assert decode(narrowed.json()["access_token"], signed_in)[1]["aud"] == API
    # The new refresh token still holds both: a later refresh may ask for the other one.
    again = refresh(signed_in, web, narrowed.json()["refresh_token"], resource=MCP)
    assert decode(again.json()["access_token"], signed_in)[1]["aud"] == MCP
    # Naming none: all that was authorized.
    whole = refresh(signed_in, web, again.json()["refresh_token"])
    assert decode(whole.json()["access_token"], signed_in)[1]["aud"] == [API, MCP]


def test_refresh_may_not_widen_the_resources(signed_in, web):
    first = _two_resource_grant(signed_in, web)
    other = "https://other.example.com/api"
    resource(other, web)
    response = refresh(signed_in, web, first["refresh_token"], resource=other)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
    # Refused before the rotation: the refresh token is still good.
    assert refresh(signed_in, web, first["refresh_token"]).status_code == 200


def test_refresh_may_not_add_a_resource_to_a_grant_without_one(signed_in, web):
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge)
    first = exchange(signed_in, web, code, verifier).json()
    resource(API, web)
    response = refresh(signed_in, web, first["refresh_token"], resource=API)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
    assert refresh(signed_in, web, first["refresh_token"]).status_code == 200


# --- client credentials ---------------------------------------------------------------------


def test_client_credentials_for_a_resource(client, machine):
    resource(API, machine, allowed_scopes=["invoices:read"], access_token_ttl=300)
    response = machine_token(client, machine, resource=API)
    assert response.status_code == 200, response.content
    body = response.json()
    header, claims = decode(body["access_token"], client)
    assert header["typ"] == "at+jwt"
    assert claims["sub"] == claims["client_id"] == machine.client.client_id
    assert claims["aud"] == API
    # The resource's allowed scopes narrow the grant, its ttl shortens the token.
    assert claims["scope"] == body["scope"] == "invoices:read"
    assert body["expires_in"] == claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize("case", ["unknown", "unlinked", "disabled"])
def test_client_credentials_refuses_a_resource(client, machine, web, case):
    if case == "unlinked":
        resource(API, web)
    elif case == "disabled":
        resource(API, machine, disabled=True)
    response = machine_token(client, machine, resource=API)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
    assert not OAuthAccessToken.objects.exists()


def test_client_credentials_refuses_a_resource_allowing_none_of_the_scopes(client, machine):
    resource(API, machine, allowed_scopes=["reports:read"])
    response = machine_token(client, machine, resource=API)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_resource_pinning_an_algorithm_gets_tokens_signed_with_it(client, machine, alg):
    resource(API, machine, signing_algorithm=alg)
    published = client.get("/jwks").json()["keys"]  # before the first token
    assert alg in {k["alg"] for k in published}
    response = machine_token(client, machine, resource=API)
    assert response.status_code == 200, response.content
    header, claims = decode(response.json()["access_token"], client, alg)
    assert header["alg"] == alg and claims["aud"] == API
    introspected = client.post(
        "/oauth2/introspect",
        urlencode({"token": response.json()["access_token"]}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert introspected.json()["active"] is True


def test_a_resource_pinning_an_algorithm_this_server_lacks_is_refused(client, machine):
    resource(API, machine, signing_algorithm="PS512")
    response = machine_token(client, machine, resource=API)
    assert response.status_code == 400
    assert "PS512" in response.json()["error_description"]


def test_custom_claims_of_the_resource_never_replace_the_servers(client, machine):
    resource(API, machine, custom_claims={"tier": "gold", "sub": "someone-else", "aud": "x"})
    body = machine_token(client, machine, resource=API).json()
    claims = decode(body["access_token"], client)[1]
    assert claims["tier"] == "gold"
    assert claims["sub"] == machine.client.client_id and claims["aud"] == API


# --- introspection and revocation of a JWT access token ----------------------------------


def _introspect(http, registered, token):
    return http.post(
        "/oauth2/introspect",
        urlencode({"token": token}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
    )


def test_introspection_of_a_jwt(client, machine, web):
    row = resource(API, machine)
    token = machine_token(client, machine, resource=API).json()["access_token"]
    body = _introspect(client, machine, token).json()
    assert body["active"] is True and body["aud"] == API
    assert body["client_id"] == machine.client.client_id and body["scope"]
    # Another client sees it inactive, unless it is linked to the token's resource (the
    # resource server's own client, as better-auth allows).
    assert _introspect(client, web, token).json() == {"active": False}
    OAuthClientResource.objects.create(client_id=web.client.client_id, resource=row)
    assert _introspect(client, web, token).json()["active"] is True


def test_revoking_a_jwt_says_it_cannot_be_revoked(client, machine):
    resource(API, machine)
    token = machine_token(client, machine, resource=API).json()["access_token"]
    response = client.post(
        "/oauth2/revoke",
        urlencode({"token": token}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_token_type"


def test_a_jwt_stops_verifying_when_its_resource_is_deleted(client, machine):
    row = resource(API, machine)
    token = machine_token(client, machine, resource=API).json()["access_token"]
    assert access_jwt.validate(token, API) is not None
    row.delete()
    assert access_jwt.validate(token, API) is None
    assert _introspect(client, machine, token).json() == {"active": False}


def test_a_token_signed_otherwise_or_typed_otherwise_is_refused(client, machine):
    resource(API, machine)
    token = machine_token(client, machine, resource=API).json()["access_token"]
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert access_jwt.validate(tampered, API) is None
    # An ID token of this server (typ JWT, same keys) is no access token.
    from beep_iam.oauth2 import keys

    key = keys.signing_key()
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "x", "aud": API, "client_id": machine.client.client_id}
    claims |= {"iat": now, "exp": now + 60}
    id_like = jwt.encode({"alg": "EdDSA", "kid": key.kid}, claims, key.key, algorithms=["EdDSA"])
    assert access_jwt.validate(id_like, API) is None


def test_a_resource_pinning_a_key_is_signed_with_it(client, machine):
    from beep_iam.oauth2 import keys

    pinned = keys.create_key()
    keys.create_key()  # newer: what would sign otherwise
    resource(API, machine, signing_key_id=pinned.pk)
    body = machine_token(client, machine, resource=API).json()
    assert decode(body["access_token"], client)[0]["kid"] == pinned.pk


def test_a_resource_pinning_a_missing_key_is_refused(client, machine):
    resource(API, machine, signing_key_id="no-such-key")
    response = machine_token(client, machine, resource=API)
    assert response.status_code == 400
    assert "no-such-key" in response.json()["error_description"]


def test_a_resource_requiring_dpop_gets_no_bearer_token(client, machine):
    resource(API, machine, dpop_bound_access_tokens_required=True)
    response = machine_token(client, machine, resource=API)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"
    assert "DPoP" in response.json()["error_description"]
    assert not OAuthAccessToken.objects.exists()


def test_a_resources_refresh_token_ttl_shortens_the_refresh_token(signed_in, web):
    from datetime import timedelta

    from django.utils import timezone

    resource(API, web, refresh_token_ttl=600)
    verifier, challenge = pkce()
    code = get_code(signed_in, web.client.client_id, challenge, resource=API)
    first = exchange(signed_in, web, code, verifier).json()
    rotated = refresh(signed_in, web, first["refresh_token"]).json()
    assert rotated["refresh_token"]
    for row in OAuthRefreshToken.objects.filter(client_id=web.client.client_id):
        assert row.expires_at is not None
        assert row.expires_at - timezone.now() <= timedelta(seconds=600)


def test_a_resource_written_without_the_save_hook_has_its_key_at_jwks(client, machine):
    """A row better-auth wrote (or an update): /jwks makes its algorithm's key before the
    first token."""
    row = resource(API, machine)
    OAuthResource.objects.filter(pk=row.pk).update(signing_algorithm="ES256")
    assert "ES256" in {k["alg"] for k in client.get("/jwks").json()["keys"]}
