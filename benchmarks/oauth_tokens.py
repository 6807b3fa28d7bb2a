"""Benchmark: OAuth access token validation and purge_expired_tokens on a million rows.

    python benchmarks/oauth_tokens.py [--rows 1000000] [--samples 20000] [--rounds 2]

Creates a scratch database next to the project's (embedded server or DATABASE_URL; the
role needs CREATEDB), migrates it, and drops it at the end, also on errors and Ctrl-C.

1. Validation: ``rows`` access tokens, half expired, loaded with one INSERT ... SELECT
   generate_series. Median latency of ``validate_access_token()`` (Django connection,
   digest computed per call) against a raw psycopg ``SELECT * ... WHERE token = %s`` of
   the same row by its digest on a plain psycopg connection (its default: statements
   prepared after 5 runs), measured interleaved on the same random sample.
2. Purge: the table (half of it expired) is restored to the same rows before each run;
   ``manage.py purge_expired_tokens`` (in process) is timed against a plain batched
   ``DELETE ... WHERE id IN (SELECT id ... WHERE expires_at < now() LIMIT n)`` loop, and
   against the command's own batch statement run in a bare psycopg loop (which isolates
   the command's overhead), same batch size, order alternating, ``rounds`` times each.
   Peak RSS of this process is read per run from /proc/self/status (VmHWM, reset before
   each run).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key")
os.environ["DEBUG"] = "0"  # DEBUG would log every query in memory

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

GOAL = 1.5
RAW_SELECT = "SELECT * FROM oauth_access_token WHERE token = %s"
# The digest of beep_shared.crypto.digest() in SQL: SHA-256, base64url, no padding.
SQL_DIGEST = "rtrim(translate(encode(sha256(convert_to({}, 'UTF8')), 'base64'), '+/', '-_'), '=')"
LOAD_SQL = f"""
INSERT INTO oauth_access_token (token, client_id, user_id, scopes, expires_at)
SELECT {SQL_DIGEST.format("'bench-' || g")},
       %(client_id)s, %(user_id)s, ARRAY['openid', 'email'],
       CASE WHEN g %% 2 = 0 THEN now() - g * interval '1 second'
            ELSE now() + interval '1 day' + g * interval '1 second' END
