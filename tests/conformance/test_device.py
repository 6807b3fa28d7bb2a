"""RFC 8628 device authorization grant probes."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from beep_iam.models import DeviceCode
from beep_iam.services.oauth_clients import register_client
from tests.conformance.helpers import assert_json_error, form
from tests.oauth2.conftest import ISSUER

pytestmark = pytest.mark.django_db

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def tv():
    return register_client(
        redirect_uris=[],
        name="TV",
        token_endpoint_auth_method="none",
        grant_types=[GRANT, "refresh_token"],
        response_types=[],
        scopes=["openid", "profile", "offline_access"],
    )


def _start(client, tv):
    response = form(client, "/device/code", {"client_id": tv.client.client_id, "scope": "openid"})
    assert response.status_code == 200, response.content
    return response


def _poll(client, tv, device_code):
    return form(
        client,
        "/oauth2/token",
        {"grant_type": GRANT, "device_code": device_code, "client_id": tv.client.client_id},
    )


def _waited(device_code):
    row = DeviceCode.objects.get_by_device_code(device_code, include_expired=True)
    assert row is not None and row.polling_interval is not None
    DeviceCode.objects.filter(pk=row.pk).update(
        last_polled_at=timezone.now() - timedelta(milliseconds=row.polling_interval + 1000)
    )


def test_8628_3_2_response_members(client, tv):
    response = _start(client, tv)
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert {"device_code", "user_code", "verification_uri", "expires_in"} <= body.keys()
    assert body["verification_uri"] == f"{ISSUER}/device"
    complete = body["verification_uri_complete"]
    assert parse_qs(urlsplit(complete).query)["user_code"] == [body["user_code"]]
    assert isinstance(body["interval"], int) and body["interval"] >= 1
    row = DeviceCode.objects.get_by_device_code(body["device_code"])
    lifetime = (row.expires_at - timezone.now()).total_seconds()
    assert abs(lifetime - body["expires_in"]) < 5


def test_8628_3_5_authorization_pending_then_slow_down_by_5s(client, tv):
    body = _start(client, tv).json()
    first = _poll(client, tv, body["device_code"])
    assert_json_error(first, 400, "authorization_pending")
    too_soon = _poll(client, tv, body["device_code"])
    assert_json_error(too_soon, 400, "slow_down")
    row = DeviceCode.objects.get_by_device_code(body["device_code"])
    assert row.polling_interval == (body["interval"] + 5) * 1000
    # The increased interval holds for all subsequent requests: waiting only the old one is
    # still too soon.
    DeviceCode.objects.filter(pk=row.pk).update(
        last_polled_at=timezone.now() - timedelta(seconds=body["interval"] + 1)
    )
    assert_json_error(_poll(client, tv, body["device_code"]), 400, "slow_down")


def test_8628_3_5_access_denied(client, tv, user):
    body = _start(client, tv).json()
    client.force_login(user)
    client.post("/device", {"user_code": body["user_code"]})
    client.post("/device", {"user_code": body["user_code"], "decision": "deny"})
    assert_json_error(_poll(client, tv, body["device_code"]), 400, "access_denied")


def test_8628_3_5_expired_token(client, tv):
    body = _start(client, tv).json()
    row = DeviceCode.objects.get_by_device_code(body["device_code"])
    DeviceCode.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_json_error(_poll(client, tv, body["device_code"]), 400, "expired_token")


def test_8628_3_1_client_authentication_errors(client, tv):
    response = form(client, "/device/code", {"scope": "openid"})
    assert_json_error(response, 401, "invalid_client")
    response = form(client, "/device/code", {"client_id": tv.client.client_id, "scope": "nope"})
    assert_json_error(response, 400, "invalid_scope")


def test_8628_3_3_verification_uri_complete_opens_the_page(client, tv, user):
    body = _start(client, tv).json()
    client.force_login(user)
    response = client.get(body["verification_uri_complete"].removeprefix(ISSUER))
    assert response.status_code == 200
    assert b"TV" in response.content


def test_8628_device_authorization_is_post_only(client):
    response = client.get("/device/code")
    assert response.status_code == 405 and response["Allow"] == "POST"
