"""An SSO provider's configuration keeps its identity-provider secrets in clear, as
better-auth's SSO plugin writes and reads them; the admin never shows them, to superusers
(the form) or staff (read-only), and a secret left hidden in the form is kept."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from beep_iam.models import SsoProvider
from beep_iam.models.tenant import HIDDEN
from beep_shared.rls import tenant_context
from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY
from tests.admin.admin_forms import post_form
from tests.factories import MemberFactory, SsoProviderFactory, UserFactory

pytestmark = pytest.mark.django_db

OIDC = {
    "issuer": "https://idp.example.com",
    "clientId": "django-app",
    "clientSecret": "idp-client-secret-value",
    "tokenEndpointAuthentication": "client_secret_basic",
}
SAML = {
    "entryPoint": "https://idp.example.com/saml",
    "privateKey": "-----BEGIN PRIVATE KEY-----sp-top-key",
    "idpMetadata": {"metadata": "<xml/>", "privateKeyPass": "idp-pass-value"},
    "spMetadata": {"encPrivateKey": "sp-enc-key-value"},
}
SECRETS = ("idp-client-secret-value", "sp-top-key", "idp-pass-value", "sp-enc-key-value")


@pytest.fixture
def provider():
    return SsoProviderFactory(oidc_config=json.dumps(OIDC), saml_config=json.dumps(SAML))


def change_url(obj) -> str:
    return reverse("admin:beep_iam_ssoprovider_change", args=[quote(obj.pk)])


def in_organization(client: Client, organization_id: str) -> Client:
    session = client.session
    session[ACTIVE_TENANT_SESSION_KEY] = organization_id
    session.save()
    return client


@pytest.fixture
def superuser_client(provider):
    root = UserFactory(email="root@example.com", is_staff=True, is_superuser=True, password="!")
    client = Client()
    client.force_login(root)
    return in_organization(client, provider.organization_id)


def stored(provider: SsoProvider) -> tuple[dict, dict]:
    with tenant_context(provider.organization_id):
        provider.refresh_from_db()
    return json.loads(provider.oidc_config), json.loads(provider.saml_config)


def test_the_superusers_form_hides_every_secret(provider, superuser_client):
    page = superuser_client.get(change_url(provider)).content.decode()
    assert "django-app" in page and "idp.example.com/saml" in page
    assert [s for s in SECRETS if s in page] == []
    assert HIDDEN in page


def test_saving_the_form_unchanged_keeps_the_secrets(provider, superuser_client):
    response = post_form(superuser_client, change_url(provider), domain="renamed.example.com")
    assert response.status_code == 302
    oidc, saml = stored(provider)
    assert provider.domain == "renamed.example.com"
    assert (oidc, saml) == (OIDC, SAML)


def test_a_new_secret_typed_in_replaces_the_stored_one(provider, superuser_client):
    edited = {**OIDC, "clientSecret": "rotated-secret", "clientId": "renamed-app"}
    response = post_form(superuser_client, change_url(provider), oidc_config=json.dumps(edited))
    assert response.status_code == 302
    oidc, saml = stored(provider)
    assert oidc == edited and saml == SAML


def test_a_hidden_secret_with_nothing_stored_is_dropped(provider, superuser_client):
    added = {**OIDC, "extraSecret": "x", "clientSecret": HIDDEN}
    with tenant_context(provider.organization_id):
        SsoProvider.objects.filter(pk=provider.pk).update(
            oidc_config=json.dumps({"clientId": "no-secret"})
        )
    response = post_form(superuser_client, change_url(provider), oidc_config=json.dumps(added))
    assert response.status_code == 302
    oidc, _ = stored(provider)
    assert "clientSecret" not in oidc and oidc["clientId"] == "django-app"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "[" * 100_000 + "]" * 100_000])
def test_a_configuration_that_is_no_json_object_is_a_form_error(provider, superuser_client, text):
    response = post_form(superuser_client, change_url(provider), oidc_config=text)
    assert response.status_code == 200
    assert "Enter a JSON object" in response.content.decode()
    oidc, _ = stored(provider)
    assert oidc == OIDC


def test_staff_see_the_configuration_read_only_without_its_secrets(provider):
    staff = UserFactory(email="staff@example.com", is_staff=True, password="!")
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_ssoprovider", "change_ssoprovider"])
    )
    MemberFactory(organization=provider.organization, user=staff)
    client = Client()
    client.force_login(staff)
    page = in_organization(client, provider.organization_id).get(change_url(provider))
    assert page.status_code == 200
    html = page.content.decode()
    assert "django-app" in html and HIDDEN in html
    assert [s for s in SECRETS if s in html] == []
    # and the columns are no form fields of theirs: a post cannot change them
    response = post_form(client, change_url(provider), oidc_config=json.dumps({"clientId": "x"}))
    assert response.status_code == 302
    oidc, _ = stored(provider)
    assert oidc == OIDC
