"""The homes of the token lifecycle and of secret columns (issue 17 items 2 and 6).

One expiry definition (``beep_shared.models.lifecycle``) for every table with ``expires_at``;
``live()`` / ``revoke()`` on the token querysets; ``OAuthClient`` answering for its scopes,
grants and secret; purge targets built from those querysets; ``SecretField`` /
``DigestField`` with ``create_with_secret`` / ``by_secret`` / ``set_new_secret``.
"""

from __future__ import annotations

import inspect
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.db import models
from django.utils import timezone

from beep_iam.admin.oauth import CLIENT_FIELDSETS, IDENTITY_FIELDS
from beep_iam.admin.oauth_forms import OAuthClientRegistrationForm
from beep_iam.maintenance import targets as _targets  # noqa: F401  (registers the targets)
from beep_iam.maintenance.purge import PurgeTarget, count, registry
from beep_iam.models import (
    ApiKey,
    DeviceCode,
    Invitation,
    Jwks,
    OAuthAccessToken,
    OAuthClient,
    OAuthClientAssertion,
    OAuthConsent,
    OAuthRefreshToken,
    ScimProvider,
    TwoFactor,
    Verification,
)
from beep_iam.models.oauth import GrantType, TokenEndpointAuthMethod
from beep_iam.services.oauth_clients import (
    OPTIONAL_METADATA,
    REGISTRATION_ARGUMENTS,
    REGISTRATION_FIELDS,
    build_client,
)
from beep_shared import crypto
from beep_shared.admin.base import TableAdmin
from beep_shared.db.show_once import DigestField, SecretField, secret_fields, set_new_secret
from beep_shared.models import Session, User
from beep_shared.models.lifecycle import ExpiringQuerySet
from beep_shared.rls import tenant_context
from tests.factories import (
    DeviceCodeFactory,
    JwksFactory,
    OAuthAccessTokenFactory,
    OAuthClientAssertionFactory,
    OAuthClientFactory,
    OAuthRefreshTokenFactory,
    OrganizationFactory,
    SessionFactory,
    UserFactory,
    VerificationFactory,
)

pytestmark = pytest.mark.django_db

EXPIRING = {
    OAuthAccessToken: OAuthAccessTokenFactory,
    OAuthRefreshToken: OAuthRefreshTokenFactory,
    Verification: VerificationFactory,
    DeviceCode: DeviceCodeFactory,
    Jwks: JwksFactory,
    OAuthClientAssertion: OAuthClientAssertionFactory,
    Session: SessionFactory,
}


def _expiring_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models()
        if model._meta.app_label.startswith("beep_")
        and any(field.name == "expires_at" for field in model._meta.concrete_fields)
    ]


def test_every_table_with_an_expiry_uses_the_one_definition():
    found = set(_expiring_models())
    assert found == {*EXPIRING, ApiKey, Invitation}
    for model in found:
        assert isinstance(model._default_manager.all(), ExpiringQuerySet), model
        assert hasattr(model, "expired_by"), model


@pytest.mark.parametrize("model", list(EXPIRING), ids=lambda m: m.__name__)
def test_expiry_boundary_and_complement_agree_in_sql_and_python(model):
    now = timezone.now()
    factory = EXPIRING[model]
    rows = {"past": factory(), "at_now": factory(), "future": factory()}
    moves = {"past": now - timedelta(hours=1), "at_now": now, "future": now + timedelta(hours=1)}
    for name, row in rows.items():
        # created_at moves back too, for tables that check expires_at > created_at.
        model._default_manager.filter(pk=row.pk).update(
            created_at=now - timedelta(days=1), expires_at=moves[name]
        )
    ids = {row.pk for row in rows.values()}
    manager = model._default_manager.filter(pk__in=ids)
    expired = set(manager.expired(now).values_list("pk", flat=True))
    unexpired = set(manager.unexpired(now).values_list("pk", flat=True))
    assert expired == {rows["past"].pk, rows["at_now"].pk}
    assert unexpired == {rows["future"].pk}
    for row in manager:
        assert row.expired_by(now) == (row.pk in expired)
    if model._meta.get_field("expires_at").null:
        forever = factory()
        model._default_manager.filter(pk=forever.pk).update(expires_at=None)
        forever.refresh_from_db()
        assert not forever.expired_by(now) and not forever.is_expired
        assert model._default_manager.unexpired(now).filter(pk=forever.pk).exists()
        assert not model._default_manager.expired(now).filter(pk=forever.pk).exists()


