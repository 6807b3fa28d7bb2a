"""ID tokens in EdDSA (the default, better-auth's), ES256 or RS256 (what OpenID Connect makes
a provider offer and assumes for a client that names no algorithm): chosen by
``OAUTH2_ID_TOKEN_SIGNING_ALG`` or the client's registered ``id_token_signed_response_alg``,
each algorithm's key in the ``jwks`` table, published before its first token."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from authlib.oidc.core.util import create_half_hash
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from joserfc import jws, jwt
from joserfc.jwk import JWKRegistry, KeySet

from beep_iam.models import Jwks, OAuthClient
from beep_iam.oauth2 import keys
from beep_iam.services.oauth_clients import register_client
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, basic, get_code, pkce
from tests.oauth2.test_code_flow import exchange

pytestmark = pytest.mark.django_db

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def settings_with(**overrides: Any) -> Any:
    from django.conf import settings

    return override_settings(BEEP_IAM={**settings.BEEP_IAM, "OAUTH2_ISSUER": ISSUER, **overrides})


def id_token_of(http: Client, user: Any, registered: Any) -> tuple[dict, dict, dict]:
    """A code flow's ID token: its header and claims (verified with the published keys, in
    the algorithm its header names) and the token response."""
    http.force_login(user)
    verifier, challenge = pkce()
    code = get_code(http, registered.client.client_id, challenge)
    body = exchange(http, registered, code, verifier).json()
    published = Client().get("/jwks").json()
    for key in published["keys"]:
        assert not PRIVATE_MEMBERS & set(key), key
    alg = jws.extract_compact(body["id_token"].encode()).headers()["alg"]
    decoded = jwt.decode(body["id_token"], KeySet.import_key_set(published), algorithms=[alg])
    return dict(decoded.header), dict(decoded.claims), body


def web_client(**extra: Any) -> Any:
    return register_client(
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "email", "offline_access"],
        **extra,
    )


def test_eddsa_by_default(client, user):
    header, _, _ = id_token_of(client, user, web_client())
    assert header["alg"] == "EdDSA"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_the_setting_chooses_the_default_algorithm(client, user, alg):
    with settings_with(OAUTH2_ID_TOKEN_SIGNING_ALG=alg):
        before = Client().get("/jwks").json()["keys"]
        assert alg in {k["alg"] for k in before}  # published before its first token
        header, claims, body = id_token_of(client, user, web_client())
    assert header["alg"] == alg
    assert header["kid"] in {k["kid"] for k in before}
    assert claims["at_hash"] == create_half_hash(body["access_token"], alg).decode()


def test_a_client_registered_algorithm_wins_and_its_key_is_published_at_once(client, user):
    registered = web_client(metadata={"id_token_signed_response_alg": "RS256"})
    published = Client().get("/jwks").json()["keys"]
    rsa = [k for k in published if k["alg"] == "RS256"]
    assert len(rsa) == 1 and rsa[0]["kty"] == "RSA" and "crv" not in rsa[0]
    header, _, body = id_token_of(client, user, registered)
    assert header["alg"] == "RS256" and header["kid"] == rsa[0]["kid"]
    refreshed = (
        Client()
        .post(
            "/oauth2/token",
            f"grant_type=refresh_token&refresh_token={body['refresh_token']}",
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
        )
        .json()
    )
    assert (
        jwt.decode(
            refreshed["id_token"], KeySet.import_key_set({"keys": rsa}), algorithms=["RS256"]
        ).header["kid"]
        == rsa[0]["kid"]
    )


def test_an_algorithm_this_server_lacks_falls_back_to_the_default(client, user):
    # A value written by other tools: the relying party will refuse the token, as it should.
    header, _, _ = id_token_of(
        client, user, web_client(metadata={"id_token_signed_response_alg": "PS512"})
    )
    assert header["alg"] == "EdDSA"


def test_better_auths_string_form_of_metadata_is_read(client, user):
    registered = web_client()
    OAuthClient.objects.filter(pk=registered.client.pk).update(
        metadata=json.dumps({"id_token_signed_response_alg": "ES256"})
    )
    registered.client.refresh_from_db()
    header, _, _ = id_token_of(client, user, registered)
    assert header["alg"] == "ES256"


def test_rotating_one_algorithm_leaves_the_others_signing():
    eddsa = keys.signing_key()
    rsa = keys.signing_key(alg="RS256")
    out = StringIO()
    call_command("rotate_signing_key", "--alg", "RS256", stdout=out)
    assert "RS256" in out.getvalue()
    assert keys.signing_key().kid == eddsa.kid
    new_rsa = keys.signing_key(alg="RS256")
    assert new_rsa.kid != rsa.kid
    published = {k["kid"] for k in keys.published_keys()}
    assert {eddsa.kid, rsa.kid, new_rsa.kid} <= published  # the old one until the grace ends
    with pytest.raises(CommandError):
        call_command("rotate_signing_key", "--alg", "HS256", stdout=out)


def test_private_members_are_never_published():
    row = keys.create_key(alg="RS256")
    # A row written by other tools with private material in its public column.
    full = JWKRegistry.import_key(keys._load_private(row)).as_dict(private=True)
    Jwks.objects.filter(pk=row.pk).update(public_key=json.dumps(full))
    (listed,) = [k for k in keys.published_keys() if k["kid"] == row.pk]
    assert not PRIVATE_MEMBERS & set(listed)
    assert listed["n"] == full["n"] and listed["e"] == full["e"]


def test_discovery_offers_rs256():
    with settings_with():
        document = Client().get("/.well-known/openid-configuration").json()
    assert "RS256" in document["id_token_signing_alg_values_supported"]


# --- dynamic registration ------------------------------------------------------------------


@pytest.fixture
def open_registration():
    with settings_with(OAUTH2_REGISTRATION="open", OAUTH2_RATE_LIMITS={"register": None}):
        yield


def register(body: dict[str, Any]) -> Any:
    return Client().post("/oauth2/register", json.dumps(body), content_type="application/json")


def test_registration_takes_a_supported_algorithm(open_registration):
    response = register({"redirect_uris": [REDIRECT_URI], "id_token_signed_response_alg": "RS256"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id_token_signed_response_alg"] == "RS256"
    row = OAuthClient.objects.get(client_id=body["client_id"])
    assert row.registered("id_token_signed_response_alg") == "RS256"
    assert Jwks.objects.filter(alg="RS256").exists()  # published before the first token


@pytest.mark.parametrize("alg", ["PS512", "none", "HS256", 256])
def test_registration_refuses_an_algorithm_this_server_lacks(open_registration, alg):
    response = register({"redirect_uris": [REDIRECT_URI], "id_token_signed_response_alg": alg})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert "id_token_signed_response_alg" in response.json()["error_description"]


def test_an_update_replaces_the_algorithm_and_keeps_other_metadata(open_registration):
    body = register(
        {"redirect_uris": [REDIRECT_URI], "id_token_signed_response_alg": "ES256"}
    ).json()
    row = OAuthClient.objects.get(client_id=body["client_id"])
    row.metadata = {
        **(row.metadata_object() or {}),
        "require_pushed_authorization_requests": True,
    }  # an operator's
    row.save()
    url = body["registration_client_uri"].removeprefix(ISSUER)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['registration_access_token']}"}
    read = Client().get(url, **auth).json()
    assert read["id_token_signed_response_alg"] == "ES256"
    del read["id_token_signed_response_alg"]  # RFC 7592 2.2: left out, removed
    updated = Client().put(url, json.dumps(read), content_type="application/json", **auth)
    assert updated.status_code == 200, updated.content
    assert "id_token_signed_response_alg" not in updated.json()
    row.refresh_from_db()
    # The operator's key and the server's own marker stay.
    assert row.metadata == {"require_pushed_authorization_requests": True, "self_registered": True}


def test_a_row_without_alg_is_what_its_key_is():
    """Rows from before better-auth had the alg column: better-auth reads them as its
    configured algorithm, which their key shows; an RSA row is never used for EdDSA."""
    rsa = keys.create_key(alg="RS256")
    Jwks.objects.filter(pk=rsa.pk).update(alg=None, crv=None)
    (listed,) = [k for k in keys.published_keys() if k["kid"] == rsa.pk]
    assert listed["alg"] == "RS256" and listed["kty"] == "RSA"
    eddsa = keys.signing_key()  # the newest row without alg is RSA: not this one
    assert eddsa.kid != rsa.pk and eddsa.alg == "EdDSA"
    assert keys.signing_key(alg="RS256").kid == rsa.pk
    assert keys.signing_key(rsa.pk).alg == "RS256"
    keys.create_key(alg="EdDSA", expire_current=True)  # rotating EdDSA leaves the RSA row
    assert keys.signing_key(alg="RS256").kid == rsa.pk


def test_an_update_cannot_keep_the_algorithm_in_metadata_that_is_no_object(open_registration):
    body = register(
        {"redirect_uris": [REDIRECT_URI], "id_token_signed_response_alg": "ES256"}
    ).json()
    OAuthClient.objects.filter(client_id=body["client_id"]).update(metadata=["legacy"])
    url = body["registration_client_uri"].removeprefix(ISSUER)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['registration_access_token']}"}
    read = Client().get(url, **auth).json()
    read["id_token_signed_response_alg"] = "RS256"
    refused = Client().put(url, json.dumps(read), content_type="application/json", **auth)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
    assert OAuthClient.objects.get(client_id=body["client_id"]).metadata == ["legacy"]
    del read["id_token_signed_response_alg"]  # nothing to keep: the update goes through
    updated = Client().put(url, json.dumps(read), content_type="application/json", **auth)
    assert updated.status_code == 200, updated.content
