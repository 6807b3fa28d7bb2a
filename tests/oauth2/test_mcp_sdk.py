"""The official MCP TypeScript SDK (@modelcontextprotocol/sdk) as an MCP client of a server
protected by beep-iam, end to end over HTTP: from a bare 401 it reads the protected resource
metadata (RFC 9728), discovers the authorization server (RFC 8414), sends the user to authorize
with PKCE and the resource indicator (RFC 8707), redeems the code for a JWT access token bound
to the server, and calls a tool with it. The client is pre-registered, registers itself
(RFC 7591), or names itself by the https URL of its Client ID Metadata Document; nothing else
is configured on the SDK's side. tests/oauth2/test_mcp_python_sdk.py runs the Python SDK the
same ways."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.cache import cache

from beep_iam.models import OAuthClient, OAuthClientResource, OAuthRefreshToken, OAuthResource
from beep_iam.oauth2 import access_jwt
from beep_iam.services.oauth_clients import register_client
from beep_shared import crypto
from tests.factories import UserFactory
from tests.npm import node_json, npm_ci
from tests.oauth2.mcp_server import REDIRECT_URI, SCOPE, client_metadata_document
from tests.oauth2.servers import json_route
from tests.oauth2.test_independent_client import (  # noqa: F401
    PASSWORD,
    server,
    sign_in_and_consent,
)
from tests.oauth2.tls import trusted_https_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.interop]

SDK = Path(__file__).resolve().parents[2] / "interop" / "mcp-sdk"


@pytest.fixture(scope="session")
def mcp_sdk() -> Path:
    npm_ci(SDK)
    return SDK


def sdk(directory: Path, **command: Any) -> dict[str, Any]:
    return node_json(directory, "client.mjs", **command)


def test_mcp_client_finds_its_way_from_a_bare_401(server, settings, mcp_sdk, tmp_path):  # noqa: F811
    resource_id = f"{server.url}/mcp"
    settings.ROOT_URLCONF = "tests.oauth2.mcp_server"
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_RESOURCE": resource_id}
    registered = register_client(
        redirect_uris=[REDIRECT_URI],
        name="MCP SDK client",
        grant_types=["authorization_code", "refresh_token"],
    )
    row = OAuthResource.objects.create(
        identifier=resource_id, name="Notes MCP", allowed_scopes=[SCOPE]
    )
    OAuthClientResource.objects.create(client_id=registered.client.client_id, resource=row)
    user = UserFactory(email="erin@example.com", name="Erin", password=PASSWORD)

    bare = requests.post(resource_id, json={}, timeout=10)
    assert bare.status_code == 401
    metadata_url = f"{server.url}/.well-known/oauth-protected-resource/mcp"
    assert bare.headers["WWW-Authenticate"] == f'Bearer resource_metadata="{metadata_url}"'

    common = {
        "server_url": resource_id,
        "client_id": registered.client.client_id,
        "client_secret": registered.client_secret,
        "redirect_uri": REDIRECT_URI,
        "state_file": str(tmp_path / "provider.json"),
    }
    started = sdk(mcp_sdk, command="start", **common)
    assert started["discovery"]["resourceMetadata"]["resource"] == resource_id
    assert started["discovery"]["authorizationServerUrl"].rstrip("/") == server.url
    query = {k: v[0] for k, v in parse_qs(urlsplit(started["authorization_url"]).query).items()}
    assert query["resource"] == resource_id and query["scope"] == SCOPE
    assert query["code_challenge_method"] == "S256"

    code = _code(server, started["authorization_url"], user.email)

    finished = sdk(mcp_sdk, command="finish", code=code, **common)
    assert finished["tools"] == ["whoami"]
    assert finished["called"]["content"] == [{"type": "text", "text": "erin@example.com"}]
    info = access_jwt.validate(finished["tokens"]["access_token"], resource_id)
    assert info is not None and info.user_id == user.pk and info.scopes == [SCOPE]


def _code(server: Any, authorization_url: str, email: str) -> str:  # noqa: F811
    """The code the user's sign-in and consent send back."""
    callback = sign_in_and_consent(server, authorization_url, email)
    assert callback.startswith(REDIRECT_URI)
    return parse_qs(urlsplit(callback).query)["code"][0]


