"""The device flow (RFC 8628) driven by panva's openid-client's own functions against a live
server: ``initiateDeviceAuthorization``, then ``pollDeviceAuthorizationGrant``, whose loop
waits the server's interval, polls on ``authorization_pending``, adds 5 seconds on
``slow_down`` and reports ``access_denied`` / ``expired_token``; the user signs in on another
"screen" and types the code on /device. With DPoP: proofs on the polls, userinfo, a resource
on another origin and the refresh, with server nonces and the library's own nonce retry."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from beep_iam.models import (
    DeviceCode,
    OAuthAccessToken,
    OAuthClientResource,
    OAuthRefreshToken,
    OAuthResource,
)
from beep_iam.services.oauth_clients import register_client
from beep_shared import crypto
from tests.factories import UserFactory
from tests.npm import NodeSession, npm_ci
from tests.oauth2.test_device_flow import GRANT
from tests.oauth2.test_device_independent_client import decide_on_device_page
from tests.oauth2.test_dpop_clients import other_origin
from tests.oauth2.test_independent_client import PASSWORD, server  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.oauth2.dpop_urls"),
    pytest.mark.interop,
]

RP = Path(__file__).resolve().parents[2] / "interop" / "openid-client"
SCOPE = "openid profile offline_access"


@pytest.fixture
def device(server, settings):  # noqa: F811
    """The live server with a one-second polling interval, and the library installed."""
    npm_ci(RP)
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DEVICE_POLLING_INTERVAL": 1}
    return server


def tv(name: str = "openid-client TV") -> str:
    """A public client on a TV: the device grant and refresh tokens."""
    return register_client(
        redirect_uris=[],
        name=name,
        token_endpoint_auth_method="none",
        grant_types=[GRANT, "refresh_token"],
        response_types=[],
        scopes=["openid", "profile", "offline_access", "invoices:read"],
    ).client.client_id


def row(user_code: str) -> DeviceCode:
    found = DeviceCode.objects.get_by_user_code(user_code, include_expired=True)
    assert found is not None
    return found


def wait_for(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the device did not poll in time"
        time.sleep(0.02)


def polls(result: dict[str, Any]) -> list[dict[str, Any]]:
    """What the token endpoint answered the device's polls, in order (recorded by the script)."""
    return [seen for seen in result["seen"] if seen.get("grant_type") == GRANT]


def gaps_ms(answers: list[dict[str, Any]], started: int) -> list[int]:
    times = [started] + [answer["at"] for answer in answers]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def start(server: Any, client_id: str, scope: str = SCOPE, **command: Any) -> NodeSession:  # noqa: F811
    return NodeSession(
        RP, "device.mjs", issuer=server.url, client_id=client_id, scope=scope, **command
    )


def test_pending_then_approved(device):
    client_id = tv()
    user = UserFactory(email="tv@example.com", password=PASSWORD)
    with start(device, client_id) as node:
        codes = node.read()
        assert codes["interval"] == 1 and codes["expires_in"] == 1800
        assert codes["verification_uri"] == device.url + "/device"
        wait_for(lambda: row(codes["user_code"]).last_polled_at is not None)
        done = decide_on_device_page(
            device, codes["verification_uri"], codes["user_code"], user.email
        )
        assert "Device connected" in done.text
        result = node.finish()
    assert "error" not in result, result
    answers = polls(result)
    assert [a.get("error") for a in answers[:-1]] == ["authorization_pending"] * (len(answers) - 1)
    assert answers[-1]["status"] == 200
    # The library waited the interval before every poll (the server would have said slow_down).
    assert all(gap >= 1000 for gap in gaps_ms(answers, result["started"]))
    assert result["token_type"] == "bearer"  # normalised by the library
    assert set(result["scope"].split()) == set(SCOPE.split())
    assert result["sub"] == user.pk  # the ID token, signature checked
    assert result["userinfo"] == {"sub": user.pk, "name": user.name}
    assert result["refreshed"]["access_token"] != result["access_token"]
    assert not DeviceCode.objects.exists()  # redeemed once


def test_slow_down_adds_five_seconds(device):
    client_id = tv()
    user = UserFactory(email="slow@example.com", password=PASSWORD)
    with start(device, client_id) as node:
        codes = node.read()
        wait_for(lambda: row(codes["user_code"]).last_polled_at is not None)
        # The server records one more poll just after the device's first (as a second copy of
        # the device polling with the same code would): the device's next poll, on its
        # one-second interval, comes too soon.
        DeviceCode.objects.filter(pk=row(codes["user_code"]).pk).update(
            last_polled_at=timezone.now() + timedelta(milliseconds=900)
        )
        wait_for(lambda: row(codes["user_code"]).polling_interval == 6000)
        decide_on_device_page(device, codes["verification_uri"], codes["user_code"], user.email)
        result = node.finish()
    assert "error" not in result, result
    answers = polls(result)
    errors = [a.get("error") for a in answers]
    # Pending until the recorded poll makes one too soon (the next, unless this test was late).
    assert errors[-2:] == ["slow_down", None], answers
    assert errors[:-2] and set(errors[:-2]) == {"authorization_pending"}, answers
    # After slow_down the library waited 1 + 5 seconds, and the server accepted that.
    assert gaps_ms(answers, result["started"])[-1] >= 6000
    assert answers[-1]["status"] == 200


