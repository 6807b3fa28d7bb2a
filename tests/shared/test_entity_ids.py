import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from beep_shared.ids import is_valid_id, make_id, parse_id, uuid7, validate_id
from beep_shared.models import Organization, User
from tests.factories import OrganizationFactory, UserFactory


def test_uuid7_has_version_7_variant_rfc_and_sorts_by_creation():
    values = [uuid7() for _ in range(2000)]
    assert all(v.version == 7 for v in values)
    assert all(v.variant == uuid.RFC_4122 for v in values)
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_make_id_has_table_prefix_and_parses_back():
    value = make_id("oauth_client")
    assert value.startswith("oauth_client__")
    assert parse_id("oauth_client", value).version == 7


@pytest.mark.parametrize(
    "value",
    [
        "user__not-a-uuid",
        "session__01a20079-5d89-7c46-97ad-22047c38d31c",  # wrong prefix
        "user_01a20079-5d89-7c46-97ad-22047c38d31c",  # single underscore
        "user__01A20079-5D89-7C46-97AD-22047C38D31C",  # upper-case uuid
        "01a20079-5d89-7c46-97ad-22047c38d31c",
        "",
        42,
    ],
)
def test_malformed_ids_are_rejected_with_the_expected_form(value):
    assert not is_valid_id("user", value)
    with pytest.raises(ValidationError) as excinfo:
        validate_id("user", value)
    assert "user__<uuid>" in str(excinfo.value)


@pytest.mark.django_db
def test_ids_generated_on_create_carry_the_table_name():
    user = UserFactory()
    org = OrganizationFactory(owner_user=user)
    assert is_valid_id("user", user.pk)
    assert is_valid_id("organization", org.pk)


def test_assigning_a_bad_id_fails_at_assignment():
    user = User(name="x", email="x@example.com")
    with pytest.raises(ValidationError, match="user__<uuid>"):
        user.id = "organization__01a20079-5d89-7c46-97ad-22047c38d31c"


@pytest.mark.django_db
def test_lookup_with_a_bad_id_is_a_validation_error_not_a_query():
    with pytest.raises(ValidationError, match="user__<uuid>"):
        User.objects.get(pk="user__nope")
    with pytest.raises(ValidationError):
        Organization.objects.filter(owner_user_id="session__x").exists()


@pytest.mark.django_db
def test_database_default_generates_a_valid_uuid7_id():
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO "user" (name, email) VALUES (%s, %s) RETURNING id', ["Raw", "raw@x.io"]
        )
        (raw_id,) = cursor.fetchone()
    assert parse_id("user", raw_id).version == 7


def test_a_huge_invalid_id_is_not_echoed_whole():
    with pytest.raises(ValidationError) as caught:
        validate_id("user", "x" * 10_000_000)
    (message,) = caught.value.messages
    assert len(message) < 250 and message.startswith("'xxx") and "..." in message
    with pytest.raises(ValidationError, match="'user__nope' is not a valid user id"):
        validate_id("user", "user__nope")
