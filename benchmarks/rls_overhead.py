"""Row level security overhead, end to end through Django, with and without RLS.

Two identical tables in a scratch database ``beep_bench``: ``bench_item`` (a TenantModel with
the standard policy) and ``bench_item_plain`` (``rls_mode = "none"``), 100 organizations of
10,000 rows each and 2,000 members each (90 % active). The requests come from one of those
members. Two requests, both reading the organization from the session (signed cookie, no
database query) and running in one transaction per request:

- lookup: one row by (organization, key), through the index (organization_id, key);
- scan: all 10,000 rows of one organization.

Both views filter by the session's organization in the ORM (with RLS the policy alone
would do), so their Python work is identical and only row level security differs.

Variants:

- ``plain``: no RLS (and no RLS execute wrapper); one transaction per request
  (``ATOMIC_REQUESTS``).
- ``rls``: ``TenantMiddleware`` opens the request's transaction and the tenant rides on
  its first statement (this project's design).
- ``rls-extra-roundtrip``: RLS, the tenant sent with its own ``SELECT set_config(...)``
  (what the design avoids; shown for comparison).
- ``plain-autocommit``: no RLS and no transaction at all (for reference).

Variants run interleaved batch by batch on the same requests; the overhead is the median
over batches of the paired ratio, which keeps it meaningful on a busy machine.

Usage: ``python benchmarks/rls_overhead.py [--batches 300] [--lookups 20] [--scans 2]
[--keep]``.
Uses the embedded server (or DATABASE_URL's, whose role needs CREATEDB).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key")

import django

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import (  # noqa: E402
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
)
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, models  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import path  # noqa: E402

from beep_shared.db.fields import EntityIdField  # noqa: E402
from beep_shared.models import Organization, TenantModel, User  # noqa: E402
from beep_shared.rls import bypass_rls, tenant_context  # noqa: E402
from beep_shared.rls import connection as rls_connection  # noqa: E402
from beep_shared.rls.access import verified_session_record  # noqa: E402
from beep_shared.rls.middleware import (  # noqa: E402
    ACTIVE_TENANT_SESSION_KEY,
    VERIFIED_SESSION_KEY,
)

BENCH_DB = "beep_bench"
ORGS = 100
ROWS_PER_ORG = 10_000
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
OWNER = "bench@example.com"
# The requests come from a member (not the owner) of organizations that have others: the
# membership rule is asked through the member table, as for most users.
MEMBER = "member@example.com"
MEMBERS_PER_ORG = 2_000


class BenchItem(TenantModel):
    key = models.TextField()
    n = models.IntegerField()
    payload = models.TextField()

    class Meta:
        app_label = "beep_shared"
        db_table = "bench_item"
        indexes = [models.Index(fields=["organization", "key"], name="bench_item_org_key_idx")]


class BenchItemPlain(TenantModel):
    rls_mode = "none"

    # Same id prefix as bench_item: identical row sizes, so only RLS differs.
    id = EntityIdField(prefix="bench_item")
    key = models.TextField()
    n = models.IntegerField()
    payload = models.TextField()

    class Meta:
        app_label = "beep_shared"
        db_table = "bench_item_plain"
        indexes = [models.Index(fields=["organization", "key"], name="bench_plain_org_key_idx")]


# --- views -----------------------------------------------------------------------------


def _org(request: HttpRequest) -> str:
    return request.session[ACTIVE_TENANT_SESSION_KEY]


def lookup_plain(request: HttpRequest, key: str) -> JsonResponse:
    item = BenchItemPlain._default_manager.filter(organization_id=_org(request), key=key).first()
    return JsonResponse({"org": item.organization_id if item else None, "n": item and item.n})


def lookup_rls(request: HttpRequest, key: str) -> JsonResponse:
    # The same filter as the plain view (the policy alone would do), so that both views do
    # the same Python work and only row level security differs.
    item = BenchItem._default_manager.filter(organization_id=_org(request), key=key).first()
    return JsonResponse({"org": item.organization_id if item else None, "n": item and item.n})


def scan_plain(request: HttpRequest) -> JsonResponse:
    rows = list(
        BenchItemPlain._default_manager.filter(organization_id=_org(request)).values_list("id", "n")
    )
    return JsonResponse({"rows": len(rows), "sum": sum(n for _, n in rows)})


def scan_rls(request: HttpRequest) -> JsonResponse:
    rows = list(
        BenchItem._default_manager.filter(organization_id=_org(request)).values_list("id", "n")
    )
    return JsonResponse({"rows": len(rows), "sum": sum(n for _, n in rows)})


urlpatterns = [
    path("plain/lookup/<str:key>/", lookup_plain),
    path("rls/lookup/<str:key>/", lookup_rls),
    path("plain/scan/", scan_plain),
    path("rls/scan/", scan_rls),
]


class ExtraRoundTripTenantMiddleware:
    """The design this project avoids: a transaction and a separate set_config query."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        # The wish is still declared (every transaction states its tenant, so a bare
        # set_config would be overridden by the next statement's SET LOCAL); the extra
        # statement is the round trip the design avoids.
        with tenant_context(_org(request)), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('app.current_org_id', %s, true)", [_org(request)])
            return self.get_response(request)


