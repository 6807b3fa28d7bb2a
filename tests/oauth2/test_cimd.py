"""Client ID Metadata Documents: an https client_id whose document the server fetches,
checks, stores as better-auth's CIMD package does, caches and purges."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import socket
from collections.abc import Iterator
from email.message import Message
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import pgtrigger
import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from beep_iam.models import OAuthClient
from beep_iam.oauth2 import cimd, fetch
from beep_iam.services.oauth_clients import register_client
from beep_iam.services.oauth_tokens import issue_tokens
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, authorize_url, get_code, pkce
from tests.oauth2.servers import LoopbackServer, drip, huge, json_route, loopback_server, redirect
from tests.oauth2.servers import send as send_body

pytestmark = pytest.mark.django_db


def configure(**overrides: Any) -> Any:
    return override_settings(
        BEEP_IAM={
            **getattr(settings, "BEEP_IAM", {}),
            "OAUTH2_ISSUER": ISSUER,
            "OAUTH2_CLIENT_ID_METADATA_DOCUMENTS": True,
            "OAUTH2_FETCH_ALLOW_LOOPBACK": True,
            "OAUTH2_RATE_LIMITS": None,
            **overrides,
        }
    )


@pytest.fixture(autouse=True)
def _cimd() -> Iterator[None]:
    cache.clear()
    with configure():
        yield
    cache.clear()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with loopback_server() as running:
        yield running


def document(client_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "client_name": "MCP Inspector",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **extra,
    }


def serve(server: LoopbackServer, path: str = "/client.json", **extra: Any) -> str:
    client_id = server.url(path)
    server.routes[path] = json_route(document(client_id, **extra))
    return client_id


def test_a_metadata_document_client_completes_the_code_flow(
    server: LoopbackServer, user: Any
) -> None:
    client_id = serve(server)
    http = Client()
    http.force_login(user)
    verifier, challenge = pkce()
    code = get_code(http, client_id, challenge)
    row = OAuthClient.objects.get(client_id=client_id)
    # As better-auth's CIMD package stores it.
    assert row.client_discovery_id == "cimd"
    assert (row.client_secret, row.token_endpoint_auth_method, row.public) == (None, "none", True)
    assert (row.application_type, row.client_credentials_scopes) == (None, [])
    assert row.name == "MCP Inspector" and row.redirect_uris == [REDIRECT_URI]
    assert row.grant_types == ["authorization_code", "refresh_token"]
    assert row.scopes == ["openid", "profile", "email", "offline_access"]
    response = Client().post(
        "/oauth2/token",
        urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
                "client_id": client_id,
            }
        ),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert "refresh_token" in response.json()
    assert server.hits == ["/client.json"]  # fetched once, then cached


def test_a_document_without_application_type_may_name_a_private_use_redirect_uri(
    server: LoopbackServer, user: Any
) -> None:
    """As better-auth validates a metadata document that names no application_type: a native
    app's (MCP desktop clients name private-use redirect URIs); one that says web may not."""
    app = "com.example.desktop:/oauth/callback"
    client_id = serve(server, redirect_uris=[app])
    http = Client()
    http.force_login(user)
    _, challenge = pkce()
    assert http.get(authorize_url(client_id, challenge, redirect_uri=app)).status_code == 200
    assert OAuthClient.objects.get(client_id=client_id).application_type is None  # as stored
    web = serve(server, "/web.json", redirect_uris=[app], application_type="web")
    refused = http.get(authorize_url(web, challenge, redirect_uri=app))
    assert refused.status_code == 400 and b"for native apps only" in refused.content


def _age(client_id: str, delta: dt.timedelta) -> None:
    # updated_at is kept by the touch_row trigger; the test moves it back past it.
    with pgtrigger.ignore("beep_iam.OAuthClient:touch_row"):
        OAuthClient.objects.filter(client_id=client_id).update(updated_at=timezone.now() - delta)
    assert OAuthClient.objects.get(client_id=client_id).updated_at < timezone.now() - delta / 2


def test_a_due_document_is_fetched_again_keeping_operator_flags(server: LoopbackServer) -> None:
    client_id = serve(server)
    cimd.discover(client_id)
    cimd.discover(client_id)
    assert server.hits == ["/client.json"]
    OAuthClient.objects.filter(client_id=client_id).update(skip_consent=True)
    server.routes["/client.json"] = json_route(document(client_id, client_name="Renamed"))
    cache.clear()
    cimd.discover(client_id)  # fetched less than the floor ago: still used
    assert server.hits == ["/client.json"]
    _age(client_id, dt.timedelta(minutes=2))
    cimd.discover(client_id)
    assert server.hits == ["/client.json", "/client.json"]
    row = OAuthClient.objects.get(client_id=client_id)
    assert (row.name, row.skip_consent) == ("Renamed", True)