@pytest.mark.parametrize("outcome", ["access_denied", "expired_token"])
def test_denied_and_expired_as_the_library_reports_them(device, outcome):
    client_id = tv()
    user = UserFactory(email="no@example.com", password=PASSWORD)
    with start(device, client_id) as node:
        codes = node.read()
        wait_for(lambda: row(codes["user_code"]).last_polled_at is not None)
        if outcome == "access_denied":
            done = decide_on_device_page(
                device, codes["verification_uri"], codes["user_code"], user.email, "deny"
            )
            assert "Access denied" in done.text
        else:
            DeviceCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        result = node.finish()
    assert node.returncode == 0
    assert result["error"] == outcome
    assert result["code"] == "OAUTH_RESPONSE_BODY_ERROR"  # the library's ResponseBodyError
    assert polls(result)[0]["error"] == "authorization_pending"
    assert not DeviceCode.objects.exists()
    assert not OAuthAccessToken.objects.exists()


def test_dpop_device_flow_with_nonces(device, settings):
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DPOP": {"NONCE_REQUIRED": True}}
    client_id = tv("openid-client DPoP TV")
    user = UserFactory(email="dpop-tv@example.com", password=PASSWORD)
    # The resource on another origin (the other loopback name): no nonce cached for it yet.
    resource = other_origin(device.url)
    with start(
        device,
        client_id,
        scope=SCOPE + " invoices:read",
        dpop=True,
        resource=resource + "/api/invoices",
    ) as node:
        codes = node.read()
        wait_for(lambda: row(codes["user_code"]).last_polled_at is not None)
        decide_on_device_page(device, codes["verification_uri"], codes["user_code"], user.email)
        result = node.finish()
    assert "error" not in result, result
    assert result["token_type"] == result["refreshed"]["token_type"] == "dpop"
    # The first poll asked for a nonce; the library retried with it (after its interval).
    answers = [(a["status"], a.get("error")) for a in polls(result)]
    assert answers[:2] == [(400, "use_dpop_nonce"), (400, "authorization_pending")]
    assert answers[-1] == (200, None)
    # The resource, on an origin the library had no nonce for, challenged; it retried.
    (challenge,) = [a["challenge"] for a in result["seen"] if a["status"] == 401]
    assert challenge.startswith('DPoP error="use_dpop_nonce"')
    assert result["resource"] == {"status": 200, "body": {"client": client_id, "user": user.pk}}
    assert result["userinfo"]["sub"] == user.pk
    jkt = {"jkt": codes["jkt"]}
    for token in (result["access_token"], result["refreshed"]["access_token"]):
        assert OAuthAccessToken.objects.get(token=crypto.digest(token)).confirmation == jkt
    live = OAuthRefreshToken.objects.get(client_id=client_id, revoked__isnull=True)
    assert live.confirmation == jkt  # a public client's refresh token is bound too


def test_a_resource_asked_with_the_codes(device):
    """RFC 8707 on openid-client's own device authorization request: the page shows the
    resource, the user approves it, and the token is a JWT for it (and for userinfo)."""
    client_id = tv("openid-client resource TV")
    api = device.url + "/api/invoices"
    row_ = OAuthResource.objects.create(identifier=api, name="Invoices API")
    OAuthClientResource.objects.create(client_id=client_id, resource=row_)
    user = UserFactory(email="tv-api@example.com", password=PASSWORD)
    with start(device, client_id, scope="openid invoices:read", indicator=api) as node:
        codes = node.read()
        assert row(codes["user_code"]).resources == [api]
        wait_for(lambda: row(codes["user_code"]).last_polled_at is not None)
        done = decide_on_device_page(
            device, codes["verification_uri"], codes["user_code"], user.email
        )
        assert "Device connected" in done.text
        result = node.finish()
    assert "error" not in result, result
    assert result["sub"] == user.pk and result["userinfo"]["sub"] == user.pk
    claims = jwt.decode(
        result["access_token"],
        KeySet.import_key_set(requests.get(device.url + "/jwks", timeout=10).json()),
        algorithms=["EdDSA"],
    ).claims
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert api in audience