# Every variant logs a member of the organization in (a Django session): TenantMiddleware
# re-checks on every request that the user may still work in the organization (for this
# session, verified before, in front of the view's first statement).
SESSION = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {"middleware": SESSION, "atomic": True, "prefix": "plain"},
    "rls": {
        "middleware": [*SESSION, "beep_shared.rls.middleware.TenantMiddleware"],
        "atomic": False,
        "prefix": "rls",
    },
    "rls-extra-roundtrip": {
        "middleware": [*SESSION, f"{__name__}.ExtraRoundTripTenantMiddleware"],
        "atomic": False,
        "prefix": "rls",
    },
    "plain-autocommit": {"middleware": SESSION, "atomic": False, "prefix": "plain"},
}


# --- database --------------------------------------------------------------------------


def server_connect(dbname: str) -> psycopg.Connection:
    db = connection.settings_dict
    if db["ENGINE"] == "beep_embedded.backend":  # host and port known once it runs
        from beep_embedded.backend.base import locate

        locate(db)
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    )


def create_database(keep: bool) -> bool:
    """Create the scratch database; True when it already holds the data (--keep)."""
    with server_connect("postgres") as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if exists and keep:
            return True
        if exists:
            conn.execute(f'DROP DATABASE "{BENCH_DB}"')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return False


def load_data() -> None:
    print("migrating the scratch database ...", flush=True)
    call_command("migrate", verbosity=0)
    with connection.schema_editor() as editor:
        editor.create_model(BenchItem)
        editor.create_model(BenchItemPlain)
    owner = User.objects.create_user(OWNER)
    Organization.objects.bulk_create(
        Organization(name=f"org {i}", slug=f"org-{i}", owner_user=owner) for i in range(ORGS)
    )
    User.objects.create_user(MEMBER)
    print(f"loading {ORGS} x {ROWS_PER_ORG} rows into each table ...", flush=True)
    with bypass_rls() as bypass, bypass.cursor() as cursor:  # writes across all tenants
        cursor.execute(
            'INSERT INTO "user" (name, email) '
            "SELECT 'crowd ' || g, 'crowd-' || g || '@example.com' FROM generate_series(1, %s) g",
            [MEMBERS_PER_ORG - 1],
        )
        cursor.execute(
            "INSERT INTO member (organization_id, user_id, status) "
            "SELECT o.id, u.id, CASE WHEN u.email = %s OR random() < 0.9 "
            "THEN 'active' ELSE 'suspended' END "
            """FROM organization o, "user" u WHERE u.email <> %s""",
            [MEMBER, OWNER],
        )
        for table in ("bench_item", "bench_item_plain"):
            cursor.execute(
                f"INSERT INTO {table} (organization_id, key, n, payload) "
                "SELECT o.id, 'k' || g, g, md5(o.id || g) "
                "FROM organization o, generate_series(1, %s) g ORDER BY o.id, g",
                [ROWS_PER_ORG],
            )
    connection.close()
    with server_connect(BENCH_DB) as conn:
        for table in ("bench_item", "bench_item_plain", "member", '"user"'):
            conn.execute(f"VACUUM ANALYZE {table}")