FROM generate_series(1, %(rows)s) AS g
"""
PLAIN_DELETE = (
    "DELETE FROM oauth_access_token WHERE id IN "
    "(SELECT id FROM oauth_access_token WHERE expires_at < %s LIMIT %s)"
)


# --- process memory ----------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0); harmless if not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    return _status_kb("VmHWM") / 1024


# --- database lifecycle ------------------------------------------------------------------


def _raw_params(dbname: str) -> dict[str, Any]:
    s = settings.DATABASES["default"]
    if s["ENGINE"] == "beep_embedded.backend":  # host and port known once it runs
        from beep_embedded.backend.base import locate

        locate(s)
    params = {"dbname": dbname, "user": s["USER"], "host": s["HOST"], "port": s["PORT"] or None}
    if s.get("PASSWORD"):
        params["password"] = s["PASSWORD"]
    return {k: v for k, v in params.items() if v}


def create_database(name: str, admin_db: str) -> None:
    with psycopg.connect(**_raw_params(admin_db), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str, admin_db: str) -> None:
    connections.close_all()
    with psycopg.connect(**_raw_params(admin_db), autocommit=True) as conn:
        try:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.errors.InsufficientPrivilege:
            # FORCE may not terminate an autovacuum worker (a superuser's process) on the
            # scratch database; a plain DROP makes the worker exit by itself.
            for attempt in range(10):
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    return
                except psycopg.errors.ObjectInUse:
                    if attempt == 9:
                        raise
                    time.sleep(1)


# --- data ----------------------------------------------------------------------------------


def load_tokens(raw: psycopg.Connection, rows: int, client_id: str, user_id: str) -> float:
    """Generate the rows once and keep a copy; later calls restore exactly those rows."""
    started = time.perf_counter()
    raw.execute("TRUNCATE oauth_access_token")
    copied = raw.execute("SELECT to_regclass('bench_token_copy')").fetchone()
    if copied and copied[0]:
        raw.execute("INSERT INTO oauth_access_token SELECT * FROM bench_token_copy")
    else:
        raw.execute(LOAD_SQL, {"client_id": client_id, "user_id": user_id, "rows": rows})
        raw.execute("CREATE UNLOGGED TABLE bench_token_copy AS SELECT * FROM oauth_access_token")
        # Settled now, so autovacuum does not visit the million new rows during a phase.
        raw.execute("VACUUM ANALYZE bench_token_copy")
    raw.execute("VACUUM ANALYZE oauth_access_token")
    return time.perf_counter() - started


def count_expired(raw: psycopg.Connection) -> int:
    row = raw.execute("SELECT count(*) FROM oauth_access_token WHERE expires_at < now()").fetchone()
    return int(row[0]) if row else 0


# --- phases --------------------------------------------------------------------------------


def median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def p95_us(samples: list[int]) -> float:
    return statistics.quantiles(samples, n=20)[-1] / 1000


def bench_validation(raw: psycopg.Connection, rows: int, samples: int) -> dict[str, Any]:
    from beep_iam.services.oauth_tokens import validate_access_token
    from beep_shared.crypto import digest

    valid = [f"bench-{g}" for g in random.sample(range(1, rows + 1, 2), min(samples, rows // 2))]
    digests = {token: digest(token) for token in valid}

    def service(token: str) -> Any:
        return validate_access_token(token)

    def raw_select(token: str) -> Any:
        return raw.execute(RAW_SELECT, (digests[token],)).fetchone()

    for token in valid[:500]:  # warm-up: connections, prepared statements, caches
        assert service(token) is not None and raw_select(token) is not None
    assert service(f"bench-{2}") is None, "an expired token validated"

    timings: dict[str, list[int]] = {"service": [], "raw": []}
    calls: list[tuple[str, Callable[[str], Any]]] = [("service", service), ("raw", raw_select)]
    reset_peak_rss()
    for i, token in enumerate(valid):
        order = calls if i % 2 == 0 else calls[::-1]  # alternate to cancel ordering effects
        for name, fn in order:
            started = time.perf_counter_ns()
            result = fn(token)
            timings[name].append(time.perf_counter_ns() - started)
            if result is None:
                raise AssertionError(f"{name} did not find {token}")
    return {
        "samples": len(valid),
        "service_median": median_us(timings["service"]),
        "service_p95": p95_us(timings["service"]),
        "raw_median": median_us(timings["raw"]),
        "raw_p95": p95_us(timings["raw"]),
        "ratio": median_us(timings["service"]) / median_us(timings["raw"]),
        "peak_rss": peak_rss_mb(),
    }


def run_command(batch_size: int) -> tuple[float, float, float]:
    connections.close_all()
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    call_command(
        "purge_expired_tokens",
        batch_size=batch_size,
        stdout=io.StringIO(),
        stderr=open(os.devnull, "w"),  # noqa: SIM115  (closed with the process)
    )
    return time.perf_counter() - started, rss_before, peak_rss_mb()


def run_plain_delete(raw: psycopg.Connection, batch_size: int) -> tuple[float, float, float]:
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    now = raw.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    while True:
        deleted = raw.execute(PLAIN_DELETE, (now, batch_size)).rowcount
        if deleted < batch_size:
            break
    return time.perf_counter() - started, rss_before, peak_rss_mb()


def run_keyset_delete(raw: psycopg.Connection, batch_size: int) -> tuple[float, float, float]:
    """The command's own batch statement in a bare psycopg loop: no Django, no count, no
    progress. The difference to the command is the command's overhead."""
    from beep_iam.maintenance.purge import registry

    target = registry.select(["oauth_access_token.expired"])[0]
    django_connection = connections["default"]
    first_sql = target.batch_sql(django_connection, first=True)
    next_sql = target.batch_sql(django_connection, first=False)
    rss_before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    now = raw.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    params = {**target.bind(now, django_connection), "_limit": batch_size, "_floor": None}
    sql = first_sql
    while True:
        selected, _deleted, floor = raw.execute(sql, params).fetchone()  # type: ignore[misc]
        params["_floor"], sql = floor, next_sql
        if selected < batch_size:
            break
    return time.perf_counter() - started, rss_before, peak_rss_mb()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()

    admin_db = settings.DATABASES["default"]["NAME"]
    bench_db = f"beep_bench_oauth_{os.getpid()}"
    create_database(bench_db, admin_db)
    settings.DATABASES["default"]["NAME"] = bench_db
    connections["default"].settings_dict["NAME"] = bench_db
    try:
        return run(args)
    finally:
        drop_database(bench_db, admin_db)
        print(f"\nDropped scratch database {bench_db}.")


