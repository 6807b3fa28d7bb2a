"""The official MCP Python SDK (``mcp`` on PyPI) as an MCP client of a server protected by
beep-iam, end to end over HTTP: its ``OAuthClientProvider`` (an httpx auth flow) on its
streamable HTTP transport, nothing configured but the server's URL, the client's metadata and
the two handlers every application gives it (open the browser at the authorization URL, hand
back the callback's parameters). The user's sign-in and consent are this test driving the URL
the SDK produced, as a browser would."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.to_thread
import httpx2
import pytest
import requests
from django.core.cache import cache
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.types import TextContent

from beep_iam.models import OAuthClient, OAuthClientResource, OAuthRefreshToken, OAuthResource
from beep_iam.oauth2 import access_jwt, cimd
from beep_iam.services.oauth_clients import register_client
from beep_shared import crypto
from tests.factories import UserFactory
from tests.oauth2.mcp_server import REDIRECT_URI, SCOPE, client_metadata_document
from tests.oauth2.servers import json_route
from tests.oauth2.test_cimd import _age
from tests.oauth2.test_independent_client import (  # noqa: F401
    PASSWORD,
    server,
    sign_in_and_consent,
)
from tests.oauth2.tls import trusted_https_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.interop]


@dataclass
class Storage:
    """The SDK's ``TokenStorage`` protocol, in memory (an application would persist it)."""

    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None
    saved_tokens: list[OAuthToken] = field(default_factory=list)

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.saved_tokens.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Run:
    """What one SDK session did: the HTTP requests it sent (method, path, status), the
    authorization URL it opened, the forms it posted to the token endpoint, and the tool's
    answers."""

    requests: list[tuple[str, str, int]] = field(default_factory=list)
    authorization_url: str = ""
    callback: str = ""
    token_requests: list[dict[str, str]] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)


def run_sdk(
    live: Any,
    server_url: str,
    email: str,
    storage: Storage,
    *,
    client_metadata_url: str | None = None,
    calls: int = 1,
    pause: float = 0.0,
) -> Run:
    """Connect the SDK's client to ``server_url``, list the tools and call ``whoami``
    ``calls`` times, ``pause`` seconds apart (so an access token the SDK knows to be expired
    is refreshed by the SDK before the next call)."""
    run = Run()

    async def redirect_handler(url: str) -> None:
        run.authorization_url = url
        # The browser: a blocking stand-in, off the event loop like a real one.
        callback = await anyio.to_thread.run_sync(sign_in_and_consent, live, url, email)
        assert callback.startswith(REDIRECT_URI), callback
        run.callback = callback

    async def callback_handler() -> AuthorizationCodeResult:
        query = {k: v[0] for k, v in parse_qs(urlsplit(run.callback).query).items()}
        return AuthorizationCodeResult(
            code=query["code"], state=query.get("state"), iss=query.get("iss")
        )

    async def seen(response: httpx2.Response) -> None:
        request = response.request
        run.requests.append((request.method, request.url.path, response.status_code))
        if request.url.path == "/oauth2/token":
            form = parse_qs(request.content.decode())
            run.token_requests.append({k: v[0] for k, v in form.items()})

    provider = OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
            client_name="MCP Python SDK client",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=client_metadata_url,
    )

    async def main() -> None:
        http = httpx2.AsyncClient(auth=provider, event_hooks={"response": [seen]})
        async with http, Client(streamable_http_client(server_url, http_client=http)) as client:
            listed = await client.list_tools()
            run.tools = [tool.name for tool in listed.tools]
            for index in range(calls):
                if index:
                    await anyio.sleep(pause)
                result = await client.call_tool("whoami", {})
                assert isinstance(result.content[0], TextContent), result
                run.answers.append(result.content[0].text)

    anyio.run(main)
    return run


