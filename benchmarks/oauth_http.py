"""Benchmark: the OAuth endpoints over HTTP, against django-oauth-toolkit and better-auth.

    python benchmarks/oauth_http.py [--duration 2] [--rounds 1] [--concurrency 8 32]
        [--workers 4] [--node-workers 2] [--rows 10000] [--pool 1000] [--refresh-pool 6000]
        [--refresh-users 1] [--systems beep dot better-auth] [--overhead-samples 200]
        [--dpop-rounds 2] [--dpop-pool 12000]

Needs ``wrk`` (Debian: ``apt-get install wrk``), gunicorn and django-oauth-toolkit 3.4.1
(``pip install -e ".[bench]"``), and ``npm ci`` in ``interop/better-auth``.

Creates two scratch databases next to the project's (embedded server or DATABASE_URL; the
role needs CREATEDB): one migrated for beep-iam, which better-auth 1.7.5 shares as in
co-tenancy, and one for django-oauth-toolkit 3.4.1's own tables. Each gets the same clients
(one for client_credentials, one for a user's tokens, client_secret_basic), ``--pool`` valid
access tokens with ``openid profile email``, ``--rows`` more access tokens (half expired) and
refresh tokens, each used once, of ``--refresh-users`` users. Then it starts:

- beep-iam under gunicorn, ``--workers`` sync workers (``beep_settings``: this project's
  settings and middleware, DEBUG off, persistent connections, abuse limits off);
- django-oauth-toolkit under the same gunicorn (``dot_settings``: ``startproject``'s
  middleware, OIDC on for UserInfo; clients with ``hash_client_secret=False``, and as
  "dot-default" DOT's default PBKDF2-hashed client for client_credentials at the lower
  concurrency);
- better-auth 1.7.5 on Node with ``--node-workers`` cluster workers (its own Node adapter,
  the interop harness's configuration, rate limit off);
- a trivial WSGI application under the same gunicorn (and Node's ``/ping``): the ceiling of
  the load generator and server stack,

and runs ``wrk`` for each line (client_credentials token, refresh, introspection, userinfo) at
each concurrency, the systems interleaved line by line (their order rotating), every answer
checked for 200, waiting after each run until the server is idle again. Then DPoP's added
cost at beep-iam (RFC 9449, issue 19): client_credentials with a proof (a bound token comes
back) and userinfo with DPoP-bound tokens and a proof per request, each run next to the
same line with Bearer tokens, the two alternating for ``--dpop-rounds``; every proof is
signed before the phase (ES256, a fresh ``jti`` each, ``--dpop-pool`` per line) and sent
once, since the server refuses a replayed proof. It reports requests/s,
p50, p99 and the CPU time per request of the server's processes and its PostgreSQL backends
(read from /proc while wrk runs), which says what a system needs where requests/s only say
what it got on a shared machine. Afterwards, with the servers stopped, it measures in
process what beep-iam's protocol layer adds over the services: each view called with a
prepared request (``RequestFactory``, no middleware) against the service calls the view
makes, interleaved, median of the paired differences of wall and thread CPU time. Every
server is stopped and both databases dropped at the end, also on errors, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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

SUPPORT = ROOT / "benchmarks" / "oauth_http_support"
INTEROP = ROOT / "interop" / "better-auth"
LUA = SUPPORT / "wrk.lua"
FORM = "application/x-www-form-urlencoded"
LINES = ("client_credentials", "refresh", "introspect", "userinfo")
SYSTEMS = ("beep", "dot", "better-auth")
BA_SECRET = "benchmark-better-auth-secret-0123456789"
WEB_SCOPES = ["openid", "profile", "email", "offline_access"]
# The goals of issue 18.
GOAL_TOKEN_PER_CORE = 120.0
GOAL_INTROSPECT_RATIO = 2.0
GOAL_PROTOCOL_MS = 0.2
# The digest of beep_shared.crypto.digest() in SQL (as benchmarks/oauth_tokens.py).
SQL_DIGEST = "rtrim(translate(encode(sha256(convert_to({}, 'UTF8')), 'base64'), '+/', '-_'), '=')"
BACKGROUND_SQL = f"""
INSERT INTO oauth_access_token (token, client_id, user_id, scopes, expires_at)
SELECT {SQL_DIGEST.format("'beep-bg-' || g")},
       %(client_id)s, %(user_id)s, ARRAY['openid', 'profile', 'email'],
       CASE WHEN g %% 2 = 0 THEN now() - g * interval '1 second'
            ELSE now() + interval '1 day' END
FROM generate_series(1, %(rows)s) AS g
"""


# --- database lifecycle (as benchmarks/oauth_tokens.py) ----------------------------------------


def raw_params(dbname: str) -> dict[str, Any]:
    s = settings.DATABASES["default"]
    if s["ENGINE"] == "beep_embedded.backend":  # host and port known once it runs
        from beep_embedded.backend.base import locate

        locate(s)
    params = {"dbname": dbname, "user": s["USER"], "host": s["HOST"], "port": s["PORT"] or None}
    if s.get("PASSWORD"):
        params["password"] = s["PASSWORD"]
    return {k: v for k, v in params.items() if v}


def create_database(name: str, admin_db: str) -> None:
    with psycopg.connect(**raw_params(admin_db), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str, admin_db: str) -> None:
    connections.close_all()
    with psycopg.connect(**raw_params(admin_db), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use_database(name: str) -> None:
    for alias in settings.DATABASES:
        settings.DATABASES[alias]["NAME"] = name
        connections[alias].settings_dict["NAME"] = name
    connections.close_all()


# --- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Servers:
    """Started servers, each in a process group of its own; :meth:`stop_all` ends every one."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115  (closed with the process)
        self.running[name] = subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, name: str, url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running[name].poll() is not None:
                raise RuntimeError(f"{name} ended at start:\n{self.log_tail(name)}")
            try:
                urllib.request.urlopen(url, timeout=5).close()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(
            f"{name} did not answer {url} within {timeout} s:\n{self.log_tail(name)}"
        )

    def log_tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop_all(self) -> None:
        for process in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.running.items():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            print(f"Stopped {name}.", flush=True)
        self.running.clear()


