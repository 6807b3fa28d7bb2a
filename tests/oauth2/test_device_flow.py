"""The Device Authorization Grant (RFC 8628): device request, code entry, approval, polling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from django.utils import timezone

from beep_iam.conf import load
from beep_iam.models import (
    DeviceCode,
    DeviceCodeStatus,
    OAuthAccessToken,
    OAuthClientResource,
    OAuthResource,
)
from beep_iam.oauth2.metadata import SELF_REGISTERED
from beep_iam.services.oauth_clients import RegisteredClient, register_client
from beep_shared.crypto import digest, generate_token
from tests.factories import UserFactory
from tests.factories.iam import DeviceCodeFactory
from tests.oauth2.conftest import basic
from tests.oauth2.test_resource_indicators import decode

pytestmark = pytest.mark.django_db

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def tv() -> RegisteredClient:
    """A public client on a TV: device grant and refresh tokens."""
    return register_client(
        redirect_uris=[],
        name="Living-room TV",
        token_endpoint_auth_method="none",
        grant_types=[GRANT, "refresh_token"],
        response_types=[],
        scopes=["openid", "profile", "offline_access"],
    )


@pytest.fixture
def console() -> RegisteredClient:
    """A confidential client allowed the device grant."""
    return register_client(
        redirect_uris=[],
        name="Console",
        grant_types=[GRANT],
        response_types=[],
        scopes=["openid", "profile"],
    )


FORM = "application/x-www-form-urlencoded"


def form_post(http: Client, path: str, data: dict[str, str], **headers: str) -> Any:
    return http.post(path, urlencode(data), content_type=FORM, **headers)


def device_request(http: Client, client_id: str, scope: str = "openid offline_access") -> Any:
    return form_post(http, "/device/code", {"client_id": client_id, "scope": scope})


def poll(http: Client, client_id: str, device_code: str, **headers: str) -> Any:
    data = {"grant_type": GRANT, "device_code": device_code}
    if not headers:
        data["client_id"] = client_id
    return form_post(http, "/oauth2/token", data, **headers)


def let_time_pass(device_code: str) -> None:
    """As if the device waited its interval since the last poll."""
    row = DeviceCode.objects.get_by_device_code(device_code, include_expired=True)
    assert row is not None
    assert row.polling_interval is not None
    DeviceCode.objects.filter(pk=row.pk).update(
        last_polled_at=timezone.now() - timedelta(milliseconds=row.polling_interval + 1000)
    )


def typo_variant(user_code: str) -> str:
    """How a person types ``BCDF-GHJK``: lower case, a space instead of the dash."""
    return user_code.replace("-", " ").lower()


def approve(http: Client, user_code: str, decision: str = "allow") -> Any:
    page = http.post("/device", {"user_code": typo_variant(user_code)})
    assert page.status_code == 200, page.content
    assert b"Living-room TV" in page.content or b"Console" in page.content
    return http.post("/device", {"user_code": user_code, "decision": decision})


def test_full_flow(client, user, tv):
    answer = device_request(client, tv.client.client_id)
    assert answer.status_code == 200, answer.content
    assert "no-store" in answer["Cache-Control"]
    body = answer.json()
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert body["verification_uri"] == "https://testserver/device"
    assert body["verification_uri_complete"].startswith("https://testserver/device?user_code=")
    assert body["interval"] == 5
    assert body["expires_in"] == 1800
    # Only the digest of the device code is stored.
    row = DeviceCode.objects.get()
    assert row.device_code != body["device_code"]
    assert row.polling_interval == 5000  # better-auth's unit

    pending = poll(client, tv.client.client_id, body["device_code"])
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"

    # The verification page wants a signed-in user.
    anonymous = client.get(body["verification_uri_complete"].removeprefix("https://testserver"))
    assert anonymous.status_code == 302
    assert settings.LOGIN_URL in anonymous["Location"]

    client.force_login(user)
    form = client.get("/device")
    assert form.status_code == 200
    assert form["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in form["Content-Security-Policy"]
    done = approve(client, body["user_code"])
    assert done.status_code == 200
    assert b"Device connected" in done.content
    client.logout()

    let_time_pass(body["device_code"])
    tokens = poll(client, tv.client.client_id, body["device_code"])
    assert tokens.status_code == 200, tokens.content
    issued = tokens.json()
    assert issued["token_type"] == "Bearer"
    assert set(issued["scope"].split()) == {"openid", "offline_access"}
    assert "refresh_token" in issued
    assert "id_token" in issued
    assert OAuthAccessToken.objects.filter(client_id=tv.client.client_id, user=user).exists()
    # Used once: the row is gone and a second redemption is refused.
    assert not DeviceCode.objects.exists()
    again = poll(client, tv.client.client_id, body["device_code"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_confidential_client_authenticates(client, user, console):
    creds = basic(console.client.client_id, console.client_secret)
    no_secret = device_request(client, console.client.client_id, "openid")
    assert no_secret.status_code == 401
    body = form_post(client, "/device/code", {"scope": "openid"}, HTTP_AUTHORIZATION=creds).json()
    client.force_login(user)
    approve(client, body["user_code"])
    tokens = poll(client, "", body["device_code"], HTTP_AUTHORIZATION=creds)
    assert tokens.status_code == 200, tokens.content
    assert "refresh_token" not in tokens.json()


def test_denied(client, user, tv):
    body = device_request(client, tv.client.client_id).json()
    client.force_login(user)
    done = approve(client, body["user_code"], decision="deny")
    assert b"Access denied" in done.content
    denied = poll(client, tv.client.client_id, body["device_code"])
    assert denied.json()["error"] == "access_denied"
    assert poll(client, tv.client.client_id, body["device_code"]).json()["error"] == (
        "invalid_grant"
    )
    assert not OAuthAccessToken.objects.exists()


def test_polling_too_fast_raises_the_interval(client, tv):
    body = device_request(client, tv.client.client_id).json()
    first = poll(client, tv.client.client_id, body["device_code"])
    assert first.json()["error"] == "authorization_pending"
    fast = poll(client, tv.client.client_id, body["device_code"])
    assert fast.status_code == 400
    assert fast.json()["error"] == "slow_down"
    assert DeviceCode.objects.get().polling_interval == 10000
    faster = poll(client, tv.client.client_id, body["device_code"])
    assert faster.json()["error"] == "slow_down"
    assert DeviceCode.objects.get().polling_interval == 15000
    let_time_pass(body["device_code"])
    assert poll(client, tv.client.client_id, body["device_code"]).json()["error"] == (
        "authorization_pending"
    )


def test_the_polling_interval_is_a_setting(client, tv, settings):
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DEVICE_POLLING_INTERVAL": 2}
    body = device_request(client, tv.client.client_id).json()
    assert body["interval"] == 2
    assert DeviceCode.objects.get().polling_interval == 2000
    assert poll(client, tv.client.client_id, body["device_code"]).json()["error"] == (
        "authorization_pending"
    )
    assert poll(client, tv.client.client_id, body["device_code"]).json()["error"] == "slow_down"
    assert DeviceCode.objects.get().polling_interval == 7000


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (0, "positive"),
        (1.5, "timedelta or a whole number of seconds"),
        (timedelta(milliseconds=1500), "whole number of seconds from 1 to 60"),
        (61, "whole number of seconds from 1 to 60"),
    ],
)
def test_a_bad_polling_interval_names_the_setting(value, rule):
    with pytest.raises(ImproperlyConfigured, match=f"'OAUTH2_DEVICE_POLLING_INTERVAL'.*{rule}"):
        load({"OAUTH2_DEVICE_POLLING_INTERVAL": value})


def test_expired_code(client, user, tv):
    body = device_request(client, tv.client.client_id).json()
    DeviceCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client.force_login(user)
    page = client.post("/device", {"user_code": body["user_code"]})
    assert page.status_code == 400
    assert b"unknown, used or expired" in page.content
    expired = poll(client, tv.client.client_id, body["device_code"])
    assert expired.json()["error"] == "expired_token"
    assert not DeviceCode.objects.exists()


def test_unknown_codes(client, user, tv):
    client.force_login(user)
    page = client.post("/device", {"user_code": "BCDF-GHJK"})
    assert page.status_code == 400
    nonsense = client.get("/device", {"user_code": "<script>"})
    assert nonsense.status_code == 400
    assert b"<script>" not in nonsense.content
    unknown = poll(client, tv.client.client_id, "not-a-device-code")
    assert unknown.json()["error"] == "invalid_grant"
    missing = form_post(
        client, "/oauth2/token", {"grant_type": GRANT, "client_id": tv.client.client_id}
    )
    assert missing.json()["error"] == "invalid_request"


def test_another_clients_device_code_is_refused(client, user, tv, console):
    body = device_request(client, tv.client.client_id).json()
    client.force_login(user)
    approve(client, body["user_code"])
    creds = basic(console.client.client_id, console.client_secret)
    stolen = poll(client, "", body["device_code"], HTTP_AUTHORIZATION=creds)
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert not OAuthAccessToken.objects.exists()
    # The rightful client still gets its tokens.
    assert poll(client, tv.client.client_id, body["device_code"]).status_code == 200


def test_a_decided_code_cannot_be_decided_again(client, user, tv):
    body = device_request(client, tv.client.client_id).json()
    client.force_login(user)
    approve(client, body["user_code"])
    again = client.post("/device", {"user_code": body["user_code"], "decision": "deny"})
    assert again.status_code == 400
    assert DeviceCode.objects.get().status == DeviceCodeStatus.APPROVED


def test_verification_page_needs_csrf(user, tv):
    http = Client(enforce_csrf_checks=True)
    body = device_request(http, tv.client.client_id).json()
    http.force_login(user)
    refused = http.post("/device", {"user_code": body["user_code"], "decision": "allow"})
    assert refused.status_code == 403
    assert DeviceCode.objects.get().status == DeviceCodeStatus.PENDING


def test_grant_must_be_allowed_for_the_client(client, user):
    web = register_client(
        redirect_uris=["https://client.example.com/callback"],
        name="Web app",
        token_endpoint_auth_method="none",
        grant_types=["authorization_code"],
    )
    refused = device_request(client, web.client.client_id, "openid")
    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"
    assert not DeviceCode.objects.exists()


def test_scope_is_checked(client, tv):
    refused = device_request(client, tv.client.client_id, "openid admin")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    assert not DeviceCode.objects.exists()


def test_a_request_without_scope_gets_the_clients_scopes(client, tv):
    # RFC 8628 3.1: scope is OPTIONAL; defaulted as at the authorization endpoint (RFC 6749
    # 3.3), so the user approves, and the device gets, what the client registered.
    # An empty value counts as omitted (RFC 6749 3.1).
    for asked in ({}, {"scope": ""}):
        answer = form_post(client, "/device/code", {"client_id": tv.client.client_id, **asked})
        assert answer.status_code == 200, answer.content
        row = DeviceCode.objects.get(device_code=digest(answer.json()["device_code"]))
        assert row.scope is not None
        assert row.scope.split() == ["openid", "profile", "offline_access"]


def test_code_entry_is_rate_limited_per_ip(client, user, tv):
    limits = {"device_verify": {"window": 3600, "per_ip": 2, "per_client": None}}
    with override_settings(
        BEEP_IAM={**getattr(settings, "BEEP_IAM", {}), "OAUTH2_RATE_LIMITS": limits}
    ):
        client.force_login(user)
        for _ in range(2):
            assert client.post("/device", {"user_code": "BCDFGHJK"}).status_code == 400
        limited = client.post("/device", {"user_code": "BCDFGHJK"})
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1


def test_discovery_names_the_endpoint(client):
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["device_authorization_endpoint"] == "https://testserver/device/code"
    assert GRANT in metadata["grant_types_supported"]


def test_the_first_user_to_see_a_code_claims_it(client, user, tv):
    """As better-auth's /device: a code shown to one user cannot be decided by another."""
    body = device_request(client, tv.client.client_id).json()
    client.force_login(user)
    assert client.get("/device", {"user_code": body["user_code"]}).status_code == 200
    assert DeviceCode.objects.get().user == user
    other = Client()
    other.force_login(UserFactory())
    refused = other.post("/device", {"user_code": body["user_code"], "decision": "allow"})
    assert refused.status_code == 400
    row = DeviceCode.objects.get()
    assert row.status == DeviceCodeStatus.PENDING and row.user == user
    assert approve(client, body["user_code"]).status_code == 200