def mcp_server(settings: Any, server: Any, **options: Any) -> str:  # noqa: F811
    """tests/oauth2/mcp_server.py on the live server, registered as a resource; its URL.
    Clients that register themselves (or come with a metadata document) may ask for its
    scope and are linked to it."""
    resource_id = f"{server.url}/mcp"
    settings.ROOT_URLCONF = "tests.oauth2.mcp_server"
    settings.BEEP_IAM = {
        **settings.BEEP_IAM,
        "OAUTH2_RESOURCE": resource_id,
        "OAUTH2_REGISTRATION_SCOPES": [SCOPE, "offline_access"],
        "OAUTH2_REGISTRATION_DEFAULT_RESOURCES": [resource_id],
        **options,
    }
    OAuthResource.objects.create(
        identifier=resource_id, name="Notes MCP", allowed_scopes=[SCOPE, "offline_access"]
    )
    return resource_id


#: Where the SDK goes from a bare 401, in order (RFC 9728, then RFC 8414), before registering.
DISCOVERY = [
    ("POST", "/mcp", 401),
    ("GET", "/.well-known/oauth-protected-resource/mcp", 200),
    ("GET", "/.well-known/oauth-authorization-server", 200),
]


def _authorization_query(run: Run) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(run.authorization_url).query).items()}


def _assert_refreshed(run: Run, storage: Storage, resource_id: str, user: Any) -> None:
    """The SDK refreshed on its own (the access token's lifetime ran out between the calls):
    a refresh-token request, the refresh token rotated and the old one spent, the new
    access token bound to the MCP server, and the tool call after it answered."""
    assert run.answers == [user.email, user.email]
    last_token_request = max(i for i, r in enumerate(run.requests) if r[1] == "/oauth2/token")
    assert run.requests[last_token_request:] == [
        ("POST", "/oauth2/token", 200),
        ("POST", "/mcp", 200),
    ]
    refresh = run.token_requests[-1]
    assert refresh["grant_type"] == "refresh_token"
    assert refresh["resource"] == resource_id  # RFC 8707 on the refresh too
    first, last = storage.saved_tokens[0], storage.saved_tokens[-1]
    assert len(storage.saved_tokens) >= 2
    assert first.refresh_token and last.refresh_token and last.refresh_token != first.refresh_token
    spent = OAuthRefreshToken.objects.get(token=crypto.digest(first.refresh_token))
    assert spent.revoked is not None
    info = access_jwt.validate(last.access_token, resource_id)
    assert info is not None and info.user_id == user.pk
    assert set(info.scopes) == {SCOPE, "offline_access"}


def test_python_sdk_registers_itself_and_refreshes(server, settings):  # noqa: F811
    """Dynamic client registration (RFC 7591, open, linked to the MCP server by
    OAUTH2_REGISTRATION_DEFAULT_RESOURCES), code + PKCE + resource, a tool call, and the
    SDK's own refresh once the one-second access token has run out."""
    resource_id = mcp_server(settings, server, OAUTH2_REGISTRATION="open", ACCESS_TOKEN_LIFETIME=1)
    user = UserFactory(email="grace@example.com", name="Grace", password=PASSWORD)
    storage = Storage()

    run = run_sdk(server, resource_id, user.email, storage, calls=2, pause=1.1)

    assert run.requests[:5] == [
        *DISCOVERY,
        ("POST", "/oauth2/register", 201),
        ("POST", "/oauth2/token", 200),
    ]
    assert run.tools == ["whoami"]
    registered = storage.client_info
    assert registered is not None and registered.client_secret is None  # a public client
    row = OAuthClient.objects.get(client_id=registered.client_id)
    assert row.token_endpoint_auth_method == "none"
    assert row.name == "MCP Python SDK client"
    assert OAuthClientResource.objects.filter(client=row, resource_id=resource_id).exists()
    query = _authorization_query(run)
    assert query["client_id"] == registered.client_id
    assert query["resource"] == resource_id
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    redeemed = run.token_requests[0]
    assert redeemed["grant_type"] == "authorization_code" and redeemed["resource"] == resource_id
    assert len(redeemed["code_verifier"]) == 128 and "client_secret" not in redeemed
    assert set(query["scope"].split()) == {SCOPE, "offline_access"}
    _assert_refreshed(run, storage, resource_id, user)