# --- measurement -----------------------------------------------------------------------


def session_cookie(org_id: str) -> str:
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    member = User.objects.get(email=MEMBER)
    store = SessionStore()
    store[ACTIVE_TENANT_SESSION_KEY] = org_id
    store[SESSION_KEY] = member.pk
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = member.get_session_auth_hash()
    # What the session holds after its first tenant request (TenantMiddleware verified it
    # the ordinary way and remembered that; a browser sends the updated cookie back).
    store[VERIFIED_SESSION_KEY] = verified_session_record(member)
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def environ(path_: str, cookie: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path_,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_COOKIE": cookie,
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }


def start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
) -> Callable[[bytes], object]:
    return lambda data: None


def build_handlers() -> dict[str, WSGIHandler]:
    handlers = {}
    for name, variant in VARIANTS.items():
        with override_settings(MIDDLEWARE=variant["middleware"]):
            handlers[name] = WSGIHandler()
    return handlers


def use_rls_wrapper(on: bool) -> None:
    """The plain variants run as a project without beep's RLS wrapper would: it states a
    tenant (or none) with every statement and resets the session with every commit, which
    costs the parse of one ``SET LOCAL`` per statement and two ``RESET``s per commit."""
    # The wrapper itself, not ``django.db.connection`` (a proxy: its ``__dict__`` is not the
    # connection's, so popping the resetting commit from it would leave it in place).
    wrapper = connections["default"]
    wrapper.ensure_connection()
    if on:
        rls_connection.install(wrapper)
    else:
        if rls_connection.apply_scope in wrapper.execute_wrappers:
            wrapper.execute_wrappers.remove(rls_connection.apply_scope)
        wrapper.__dict__.pop("_commit", None)  # Django's own commit and rollback again
        wrapper.__dict__.pop("_rollback", None)


def run_batch(
    handler: WSGIHandler, variant: dict[str, Any], requests: list[tuple[str, str]]
) -> float:
    """Seconds per request for ``requests`` (path suffix, cookie)."""
    connection.settings_dict["ATOMIC_REQUESTS"] = variant["atomic"]
    use_rls_wrapper(variant["prefix"] == "rls")
    prefix = variant["prefix"]
    started = time.perf_counter()
    for suffix, cookie in requests:
        body = b"".join(handler(environ(f"/{prefix}/{suffix}", cookie), start_response))
        if not body.startswith(b'{"'):
            raise RuntimeError(f"unexpected response: {body[:200]!r}")
    return (time.perf_counter() - started) / len(requests)


def check_answers(handler_by_name: dict[str, WSGIHandler], orgs: list[str], cookies: dict) -> None:
    """Each variant answers with the requesting organization's rows only."""
    import json

    for name, handler in handler_by_name.items():
        variant = VARIANTS[name]
        connection.settings_dict["ATOMIC_REQUESTS"] = variant["atomic"]
        use_rls_wrapper(variant["prefix"] == "rls")
        for org in orgs[:3]:
            out = b"".join(
                handler(environ(f"/{variant['prefix']}/lookup/k7/", cookies[org]), start_response)
            )
            assert json.loads(out)["org"] == org, (name, out)
            out = b"".join(
                handler(environ(f"/{variant['prefix']}/scan/", cookies[org]), start_response)
            )
            assert json.loads(out)["rows"] == ROWS_PER_ORG, (name, out)