@pytest.fixture
def tv_guide(tv) -> list[OAuthResource]:
    """Two resources linked to the TV client."""
    made = []
    for identifier, name in (
        ("https://guide.example.com/api", "TV guide"),
        ("https://shop.example.com/api", "Shop"),
    ):
        row = OAuthResource.objects.create(identifier=identifier, name=name)
        OAuthClientResource.objects.create(client_id=tv.client.client_id, resource=row)
        made.append(row)
    return made


def test_resources_are_approved_with_the_code(client, user, tv, tv_guide):
    """RFC 8707 on the device authorization request, as better-auth's
    oauthDeviceAuthorization() takes it: the user sees the resources, a poll may narrow them,
    never widen them, and a refused poll leaves the approval for a correct one."""
    guide, shop = tv_guide
    client_id = tv.client.client_id
    unknown = {"client_id": client_id, "scope": "openid", "resource": "https://x.example.com/"}
    refused = form_post(client, "/device/code", unknown)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_target"
    assert not DeviceCode.objects.exists()

    asked = {"client_id": client_id, "scope": "openid", "resource": guide.identifier}
    body = form_post(client, "/device/code", asked).json()
    row = DeviceCode.objects.get()
    assert (row.resources, row.oauth_client_id) == ([guide.identifier], client_id)
    client.force_login(user)
    page = client.post("/device", {"user_code": body["user_code"]})
    assert b"TV guide" in page.content and guide.identifier.encode() in page.content
    assert b"Shop" not in page.content
    client.post("/device", {"user_code": body["user_code"], "decision": "allow"})

    data = {"grant_type": GRANT, "device_code": body["device_code"], "client_id": client_id}
    wider = form_post(client, "/oauth2/token", {**data, "resource": shop.identifier})
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_target"
    assert not OAuthAccessToken.objects.exists()
    issued = form_post(client, "/oauth2/token", data)
    assert issued.status_code == 200, issued.content
    _, claims = decode(issued.json()["access_token"], client)
    assert guide.identifier in (
        claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    )
    assert not DeviceCode.objects.exists()  # redeemed once
    assert form_post(client, "/oauth2/token", data).json()["error"] == "invalid_grant"


