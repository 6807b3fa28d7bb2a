"""The device flow (RFC 8628) with stock better-auth 1.7 on one ``device_code`` table: a code
Django issued is claimed and approved through better-auth's own endpoints and redeemed at
Django, and a code better-auth issued is approved on Django's verification page (the user
signed in by better-auth's cookie) and redeemed at better-auth. The device codes themselves
do not cross (Django stores digests, better-auth the code)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client

from beep_iam.models import DeviceCode, DeviceCodeStatus
from beep_iam.services import oauth_clients, oauth_tokens

from .test_accounts import sign_up
from .test_oauth_endpoints import FORM, better_auth_17, co_tenancy

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["better_auth_17", "co_tenancy"]  # the module's fixtures, shared

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def device_client() -> str:
    registered = oauth_clients.register_client(
        name="Shared TV",
        redirect_uris=[],
        response_types=[],
        token_endpoint_auth_method="none",
        grant_types=[GRANT],
        scopes=["openid", "profile"],
    )
    return registered.client.client_id


def test_django_code_approved_at_better_auth_redeems_at_django(better_auth_17):
    browser, user_body = sign_up(better_auth_17, email="tv@example.com", name="Tv")
    client_id = device_client()
    http = Client()
    body = http.post(
        "/device/code", urlencode({"client_id": client_id, "scope": "openid"}), content_type=FORM
    ).json()
    # better-auth reads Django's row: its /device claims it, its /device/approve approves it.
    seen = browser.get("/api/auth/device", query={"user_code": body["user_code"]})
    assert seen.status == 200, seen.body
    approved = browser.post("/api/auth/device/approve", json={"userCode": body["user_code"]})
    assert approved.status == 200, approved.body
    assert DeviceCode.objects.get().status == DeviceCodeStatus.APPROVED

    DeviceCode.objects.update(last_polled_at=None)
    tokens = http.post(
        "/oauth2/token",
        urlencode(
            {"grant_type": GRANT, "device_code": body["device_code"], "client_id": client_id}
        ),
        content_type=FORM,
    )
    assert tokens.status_code == 200, tokens.content
    info = oauth_tokens.validate_access_token(tokens.json()["access_token"])
    assert info is not None and info.user_id == user_body["id"]


def test_better_auth_code_approved_at_django_redeems_at_better_auth(better_auth_17):
    browser, user_body = sign_up(better_auth_17, email="tv2@example.com", name="Tv2")
    client_id = device_client()
    issued = better_auth_17.request(
        "POST", "/api/auth/device/code", json={"client_id": client_id, "scope": "openid"}
    )
    assert issued.status == 200, issued.body
    assert DeviceCode.objects.get().polling_interval == 5000  # the unit Django reads

    http = Client()  # signed in by better-auth's session cookie
    for name, value in browser.cookies.items():
        http.cookies[name] = value
    typed = issued.body["user_code"].lower()
    assert http.get("/device", {"user_code": typed}).status_code == 200
    done = http.post("/device", {"user_code": typed, "decision": "allow"})
    assert done.status_code == 200 and b"Device connected" in done.content
    assert DeviceCode.objects.get().user_id == user_body["id"]

    DeviceCode.objects.update(last_polled_at=None)
    tokens = better_auth_17.request(
        "POST",
        "/api/auth/device/token",
        json={
            "grant_type": GRANT,
            "device_code": issued.body["device_code"],
            "client_id": client_id,
        },
    )
    assert tokens.status == 200, tokens.body
    assert tokens.body["access_token"]
