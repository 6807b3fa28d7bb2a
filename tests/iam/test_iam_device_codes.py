"""Device flow codes: user code normal form, lookups, digests of device codes, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from beep_iam.models import DeviceCode, DeviceCodeStatus
from beep_iam.models.device_code import (
    USER_CODE_ALPHABET,
    format_user_code,
    generate_user_code,
    is_normalized_user_code,
    normalize_user_code,
)
from beep_shared import crypto
from tests.factories import DeviceCodeFactory, UserFactory


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("bcdf-ghjk", "BCDFGHJK"),
        (" BCDF GHJK ", "BCDFGHJK"),
        ("bcdf\u2013ghjk", "BCDFGHJK"),  # en dash from copy-paste
        ("b.c_d-f\tg h\nj k", "BCDFGHJK"),
        ("BCDFGHJK", "BCDFGHJK"),
        ("ab12", "AB12"),
    ],
)
def test_normalisation_ignores_case_and_separators(raw, normal):
    assert normalize_user_code(raw) == normal
    assert is_normalized_user_code(normal)


@pytest.mark.parametrize("raw", ["BCDF!GHJK", "ÄBCD", "BCDF/GHJK", "", "---"])
def test_other_characters_are_kept_so_the_code_stays_invalid(raw):
    assert not is_normalized_user_code(normalize_user_code(raw))


def test_generated_codes_are_normal_and_use_the_unambiguous_alphabet():
    codes = {generate_user_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 8
        assert set(code) <= set(USER_CODE_ALPHABET)
        assert normalize_user_code(format_user_code(code)) == code
    assert format_user_code("bcdfghjk") == "BCDF-GHJK"


@pytest.mark.django_db
class TestStoredForm:
    def stored(self, row: DeviceCode) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT user_code FROM device_code WHERE id = %s", [row.pk])
            return cursor.fetchone()[0]

    def test_save_stores_and_keeps_the_normal_form(self):
        row = DeviceCodeFactory.create(user_code="bcdf-ghjk")
        assert row.user_code == "BCDFGHJK"
        assert self.stored(row) == "BCDFGHJK"

    def test_update_and_bulk_create_normalise_too(self):
        row = DeviceCodeFactory.create()
        DeviceCode.objects.filter(pk=row.pk).update(user_code="zzzz-xxxx")
        assert self.stored(row) == "ZZZZXXXX"
        built = DeviceCodeFactory.build(user_code="mm-nn")
        DeviceCode.objects.bulk_create([built])
        assert self.stored(built) == "MMNN"

    def test_orm_lookups_match_the_typed_form(self):
        row = DeviceCodeFactory.create(user_code="BCDFGHJK")
        assert DeviceCode.objects.get(user_code="bcdf ghjk") == row
        assert list(DeviceCode.objects.filter(user_code__in=["bcdf-ghjk", "x"])) == [row]

    def test_full_clean_names_the_field_and_the_rule(self):
        row = DeviceCodeFactory.build(user_code="BCDF!GHJK")
        with pytest.raises(ValidationError) as excinfo:
            row.full_clean()
        assert "user_code" in excinfo.value.message_dict
        assert "A-Z" in excinfo.value.message_dict["user_code"][0]

    def test_full_clean_refuses_an_approved_code_without_user(self):
        row = DeviceCodeFactory.build(status=DeviceCodeStatus.APPROVED)
        with pytest.raises(ValidationError, match="approving user"):
            row.full_clean()
        row.user = UserFactory.create(password=None)
        row.full_clean()


@pytest.mark.django_db
class TestLookups:
    def test_get_by_user_code_ignores_case_and_separators(self):
        row = DeviceCodeFactory.create(user_code="BCDFGHJK")
        for typed in ("bcdf-ghjk", "BCDF GHJK", " bcdfghjk "):
            assert DeviceCode.objects.get_by_user_code(typed) == row
        assert DeviceCode.objects.get_by_user_code("BCDFGHJZ") is None

    def test_get_by_user_code_skips_the_query_for_impossible_codes(self, django_assert_num_queries):
        with django_assert_num_queries(0):
            assert DeviceCode.objects.get_by_user_code("BCDF!GHJK") is None
            assert DeviceCode.objects.get_by_user_code(" - ") is None

    def test_expired_codes_are_found_only_on_request(self):
        row = DeviceCodeFactory.create(expires_at=timezone.now() - timedelta(seconds=1))
        assert DeviceCode.objects.get_by_user_code(row.user_code) is None
        assert DeviceCode.objects.get_by_user_code(row.user_code, include_expired=True) == row
        assert row.is_expired

    def test_device_code_is_stored_as_digest_and_found_by_raw_value(self):
        row, raw = DeviceCode.objects.create_device_code(client_id="tv", scope="openid")
        with connection.cursor() as cursor:
            cursor.execute("SELECT device_code FROM device_code WHERE id = %s", [row.pk])
            stored = cursor.fetchone()[0]
        assert stored == crypto.digest(raw) != raw
        assert DeviceCode.objects.get_by_device_code(raw) == row
        assert DeviceCode.objects.get_by_device_code(stored) is None  # the digest is no key
        assert row.status == DeviceCodeStatus.PENDING
        assert is_normalized_user_code(row.user_code)
        assert row.polling_interval == 5000
        assert timedelta(minutes=29) < row.expires_at - timezone.now() <= timedelta(minutes=30)

    def test_create_retries_a_colliding_user_code(self, monkeypatch):
        taken = DeviceCodeFactory.create(user_code="BBBBBBBB")
        draws = iter(["BBBBBBBB", "CCCCCCCC"])
        monkeypatch.setattr("beep_iam.models.device_code.generate_user_code", lambda: next(draws))
        row, _raw = DeviceCode.objects.create_device_code()
        assert row.user_code == "CCCCCCCC"
        assert DeviceCode.objects.filter(pk=taken.pk).exists()

    def test_expired_returns_the_rows_to_purge(self):
        now = timezone.now()
        old = DeviceCodeFactory.create(expires_at=now - timedelta(minutes=1))
        at_now = DeviceCodeFactory.create(expires_at=now)
        live = DeviceCodeFactory.create(expires_at=now + timedelta(minutes=1))
        assert set(DeviceCode.objects.expired(now=now)) == {old, at_now}
        assert set(DeviceCode.objects.expired(now=now - timedelta(hours=1))) == set()
        assert live in DeviceCode.objects.expired(now=now + timedelta(hours=1))
        assert set(DeviceCode.objects.all().expired()) >= {old, at_now}

    def test_user_side_relation(self):
        user = UserFactory.create(password=None)
        row = DeviceCodeFactory.create(user=user, status=DeviceCodeStatus.APPROVED)
        assert list(user.device_codes.all()) == [row]
