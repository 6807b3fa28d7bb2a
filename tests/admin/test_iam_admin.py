"""Admin of the global IAM tables: secrets never shown, search, filters, forms."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import models
from django.urls import reverse
from django.utils import timezone

from beep_iam.models import (
    Account,
    DeviceCode,
    DeviceCodeStatus,
    Jwks,
    Passkey,
    RateLimit,
    TwoFactor,
    Verification,
    WalletAddress,
)
from beep_shared import crypto
from beep_shared.db.show_once import secret_fields
from tests.factories import (
    AccountFactory,
    CredentialAccountFactory,
    DeviceCodeFactory,
    JwksFactory,
    PasskeyFactory,
    RateLimitFactory,
    TwoFactorFactory,
    UserFactory,
    VerificationFactory,
    WalletAddressFactory,
)

pytestmark = pytest.mark.django_db

MODELS = [Account, TwoFactor, Passkey, DeviceCode, Jwks, RateLimit, Verification, WalletAddress]


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def url(model: type[models.Model], view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def pages(row: models.Model) -> dict[str, str]:
    model, pk = type(row), quote(row.pk)
    return {
        "changelist": url(model, "changelist"),
        "change": url(model, "change", pk),
        "delete": url(model, "delete", pk),
        "history": url(model, "history", pk),
    }


# Each sensitive row with the values that must never appear anywhere.
def account_with_secrets() -> tuple[models.Model, list[str]]:
    tokens = ["gho_access-value", "ghr_refresh-value", "eyJ-id-token-value"]
    row = AccountFactory.create(access_token=tokens[0], refresh_token=tokens[1], id_token=tokens[2])
    row.set_password("p4ssword-words")
    row.save()
    return row, [*tokens, "p4ssword-words", str(row.password)]


def two_factor_with_secrets() -> tuple[models.Model, list[str]]:
    row = TwoFactorFactory.create(secret="JBSWY3DPEHPK3PXP", backup_codes="k9x2m,p0q7r")
    return row, ["JBSWY3DPEHPK3PXP", "k9x2m", "p0q7r"]


def jwks_with_secrets() -> tuple[models.Model, list[str]]:
    row = JwksFactory.create(private_key='{"d":"PRIVATE-scalar-d-value"}')
    return row, ["PRIVATE-scalar-d-value"]


def verification_with_secrets() -> tuple[models.Model, list[str]]:
    row = VerificationFactory.create(
        identifier="reset-password:tok3n-in-identifier", value="otp-8642"
    )
    return row, ["tok3n-in-identifier", "otp-8642"]


def device_code_with_secrets() -> tuple[models.Model, list[str]]:
    raw = crypto.generate_token()
    row = DeviceCodeFactory.create(raw_device_code=raw)
    return row, [raw, crypto.digest(raw)]


SENSITIVE = [
    account_with_secrets,
    two_factor_with_secrets,
    jwks_with_secrets,
    verification_with_secrets,
    device_code_with_secrets,
]


@pytest.mark.parametrize("make", SENSITIVE, ids=lambda f: f.__name__)
def test_str_and_repr_never_show_secrets(make):
    row, hidden = make()
    row = type(row).objects.get(pk=row.pk)
    for text in (str(row), repr(row)):
        for secret in hidden:
            assert secret not in text


@pytest.mark.parametrize("make", SENSITIVE, ids=lambda f: f.__name__)
def test_admin_pages_never_show_secrets(make, admin_client):
    row, hidden = make()
    for name, path in pages(row).items():
        response = admin_client.get(path)
        assert response.status_code == 200, name
        html = response.content.decode()
        for secret in hidden:
            assert secret not in html, f"{name} page shows a secret"
        for field in secret_fields(type(row)):
            assert f'name="{field.name}"' not in html


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_admin_options_name_no_secret_column(model, rf, admin_user):
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = admin_user
    hidden = {field.name for field in secret_fields(model)}
    for obj in (None, model()):
        shown = {
            *model_admin.get_list_display(request),
            *model_admin.get_readonly_fields(request, obj),
            *model_admin.get_form(request, obj).base_fields,
            *(f for f in model_admin.get_list_filter(request) if isinstance(f, str)),
        }
        assert not hidden & shown
    # Searching a secret column is allowed only by its exact value (no substring oracle).
    searched = {f for f in model_admin.get_search_fields(request) if f.lstrip("=^@") in hidden}
    assert searched <= {f"={name}" for name in hidden}
    assert model_admin.search_fields and model_admin.list_filter


def rows_by_model() -> dict[type[models.Model], tuple[models.Model, str]]:
    """A row per model and a search term that finds it."""
    user = UserFactory.create(email="wallet.owner@example.com", password=None)
    return {
        Account: (AccountFactory.create(account_id="acct-777"), "acct-777"),
        TwoFactor: (TwoFactorFactory.create(user=user), "wallet.owner@"),
        Passkey: (PasskeyFactory.create(name="Office YubiKey"), "yubikey"),
        DeviceCode: (DeviceCodeFactory.create(user_code="BCDFGHJK"), "bcdf-ghjk"),
        Jwks: (JwksFactory.create(public_key='{"kid":"key-2024"}'), "key-2024"),
        RateLimit: (RateLimitFactory.create(key="198.51.100.7/sign-in"), "198.51.100.7"),
        Verification: (
            VerificationFactory.create(identifier="email-verification-otp-a@b.io"),
            "email-verification-otp-a@b.io",
        ),
        WalletAddress: (WalletAddressFactory.create(user=user, address="0xfeed"), "0xFEED"),
    }


def test_changelists_search_and_change_pages(admin_client):
    rows = rows_by_model()
    for model, (row, term) in rows.items():
        other = None if model is TwoFactor else type(row)._default_manager.exclude(pk=row.pk)
        response = admin_client.get(url(model, "changelist"), {"q": term})
        assert response.status_code == 200, model
        found = list(response.context["cl"].result_list)
        assert found == [row], f"{model.__name__} search {term!r} found {found}"
        assert other is None or not other.filter(pk__in=[r.pk for r in found]).exists()
        response = admin_client.get(url(model, "change", quote(row.pk)))
        assert response.status_code == 200, model


def test_foreign_keys_use_raw_id_widgets(admin_client):
    for row in (WalletAddressFactory.create(), PasskeyFactory.create()):
        html = admin_client.get(url(type(row), "change", quote(row.pk))).content.decode()
        assert 'class="vForeignKeyRawIdAdminField"' in html
        assert 'name="user"' in html
    # An account's user is fixed once it exists (it never changes hands): on the add page.
    html = admin_client.get(url(AccountFactory._meta.model, "add")).content.decode()
    assert 'class="vForeignKeyRawIdAdminField"' in html and 'name="user"' in html


@pytest.mark.parametrize(
    ("model", "allowed"),
    [
        (Account, True),
        (RateLimit, True),
        (WalletAddress, True),
        (TwoFactor, False),
        (Passkey, False),
        (DeviceCode, False),
        (Jwks, False),
        (Verification, False),
    ],
)
def test_rows_with_generated_secrets_cannot_be_added(model, allowed, admin_client):
    assert admin_client.get(url(model, "add")).status_code == (200 if allowed else 403)


def test_add_form_creates_a_wallet_address(admin_client):
    user = UserFactory.create(password=None)
    response = admin_client.post(
        url(WalletAddress, "add"),
        {"user": user.pk, "address": "0xabc", "chain_id": "137", "is_primary": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    wallet = user.wallet_addresses.get()
    assert (wallet.address, wallet.chain_id, wallet.is_primary) == ("0xabc", 137, True)
    assert wallet.version == 1


def test_two_factor_is_view_and_delete_only(admin_client):
    row = TwoFactorFactory.create()
    html = admin_client.get(url(TwoFactor, "change", quote(row.pk))).content.decode()
    assert 'name="_save"' not in html
    response = admin_client.post(url(TwoFactor, "delete", quote(row.pk)), {"post": "yes"})
    assert response.status_code == 302
    assert not TwoFactor.objects.filter(pk=row.pk).exists()


def test_saving_a_change_form_keeps_hidden_secrets(admin_client):
    account = CredentialAccountFactory.create()
    account.access_token = "tok-kept"
    account.save()
    response = admin_client.post(
        url(Account, "change", quote(account.pk)),
        {
            "account_id": account.account_id,
            "provider_id": account.provider_id,
            "user": account.user_id,
            "scope": "email",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = Account.objects.get(pk=account.pk)
    assert saved.scope == "email"
    assert (saved.access_token, saved.password) == ("tok-kept", account.password)

    key = JwksFactory.create(private_key="keep-me")
    response = admin_client.post(
        url(Jwks, "change", quote(key.pk)),
        {"expires_at_0": "2030-01-02", "expires_at_1": "03:04:05"},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.private_key == "keep-me"
    assert key.expires_at is not None and key.expires_at.year == 2030


def test_filters(admin_client):
    now = timezone.now()
    approved = DeviceCodeFactory.create(
        status=DeviceCodeStatus.APPROVED, user=UserFactory.create(password=None)
    )
    expired = DeviceCodeFactory.create(expires_at=now - timedelta(minutes=1))
    old_verification = VerificationFactory.create(expires_at=now - timedelta(minutes=1))
    live_verification = VerificationFactory.create()
    forever_key = JwksFactory.create(expires_at=None)
    cases = [
        (DeviceCode, {"status__exact": "approved"}, {approved}),
        (DeviceCode, {"expired": "yes"}, {expired}),
        (DeviceCode, {"expired": "no"}, {approved}),
        (Verification, {"expired": "yes"}, {old_verification}),
        (Verification, {"expired": "no"}, {live_verification}),
        (Jwks, {"expired": "no"}, {forever_key}),
        (Jwks, {"expired": "yes"}, set()),
    ]
    for model, params, expected in cases:
        response = admin_client.get(url(model, "changelist"), params)
        assert response.status_code == 200
        assert set(response.context["cl"].result_list) == expected, (model, params)
