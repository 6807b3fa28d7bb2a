"""Server time of the admin's changelist and change page on a large table, and of the delete
confirmation of a row that takes a thousand of them with it (a client, a user).

    python benchmarks/admin_scale.py                      # 1M OAuth access tokens, 1k clients
    python benchmarks/admin_scale.py --target session     # 1M sessions, 1k users
    python benchmarks/admin_scale.py --rows 200000 --requests 50

The data lives in its own database (``beep_admin_bench`` on the configured server, the embedded
one by default), created and migrated on the first run and kept for the next ones; it is seeded
with set-based SQL in batches, then VACUUM ANALYZEd. ``--drop`` removes it at the end.

Pages are requested in-process through Django's test client (DEBUG off, a persistent database
connection, a logged-in superuser), so the figures are server time: URL routing, the admin
view, its SQL and template rendering, without a network or a browser. Each page is warmed up,
then requested in ``--rounds`` rounds of ``--requests`` requests, the pages taking turns so a
slow spell of a shared machine hits both alike. The report gives the median, 90th percentile
and minimum wall-clock time, the median of the fastest round, the median CPU time of this
process, and the time of a fixed pure-Python loop between rounds (the machine's speed).
One extra, untimed request per page records the SQL it issues; the report fails a page that
counts the whole table (a ``COUNT`` without ``LIMIT``) or renders a ``<select>`` with more than
``--max-options`` options (a dropdown of related rows).

Last, "delete selected" with "select all" on a list (every bench client with its million
tokens; every session), confirmed once inside a transaction that is then rolled back, so the
data stays for the next run: its wall-clock time, its statements, the peak of Python memory
it allocated (``tracemalloc``) and the rows left in the table before the rollback (none).
``--no-delete`` skips it.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")

BENCH_DATABASE = "beep_admin_bench"
BATCH = 100_000
GOALS_MS = {"changelist": 50.0, "change page": 35.0}

BENCH_USERS = "bench-user-%"


def digest_sql(prefix: str) -> str:
    """SQL for the unpadded base64url SHA-256 of ``prefix || g``: a stored digest's shape."""
    raw = f"convert_to('{prefix}' || g, 'UTF8')"
    return f"rtrim(translate(encode(sha256({raw}), 'base64'), '+/', '-_'), '=')"


# The bench users numbered 1..n, to spread rows over them.
NUMBERED_USERS = (
    'JOIN (SELECT id, row_number() OVER (ORDER BY row_id) AS n FROM "user" '
    "WHERE email LIKE 'bench-user-%%') AS u ON u.n = 1 + g %% {parents}"
)


@dataclass
class Target:
    model: str  # app_label.ModelName
    parents: str  # what the rows point at, for the report
    seed: Callable[[Any, int, int], None]
    # More changelist views to time (name: query string), reported without a goal.
    views: dict[str, str] = field(default_factory=dict)
    # The parent whose delete confirmation is timed (it takes its rows with it): its model
    # and a lookup of one bench parent.
    parent: tuple[str, dict[str, str]] | None = None
    # "Delete selected" of every row a list shows: its model and query string.
    bulk: tuple[str, str] | None = None


def progress(done: int, total: int, what: str, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-6)
    print(f"  {what}: {done:,}/{total:,} ({rate:,.0f} rows/s)", flush=True)


def seed_users(cursor: Any, count: int) -> None:
    cursor.execute('SELECT count(*) FROM "user" WHERE email LIKE %s', [BENCH_USERS])
    have = cursor.fetchone()[0]
    if have < count:
        cursor.execute(
            'INSERT INTO "user" (name, email) '
            "SELECT 'Bench user ' || g, 'bench-user-' || g || '@example.com' "
            "FROM generate_series(%s, %s) AS g",
            [have + 1, count],
        )


