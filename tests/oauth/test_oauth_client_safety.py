"""A rotated secret is committed only once it was shown, and client
URIs are safe to render (no ``javascript:``) and to fetch (no internal hosts)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.admin.utils import quote
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.template.response import TemplateResponse
from django.urls import reverse

from beep_iam import validators
from beep_iam.services.oauth_clients import authenticate_client, register_client
from beep_iam.services.oauth_errors import InvalidClient
from tests.factories import OAuthClientFactory, UserFactory

pytestmark = pytest.mark.django_db


# -- item 13: show, then commit -------------------------------------------------------------


class ClosedPipe(StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


class FailsOnFlush(StringIO):
    def flush(self) -> None:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("stdout", [ClosedPipe, FailsOnFlush], ids=["closed-pipe", "disk-full"])
def test_the_command_keeps_the_old_secret_when_the_new_one_cannot_be_shown(stdout):
    client = OAuthClientFactory(raw_secret="still-valid", client_id="rotate-me")
    with pytest.raises(CommandError, match="old secret still works"):
        call_command("rotate_oauth_client_secret", "rotate-me", stdout=stdout())
    assert authenticate_client("rotate-me", "still-valid") == client


def test_the_command_commits_once_the_secret_is_written():
    OAuthClientFactory(raw_secret="old-one", client_id="rotate-ok")
    out = StringIO()
    call_command("rotate_oauth_client_secret", "rotate-ok", stdout=out)
    secret = out.getvalue().split("client_secret:", 1)[1].split()[0]
    assert authenticate_client("rotate-ok", secret).client_id == "rotate-ok"
    with pytest.raises(InvalidClient):
        authenticate_client("rotate-ok", "old-one")


def test_the_admin_keeps_the_old_secret_when_the_page_fails(client, monkeypatch):
    from beep_iam.admin import oauth

    superuser = UserFactory(is_staff=True, is_superuser=True, password="!")
    client.force_login(superuser)
    oauth_client = OAuthClientFactory(raw_secret="kept", client_id="admin-rotate")

    def broken_page(*args, **kwargs):
        return TemplateResponse(kwargs.get("request") or args[1], "admin/no-such-page.html", {})

    monkeypatch.setattr(oauth, "one_time_secret_response", broken_page)
    url = reverse("admin:beep_iam_oauthclient_rotate_secret", args=[quote(oauth_client.pk)])
    client.raise_request_exception = False
    assert client.post(url).status_code == 500
    assert authenticate_client("admin-rotate", "kept") == oauth_client


# -- item 14: URIs a page renders, URIs a server fetches ---------------------------------------


def register(**metadata):
    return register_client(redirect_uris=["https://app.example.com/cb"], **metadata)


@pytest.mark.parametrize("field", ["uri", "icon", "tos", "policy"])
@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://plain.example.com/",
        "//example.com/x",
        " https://example.com/",
    ],
)
def test_rendered_client_uris_must_be_https(field, value):
    with pytest.raises(ValidationError) as caught:
        register(**{field: value})
    assert field in caught.value.message_dict


@pytest.mark.parametrize("field", ["uri", "icon", "tos", "policy"])
def test_rendered_client_uris_accept_https_and_loopback_http(field):
    assert register(**{field: "https://example.com/about"}).client.pk
    assert register(**{field: "http://127.0.0.1:8000/about"}).client.pk


INTERNAL = [
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest",
    "https://10.0.0.8/jwks",
    "https://192.168.1.1/jwks",
    "https://172.16.0.1/jwks",
    "https://127.0.0.1/jwks",
    "https://[::1]/jwks",
    "https://[::ffff:169.254.169.254]/jwks",
    "https://[64:ff9b::a9fe:a9fe]/jwks",  # NAT64 of the metadata address
    "https://[fe80::1]/jwks",
    "https://0.0.0.0/jwks",
    "https://2852039166/jwks",  # 169.254.169.254 as one number
    "https://0xa9.0xfe.0xa9.0xfe/jwks",
    "https://localhost/jwks",
    "https://api.localhost./jwks",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata/jwks",
    "http://keys.example.com/jwks",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("uri", INTERNAL)
def test_fetched_client_uris_refuse_internal_hosts(uri):
    with pytest.raises(ValidationError) as caught:
        register(token_endpoint_auth_method="private_key_jwt", jwks_uri=uri)
    assert "jwks_uri" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        register(backchannel_logout_uri=uri)
    assert "backchannel_logout_uri" in caught.value.message_dict


def test_fetched_client_uris_accept_public_https_hosts():
    registered = register(
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri="https://keys.example.com/.well-known/jwks.json",
        backchannel_logout_uri="https://app.example.com/logout",
    )
    assert registered.client.jwks_uri.startswith("https://keys.example.com/")


def test_an_existing_client_is_checked_too():
    client = OAuthClientFactory()
    client.backchannel_logout_uri = "https://169.254.169.254/"
    client.icon = "javascript:alert(1)"
    with pytest.raises(ValidationError) as caught:
        client.full_clean()
    assert {"backchannel_logout_uri", "icon"} <= set(caught.value.message_dict)


def test_the_host_rule_is_one_function_for_later_fetches():
    assert validators.internal_host_reason("keys.example.com") is None
    assert validators.internal_host_reason("169.254.169.254")
    assert validators.is_internal_address("10.1.2.3")
    assert not validators.is_internal_address("93.184.216.34")


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("64:ff9b::a00:5", True),  # NAT64 of 10.0.0.5
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of the cloud metadata address
        ("64:ff9b::7f00:1", True),  # NAT64 of 127.0.0.1
        ("64:ff9b::5db8:d822", False),  # NAT64 of 93.184.216.34: the IPv4 address decides
        ("64:ff9b:1::5db8:d822", True),  # local-use NAT64 (RFC 8215)
        ("64:ff9b:1:ffff::1", True),
        ("::a00:5", True),  # IPv4-compatible
        ("::5db8:d822", True),
        ("::", True),
        ("::1", True),
        ("2606:2800:220:1::1", False),
    ],
)
def test_nat64_and_ipv4_compatible_addresses_are_judged_by_where_they_lead(address, internal):
    assert validators.is_internal_address(address) is internal
    assert (validators.internal_host_reason(f"[{address}]") is not None) is internal