@pytest.mark.parametrize(
    "factory", [OAuthAccessTokenFactory, OAuthRefreshTokenFactory], ids=["access", "refresh"]
)
def test_live_is_not_revoked_expired_or_soft_deleted(factory):
    now = timezone.now()
    live = factory()
    revoked = factory(revoked=now)
    expired = factory(expires_at=now - timedelta(seconds=1))
    deleted = factory(deleted_at=now)
    model = type(live)
    chosen = model.objects.filter(pk__in=[live.pk, revoked.pk, expired.pk, deleted.pk])
    assert list(chosen.live()) == [live]


@pytest.mark.parametrize(
    "factory", [OAuthAccessTokenFactory, OAuthRefreshTokenFactory], ids=["access", "refresh"]
)
def test_revoke_counts_new_revocations_and_keeps_the_first_time(factory):
    earlier = timezone.now() - timedelta(minutes=5)
    old = factory(revoked=earlier)
    fresh = factory()
    untouched = factory()
    model = type(old)
    assert model.objects.filter(pk__in=[old.pk, fresh.pk]).revoke() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    untouched.refresh_from_db()
    assert old.revoked == earlier
    assert fresh.revoked is not None
    assert untouched.revoked is None
    assert not model.objects.filter(pk=fresh.pk).live().exists()


def test_revoke_family_revokes_one_client_and_user_in_both_tables():
    client = OAuthClientFactory()
    user, other = UserFactory(), UserFactory()
    refresh = OAuthRefreshTokenFactory(client=client, user=user)
    access = OAuthAccessTokenFactory(client=client, user=user, oauth_refresh_token=refresh)
    lone_access = OAuthAccessTokenFactory(client=client, user=user)
    others = [
        OAuthRefreshTokenFactory(client=client, user=other),
        OAuthAccessTokenFactory(client=client, user=other),
        OAuthAccessTokenFactory(user=user),  # another client
    ]
    assert OAuthRefreshToken.objects.revoke_family(client.client_id, user.pk) == (1, 2)
    for row in (refresh, access, lone_access):
        row.refresh_from_db()
        assert row.revoked is not None
    for row in others:
        row.refresh_from_db()
        assert row.revoked is None


def test_client_answers_for_its_scopes_grants_and_secret():
    client = OAuthClient(
        scopes=["openid", "email"], grant_types=[GrantType.AUTHORIZATION_CODE], client_id="c"
    )
    assert client.scopes_not_allowed(["openid", "admin", "email", "x"]) == ["admin", "x"]
    assert client.allows_scopes(["email"]) and not client.allows_scopes(["admin"])
    assert client.keep_allowed_scopes(["admin", "email", "openid"]) == ["email", "openid"]
    assert client.allows_grant(GrantType.AUTHORIZATION_CODE)
    assert not client.allows_grant(GrantType.REFRESH_TOKEN)
    unrestricted = OAuthClient(scopes=None, grant_types=None)
    assert unrestricted.allows_scopes(["anything"])
    assert unrestricted.keep_allowed_scopes(["a", "b"]) == ["a", "b"]
    assert unrestricted.allows_grant(GrantType.CLIENT_CREDENTIALS)
    uses = {
        method: OAuthClient(token_endpoint_auth_method=method).uses_secret
        for method in TokenEndpointAuthMethod.values
    }
    assert uses == {
        "client_secret_basic": True,
        "client_secret_post": True,
        "none": False,
        "private_key_jwt": False,
    }


