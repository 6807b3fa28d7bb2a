"""One password for Django and better-auth: the credential account, both directions."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.urls import reverse

from beep_iam.better_auth import hashers
from beep_iam.models import Account
from beep_shared.models import User
from tests.better_auth.node_vectors import better_auth

BACKEND = "beep_iam.better_auth.backends.CredentialAccountBackend"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def shared_passwords(settings):
    settings.BEEP_IAM = {"BETTER_AUTH_PASSWORDS": True}
    settings.AUTHENTICATION_BACKENDS = [BACKEND]


def credential(user: User) -> str:
    account = Account.objects.get(user=user, provider_id="credential")
    assert account.account_id == str(user.pk)
    assert hashers.is_better_auth_hash(account.password)
    return str(account.password)


def better_auth_accepts(stored: str, *passwords: str) -> list[bool]:
    """better-auth's verdicts on ``passwords`` against ``stored``, 1.7 and 1.4 lines."""
    requests = [{"op": "verify", "hash": stored, "password": p} for p in passwords]
    verdicts = [[a["ok"] for a in better_auth(line, requests)] for line in ("1.7", "1.4")]
    assert verdicts[0] == verdicts[1]
    return verdicts[0]


def better_auth_hash(password: str, line: str = "1.7") -> str:
    return str(better_auth(line, [{"op": "hash", "password": password}])[0]["hash"])


def test_create_user_and_set_password_write_what_better_auth_verifies():
    user = User.objects.create_user("ada@example.com", "first-password", name="Ada")
    first = credential(user)
    assert "first-password" not in first
    assert better_auth_accepts(first, "first-password", "wrong") == [True, False]

    user.set_password("second-password")
    user.save()
    assert Account.objects.filter(user=user, provider_id="credential").count() == 1
    assert better_auth_accepts(credential(user), "first-password", "second-password") == [
        False,
        True,
    ]


def test_createsuperuser_writes_the_credential(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "superuser-password")
    call_command("createsuperuser", interactive=False, email="root@example.com", name="Root")
    user = User.objects.get(email="root@example.com")
    assert better_auth_accepts(credential(user), "superuser-password") == [True]


def test_the_admin_password_form_writes_the_credential(client):
    admin_user = User.objects.create_superuser("admin@example.com", "admin-password", name="A")
    target = User.objects.create_user("bob@example.com", "old-password", name="Bob")
    client.force_login(admin_user)
    url = reverse("admin:auth_user_password_change", args=[target.pk])
    response = client.post(
        url,
        {
            "password1": "Brand-new-pass-42",
            "password2": "Brand-new-pass-42",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content
    assert better_auth_accepts(credential(target), "old-password", "Brand-new-pass-42") == [
        False,
        True,
    ]


def test_a_better_auth_password_logs_into_django_and_the_admin(client):
    # What a better-auth sign-up leaves: Django's own password unusable, the hash in the account.
    user = User.objects.create(
        email="eve@example.com", name="Eve", is_staff=True, is_superuser=True
    )
    assert not user.has_usable_password()
    for line in ("1.7", "1.4"):
        Account.objects.update_or_create(
            user=user,
            provider_id="credential",
            defaults={
                "account_id": user.pk,
                "password": better_auth_hash("signed-up-" + line, line),
            },
        )
        assert authenticate(username="eve@example.com", password="signed-up-" + line) == user
        assert authenticate(username="EVE@example.com", password="signed-up-" + line) == user
        assert authenticate(username="eve@example.com", password="Signed-up-" + line) is None

    response = client.post(
        reverse("admin:login"), {"username": "eve@example.com", "password": "signed-up-1.4"}
    )
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_password_changed_in_better_auth_replaces_the_old_one_in_django():
    user = User.objects.create_user("kim@example.com", "old-password", name="Kim")
    assert user.check_password("old-password")
    Account.objects.filter(user=user, provider_id="credential").update(
        password=better_auth_hash("new-password")
    )
    assert authenticate(username="kim@example.com", password="old-password") is None
    assert authenticate(username="kim@example.com", password="new-password") == user
    user.refresh_from_db()
    assert user.check_password("new-password")  # Django's own copy caught up


def test_a_user_without_credential_gets_one_at_the_first_django_login(settings):
    settings.BEEP_IAM = {}
    user = User.objects.create_user("lee@example.com", "django-only", name="Lee")
    assert not Account.objects.filter(user=user).exists()
    settings.BEEP_IAM = {"BETTER_AUTH_PASSWORDS": True}
    assert authenticate(username="lee@example.com", password="wrong") is None
    assert not Account.objects.filter(user=user).exists()
    assert authenticate(username="lee@example.com", password="django-only") == user
    assert better_auth_accepts(credential(user), "django-only") == [True]


def test_banned_inactive_and_unknown_users_do_not_log_in():
    banned = User.objects.create_user("ban@example.com", "pw-pw-pw", name="B", banned=True)
    inactive = User.objects.create_user("off@example.com", "pw-pw-pw", name="O", is_active=False)
    assert authenticate(username=banned.email, password="pw-pw-pw") is None
    assert authenticate(username=inactive.email, password="pw-pw-pw") is None
    assert authenticate(username="nobody@example.com", password="pw-pw-pw") is None


def test_django_only_deployments_write_no_credential(settings):
    settings.BEEP_IAM = {}
    user = User.objects.create_user("solo@example.com", "pw-pw-pw", name="Solo")
    assert not Account.objects.filter(user=user).exists()


def test_the_admin_never_shows_the_credential_hash(client):
    admin_user = User.objects.create_superuser("admin@example.com", "admin-password", name="A")
    stored = credential(admin_user)
    client.force_login(admin_user)
    account = Account.objects.get(user=admin_user)
    for url in (
        reverse("admin:beep_iam_account_changelist"),
        reverse("admin:beep_iam_account_change", args=[account.pk]),
    ):
        page = client.get(url).content.decode()
        assert stored.split(":")[1] not in page and stored.split(":")[0] not in page
