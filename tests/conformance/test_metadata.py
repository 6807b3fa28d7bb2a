"""RFC 8414, OpenID Connect Discovery 1.0 and RFC 9728 probes."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client, override_settings
from django.urls import resolve

from beep_iam.models import OAuthResource
from tests.oauth2.conftest import ISSUER, with_issuer

pytestmark = pytest.mark.django_db

RFC8414_REQUIRED = {
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "response_types_supported",
}
OIDC_REQUIRED = RFC8414_REQUIRED | {
    "jwks_uri",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
}


def _documents(http: Client) -> dict[str, dict]:
    return {
        path: http.get(path).json()
        for path in (
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        )
    }


def test_8414_2_required_members_and_issuer_equality(client):
    for path, doc in _documents(client).items():
        required = OIDC_REQUIRED if "openid" in path else RFC8414_REQUIRED
        assert required <= doc.keys(), (path, required - doc.keys())
        assert doc["issuer"] == ISSUER  # RFC 8414 3.3, OIDC Discovery 4.3


def test_8414_3_2_content_type_and_no_empty_arrays(client):
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    for key, value in response.json().items():
        assert value != [], key  # 3.2: "Claims with zero elements MUST be omitted"


def test_8414_2_none_is_not_a_signing_alg(client):
    doc = client.get("/.well-known/openid-configuration").json()
    for key, value in doc.items():
        if key.endswith("_signing_alg_values_supported") and key.startswith(
            ("token", "introspection", "revocation")
        ):
            assert "none" not in value, key
    assert "RS256" in doc["id_token_signing_alg_values_supported"]  # OIDC Discovery 3


def test_8414_endpoints_listed_exist(client):
    doc = client.get("/.well-known/openid-configuration").json()
    for key, url in doc.items():
        if key.endswith("_endpoint") or key == "jwks_uri":
            parts = urlsplit(url)
            assert f"{parts.scheme}://{parts.netloc}" == ISSUER, key
            resolve(parts.path)  # Resolver404 if the URL is not served


def test_8414_supported_values_are_implemented(client):
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["grant_types_supported"]) <= {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
    assert "implicit" not in doc["grant_types_supported"]
    assert "password" not in doc["grant_types_supported"]
    assert doc["subject_types_supported"] == ["public"]


def test_8414_3_1_path_insert_form_for_an_issuer_with_a_path():
    issuer = "https://testserver/api/auth"
    with override_settings(ROOT_URLCONF="tests.conformance.issuer_path_urls"), with_issuer(issuer):
        http = Client()
        for path in (
            "/.well-known/oauth-authorization-server/api/auth",
            "/.well-known/openid-configuration/api/auth",  # not in RFC 8414, tolerated
            "/api/auth/.well-known/openid-configuration",  # OIDC Discovery 4.1
        ):
            response = http.get(path)
            assert response.status_code == 200, path
            doc = response.json()
            assert doc["issuer"] == issuer, path
            assert doc["token_endpoint"] == issuer + "/oauth2/token"
        assert http.get("/.well-known/oauth-authorization-server/other").status_code == 404
        token = http.post(
            "/api/auth/oauth2/token", "", content_type="application/x-www-form-urlencoded"
        )
        assert token.status_code == 400


def test_metadata_head_and_405_allow(client):
    response = client.head("/.well-known/openid-configuration")
    assert response.status_code == 200 and response.content == b""
    response = client.post("/.well-known/openid-configuration")
    assert response.status_code == 405
    assert {m.strip() for m in response["Allow"].split(",")} == {"GET", "HEAD"}


def test_jwks(client):
    response = client.get("/jwks")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys and all("kid" in k and "d" not in k for k in keys)


# --- RFC 9728 ------------------------------------------------------------------------------------


def test_9728_3_protected_resource_metadata(client):
    OAuthResource.objects.create(
        identifier="http://testserver/mcp", name="MCP", allowed_scopes=["a"]
    )
    response = client.get("/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    doc = response.json()
    assert doc["resource"] == "http://testserver/mcp"  # 3.3: identical
    assert doc["authorization_servers"] == [ISSUER]
    assert client.get("/.well-known/oauth-protected-resource/other").status_code == 404
