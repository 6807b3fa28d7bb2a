"""Empty means NULL for unique optional user columns, and bad input
to admin pages is a 4xx page or a form error, never a server error."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.test import Client
from django.urls import reverse

from beep_iam import validators
from beep_shared.admin.pagination import LargeTablePaginator
from beep_shared.models import User
from tests.admin.admin_forms import post_form
from tests.factories import OAuthClientFactory, SessionFactory, UserFactory

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


# -- item 11: empty means NULL ------------------------------------------------------------


def test_the_user_form_saves_empty_username_and_phone_as_null(admin_client):
    first, second = UserFactory(email="first@example.com"), UserFactory(email="second@example.com")
    for user in (first, second):
        response = post_form(admin_client, change_url(user), username="", phone_number=" ")
        assert response.status_code == 302, response.content.decode()[-3000:]
        user.refresh_from_db()
        assert (user.username, user.phone_number) == (None, None)


def test_the_model_stores_empty_username_and_phone_as_null():
    for email in ("a@example.com", "b@example.com"):
        user = UserFactory(email=email, username="", phone_number="")
        user.full_clean(exclude=["password"])
        user.refresh_from_db()
        assert (user.username, user.phone_number) == (None, None)


# -- item 12: bad input is a 4xx ------------------------------------------------------------


def test_a_huge_page_number_on_a_large_list_is_a_400(admin_client, monkeypatch):
    monkeypatch.setattr(LargeTablePaginator, "exact_count_limit", 2)
    SessionFactory.create_batch(4)
    url = reverse("admin:beep_shared_session_changelist")
    assert admin_client.get(url, {"p": "3"}).status_code == 200  # beyond the estimate: fine
    response = admin_client.get(url, {"p": "99999999999999999999"})
    assert response.status_code == 400
    assert "p: " in response.content.decode()


@pytest.mark.parametrize(
    ("url", "query"),
    [
        ("admin:beep_iam_oauthaccesstoken_changelist", {"client__exact": "abc\x00def"}),
        ("admin:beep_iam_oauthclient_changelist", {"q": "abc\x00def"}),
        ("admin:beep_shared_session_changelist", {"user_agent": "a\x00"}),
        ("admin:beep_shared_user_changelist", {"q": "a\x00b"}),
    ],
    ids=["client-filter", "search", "lookup", "user-search"],
)
def test_nul_in_a_filter_or_search_is_a_400(admin_client, url, query):
    response = admin_client.get(reverse(url), query)
    assert response.status_code == 400
    assert "null character" in response.content.decode().lower()


@pytest.mark.parametrize(
    "url", ["admin:beep_shared_session_changelist", "admin:beep_shared_user_changelist"]
)
@pytest.mark.parametrize(
    "query",
    [
        {"created_at__year": "99999999999"},
        {"created_at__year": "10000"},
        {"created_at__year__gte": "0"},
        {"created_at__year__in": "2026,123456"},
        {"created_at__month": "13"},
    ],
    ids=["overflow", "year-10000", "year-0", "in", "month"],
)
def test_a_date_part_out_of_range_is_a_400(admin_client, url, query):
    response = admin_client.get(reverse(url), query)
    assert response.status_code == 400
    assert "must be a whole number from" in response.content.decode()


@pytest.mark.parametrize(
    ("model", "model_admin"), REGISTERED, ids=lambda v: getattr(v, "__name__", "")
)
def test_nul_in_an_object_id_is_a_4xx(admin_client, model, model_admin):
    opts = model._meta
    bad = quote("abc\x00def")  # the admin's own escaping: abc_00def
    for view in ("change", "delete", "history"):
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[bad])
        status = admin_client.get(url).status_code
        assert status in (302, 403, 404), (view, status)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/beep_shared/organization/abc_00def/activate/",
        "/admin/beep_iam/oauthclient/abc_00def/rotate-secret/",
        "/admin/beep_iam/oauthaccesstoken/abc_00def/revoke/",
    ],
)
def test_nul_in_an_object_id_of_a_button_is_a_404(admin_client, url):
    assert admin_client.post(url).status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [("contacts", "ops@example.com\nnul\x00@example.com"), ("metadata", '{"a": "x\\u0000"}')],
    ids=["lines", "json"],
)
def test_nul_in_a_form_is_a_form_error(admin_client, field, value):
    client = OAuthClientFactory(name="Nul")
    response = post_form(admin_client, change_url(client), **{field: value})
    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()


DEEP = "[" * 200_000 + "]" * 200_000


def test_deeply_nested_json_is_a_form_error(admin_client):
    client = OAuthClientFactory(name="Deep")
    response = post_form(admin_client, change_url(client), metadata=DEEP)
    assert response.status_code == 200
    assert "metadata" in response.content.decode()
    client.refresh_from_db()
    assert client.metadata is None


def test_deeply_nested_metadata_is_refused_by_the_service_rule():
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(Exception) as caught:
        validators.validate_metadata(nested)
    assert caught.type.__name__ == "ValidationError"
    assert "metadata" in str(caught.value)


def test_adding_a_session_twice_is_no_server_error(admin_client, superuser):
    url = reverse("admin:beep_shared_session_add")
    data = {"user": superuser.pk, "expires_at_0": "2099-01-01", "expires_at_1": "00:00:00"}
    for _ in range(2):
        assert admin_client.post(url, data).status_code == 403
    assert not superuser.sessions.filter(token="").exists()


MALFORMED = [
    "pbkdf2_sha256$1$broken",
    "pbkdf2_sha256$-1$salt$hash",
    "pbkdf2_sha256$99999999999999999999$salt$hash",
    "scrypt$x$y$z$w$v",
    "md5$nosalt",
]


@pytest.mark.parametrize("stored", MALFORMED)
def test_a_malformed_password_hash_shows_and_logs_in_without_error(admin_client, stored, settings):
    # The production hashers (the test settings keep MD5 only, which knows none of these).
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    ]
    victim = UserFactory(email="hashed@example.com", is_staff=True)
    User.objects.filter(pk=victim.pk).update(password=stored)
    page = admin_client.get(change_url(victim))
    assert page.status_code == 200
    login = Client().post(
        reverse("admin:login"), {"username": "hashed@example.com", "password": "anything"}
    )
    assert login.status_code == 200
    assert "correct email" in login.content.decode()  # the ordinary "wrong login" form error
