"""Benchmark: the added cost of DPoP (RFC 9449) per request, in process.

    python benchmarks/dpop.py [--samples 2000] [--alg ES256]

Creates a scratch database next to the project's (embedded server or DATABASE_URL; the role
needs CREATEDB), migrates it, and drops it at the end, also on errors and Ctrl-C.

1. Resource side: a ``require_oauth`` view called through Django's test client with a bearer
   token, and with a DPoP-bound token plus a proof made for that request (``ath``, ``htm``,
   ``htu``), interleaved; proofs are signed before the clock starts, as a client's cost is
   not the server's.
2. Token endpoint: ``client_credentials`` with ``client_secret_basic``, without and with a
   proof, interleaved.
Each request's proof is verified once and reserved against replay in the configured store
(``--store database``, the default, or ``cache``: this process's local-memory cache, which
shows the cost without the INSERT). Medians and p95 of wall time in microseconds, and the
median CPU time of this process added by DPoP (steadier than wall time on a loaded machine;
it leaves out the database server's work).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key")
os.environ["DEBUG"] = "0"  # DEBUG would log every query in memory

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.test import Client, RequestFactory, override_settings  # noqa: E402
from joserfc import jws  # noqa: E402
from joserfc.jwk import ECKey, OKPKey  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from oauth_tokens import create_database, drop_database  # noqa: E402

ISSUER = "https://testserver"
TOKEN_URL = f"{ISSUER}/oauth2/token"
RESOURCE_URL = "http://testserver/invoices"


def make_key(alg: str) -> Any:
    return OKPKey.generate_key("Ed25519") if alg == "EdDSA" else ECKey.generate_key("P-256")


def proof(key: Any, alg: str, htm: str, htu: str, access_token: str | None = None) -> str:
    from beep_iam.oauth2.dpop import access_token_hash

    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": htm,
        "htu": htu,
        "iat": int(time.time()),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=[alg])


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[int(len(ordered) * 0.95)] * 1e6


def bench_resource(args: argparse.Namespace, machine: Any) -> dict[str, list[float]]:
    from beep_iam.oauth2.resource import require_oauth
    from beep_iam.services.oauth_tokens import issue_tokens

    @require_oauth("invoices:read")
    def invoices(request: Any) -> HttpResponse:
        return JsonResponse({"client": request.oauth_token.client_id})

    key = make_key(args.alg)
    bearer = issue_tokens(machine, scopes=["invoices:read"]).access_token
    cnf = {"jkt": key.thumbprint()}
    bound = issue_tokens(machine, scopes=["invoices:read"], confirmation=cnf).access_token
    factory = RequestFactory()
    proofs = [proof(key, args.alg, "GET", RESOURCE_URL, bound) for _ in range(args.samples)]
    times: dict[str, list[float]] = {"bearer": [], "dpop": [], "bearer cpu": [], "dpop cpu": []}
    for i in range(args.samples):
        for which in ("bearer", "dpop") if i % 2 == 0 else ("dpop", "bearer"):
            if which == "bearer":
                request = factory.get("/invoices", HTTP_AUTHORIZATION=f"Bearer {bearer}")
            else:
                request = factory.get(
                    "/invoices", HTTP_AUTHORIZATION=f"DPoP {bound}", HTTP_DPOP=proofs[i]
                )
            start, cpu = time.perf_counter(), time.process_time()
            response = invoices(request)
            times[which].append(time.perf_counter() - start)
            times[which + " cpu"].append(time.process_time() - cpu)
            assert response.status_code == 200, response.content
    return times


def bench_token(args: argparse.Namespace, registered: Any) -> dict[str, list[float]]:
    key = make_key(args.alg)
    basic = base64.b64encode(
        f"{registered.client.client_id}:{registered.client_secret}".encode()
    ).decode()
    http = Client()
    body = "grant_type=client_credentials"
    form = "application/x-www-form-urlencoded"
    proofs = [proof(key, args.alg, "POST", TOKEN_URL) for _ in range(args.samples)]
    times: dict[str, list[float]] = {"bearer": [], "dpop": [], "bearer cpu": [], "dpop cpu": []}
    for i in range(args.samples):
        for which in ("bearer", "dpop") if i % 2 == 0 else ("dpop", "bearer"):
            headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Basic {basic}"}
            if which == "dpop":
                headers["HTTP_DPOP"] = proofs[i]
            start, cpu = time.perf_counter(), time.process_time()
            response = http.post("/oauth2/token", body, content_type=form, **headers)
            times[which].append(time.perf_counter() - start)
            times[which + " cpu"].append(time.process_time() - cpu)
            assert response.status_code == 200, response.content
            expected = "DPoP" if which == "dpop" else "Bearer"
            assert response.json()["token_type"] == expected
    return times


def report(args: argparse.Namespace, results: dict[str, dict[str, list[float]]]) -> None:
    print(
        f"\nDPoP cost per request ({args.samples} samples each, {args.alg} proofs, "
        f"replay store {args.store}); microseconds"
    )
    print(
        f"{'':26}{'bearer p50':>11}{'DPoP p50':>10}{'added':>8}{'bearer p95':>11}"
        f"{'DPoP p95':>10}{'added CPU p50':>15}"
    )
    for name, times in results.items():
        b50, b95 = stats(times["bearer"])
        d50, d95 = stats(times["dpop"])
        cpu = stats(times["dpop cpu"])[0] - stats(times["bearer cpu"])[0]
        print(f"{name:26}{b50:11.0f}{d50:10.0f}{d50 - b50:8.0f}{b95:11.0f}{d95:10.0f}{cpu:15.0f}")


def run(args: argparse.Namespace) -> int:
    from beep_iam.services.oauth_clients import register_client

    print(f"Migrating scratch database {settings.DATABASES['default']['NAME']} ...", flush=True)
    call_command("migrate", verbosity=0)
    registered = register_client(
        redirect_uris=[],
        name="bench robot",
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
    )
    beep_iam = {
        **getattr(settings, "BEEP_IAM", {}),
        "OAUTH2_ISSUER": ISSUER,
        "OAUTH2_RATE_LIMITS": None,  # the benchmark's own requests would hit the limits
        "OAUTH2_DPOP": {"REPLAY_STORE": args.store},
    }
    with override_settings(BEEP_IAM=beep_iam, ALLOWED_HOSTS=["testserver"]):
        results = {
            "resource (require_oauth)": bench_resource(args, registered.client),
            "token endpoint (cc)": bench_token(args, registered),
        }
    report(args, results)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--alg", choices=["ES256", "EdDSA"], default="ES256")
    parser.add_argument("--store", choices=["database", "cache"], default="database")
    args = parser.parse_args()

    admin_db = settings.DATABASES["default"]["NAME"]
    bench_db = f"beep_bench_dpop_{os.getpid()}"
    create_database(bench_db, admin_db)
    settings.DATABASES["default"]["NAME"] = bench_db
    from django.db import connections

    connections["default"].settings_dict["NAME"] = bench_db
    try:
        return run(args)
    finally:
        drop_database(bench_db, admin_db)
        print(f"\nDropped scratch database {bench_db}.")


if __name__ == "__main__":
    sys.exit(main())
