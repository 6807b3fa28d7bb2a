"""private_key_jwt with the client's keys at its jwks_uri: fetched through the safe fetcher,
cached, fetched again once for an unknown key id."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client, override_settings
from joserfc import jwt
from joserfc.jwk import ECKey

from beep_iam.models import OAuthClient
from beep_iam.oauth2 import client_assertion
from beep_iam.services.oauth_clients import register_client
from tests.oauth2.conftest import ISSUER
from tests.oauth2.servers import LoopbackServer, drip, json_route, loopback_server

pytestmark = pytest.mark.django_db

TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def configure(allow_loopback: bool) -> Any:
    return override_settings(
        BEEP_IAM={
            **getattr(settings, "BEEP_IAM", {}),
            "OAUTH2_ISSUER": ISSUER,
            "OAUTH2_FETCH_ALLOW_LOOPBACK": allow_loopback,
            "OAUTH2_RATE_LIMITS": None,
        }
    )


@pytest.fixture(autouse=True)
def _loopback() -> Iterator[None]:
    cache.clear()
    with configure(True):
        yield
    cache.clear()


def key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


def publish(server: LoopbackServer, *keys: ECKey, **extra: Any) -> None:
    server.routes["/jwks"] = json_route(
        {"keys": [k.as_dict(private=False) for k in keys]},
        **extra,
    )


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with loopback_server() as running:
        yield running


@pytest.fixture
def robot(server: LoopbackServer) -> OAuthClient:
    client = register_client(
        redirect_uris=[],
        name="Keyed robot",
        token_endpoint_auth_method="private_key_jwt",
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
        jwks_uri="https://keys.example.com/jwks",
    ).client
    # The registration rule refuses loopback URIs; rows written by other tools (better-auth)
    # skip it, so the fetcher must hold on its own: point the row at the test's server.
    OAuthClient.objects.filter(pk=client.pk).update(jwks_uri=server.url("/jwks"))
    client.refresh_from_db()
    return client


def token(client_id: str, signing: ECKey) -> Any:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER + "/oauth2/token",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    signed = jwt.encode({"alg": "ES256", "kid": signing.kid}, claims, signing)
    body = {
        "grant_type": "client_credentials",
        "client_assertion_type": TYPE,
        "client_assertion": signed,
    }
    return Client().post(
        "/oauth2/token", urlencode(body), content_type="application/x-www-form-urlencoded"
    )


def test_keys_are_fetched_cached_and_refetched_once_for_a_new_kid(
    server: LoopbackServer, robot: OAuthClient
) -> None:
    first, second = key("k1"), key("k2")
    publish(server, first)
    assert token(robot.client_id, first).status_code == 200
    assert token(robot.client_id, first).status_code == 200
    assert server.hits == ["/jwks"]  # cached
    publish(server, first, second)  # the client rotates
    assert token(robot.client_id, second).status_code == 200
    assert server.hits == ["/jwks", "/jwks"]
    # Unknown kids in forged assertions (no signature checked yet): no fetch per request,
    # one early refetch per client per JWKS_REFETCH_SECONDS, which k2's used up.
    for _ in range(3):
        assert token(robot.client_id, key(f"forged-{uuid.uuid4()}")).status_code == 401
    assert server.hits == ["/jwks", "/jwks"]
    third = key("k3")
    publish(server, first, second, third)
    cache.delete(client_assertion.jwks_cache_key(robot) + ":refetched")  # a minute later
    assert token(robot.client_id, third).status_code == 200
    assert server.hits == ["/jwks", "/jwks", "/jwks"]


def test_a_wrong_key_with_a_known_kid_is_refused(
    server: LoopbackServer, robot: OAuthClient
) -> None:
    publish(server, key("k1"))
    response = token(robot.client_id, key("k1"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_the_fetcher_rules_hold_for_jwks_uri(server: LoopbackServer, robot: OAuthClient) -> None:
    signing = key("k1")
    publish(server, signing)
    with configure(False):
        response = token(robot.client_id, signing)
        assert response.status_code == 401
        assert (
            "not public" in response.json()["error_description"]
            or "https" in (response.json()["error_description"])
        )
    assert server.hits == []
    OAuthClient.objects.filter(pk=robot.pk).update(jwks_uri="https://169.254.169.254/jwks")
    assert token(robot.client_id, signing).status_code == 401


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ("private", "public keys"),
        ("html", "media type"),
        ("slow", "longer than"),
    ],
)
def test_bad_key_sets_are_invalid_client(
    server: LoopbackServer,
    robot: OAuthClient,
    monkeypatch: pytest.MonkeyPatch,
    route: str,
    reason: str,
) -> None:
    signing = key("k1")
    if route == "private":
        server.routes["/jwks"] = json_route({"keys": [signing.as_dict(private=True)]})
    elif route == "html":
        publish(server, signing, content_type="text/html")
    else:
        monkeypatch.setattr(client_assertion, "JWKS_FETCH_TIMEOUT", 1.0)
        server.routes["/jwks"] = drip(4)
    started = time.monotonic()
    response = token(robot.client_id, signing)
    assert response.status_code == 401
    assert reason in response.json()["error_description"]
    assert time.monotonic() - started < 3
    assert json.loads(response.content)["error"] == "invalid_client"