def gunicorn(workers: int, port: int, app: str) -> list[str]:
    return [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        app,
    ]


def db_env(dbname_var: str, dbname: str) -> dict[str, str]:
    p = raw_params(dbname)
    env = {dbname_var: dbname, "BENCH_DB_USER": p["user"], "BENCH_DB_HOST": p.get("host", "")}
    env["BENCH_DB_PORT"] = str(p.get("port", ""))
    env["BENCH_DB_PASSWORD"] = p.get("password", "")
    return env


# --- the load generator ------------------------------------------------------------------------


# --- CPU accounting ------------------------------------------------------------------------------
# On a machine shared with other work, requests/s say how much CPU a system got; CPU time per
# request says what it needs. Counted: every process of the server's process group and every
# PostgreSQL backend of its database role (persistent connections), from /proc.

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[2]) == pgid:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


@dataclass
class Meter:
    """CPU seconds used so far by a server's processes and its database backends."""

    pgid: int
    dbname: str
    role: str
    admin: psycopg.Connection

    def pids(self) -> list[tuple[str, int]]:
        backends = self.admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND usename = %s",
            (self.dbname, self.role),
        ).fetchall()
        return [("app", pid) for pid in _group(self.pgid)] + [("db", row[0]) for row in backends]

    def sample(self) -> dict[tuple[str, int], float]:
        return {key: _cpu_seconds(key[1]) for key in self.pids()}

    @staticmethod
    def used(
        before: dict[tuple[str, int], float], after: dict[tuple[str, int], float], part: str = ""
    ) -> float:
        return sum(
            cpu - before.get(key, 0.0) for key, cpu in after.items() if not part or key[0] == part
        )


@dataclass
class Line:
    method: str
    path: str
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    tokens: Path | None = None
    once: bool = False

    def args(self, offset: int, threads: int) -> list[str]:
        args = [f"method={self.method}", f"path={self.path}", f"threads={threads}"]
        if self.body is not None:
            args.append(f"body={self.body}")
        args += [f"header={name}: {value}" for name, value in self.headers.items()]
        if self.tokens is not None:
            args += [f"tokens={self.tokens}", f"offset={offset}", f"once={int(self.once)}"]
        return args


@dataclass
class System:
    name: str
    url: str
    lines: dict[str, Line]
    offset: dict[str, int] = field(default_factory=dict)
    meter: Meter | None = None


