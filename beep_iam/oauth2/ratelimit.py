"""Abuse limits of the OAuth endpoints: requests per window, per client IP and per client.

The one home of the limiter: the settings (``BEEP_IAM["OAUTH2_RATE_LIMITS"]``,
``["OAUTH2_RATE_LIMIT_STORE"]``, validated in :mod:`beep_iam.conf`), the keys, the stores and
the ``429`` answers.

- Per IP, every request counts (failed client authentication included: that is what slows a
  guesser down). The key is better-auth's, ``"<ip>|<path>"`` with the IP normalised as
  better-auth normalises it (IPv4-mapped IPv6 to IPv4, other IPv6 to its /64), so with the
  database store the two servers share one counter per address and endpoint.
- Per client, requests count once the client is authenticated (``"client:<id>|<path>"``):
  counting a merely claimed ``client_id`` would let anyone exhaust a client's quota, so public
  clients (authentication method ``none``) have the per-IP limits only.
- The consent POST counts as better-auth's consent endpoint, ``/oauth2/consent``.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.core.cache import cache
from django.db import connections, router
from django.http import HttpRequest, HttpResponse

from beep_iam.conf import RATE_LIMIT_PATHS, iam_settings
from beep_iam.conf import RateLimit as Limit
from beep_iam.models import RateLimit
from beep_iam.oauth2.endpoint import NONE, error_response

View = Callable[..., HttpResponse]


class Store(Protocol):
    """Counts requests; a class named by ``OAUTH2_RATE_LIMIT_STORE`` is built without
    arguments and must count atomically across processes."""

    def consume(self, key: str, limit: int, window: int) -> int | None:
        """Count one request under ``key``; ``None`` when it is within ``limit`` requests per
        ``window`` seconds, else the seconds until one is allowed again (at least 1)."""
        ...


class CacheStore:
    """Django's default cache, fixed windows: ``add`` then ``incr``, atomic in Redis,
    Memcached and the local-memory cache (per process only: use a shared cache when several
    processes serve the endpoints)."""

    def consume(self, key: str, limit: int, window: int) -> int | None:
        now = time.time()
        start = int(now // window) * window
        # Hashed: cache backends restrict key characters (an IPv6 address, a client id).
        name = "beep_iam:ratelimit:" + hashlib.sha256(f"{key}@{start}".encode()).hexdigest()
        cache.add(name, 0, timeout=window + 1)
        try:
            count = cache.incr(name)
        except ValueError:  # expired between add and incr
            cache.add(name, 1, timeout=window + 1)
            count = 1
        if count <= limit:
            return None
        return max(1, math.ceil(start + window - now))


class DatabaseStore:
    """The ``rate_limit`` table in better-auth's form: ``count`` requests since the window
    began, ``last_request`` (Unix ms); the counter starts again once ``window`` has passed
    since ``last_request``. Django leaves ``last_request`` at the window's first request:
    better-auth moves it to every allowed request, so a client that never pauses for a
    whole window is refused at the limit however slowly it goes; here, as with the cache
    store, the limit is per window. One upsert decides, under the row's lock, so concurrent
    requests (of either server) cannot both take the last slot.
    """

    _CONSUME = """
        INSERT INTO rate_limit (key, count, last_request) VALUES (%(key)s, 1, %(now)s)
        ON CONFLICT (key) DO UPDATE SET
            count = CASE
                WHEN rate_limit.last_request IS NULL
                    OR %(now)s - rate_limit.last_request >= %(window)s THEN 1
                ELSE rate_limit.count + 1 END,
            last_request = CASE
                WHEN rate_limit.last_request IS NULL
                    OR %(now)s - rate_limit.last_request >= %(window)s THEN EXCLUDED.last_request
                ELSE rate_limit.last_request END
        WHERE rate_limit.last_request IS NULL
            OR %(now)s - rate_limit.last_request >= %(window)s
            OR rate_limit.count < %(limit)s
        RETURNING 1
    """

    def consume(self, key: str, limit: int, window: int) -> int | None:
        now = int(time.time() * 1000)
        window_ms = window * 1000
        connection = connections[router.db_for_write(RateLimit)]
        with connection.cursor() as cursor:
            cursor.execute(
                self._CONSUME, {"key": key, "now": now, "window": window_ms, "limit": limit}
            )
            if cursor.fetchone() is not None:
                return None
            cursor.execute("SELECT last_request FROM rate_limit WHERE key = %s", [key])
            row = cursor.fetchone()
        last = row[0] if row and row[0] is not None else now
        # better-auth may have written a later last_request while this one waited.
        return min(window, max(1, math.ceil((last + window_ms - now) / 1000)))


_stores: dict[Any, Store] = {}


def store() -> Store:
    configured = iam_settings().oauth2_rate_limit_store
    if configured not in _stores:
        kind = {"cache": CacheStore, "database": DatabaseStore}.get(configured, configured)
        _stores[configured] = kind()
    return _stores[configured]


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(raw.strip())
    except ValueError:
        return None


def _peer(request: HttpRequest) -> str:
    """The client's address: ``REMOTE_ADDR``, or, when that is a trusted proxy
    (``OAUTH2_TRUSTED_PROXIES``), the first address of ``X-Forwarded-For`` from the right that
    is not one: each proxy appends the address it saw, so the entries left of the last
    untrusted one are whatever the client sent and are never read."""
    remote = request.META.get("REMOTE_ADDR") or ""
    proxies = iam_settings().oauth2_trusted_proxies
    address = _address(remote)
    if not proxies or address is None or not any(address in net for net in proxies):
        return remote
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        hop_address = _address(hop)
        if hop_address is None:
            return hop.strip()  # not an address: its own counter, never a trusted one
        if not any(hop_address in net for net in proxies):
            return str(hop_address)
    return str(_address(hops[0])) if hops else remote


def client_ip(request: HttpRequest) -> str:
    """The client's address (:func:`_peer`) normalised as better-auth's ``normalizeIP`` does
    (IPv4-mapped IPv6 to IPv4, other IPv6 to its /64)."""
    raw = _peer(request)
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw.lower() or "no-trusted-ip"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, 64), strict=False)
        return network.network_address.exploded
    return str(address)


class TooManyRequests(OAuth2Error):
    """429 with ``Retry-After``, in RFC 6749 section 5.2's JSON form. RFC 6749 registers no
    code for it; ``temporarily_unavailable`` is its word for an overloaded server."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(description=f"too many requests; retry after {retry_after} seconds")
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


