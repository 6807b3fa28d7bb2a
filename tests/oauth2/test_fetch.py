"""The SSRF-hardened fetcher (beep_iam.oauth2.fetch) against servers this test starts on
loopback, and addresses it must refuse through the real resolver."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from beep_iam.oauth2 import fetch
from beep_iam.oauth2.fetch import FetchError
from beep_iam.validators import is_internal_address
from tests.oauth2.servers import LoopbackServer, drip, huge, json_route, loopback_server, redirect
from tests.oauth2.servers import send as send_body

DOC = {"client_id": "x", "redirect_uris": ["http://127.0.0.1/cb"]}


def loopback(allowed: bool) -> Any:
    return override_settings(
        BEEP_IAM={**getattr(settings, "BEEP_IAM", {}), "OAUTH2_FETCH_ALLOW_LOOPBACK": allowed}
    )


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with loopback_server() as running:
        running.routes["/doc"] = json_route(DOC)
        yield running


@pytest.fixture
def allowed() -> Iterator[None]:
    with loopback(True):
        yield


def test_a_loopback_server_is_fetched_only_with_the_setting_on(server: LoopbackServer) -> None:
    with loopback(True):
        fetched = fetch.fetch(server.url("/doc"))
        assert fetched.body == b'{"client_id": "x", "redirect_uris": ["http://127.0.0.1/cb"]}'
        assert fetched.address == "127.0.0.1"
        assert fetch.fetch(server.url("/doc", host="localhost")).body == fetched.body
    assert server.hits == ["/doc", "/doc"]
    with loopback(False):
        for url in (
            server.url("/doc"),
            server.url("/doc", host="localhost"),
            server.url("/doc").replace("http:", "https:"),
            server.url("/doc", host="localhost").replace("http:", "https:"),
            server.url("/doc", host="[::ffff:127.0.0.1]").replace("http:", "https:"),
        ):
            with pytest.raises(FetchError):
                fetch.fetch(url)
    assert server.hits == ["/doc", "/doc"]  # nothing reached the server


REFUSED = [
    "https://10.0.0.1/doc",
    "https://172.16.0.1/doc",
    "https://192.168.1.1/doc",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://100.64.0.1/doc",  # CGNAT
    "https://0.0.0.0/doc",
    "https://224.0.0.1/doc",
    "https://255.255.255.255/doc",
    "https://[::]/doc",
    "https://[fe80::1]/doc",
    "https://[fc00::1]/doc",
    "https://[ff02::1]/doc",
    "https://[::ffff:10.0.0.1]/doc",
    "https://[::ffff:a9fe:a9fe]/doc",  # IPv4-mapped 169.254.169.254
    "https://[2002:a9fe:a9fe::]/doc",  # 6to4 of the metadata address
    "https://[64:ff9b::a9fe:a9fe]/doc",  # NAT64 of the metadata address
    "https://[64:ff9b:1::a00:5]/doc",  # local-use NAT64
    "https://[::a00:5]/doc",  # IPv4-compatible 10.0.0.5
    "https://2852039166/doc",  # 169.254.169.254 as one number
    "https://0xa9.0xfe.0xa9.0xfe/doc",
    "https://0251.0376.0251.0376/doc",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://printer.local/doc",
    "https://intranet/doc",
]


@pytest.mark.parametrize("allow", [False, True])
@pytest.mark.parametrize("url", REFUSED)
def test_private_and_reserved_addresses_are_refused_even_with_loopback_allowed(
    url: str, allow: bool
) -> None:
    with loopback(allow), pytest.raises(FetchError):
        fetch.fetch(url, timeout=1)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/doc",
        "https://127.1.2.3/doc",
        "https://[::1]/doc",
        "https://[::ffff:127.0.0.1]/doc",
        "https://localhost/doc",
        "https://LOCALHOST./doc",
        "https://app.localhost/doc",
    ],
)
def test_loopback_is_refused_by_default(url: str) -> None:
    with pytest.raises(FetchError, match=r"not public|public address"):
        fetch.fetch(url, timeout=1)


def test_a_name_is_checked_by_what_the_real_resolver_returns() -> None:
    # No stub: getaddrinfo itself says localhost is loopback.
    real = {info[4][0] for info in socket.getaddrinfo("localhost", 443, type=socket.SOCK_STREAM)}
    assert real and all(a in ("127.0.0.1", "::1") for a in real)
    with pytest.raises(FetchError, match="public address"):
        fetch.vetted_addresses("localhost", 443)
    with loopback(True):
        assert set(fetch.vetted_addresses("localhost", 443)) == real
    with pytest.raises(FetchError, match="public address"):
        fetch.vetted_addresses("no-such-host.invalid", 443)


@pytest.mark.parametrize(
    "answers",
    [
        ["10.1.2.3"],
        ["93.184.216.34", "10.1.2.3"],
        ["::ffff:192.168.0.1"],
        ["169.254.169.254"],
        ["64:ff9b::a9fe:a9fe"],  # a DNS64 AAAA answer for an internal IPv4 address
    ],
)
def test_a_public_name_resolving_to_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, answers: list[str]
) -> None:
    def resolver(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers
        ]

    monkeypatch.setattr(fetch, "resolve", resolver)
    with pytest.raises(FetchError, match="public address"):
        fetch.fetch("https://client.example.com/doc", timeout=1)


def test_reasons_hold_no_dns_answer_or_connection_detail(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The reason reaches anonymous callers: an internal answer and no answer read the same
    (no map of split-horizon names), no address, no exception; the operator gets the log."""

    def resolver(host: str, port: int, **kwargs: Any) -> list[Any]:
        if host == "gone.example.com":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))]

    monkeypatch.setattr(fetch, "resolve", resolver)
    caplog.set_level("WARNING", logger="beep_iam.oauth2.fetch")
    reasons = set()
    for host in ("db.corp.example.com", "gone.example.com"):
        with pytest.raises(FetchError) as caught:
            fetch.fetch(f"https://{host}/doc", timeout=1)
        reasons.add(caught.value.reason)
    assert reasons == {fetch.NOT_PUBLIC}
    assert "10.20.30.40" in caplog.text and "gaierror" in caplog.text
    monkeypatch.setattr(fetch, "resolve", socket.getaddrinfo)
    with loopback(True):
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]  # closed once the block ends: nothing listens
        with pytest.raises(FetchError) as caught:
            fetch.fetch(f"http://127.0.0.1:{port}/doc", timeout=1)
    assert caught.value.reason == "the fetch failed"
    assert "ConnectionRefusedError" in caplog.text


