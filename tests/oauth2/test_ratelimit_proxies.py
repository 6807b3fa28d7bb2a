"""Per-IP limits behind reverse proxies (BEEP_IAM["OAUTH2_TRUSTED_PROXIES"]) and the pruning
of stale ``rate_limit`` rows by ``purge_expired_tokens``."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client, override_settings
from django.test.client import RequestFactory

from beep_iam.conf import load
from beep_iam.models import RateLimit
from beep_iam.oauth2.ratelimit import client_ip
from tests.oauth2.conftest import basic
from tests.oauth2.test_ratelimit import FORM, assert_limited, limits

pytestmark = pytest.mark.django_db


def proxies(*networks: str):
    return override_settings(
        BEEP_IAM={**getattr(settings, "BEEP_IAM", {}), "OAUTH2_TRUSTED_PROXIES": list(networks)}
    )


def ip_of(remote: str, forwarded: str | None = None) -> str:
    extra = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


def token_request(registered, *, ip: str, forwarded: str):
    return Client(REMOTE_ADDR=ip, HTTP_X_FORWARDED_FOR=forwarded).post(
        "/oauth2/token",
        "grant_type=client_credentials",
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
    )


def test_by_default_the_header_is_ignored():
    # Anyone can send X-Forwarded-For: read, it would give each request a counter of its own.
    assert ip_of("203.0.113.9", "198.51.100.1") == "203.0.113.9"


def test_from_a_trusted_proxy_the_last_untrusted_hop():
    with proxies("10.0.0.0/8", "192.0.2.7"):
        # client-sent junk, the client, then two proxies of ours
        assert ip_of("10.0.0.2", "6.6.6.6, 198.51.100.1, 192.0.2.7") == "198.51.100.1"
        assert ip_of("10.0.0.2", "198.51.100.1") == "198.51.100.1"
        # Not from a trusted proxy: the header is the client's own word.
        assert ip_of("203.0.113.9", "198.51.100.1") == "203.0.113.9"
        # No header, or only proxies in it.
        assert ip_of("10.0.0.2") == "10.0.0.2"
        assert ip_of("10.0.0.2", "10.0.0.3, 192.0.2.7") == "10.0.0.3"
        # IPv6 clients are counted per /64, as better-auth counts them.
        assert ip_of("10.0.0.2", "2001:db8::1") == "2001:0db8:0000:0000:0000:0000:0000:0000"
        assert ip_of("10.0.0.2", "not-an-address") == "not-an-address"


def test_clients_behind_one_proxy_have_their_own_counters(machine):
    cache.clear()
    with (
        limits(token={"window": 3600, "per_ip": 1, "per_client": None}),
        override_settings(BEEP_IAM={**settings.BEEP_IAM, "OAUTH2_TRUSTED_PROXIES": ["10.0.0.0/8"]}),
    ):
        first = token_request(machine, ip="10.0.0.2", forwarded="198.51.100.1")
        assert first.status_code == 200, first.content
        other = token_request(machine, ip="10.0.0.2", forwarded="198.51.100.2")
        assert other.status_code == 200, other.content
        assert_limited(token_request(machine, ip="10.0.0.2", forwarded="198.51.100.1"), 3600)
        # A client naming another address in the header cannot escape its counter.
        assert_limited(
            token_request(machine, ip="10.0.0.2", forwarded="1.2.3.4, 198.51.100.1"), 3600
        )


@pytest.mark.parametrize("value", ["10.0.0.0/8", ["10.0.0.1/8"], ["proxy.example.com"], [None], 5])
def test_the_setting_is_validated(value):
    with pytest.raises(ImproperlyConfigured, match="OAUTH2_TRUSTED_PROXIES"):
        load({"OAUTH2_TRUSTED_PROXIES": value})


def test_purge_deletes_stale_counters_only():
    now_ms = int(time.time() * 1000)
    day_ms = 24 * 3600 * 1000
    RateLimit.objects.create(key="198.51.100.1|/oauth2/token", count=3, last_request=now_ms)
    RateLimit.objects.create(
        key="198.51.100.2|/sign-in/email", count=1, last_request=now_ms - day_ms + 60_000
    )
    RateLimit.objects.create(
        key="198.51.100.3|/oauth2/token", count=9, last_request=now_ms - 2 * day_ms
    )
    RateLimit.objects.create(
        key="client:x|/oauth2/token", count=9, last_request=now_ms - day_ms - 60_000
    )
    out = io.StringIO()
    call_command(
        "purge_expired_tokens", "--target", "rate_limit.stale", stdout=out, stderr=io.StringIO()
    )
    assert "deleted 2 rows" in out.getvalue()
    assert sorted(RateLimit.objects.values_list("key", flat=True)) == [
        "198.51.100.1|/oauth2/token",
        "198.51.100.2|/sign-in/email",
    ]


def test_a_longer_window_keeps_its_counters_longer():
    now_ms = int(time.time() * 1000)
    two_days = timedelta(days=2)
    RateLimit.objects.create(key="a|/oauth2/token", count=1, last_request=now_ms - 36 * 3600 * 1000)
    with limits(token={"window": int(two_days.total_seconds()), "per_ip": 5}):
        call_command("purge_expired_tokens", stdout=io.StringIO(), stderr=io.StringIO())
    assert RateLimit.objects.filter(key="a|/oauth2/token").exists()
    call_command("purge_expired_tokens", stdout=io.StringIO(), stderr=io.StringIO())
    assert not RateLimit.objects.exists()
