"""The registration, metadata-document and fetcher settings: validated, and the loopback
switch warned about outside DEBUG."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from beep_iam.conf import DEFAULT_REGISTRATION_SCOPES, check_settings, load
from beep_shared.crypto import digest


def test_defaults_are_the_safe_ones() -> None:
    loaded = load({})
    assert loaded.oauth2_registration == "initial_access_token"
    assert loaded.oauth2_initial_access_tokens == frozenset()
    assert loaded.oauth2_registration_scopes == DEFAULT_REGISTRATION_SCOPES
    assert loaded.oauth2_client_id_metadata_documents is False
    assert loaded.oauth2_fetch_allow_loopback is False
    assert load({"OAUTH2_REGISTRATION": None}).oauth2_registration is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"OAUTH2_REGISTRATION": "anyone"}, "must be one of 'open', 'initial_access_token'"),
        ({"OAUTH2_INITIAL_ACCESS_TOKENS": "abc"}, "must be a list of token digests"),
        ({"OAUTH2_INITIAL_ACCESS_TOKENS": ["raw-token"]}, "not tokens"),
        ({"OAUTH2_REGISTRATION_SCOPES": "openid"}, "must be a list of scopes"),
        ({"OAUTH2_REGISTRATION_SCOPES": ["a b"]}, "without spaces"),
        # Review 13: stored as a self-registered client's empty scopes, which allow any.
        ({"OAUTH2_REGISTRATION_SCOPES": []}, "at least one scope"),
        ({"OAUTH2_REGISTRATION_SCOPES": ()}, "at least one scope"),
        ({"OAUTH2_CLIENT_ID_METADATA_DOCUMENTS": 1}, "must be True or False"),
        ({"OAUTH2_FETCH_ALLOW_LOOPBACK": "yes"}, "must be True or False"),
    ],
)
def test_bad_values_are_named(value: dict[str, object], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(")):
        load(value)


def test_digests_are_accepted() -> None:
    assert load({"OAUTH2_INITIAL_ACCESS_TOKENS": [digest("t")]}).oauth2_initial_access_tokens == {
        digest("t")
    }


def test_loopback_fetching_warns_without_debug() -> None:
    with override_settings(DEBUG=False, BEEP_IAM={"OAUTH2_FETCH_ALLOW_LOOPBACK": True}):
        assert [m.id for m in check_settings()] == ["beep_iam.W041"]
    with override_settings(DEBUG=True, BEEP_IAM={"OAUTH2_FETCH_ALLOW_LOOPBACK": True}):
        assert check_settings() == []
    with override_settings(DEBUG=False, BEEP_IAM={}):
        assert check_settings() == []