def test_purge_targets_delete_exactly_what_their_querysets_select():
    now = timezone.now()
    OAuthAccessTokenFactory(expires_at=now - timedelta(days=1))
    OAuthAccessTokenFactory(revoked=now - timedelta(days=30))
    OAuthAccessTokenFactory()
    refresh = OAuthRefreshTokenFactory(expires_at=now - timedelta(days=1))
    OAuthAccessTokenFactory(oauth_refresh_token=refresh)  # live: keeps its refresh token
    OAuthRefreshTokenFactory(expires_at=now - timedelta(days=1))
    VerificationFactory(expires_at=now - timedelta(seconds=1))
    for target in registry.select(None):
        expected = target.rows(now).count()
        assert count(target, now=now) == expected, target.name
    assert count(registry.select(["oauth_refresh_token.expired"])[0], now=now) == 1


def test_a_purge_condition_on_a_joined_table_is_refused():
    target = PurgeTarget(
        name="oauth_consent.by_email",
        rows=lambda now: OAuthConsent.objects.filter(user__email="a@example.com"),
        key="created_at",
    )
    with pytest.raises(ValueError, match="own columns"):
        count(target, now=timezone.now())


# --- show once, store the digest ------------------------------------------------------------


def test_digest_columns_are_digest_fields():
    # A column documented as a digest but declared as a plain TextField would escape the
    # admins' exclusion and the show-once helpers.
    for model in apps.get_models():
        if not model._meta.app_label.startswith("beep_"):
            continue
        for field in model._meta.concrete_fields:
            if "digest" in str(field.help_text).lower():
                assert isinstance(field, DigestField), f"{model.__name__}.{field.name}"


SHOW_ONCE = [OAuthAccessToken, OAuthRefreshToken, DeviceCode]


@pytest.mark.parametrize("model", SHOW_ONCE, ids=lambda m: m.__name__)
def test_create_with_secret_stores_only_the_digest_and_finds_by_the_raw_value(model):
    template = EXPIRING[model].build()
    fields = {
        f.attname: getattr(template, f.attname)
        for f in model._meta.concrete_fields
        if not isinstance(f, SecretField)
        and f.attname
        not in {"id", "row_id", "created_at", "updated_at", "version", "user_code", "deleted_at"}
        and getattr(template, f.attname) is not None
    }
    if model is DeviceCode:
        fields["user_code"] = "BCDFGHJK"
    # Unsaved related rows of the built template: save them first.
    for name in ("client", "user"):
        related = getattr(template, name, None)
        if related is not None and related.pk is not None and related._state.adding:
            related.save()
    row, raw = model.objects.create_with_secret(**fields)
    field = next(f for f in secret_fields(model) if isinstance(f, DigestField))
    stored = getattr(model.objects.get(pk=row.pk), field.attname)
    assert stored == crypto.digest(raw) != raw
    assert list(model.objects.by_secret(raw)) == [row]
    assert not model.objects.by_secret(raw + "x").exists()


def test_api_keys_and_scim_tokens_use_the_show_once_helpers():
    org = OrganizationFactory()
    with tenant_context(org):
        key, raw = ApiKey.objects.create_key(UserFactory(), prefix="bk_", organization=org)
        assert raw.startswith("bk_") and key.start == raw[:6] and key.key == crypto.digest(raw)
        again = key.set_new_key()
        assert again != raw and again.startswith("bk_") and key.key == crypto.digest(again)
        provider, token = ScimProvider.objects.create_provider("okta", organization=org)
        assert ScimProvider.objects.by_secret(token).get() == provider


def test_an_expired_api_key_is_not_found_by_its_raw_value():
    org = OrganizationFactory()
    with tenant_context(org):
        key, raw = ApiKey.objects.create_key(UserFactory(), organization=org)
        assert ApiKey.objects.get_by_key(raw) == key
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now())
        assert ApiKey.objects.get_by_key(raw) is None


