"""The better-auth keys of BEEP_IAM: validated, and the shared secret never shown."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.views.debug import SafeExceptionReporterFilter

from beep_iam.conf import iam_settings, load

SECRET = "a-better-auth-secret-of-forty-characters!"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("BETTER_AUTH_SECRET", 12345, "must be a string or None"),
        ("BETTER_AUTH_SECRET", "short-secret", "at least 32 characters"),
        ("BETTER_AUTH_COOKIE_PREFIX", "", "must be a cookie name"),
        ("BETTER_AUTH_COOKIE_PREFIX", "bad name", "must be a cookie name"),
        ("BETTER_AUTH_SESSION_COOKIE", "a;b", "must be a cookie name"),
        ("BETTER_AUTH_SECURE_COOKIES", "yes", "must be True, False or None"),
        ("BETTER_AUTH_PASSWORDS", 1, "must be True or False"),
    ],
)
def test_bad_values_name_the_key(key, value, message):
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        load({key: value})
    assert f"BEEP_IAM[{key!r}]" in str(caught.value)


def test_a_short_secret_is_not_echoed():
    with pytest.raises(ImproperlyConfigured) as caught:
        load({"BETTER_AUTH_SECRET": "s3cr3t-value-nobody-should-see"})
    assert "s3cr3t-value-nobody-should-see" not in str(caught.value)


def test_the_check_framework_reports_bad_values(settings):
    settings.BEEP_IAM = {"BETTER_AUTH_COOKIE_PREFIX": "bad name"}
    with pytest.raises(SystemCheckError, match="BETTER_AUTH_COOKIE_PREFIX"):
        call_command("check")
    settings.BEEP_IAM = {}
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "hashed"}
    with pytest.raises(SystemCheckError, match=r"\['SESSION_TOKEN_STORAGE'\] must be one of"):
        call_command("check")


def test_the_storage_key_moved_to_beep_shared():
    with pytest.raises(ImproperlyConfigured) as caught:
        load({"SESSION_TOKEN_STORAGE": "plain"})
    assert str(caught.value) == (
        "BEEP_IAM['SESSION_TOKEN_STORAGE'] moved: set BEEP_SHARED['SESSION_TOKEN_STORAGE']."
    )


def test_the_secret_is_in_no_repr_or_error_page(settings):
    settings.BEEP_IAM = {"BETTER_AUTH_SECRET": SECRET}
    assert iam_settings().better_auth_secret == SECRET
    assert SECRET not in repr(iam_settings())
    safe = SafeExceptionReporterFilter().get_safe_settings()
    assert SECRET not in repr(safe["BEEP_IAM"])


def check_ids(settings, **overrides) -> set[str]:
    from beep_iam.better_auth.checks import check_co_tenancy

    for name, value in overrides.items():
        setattr(settings, name, value)
    return {str(message.id) for message in check_co_tenancy()}


MIDDLEWARE_PATH = "beep_iam.better_auth.middleware.BetterAuthSessionMiddleware"


def test_checks_catch_settings_that_would_quietly_not_work(settings):
    base = list(settings.MIDDLEWARE)
    tenant = base.index("beep_shared.rls.middleware.TenantMiddleware")
    good = [*base[:tenant], MIDDLEWARE_PATH, *base[tenant:]]
    backend = ["beep_iam.better_auth.backends.CredentialAccountBackend"]
    co_tenancy = {"BETTER_AUTH_SECRET": SECRET}
    plain = {"SESSION_TOKEN_STORAGE": "plain"}

    assert check_ids(settings, BEEP_IAM={}, MIDDLEWARE=base) == set()
    assert check_ids(settings, BEEP_SHARED=plain, BEEP_IAM=co_tenancy, MIDDLEWARE=good) == set()
    assert check_ids(settings, BEEP_SHARED={}, BEEP_IAM={}, MIDDLEWARE=good) == {
        "beep_iam.E020",
        "beep_iam.W020",
    }
    assert check_ids(
        settings, BEEP_SHARED=plain, BEEP_IAM=co_tenancy, MIDDLEWARE=[*base, MIDDLEWARE_PATH]
    ) == {"beep_iam.E021"}
    assert check_ids(settings, BEEP_IAM={"BETTER_AUTH_PASSWORDS": True}, MIDDLEWARE=base) == {
        "beep_iam.W021"
    }
    assert (
        check_ids(
            settings,
            BEEP_IAM={"BETTER_AUTH_PASSWORDS": True},
            AUTHENTICATION_BACKENDS=backend,
        )
        == set()
    )
