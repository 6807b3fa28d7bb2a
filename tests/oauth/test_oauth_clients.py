"""Client registration, validation and authentication."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.core.exceptions import ValidationError

from beep_iam.models import OAuthClient
from beep_iam.services import oauth_clients
from beep_iam.services.oauth_errors import InvalidClient
from beep_iam.validators import validate_redirect_uri, validate_scopes
from beep_shared import crypto
from tests.factories import OAuthClientFactory, UserFactory

CALLBACK = ["https://app.example.com/callback"]


def test_digest_matches_an_independently_computed_sha256_base64url_vector():
    # FIPS 180-2 test vector for "abc", re-encoded as base64url without padding: the form
    # better-auth stores for hashed secrets and tokens.
    expected_hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hashlib.sha256(b"abc").hexdigest() == expected_hex
    expected = base64.urlsafe_b64encode(bytes.fromhex(expected_hex)).decode().rstrip("=")
    assert expected == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    assert crypto.digest("abc") == expected


@pytest.mark.django_db
def test_confidential_registration_returns_the_secret_once_and_stores_its_digest():
    user = UserFactory()
    registered = oauth_clients.register_client(
        redirect_uris=CALLBACK, name="App", user=user, scopes=["openid", "email"]
    )
    client = OAuthClient.objects.get(pk=registered.client.pk)
    raw = registered.client_secret
    assert raw and len(raw) >= 43
    assert raw not in repr(registered)
    expected = base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest()).rstrip(b"=")
    assert client.client_secret == expected.decode()
    assert client.client_secret != raw
    assert client.public is False
    assert client.grant_types == ["authorization_code"]
    assert client.response_types == ["code"]
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert client.user == user
    assert len(client.client_id) >= 32
    assert oauth_clients.verify_client_secret(client, raw)
    assert not oauth_clients.verify_client_secret(client, raw + "x")
    assert not oauth_clients.verify_client_secret(client, None)


@pytest.mark.django_db
def test_public_client_has_no_secret():
    registered = oauth_clients.register_client(
        redirect_uris=["http://127.0.0.1:8765/cb"], token_endpoint_auth_method="none"
    )
    client = registered.client
    assert registered.client_secret is None
    assert client.client_secret is None
    assert client.public is True
    assert not oauth_clients.verify_client_secret(client, "")
    assert oauth_clients.authenticate_client(client.client_id, None) == client
    with pytest.raises(InvalidClient):
        oauth_clients.authenticate_client(client.client_id, "guess")


@pytest.mark.django_db
def test_registered_client_ids_are_unique():
    ids = {oauth_clients.register_client(redirect_uris=CALLBACK).client.client_id for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.django_db
def test_authenticate_client_refuses_unknown_disabled_and_wrong_secret_alike():
    client: OAuthClient = OAuthClientFactory(raw_secret="right")
    assert oauth_clients.authenticate_client(client.client_id, "right") == client
    messages = set()
    for client_id, secret in [(client.client_id, "wrong"), ("no-such-client", "right")]:
        with pytest.raises(InvalidClient) as excinfo:
            oauth_clients.authenticate_client(client_id, secret)
        messages.add(str(excinfo.value))
    oauth_clients.disable_clients([client.client_id])
    with pytest.raises(InvalidClient) as excinfo:
        oauth_clients.authenticate_client(client.client_id, "right")
    messages.add(str(excinfo.value))
    assert len(messages) == 1  # the answer does not tell which check failed


@pytest.mark.django_db
def test_rotating_the_secret_invalidates_the_old_one():
    registered = oauth_clients.register_client(redirect_uris=CALLBACK)
    new = oauth_clients.rotate_client_secret(registered.client)
    client = OAuthClient.objects.get(pk=registered.client.pk)
    assert oauth_clients.verify_client_secret(client, new)
    assert not oauth_clients.verify_client_secret(client, registered.client_secret)


@pytest.mark.django_db
def test_a_public_client_has_no_secret_to_rotate():
    client = OAuthClientFactory(public_client=True)
    with pytest.raises(ValidationError, match="no secret"):
        oauth_clients.rotate_client_secret(client)


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/cb",
        "https://app.example.com:8443/cb?x=1",
        "http://localhost:3000/cb",
        "http://127.0.0.1/cb",
        "http://127.8.9.10:9/cb",
        "http://[::1]:8080/cb",
    ],
)
def test_valid_redirect_uris(uri):
    assert validate_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("/callback", "redirect_uri_not_absolute"),
        ("app.example.com/cb", "redirect_uri_not_absolute"),
        ("https:///cb", "redirect_uri_not_absolute"),
        ("https://app.example.com/cb#frag", "redirect_uri_fragment"),
        ("https://app.example.com/cb#", "redirect_uri_fragment"),
        ("http://app.example.com/cb", "redirect_uri_insecure"),
        ("http://localhost.evil.com/cb", "redirect_uri_insecure"),
        ("ftp://app.example.com/cb", "redirect_uri_insecure"),
        ("com.example.app:/cb", "redirect_uri_insecure"),  # a native client's only
        (" https://app.example.com/cb", "invalid_uri"),
        ("", "invalid_uri"),
    ],
)
def test_invalid_redirect_uris_name_the_field_and_rule(uri, code):
    with pytest.raises(ValidationError) as excinfo:
        validate_redirect_uri(uri)
    (error,) = excinfo.value.error_dict["redirect_uris"]
    assert error.code == code
    assert repr(uri) in error.message % error.params


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field", "named"),
    [
        (
            {"token_endpoint_auth_method": "client_secret_jwt"},
            "token_endpoint_auth_method",
            "client_secret_jwt",
        ),
        ({"grant_types": ["authorization_code", "implicit"]}, "grant_types", "implicit"),
        ({"grant_types": ["password"]}, "grant_types", "password"),
        ({"response_types": ["code", "token"]}, "response_types", "token"),
        ({"scopes": ["openid", "has space"]}, "scopes", "has space"),
        ({"scopes": ["openid", ""]}, "scopes", "''"),
        (
            {"redirect_uris": ["https://ok.example/cb", "http://bad.example/cb"]},
            "redirect_uris",
            "bad.example",
        ),
    ],
)
def test_registration_rejects_unknown_or_malformed_values_by_name(kwargs, field, named):
    arguments = {"redirect_uris": CALLBACK, **kwargs}
    with pytest.raises(ValidationError) as excinfo:
        oauth_clients.register_client(**arguments)
    messages = " ".join(excinfo.value.message_dict[field])
    assert named in messages
    assert not OAuthClient.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"grant_types": ["authorization_code"], "response_types": []}, "response_types"),
        ({"redirect_uris": []}, "redirect_uris"),
        (
            {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
            "grant_types",
        ),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks_uri"),
        (
            {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://k.example/jwks"},
            "jwks_uri",
        ),
    ],
)
def test_registration_rejects_inconsistent_metadata(kwargs, field):
    arguments = {"redirect_uris": CALLBACK, **kwargs}
    with pytest.raises(ValidationError) as excinfo:
        oauth_clients.register_client(**arguments)
    assert field in excinfo.value.message_dict


@pytest.mark.django_db
def test_client_credentials_and_private_key_jwt_clients():
    machine = oauth_clients.register_client(
        redirect_uris=[], grant_types=["client_credentials"], response_types=[]
    )
    assert machine.client_secret
    jwt_client = oauth_clients.register_client(
        redirect_uris=CALLBACK,
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri="https://keys.example.com/jwks.json",
    )
    assert jwt_client.client_secret is None
    assert jwt_client.client.client_secret is None


def test_unknown_metadata_is_a_programming_error():
    with pytest.raises(TypeError, match="colour"):
        oauth_clients.register_client(redirect_uris=CALLBACK, colour="blue")


def test_scopes_are_deduplicated_and_must_be_tokens():
    assert validate_scopes(["openid", "email", "openid"]) == ["openid", "email"]
    for bad in (["a b"], ["tab\there"], ['quo"te'], ["back\\slash"], ["é"], [], "openid"):
        with pytest.raises(ValidationError):
            validate_scopes(bad)