def _headers(**values: str) -> Message:
    message = Message()
    for key, value in values.items():
        message[key.replace("_", "-")] = value
    return message


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, cimd.DEFAULT_TTL),
        ({"Cache_Control": "public, max-age=600"}, dt.timedelta(minutes=10)),
        ({"Cache_Control": "max-age=5"}, cimd.MIN_TTL),
        ({"Cache_Control": "max-age=99999999"}, cimd.MAX_TTL),
        ({"Cache_Control": "no-store"}, cimd.MIN_TTL),
        ({"Cache_Control": "no-cache, max-age=600"}, cimd.MIN_TTL),
        ({"Expires": "not a date"}, cimd.MIN_TTL),
        ({"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, cimd.MIN_TTL),
    ],
)
def test_cache_headers_within_floor_and_ceiling(headers: dict[str, str], expected: Any) -> None:
    assert cimd.time_to_live(_headers(**headers)) == expected


def test_expires_is_read() -> None:
    now = dt.datetime.now(dt.UTC)
    expires = email.utils.format_datetime(now + dt.timedelta(hours=2), usegmt=True)
    ttl = cimd.time_to_live(_headers(Expires=expires), now=now)
    assert dt.timedelta(hours=1, minutes=59) <= ttl <= dt.timedelta(hours=2)


def _bad_routes(server: LoopbackServer) -> dict[str, str]:
    """path -> what is wrong with it; each path serves a document that must be refused."""
    url = server.url
    routes = {
        "/other-id.json": (json_route(document("https://elsewhere.example.com/c.json")), "URL"),
        "/secret.json": (json_route(document(url("/secret.json"), client_secret="s")), "secret"),
        "/basic.json": (
            json_route(
                document(url("/basic.json"), token_endpoint_auth_method="client_secret_basic")
            ),
            "shared secret",
        ),
        "/evil-redirect.json": (
            json_route(document(url("/evil-redirect.json"), redirect_uris=["http://evil.com/"])),
            "redirect_uris",
        ),
        "/quoted.json": (
            json_route(document(url("/quoted.json"), redirect_uris=['http://e.com/"\\'])),
            "redirect_uris",
        ),
        "/no-redirect.json": (
            json_route(document(url("/no-redirect.json"), redirect_uris=[])),
            "redirect_uris",
        ),
        "/skip.json": (json_route(document(url("/skip.json"), skip_consent=True)), "skip_consent"),
        "/logout.json": (
            json_route(
                document(url("/logout.json"), backchannel_logout_uri="https://a.example.com/")
            ),
            "back-channel",
        ),
        "/pairwise.json": (
            json_route(document(url("/pairwise.json"), subject_type="pairwise")),
            "subject_type",
        ),
        "/not-json.json": (lambda h: send_body(h, b"{nope"), "not JSON"),
        "/list.json": (json_route([1]), "not a JSON object"),
        "/html.json": (lambda h: send_body(h, b"{}", content_type="text/html"), "media type"),
        "/moved.json": (redirect("http://169.254.169.254/"), "redirect"),
        "/huge.json": (huge(10_000_000, declare=False), "larger than"),
        "/gone.json": (lambda h: send_body(h, b"", status=404), "404"),
    }
    for path, (route, _) in routes.items():
        server.routes[path] = route
    return {path: reason for path, (_, reason) in routes.items()}


def test_bad_documents_are_a_clean_error_page_and_invalid_client(
    server: LoopbackServer, user: Any
) -> None:
    http = Client()
    http.force_login(user)
    for path, reason in _bad_routes(server).items():
        client_id = server.url(path)
        response = http.get(authorize_url(client_id, pkce()[1]))
        assert response.status_code == 400, (path, response.status_code)
        assert reason in response.content.decode(), (path, response.content[:300])
        token = Client().post(
            "/oauth2/token",
            urlencode({"grant_type": "authorization_code", "code": "x", "client_id": client_id}),
            content_type="application/x-www-form-urlencoded",
        )
        assert token.status_code == 401, path
        assert token.json()["error"] == "invalid_client"
    assert not OAuthClient.objects.filter(client_discovery_id="cimd").exists()


def test_a_slow_server_is_an_error_not_a_hang(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cimd, "FETCH_TIMEOUT", 1.0)
    server.routes["/slow.json"] = drip(5)
    with pytest.raises(cimd.DiscoveryError, match="longer than 1 s"):
        cimd.discover(server.url("/slow.json"))