def seed_in_batches(cursor: Any, table: str, rows: int, insert_sql: str) -> None:
    """Run ``insert_sql`` (parameters: first and last number of a batch) until ``rows``."""
    cursor.execute(f'SELECT count(*) FROM "{table}"')
    have = cursor.fetchone()[0]
    if have >= rows:
        return
    print(f"seeding {table}: {have:,} rows, want {rows:,}", flush=True)
    started = time.perf_counter()
    for first in range(have + 1, rows + 1, BATCH):
        last = min(first + BATCH - 1, rows)
        cursor.execute(insert_sql, [first, last])
        progress(last - have, rows - have, table, started)
    cursor.execute(f'VACUUM ANALYZE "{table}"')


def seed_sessions(cursor: Any, rows: int, parents: int) -> None:
    seed_users(cursor, parents)
    seed_in_batches(
        cursor,
        "session",
        rows,
        "INSERT INTO session (token, expires_at, user_id, ip_address, user_agent) "
        f"SELECT {digest_sql('bench-session-')}, "
        "       now() + interval '1 hour' + (g %% 30) * interval '1 day', u.id, "
        "       ('10.0.0.' || (g %% 250))::inet, 'bench' "
        "FROM generate_series(%s, %s) AS g " + NUMBERED_USERS.format(parents=parents),
    )


def seed_access_tokens(cursor: Any, rows: int, parents: int) -> None:
    seed_users(cursor, parents)
    cursor.execute("SELECT count(*) FROM oauth_client WHERE client_id LIKE %s", ["bench-client-%"])
    have = cursor.fetchone()[0]
    if have < parents:
        cursor.execute(
            "INSERT INTO oauth_client (client_id, client_secret, name, redirect_uris, user_id) "
            f"SELECT 'bench-client-' || g, {digest_sql('bench-secret-')}, "
            "       'Bench client ' || g, ARRAY['https://client' || g || '.example.com/cb'], "
            "       (SELECT id FROM \"user\" WHERE email = 'bench-user-1@example.com') "
            "FROM generate_series(%s, %s) AS g",
            [have + 1, parents],
        )
    seed_in_batches(
        cursor,
        "oauth_access_token",
        rows,
        "INSERT INTO oauth_access_token (token, client_id, user_id, expires_at, scopes) "
        f"SELECT {digest_sql('bench-access-')}, "
        f"       'bench-client-' || (1 + g %% {parents}), u.id, "
        "       now() + (g %% 7200 - 3600) * interval '1 second', ARRAY['openid', 'profile'] "
        "FROM generate_series(%s, %s) AS g " + NUMBERED_USERS.format(parents=parents),
    )


TARGETS = {
    "access-token": Target(
        "beep_iam.OAuthAccessToken",
        "clients",
        seed_access_tokens,
        {
            "active only": "?state=active",
            "one client": "?q=bench-client-7",
            # The "Access tokens" link of a client's page (a related-rows link).
            "client link": "?client__exact=bench-client-7",
        },
        ("beep_iam.OAuthClient", {"client_id": "bench-client-7"}),
        ("beep_iam.OAuthClient", "?q=Bench+client"),
    ),
    "session": Target(
        "beep_shared.Session",
        "users",
        seed_sessions,
        {"one user": "?q=bench-user-7%40example.com"},
        ("beep_shared.User", {"email": "bench-user-7@example.com"}),
        ("beep_shared.Session", ""),
    ),
}
GOALS_MS["delete page"] = 100.0


class SelectCounter(HTMLParser):
    """Counts the <option>s of each <select> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.selects: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "select":
            self.selects.append((dict(attrs).get("name") or "?", 0))
        elif tag == "option" and self.selects:
            name, options = self.selects[-1]
            self.selects[-1] = (name, options + 1)


def full_counts(sqls: list[str], table: str) -> list[str]:
    return [
        sql
        for sql in sqls
        if re.search(r"\bCOUNT\(", sql, re.I) and f'"{table}"' in sql and "LIMIT" not in sql
    ]


def measure(client: Any, url: str, requests: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each request (CPU: this process, so it leaves out
    PostgreSQL's work and time lost to other processes on a busy machine)."""
    walls, cpus = [], []
    for _ in range(requests):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu_started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return walls, cpus


