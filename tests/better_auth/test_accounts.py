"""Sign-up, sign-in and get-session through stock better-auth, checked from Django."""

from __future__ import annotations

import pytest

from beep_iam.models import Account
from beep_shared.models import Session, User

from .checks import loads, shown_in_admin

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"


def sign_up(server, email="ada@example.com", name="Ada"):
    browser = server.browser()
    response = browser.post(
        "/api/auth/sign-up/email", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert response.status == 200, response.body
    return browser, response.body["user"]


def test_sign_up_writes_rows_django_loads(better_auth):
    _, body = sign_up(better_auth)

    user = loads(User, body["id"])
    assert user.email == "ada@example.com" and user.name == "Ada"
    assert not user.has_usable_password()  # Django's own column: unusable until set
    account = Account.objects.get(user=user)
    account.full_clean()
    assert account.provider_id == "credential" and account.account_id == user.pk
    session = Session.objects.get(user=user)
    session.full_clean()
    # No client-IP header: better-auth writes '' and the database keeps NULL.
    assert session.ip_address is None
    for row in (user, account, session):
        shown_in_admin(row)


def test_sign_in_and_get_session(better_auth):
    sign_up(better_auth)
    browser = better_auth.browser()
    response = browser.post(
        "/api/auth/sign-in/email",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"x-forwarded-for": "203.0.113.9"},
    )
    assert response.status == 200, response.body
    user_id = response.body["user"]["id"]
    assert Session.objects.filter(user_id=user_id).count() == 2

    got = browser.get("/api/auth/get-session")
    assert got.status == 200 and got.body["user"]["id"] == user_id
    # Django's password column never leaves the database through better-auth.
    assert "password" not in got.body["user"]
    session = loads(Session, got.body["session"]["id"])
    assert session.ip_address == "203.0.113.9"

    wrong = better_auth.browser().post(
        "/api/auth/sign-in/email", json={"email": "ada@example.com", "password": "wrong"}
    )
    assert wrong.status == 401
