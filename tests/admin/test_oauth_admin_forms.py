"""The OAuth client and consent admin forms validate without writing; the admin's
``save_model`` writes (Django's ModelAdmin contract)."""

from __future__ import annotations

import html

import pytest
from django.contrib import admin

from beep_iam.models import OAuthClient, OAuthConsent
from tests.factories import OAuthClientFactory, OAuthConsentFactory, UserFactory

pytestmark = pytest.mark.django_db

CLIENT_DATA = {
    "name": "Form Only",
    "redirect_uris": "https://form.example.com/cb",
    "token_endpoint_auth_method": "client_secret_basic",
    "grant_types": ["authorization_code"],
    "response_types": ["code"],
    "scopes": "openid\nemail",
}


def admin_form(model, rf, user, obj=None):
    request = rf.post("/")
    request.user = user
    return admin.site._registry[model].get_form(request, obj, change=obj is not None)


def text(response) -> str:
    return html.unescape(" ".join(response.content.decode().split()))


def test_client_registration_form_validates_without_writing(rf, superuser):
    form = admin_form(OAuthClient, rf, superuser)(data=CLIENT_DATA)
    before = OAuthClient.objects.count()
    assert form.is_valid(), form.errors
    assert OAuthClient.objects.count() == before == 0
    assert form.instance._state.adding  # built, not saved


def test_client_change_form_validates_without_writing(rf, superuser):
    client = OAuthClientFactory(name="Before", scopes=["openid"])
    data = {**CLIENT_DATA, "name": "After", "client_id": client.client_id}
    form = admin_form(OAuthClient, rf, superuser, client)(data=data, instance=client)
    assert form.is_valid(), form.errors
    client.refresh_from_db()
    assert client.name == "Before"


def test_consent_form_validates_without_writing(rf, superuser):
    client = OAuthClientFactory(scopes=["openid", "email"])
    user = UserFactory()
    form = admin_form(OAuthConsent, rf, superuser)(
        data={"client": client.client_id, "user": user.pk, "scopes": "openid"}
    )
    assert form.is_valid(), form.errors
    assert OAuthConsent.objects.count() == 0


def test_consent_form_refuses_a_scope_the_client_does_not_allow(rf, superuser):
    client = OAuthClientFactory(scopes=["openid"])
    form = admin_form(OAuthConsent, rf, superuser)(
        data={"client": client.client_id, "user": UserFactory().pk, "scopes": "openid\nadmin"}
    )
    assert not form.is_valid()
    assert "admin" in " ".join(form.errors["scopes"])
    assert OAuthConsent.objects.count() == 0


def test_client_registration_form_reports_every_error_on_its_field(rf, superuser):
    data = {
        **CLIENT_DATA,
        "redirect_uris": "http://a.example.com/cb\nhttps://b.example.com/cb#frag",
        "response_types": [],
        "jwks_uri": "https://10.0.0.1/jwks",
    }
    form = admin_form(OAuthClient, rf, superuser)(data=data)
    assert not form.is_valid()
    assert len(form.errors["redirect_uris"]) == 2  # each bad URI, not the first only
    assert "must include 'code'" in " ".join(form.errors["response_types"])
    assert "public host" in " ".join(form.errors["jwks_uri"])
    assert OAuthClient.objects.count() == 0


def test_admin_add_page_registers_once_and_shows_the_secret_uncached(admin_client):
    response = admin_client.post("/admin/beep_iam/oauthclient/add/", CLIENT_DATA)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    client = OAuthClient.objects.get()
    assert client.name == "Form Only" and client.client_secret and client.public is False
    assert 'class="beep-secret"' in response.content.decode()
    assert not response.cookies.get("messages")


def test_admin_consent_add_page_writes_through_grant_consent(admin_client):
    consent = OAuthConsentFactory(client=OAuthClientFactory(scopes=["openid", "email"]))
    response = admin_client.post(
        "/admin/beep_iam/oauthconsent/add/",
        {"client": consent.client_id, "user": consent.user_id, "scopes": "email"},
    )
    assert response.status_code == 302, text(response)
    # The same (client, user) pair: its scopes are replaced, no second row.
    (stored,) = OAuthConsent.objects.all()
    assert stored.pk == consent.pk and stored.scopes == ["email"]
    fresh = OAuthConsentFactory.build(client=consent.client, user=UserFactory())
    response = admin_client.post(
        "/admin/beep_iam/oauthconsent/add/",
        {"client": fresh.client_id, "user": fresh.user_id, "scopes": "openid"},
    )
    assert response.status_code == 302, text(response)
    assert OAuthConsent.objects.count() == 2