def test_the_connection_goes_to_the_vetted_address_without_a_second_lookup(
    monkeypatch: pytest.MonkeyPatch, server: LoopbackServer, allowed: None
) -> None:
    calls: list[str] = []

    def rebinding(host: str, port: int, **kwargs: Any) -> list[Any]:
        calls.append(host)
        address = "127.0.0.1" if len(calls) == 1 else "10.9.9.9"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(fetch, "resolve", rebinding)
    fetched = fetch.fetch(f"http://rebind.example.com:{server.port}/doc")
    assert fetched.address == "127.0.0.1"
    assert calls == ["rebind.example.com"]
    assert server.hosts == [f"rebind.example.com:{server.port}"]


def test_plain_http_is_only_for_loopback(monkeypatch: pytest.MonkeyPatch, allowed: None) -> None:
    monkeypatch.setattr(
        fetch,
        "resolve",
        lambda host, port, **kw: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))
        ],
    )
    with pytest.raises(FetchError, match="https"):
        fetch.fetch("http://client.example.com/doc", timeout=1)


def test_redirects_are_not_followed(server: LoopbackServer, allowed: None) -> None:
    server.routes["/moved"] = redirect(server.url("/doc"))
    server.routes["/to-metadata"] = redirect("http://169.254.169.254/latest/meta-data/")
    for path in ("/moved", "/to-metadata"):
        with pytest.raises(FetchError, match="redirect"):
            fetch.fetch(server.url(path))
    assert server.hits == ["/moved", "/to-metadata"]


def test_a_slow_server_is_cut_off_at_the_time_cap(server: LoopbackServer, allowed: None) -> None:
    server.routes["/drip"] = drip(4)

    def silent(handler: Any) -> None:
        time.sleep(4)

    server.routes["/silent"] = silent
    for path in ("/drip", "/silent"):
        started = time.monotonic()
        with pytest.raises(FetchError, match="longer than 1 s"):
            fetch.fetch(server.url(path), timeout=1)
        assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("declare", [True, False])
def test_a_huge_body_is_refused(server: LoopbackServer, allowed: None, declare: bool) -> None:
    server.routes["/huge"] = huge(50_000_000, declare=declare)
    server.routes["/at-cap"] = lambda h: send_body(h, b" " * 1000)
    server.routes["/past-cap"] = lambda h: send_body(h, b" " * 1001, length=declare)
    started = time.monotonic()
    with pytest.raises(FetchError, match="larger than"):
        fetch.fetch(server.url("/huge"))
    assert time.monotonic() - started < 3
    assert len(fetch.fetch(server.url("/at-cap"), max_bytes=1000).body) == 1000
    with pytest.raises(FetchError, match="larger than 1000"):
        fetch.fetch(server.url("/past-cap"), max_bytes=1000)


