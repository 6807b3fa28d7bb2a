"""The device flow (RFC 8628) with stock better-auth 1.7's ``oauthDeviceAuthorization()`` on
one ``device_code`` table: a code Django issued for a resource is claimed (better-auth's
``/device`` shows the resource from Django's row) and approved through better-auth's own
endpoints and redeemed at Django, and a code better-auth issued for a resource is approved
on Django's verification page (the user signed in by better-auth's cookie, the page naming
the resource) and redeemed at better-auth's token endpoint for a token bound to it that
Django's resource side accepts. The device codes themselves do not cross (Django stores
digests, better-auth the code)."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from beep_iam.models import DeviceCode, DeviceCodeStatus, OAuthClientResource, OAuthResource
from beep_iam.oauth2 import access_jwt
from beep_iam.services import oauth_clients

from .test_accounts import sign_up
from .test_oauth_endpoints import FORM, better_auth_17, co_tenancy
from .test_resource_tokens import API, at_django

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["better_auth_17", "co_tenancy"]  # the module's fixtures, shared

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def subject(jwt: str) -> str:
    """The ``sub`` of a JWT whose signature was checked elsewhere."""
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def device_client() -> str:
    """A public TV client linked to the resource API."""
    registered = oauth_clients.register_client(
        name="Shared TV",
        redirect_uris=[],
        response_types=[],
        token_endpoint_auth_method="none",
        grant_types=[GRANT],
        scopes=["openid", "profile", "invoices:read"],
    )
    row = OAuthResource.objects.create(identifier=API, name="Invoices API")
    OAuthClientResource.objects.create(client_id=registered.client.client_id, resource=row)
    return registered.client.client_id


def test_django_code_approved_at_better_auth_redeems_at_django(better_auth_17):
    browser, user_body = sign_up(better_auth_17, email="tv@example.com", name="Tv")
    client_id = device_client()
    http = Client()
    asked = {"client_id": client_id, "scope": "openid invoices:read", "resource": API}
    body = http.post("/device/code", urlencode(asked), content_type=FORM).json()
    # better-auth reads Django's row: its /device claims it and shows the resource to the
    # claiming user, its /device/approve approves it.
    seen = browser.get("/api/auth/device", query={"user_code": body["user_code"]})
    assert seen.status == 200, seen.body
    assert seen.body["resource"] == API
    approved = browser.post("/api/auth/device/approve", json={"userCode": body["user_code"]})
    assert approved.status == 200, approved.body
    assert DeviceCode.objects.get().status == DeviceCodeStatus.APPROVED

    DeviceCode.objects.update(last_polled_at=None)
    poll = {"grant_type": GRANT, "device_code": body["device_code"], "client_id": client_id}
    tokens = http.post("/oauth2/token", urlencode(poll), content_type=FORM)
    assert tokens.status_code == 200, tokens.content
    response = at_django(tokens.json()["access_token"])
    assert response.status_code == 200, response.content  # its signature checked there
    assert json.loads(response.content) == {"client": client_id}
    assert subject(tokens.json()["access_token"]) == user_body["id"]


def test_better_auth_code_approved_at_django_redeems_at_better_auth(better_auth_17):
    browser, user_body = sign_up(better_auth_17, email="tv2@example.com", name="Tv2")
    client_id = device_client()
    issued = better_auth_17.request(
        "POST",
        "/api/auth/device/code",
        json={"client_id": client_id, "scope": "openid invoices:read", "resource": API},
    )
    assert issued.status == 200, issued.body
    row = DeviceCode.objects.get()
    assert row.polling_interval == 5000  # the unit Django reads
    assert (row.resources, row.oauth_client_id) == ([API], client_id)

    http = Client()  # signed in by better-auth's session cookie
    for name, value in browser.cookies.items():
        http.cookies[name] = value
    typed = issued.body["user_code"].lower()
    page = http.get("/device", {"user_code": typed})
    assert page.status_code == 200
    assert b"Invoices API" in page.content and API.encode() in page.content
    done = http.post("/device", {"user_code": typed, "decision": "allow"})
    assert done.status_code == 200 and b"Device connected" in done.content
    assert DeviceCode.objects.get().user_id == user_body["id"]

    DeviceCode.objects.update(last_polled_at=None)
    tokens = better_auth_17.request(
        "POST",
        "/api/auth/oauth2/token",
        form={
            "grant_type": GRANT,
            "device_code": issued.body["device_code"],
            "client_id": client_id,
        },
    )
    assert tokens.status == 200, tokens.body
    token = tokens.body["access_token"]
    assert access_jwt.looks_like_jwt(token)  # bound to the resource the user approved
    response = at_django(token)
    assert response.status_code == 200, response.content
    assert json.loads(response.content) == {"client": client_id}
    assert subject(token) == user_body["id"]
