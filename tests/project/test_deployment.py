"""DEBUG off: the admin's styles come from collectstatic through WhiteNoise, and every
``check --deploy`` warning can be cleared from the environment."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SERVE = """
import django
django.setup()
from django.test import Client
client = Client()
page = client.get("/admin/login/")
css = __import__("re").findall(r'href="([^"]+[.]css)"', page.content.decode())[0]
response = client.get(css)
body = b"".join(response.streaming_content) if response.streaming else response.content
print(page.status_code, css, response.status_code, response["Content-Type"],
      response.get("Cache-Control"), len(body), sep="|")
"""


def run(args, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), **env_overrides)
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_admin_is_styled_with_debug_off_after_collectstatic(tmp_path):
    static_root = tmp_path / "static"
    collected = run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"], STATIC_ROOT=str(static_root)
    )
    assert collected.returncode == 0, collected.stderr
    assert list(static_root.glob("admin/css/base.*.css")), "no hashed admin stylesheet"

    served = run(
        [sys.executable, "-c", SERVE],
        STATIC_ROOT=str(static_root),
        ALLOWED_HOSTS="testserver",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    assert served.returncode == 0, served.stderr
    page, css, status, content_type, cache, size = served.stdout.strip().split("|")
    assert page == "200"
    assert re.fullmatch(r"/static/admin/css/\w+\.[0-9a-f]{12}\.css", css), css
    assert status == "200" and content_type.startswith("text/css")
    assert "max-age=315360000" in cache and "immutable" in cache  # hashed: cached for good
    assert int(size) > 1000


def test_check_deploy_warnings_are_cleared_from_the_environment():
    deploy = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    bare = run(deploy)
    assert bare.returncode != 0
    for warning in ("security.W004", "security.W008"):  # HSTS, SSL redirect
        assert warning in bare.stderr, bare.stderr

    configured = run(
        deploy,
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="yes",
        SECURE_HSTS_PRELOAD="on",
        CSRF_TRUSTED_ORIGINS="https://iam.example.com",
        OAUTH2_ISSUER="https://iam.example.com",  # beep_iam.W040 otherwise
    )
    assert configured.returncode == 0, configured.stdout + configured.stderr
    assert "no issues" in configured.stdout


def test_a_malformed_hsts_duration_is_one_sentence():
    result = run([sys.executable, "manage.py", "check"], SECURE_HSTS_SECONDS="a year")
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS='a year' is not a whole number of 0 or more." in result.stderr
    assert "Traceback" not in result.stderr
