"""This project's settings, on the benchmark's scratch database, as a deployment runs them:
DEBUG off, persistent connections, co-tenancy with the better-auth server; the abuse limits
off (every request comes from one IP, and the other systems run without theirs)."""

import os

from config.settings import *  # noqa: F403

from .db_env import database

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DATABASES = {"default": database()}
STATIC_ROOT = None  # no static files served here
BEEP_IAM = {
    **BEEP_IAM,  # noqa: F405
    "OAUTH2_ISSUER": os.environ["BENCH_ISSUER"],
    "OAUTH2_RATE_LIMITS": None,
    # Co-tenancy with the better-auth server on the same database: signing keys stored as
    # its jwt plugin stores them (docs/better-auth.md).
    "BETTER_AUTH_SECRET": os.environ["BENCH_BETTER_AUTH_SECRET"],
}
BEEP_SHARED = {**BEEP_SHARED, "SESSION_TOKEN_STORAGE": "plain"}  # noqa: F405
