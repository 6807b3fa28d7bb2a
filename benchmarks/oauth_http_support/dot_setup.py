"""Fill django-oauth-toolkit's scratch database with the benchmark's clients and tokens.

Run by ``benchmarks/oauth_http.py`` in a process of its own (DOT's project is another
Django project): ``python -m benchmarks.oauth_http_support.dot_setup ROWS POOL REFRESH USERS``.
Prints the clients as JSON: DOT's default clients (secrets hashed with Django's password
hasher) and the same with ``hash_client_secret=False``, which the tokens belong to. The raw
tokens are ``dot-at-<i>`` (``POOL`` valid access tokens with ``openid profile email``) and
``dot-rt-<i>`` (``REFRESH`` refresh tokens, each with its access token, as DOT issues them,
spread over ``USERS`` users);
``ROWS`` more access tokens, half of them expired, make the table the size of the others."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.oauth_http_support.dot_settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import AccessToken, Application, RefreshToken  # noqa: E402

BATCH = 5000


def main(rows: int, pool: int, refresh: int, users: int = 1) -> None:
    call_command("migrate", verbosity=0)
    # DOT's project's user model is django.contrib.auth's (mypy reads this project's).
    user = get_user_model().objects.create_user(  # type: ignore[misc]
        "bench", email="bench@example.com", first_name="Bench"
    )
    machine = Application.objects.create(
        name="bench machine",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret="bench-machine-secret",
    )
    web = Application.objects.create(
        name="bench web",
        user=user,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://bench.example.com/cb",
        client_secret="bench-web-secret",
        algorithm=Application.RS256_ALGORITHM,
    )
    # The same two clients with hash_client_secret=False: secrets compared as stored, as
    # beep-iam and better-auth compare SHA-256 digests, instead of a password hash per request.
    machine_plain = Application.objects.create(
        name="bench machine, plain secret",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret="bench-machine-secret",
        hash_client_secret=False,
    )
    web_plain = Application.objects.create(
        name="bench web, plain secret",
        user=user,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://bench.example.com/cb",
        client_secret="bench-web-secret",
        hash_client_secret=False,
        algorithm=Application.RS256_ALGORITHM,
    )
    owners = [user] + [
        get_user_model().objects.create_user(f"bench{i}", email=f"bench{i}@example.com")  # type: ignore[misc]
        for i in range(1, users)
    ]
    now = timezone.now()
    later = now + dt.timedelta(days=1)
    background = [
        AccessToken(
            token=f"dot-bg-{i}",
            user=user,
            application=web,
            scope="openid profile email",
            expires=now - dt.timedelta(seconds=i) if i % 2 == 0 else later,
        )
        for i in range(rows)
    ]
    AccessToken.objects.bulk_create(background, batch_size=BATCH)
    valid = [
        AccessToken(
            token=f"dot-at-{i}",
            user=user,
            application=web_plain,
            scope="openid profile email",
            expires=later,
        )
        for i in range(pool)
    ]
    AccessToken.objects.bulk_create(valid, batch_size=BATCH)
    refreshed_access = AccessToken.objects.bulk_create(
        [
            AccessToken(
                token=f"dot-rat-{i}",
                user=owners[i % len(owners)],
                application=web_plain,
                scope="openid profile email",
                expires=later,
            )
            for i in range(refresh)
        ],
        batch_size=BATCH,
    )
    RefreshToken.objects.bulk_create(
        [
            RefreshToken(
                token=f"dot-rt-{i}", user=access.user, application=web_plain, access_token=access
            )
            for i, access in enumerate(refreshed_access)
        ],
        batch_size=BATCH,
    )
    print(
        json.dumps(
            {
                "machine": [machine_plain.client_id, "bench-machine-secret"],
                "web": [web_plain.client_id, "bench-web-secret"],
                "machine_hashed": [machine.client_id, "bench-machine-secret"],
            }
        )
    )


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:5]))
