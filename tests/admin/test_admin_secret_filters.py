"""A changelist filter from the query string may not compare part of a secret column.

Django's ``lookup_allowed`` lets any lookup of a model's own columns through; on a column
holding clear text (better-auth's reset tokens in ``verification.identifier``, provider tokens
in ``account``, a private key in ``jwks``, a TOTP secret, an SSO provider's client secret
inside its JSON) a list that shows a row or not tells the secret a character at a time, to
anyone with the view permission. Security round 13."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from beep_shared.db.show_once import holds_secret
from tests.factories import AccountFactory, UserFactory, VerificationFactory

pytestmark = pytest.mark.django_db

SECRET_COLUMNS = sorted(
    (model._meta.label, field.name)
    for model in admin.site._registry
    for field in model._meta.concrete_fields
    if holds_secret(field)
)


def changelist(label: str) -> str:
    app_label, model_name = label.lower().split(".")
    return reverse(f"admin:{app_label}_{model_name}_changelist")


@pytest.fixture
def admin_client(client) -> Client:
    root = UserFactory(email="root@example.com", is_staff=True, is_superuser=True, password="!")
    client.force_login(root)
    return client


def test_every_kind_of_secret_column_is_covered():
    names = {f"{label}.{name}" for label, name in SECRET_COLUMNS}
    assert {
        "beep_iam.Verification.identifier",
        "beep_iam.Account.access_token",
        "beep_iam.Jwks.private_key",
        "beep_iam.TwoFactor.secret",
        "beep_shared.Session.token",
        "beep_iam.SsoProvider.oidc_config",
    } <= names


@pytest.mark.parametrize(("label", "name"), SECRET_COLUMNS)
@pytest.mark.parametrize("lookup", ["startswith", "contains", "gt", "regex", "in", "lower"])
def test_a_partial_comparison_of_a_secret_is_refused(admin_client, label, name, lookup):
    response = admin_client.get(changelist(label), {f"{name}__{lookup}": "a"})
    assert response.status_code == 400
    assert "holds a secret" in response.content.decode()


@pytest.mark.parametrize(("label", "name"), SECRET_COLUMNS)
@pytest.mark.parametrize("lookup", ["", "__exact", "__isnull"])
def test_a_whole_value_match_is_still_a_filter(admin_client, label, name, lookup):
    value = "True" if lookup == "__isnull" else "not-the-value"
    assert admin_client.get(changelist(label), {f"{name}{lookup}": value}).status_code == 200


def test_through_a_relation_too(admin_client):
    AccountFactory()
    for lookup in ("accounts__password__startswith", "accounts__access_token__gte"):
        response = admin_client.get(changelist("beep_shared.User"), {lookup: "a"})
        assert response.status_code == 400, lookup


def test_a_viewer_cannot_walk_a_reset_token(client):
    row = VerificationFactory()  # "reset-password:<token>"
    viewer = UserFactory(email="viewer@example.com", is_staff=True, password="!")
    viewer.user_permissions.add(Permission.objects.get(codename="view_verification"))
    client.force_login(viewer)
    url = changelist("beep_iam.Verification")
    assert client.get(url).status_code == 200
    prefix = str(row.identifier)[: len("reset-password:") + 1]
    assert client.get(url, {"identifier__startswith": prefix}).status_code == 400