def test_an_internal_hosts_address_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A split-horizon name resolving to a private address: anyone can name it as a
    client_id, so the error page and invalid_client must not say where it points."""

    def resolver(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))]

    monkeypatch.setattr(fetch, "resolve", resolver)
    caplog.set_level("WARNING", logger="beep_iam.oauth2.fetch")
    client_id = "https://db.corp.example.com/client.json"
    http = Client()
    http.force_login(user)
    page = http.get(authorize_url(client_id, pkce()[1]))
    assert page.status_code == 400
    assert fetch.NOT_PUBLIC in page.content.decode()
    token = Client().post(
        "/oauth2/token",
        urlencode({"grant_type": "authorization_code", "code": "x", "client_id": client_id}),
        content_type="application/x-www-form-urlencoded",
    )
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"
    assert fetch.NOT_PUBLIC in token.json()["error_description"]
    for shown in (page.content.decode(), token.content.decode()):
        assert "10.20.30.40" not in shown
    assert "10.20.30.40" in caplog.text  # the operator still sees it


def test_loopback_documents_are_refused_with_the_setting_off(server: LoopbackServer) -> None:
    client_id = serve(server)
    https_id = client_id.replace("http:", "https:")
    with configure(OAUTH2_FETCH_ALLOW_LOOPBACK=False):
        assert not cimd.is_metadata_url(client_id)  # plain http: not a document URL at all
        with pytest.raises(cimd.DiscoveryError, match="not public"):
            cimd.discover(https_id)
        with pytest.raises(cimd.DiscoveryError, match="not public"):
            cimd.discover(https_id.replace("127.0.0.1", "localhost"))
        response = Client().get(authorize_url(https_id, pkce()[1]))
        assert response.status_code == 400
    assert server.hits == []


def test_with_cimd_off_a_url_is_just_an_unknown_client(server: LoopbackServer) -> None:
    client_id = serve(server)
    with configure(OAUTH2_CLIENT_ID_METADATA_DOCUMENTS=False):
        response = Client().get(authorize_url(client_id, pkce()[1]))
        assert response.status_code == 400
        assert b"unknown" in response.content
        metadata = Client().get("/.well-known/oauth-authorization-server").json()
        assert "client_id_metadata_document_supported" not in metadata
    assert server.hits == []
    metadata = Client().get("/.well-known/oauth-authorization-server").json()
    assert metadata["client_id_metadata_document_supported"] is True


def test_a_client_registered_otherwise_is_never_replaced(server: LoopbackServer) -> None:
    client_id = serve(server)
    registered = register_client(redirect_uris=["https://mine.example.com/cb"], name="Mine")
    OAuthClient.objects.filter(pk=registered.client.pk).update(client_id=client_id)
    cimd.discover(client_id)
    assert server.hits == []
    assert OAuthClient.objects.get(client_id=client_id).name == "Mine"


def test_stale_document_clients_are_purged_unless_they_hold_live_tokens(
    server: LoopbackServer,
) -> None:
    stale = serve(server, "/stale.json")
    busy = serve(server, "/busy.json")
    fresh = serve(server, "/fresh.json")
    for client_id in (stale, busy, fresh):
        cimd.discover(client_id)
    old = register_client(redirect_uris=["https://old.example.com/cb"], name="Old")
    issue_tokens(OAuthClient.objects.get(client_id=busy), scopes=["openid"])
    for client_id in (stale, busy, old.client.client_id):
        _age(client_id, dt.timedelta(days=31))
    call_command(
        "purge_expired_tokens",
        "--target",
        "oauth_client.stale_metadata_document",
        stdout=StringIO(),
    )
    left = set(OAuthClient.objects.values_list("client_id", flat=True))
    assert stale not in left and {busy, fresh, old.client.client_id} <= left


def test_document_size_cap(server: LoopbackServer) -> None:
    def padded(path: str, size: int) -> str:
        client_id = server.url(path)
        body = document(client_id, ignored="")
        body["ignored"] = "x" * (size - len(json.dumps(body).encode()))
        assert len(json.dumps(body).encode()) == size
        server.routes[path] = json_route(body)
        return client_id

    cimd.discover(padded("/at-cap.json", cimd.MAX_DOCUMENT_BYTES))
    with pytest.raises(cimd.DiscoveryError, match="larger than"):
        cimd.discover(padded("/past-cap.json", cimd.MAX_DOCUMENT_BYTES + 1))


def test_fetches_at_authorize_are_limited_per_ip(server: LoopbackServer, user: Any) -> None:
    """Each unknown client_id URL at /oauth2/authorize is an outbound fetch anyone can start
    with a GET: per IP, at most the limit's number per window; known clients still work."""
    known = serve(server, "/known.json")
    http = Client()
    http.force_login(user)
    _, challenge = pkce()
    with configure(OAUTH2_RATE_LIMITS={"cimd_fetch": {"window": 3600, "per_ip": 2}}):
        assert http.get(authorize_url(known, challenge)).status_code == 200  # fetch 1
        for number in range(2, 4):
            unknown = serve(server, f"/client-{number}.json")
            response = http.get(authorize_url(unknown, challenge))
            if number == 2:
                assert response.status_code == 200  # fetch 2
            else:
                assert response.status_code == 429, response.content
                assert 1 <= int(response["Retry-After"]) <= 3600
                assert not OAuthClient.objects.filter(client_id=unknown).exists()
        assert server.hits == ["/known.json", "/client-2.json"]  # the third never fetched
        # A client already fetched (its document cached) costs no fetch and is not refused.
        assert http.get(authorize_url(known, challenge)).status_code == 200
        # Another address has its own counter.
        other = serve(server, "/client-4.json")
        response = http.get(authorize_url(other, challenge), REMOTE_ADDR="192.0.2.7")
        assert response.status_code == 200