def test_mcp_client_registers_itself_and_refreshes(server, settings, mcp_sdk, tmp_path):  # noqa: F811
    """Nothing pre-registered: the SDK registers a public client (RFC 7591, open
    registration, linked to the MCP server by OAUTH2_REGISTRATION_DEFAULT_RESOURCES), runs
    code + PKCE with the resource indicator, calls a tool, then refreshes on its own."""
    resource_id = f"{server.url}/mcp"
    settings.ROOT_URLCONF = "tests.oauth2.mcp_server"
    settings.BEEP_IAM = {
        **settings.BEEP_IAM,
        "OAUTH2_RESOURCE": resource_id,
        "OAUTH2_REGISTRATION": "open",
        "OAUTH2_REGISTRATION_SCOPES": [SCOPE, "offline_access"],
        "OAUTH2_REGISTRATION_DEFAULT_RESOURCES": [resource_id],
    }
    OAuthResource.objects.create(
        identifier=resource_id, name="Notes MCP", allowed_scopes=[SCOPE, "offline_access"]
    )
    user = UserFactory(email="frank@example.com", name="Frank", password=PASSWORD)
    common = {
        "server_url": resource_id,
        "redirect_uri": REDIRECT_URI,
        "state_file": str(tmp_path / "provider.json"),
    }

    started = sdk(mcp_sdk, command="start", **common)
    registered = json.loads((tmp_path / "provider.json").read_text())["client"]
    assert "client_secret" not in registered  # a public client gets no secret
    row = OAuthClient.objects.get(client_id=registered["client_id"])
    assert row.token_endpoint_auth_method == "none"
    assert OAuthClientResource.objects.filter(client=row, resource_id=resource_id).exists()
    query = {k: v[0] for k, v in parse_qs(urlsplit(started["authorization_url"]).query).items()}
    assert query["client_id"] == registered["client_id"]
    assert query["resource"] == resource_id
    assert set(query["scope"].split()) == {SCOPE, "offline_access"}

    code = _code(server, started["authorization_url"], user.email)
    finished = sdk(mcp_sdk, command="finish", code=code, **common)
    assert finished["called"]["content"] == [{"type": "text", "text": "frank@example.com"}]
    first = finished["tokens"]
    assert first["refresh_token"]

    refreshed = sdk(mcp_sdk, command="refresh", **common)
    assert refreshed["result"] == "AUTHORIZED"
    assert refreshed["called"]["content"] == [{"type": "text", "text": "frank@example.com"}]
    second = refreshed["tokens"]
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]  # rotated
    info = access_jwt.validate(second["access_token"], resource_id)
    assert info is not None and info.user_id == user.pk
    # The used refresh token is spent (rotation).
    old = OAuthRefreshToken.objects.get(token=crypto.digest(first["refresh_token"]))
    assert old.revoked is not None


def test_mcp_client_with_a_client_id_metadata_document(
    server,  # noqa: F811
    settings,
    mcp_sdk,
    tmp_path,
    monkeypatch,
):
    """The SDK's URL-based client id (SEP-991): the authorization server advertises
    client_id_metadata_document_supported and registration is off, so the SDK names itself by
    the https URL of its metadata document; the server fetches it (https on 127.0.0.1, a
    certificate from a throwaway CA this process trusts through SSL_CERT_FILE), links the
    client to the MCP server, and the SDK gets a resource-bound token, calls the tool and
    refreshes. The document is fetched once for all of it (its max-age)."""
    resource_id = f"{server.url}/mcp"
    settings.ROOT_URLCONF = "tests.oauth2.mcp_server"
    settings.BEEP_IAM = {
        **settings.BEEP_IAM,
        "OAUTH2_RESOURCE": resource_id,
        "OAUTH2_REGISTRATION": None,
        "OAUTH2_CLIENT_ID_METADATA_DOCUMENTS": True,
        "OAUTH2_FETCH_ALLOW_LOOPBACK": True,
        "OAUTH2_REGISTRATION_SCOPES": [SCOPE, "offline_access"],
        "OAUTH2_REGISTRATION_DEFAULT_RESOURCES": [resource_id],
    }
    OAuthResource.objects.create(
        identifier=resource_id, name="Notes MCP", allowed_scopes=[SCOPE, "offline_access"]
    )
    user = UserFactory(email="judy@example.com", name="Judy", password=PASSWORD)
    cache.clear()
    with trusted_https_server(tmp_path, monkeypatch) as documents:
        client_id = documents.url("/clients/notes-typescript.json")
        documents.routes["/clients/notes-typescript.json"] = json_route(
            client_metadata_document(client_id, "MCP SDK client"),
            headers={"Cache-Control": "max-age=600"},
        )
        common = {
            "server_url": resource_id,
            "redirect_uri": REDIRECT_URI,
            "client_metadata_url": client_id,
            "state_file": str(tmp_path / "provider.json"),
        }

        started = sdk(mcp_sdk, command="start", **common)
        metadata = started["discovery"]["authorizationServerMetadata"]
        assert metadata["client_id_metadata_document_supported"] is True
        assert "registration_endpoint" not in metadata
        assert json.loads((tmp_path / "provider.json").read_text())["client"]["client_id"] == (
            client_id
        )
        assert not OAuthClient.objects.exists()  # nothing registered, nothing fetched yet
        query = {k: v[0] for k, v in parse_qs(urlsplit(started["authorization_url"]).query).items()}
        assert query["client_id"] == client_id and query["resource"] == resource_id

        code = _code(server, started["authorization_url"], user.email)
        row = OAuthClient.objects.get(client_id=client_id)
        assert (row.client_discovery_id, row.name, row.public) == ("cimd", "MCP SDK client", True)
        assert OAuthClientResource.objects.filter(client=row, resource_id=resource_id).exists()

        finished = sdk(mcp_sdk, command="finish", code=code, **common)
        assert finished["called"]["content"] == [{"type": "text", "text": "judy@example.com"}]
        refreshed = sdk(mcp_sdk, command="refresh", **common)
        assert refreshed["result"] == "AUTHORIZED"
        assert refreshed["called"]["content"] == [{"type": "text", "text": "judy@example.com"}]
        first, second = finished["tokens"], refreshed["tokens"]
        assert second["refresh_token"] != first["refresh_token"]
        info = access_jwt.validate(second["access_token"], resource_id)
        assert info is not None and info.user_id == user.pk and info.client_id == client_id
        assert documents.hits == ["/clients/notes-typescript.json"]