def run(args: argparse.Namespace) -> int:
    from beep_iam.services.oauth_clients import register_client
    from beep_shared.models import User

    print(f"Migrating scratch database {settings.DATABASES['default']['NAME']} ...", flush=True)
    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench@example.com", name="bench")
    client = register_client(redirect_uris=["https://bench.example.com/cb"], name="bench").client
    raw = psycopg.connect(**_raw_params(settings.DATABASES["default"]["NAME"]), autocommit=True)

    load_s = load_tokens(raw, args.rows, client.client_id, user.pk)
    expired = count_expired(raw)
    print(f"Loaded {args.rows:,} access tokens ({expired:,} expired) in {load_s:.1f} s.")

    print("Validating ...", flush=True)
    v = bench_validation(raw, args.rows, args.samples)

    print("Purging ...", flush=True)
    runs: dict[str, list[tuple[float, float, float]]] = {"command": [], "plain": [], "keyset": []}
    for round_no in range(args.rounds):
        order = list(runs) if round_no % 2 == 0 else list(runs)[::-1]
        for which in order:
            load_tokens(raw, args.rows, client.client_id, user.pk)
            if which == "command":
                result = run_command(args.batch_size)
            elif which == "plain":
                result = run_plain_delete(raw, args.batch_size)
            else:
                result = run_keyset_delete(raw, args.batch_size)
            runs[which].append(result)
            left = count_expired(raw)
            assert left == 0, f"{which} left {left} expired rows"
            print(f"  round {round_no + 1} {which}: {result[0]:.2f} s", flush=True)
    raw.close()
    report(args, v, expired, runs)
    return 0


def report(
    args: argparse.Namespace,
    v: dict[str, Any],
    expired: int,
    runs: dict[str, list[tuple[float, float, float]]],
) -> None:
    cmd_s = statistics.median(r[0] for r in runs["command"])
    plain_s = statistics.median(r[0] for r in runs["plain"])
    keyset_s = statistics.median(r[0] for r in runs["keyset"])

    def line(label: str, value: str) -> None:
        print(f"  {label:<34}{value}")

    def verdict(ratio: float) -> str:
        return f"{ratio:.2f}x  (goal <= {GOAL}x: {'met' if ratio <= GOAL else 'NOT met'})"

    print()
    print(f"OAuth token benchmark, {args.rows:,} access tokens")
    print("-" * 78)
    print(f"Validation, {v['samples']:,} random valid tokens, median / p95 per call")
    line("validate_access_token()", f"{v['service_median']:7.1f} us / {v['service_p95']:7.1f} us")
    line("raw psycopg SELECT by digest", f"{v['raw_median']:7.1f} us / {v['raw_p95']:7.1f} us")
    line("service / raw", verdict(v["ratio"]))
    line("peak RSS during validation", f"{v['peak_rss']:.1f} MB")
    print(
        f"Purge of {expired:,} expired rows among {args.rows:,}, batch {args.batch_size}, "
        f"median of {args.rounds} runs each"
    )
    line("purge_expired_tokens", f"{cmd_s:6.2f} s  {expired / cmd_s:9,.0f} rows/s")
    line("plain batched DELETE", f"{plain_s:6.2f} s  {expired / plain_s:9,.0f} rows/s")
    line("same batches, bare psycopg loop", f"{keyset_s:6.2f} s  {expired / keyset_s:9,.0f} rows/s")
    line("command / plain batched DELETE", verdict(cmd_s / plain_s))
    line("command / bare loop (overhead)", f"{cmd_s / keyset_s:.2f}x")
    for which in runs:
        line(f"{which} runs", ", ".join(f"{r[0]:.2f} s" for r in runs[which]))
    for which in runs:
        before = max(r[1] for r in runs[which])
        peak = max(r[2] for r in runs[which])
        line(f"{which}: RSS before / peak", f"{before:.1f} MB / {peak:.1f} MB")


if __name__ == "__main__":
    raise SystemExit(main())
