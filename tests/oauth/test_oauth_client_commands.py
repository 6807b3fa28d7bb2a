"""``register_oauth_client`` and ``rotate_oauth_client_secret``: the services' rules, the
secret printed once, bad input as a CommandError naming the field and the rule."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from beep_iam.models import OAuthClient
from beep_iam.services.oauth_clients import authenticate_client
from beep_shared import crypto
from tests.factories import OAuthClientFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_register_prints_the_id_and_the_secret_that_authenticates():
    owner = UserFactory(email="owner@example.com")
    out = run(
        "register_oauth_client",
        "--name",
        "Acme Dashboard",
        "--redirect-uri",
        "https://acme.example.com/callback",
        "--scope",
        "openid profile",
        "--scope",
        "email",
        "--user",
        "Owner@Example.com",
        "--contact",
        "ops@acme.example.com",
    )
    client_id = out.split("client_id:", 1)[1].split()[0]
    secret = out.split("client_secret:", 1)[1].split()[0]
    client = OAuthClient.objects.get(client_id=client_id)
    assert client.name == "Acme Dashboard" and client.user == owner
    assert client.scopes == ["openid", "profile", "email"]
    assert client.contacts == ["ops@acme.example.com"]
    assert client.client_secret == crypto.digest(secret) and secret not in client.client_secret
    assert authenticate_client(client_id, secret) == client
    assert "Shown once" in out


def test_register_json_for_scripts_and_a_public_client_without_secret():
    data = json.loads(
        run(
            "register_oauth_client",
            "--name",
            "Mobile",
            "--redirect-uri",
            "http://127.0.0.1:8765/cb",
            "--auth-method",
            "none",
            "--require-pkce",
            "--json",
        )
    )
    assert data["client_secret"] is None and data["public"] is True
    client = OAuthClient.objects.get(client_id=data["client_id"])
    assert client.token_endpoint_auth_method == "none" and client.require_pkce is True
    assert data["grant_types"] == ["authorization_code"]


def test_register_a_machine_client_shows_its_scopes_and_warns_without_them():
    def register(*extra: str) -> tuple[dict, str]:
        out, err = StringIO(), StringIO()
        call_command(
            "register_oauth_client",
            "--name",
            "Robot",
            "--grant-type",
            "client_credentials",
            *extra,
            "--json",
            stdout=out,
            stderr=err,
        )
        return json.loads(out.getvalue()), err.getvalue()

    data, warned = register("--client-credentials-scope", "invoices:read")
    assert data["client_credentials_scopes"] == ["invoices:read"] and warned == ""
    data, warned = register()
    assert data["client_credentials_scopes"] in ([], None)
    assert "refused (unauthorized_client)" in warned


def test_a_native_app_registers_a_private_use_redirect_uri():
    registered = ["--name", "Notes", "--auth-method", "none", "--redirect-uri", "com.ex.notes:/cb"]
    with pytest.raises(CommandError, match="for native apps only"):
        run("register_oauth_client", *registered)
    data = json.loads(
        run("register_oauth_client", *registered, "--application-type", "native", "--json")
    )
    assert data["redirect_uris"] == ["com.ex.notes:/cb"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--redirect-uri", "http://evil.example.com/cb"], "redirect_uris: 'http://evil"),
        ([], "redirect_uris: at least one redirect URI is required"),
        (
            ["--redirect-uri", "https://a.example.com/cb", "--auth-method", "magic"],
            "token_endpoint_auth_method: unknown value 'magic'",
        ),
        (
            ["--redirect-uri", "https://a.example.com/cb", "--grant-type", "password"],
            "grant_types: unknown value(s) 'password'",
        ),
        (
            [
                "--redirect-uri",
                "https://a.example.com/cb",
                "--auth-method",
                "private_key_jwt",
                "--jwks-uri",
                "http://keys.example.com/jwks.json",
            ],
            "jwks_uri: 'http://keys.example.com/jwks.json' must be an https URI",
        ),
        (
            ["--redirect-uri", "https://a.example.com/cb", "--scope", 'bad"scope'],
            "scopes: scope 'bad\"scope' must be printable ASCII",
        ),
        (
            ["--redirect-uri", "https://a.example.com/cb", "--user", "nobody@example.com"],
            "user: no user has the email address 'nobody@example.com'",
        ),
        (
            [
                "--grant-type",
                "client_credentials",
                "--client-credentials-scope",
                "openid invoices:read",
            ],
            "client_credentials_scopes: openid: a user's scopes, never granted to a client",
        ),
    ],
    ids=["http", "no-redirect", "method", "grant", "jwks-http", "scope", "user", "cc-openid"],
)
def test_register_refuses_bad_arguments_naming_field_and_rule(arguments, expected):
    with pytest.raises(CommandError) as raised:
        run("register_oauth_client", "--name", "Bad", *arguments)
    assert expected in str(raised.value)
    assert not OAuthClient.objects.filter(name="Bad").exists()


def test_rotate_prints_a_new_secret_and_the_old_one_stops_working():
    client = OAuthClientFactory(raw_secret="old-secret", client_id="rotate-me")
    out = run("rotate_oauth_client_secret", "rotate-me")
    new = out.split("client_secret:", 1)[1].split()[0]
    assert new != "old-secret"
    assert authenticate_client("rotate-me", new) == client
    client.refresh_from_db()
    assert not crypto.matches("old-secret", client.client_secret)

    data = json.loads(run("rotate_oauth_client_secret", "rotate-me", "--json"))
    assert data["client_id"] == "rotate-me" and data["client_secret"] not in (None, new)


def test_rotate_refuses_unknown_and_public_clients():
    OAuthClientFactory(public_client=True, client_id="public-app")
    with pytest.raises(CommandError, match=r"client_id: no OAuth client has the client_id 'x+…'"):
        run("rotate_oauth_client_secret", "x" * 500)
    with pytest.raises(
        CommandError, match="token_endpoint_auth_method: 'none' clients have no secret to rotate"
    ):
        run("rotate_oauth_client_secret", "public-app")


def test_register_enables_end_session():
    out = run(
        "register_oauth_client",
        "--name",
        "Signs out",
        "--redirect-uri",
        "https://a.example.com/cb",
        "--post-logout-redirect-uri",
        "https://a.example.com/bye",
        "--enable-end-session",
        "--json",
    )
    client = OAuthClient.objects.get(client_id=json.loads(out)["client_id"])
    assert client.enable_end_session is True
    assert client.post_logout_redirect_uris == ["https://a.example.com/bye"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 256])
def test_register_refuses_a_name_with_nothing_to_show_or_too_long(name):
    # Shown to users on the consent and device pages; registration capped it at 255, the
    # command and the admin did not (walkthrough).
    with pytest.raises(CommandError, match="name: A client's name is 1 to 255 characters"):
        run("register_oauth_client", "--name", name, "--redirect-uri", "https://a.example.com/cb")
    assert not OAuthClient.objects.exists()
