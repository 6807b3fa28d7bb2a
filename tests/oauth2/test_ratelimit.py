"""Abuse limits (beep_iam.oauth2.ratelimit): per IP and per client on the token, introspection
and revocation endpoints and the consent POST, in Django's cache or the ``rate_limit`` table."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client, override_settings
from django.test.client import RequestFactory

from beep_iam.conf import load
from beep_iam.models import RateLimit
from beep_iam.oauth2 import ratelimit
from beep_iam.services.oauth_tokens import issue_tokens
from tests.factories import UserFactory
from tests.oauth2.conftest import ISSUER, authorize_url, basic, pkce

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
OFF: dict[str, Any] = {"token": None, "introspect": None, "revoke": None, "consent": None}


def limits(store: str = "cache", **endpoints: dict[str, Any]) -> Any:
    return override_settings(
        BEEP_IAM={
            **getattr(settings, "BEEP_IAM", {}),
            "OAUTH2_ISSUER": ISSUER,
            "OAUTH2_RATE_LIMITS": {**OFF, **endpoints},
            "OAUTH2_RATE_LIMIT_STORE": store,
        }
    )


def token_request(registered, *, ip: str = "127.0.0.1", secret: str | None = None):
    secret = registered.client_secret if secret is None else secret
    return Client(REMOTE_ADDR=ip).post(
        "/oauth2/token",
        "grant_type=client_credentials",
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(registered.client.client_id, secret),
    )


def assert_limited(response, window: int) -> None:
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= window
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["error"] == "temporarily_unavailable"
    assert "retry after" in body["error_description"]


@pytest.mark.parametrize("store", ["cache", "database"])
def test_per_ip_the_n_plus_first_request_is_refused(machine, store):
    with limits(store, token={"window": 3600, "per_ip": 3, "per_client": None}):
        # Failed authentications count per IP: that is what slows a secret guesser down.
        assert token_request(machine, secret="wrong").status_code == 401
        for _ in range(2):
            assert token_request(machine).status_code == 200
        assert_limited(token_request(machine), 3600)
        assert_limited(token_request(machine, secret="wrong"), 3600)
        # Another address has its own counter.
        assert token_request(machine, ip="192.0.2.7").status_code == 200


@pytest.mark.parametrize("store", ["cache", "database"])
def test_per_client_the_n_plus_first_request_is_refused(machine, web, store):
    with limits(store, token={"window": 3600, "per_ip": None, "per_client": 2}):
        assert token_request(machine, ip="192.0.2.1").status_code == 200
        # A merely claimed client_id does not count: anyone could exhaust a public client.
        assert token_request(machine, ip="192.0.2.2", secret="wrong").status_code == 401
        assert token_request(machine, ip="192.0.2.3").status_code == 200
        assert_limited(token_request(machine, ip="192.0.2.4"), 3600)
        # Another client is not affected.
        response = Client().post(
            "/oauth2/token",
            "grant_type=refresh_token&refresh_token=nope",
            content_type=FORM,
            HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
        )
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("endpoint", ["introspect", "revoke"])
def test_introspection_and_revocation_per_ip_and_per_client(machine, web, endpoint):
    token = issue_tokens(machine.client, scopes=["invoices:read"]).access_token

    def call(registered, ip):
        return Client(REMOTE_ADDR=ip).post(
            f"/oauth2/{endpoint}",
            urlencode({"token": token}),
            content_type=FORM,
            HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
        )

    with limits(**{endpoint: {"window": 3600, "per_ip": 2, "per_client": None}}):
        assert call(machine, "198.51.100.1").status_code == 200
        assert call(web, "198.51.100.1").status_code == 200
        assert_limited(call(machine, "198.51.100.1"), 3600)
        assert call(machine, "198.51.100.2").status_code == 200
    with limits(**{endpoint: {"window": 3600, "per_ip": None, "per_client": 1}}):
        assert call(web, "198.51.100.9").status_code == 200
        assert_limited(call(web, "198.51.100.10"), 3600)
        assert call(machine, "198.51.100.10").status_code == 200


def _consent_post(http: Client, registered) -> Any:
    _, challenge = pkce()
    url = authorize_url(registered.client.client_id, challenge, prompt="consent")
    return http.post(url, {"decision": "allow"})


def test_consent_post_per_ip(web, spa, user):
    with limits(consent={"window": 3600, "per_ip": 1, "per_client": None}):
        http = Client(REMOTE_ADDR="203.0.113.5")
        http.force_login(user)
        assert _consent_post(http, web).status_code == 302
        refused = _consent_post(http, web)
        assert refused.status_code == 429
        assert 1 <= int(refused["Retry-After"]) <= 3600
        assert "Location" not in refused  # a page, not a redirect
        assert b"Too many requests" in refused.content
        # GET (showing the consent page) is not limited.
        _, challenge = pkce()
        shown = http.get(authorize_url(web.client.client_id, challenge, prompt="consent"))
        assert shown.status_code == 200


def test_consent_post_per_client(web, user):
    other_user_http = Client(REMOTE_ADDR="203.0.113.6")
    with limits(consent={"window": 3600, "per_ip": None, "per_client": 1}):
        http = Client(REMOTE_ADDR="203.0.113.5")
        http.force_login(user)
        assert _consent_post(http, web).status_code == 302
        other_user_http.force_login(user)
        refused = _consent_post(other_user_http, web)
        assert refused.status_code == 429 and "Retry-After" in refused


def test_no_one_spends_another_users_consent_budget(web, user):
    """The consent POST proves no client (its redirect URI is in every authorization URL):
    an anonymous POST (with a CSRF cookie and token of its own making, as any non-browser
    sends) counts per IP only, a signed-in user's per client and user, or anyone could
    refuse every user of the client."""
    with limits(consent={"window": 3600, "per_ip": 2, "per_client": 2}):
        for n in range(4):
            attacker = Client(REMOTE_ADDR=f"198.51.100.{n // 2 + 1}", enforce_csrf_checks=True)
            attacker.cookies["csrftoken"] = "a" * 32
            _, challenge = pkce()
            answer = attacker.post(
                authorize_url(web.client.client_id, challenge, prompt="consent"),
                {"decision": "allow", "csrfmiddlewaretoken": "a" * 32},
                secure=True,
                HTTP_REFERER=f"{ISSUER}/oauth2/authorize",
            )
            assert answer.status_code == 302 and "login" in answer["Location"]
        # Nor a signed-in stranger's (any account will do): the count is per client and user.
        for n in range(3):
            stranger = Client(REMOTE_ADDR=f"198.51.100.{10 + n}")
            stranger.force_login(UserFactory(email=f"stranger{n}@example.com"))
            assert _consent_post(stranger, web).status_code == 302
        victim = Client(REMOTE_ADDR="203.0.113.9")
        victim.force_login(user)
        assert _consent_post(victim, web).status_code == 302
        assert _consent_post(victim, web).status_code == 302
        assert _consent_post(victim, web).status_code == 429  # the user's two were spent


@pytest.mark.parametrize("store", ["cache", "database"])
def test_the_window_resets(machine, store):
    with limits(store, token={"window": 1, "per_ip": 1, "per_client": None}):
        if store == "cache":
            # Fixed windows: start at the beginning of one, so both requests fall in it.
            time.sleep(1 - time.time() % 1)
        assert token_request(machine).status_code == 200
        refused = token_request(machine)
        assert_limited(refused, 1)
        time.sleep(1.05)
        assert token_request(machine).status_code == 200


def test_database_store_writes_better_auths_rows(machine):
    with limits("database", token={"window": 3600, "per_ip": 2, "per_client": 5}):
        before = int(time.time() * 1000)
        assert token_request(machine, ip="::ffff:192.0.2.44").status_code == 200
        row = RateLimit.objects.get(key="192.0.2.44|/oauth2/token")
        assert row.count == 1 and (row.last_request or 0) >= before
        client_row = RateLimit.objects.get(key=f"client:{machine.client.client_id}|/oauth2/token")
        assert client_row.count == 1


@pytest.mark.parametrize("store", [ratelimit.CacheStore, ratelimit.DatabaseStore])
def test_a_client_under_the_limit_in_every_window_is_never_refused(store):
    """Three per two-second window, one request every 1.05 s (at most two in any window):
    better-auth's rule, which moves the window's start to every request, refuses the fourth;
    both stores here count per window."""
    counter = store()
    refused = []
    for n in range(5):
        if counter.consume(f"steady-{store.__name__}", 3, 2) is not None:
            refused.append(n)
        time.sleep(1.05)
    assert refused == []


def test_database_store_shares_better_auths_counter(machine):
    """A counter better-auth filled (its key form: ``<ip>|<path>``) refuses here too."""
    RateLimit.objects.create(
        key="192.0.2.50|/oauth2/token", count=20, last_request=int(time.time() * 1000)
    )
    with limits("database", token={"window": 3600, "per_ip": 20, "per_client": None}):
        assert_limited(token_request(machine, ip="192.0.2.50"), 3600)
        assert token_request(machine, ip="192.0.2.51").status_code == 200


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_database_store_counts_atomically_across_connections():
    """Twelve connections at once for five slots: exactly five allowed."""
    store = ratelimit.DatabaseStore()
    workers = 12
    barrier = threading.Barrier(workers)
    results: list[int | None] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            outcome = store.consume("198.51.100.77|/oauth2/token", 5, 3600)
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == workers
    assert sum(1 for r in results if r is None) == 5
    assert all(r is None or 1 <= r <= 3600 for r in results)
    assert RateLimit.objects.get(key="198.51.100.77|/oauth2/token").count == 5


class RefuseAll:
    """A store a project could name in OAUTH2_RATE_LIMIT_STORE."""

    def consume(self, key: str, limit: int, window: int) -> int | None:
        return 7


def test_a_custom_store(machine):
    with limits(
        "tests.oauth2.test_ratelimit.RefuseAll",
        token={"window": 3600, "per_ip": 100, "per_client": None},
    ):
        response = token_request(machine)
    assert response.status_code == 429 and response["Retry-After"] == "7"


def test_limits_are_on_by_default_and_can_be_turned_off(machine):
    assert load({}).oauth2_rate_limits["token"] == load({}).oauth2_rate_limits["token"]
    assert load({}).oauth2_rate_limits["token"].per_ip == 20
    with override_settings(BEEP_IAM={"OAUTH2_ISSUER": ISSUER}):
        # The cache store's windows are fixed (60 s): all 21 requests must fall in one, so
        # start in a fresh one when the current one is about to end.
        left = 60 - time.time() % 60
        if left < 15:
            time.sleep(left)
        statuses = [token_request(machine).status_code for _ in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429
    with override_settings(BEEP_IAM={"OAUTH2_ISSUER": ISSUER, "OAUTH2_RATE_LIMITS": None}):
        assert load(settings.BEEP_IAM).oauth2_rate_limits == {}
        assert all(token_request(machine).status_code == 200 for _ in range(25))


def test_partial_settings_keep_the_other_defaults():
    loaded = load({"OAUTH2_RATE_LIMITS": {"token": {"per_ip": 5}, "revoke": None}})
    token = loaded.oauth2_rate_limits["token"]
    assert (token.window, token.per_ip, token.per_client) == (60, 5, 120)
    assert "revoke" not in loaded.oauth2_rate_limits
    assert loaded.oauth2_rate_limits["introspect"].per_ip == 100


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"OAUTH2_RATE_LIMITS": ["token"]}, "must be a dict of endpoint to limits"),
        ({"OAUTH2_RATE_LIMITS": {"authorize": {}}}, "unknown endpoint(s) 'authorize'"),
        ({"OAUTH2_RATE_LIMITS": {"token": 20}}, "['OAUTH2_RATE_LIMITS']['token'] must be a dict"),
        ({"OAUTH2_RATE_LIMITS": {"token": {"max": 20}}}, "unknown key(s) 'max'"),
        ({"OAUTH2_RATE_LIMITS": {"token": {"per_ip": 0}}}, "['per_ip'] must be a positive int"),
        ({"OAUTH2_RATE_LIMITS": {"token": {"per_ip": True}}}, "must be a positive int or None"),
        ({"OAUTH2_RATE_LIMITS": {"token": {"window": None}}}, "['window'] must be a positive"),
        ({"OAUTH2_RATE_LIMITS": {"token": {"window": 1.5}}}, "['window'] must be a positive"),
        ({"OAUTH2_RATE_LIMIT_STORE": "redis"}, "cannot import 'redis'"),
        ({"OAUTH2_RATE_LIMIT_STORE": "tests.oauth2.nowhere.Store"}, "cannot import"),
        ({"OAUTH2_RATE_LIMIT_STORE": 3}, "must be a dotted path"),
    ],
)
def test_bad_settings_raise_improperly_configured(value, message):
    with pytest.raises(ImproperlyConfigured) as raised:
        load(value)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0000"),
        ("2001:db8:0:0:ffff::2", "2001:0db8:0000:0000:0000:0000:0000:0000"),
        ("", "no-trusted-ip"),
    ],
)
def test_client_ip_is_normalised_as_better_auth_does(remote, key):
    assert ratelimit.client_ip(RequestFactory().get("/", REMOTE_ADDR=remote)) == key


def test_public_clients_have_no_per_client_counter(spa):
    """Naming a public client proves nothing: counting it would let anyone block its users."""
    with limits(token={"window": 3600, "per_ip": None, "per_client": 1}):
        for ip in ("192.0.2.61", "192.0.2.62", "192.0.2.63"):
            response = Client(REMOTE_ADDR=ip).post(
                "/oauth2/token",
                urlencode(
                    {
                        "grant_type": "authorization_code",
                        "client_id": spa.client.client_id,
                        "code": "nope",
                        "redirect_uri": "http://127.0.0.1/cb",
                        "code_verifier": "v" * 43,
                    }
                ),
                content_type=FORM,
            )
            assert response.status_code == 400, response.content
            assert response.json()["error"] == "invalid_grant"
