"""BEEP_IAM settings: defaults, accepted forms, and errors naming the key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from beep_iam import conf


def test_defaults_match_better_auth():
    loaded = conf.load(None)
    assert loaded.access_token_lifetime == timedelta(hours=1)
    assert loaded.refresh_token_lifetime == timedelta(days=30)
    assert loaded.revoked_token_retention == timedelta(days=7)
    assert loaded.purge_batch_size == 5000
    assert loaded.prepared_lookups is None


def test_seconds_and_timedeltas_are_accepted():
    loaded = conf.load({"ACCESS_TOKEN_LIFETIME": 900, "REVOKED_TOKEN_RETENTION": 0})
    assert loaded.access_token_lifetime == timedelta(minutes=15)
    assert loaded.revoked_token_retention == timedelta(0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"ACCESS_TOKEN_LIFETIME": 0}, "'ACCESS_TOKEN_LIFETIME'.*positive"),
        ({"REFRESH_TOKEN_LIFETIME": timedelta(seconds=-1)}, "'REFRESH_TOKEN_LIFETIME'"),
        ({"ACCESS_TOKEN_LIFETIME": "1h"}, "timedelta or a whole number of seconds"),
        ({"ACCESS_TOKEN_LIFETIME": True}, "'ACCESS_TOKEN_LIFETIME'"),
        ({"REVOKED_TOKEN_RETENTION": -5}, "'REVOKED_TOKEN_RETENTION'.*zero or more"),
        ({"PURGE_BATCH_SIZE": 0}, "'PURGE_BATCH_SIZE'.*between"),
        ({"PURGE_BATCH_SIZE": 1.5}, "'PURGE_BATCH_SIZE'.*int"),
        ({"PREPARED_LOOKUPS": "yes"}, "'PREPARED_LOOKUPS'"),
        ({"ACCES_TOKEN_LIFETIME": 60}, "unknown key.*'ACCES_TOKEN_LIFETIME'"),
        (["ACCESS_TOKEN_LIFETIME"], "must be a dict"),
    ],
)
def test_bad_values_raise_improperly_configured_naming_the_key(value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        conf.load(value)


def test_settings_changes_are_picked_up_and_reported_by_the_check(settings):
    settings.BEEP_IAM = {"ACCESS_TOKEN_LIFETIME": 60}
    assert conf.iam_settings().access_token_lifetime == timedelta(minutes=1)
    settings.BEEP_IAM = {"ACCESS_TOKEN_LIFETIME": -1}
    with pytest.raises(ImproperlyConfigured):
        conf.iam_settings()
    (error,) = conf.check_settings()
    assert error.id == "beep_iam.E001" and "ACCESS_TOKEN_LIFETIME" in error.msg
    settings.BEEP_IAM = {}
    assert conf.check_settings() == []