def _limit(endpoint: str) -> Limit | None:
    return iam_settings().oauth2_rate_limits.get(endpoint)


def check_ip(request: HttpRequest, endpoint: str) -> None:
    """Count the request against its IP's limit; :class:`TooManyRequests` when exceeded."""
    limit = _limit(endpoint)
    if limit is None or limit.per_ip is None:
        return
    _spend(f"{client_ip(request)}|{RATE_LIMIT_PATHS[endpoint]}", limit.per_ip, limit.window)


def _spend(key: str, allowed: int, window: int) -> None:
    """One request against ``key``'s count; :class:`TooManyRequests` over ``allowed``."""
    retry = store().consume(key, allowed, window)
    if retry is not None:
        raise TooManyRequests(retry)


def check_user(request: HttpRequest, endpoint: str) -> None:
    """Count the request against the signed-in user's limit, the per-IP number: a guesser
    with many addresses (an IPv6 /48 is 65,536 /64 networks) still has one account's
    budget (RFC 8628 5.1: user codes are short)."""
    limit = _limit(endpoint)
    if limit is None or limit.per_ip is None or not request.user.is_authenticated:
        return
    _spend(f"user:{request.user.pk}|{RATE_LIMIT_PATHS[endpoint]}", limit.per_ip, limit.window)


def check_client(
    endpoint: str, client_id: str, auth_method: str | None = None, *, user_id: str | None = None
) -> None:
    """Count the request against the client's limit, once the client is proven by its
    credentials (``auth_method``). A public client (``auth_method`` ``"none"``) proves
    nothing by naming itself, so it has only the per-IP limit: a per-client one would let
    anyone use up its users' quota. The consent POST proves no client at all (its redirect
    URI is in every authorization URL), so it counts per client and signed-in ``user_id``:
    no one spends another user's answers."""
    limit = _limit(endpoint)
    if limit is None or limit.per_client is None or auth_method == NONE:
        return
    key = f"client:{client_id}|{RATE_LIMIT_PATHS[endpoint]}"
    if user_id is not None:
        key = f"{key}|user:{user_id}"
    _spend(key, limit.per_client, limit.window)


def limit_ip(endpoint: str) -> Callable[[View], View]:
    """Refuse a request over its IP's limit before the view parses it."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                check_ip(request, endpoint)
            except TooManyRequests as error:
                return error_response(error)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