def measure(batches: int, lookups: int, scans: int) -> dict[str, dict[str, list[float]]]:
    """Per-batch seconds per request, variants interleaved batch by batch (paired)."""
    orgs = list(Organization.objects.order_by("row_id").values_list("id", flat=True))
    cookies = {org: session_cookie(org) for org in orgs}
    handlers = build_handlers()
    check_answers(handlers, orgs, cookies)
    rng = random.Random(42)
    results: dict[str, dict[str, list[float]]] = {"lookup": {}, "scan": {}}
    plan = [("lookup", lookups)] * batches + [("scan", scans)] * max(1, batches // 5)
    rng.shuffle(plan)
    for number, (kind, size) in enumerate([("lookup", lookups), ("scan", 1), *plan]):
        if kind == "lookup":
            requests = [
                (f"lookup/k{rng.randint(1, ROWS_PER_ORG)}/", cookies[rng.choice(orgs)])
                for _ in range(size)
            ]
        else:
            requests = [("scan/", cookies[rng.choice(orgs)]) for _ in range(size)]
        order = list(VARIANTS)
        rng.shuffle(order)
        for name in order:
            seconds = run_batch(handlers[name], VARIANTS[name], requests)
            if number >= 2:  # the first two batches warm up and are discarded
                results[kind].setdefault(name, []).append(seconds)
        if number and number % 50 == 0:
            print(f"  {number}/{len(plan) + 2} batches", flush=True)
    return results


def report(results: dict[str, dict[str, list[float]]]) -> None:
    print()
    print(
        f"{'request':<8} {'variant':<21} {'median/request':>15} {'overhead':>9}  "
        "(overhead: median over batches of variant/plain - 1, paired)"
    )
    for kind, variants in results.items():
        base = variants["plain"]
        for name in VARIANTS:
            samples = variants[name]
            median = statistics.median(samples)
            ratio = statistics.median(s / b for s, b in zip(samples, base, strict=True))
            unit, scale = ("µs", 1e6) if median < 0.01 else ("ms", 1e3)
            print(
                f"{kind:<8} {name:<21} {median * scale:>12.1f} {unit} {(ratio - 1) * 100:>+8.1f}%"
            )
    print()
    print("Goal: rls <= +10 % over plain (both one transaction per request).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=300, help="lookup batches per variant")
    parser.add_argument("--lookups", type=int, default=20, help="lookup requests per batch")
    parser.add_argument("--scans", type=int, default=2, help="10k-row scans per scan batch")
    parser.add_argument("--keep", action="store_true", help="keep and reuse beep_bench")
    args = parser.parse_args()

    settings.ROOT_URLCONF = __name__
    settings.SESSION_ENGINE = SESSION_ENGINE
    settings.DEBUG = False
    reuse = create_database(args.keep)
    connection.close()
    connection.settings_dict["NAME"] = BENCH_DB
    connection.settings_dict["CONN_MAX_AGE"] = 600  # persistent, as in production
    if "bypass" in settings.DATABASES:
        connections["bypass"].settings_dict["NAME"] = BENCH_DB  # same database, bypass login
    if not reuse:
        load_data()
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(cursor.fetchone()[0])
    print(
        f"Django {django.get_version()}, psycopg {psycopg.__version__}, "
        f"{ORGS} orgs x {ROWS_PER_ORG} rows; {args.batches} batches of {args.lookups} "
        f"lookups and {max(1, args.batches // 5)} of {args.scans} scans per variant",
        flush=True,
    )
    results = measure(args.batches, args.lookups, args.scans)
    report(results)
    connections.close_all()
    if not args.keep:
        with server_connect("postgres") as conn:
            conn.execute(f'DROP DATABASE "{BENCH_DB}"')


if __name__ == "__main__":
    sys.modules.setdefault("benchmarks.rls_overhead", sys.modules[__name__])
    main()