def test_python_sdk_with_a_pre_registered_client(server, settings):  # noqa: F811
    """The SDK's pre-registered mode: its storage already holds the client's credentials (a
    confidential client, client_secret_basic), so it registers nothing."""
    resource_id = mcp_server(settings, server)
    registered = register_client(
        redirect_uris=[REDIRECT_URI],
        name="MCP Python SDK client",
        grant_types=["authorization_code", "refresh_token"],
    )
    OAuthClientResource.objects.create(
        client_id=registered.client.client_id, resource_id=resource_id
    )
    user = UserFactory(email="heidi@example.com", name="Heidi", password=PASSWORD)
    storage = Storage(
        client_info=OAuthClientInformationFull(
            client_id=registered.client.client_id,
            client_secret=registered.client_secret,
            token_endpoint_auth_method=registered.client.token_endpoint_auth_method,
            redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
        )
    )

    run = run_sdk(server, resource_id, user.email, storage)

    assert run.requests[:4] == [*DISCOVERY, ("POST", "/oauth2/token", 200)]
    assert run.answers == [user.email]
    assert _authorization_query(run)["client_id"] == registered.client.client_id
    assert storage.tokens is not None
    info = access_jwt.validate(storage.tokens.access_token, resource_id)
    assert info is not None and info.user_id == user.pk
    assert info.client_id == registered.client.client_id


def test_python_sdk_with_a_client_id_metadata_document(server, settings, tmp_path, monkeypatch):  # noqa: F811
    """The SDK's CIMD mode: the authorization server advertises
    client_id_metadata_document_supported, so the SDK uses its https client_id_metadata_url
    as its client_id and registers nothing; the server fetches the document (https on
    127.0.0.1, a certificate from a throwaway CA trusted through SSL_CERT_FILE), stores the
    client, links it to the MCP server, and uses the document for its max-age."""
    resource_id = mcp_server(
        settings,
        server,
        OAUTH2_REGISTRATION=None,
        OAUTH2_CLIENT_ID_METADATA_DOCUMENTS=True,
        OAUTH2_FETCH_ALLOW_LOOPBACK=True,
        ACCESS_TOKEN_LIFETIME=1,
    )
    user = UserFactory(email="ivan@example.com", name="Ivan", password=PASSWORD)
    storage = Storage()
    cache.clear()
    with trusted_https_server(tmp_path, monkeypatch) as documents:
        client_id = documents.url("/clients/notes-python.json")
        assert client_id.startswith("https://127.0.0.1:")
        documents.routes["/clients/notes-python.json"] = json_route(
            client_metadata_document(client_id, "MCP Python SDK client"),
            headers={"Cache-Control": "max-age=600"},
        )
        metadata = requests.get(
            f"{server.url}/.well-known/oauth-authorization-server", timeout=10
        ).json()
        assert metadata["client_id_metadata_document_supported"] is True
        assert "registration_endpoint" not in metadata  # registration is off: CIMD only

        run = run_sdk(
            server,
            resource_id,
            user.email,
            storage,
            client_metadata_url=client_id,
            calls=2,
            pause=1.1,
        )

        assert run.requests[:4] == [*DISCOVERY, ("POST", "/oauth2/token", 200)]
        assert storage.client_info is not None and storage.client_info.client_id == client_id
        assert _authorization_query(run)["client_id"] == client_id
        row = OAuthClient.objects.get(client_id=client_id)
        assert (row.client_discovery_id, row.name, row.public) == (
            "cimd",
            "MCP Python SDK client",
            True,
        )
        assert OAuthClientResource.objects.filter(client=row, resource_id=resource_id).exists()
        _assert_refreshed(run, storage, resource_id, user)
        # Authorize, code redemption and refresh each looked the client up: one fetch.
        assert documents.hits == ["/clients/notes-python.json"]
        # Past the one-minute floor the document's own max-age (10 minutes) still holds it...
        _age(client_id, dt.timedelta(minutes=5))
        cimd.discover(client_id)
        assert documents.hits == ["/clients/notes-python.json"]
        # ...and once that is over (the cache entry gone) it is fetched again.
        cache.clear()
        cimd.discover(client_id)
        assert documents.hits == ["/clients/notes-python.json"] * 2
