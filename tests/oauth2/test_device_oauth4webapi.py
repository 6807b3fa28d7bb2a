"""The device flow (RFC 8628) with panva's oauth4webapi against a live server: its device
authorization and device code grant functions in the polling loop of its own example (wait the
interval, ``slow_down`` adds 5 seconds, ``authorization_pending`` polls again, other errors
thrown), a device that polls too fast once, a denial, an expired code, and DPoP-bound tokens
with the server's nonce."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from beep_iam.models import DeviceCode, OAuthAccessToken
from beep_shared import crypto
from tests.factories import UserFactory
from tests.npm import NodeSession, npm_ci
from tests.oauth2.test_device_independent_client import decide_on_device_page
from tests.oauth2.test_device_openid_client import SCOPE, row, tv, wait_for
from tests.oauth2.test_independent_client import PASSWORD, server  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.interop]

RP = Path(__file__).resolve().parents[2] / "interop" / "oauth4webapi"


@pytest.fixture
def device(server, settings):  # noqa: F811
    """The live server with a one-second polling interval, and the library installed."""
    npm_ci(RP)
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DEVICE_POLLING_INTERVAL": 1}
    return server


def start(server: Any, client_id: str, **command: Any) -> NodeSession:  # noqa: F811
    return NodeSession(
        RP, "device.mjs", issuer=server.url, client_id=client_id, scope=SCOPE, **command
    )


def errors(result: dict[str, Any]) -> list[str | None]:
    return [poll["error"] for poll in result["polls"]]


def test_too_fast_then_slow_down_then_approved(device):
    client_id = tv("oauth4webapi TV")
    user = UserFactory(email="tv4@example.com", password=PASSWORD)
    with start(device, client_id, too_fast=True) as node:
        codes = node.read()
        assert codes["interval"] == 1
        wait_for(lambda: row(codes["user_code"]).polling_interval == 6000)  # slow_down sent
        done = decide_on_device_page(
            device, codes["verification_uri"], codes["user_code"], user.email
        )
        assert "Device connected" in done.text
        result = node.finish()
    assert errors(result) == ["authorization_pending", "slow_down", None], result
    # The loop added 5 seconds to its interval, and the server accepted the next poll.
    times = [result["started"]] + [poll["at"] for poll in result["polls"]]
    assert [b - a for a, b in itertools.pairwise(times)][-1] >= 6000
    assert result["token_type"] == "bearer"  # normalised by the library
    assert set(result["scope"].split()) == set(SCOPE.split())
    assert result["userinfo"] == {"sub": user.pk, "name": user.name}
    assert not DeviceCode.objects.exists()


@pytest.mark.parametrize("outcome", ["access_denied", "expired_token"])
def test_denied_and_expired_as_the_library_reports_them(device, outcome):
    client_id = tv("oauth4webapi TV")
    user = UserFactory(email="no4@example.com", password=PASSWORD)
    with start(device, client_id) as node:
        codes = node.read()
        wait_for(lambda: row(codes["user_code"]).last_polled_at is not None)
        if outcome == "access_denied":
            decide_on_device_page(
                device, codes["verification_uri"], codes["user_code"], user.email, "deny"
            )
        else:
            DeviceCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        result = node.finish()
    assert node.returncode == 0  # thrown as the library's ResponseBodyError
    assert result["error"] == outcome
    assert result["code"] == "OAUTH_RESPONSE_BODY_ERROR"
    assert errors(result)[0] == "authorization_pending"
    assert not DeviceCode.objects.exists()
    assert not OAuthAccessToken.objects.exists()


def test_dpop_bound_device_tokens_with_nonces(device, settings):
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DPOP": {"NONCE_REQUIRED": True}}
    client_id = tv("oauth4webapi DPoP TV")
    user = UserFactory(email="dpop4@example.com", password=PASSWORD)
    with start(device, client_id, dpop=True) as node:
        codes = node.read()
        wait_for(lambda: row(codes["user_code"]).last_polled_at is not None)
        decide_on_device_page(device, codes["verification_uri"], codes["user_code"], user.email)
        result = node.finish()
    assert "error" not in result, result
    assert errors(result)[:2] == ["use_dpop_nonce", "authorization_pending"]
    assert errors(result)[-1] is None
    assert result["token_type"] == "dpop"
    assert result["userinfo"]["sub"] == user.pk  # userinfo with a proof of the key
    token = OAuthAccessToken.objects.get(token=crypto.digest(result["access_token"]))
    assert token.confirmation == {"jkt": codes["jkt"]}