def reference_loop_ms() -> float:
    """CPU time of a fixed pure-Python loop: how fast the machine is right now (a shared
    virtual machine's speed can vary by a factor of two from one minute to the next)."""
    started = time.process_time()
    total = 0
    for i in range(1_000_000):
        total += i * i
    return (time.process_time() - started) * 1000


def inspect_page(client: Any, url: str, table: str, max_options: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    parser = SelectCounter()
    parser.feed(response.content.decode())
    sqls = [q["sql"] for q in captured.captured_queries]
    return {
        "queries": len(sqls),
        "sql_ms": sum(float(q["time"]) for q in captured.captured_queries) * 1000,
        "full_counts": full_counts(sqls, table),
        "loaded_rows": [
            sql
            for sql in sqls
            if f'FROM "{table}"' in sql and not re.search(r"\bCOUNT\(", sql, re.I)
        ],
        "big_selects": [(n, k) for n, k in parser.selects if k > max_options],
        "sqls": sqls,
    }


def delete_all(client: Any, model: Any, query: str, rows_of: Any) -> dict[str, Any]:
    """Confirm "delete selected" of every row the list at ``query`` shows, inside a
    transaction rolled back afterwards; count the rows of ``rows_of`` (the benchmark's
    table: the selected rows, or those they cascade to) before and after."""
    import tracemalloc

    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + query
    # "Select all" posts the page's own checkboxes too: one is enough.
    listed = model._default_manager.order_by("-row_id").values_list("pk", flat=True)[:1]
    data = {
        "action": "delete_selected",
        ACTION_CHECKBOX_NAME: list(listed),
        "select_across": "1",
        "post": "yes",
    }
    # CaptureQueriesContext counts the growth of a log capped at 9,000 entries.
    connection.queries_log.clear()
    with transaction.atomic():
        before = rows_of._default_manager.count()
        tracemalloc.start()
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            response = client.post(url, data)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert response.status_code == 302, response.status_code
        left = rows_of._default_manager.count()
        transaction.set_rollback(True)
    return {
        "rows": before - left,
        "left": left,
        "seconds": seconds,
        "queries": len(captured.captured_queries),
        "peak_mb": peak / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=sorted(TARGETS), default="access-token")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--parents", type=int, default=1_000, help="clients or users")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10, help="per page and round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--max-options", type=int, default=50)
    parser.add_argument("--show-sql", action="store_true", help="print each page's SQL")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    parser.add_argument("--no-delete", action="store_true", help='skip "delete selected"')
    args = parser.parse_args()
    target = TARGETS[args.target]

    import django
    from django.conf import settings

    settings.DATABASES["default"]["TEST"] = {"NAME": BENCH_DATABASE}
    django.setup()

    from django.apps import apps
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    # Not setup_test_environment(): it instruments template rendering, which would be timed.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    if "serialize" in inspect.signature(connection.creation.create_test_db).parameters:
        # Otherwise Django copies every row of the kept database into a string in memory.
        connection.creation.create_test_db(
            verbosity=0, autoclobber=True, keepdb=True, serialize=False
        )
    else:
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=True)
    try:
        model = apps.get_model(target.model)
        table = model._meta.db_table
        with connection.cursor() as cursor:
            target.seed(cursor, args.rows, args.parents)
            cursor.execute(f'SELECT count(*), min(row_id), max(row_id) FROM "{table}"')
            total, low, high = cursor.fetchone()
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0]
        middle = model._default_manager.filter(row_id__gte=(low + high) // 2).order_by("row_id")
        obj = middle.first()

        user_model = apps.get_model(settings.AUTH_USER_MODEL)
        admin_user = user_model._default_manager.filter(email="bench-admin@example.com").first()
        if admin_user is None:
            admin_user = user_model._default_manager.create_superuser(
                "bench-admin@example.com", "bench", name="Bench admin"
            )
        client = Client()
        client.force_login(admin_user)

        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        pages = {
            "changelist": changelist,
            "change page": reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]
            ),
            **{name: changelist + query for name, query in target.views.items()},
        }
        delete_page = None
        if target.parent is not None:
            parent_model = apps.get_model(target.parent[0])
            parent = parent_model._default_manager.get(**target.parent[1])
            popts = parent_model._meta
            delete_page = reverse(
                f"admin:{popts.app_label}_{popts.model_name}_delete", args=[parent.pk]
            )
            pages["delete page"] = delete_page
        print(
            f"\nadmin scale benchmark: {target.model} ({table}), {total:,} rows, "
            f"{args.parents:,} {target.parents}; Django {django.get_version()}, "
            f"PostgreSQL {pg_version}\n{args.rounds} rounds of {args.requests} requests per "
            f"page, pages interleaved, after {args.warmup} warm-up requests each\n"
        )
        for url in pages.values():
            for _ in range(args.warmup):
                assert client.get(url).status_code == 200, url
        walls: dict[str, list[float]] = {name: [] for name in pages}
        cpus: dict[str, list[float]] = {name: [] for name in pages}
        round_medians: dict[str, list[float]] = {name: [] for name in pages}
        reference = [reference_loop_ms()]
        for _ in range(args.rounds):
            for name, url in pages.items():
                wall, cpu = measure(client, url, args.requests)
                walls[name] += wall
                cpus[name] += cpu
                round_medians[name].append(statistics.median(wall))
            reference.append(reference_loop_ms())

        print(
            f"{'page':<12} {'median':>9} {'p90':>9} {'min':>9} {'best rnd':>9} {'CPU':>9} "
            f"{'queries':>8} {'SQL':>8}  check"
        )
        failed = False
        for name, url in pages.items():
            timings = sorted(walls[name])
            info = inspect_page(client, url, table, args.max_options)
            problems = []
            if url == delete_page:
                # Counts of the parent's rows are its job; loading them is not.
                if info["loaded_rows"]:
                    problems.append(f"loads rows of {table}")
            elif info["full_counts"]:
                problems.append(f"COUNT over all of {table}")
            if info["big_selects"]:
                problems.append(f"<select> of related rows: {info['big_selects']}")
            median = statistics.median(timings)
            goal = GOALS_MS.get(name)
            if problems:
                verdict = "; ".join(problems)
            elif goal is None:
                verdict = "ok (no goal)"
            else:
                verdict = f"ok (goal {goal:g} ms)" if median <= goal else f"SLOWER than {goal:g} ms"
            failed = failed or bool(problems) or (goal is not None and median > goal)
            p90 = timings[int(0.9 * (len(timings) - 1))]
            print(
                f"{name:<12} {median:>6.1f} ms {p90:>6.1f} ms {timings[0]:>6.1f} ms "
                f"{min(round_medians[name]):>6.1f} ms {statistics.median(cpus[name]):>6.1f} ms "
                f"{info['queries']:>8} {info['sql_ms']:>5.1f} ms  {verdict}"
            )
            if args.show_sql:
                for sql in info["sqls"]:
                    print(f"    {sql[:300]}")
        print(
            "\nmedian, p90, min: wall-clock server time of all requests; best rnd: median of "
            "the fastest round; CPU: median CPU time of this process; queries/SQL: one "
            f"request's statements and their time.\nreference loop (machine speed, lower is "
            f"faster): {min(reference):.0f}-{max(reference):.0f} ms between rounds"
        )
        if target.bulk is not None and not args.no_delete:
            bulk_model = apps.get_model(target.bulk[0])
            done = delete_all(client, bulk_model, target.bulk[1], model)
            what = f"{bulk_model._meta.verbose_name_plural}" + (
                f" at {target.bulk[1]}" if target.bulk[1] else ""
            )
            verdict = "ok" if not done["left"] else f"{done['left']:,} rows left"
            failed = failed or bool(done["left"])
            print(
                f'\n"delete selected", select all {what}: {done["rows"]:,} {table} rows gone '
                f"in {done['seconds']:.2f} s, {done['queries']} queries, Python "
                f"memory peak {done['peak_mb']:.1f} MB (rolled back)  {verdict}"
            )
        return 1 if failed else 0
    finally:
        if args.drop:
            connection.creation.destroy_test_db(BENCH_DATABASE, verbosity=0, keepdb=False)


if __name__ == "__main__":
    sys.exit(main())