def test_media_type_status_and_encoding_are_checked(server: LoopbackServer, allowed: None) -> None:
    server.routes["/html"] = lambda h: send_body(h, b"<html>", content_type="text/html")
    server.routes["/none"] = lambda h: send_body(h, b"{}", content_type="")
    server.routes["/gzip"] = lambda h: send_body(h, b"{}", headers={"Content-Encoding": "gzip"})
    server.routes["/jwks"] = lambda h: send_body(
        h, b"{}", content_type="application/jwk-set+json; charset=utf-8"
    )
    with pytest.raises(FetchError, match="media type is text/html"):
        fetch.fetch(server.url("/html"))
    with pytest.raises(FetchError, match="media type"):
        fetch.fetch(server.url("/none"))
    with pytest.raises(FetchError, match="compressed"):
        fetch.fetch(server.url("/gzip"))
    with pytest.raises(FetchError, match="404"):
        fetch.fetch(server.url("/missing"))
    assert fetch.fetch(server.url("/jwks")).body == b"{}"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://client.example.com/doc",
        "file:///etc/passwd",
        "http://client.example.com/doc",
        "https://user:pw@client.example.com/doc",
        "https://client.example.com/doc#frag",
        "https://client.example.com\\@127.0.0.1/doc",
        "https:///doc",
        "https://client.example.com:99999/doc",
        "https://" + "a" * 2000 + ".com/",
    ],
)
def test_malformed_or_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchError):
        fetch.fetch(url, timeout=1)


def test_a_resolver_that_never_answers_is_cut_at_the_time_cap(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The system resolver has no cap of its own: a name whose server never answers must not
    hold the worker past the fetch's time cap."""
    answered = threading.Event()

    def silent(host: str, port: int, **kwargs: Any) -> list[Any]:
        answered.wait(10)  # a resolver waiting on a name server that never answers
        return []

    monkeypatch.setattr(fetch, "resolve", silent)
    caplog.set_level("WARNING", logger="beep_iam.oauth2.fetch")
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match="public address"):
            fetch.fetch("https://silent.example.com/doc", timeout=0.5)
    finally:
        answered.set()  # let the pool thread go
    assert time.monotonic() - started < 2
    assert "no answer from the resolver" in caplog.text


def test_names_that_never_answer_hold_up_no_other_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lookup that never answers holds only its own thread: other names still resolve at
    once (a shared pool of lookups would queue them behind it)."""
    release = threading.Event()

    def resolver(host: str, port: int, **kwargs: Any) -> list[Any]:
        if host.endswith(".blackhole.example"):
            release.wait(30)
            return []
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(fetch, "resolve", resolver)
    try:
        for i in range(8):
            with pytest.raises(FetchError):
                fetch.vetted_addresses(f"n{i}.blackhole.example", 443, timeout=0.1)
        started = time.monotonic()
        assert fetch.vetted_addresses("good.example.com", 443, timeout=1.0) == ["93.184.216.34"]
        assert time.monotonic() - started < 0.5
    finally:
        release.set()


def test_past_the_cap_of_lookup_threads_a_fetch_fails_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()

    def silent(host: str, port: int, **kwargs: Any) -> list[Any]:
        release.wait(30)
        return []

    monkeypatch.setattr(fetch, "resolve", silent)
    monkeypatch.setattr(fetch, "_LOOKUPS", threading.BoundedSemaphore(2))
    try:
        for i in range(2):
            with pytest.raises(FetchError, match="public address"):
                fetch.vetted_addresses(f"n{i}.blackhole.example", 443, timeout=0.05)
        started = time.monotonic()
        with pytest.raises(FetchError, match="too many fetches in progress"):
            fetch.vetted_addresses("n3.blackhole.example", 443, timeout=5)
        assert time.monotonic() - started < 0.5
    finally:
        release.set()
    time.sleep(0.1)  # the held lookups end and give their places back
    monkeypatch.setattr(fetch, "resolve", lambda host, port, **kw: [])
    with pytest.raises(FetchError, match="public address"):  # a lookup runs again
        fetch.vetted_addresses("n4.example", 443, timeout=1)


@pytest.mark.parametrize("address", ["fec0::1", "feff::1", "::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe"])
def test_site_local_and_translated_ipv6_are_internal(address: str) -> None:
    # Deprecated site-local (RFC 3879) and SIIT's IPv4-translated form (RFC 2765): routed or
    # translated inside some networks, and global to Python before 3.13 (review 5).
    assert is_internal_address(address)
