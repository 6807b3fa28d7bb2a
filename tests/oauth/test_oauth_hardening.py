"""OAuth services against hostile or stale input: users, soft deletes, scopes, sizes,
redirect URIs, callers that name no client, and secrets on error pages."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.test import RequestFactory
from django.utils import timezone
from django.views.debug import ExceptionReporter

from beep_iam import validators as rules
from beep_iam.models import OAuthClient
from beep_iam.services import oauth_clients, oauth_consent, oauth_tokens
from beep_iam.services.oauth_errors import InvalidClient, InvalidGrant, InvalidRequest
from beep_iam.services.oauth_tokens import ANY_CLIENT
from beep_iam.services.secret_parameters import protect_secret_parameters
from tests.factories import OAuthClientFactory, UserFactory

pytestmark = pytest.mark.django_db


def issue(client=None, user=None, scopes=("openid", "email")):
    client = client or OAuthClientFactory()
    user = user or UserFactory()
    return oauth_tokens.issue_tokens(client, user=user, scopes=list(scopes), with_refresh=True)


# --- 7: validity covers the user and soft deletes ------------------------------------------

STALE = {
    "inactive user": lambda t: (
        type(t.access.user).objects.filter(pk=t.access.user_id).update(is_active=False)
    ),
    "banned user": lambda t: (
        type(t.access.user).objects.filter(pk=t.access.user_id).update(banned=True)
    ),
    "ban not yet over": lambda t: (
        type(t.access.user)
        .objects.filter(pk=t.access.user_id)
        .update(banned=True, ban_expires=timezone.now() + timedelta(days=1))
    ),
    "soft-deleted user": lambda t: (
        type(t.access.user).objects.filter(pk=t.access.user_id).update(deleted_at=timezone.now())
    ),
    "soft-deleted token": lambda t: (
        type(t.access).objects.filter(pk=t.access.pk).update(deleted_at=timezone.now()),
        type(t.refresh).objects.filter(pk=t.refresh.pk).update(deleted_at=timezone.now()),
    ),
    "soft-deleted client": lambda t: OAuthClient.objects.filter(pk=t.access.client.pk).update(
        deleted_at=timezone.now()
    ),
}


@pytest.mark.parametrize("stale", list(STALE))
def test_tokens_of_stale_users_clients_or_rows_are_not_valid(stale):
    issued = issue()
    assert oauth_tokens.validate_access_token(issued.access_token) is not None
    STALE[stale](issued)
    assert oauth_tokens.validate_access_token(issued.access_token) is None
    assert oauth_tokens.introspect(issued.access_token) == {"active": False}
    assert oauth_tokens.introspect(issued.refresh_token) == {"active": False}
    with pytest.raises((InvalidGrant, InvalidClient)):
        oauth_tokens.rotate_refresh_token(issued.refresh_token, client_id=ANY_CLIENT)


def test_an_expired_ban_no_longer_blocks_tokens():
    issued = issue()
    type(issued.access.user).objects.filter(pk=issued.access.user_id).update(
        banned=True, ban_expires=timezone.now() - timedelta(seconds=1)
    )
    assert oauth_tokens.validate_access_token(issued.access_token) is not None


def test_no_tokens_are_issued_to_a_banned_user():
    with pytest.raises(InvalidGrant, match="banned"):
        issue(user=UserFactory(banned=True))


def test_a_refresh_after_the_clients_scopes_were_cut_keeps_only_allowed_scopes():
    client = OAuthClientFactory(scopes=["openid", "email", "profile"])
    issued = issue(client=client, scopes=["openid", "email", "profile"])
    client.scopes = ["openid"]
    client.save()
    rotated = oauth_tokens.rotate_refresh_token(issued.refresh_token, client_id=client.client_id)
    assert rotated.access.scopes == ["openid"] and rotated.refresh.scopes == ["openid"]
    assert oauth_tokens.validate_access_token(rotated.access_token).scopes == ["openid"]


# --- 8: a string is not a list of scopes ---------------------------------------------------


def test_scopes_given_as_a_string_are_refused_everywhere():
    client, user = OAuthClientFactory(), UserFactory()
    calls = [
        lambda: oauth_tokens.issue_tokens(client, user=user, scopes="openid"),
        lambda: oauth_consent.grant_consent(client, user, "openid"),
        lambda: oauth_consent.consent_covers(client, user, "openid"),
        lambda: rules.validate_scopes("openid"),
    ]
    for call in calls:
        with pytest.raises(ValidationError) as caught:
            call()
        assert "must be a list of scope strings" in str(caught.value)
    issued = issue(client=client, user=user)
    with pytest.raises(ValidationError, match="must be a list"):
        oauth_tokens.rotate_refresh_token(
            issued.refresh_token, client_id=client.client_id, scopes="openid"
        )


# --- 9: bounded, linear-time input ---------------------------------------------------------


def messages(error: ValidationError) -> str:
    return " ".join(str(m) for ms in error.message_dict.values() for m in ms)


def test_huge_scope_lists_are_refused_quickly_naming_the_limit():
    started = time.perf_counter()
    with pytest.raises(ValidationError) as caught:
        rules.validate_scopes([f"s{i}" for i in range(40_000)])
    with pytest.raises(ValidationError):
        oauth_consent.consent_covers("client", UserFactory(), (f"s{i}" for i in range(40_000)))
    assert time.perf_counter() - started < 0.5
    assert f"at most {rules.MAX_SCOPES} scopes" in messages(caught.value)
    assert list(caught.value.message_dict) == ["scopes"]
    many = [f"s{i}" for i in range(rules.MAX_SCOPES // 2)]
    assert rules.validate_scopes(many + many) == many  # duplicates dropped, order kept
    with pytest.raises(ValidationError, match=f"at most {rules.MAX_SCOPE_LENGTH} characters"):
        rules.validate_scopes(["x" * (rules.MAX_SCOPE_LENGTH + 1)])


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("redirect_uris", [f"https://a.example/{i}" for i in range(100_000)], "at most 50 URIs"),
        ("redirect_uris", ["https://a.example/" + "x" * 10_000_000], "at most 2000 characters"),
        ("contacts", [f"a{i}@example.com" for i in range(1000)], "at most 20 contacts"),
        ("metadata", {"blob": "x" * 1_000_000}, "at most 16384 bytes"),
    ],
)
def test_oversized_client_metadata_is_refused_naming_field_and_limit(field, value, limit):
    kwargs = {"redirect_uris": ["https://a.example/cb"], field: value}
    with pytest.raises(ValidationError) as caught:
        oauth_clients.register_client(**kwargs)
    assert field in caught.value.message_dict
    text = messages(caught.value)
    assert limit in text and len(text) < 400  # the value is not echoed whole
    assert not OAuthClient.objects.exists()


# --- 10: redirect URIs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "rule"),
    [
        ("https://*.example.com/cb", "wildcards"),
        ("https://example.com/*", "wildcards"),
        ("http://evil.com\\@localhost/cb", "backslashes"),
        ("https://user@example.com/cb", "userinfo"),
        ("http://evil.com@localhost/cb", "userinfo"),
        ("https://exa mple.com/cb", "spaces"),
    ],
)
def test_redirect_uris_with_wildcards_backslashes_or_userinfo_are_refused(uri, rule):
    with pytest.raises(ValidationError, match=rule):
        rules.validate_redirect_uri(uri)


def test_the_authorization_endpoint_matches_redirect_uris_exactly():
    client = OAuthClientFactory(
        redirect_uris=["https://app.example.com/cb", "http://127.0.0.1/native"]
    )
    match = oauth_clients.match_redirect_uri
    assert match(client, "https://app.example.com/cb") == "https://app.example.com/cb"
    for wrong in [
        "https://app.example.com/cb/",
        "https://app.example.com/cb?x=1",
        "https://APP.example.com/cb",
        "https://app.example.com/c",
        "https://app.example.com/cb#f",
        "https://app.example.com.evil.com/cb",
        "http://app.example.com/cb",
        "http://127.0.0.1:8080/other",
        "http://127.0.0.1:8080@evil.com/native",
    ]:
        with pytest.raises(InvalidRequest):
            match(client, wrong)
    # RFC 8252 7.3: a native app on a loopback IP picks its port.
    assert match(client, "http://127.0.0.1:51004/native") == "http://127.0.0.1:51004/native"
    with pytest.raises(InvalidRequest, match="required"):
        match(client, None)
    single = OAuthClientFactory(redirect_uris=["https://one.example/cb"])
    assert match(single, None) == "https://one.example/cb"


# --- 11: callers name their client ---------------------------------------------------------


def test_rotation_and_revocation_need_the_client_or_an_explicit_any_client():
    issued = issue()
    with pytest.raises(TypeError):
        oauth_tokens.rotate_refresh_token(issued.refresh_token)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        oauth_tokens.revoke_token(issued.access_token)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="ANY_CLIENT"):
        oauth_tokens.revoke_token(issued.access_token, client_id=None)
    assert oauth_tokens.validate_access_token(issued.access_token) is not None
    assert oauth_tokens.revoke_token(issued.access_token, client_id=ANY_CLIENT)


# --- 12: secrets stay out of error pages and reports ---------------------------------------


@protect_secret_parameters
def token_endpoint(request: HttpRequest):
    return oauth_tokens.rotate_refresh_token(
        request.POST["refresh_token"], client_id=request.POST["client_id"]
    )


@pytest.mark.parametrize("debug", [True, False])
def test_error_pages_and_reports_never_show_raw_tokens_or_secrets(settings, debug):
    settings.DEBUG = debug
    issued = issue()
    registered = oauth_clients.register_client(redirect_uris=["https://a.example/cb"])
    request = RequestFactory().post(
        "/token",
        {
            "refresh_token": issued.refresh_token,
            "client_id": "another-client",
            "client_secret": registered.client_secret,
        },
    )
    with pytest.raises(InvalidGrant) as caught:
        token_endpoint(request)
    reporter = ExceptionReporter(request, caught.type, caught.value, caught.tb)
    reports = [reporter.get_traceback_html(), reporter.get_traceback_text()]

    def fail_authentication():
        oauth_clients.authenticate_client(registered.client.client_id, registered.client_secret)
        raise RuntimeError("after authenticating")

    with pytest.raises(RuntimeError) as failed:
        fail_authentication()
    reporter = ExceptionReporter(None, failed.type, failed.value, failed.tb)
    reports += [reporter.get_traceback_html(), reporter.get_traceback_text()]
    assert "rotate_refresh_token" in reports[0]  # the service's frame is on the page
    for report in reports:
        assert issued.refresh_token not in report
        assert str(registered.client_secret) not in report


@pytest.mark.django_db(transaction=True)
def test_token_validation_stays_one_statement_with_no_tenant_prefix(monkeypatch, settings):
    from beep_shared.rls import connection as rls_connection

    settings.BEEP_IAM = {"PREPARED_LOOKUPS": True}
    issued = issue()
    sent: list[list[str]] = []
    original = rls_connection._send

    def recording_send(raw, statements):
        sent.append(statements)
        original(raw, statements)

    monkeypatch.setattr(rls_connection, "_send", recording_send)
    for _ in range(3):
        assert oauth_tokens.validate_access_token(issued.access_token) is not None
    assert sent == []  # no SET LOCAL round trip (nor BEGIN/COMMIT) around the lookup


@pytest.mark.parametrize(
    "uri", ["com.example.app:/oauth2redirect", "com.example.app:/cb?x=1", "io.x-y.z9:/"]
)
def test_a_native_client_may_use_a_private_use_scheme(uri):
    """RFC 8252 7.1, as better-auth allows native clients: a reverse-domain scheme, no
    authority; a web client may not."""
    assert rules.validate_redirect_uri(uri, native=True) == uri
    with pytest.raises(ValidationError, match="for native apps only"):
        rules.validate_redirect_uri(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "myapp:/cb",  # one label: not a domain the app controls
        "com.example.app://host/cb",  # an authority (RFC 8252 7.1: omit it)
        "com.example.app:cb",
        "com.example.app:/cb#frag",
        "com.example.app:/c b",
        "com..example:/cb",
        "javascript:/alert(1)",
        "data:/text",
        # Not ASCII: re.IGNORECASE alone lets [a-z] match the Kelvin sign and the long s.
        "com.exampl\u212a.app:/cb",
        "\u017fom.example.app:/cb",
        # Where the admin's one-per-line lists break a line, or what they strip.
        "com.example.app:/cb\u2028com.other.app:/x",
        "com.example.app:/cb\xa0",
    ],
)
def test_private_use_uris_that_are_not_reverse_domain_ones_are_refused(uri):
    with pytest.raises(ValidationError):
        rules.validate_redirect_uri(uri, native=True)


def test_validate_client_allows_private_use_uris_for_native_clients_only():
    client = OAuthClientFactory.build(
        redirect_uris=["com.example.app:/cb"], application_type="native"
    )
    rules.validate_client(client)
    client.application_type = "web"
    with pytest.raises(ValidationError) as raised:
        rules.validate_client(client)
    assert "redirect_uris" in raised.value.message_dict


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\n"])
def test_a_contact_or_redirect_uri_is_one_line_as_the_admin_splits_lines(separator):
    """The admin edits these lists one item per line (str.splitlines, which breaks at
    U+2028, U+2029 and NEL too): one item holding a break would become two on a save."""
    with pytest.raises(ValidationError):
        rules.validate_contacts([f"a@example.com{separator}b@example.com"])
    with pytest.raises(ValidationError):
        rules.validate_redirect_uri(f"https://a.example.com/cb{separator}https://b.example.com/")
