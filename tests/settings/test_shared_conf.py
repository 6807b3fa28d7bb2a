"""BEEP_SHARED settings: defaults, errors naming the key, the retired flat settings, and the
router staying quiet (None) when the settings are wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from beep_shared import conf
from beep_shared.models import Organization, Session, Team
from beep_shared.rls import sql
from beep_shared.rls.registry import is_tenant_model, tenant_models
from beep_shared.rls.routing import BypassRouter
from beep_shared.rls.setup import rls_mode_of
from tests.factories import UserFactory

DATABASES: dict[str, dict[str, str]] = {"default": {}, "bypass": {}, "elsewhere": {}}


def test_defaults():
    loaded = conf.load(None, DATABASES)
    assert loaded.rls_database == "default"
    assert loaded.rls_bypass_database == "bypass"  # that alias exists
    assert loaded.session_lifetime == timedelta(days=7)
    assert conf.load(None, {"default": {}}).rls_bypass_database is None


def test_accepted_forms():
    loaded = conf.load(
        {"RLS_DATABASE": "elsewhere", "RLS_BYPASS_DATABASE": "default", "SESSION_LIFETIME": 60},
        DATABASES,
    )
    assert loaded.rls_database == "elsewhere"
    assert loaded.rls_bypass_database == "default"
    assert loaded.session_lifetime == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"RLS_DATABASE": "nowhere"},
            r"\['RLS_DATABASE'\] is 'nowhere', which is not in DATABASES",
        ),
        ({"RLS_DATABASE": None}, r"\['RLS_DATABASE'\] is None"),
        ({"RLS_BYPASS_DATABASE": "nowhere"}, r"\['RLS_BYPASS_DATABASE'\].*BYPASSRLS"),
        ({"SESSION_LIFETIME": 0}, r"\['SESSION_LIFETIME'\] must be positive, got 0\."),
        ({"SESSION_LIFETIME": -5}, r"\['SESSION_LIFETIME'\] must be positive, got -5\."),
        ({"SESSION_LIFETIME": "7d"}, r"\['SESSION_LIFETIME'\] must be a timedelta"),
        ({"SESSION_LIFETIME": True}, r"\['SESSION_LIFETIME'\]"),
        ({"SESION_LIFETIME": 60}, r"unknown key\(s\) 'SESION_LIFETIME'"),
        (["RLS_DATABASE"], "BEEP_SHARED must be a dict"),
    ],
)
def test_bad_values_raise_improperly_configured_naming_the_key(value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        conf.load(value, DATABASES)


def test_changes_are_picked_up_and_reported_by_the_check(settings):
    settings.BEEP_SHARED = {"SESSION_LIFETIME": 60}
    assert conf.shared_settings().session_lifetime == timedelta(minutes=1)
    settings.BEEP_SHARED = {"SESSION_LIFETIME": -1}
    with pytest.raises(ImproperlyConfigured, match="SESSION_LIFETIME"):
        conf.shared_settings()
    (error,) = conf.check_settings()
    assert error.id == "beep_shared.E030" and "SESSION_LIFETIME" in error.msg
    settings.BEEP_SHARED = {}
    assert conf.check_settings() == []


@pytest.mark.parametrize(
    ("former", "value", "key"),
    [
        ("BEEP_RLS_DATABASE", "default", "RLS_DATABASE"),
        ("BEEP_RLS_BYPASS_DATABASE", "bypass", "RLS_BYPASS_DATABASE"),
        ("BEEP_SESSION_LIFETIME", timedelta(hours=1), "SESSION_LIFETIME"),
    ],
)
def test_a_former_flat_setting_is_refused_naming_its_new_key(settings, former, value, key):
    setattr(settings, former, value)
    expected = f"{former} is no longer read: set BEEP_SHARED[{key!r}] instead."
    with pytest.raises(ImproperlyConfigured) as caught:
        conf.shared_settings()
    assert str(caught.value) == expected
    assert [(m.id, m.msg) for m in conf.check_settings()] == [("beep_shared.E031", expected)]


@pytest.mark.django_db
def test_sessions_last_the_configured_lifetime(settings):
    settings.BEEP_SHARED = {"SESSION_LIFETIME": timedelta(hours=2)}
    before = timezone.now()
    session, _ = Session.objects.create_session(UserFactory.create())
    assert before + timedelta(hours=2) <= session.expires_at <= timezone.now() + timedelta(hours=2)


def test_the_router_has_no_opinion_when_the_settings_are_wrong(settings):
    settings.BEEP_SHARED = {"RLS_BYPASS_DATABASE": "nowhere"}
    router = BypassRouter()
    team = Team(organization=Organization())
    team._state.db = "bypass"  # loaded through the bypass alias: routed back otherwise
    assert router.allow_migrate("default", "beep_shared", model_name="team") is None
    assert router.db_for_read(Team, instance=team) is None
    assert router.db_for_write(Team, instance=team) is None
    assert router.allow_relation(team, team.organization) is None


@pytest.mark.django_db
def test_check_database_reports_a_bad_bypass_alias_instead_of_crashing(settings):
    """``check --database default`` asks the router's allow_migrate for every model."""
    settings.BEEP_SHARED = {"RLS_BYPASS_DATABASE": "nowhere"}
    with pytest.raises(SystemCheckError) as caught:
        call_command("check", "--database", "default")
    said = str(caught.value)
    assert "beep_shared.E030" in said and "BEEP_SHARED['RLS_BYPASS_DATABASE'] is 'nowhere'" in said


def test_one_registry_answers_which_models_are_tenant_tables():
    protected = {model for model in tenant_models() if rls_mode_of(model) != sql.NONE}
    assert protected, "no TenantModel installed"
    assert {model for model in apps.get_models() if is_tenant_model(model)} == protected
    assert not is_tenant_model(Organization) and not is_tenant_model(Session)
