"""The session token's stored form: digests by default, better-auth's form when shared."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from beep_shared import crypto
from beep_shared.models import Session, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def stored(session: Session) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM session WHERE id = %s", [session.pk])
        return str(cursor.fetchone()[0])


def test_digests_are_the_default():
    session, raw = Session.objects.create_session(UserFactory.create())
    assert stored(session) == crypto.digest(raw) != raw
    assert Session.objects.get_by_token(raw) == session
    assert Session.objects.get_by_token(stored(session)) is None  # the digest opens nothing


def test_plain_storage_keeps_what_better_auth_looks_up(settings):
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "plain"}
    session, raw = Session.objects.create_session(UserFactory.create())
    assert stored(session) == raw
    assert Session.objects.get_by_token(raw) == session
    # A row better-auth wrote (its 32-character token, as it stores it) is found by its token.
    theirs = Session.objects.create(
        user=session.user, token="Zk3u0QvK9aX2bYc7dEf1gHi4jLm6nOp8", expires_at=session.expires_at
    )
    assert Session.objects.get_by_token("Zk3u0QvK9aX2bYc7dEf1gHi4jLm6nOp8") == theirs


@pytest.mark.parametrize("storage", ["digest", "plain"])
def test_the_admin_never_shows_a_session_token(client, settings, storage):
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": storage}
    admin_user = User.objects.create_superuser("admin@example.com", "pw", name="Admin")
    session, raw = Session.objects.create_session(admin_user, ip_address="127.0.0.1")
    client.force_login(admin_user)
    pages = [
        reverse("admin:beep_shared_session_changelist"),
        reverse("admin:beep_shared_session_changelist") + f"?q={session.pk}",
        reverse("admin:beep_shared_session_change", args=[session.pk]),
        reverse("admin:beep_shared_session_history", args=[session.pk]),
        reverse("admin:beep_shared_session_delete", args=[session.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert raw not in page and stored(session) not in page, url
        assert session.user.email in page, url  # the page is about this session


def test_the_storage_is_beep_shareds_own_setting_and_a_bad_one_stores_nothing(settings):
    """Session owns the rule; the setting sits with it in BEEP_SHARED (works without beep_iam),
    and an unknown form is refused before any row is written."""
    from django.core.exceptions import ImproperlyConfigured

    user = UserFactory.create()
    settings.BEEP_SHARED = {"SESSION_TOKEN_STORAGE": "hashed"}
    with pytest.raises(
        ImproperlyConfigured,
        match=r"BEEP_SHARED\['SESSION_TOKEN_STORAGE'\] must be one of 'digest', 'plain'",
    ):
        Session.objects.create_session(user)
    assert not Session.objects.filter(user=user).exists()