def test_a_device_code_without_resources_gets_an_opaque_token(client, user, tv, tv_guide):
    body = device_request(client, tv.client.client_id, "openid").json()
    client.force_login(user)
    approve(client, body["user_code"])
    asked = {"grant_type": GRANT, "device_code": body["device_code"]}
    named = form_post(
        client,
        "/oauth2/token",
        {**asked, "client_id": tv.client.client_id, "resource": tv_guide[0].identifier},
    )
    assert named.json()["error"] == "invalid_target"  # the user approved no resource
    assert DeviceCode.objects.get().resources is None


# --- review 5 -------------------------------------------------------------------------------


def test_user_code_guesses_are_limited_per_user_too(user, tv):
    # RFC 8628 5.1: one account behind many addresses (an IPv6 /48 holds 65,536 /64s) had
    # no limit at all; the per-IP number now also counts per signed-in user.
    http = Client()
    http.force_login(user)
    statuses = [
        http.post("/device", {"user_code": "BCDF-GHJK"}, REMOTE_ADDR=f"2001:db8:0:{i:x}::1")
        for i in range(11)
    ]
    assert [r.status_code for r in statuses[:10]] == [400] * 10
    assert statuses[10].status_code == 429
    assert statuses[10]["Retry-After"]
    other = Client()
    other.force_login(UserFactory())
    fresh = other.post("/device", {"user_code": "BCDF-GHJK"}, REMOTE_ADDR="2001:db8:1::1")
    assert fresh.status_code == 400  # another account keeps its own budget


