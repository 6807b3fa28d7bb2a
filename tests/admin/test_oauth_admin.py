"""Admin of the OAuth tables: no secrets on screen, cheap lists, revoke/disable actions."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from beep_iam.models import OAuthAccessToken, OAuthClient, OAuthRefreshToken
from beep_iam.services.oauth_tokens import validate_access_token
from tests.factories import (
    OAuthAccessTokenFactory,
    OAuthClientFactory,
    OAuthConsentFactory,
    OAuthRefreshTokenFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MODELS = ["oauthclient", "oauthaccesstoken", "oauthrefreshtoken", "oauthconsent"]


@pytest.fixture
def admin_client(client):
    user = UserFactory(is_staff=True, is_superuser=True, password="!")
    client.force_login(user)
    return client


def _url(model: str, view: str = "changelist", *args: str) -> str:
    return reverse(f"admin:beep_iam_{model}_{view}", args=args)


@pytest.fixture
def rows():
    client = OAuthClientFactory(name="Acme", raw_secret="client-raw-secret")
    refresh = OAuthRefreshTokenFactory(client=client, raw_token="refresh-raw")
    access = OAuthAccessTokenFactory(
        client=client, user=refresh.user, oauth_refresh_token=refresh, raw_token="access-raw"
    )
    consent = OAuthConsentFactory(client=client, user=refresh.user)
    return {"client": client, "refresh": refresh, "access": access, "consent": consent}


def test_pages_render_without_secrets_or_digests(admin_client, rows):
    hidden = [
        rows["client"].client_secret,
        rows["access"].token,
        rows["refresh"].token,
        "client-raw-secret",
        "access-raw",
        "refresh-raw",
    ]
    objects = {
        "oauthclient": rows["client"],
        "oauthaccesstoken": rows["access"],
        "oauthrefreshtoken": rows["refresh"],
        "oauthconsent": rows["consent"],
    }
    for model, obj in objects.items():
        for url in (_url(model), _url(model, "change", obj.pk)):
            response = admin_client.get(url)
            assert response.status_code == 200, url
            html = response.content.decode()
            for value in hidden:
                assert value not in html, f"{url} shows {value}"
    change = admin_client.get(_url("oauthclient", "change", rows["client"].pk)).content.decode()
    assert 'name="client_secret"' not in change
    listing = admin_client.get(_url("oauthclient")).content.decode()
    assert '<td class="field-secret">set</td>' in listing


def test_tokens_have_no_add_page_clients_are_registered_on_theirs(admin_client):
    for model in ("oauthaccesstoken", "oauthrefreshtoken"):
        assert admin_client.get(_url(model, "add")).status_code == 403
    page = admin_client.get(_url("oauthclient", "add")).content.decode()
    assert 'name="redirect_uris"' in page and 'name="client_secret"' not in page


def test_search_by_client_id_name_token_id_and_garbage(admin_client, rows):
    other = OAuthAccessTokenFactory()
    client_id = rows["client"].client_id
    html = admin_client.get(_url("oauthaccesstoken"), {"q": client_id}).content.decode()
    assert rows["access"].pk in html and other.pk not in html
    html = admin_client.get(_url("oauthaccesstoken"), {"q": other.pk}).content.decode()
    assert other.pk in html and rows["access"].pk not in html
    html = admin_client.get(_url("oauthclient"), {"q": "acm"}).content.decode()
    assert client_id in html and other.client_id not in html
    for model in MODELS:
        assert admin_client.get(_url(model), {"q": "not an id"}).status_code == 200


def test_token_state_filter(admin_client, rows):
    revoked = OAuthAccessTokenFactory(revoked="2020-01-01T00:00:00Z")
    html = admin_client.get(_url("oauthaccesstoken"), {"state": "revoked"}).content.decode()
    assert revoked.pk in html and rows["access"].pk not in html
    html = admin_client.get(_url("oauthaccesstoken"), {"state": "active"}).content.decode()
    assert rows["access"].pk in html and revoked.pk not in html


def test_changelist_queries_do_not_grow_with_rows(admin_client):
    def queries(model: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(_url(model)).status_code == 200
        return len(captured)

    OAuthConsentFactory()
    OAuthAccessTokenFactory()
    OAuthRefreshTokenFactory()
    before = {model: queries(model) for model in MODELS}
    OAuthConsentFactory.create_batch(4)
    OAuthAccessTokenFactory.create_batch(4)
    OAuthRefreshTokenFactory.create_batch(4)
    assert {model: queries(model) for model in MODELS} == before


def _action(admin_client, model: str, action: str, pks: list[str]):
    return admin_client.post(
        _url(model), {"action": action, ACTION_CHECKBOX_NAME: pks}, follow=True
    )


def test_disable_client_action(admin_client, rows):
    response = _action(admin_client, "oauthclient", "disable_selected_clients", [rows["client"].pk])
    assert "Disabled 1 client" in response.content.decode()
    assert OAuthClient.objects.get(pk=rows["client"].pk).disabled
    assert validate_access_token("access-raw") is None


def test_revoke_client_tokens_action(admin_client, rows):
    response = _action(admin_client, "oauthclient", "revoke_client_tokens", [rows["client"].pk])
    assert "Revoked 1 refresh and 1 access token" in response.content.decode()
    assert OAuthRefreshToken.objects.get(pk=rows["refresh"].pk).revoked is not None
    assert OAuthAccessToken.objects.get(pk=rows["access"].pk).revoked is not None


def test_revoke_selected_access_tokens_action(admin_client, rows):
    _action(admin_client, "oauthaccesstoken", "revoke_selected_tokens", [rows["access"].pk])
    assert validate_access_token("access-raw") is None
    assert OAuthRefreshToken.objects.get(pk=rows["refresh"].pk).revoked is None


def test_revoke_selected_refresh_tokens_also_revokes_minted_access_tokens(admin_client, rows):
    response = _action(
        admin_client, "oauthrefreshtoken", "revoke_selected_tokens", [rows["refresh"].pk]
    )
    assert "Revoked 1 refresh token(s) and 1 access token(s)" in response.content.decode()
    assert validate_access_token("access-raw") is None


def _form_data(response) -> dict[str, object]:
    form = response.context["adminform"].form
    data: dict[str, object] = {}
    for bound in form:
        value = bound.value()
        if value is None:
            continue
        data[bound.html_name] = value
    return data


def test_client_change_form_saves_and_applies_the_validation_rules(admin_client, rows):
    url = _url("oauthclient", "change", rows["client"].pk)
    data = _form_data(admin_client.get(url))
    data["name"] = "Renamed"
    assert admin_client.post(url, data).status_code == 302
    client = OAuthClient.objects.get(pk=rows["client"].pk)
    assert client.name == "Renamed"
    assert client.client_secret == rows["client"].client_secret  # untouched by the form
    data["redirect_uris"] = "http://insecure.example.com/cb"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "must use https" in response.content.decode()
    assert OAuthClient.objects.get(pk=rows["client"].pk).redirect_uris == [
        "https://client.example.com/callback"
    ]


def test_token_admins_offer_no_bulk_delete(rf, django_user_model):
    from django.contrib import admin as django_admin

    from beep_iam.models import OAuthAccessToken, OAuthRefreshToken

    superuser = django_user_model.objects.create_superuser("bulk@example.com", "pw", name="B")
    request = rf.get("/admin/")
    request.user = superuser
    for model in (OAuthAccessToken, OAuthRefreshToken):
        actions = django_admin.site._registry[model].get_actions(request)
        assert "delete_selected" not in actions
        assert "revoke_selected_tokens" in actions


def test_verification_rows_keyed_by_another_servers_id_are_listed(admin_client):
    # better-auth's reserveVerificationValue, and the DPoP replay store of either server,
    # key a verification row by a digest; one such row made the whole list a 500.
    row_id = "FxCDLbufy1HX_kUhz14-v60zl4ve8iA1rR2ndgvSGww"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO verification (id, identifier, value, expires_at) "
            "VALUES (%s, 'dpop-proof:abc', 'abc', now() + interval '1 hour')",
            [row_id],
        )
    listing = admin_client.get("/admin/beep_iam/verification/")
    assert listing.status_code == 200
    assert b"dpop-proof:" in listing.content
    found = admin_client.get("/admin/beep_iam/verification/", {"q": row_id})
    assert found.status_code == 200 and b"1 result" in found.content
    change = admin_client.get(f"/admin/beep_iam/verification/{row_id}/change/")
    assert change.status_code == 200
    assert b"abc" not in change.content.replace(b"dpop-proof:abc", b"")
