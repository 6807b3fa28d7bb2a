"""The one way this server fetches a URL a client named (a Client ID Metadata Document, a
``jwks_uri``): hardened against server-side request forgery.

- https only (plain http only to loopback with ``OAUTH2_FETCH_ALLOW_LOOPBACK``, for tests);
  no userinfo, no fragment.
- The host is checked by the one host rule (``beep_iam.validators.internal_host_reason``),
  then resolved here, and every address it resolves to must be public
  (``validators.is_internal_address``: private, loopback, link-local incl. the cloud metadata
  address, multicast, unspecified, CGNAT, reserved; IPv4-mapped, IPv4-compatible, 6to4,
  Teredo and NAT64 IPv6 too). One internal address refuses the whole name.
- The connection goes to the address that was checked, with the certificate verified for the
  name: nothing resolves the name a second time, so DNS rebinding cannot swap the address.
- No redirects are followed (a 3xx is a failure), only ``200`` counts; the body is capped
  (``Content-Length`` and the bytes read), compressed bodies are refused, the media type
  must be one the caller accepts, and a watchdog closes the socket when the whole exchange
  takes longer than its time cap (a server that drips bytes cannot hold a worker).

Every failure is a :class:`FetchError` with a reason fit for an ``error_description``: it
reaches anonymous callers (the authorize error page, ``invalid_client``), so it says nothing
beyond the URL and a public server's HTTP answer: no resolved address (a split-horizon
resolver would map internal names for anyone), no exception or TLS detail (a port-scan
oracle). A name that does not
resolve and one that resolves to an internal address get the same reason. The detail goes
to this module's logger at WARNING.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from beep_iam import validators
from beep_iam.conf import iam_settings

DEFAULT_TIMEOUT = 5.0  # seconds for the whole exchange (better-auth: 5 s for a JWKS)
DEFAULT_MAX_BYTES = 64 * 1024  # better-auth's JWKS cap
USER_AGENT = "beep-iam"

#: ``socket.getaddrinfo``; a seam for tests of names no real DNS answers (never the only
#: proof: literal addresses and ``localhost`` are refused through the real resolver).
resolve: Callable[..., list[Any]] = socket.getaddrinfo

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

logger = logging.getLogger(__name__)

NOT_PUBLIC = "the host does not resolve to a public address"


class FetchError(Exception):
    """The URL was not fetched; ``reason`` says why (no secret, and nothing learnt from DNS
    or the connection beyond the server's HTTP answer)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _failed(reason: str, target: str, detail: object) -> FetchError:
    """A :class:`FetchError` with ``reason``; ``detail``, which the caller must not see, is
    logged for the operator."""
    logger.warning("fetch of %r failed: %s (%s)", target, reason, detail)
    return FetchError(reason)


@dataclass(frozen=True)
class Fetched:
    url: str
    body: bytes
    headers: Message
    address: str


def _allow_loopback() -> bool:
    return iam_settings().oauth2_fetch_allow_loopback


def check_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path with query)`` of a URL this server may fetch, before any
    resolution; :class:`FetchError` otherwise."""
    if not isinstance(url, str) or len(url) > validators.MAX_URI_LENGTH:
        raise FetchError("the URL is not a string of at most 2000 characters")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url) or "\\" in url:
        raise FetchError("the URL contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("the URL is not valid") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if "@" in parts.netloc:
        raise FetchError("the URL must not contain userinfo")
    if parts.fragment or "#" in url:
        raise FetchError("the URL must not contain a fragment")
    if not host:
        raise FetchError("the URL has no host")
    if scheme == "http":
        if not _allow_loopback():
            raise FetchError("the URL must use https")
    elif scheme != "https":
        raise FetchError("the URL must use https")
    reason = validators.internal_host_reason(host)
    if reason and not (_allow_loopback() and _loopback_name(host)):
        raise FetchError(f"the URL's host is not public: {reason}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), target


def _loopback_name(host: str) -> bool:
    name = host.lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


MAX_LOOKUPS = 64
_LOOKUPS = threading.BoundedSemaphore(MAX_LOOKUPS)


def _resolve_within(host: str, port: int, timeout: float) -> list[Any]:
    """``resolve`` in a thread of its own, waited on ``timeout`` seconds: the system resolver
    has no time cap of its own (glibc: 5 s per attempt and name server), so a name whose
    server never answers would hold the worker past the fetch's cap. A thread per lookup, not
    a pool: names that never answer hold only their own threads (a shared pool would make
    every other fetch wait behind them), and nothing is shared across a fork."""
    outcome: list[Any] = []
    # Lookups that never answer each hold a thread until the resolver gives up: capped per
    # process, past the cap a fetch fails at once rather than a thread more being started.
    lookups = _LOOKUPS
    if not lookups.acquire(blocking=False):
        raise _failed("too many fetches in progress", host, "every lookup thread is busy")

    def run() -> None:
        try:
            outcome.append(("ok", resolve(host, port, type=socket.SOCK_STREAM)))
        except BaseException as exc:  # handed to the waiting thread
            outcome.append(("error", exc))
        finally:
            lookups.release()

    thread = threading.Thread(target=run, name="beep-iam-resolve", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # the process may start no more threads
        lookups.release()
        raise _failed("too many fetches in progress", host, "no thread for the lookup") from None
    except BaseException:
        lookups.release()
        raise
    thread.join(timeout)
    if not outcome:
        raise _failed(NOT_PUBLIC, host, f"no answer from the resolver in {timeout:g} s")
    kind, value = outcome[0]
    if kind == "error":
        if isinstance(value, OSError | UnicodeError):
            raise _failed(NOT_PUBLIC, host, f"{type(value).__name__}: {value}") from None
        raise value
    return list(value)


def vetted_addresses(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """Every address ``host`` resolves to within ``timeout`` seconds, all of them public (or
    loopback when allowed); :class:`FetchError` if the name does not resolve in time or any
    address is internal."""
    infos = _resolve_within(host, port, timeout)
    addresses: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0]).split("%", 1)[0]
        address = ipaddress.ip_address(text)
        if validators.is_internal_address(address) and not (
            _allow_loopback() and address.is_loopback
        ):
            raise _failed(NOT_PUBLIC, host, f"resolves to the internal address {address}")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise _failed(NOT_PUBLIC, host, f"no IPv4 or IPv6 address among {infos!r}")
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to ``address``; the Host header stays the URL's."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    raw: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.raw = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to ``address``; TLS server name and certificate check use the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    raw: socket.socket | None = None

    def connect(self) -> None:
        sock = self.raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _media_type(headers: Message) -> str:
    return (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()


def fetch(
    url: str,
    *,
    accept: Collection[str] = ("application/json",),
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
) -> Fetched:
    """GET ``url`` under the rules above. ``accept``: media types taken (``+json`` suffixes of
    ``application/json`` count as it)."""
    scheme, host, port, target = check_url(url)
    started = time.monotonic()  # the cap counts the name's resolution too
    addresses = vetted_addresses(host, port, timeout)
    if scheme == "http" and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise FetchError("the URL must use https")
    address = addresses[0]
    remaining = max(timeout - (time.monotonic() - started), 0.001)
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, port, address, remaining)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        # The raw socket: http.client drops connection.sock once a response will close.
        sock = connection.raw
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(remaining, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "GET",
            target,
            headers={
                "Accept": ", ".join(accept),
                "Accept-Encoding": "identity",
                "User-Agent": USER_AGENT,
            },
        )
        response = connection.getresponse()
        if 300 <= response.status < 400:
            raise FetchError(f"the server answered a redirect ({response.status}); none followed")
        if response.status != 200:
            raise FetchError(f"the server answered {response.status}, not 200")
        encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":
            raise FetchError(f"compressed bodies are refused (Content-Encoding {encoding})")
        media = _media_type(response.headers)
        json_suffix = "application/json" in accept and (
            media.startswith("application/") and media.endswith("+json")
        )
        if media not in accept and not json_suffix:
            raise FetchError(f"the media type is {media or 'missing'}, not {' or '.join(accept)}")
        length = response.headers.get("Content-Length")
        if length is not None and (not length.strip().isdigit() or int(length) > max_bytes):
            raise FetchError(f"the body is larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = response.read1(16_384) if hasattr(response, "read1") else response.read(16_384)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"the body is larger than {max_bytes} bytes")
            chunks.append(chunk)
        if expired.is_set():
            raise FetchError(f"the server took longer than {timeout:g} s")
        return Fetched(url=url, body=b"".join(chunks), headers=response.headers, address=address)
    except FetchError:
        raise
    except ssl.SSLError as exc:
        raise _failed("TLS failed", url, f"{address}: {exc!r}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set() or time.monotonic() - started >= timeout:
            raise FetchError(f"the server took longer than {timeout:g} s") from None
        raise _failed("the fetch failed", url, f"{address}: {exc!r}") from None
    finally:
        watchdog.cancel()
        connection.close()