def _first_party_code(tv, user, status=DeviceCodeStatus.APPROVED) -> tuple[DeviceCode, str]:
    raw = generate_token()
    DeviceCodeFactory(
        raw_device_code=raw,
        client_id=tv.client.client_id,
        oauth_client_id=None,  # better-auth's first-party deviceAuthorization()
        status=status,
        user=user,
        scope="openid offline_access",
    )
    return DeviceCode.objects.get(device_code=digest(raw)), raw


def test_a_first_party_device_code_gets_no_oauth_tokens(client, user, tv):
    _, raw = _first_party_code(tv, user)
    response = poll(client, tv.client.client_id, raw)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_a_first_party_device_code_is_not_decided_on_the_device_page(client, user, tv):
    row, _ = _first_party_code(tv, None, status=DeviceCodeStatus.PENDING)
    client.force_login(user)
    page = client.post("/device", {"user_code": row.user_code})
    assert page.status_code == 400
    assert b"Living-room TV" not in page.content


def test_the_device_page_says_a_self_registered_client_is_not_vouched_for(client, user, tv):
    tv.client.metadata = {**(tv.client.metadata_object() or {}), SELF_REGISTERED: True}
    tv.client.save(update_fields=["metadata"])
    body = device_request(client, tv.client.client_id).json()
    client.force_login(user)
    page = client.post("/device", {"user_code": body["user_code"]})
    assert page.status_code == 200
    assert b"this server does not vouch for it" in page.content
