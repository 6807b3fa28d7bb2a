"""No issuer: the check says so at start-up (beep_iam.W040) and every endpoint answers a 503 in
RFC 6749's JSON form, never a server error."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from beep_iam.oauth2.checks import check_issuer

pytestmark = pytest.mark.django_db

#: A URLconf without the endpoints (ROOT_URLCONF points here in one test).
urlpatterns: list = []


def without_issuer():
    conf = {k: v for k, v in getattr(settings, "BEEP_IAM", {}).items() if k != "OAUTH2_ISSUER"}
    return override_settings(BEEP_IAM=conf)


def test_the_check_warns_when_the_endpoints_are_routed():
    with without_issuer():
        messages = check_issuer()
        assert [m.id for m in messages] == ["beep_iam.W040"]
        assert "OAUTH2_ISSUER" in messages[0].msg
        with pytest.raises(SystemCheckError, match=r"beep_iam\.W040"):
            call_command("check", fail_level="WARNING")


def test_the_check_is_quiet_with_an_issuer_or_without_the_endpoints():
    assert check_issuer() == []  # the autouse fixture sets one
    with without_issuer(), override_settings(ROOT_URLCONF=__name__):
        assert check_issuer() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/oauth2/authorize?response_type=code&client_id=x"),
        ("post", "/oauth2/token"),
        ("get", "/oauth2/userinfo"),
        ("post", "/oauth2/revoke"),
        ("post", "/oauth2/introspect"),
        ("get", "/oauth2/end-session"),
        ("get", "/jwks"),
        ("get", "/.well-known/openid-configuration"),
        ("get", "/.well-known/oauth-authorization-server"),
    ],
)
def test_every_endpoint_answers_503_not_a_server_error(client, method, path):
    with without_issuer():
        response = getattr(client, method)(path)
    assert response.status_code == 503
    assert response.json() == {
        "error": "temporarily_unavailable",
        "error_description": "the authorization server is not configured",
    }
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "broken",
    [
        {"ACCES_TOKEN_LIFETIME": 60},  # a typo
        {"OAUTH2_ISSUER": "https://auth.example.com/"},  # a trailing slash
    ],
)
@pytest.mark.parametrize("path", ["/jwks", "/.well-known/openid-configuration"])
def test_a_bad_setting_is_a_503_too_where_no_check_ran(client, caplog, broken, path):
    # Walkthrough (session 11): gunicorn runs no system checks, and a BEEP_IAM that does not
    # validate made every endpoint a bare HTML 500 with nothing in the log.
    with override_settings(BEEP_IAM={**settings.BEEP_IAM, **broken}):
        response = client.get(path)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert any("BEEP_IAM" in record.getMessage() for record in caplog.records)