def wrk(
    url: str,
    line: Line,
    concurrency: int,
    duration: int,
    offset: int = 0,
    meter: Meter | None = None,
) -> dict:
    """One wrk run; with ``meter``, the CPU the server and its database used per request
    (``cpu_ms``) while wrk ran."""
    threads = min(2, concurrency)
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--timeout", "30s"]
    cmd += ["-s", str(LUA), url + line.path, "--", *line.args(offset, threads)]
    before = meter.sample() if meter else {}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    after = meter.sample() if meter else {}
    cpu, db_cpu = Meter.used(before, after), Meter.used(before, after, "db")
    for text in done.stdout.splitlines():
        if text.startswith("RESULT "):
            result = json.loads(text[len("RESULT ") :])
            result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
            result["threads"] = threads
            per_request = 1000 / result["requests"] if result["requests"] else 0.0
            result["cpu_ms"] = cpu * per_request
            result["db_cpu_ms"] = db_cpu * per_request
            return result
    raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def drain(url: str, timeout: float = 120) -> float:
    """Wait until the server answers a new connection: requests wrk left queued (sync workers
    finish what they accepted) must not run into the next system's measurement."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            urllib.request.urlopen(url + "/bench-drain", timeout=timeout).close()
        except urllib.error.HTTPError:
            pass
        except OSError:
            time.sleep(0.1)
            continue
        return time.monotonic() - started
    raise RuntimeError(f"{url} still busy after {timeout} s")


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def lines_for(
    prefix: str, machine: tuple[str, str], web: tuple[str, str], files: dict[str, Path]
) -> dict[str, Line]:
    """The four lines of one system; ``prefix`` is where its endpoints are."""
    token_path, introspect_path, userinfo_path = (
        ("/o/token/", "/o/introspect/", "/o/userinfo/")
        if prefix == "/o"
        else (f"{prefix}/oauth2/token", f"{prefix}/oauth2/introspect", f"{prefix}/oauth2/userinfo")
    )
    form = {"Content-Type": FORM}
    return {
        "client_credentials": Line(
            "POST",
            token_path,
            "grant_type=client_credentials&scope=invoices%3Aread",
            {**form, "Authorization": basic(*machine)},
        ),
        "refresh": Line(
            "POST",
            token_path,
            "grant_type=refresh_token&refresh_token=%s",
            {**form, "Authorization": basic(*web)},
            files["refresh"],
            once=True,
        ),
        "introspect": Line(
            "POST",
            introspect_path,
            "token=%s&token_type_hint=access_token",
            {**form, "Authorization": basic(*web)},
            files["access"],
        ),
        "userinfo": Line(
            "GET", userinfo_path, None, {"Authorization": "Bearer %s"}, files["access"]
        ),
    }


def check_line(system: System, name: str) -> None:
    """One request as the load script sends it: a 200, or the run stops with the answer."""
    line = system.lines[name]
    headers, body = dict(line.headers), line.body
    if line.tokens is not None:
        offset = system.offset.get(name, 0)
        token = line.tokens.read_text().splitlines()[offset]
        if line.once:
            system.offset[name] = offset + 1
        token, _, proof = token.partition("\t")  # DPoP lines: "token<TAB>proof"
        body = body.replace("%s", token) if body else None
        if headers.get("Authorization") == "Bearer %s":
            headers["Authorization"] = f"Bearer {token}"
        if proof:
            headers = {k: v.replace("%p", proof).replace("%s", token) for k, v in headers.items()}
    request = urllib.request.Request(
        system.url + line.path,
        data=body.encode() if body else None,
        headers=headers,
        method=line.method,
    )
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{system.name} {name}: {error.code} {error.read()[:300]!r}") from None


# --- DPoP: the added cost of proofs (issue 19) ---------------------------------------------------
# Each DPoP request carries a proof of its own (a fresh jti: the server refuses a replay), so
# the proofs are signed here before the phase, one per request, and wrk sends each once
# (``once``, as the refresh tokens). They stay valid PROOF_MAX_AGE (300 s) after signing: the
# phase is far shorter. Bearer and DPoP runs alternate, their order rotating, so a ratio
# compares neighbours in time on a shared machine.

DPOP_LINES = {"client_credentials": "client_credentials_dpop", "userinfo": "userinfo_dpop"}


def dpop_lines(
    args: argparse.Namespace, beep: dict[str, Any], issuer: str, folder: Path
) -> dict[str, Line]:
    """Lines for beep-iam with DPoP: client_credentials with a proof (the token comes back
    bound), and userinfo with DPoP-bound access tokens, each request with its proof (``ath``
    of its token). The proofs: ES256, as oauth4webapi and openid-client make them."""
    from dpop import make_key, proof  # benchmarks/dpop.py: the script's folder is on sys.path

    from beep_iam.models import OAuthAccessToken
    from beep_shared.crypto import digest

    key = make_key("ES256")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    OAuthAccessToken.objects.bulk_create(
        [
            OAuthAccessToken(
                token=digest(f"beep-dpop-at-{i}"),
                client_id=beep["web"][0],
                user=beep["user"],
                scopes=WEB_SCOPES[:3],
                expires_at=later,
                confirmation={"jkt": key.thumbprint()},
            )
            for i in range(args.pool)
        ],
        batch_size=5000,
    )
    connections.close_all()
    started = time.monotonic()
    token_url, userinfo_url = issuer + "/oauth2/token", issuer + "/oauth2/userinfo"
    token_proofs = (f"\t{proof(key, 'ES256', 'POST', token_url)}" for _ in range(args.dpop_pool))
    userinfo_proofs = (
        f"{token}\t{proof(key, 'ES256', 'GET', userinfo_url, token)}"
        for token in (f"beep-dpop-at-{i % args.pool}" for i in range(args.dpop_pool))
    )
    files = {
        "client_credentials": token_file(folder, "dpop-token-proofs", token_proofs),
        "userinfo": token_file(folder, "dpop-userinfo-proofs", userinfo_proofs),
    }
    print(f"  {2 * args.dpop_pool} proofs signed in {time.monotonic() - started:.1f} s", flush=True)
    form = {"Content-Type": FORM}
    return {
        "client_credentials_dpop": Line(
            "POST",
            "/oauth2/token",
            "grant_type=client_credentials&scope=invoices%3Aread",
            {**form, "Authorization": basic(*beep["machine"]), "DPoP": "%p"},
            files["client_credentials"],
            once=True,
        ),
        "userinfo_dpop": Line(
            "GET",
            "/oauth2/userinfo",
            None,
            {"Authorization": "DPoP %s", "DPoP": "%p"},
            files["userinfo"],
            once=True,
        ),
    }


def dpop_phase(
    args: argparse.Namespace, system: System, beep: dict[str, Any], folder: Path
) -> dict[tuple[str, int], list[dict]]:
    """Bearer and DPoP runs of the same two lines, alternating; results by (line, c)."""
    system.lines.update(dpop_lines(args, beep, system.url, folder))

    def run_line(name: str, concurrency: int, duration: int) -> dict:
        line = system.lines[name]
        offset = system.offset.get(name, 0)
        result = wrk(system.url, line, concurrency, duration, offset, system.meter)
        result["drain_s"] = drain(system.url)
        if line.once:
            used = result["max_used_per_thread"] * result["threads"]
            system.offset[name] = offset + used + result["threads"]
            if system.offset[name] > args.dpop_pool:
                result["sample"] += " (DPoP proof pool exhausted: raise --dpop-pool)"
        return result

    for name in DPOP_LINES.values():
        check_line(system, name)
        # Every worker warm (the proof code's imports, connections) before measuring.
        run_line(name, 8, 1)
    results: dict[tuple[str, int], list[dict]] = {}
    step = 0
    for round_no in range(args.dpop_rounds):
        for bearer, dpop in DPOP_LINES.items():
            for concurrency in args.concurrency:
                order = (bearer, dpop) if step % 2 == 0 else (dpop, bearer)
                step += 1
                for name in order:
                    result = run_line(name, concurrency, args.duration)
                    results.setdefault((name, concurrency), []).append(result)
                    bad = result["non_200"] + result["socket_errors"]
                    print(
                        f"  DPoP round {round_no + 1} {name:<24} c={concurrency:<3} "
                        f"{result['rate']:8.1f} req/s  p50 {result['p50_us'] / 1000:7.2f} ms  "
                        f"CPU {result['cpu_ms']:6.2f} ms/req"
                        + (f"  {bad} FAILED: {result['sample']}" if bad else ""),
                        flush=True,
                    )
    return results


def report_dpop(args: argparse.Namespace, results: dict[tuple[str, int], list[dict]]) -> None:
    def med(name: str, c: int, key: str) -> float:
        return statistics.median(r[key] for r in results[(name, c)])

    print()
    print(
        f"DPoP's added cost at beep-iam (ES256 proofs, replay store 'database', no nonce), "
        f"Bearer and DPoP runs alternating, {args.dpop_rounds} round(s): medians over rounds; "
        f"added CPU and the ratio paired round by round (median, and the range):"
    )
    print()
    print(
        "| line | c | Bearer req/s | DPoP req/s | Bearer p50 ms | DPoP p50 ms | "
        "Bearer CPU ms | DPoP CPU ms (db) | added CPU ms | DPoP / Bearer CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for bearer, dpop in DPOP_LINES.items():
        for c in args.concurrency:
            pairs = list(zip(results[(bearer, c)], results[(dpop, c)], strict=True))
            added = sorted(d["cpu_ms"] - b["cpu_ms"] for b, d in pairs)
            ratio = sorted(d["cpu_ms"] / b["cpu_ms"] for b, d in pairs if b["cpu_ms"])
            print(
                f"| {bearer} | {c} | {med(bearer, c, 'rate'):,.0f} | {med(dpop, c, 'rate'):,.0f} |"
                f" {med(bearer, c, 'p50_us') / 1000:.1f} | {med(dpop, c, 'p50_us') / 1000:.1f} |"
                f" {med(bearer, c, 'cpu_ms'):.2f} |"
                f" {med(dpop, c, 'cpu_ms'):.2f} ({med(dpop, c, 'db_cpu_ms'):.2f}) |"
                f" {statistics.median(added):+.2f} ({added[0]:+.2f}..{added[-1]:+.2f}) |"
                f" {statistics.median(ratio):.2f}x ({ratio[0]:.2f}..{ratio[-1]:.2f}) |"
            )


# --- data --------------------------------------------------------------------------------------


def token_file(folder: Path, name: str, tokens: Iterator[str]) -> Path:
    path = folder / f"{name}.txt"
    path.write_text("".join(f"{token}\n" for token in tokens))
    return path


def setup_beep(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from beep_iam.models import OAuthAccessToken, OAuthRefreshToken
    from beep_iam.services.oauth_clients import register_client
    from beep_shared.crypto import digest
    from beep_shared.models import User

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench@example.com", name="Bench")
    machine = register_client(
        redirect_uris=[],
        name="bench machine",
        token_endpoint_auth_method="client_secret_basic",
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
    )
    web = register_client(
        redirect_uris=["https://bench.example.com/cb"],
        name="bench web",
        token_endpoint_auth_method="client_secret_basic",
        grant_types=["authorization_code", "refresh_token"],
        scopes=WEB_SCOPES,
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with psycopg.connect(**raw_params(settings.DATABASES["default"]["NAME"])) as raw:
        raw.execute(
            BACKGROUND_SQL,
            {"client_id": web.client.client_id, "user_id": user.pk, "rows": args.rows},
        )
    OAuthAccessToken.objects.bulk_create(
        [
            OAuthAccessToken(
                token=digest(f"beep-at-{i}"),
                client=web.client,
                user=user,
                scopes=WEB_SCOPES[:3],
                expires_at=later,
            )
            for i in range(args.pool)
        ],
        batch_size=5000,
    )
    # Refresh tokens used once each: one pool per system on these tables, and one for the
    # in-process measurement; spread over --refresh-users users (token families).
    users = [user] + [
        User.objects.create_user(f"bench{i}@example.com", name=f"Bench {i}")
        for i in range(1, args.refresh_users)
    ]
    pools = {"beep": args.refresh_pool, "better-auth": args.refresh_pool}
    pools["inproc"] = args.overhead_samples + 50
    for prefix, size in pools.items():
        OAuthRefreshToken.objects.bulk_create(
            [
                OAuthRefreshToken(
                    token=digest(f"{prefix}-rt-{i}"),
                    client=web.client,
                    user=users[i % len(users)],
                    scopes=WEB_SCOPES,
                    expires_at=later + dt.timedelta(days=29),
                )
                for i in range(size)
            ],
            batch_size=5000,
        )
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE")
    access = token_file(folder, "beep-access", (f"beep-at-{i}" for i in range(args.pool)))
    return {
        "machine": (machine.client.client_id, machine.client_secret),
        "web": (web.client.client_id, web.client_secret),
        "user": user,
        "files": {
            "beep": {
                "access": access,
                "refresh": token_file(
                    folder, "beep-refresh", (f"beep-rt-{i}" for i in range(args.refresh_pool))
                ),
            },
            "better-auth": {
                "access": access,
                "refresh": token_file(
                    folder, "ba-refresh", (f"better-auth-rt-{i}" for i in range(args.refresh_pool))
                ),
            },
        },
    }


def rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def setup_dot(args: argparse.Namespace, env: dict[str, str], folder: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.oauth_http_support.dot_setup",
            *(str(n) for n in (args.rows, args.pool, args.refresh_pool, args.refresh_users)),
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"django-oauth-toolkit setup failed:\n{done.stderr[-3000:]}")
    clients = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "machine": tuple(clients["machine"]),
        "web": tuple(clients["web"]),
        "machine_hashed": tuple(clients["machine_hashed"]),
        "files": {
            "access": token_file(folder, "dot-access", (f"dot-at-{i}" for i in range(args.pool))),
            "refresh": token_file(
                folder, "dot-refresh", (f"dot-rt-{i}" for i in range(args.refresh_pool))
            ),
        },
    }


# --- protocol layer, in process ----------------------------------------------------------------


def protocol_overhead(beep: dict[str, Any], samples: int) -> dict[str, dict[str, float]]:
    """Median µs of the view (prepared request, no middleware) and of the service calls it
    makes, interleaved, and the median of the paired differences."""
    from django.test import RequestFactory, override_settings

    from beep_iam.models.oauth import GrantType
    from beep_iam.oauth2 import claims, keys, views
    from beep_iam.services import oauth_tokens
    from beep_iam.services.oauth_clients import authenticate_client
    from beep_iam.services.prepared import user_by_pk

    machine_id, machine_secret = beep["machine"]
    web_id, web_secret = beep["web"]
    factory = RequestFactory()
    refresh_tokens = iter(f"inproc-rt-{i}" for i in range(samples + 50))
    access = [f"beep-at-{i}" for i in range(samples)]

    def post(path: str, body: str, client: tuple[str, str]) -> Any:
        return factory.post(path, body, content_type=FORM, HTTP_AUTHORIZATION=basic(*client))

    def cc_service(_: int) -> None:
        client = authenticate_client(machine_id, machine_secret)
        oauth_tokens.check_grant(client, GrantType.CLIENT_CREDENTIALS)
        oauth_tokens.issue_tokens(client, scopes=["invoices:read"])

    def refresh_service(_: int) -> None:
        # As the view calls them: the ID token's key read with the client.
        authenticate_client(web_id, web_secret, along=keys.NewestKeyRead(keys.ALG))
        oauth_tokens.rotate_refresh_token(next(refresh_tokens), client_id=web_id)

    def introspect_service(i: int) -> None:
        # As the view calls them: the token read in the client's statement.
        lookup = oauth_tokens.Introspection(access[i % len(access)])
        authenticate_client(web_id, web_secret, along=lookup)
        assert lookup.claims()["active"]

    def userinfo_service(i: int) -> None:
        info = oauth_tokens.validate_access_token(access[i % len(access)])
        assert info is not None
        assert user_by_pk(info.user_id) is not None

    cases: dict[str, tuple[Callable[[int], None], Callable[[], Any], Callable[[Any], Any]]] = {
        "client_credentials": (
            cc_service,
            lambda: post(
                "/oauth2/token",
                "grant_type=client_credentials&scope=invoices%3Aread",
                beep["machine"],
            ),
            views.token,
        ),
        "refresh": (
            refresh_service,
            lambda: post(
                "/oauth2/token",
                f"grant_type=refresh_token&refresh_token={next(refresh_tokens)}",
                beep["web"],
            ),
            views.token,
        ),
        "introspect": (
            introspect_service,
            lambda: post(
                "/oauth2/introspect", f"token={access[0]}&token_type_hint=access_token", beep["web"]
            ),
            views.introspect,
        ),
        "userinfo": (
            userinfo_service,
            lambda: factory.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {access[1]}"),
            views.userinfo,
        ),
    }
    web_user = beep["user"]

    key_read = keys.NewestKeyRead(keys.ALG)

    def id_token_part(_: int) -> None:
        # What the refresh view adds besides the protocol: the ID token (OpenID Connect),
        # its claims and the EdDSA signature (the key's row came with the client).
        with keys.reading_along(key_read):
            claims.id_token(
                user=web_user, client_id=web_id, scopes=list(WEB_SCOPES), access_token="a" * 43
            )

    # Work a view does that is part of the protocol's answer, measured apart as well.
    parts: dict[str, Callable[[int], None]] = {"refresh": id_token_part}
    overrides = {**settings.BEEP_IAM, "OAUTH2_ISSUER": "http://127.0.0.1:8000"}
    overrides |= {"OAUTH2_RATE_LIMITS": None, "BETTER_AUTH_SECRET": BA_SECRET}
    shared = {**settings.BEEP_SHARED, "SESSION_TOKEN_STORAGE": "plain"}
    results: dict[str, dict[str, float]] = {}
    with override_settings(BEEP_IAM=overrides, BEEP_SHARED=shared):
        authenticate_client(web_id, web_secret, along=key_read)  # the part's key
        for name, (service, make_request, view) in cases.items():
            n = samples if name != "refresh" else samples // 2
            # refresh: the view and the service each use one token per sample.
            requests = [make_request() for _ in range(n + 20)]
            part = parts.get(name)
            wall: dict[str, list[int]] = {"service": [], "view": [], "part": []}
            cpu: dict[str, list[int]] = {"service": [], "view": [], "part": []}
            for i in range(n + 20):
                pair = [("service", i), ("view", i)] if i % 2 else [("view", i), ("service", i)]
                if part is not None:
                    pair.insert(i % 3, ("part", i))
                for kind, j in pair:
                    started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
                    if kind == "service":
                        service(j)
                    elif kind == "part":
                        assert part is not None
                        part(j)
                    else:
                        response = view(requests[j])
                        assert response.status_code == 200, response.content
                    if i >= 20:  # the first 20 warm up
                        cpu[kind].append(time.thread_time_ns() - started_cpu)
                        wall[kind].append(time.perf_counter_ns() - started)

            def paired(times: dict[str, list[int]]) -> float:
                pairs = zip(times["view"], times["service"], strict=True)
                return statistics.median(v - s for v, s in pairs) / 1000

            results[name] = {
                "service_us": statistics.median(wall["service"]) / 1000,
                "view_us": statistics.median(wall["view"]) / 1000,
                "diff_us": paired(wall),
                "service_cpu_us": statistics.median(cpu["service"]) / 1000,
                "view_cpu_us": statistics.median(cpu["view"]) / 1000,
                "diff_cpu_us": paired(cpu),
                "samples": n,
            }
            if part is not None:
                results[name]["part_us"] = statistics.median(wall["part"]) / 1000
                results[name]["part_cpu_us"] = statistics.median(cpu["part"]) / 1000
            print(f"  {name}: {results[name]}", flush=True)
    return results


# --- run ---------------------------------------------------------------------------------------


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=2, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--node-workers", type=int, default=2, help="better-auth processes")
    parser.add_argument("--rows", type=int, default=10_000, help="background access tokens")
    parser.add_argument("--pool", type=int, default=1_000, help="valid access tokens used")
    parser.add_argument("--refresh-pool", type=int, default=6_000, help="per system")
    parser.add_argument(
        "--refresh-users",
        type=int,
        default=1,
        help="users the refresh tokens belong to (token families; beep serializes the "
        "rotations of one family)",
    )
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--overhead-samples", type=int, default=200)
    parser.add_argument("--dpop-rounds", type=int, default=2, help="0: no DPoP lines")
    # Every proof is sent once, over all rounds and concurrencies of its line: at ~900
    # requests/s (an idle 2-core machine), 2 rounds x 2 concurrencies x 2 s need ~7,200.
    parser.add_argument("--dpop-pool", type=int, default=12_000, help="proofs per DPoP line")
    args = parser.parse_args()
    if "beep" not in args.systems:
        parser.error("--systems must include beep (the others are compared with it)")

    # SIGTERM ends the run like Ctrl-C: through the finally blocks that stop and drop.
    signal.signal(signal.SIGTERM, _interrupt)
    admin_db = settings.DATABASES["default"]["NAME"]
    beep_db, dot_db = f"beep_bench_http_{os.getpid()}", f"beep_bench_dot_{os.getpid()}"
    created: list[str] = []
    try:
        for name in (beep_db, dot_db):
            create_database(name, admin_db)
            created.append(name)
        with tempfile.TemporaryDirectory(prefix="oauth_http_") as folder:
            return run(args, beep_db, dot_db, Path(folder), admin_db)
    finally:
        for name in created:
            drop_database(name, admin_db)
            print(f"Dropped scratch database {name}.")


def run(args: argparse.Namespace, beep_db: str, dot_db: str, folder: Path, admin_db: str) -> int:
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    dot_env = {
        **db_env("BENCH_DOT_DB_NAME", dot_db),
        "BENCH_DOT_RSA_KEY": rsa_pem(),
        "DJANGO_SETTINGS_MODULE": "benchmarks.oauth_http_support.dot_settings",
    }
    beep_env = db_env("BENCH_DB_NAME", beep_db)
    ba_params = raw_params(beep_db)
    ba_role = str(settings.BEEP_IAM.get("BETTER_AUTH_ROLE") or "beep_auth")
    stack = contextlib.ExitStack()
    use_database(beep_db)
    print(f"Filling {beep_db} (beep-iam, better-auth) ...", flush=True)
    beep = setup_beep(args, folder)
    dot: dict[str, Any] = {}
    if "dot" in args.systems:
        print(f"Filling {dot_db} (django-oauth-toolkit) ...", flush=True)
        dot = setup_dot(args, dot_env, folder)
    connections.close_all()

    servers = Servers(folder)
    ports = {name: free_port() for name in (*SYSTEMS, "trivial")}
    systems: dict[str, System] = {}
    ceiling: dict[str, dict] = {}
    results: dict[tuple[str, str, int], list[dict]] = {}
    dpop_results: dict[tuple[str, int], list[dict]] = {}
    try:
        issuer = f"http://127.0.0.1:{ports['beep']}"
        servers.start(
            "beep",
            gunicorn(args.workers, ports["beep"], "django.core.wsgi:get_wsgi_application()"),
            {
                **beep_env,
                "DJANGO_SETTINGS_MODULE": "benchmarks.oauth_http_support.beep_settings",
                "BENCH_ISSUER": issuer,
                "BENCH_BETTER_AUTH_SECRET": BA_SECRET,
            },
        )
        systems["beep"] = System(
            "beep", issuer, lines_for("", beep["machine"], beep["web"], beep["files"]["beep"])
        )
        if "dot" in args.systems:
            servers.start(
                "dot",
                gunicorn(args.workers, ports["dot"], "django.core.wsgi:get_wsgi_application()"),
                dot_env,
            )
            systems["dot"] = System(
                "dot",
                f"http://127.0.0.1:{ports['dot']}",
                lines_for("/o", dot["machine"], dot["web"], dot["files"]),
            )
            # DOT as installed: its client secrets hashed with Django's password hasher
            # (PBKDF2), one hash per authenticated request; client_credentials only.
            systems["dot-default"] = System(
                "dot-default",
                f"http://127.0.0.1:{ports['dot']}",
                lines_for("/o", dot["machine_hashed"], dot["web"], dot["files"]),
            )
        if "better-auth" in args.systems:
            ba_url = f"http://127.0.0.1:{ports['better-auth']}"
            pg_env = {
                "PGHOST": str(ba_params.get("host", "localhost")),
                "PGPORT": str(ba_params.get("port", 5432)),
                "PGDATABASE": beep_db,
                "PGUSER": ba_role,
            }
            if os.environ.get("BEEP_BETTER_AUTH_PASSWORD"):
                pg_env["PGPASSWORD"] = os.environ["BEEP_BETTER_AUTH_PASSWORD"]
            servers.start(
                "better-auth",
                ["node", "bench-server.mjs"],
                {
                    **pg_env,
                    "BENCH_PORT": str(ports["better-auth"]),
                    "BENCH_WORKERS": str(args.node_workers),
                    "BETTER_AUTH_SECRET": BA_SECRET,
                    "BETTER_AUTH_URL": ba_url,
                },
                cwd=INTEROP,
            )
            systems["better-auth"] = System(
                "better-auth",
                ba_url,
                lines_for("/api/auth", beep["machine"], beep["web"], beep["files"]["better-auth"]),
            )
        servers.start(
            "trivial",
            gunicorn(args.workers, ports["trivial"], "benchmarks.oauth_http_support.trivial"),
            {},
        )
        servers.wait_ready("beep", issuer + "/jwks")
        if "dot" in systems:
            servers.wait_ready("dot", systems["dot"].url + "/o/.well-known/jwks.json")
        if "better-auth" in systems:
            servers.wait_ready("better-auth", systems["better-auth"].url + "/ping")
        servers.wait_ready("trivial", f"http://127.0.0.1:{ports['trivial']}/")
        admin = psycopg.connect(**raw_params(admin_db), autocommit=True)
        stack.callback(admin.close)
        app_role = str(raw_params(beep_db)["user"])
        for system in systems.values():
            server = "dot" if system.name.startswith("dot") else system.name
            system.meter = Meter(
                servers.running[server].pid,
                dot_db if server == "dot" else beep_db,
                ba_role if server == "better-auth" else app_role,
                admin,
            )

        print("Checking every line (and warming up) ...", flush=True)
        for system in systems.values():
            for name in LINES if system.name != "dot-default" else LINES[:1]:
                check_line(system, name)
            if system.name == "dot-default":
                continue
            # Every worker warm (connections, prepared statements) before measuring.
            wrk(system.url, system.lines["introspect"], 8, 1)
            wrk(system.url, system.lines["client_credentials"], 8, 1)

        top = max(args.concurrency)
        print(f"Load generator ceiling (wrk, c={top}) ...", flush=True)
        trivial = Line("GET", "/")
        ceiling["gunicorn trivial WSGI app"] = wrk(
            f"http://127.0.0.1:{ports['trivial']}", trivial, top, args.duration
        )
        drain(f"http://127.0.0.1:{ports['trivial']}")
        if "better-auth" in systems:
            ceiling["node /ping"] = wrk(systems["better-auth"].url, Line("GET", "/ping"), top, 2)

        names = list(systems)
        low = min(args.concurrency)
        step = 0
        for round_no in range(args.rounds):
            for line_name in LINES:
                for concurrency in args.concurrency:
                    order = names[step % len(names) :] + names[: step % len(names)]
                    step += 1
                    for system_name in order:
                        if system_name == "dot-default" and (
                            line_name != "client_credentials" or concurrency != low
                        ):
                            continue
                        system = systems[system_name]
                        line = system.lines[line_name]
                        offset = system.offset.get(line_name, 0)
                        result = wrk(
                            system.url, line, concurrency, args.duration, offset, system.meter
                        )
                        result["drain_s"] = drain(system.url)
                        if line.once:
                            used = result["max_used_per_thread"] * result["threads"]
                            system.offset[line_name] = offset + used + result["threads"]
                            if system.offset[line_name] > args.refresh_pool:
                                result["sample"] += " (refresh pool exhausted: raise it)"
                        results.setdefault((system_name, line_name, concurrency), []).append(result)
                        bad = result["non_200"] + result["socket_errors"]
                        print(
                            f"  round {round_no + 1} {line_name:<18} c={concurrency:<3} "
                            f"{system_name:<12} {result['rate']:8.1f} req/s  "
                            f"p50 {result['p50_us'] / 1000:7.2f} ms  "
                            f"p99 {result['p99_us'] / 1000:7.2f} ms"
                            + (f"  {bad} FAILED: {result['sample']}" if bad else ""),
                            flush=True,
                        )
        if args.dpop_rounds:
            print("DPoP lines (beep-iam, Bearer and DPoP alternating) ...", flush=True)
            use_database(beep_db)
            dpop_results = dpop_phase(args, systems["beep"], beep, folder)
    except BaseException:
        for name in servers.running:
            print(f"--- {name} log ---\n{servers.log_tail(name)}", file=sys.stderr)
        raise
    finally:
        stack.close()
        servers.stop_all()
    load_after = os.getloadavg()

    print("Protocol layer in process ...", flush=True)
    use_database(beep_db)
    overhead = protocol_overhead(beep, args.overhead_samples)
    connections.close_all()
    report(args, cores, load_before, load_after, ceiling, results, overhead, list(systems))
    if dpop_results:
        report_dpop(args, dpop_results)
    failed = sum(
        r["non_200"] + r["socket_errors"]
        for rs in (*results.values(), *dpop_results.values())
        for r in rs
    )
    return 1 if failed else 0


def report(
    args: argparse.Namespace,
    cores: int,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    ceiling: dict[str, dict],
    results: dict[tuple[str, str, int], list[dict]],
    overhead: dict[str, dict[str, float]],
    names: list[str],
) -> None:
    def med(system: str, line: str, c: int, key: str) -> float:
        return statistics.median(r[key] for r in results[(system, line, c)])

    table = [n for n in names if n != "dot-default"]
    print()
    print(
        f"OAuth endpoints over HTTP: {cores} cores, load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after; gunicorn {args.workers} sync workers, better-auth "
        f"{args.node_workers} Node workers; wrk {args.duration} s per run, {args.rounds} "
        f"round(s), median over rounds"
    )
    for name, result in ceiling.items():
        print(f"Load generator ceiling, {name}: {result['rate']:,.0f} req/s")
    print()
    header = "| line | c |" + "".join(f" {n} req/s | p50 / p99 ms |" for n in table)
    header += "".join(f" beep / {n} |" for n in table if n != "beep")
    print(header)
    print("|---|---:|" + "---:|---:|" * len(table) + "---:|" * (len(table) - 1))
    ahead = True
    for line in LINES:
        for c in args.concurrency:
            row = f"| {line} | {c} |"
            for n in table:
                row += (
                    f" {med(n, line, c, 'rate'):,.0f} |"
                    f" {med(n, line, c, 'p50_us') / 1000:.1f} / "
                    f"{med(n, line, c, 'p99_us') / 1000:.1f} |"
                )
            for n in table:
                if n != "beep":
                    theirs = med(n, line, c, "rate")
                    ratio = med("beep", line, c, "rate") / theirs if theirs else float("inf")
                    ahead = ahead and ratio > 1
                    row += f" {ratio:.2f}x |"
            print(row)
    print()
    print("CPU per request: server processes + their PostgreSQL backends (of which PostgreSQL),")
    print("and what one core would serve at that cost (1000 / CPU ms):")
    print()
    print("| line | c |" + "".join(f" {n} CPU ms (db) | {n} req/s per core |" for n in table))
    print("|---|---:|" + "---:|---:|" * len(table))
    for line in LINES:
        for c in args.concurrency:
            row = f"| {line} | {c} |"
            for n in table:
                cpu_ms, db_ms = med(n, line, c, "cpu_ms"), med(n, line, c, "db_cpu_ms")
                row += f" {cpu_ms:.2f} ({db_ms:.2f}) | {1000 / cpu_ms if cpu_ms else 0:,.0f} |"
            print(row)
    low = min(args.concurrency)
    if ("dot-default", "client_credentials", low) in results:
        rate = med("dot-default", "client_credentials", low, "rate")
        p50 = med("dot-default", "client_credentials", low, "p50_us") / 1000
        print(
            f"\ndjango-oauth-toolkit with its default hashed client secrets, client_credentials "
            f"c={low}: {rate:,.1f} req/s, p50 {p50:.0f} ms"
        )
    failed = [
        f"{system} {line} c={c}: {r['non_200']} non-200, {r['socket_errors']} socket errors "
        f"({r['sample']})"
        for (system, line, c), rs in results.items()
        for r in rs
        if r["non_200"] or r["socket_errors"]
    ]
    if failed:
        print("\nFAILED requests (the figures above count them):\n  " + "\n  ".join(failed))
    print()
    print("Goals")
    if len(table) > 1:
        others = ", ".join(n for n in table if n != "beep")
        print(f"  ahead of {others} on every line: " + ("met" if ahead else "NOT met"))
    for c in args.concurrency:
        token = med("beep", "client_credentials", c, "rate")
        introspect = med("beep", "introspect", c, "rate")
        per_core = token / cores
        by_cpu = 1000 / med("beep", "client_credentials", c, "cpu_ms")
        print(
            f"  c={c}: token {per_core:.0f} req/s per core measured, {by_cpu:.0f} by CPU cost "
            f"(goal >= {GOAL_TOKEN_PER_CORE:.0f}: "
            f"{'met' if by_cpu >= GOAL_TOKEN_PER_CORE else 'NOT met'} by CPU cost); "
            f"introspection {introspect / token:.2f}x token (goal >= {GOAL_INTROSPECT_RATIO:g}x: "
            f"{'met' if introspect / token >= GOAL_INTROSPECT_RATIO else 'NOT met'})"
        )
    print(
        "  protocol layer over the services, in process (median of paired differences, wall "
        "clock and this thread's CPU time):"
    )
    for line, o in overhead.items():
        verdict = "met" if o["diff_cpu_us"] / 1000 <= GOAL_PROTOCOL_MS else "NOT met"
        print(
            f"    {line:<18} service {o['service_us']:6.0f} us ({o['service_cpu_us']:5.0f} CPU), "
            f"view {o['view_us']:6.0f} us ({o['view_cpu_us']:5.0f} CPU): view - service "
            f"{o['diff_us']:5.0f} us ({o['diff_cpu_us']:4.0f} CPU; goal <= "
            f"{GOAL_PROTOCOL_MS * 1000:.0f} us: {verdict})"
        )
        if "part_us" in o:
            print(
                f"    {'':<18} of which the ID token {o['part_us']:5.0f} us "
                f"({o['part_cpu_us']:4.0f} CPU; claims, EdDSA signature, at_hash); "
                f"the rest {o['diff_us'] - o['part_us']:5.0f} us "
                f"({o['diff_cpu_us'] - o['part_cpu_us']:4.0f} CPU)"
            )


if __name__ == "__main__":
    raise SystemExit(main())