@pytest.mark.parametrize(
    ("key_change", "user_change"),
    [
        ({"remaining": 0}, {}),  # used up
        ({"deleted_at": "now"}, {}),
        ({}, {"banned": True}),  # a key acts as its user (review 14)
        ({}, {"is_active": False}),
        ({}, {"deleted_at": "now"}),
    ],
)
def test_an_api_key_that_may_not_act_is_not_found(key_change, user_change):
    org = OrganizationFactory()
    owner = UserFactory()
    with tenant_context(org):
        key, raw = ApiKey.objects.create_key(owner, organization=org, remaining=5)
        assert ApiKey.objects.get_by_key(raw) == key

        def values(change):
            return {k: timezone.now() if v == "now" else v for k, v in change.items()}

        ApiKey.objects.filter(pk=key.pk).update(**values(key_change))
        User.objects.filter(pk=owner.pk).update(**values(user_change))
        assert ApiKey.objects.get_by_key(raw) is None


def test_set_new_secret_replaces_the_digest_and_returns_the_raw_value():
    client = OAuthClientFactory()
    before = client.client_secret
    raw = set_new_secret(client)
    assert client.client_secret == crypto.digest(raw) != before


def test_sessions_store_their_token_as_the_storage_policy_says():
    session, raw = Session.objects.create_session(UserFactory())
    assert session.token == crypto.digest(raw)
    assert Session.objects.get_by_token(raw) == session


def test_set_new_secret_refuses_a_model_without_one_digest_column():
    with pytest.raises(TypeError, match="DigestField"):
        set_new_secret(Verification())


@pytest.mark.parametrize("model", [Verification, TwoFactor, ApiKey], ids=lambda m: m.__name__)
def test_a_plain_table_admin_leaves_secret_columns_out_by_their_class(model, rf, admin_user):
    # No exclude, no naming convention: the field class alone keeps them out of the form.
    model_admin = TableAdmin(model, AdminSite())
    request = rf.get("/")
    request.user = admin_user
    hidden = {field.name for field in secret_fields(model)}
    assert hidden
    for obj in (None, model()):
        form_fields = set(model_admin.get_form(request, obj).base_fields)
        assert not hidden & form_fields
        assert not hidden & set(model_admin.get_fields(request, obj))


def test_every_registered_admin_leaves_every_secret_column_out(rf, admin_user):
    request = rf.get("/")
    request.user = admin_user
    for model, model_admin in admin.site._registry.items():
        hidden = {field.name for field in secret_fields(model)}
        if not hidden:
            continue
        for obj in (None, model()):
            form_fields = set(model_admin.get_form(request, obj).base_fields)
            assert not hidden & form_fields, model.__name__


# --- the client metadata list -----------------------------------------------------------------


def test_the_client_registration_fields_have_one_home():
    named = [
        name
        for name, parameter in inspect.signature(build_client).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert set(named) == set(REGISTRATION_ARGUMENTS)
    assert tuple(OAuthClientRegistrationForm().fields) == REGISTRATION_FIELDS
    laid_out = {*IDENTITY_FIELDS, *(f for _, opts in CLIENT_FIELDSETS for f in opts["fields"])}
    assert set(REGISTRATION_FIELDS) <= laid_out
    assert OPTIONAL_METADATA.isdisjoint(REGISTRATION_ARGUMENTS)


def test_an_admin_naming_a_secret_column_fails_the_checks():
    class Leaky(TableAdmin):
        list_display = ("user", "token")
        search_fields = ("=token",)  # an exact search is allowed

    class Searching(TableAdmin):
        search_fields = ("token",)

    class Exact(TableAdmin):
        search_fields = ("=token",)

    site = AdminSite()
    for admin_class, expected in (
        (Leaky, ["beep_shared.E040"]),
        (Searching, ["beep_shared.E040"]),
        (Exact, []),
    ):
        found = [m.id for m in admin_class(Session, site).check() if m.id == "beep_shared.E040"]
        assert found == expected, admin_class.__name__


def test_a_refresh_token_without_scopes_of_an_unrestricted_client_still_rotates():
    from beep_iam.services import oauth_tokens

    # Written by another tool (the services refuse to issue without a scope): the rotation
    # cuts nothing, so it has nothing to refuse.
    client = OAuthClientFactory(scopes=None)
    OAuthRefreshTokenFactory(client=client, scopes=[], raw_token="no-scopes-refresh")
    rotated = oauth_tokens.rotate_refresh_token("no-scopes-refresh", client_id=client.client_id)
    assert rotated.scopes == []
