"""Discovery for an issuer with a path: RFC 8414 section 3.1's path-insert form and OpenID
Connect's ``<issuer>/.well-known/openid-configuration`` (beep_iam.oauth2.urls)."""

from __future__ import annotations

import pytest
from django.urls import include, path

from beep_iam.oauth2.urls import well_known_urlpatterns
from tests.oauth2.conftest import with_issuer

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.oauth2.test_discovery_paths")]

# As a host serving the endpoints where better-auth's baseURL would be, /api/auth.
urlpatterns = [
    path("api/auth/", include("beep_iam.oauth2.urls")),
    *well_known_urlpatterns,
]

ISSUER = "https://testserver/api/auth"


@pytest.fixture(autouse=True)
def _issuer_with_a_path():
    with with_issuer(ISSUER):
        yield


@pytest.mark.parametrize(
    ("url", "oidc"),
    [
        ("/.well-known/oauth-authorization-server/api/auth", False),
        ("/api/auth/.well-known/oauth-authorization-server", False),
        ("/api/auth/.well-known/openid-configuration", True),
        ("/.well-known/openid-configuration/api/auth", True),
    ],
)
def test_the_documents_of_an_issuer_with_a_path(client, url, oidc):
    response = client.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["issuer"] == ISSUER
    assert body["token_endpoint"] == "https://testserver/api/auth/oauth2/token"
    assert body["jwks_uri"] == "https://testserver/api/auth/jwks"
    assert ("userinfo_endpoint" in body) is oidc
    assert "max-age" in response["Cache-Control"]


@pytest.mark.parametrize(
    "url",
    [
        "/.well-known/oauth-authorization-server/other",
        "/.well-known/oauth-authorization-server/api/auth/more",
        "/.well-known/openid-configuration/api",
        "/other/.well-known/openid-configuration",
        "/other/.well-known/oauth-authorization-server",
    ],
)
def test_another_path_is_not_found(client, url):
    assert client.get(url).status_code == 404


def test_issuer_path_other_than_the_mount_point(client):
    """Endpoints included at /api/auth, issuer https://testserver/tenant-1: its OpenID document
    is at /tenant-1/.well-known/openid-configuration, its endpoints where they are mounted."""
    with with_issuer("https://testserver/tenant-1"):
        for url in (
            "/tenant-1/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server/tenant-1",
        ):
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.json()["issuer"] == "https://testserver/tenant-1"
            assert response.json()["token_endpoint"] == "https://testserver/api/auth/oauth2/token"
        assert client.get("/.well-known/oauth-authorization-server/api/auth").status_code == 404


def test_an_issuer_without_a_path_has_no_path_insert_form(client):
    with with_issuer("https://testserver"):
        assert client.get("/.well-known/oauth-authorization-server/api/auth").status_code == 404
        assert client.get("/api/auth/.well-known/openid-configuration").status_code == 200


def test_metadata_refuses_other_methods(client):
    assert client.post("/.well-known/oauth-authorization-server/api/auth").status_code == 405
