"""A user's email is its identity: unique whatever its case, normalised on every write path,
validated on create."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from beep_shared.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("other", ["BOB@example.com", "bob@EXAMPLE.com", "  Bob@Example.com "])
def test_emails_differing_only_in_case_cannot_both_be_stored(other):
    User.objects.create_user("bob@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email=other, name="b")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(email=other, name="b")])
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute('INSERT INTO "user" (name, email) VALUES (%s, %s)', ["b", other])


def test_every_write_path_stores_the_normalised_email():
    created = User.objects.create(email="  Alice@Example.COM ", name="a")
    assert created.email == "alice@example.com"
    bulk = User.objects.bulk_create([User(email="CAROL@Example.com", name="c")])[0]
    User.objects.filter(pk=bulk.pk).update(email="Carol@EXAMPLE.org")
    with connection.cursor() as cursor:
        cursor.execute('INSERT INTO "user" (name, email) VALUES (%s, %s)', ["d", " Dan@X.IO"])
    stored = set(User.objects.values_list("email", flat=True))
    assert stored == {"alice@example.com", "carol@example.org", "dan@x.io"}
    # ... so the user whose address was typed in capitals can log in.
    user = User.objects.get_by_natural_key("CAROL@example.ORG")
    assert user.pk == bulk.pk


@pytest.mark.parametrize("email", ["", "   ", "not an email", "a@", "@b.com", None])
def test_create_user_refuses_a_missing_or_malformed_email(email):
    with pytest.raises(ValidationError) as caught:
        User.objects.create_user(email)
    assert list(caught.value.message_dict) == ["email"]
    assert not User.objects.exists()


def test_full_clean_reports_a_case_variant_as_a_duplicate():
    UserFactory(email="erin@example.com")
    with pytest.raises(ValidationError, match="already exists"):
        User(email="ERIN@example.com", name="e").full_clean()
