"""The admin as people use it: names, forms, related links, organization switching,
one-time secrets, client registration and rotation, revoking, bad input."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from beep_iam.models import ApiKey, OAuthAccessToken, OAuthClient, OAuthConsent, ScimProvider
from beep_iam.services.oauth_clients import authenticate_client
from beep_iam.services.oauth_errors import InvalidClient
from beep_shared import crypto
from beep_shared.admin.related import RelatedLink
from beep_shared.models import Organization
from beep_shared.rls import bypass_rls
from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY
from tests import factories
from tests.factories import (
    MemberFactory,
    OAuthAccessTokenFactory,
    OAuthClientFactory,
    OAuthConsentFactory,
    OAuthRefreshTokenFactory,
    OrganizationFactory,
    SessionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
# The superuser's cross-tenant pages and the "work here" offers read on the bypass alias, a
# separate login: it sees committed rows only.
committed_rows = pytest.mark.django_db(transaction=True)

ENTITY_ID = re.compile(r"[a-z_]+__[0-9a-f]{8}-[0-9a-f]{4}-")


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


def changelist_url(model) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


def text(response) -> str:
    return html.unescape(" ".join(response.content.decode().split()))


# -- names ---------------------------------------------------------------------------------


@committed_rows
@pytest.mark.parametrize(
    "factory",
    [
        factories.MemberFactory,
        factories.TeamMemberFactory,
        factories.InvitationFactory,
        factories.OAuthConsentFactory,
        factories.SessionFactory,
        factories.TwoFactorFactory,
        factories.OAuthAccessTokenFactory,
        factories.OAuthRefreshTokenFactory,
        factories.AccountFactory,
        factories.SubscriptionFactory,
    ],
    ids=lambda f: f._meta.model.__name__,
)
def test_rows_are_named_by_emails_and_names_not_ids(admin_client, factory):
    obj = factory()
    assert not ENTITY_ID.search(str(obj)), str(obj)
    page = admin_client.get(change_url(obj)).content.decode()
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    heading = re.search(r'<div id="content"[^>]*>.*?<h2>(.*?)</h2>', page, re.S).group(1)
    assert not ENTITY_ID.search(title) and not ENTITY_ID.search(heading)
    assert str(obj) in heading


def test_names_read_as_people_write_them(admin_client):
    index = text(admin_client.get(reverse("admin:index")))
    for name in ("API keys", "SCIM providers", "SSO providers", "Identity", "Access and OAuth"):
        assert name in index
    for wrong in ("Api keys", "Scim providers", "Sso providers", "Beep shared"):
        assert wrong not in index


def test_every_list_writes_date_times_alike(admin_client):
    UserFactory(email="dated@example.com")
    page = admin_client.get(changelist_url(UserFactory._meta.model)).content.decode()
    assert re.search(
        r'<td class="field-created_at"><span class="nowrap">\d{4}-\d\d-\d\d \d\d:\d\d', page
    )
    assert " p.m." not in page and " a.m." not in page


# -- forms ---------------------------------------------------------------------------------


def test_client_form_has_one_line_inputs_list_boxes_and_empty_json(admin_client):
    client = OAuthClientFactory(
        name="Form Client", redirect_uris=["https://a.example.com/cb", "https://b.example.com/cb"]
    )
    page = admin_client.get(change_url(client)).content.decode()
    assert re.search(r'<input type="text" name="name" value="Form Client"', page)
    assert re.search(r'<input type="text" name="jwks_uri"', page)
    assert '<textarea name="name"' not in page
    uris = re.search(r'<textarea name="redirect_uris"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert uris.strip().splitlines() == ["https://a.example.com/cb", "https://b.example.com/cb"]
    assert "One per line." in page
    metadata = re.search(r'<textarea name="metadata"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert metadata.strip() == ""
    # Identity first: the name and client id come before the redirect URIs.
    assert page.index('name="name"') < page.index("field-client_id") < page.index("redirect_uris")


def client_form_data(client: OAuthClient, **changes):
    data = {
        "name": client.name,
        "redirect_uris": "\n".join(client.redirect_uris),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": client.grant_types,
        "response_types": client.response_types,
        "user": client.user_id or "",
        "scopes": "\n".join(client.scopes or []),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_client_change_form_saves_lists_line_by_line(admin_client):
    client = OAuthClientFactory(name="Lines")
    response = admin_client.post(
        change_url(client),
        client_form_data(
            client,
            redirect_uris="https://one.example.com/cb\n\n  https://two.example.com/cb  \n",
            scopes="openid\nprofile",
        ),
    )
    assert response.status_code == 302, text(response)[-2000:]
    client.refresh_from_db()
    assert client.redirect_uris == ["https://one.example.com/cb", "https://two.example.com/cb"]
    assert client.scopes == ["openid", "profile"]
    assert client.metadata is None  # the empty box stays NULL, not the JSON text "null"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://k.example.com/j"},
            "must be an https URI",
        ),
        ({"token_endpoint_auth_method": "none"}, "has no secret"),
        ({"redirect_uris": "http://evil.example.com/cb"}, "must use https"),
    ],
    ids=["jwks-over-http", "public-with-secret", "http-redirect"],
)
def test_client_change_form_refuses_what_registration_refuses(admin_client, changes, message):
    client = OAuthClientFactory(name="Strict")
    before = (client.token_endpoint_auth_method, client.jwks_uri, client.redirect_uris)
    response = admin_client.post(change_url(client), client_form_data(client, **changes))
    assert response.status_code == 200 and message in text(response)
    client.refresh_from_db()
    assert (client.token_endpoint_auth_method, client.jwks_uri, client.redirect_uris) == before


def test_consent_form_refuses_scopes_the_client_may_not_request(admin_client):
    consent = OAuthConsentFactory(client=OAuthClientFactory(scopes=["openid", "profile"]))
    url = change_url(consent)
    response = admin_client.post(url, {"scopes": "openid\nadmin"})
    assert response.status_code == 200 and "admin" in text(response)
    assert "not allowed for client" in text(response)
    response = admin_client.post(url, {"scopes": "openid\nprofile"})
    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.scopes == ["openid", "profile"]


# -- related links -------------------------------------------------------------------------


def related_hrefs(page: str) -> dict[str, str]:
    block = re.search(r'<ul class="beep-related">(.*?)</ul>', page, re.S)
    assert block, "no related links on the page"
    return {
        label: href.replace("&amp;", "&")
        for href, label in re.findall(r'<a href="([^"]+)">([^<]+)</a>', block.group(1))
    }


ADMINS_WITH_LINKS = [
    (model, model_admin)
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda i: i[0]._meta.label)
    if getattr(model_admin, "related_links", ())
]


@committed_rows
@pytest.mark.parametrize(
    ("model", "model_admin"), ADMINS_WITH_LINKS, ids=lambda v: getattr(v, "__name__", "")
)
def test_every_related_link_opens_a_filtered_list(admin_client, model, model_admin):
    from tests.admin.test_admin_pages import factory_for

    obj = factory_for(model)()
    hrefs = related_hrefs(admin_client.get(change_url(obj)).content.decode())
    assert set(hrefs) == {link.label for link in model_admin.related_links}
    for href in hrefs.values():
        assert admin_client.get(href).status_code == 200, href


def test_each_related_link_filters_an_indexed_column():
    """The foreign key column of every link leads some index, so the filtered list is an
    index scan however large the table."""
    links: list[RelatedLink] = [
        link for _, model_admin in ADMINS_WITH_LINKS for link in model_admin.related_links
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.relname, a.attname FROM pg_index i "
            "JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]"
        )
        leading = set(cursor.fetchall())
    for link in links:
        field = link.foreign_key()
        assert (field.model._meta.db_table, field.column) in leading, link


def link_labels(page: str) -> list[str]:
    block = re.search(r'<ul class="beep-related">(.*?)</ul>', page, re.S)
    assert block, "no related links on the page"
    return re.findall(r'<a href="[^"]+">([^<]+)</a>', block.group(1))


@committed_rows
def test_beep_iam_links_sit_among_the_shared_ones_in_page_order(admin_client):
    """beep_iam registers its links into beep_shared's admins (beep_iam.admin.links); the
    pages show them in the order they had when beep_shared named them itself."""
    user = UserFactory()
    organization = OrganizationFactory()
    team = factories.TeamFactory(organization=organization)
    assert link_labels(admin_client.get(change_url(user)).content.decode()) == [
        "Sessions",
        "Memberships",
        "Team memberships",
        "Accounts",
        "Passkeys",
        "Two-factor",
        "API keys",
        "OAuth clients",
        "Access tokens",
        "Refresh tokens",
        "Consents",
        "Owned organizations",
        "Invitations sent",
        "Wallet addresses",
    ]
    assert link_labels(admin_client.get(change_url(organization)).content.decode()) == [
        "Members",
        "Teams",
        "Invitations",
        "Subscriptions",
        "Roles",
        "API keys",
        "SSO providers",
        "SCIM providers",
    ]
    assert link_labels(admin_client.get(change_url(team)).content.decode()) == ["Team members"]


def test_registering_a_link_twice_adds_it_once_and_an_unknown_anchor_is_named():
    from django.core.exceptions import ImproperlyConfigured

    from beep_shared.admin.organization import TeamAdmin
    from beep_shared.admin.related import register_related_links

    before = TeamAdmin.related_links
    register_related_links(TeamAdmin, *before)
    assert TeamAdmin.related_links == before
    with pytest.raises(ImproperlyConfigured, match="TeamAdmin has no related link 'Nope'"):
        register_related_links(
            TeamAdmin, RelatedLink("X", "beep_shared.Session", "user"), before="Nope"
        )
    assert TeamAdmin.related_links == before


@committed_rows
def test_organization_to_members_to_user_to_tokens(admin_client):
    acme = OrganizationFactory(name="Acme Links")
    alice = UserFactory(email="alice-links@example.com")
    MemberFactory(organization=acme, user=alice)
    MemberFactory(organization=OrganizationFactory(name="Elsewhere"))
    mine = OAuthAccessTokenFactory(user=alice)
    other = OAuthAccessTokenFactory()

    members = admin_client.get(
        related_hrefs(admin_client.get(change_url(acme)).content.decode())["Members"]
    )
    page = text(members)
    assert "alice-links@example.com" in page and "Elsewhere" not in page
    assert "Acme Links" in page  # the filter names the organization it is filtered on
    user_link = re.search(rf'href="({re.escape(change_url(alice))})"', members.content.decode())
    assert user_link
    tokens = admin_client.get(
        related_hrefs(admin_client.get(change_url(alice)).content.decode())["Access tokens"]
    ).content.decode()
    assert mine.pk[-12:] in tokens and other.pk[-12:] not in tokens


def test_related_links_cost_no_query_and_count_nothing(admin_client):
    """A change page issues as many queries with 1 or 20 rows pointing at it, none a COUNT."""
    client = OAuthClientFactory()
    user = UserFactory()
    OAuthAccessTokenFactory(client=client, user=user)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            for obj in (client, user):
                assert admin_client.get(change_url(obj)).status_code == 200
        return [q["sql"] for q in captured]

    queries()  # warms Django's content-type cache, which a cold start fills once
    few = queries()
    OAuthAccessTokenFactory.create_batch(20, client=client, user=user)
    OAuthConsentFactory(client=client, user=user)
    SessionFactory.create_batch(3, user=user)
    many = queries()
    assert len(many) == len(few)
    assert not [sql for sql in many if "COUNT(" in sql.upper()]
    for table in ("oauth_access_token", "oauth_consent", "session"):
        assert not [sql for sql in many if f'FROM "{table}"' in sql], table


def test_filtered_list_of_a_related_link_counts_within_its_limit(admin_client):
    client = OAuthClientFactory()
    OAuthAccessTokenFactory.create_batch(3, client=client)
    url = changelist_url(OAuthAccessToken) + f"?client__exact={client.client_id}"
    with CaptureQueriesContext(connection) as captured:
        page = text(admin_client.get(url))
    assert "3 OAuth access tokens" in page
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts)


@committed_rows
def test_members_are_found_by_the_organization_name(admin_client):
    member = MemberFactory(organization=OrganizationFactory(name="Findable Org"))
    MemberFactory()
    page = text(admin_client.get(changelist_url(member._meta.model), {"q": "Findable Org"}))
    assert "1 result" in page and member.user.email in page


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"ip_address": "not-an-ip"}, "ip_address: Enter a valid IPv4 or IPv6 address."),
        ({"ip_address__exact": "not-an-ip"}, "ip_address__exact: Enter a valid IPv4 or IPv6"),
        ({"user__id__exact": "garbage"}, "user__id__exact: 'garbage' is not a valid user id"),
        ({"user": "x" * 10_000}, "is not a valid user id"),
    ],
    ids=["param", "filter", "user-filter", "huge"],
)
def test_a_filter_value_the_column_cannot_hold_is_a_400(admin_client, query, message):
    SessionFactory(ip_address="10.0.0.1")
    response = admin_client.get(changelist_url(SessionFactory._meta.model), query)
    assert response.status_code == 400
    page = text(response)
    assert message in page
    assert "x" * 200 not in page  # echoed values are cut short


def test_a_good_ip_filter_still_filters(admin_client):
    mine, other = SessionFactory(ip_address="10.1.2.3"), SessionFactory(ip_address="10.1.2.4")
    page = text(admin_client.get(changelist_url(mine._meta.model), {"ip_address": "10.1.2.3"}))
    assert mine.user.email in page and other.user.email not in page


@pytest.mark.parametrize("bad", ["not-an-id", "organization__nope", "x" * 5000])
def test_activating_a_bad_organization_id_is_a_404(admin_client, bad):
    response = admin_client.post(f"/admin/beep_shared/organization/{bad}/activate/")
    assert response.status_code == 404


def test_revoking_or_rotating_a_bad_id_is_a_404(admin_client):
    assert admin_client.post("/admin/beep_iam/oauthaccesstoken/nope/revoke/").status_code == 404
    assert admin_client.post("/admin/beep_iam/oauthclient/nope/rotate-secret/").status_code == 404


# -- organization switching ------------------------------------------------------------------


def staff_client(user) -> Client:
    from django.contrib.auth.models import Permission

    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_organization", "view_team"])
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token(client: Client, url: str) -> str:
    page = client.get(url).content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_switching_is_a_post_with_csrf(superuser):
    acme = OrganizationFactory(name="Post Only")
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    url = f"/admin/beep_shared/organization/{acme.pk}/activate/"
    assert client.get(url).status_code == 405  # a cross-site link switches nothing
    assert client.post(url).status_code == 403  # no CSRF token
    assert ACTIVE_TENANT_SESSION_KEY not in client.session
    token = csrf_token(client, "/admin/beep_shared/organization/")
    assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.session[ACTIVE_TENANT_SESSION_KEY] == acme.pk
    leave = "/admin/beep_shared/organization/deactivate/"
    assert client.get(leave).status_code == 405
    assert client.post(leave, {"csrfmiddlewaretoken": token}).status_code == 302
    assert ACTIVE_TENANT_SESSION_KEY not in client.session


@committed_rows
def test_work_here_is_offered_only_where_allowed_and_the_active_one_is_marked():
    staff = UserFactory(email="staff-offer@example.com", password="!")
    mine = OrganizationFactory(name="Mine Org")
    OrganizationFactory(name="Not Mine Org")
    MemberFactory(organization=mine, user=staff)
    client = staff_client(staff)
    listing = client.get("/admin/beep_shared/organization/").content.decode()
    rows = {
        name: row
        for row in re.findall(r"<tr>(.*?)</tr>", listing, re.S)
        for name in ("Mine Org", "Not Mine Org")
        if name in row
    }
    assert "Work here" in rows["Mine Org"] and "Work here" not in rows["Not Mine Org"]
    assert 'form="beep-switch-organization"' in rows["Mine Org"]
    assert 'id="beep-switch-organization" method="post"' in listing
    assert "<strong>No organization</strong>" in listing

    token = csrf_token(client, "/admin/beep_shared/organization/")
    client.post(
        f"/admin/beep_shared/organization/{mine.pk}/activate/", {"csrfmiddlewaretoken": token}
    )
    listing = client.get("/admin/beep_shared/organization/").content.decode()
    row = next(
        r
        for r in re.findall(r"<tr>(.*?)</tr>", listing, re.S)
        if "Mine Org" in r and "Not" not in r
    )
    assert "beep-active-marker" in row and "Leave" in row
    # Every list and form says where it looks, with a way out.
    assert re.search(
        r'id="beep-scope">Organization: <strong>Mine Org</strong>.*?Leave', listing, re.S
    )


def test_superuser_leaves_an_organization_for_the_all_organizations_view(admin_client):
    acme = OrganizationFactory(name="Leave Me")
    admin_client.post(f"/admin/beep_shared/organization/{acme.pk}/activate/")
    page = admin_client.get(change_url(acme)).content.decode()
    assert "Leave this organization" in page
    admin_client.post("/admin/beep_shared/organization/deactivate/")
    page = admin_client.get("/admin/beep_shared/team/").content.decode()
    assert "<strong>All organizations</strong>" in page


# -- one-time secrets ------------------------------------------------------------------------


def assert_shown_once(response, client: Client, raw: str) -> None:
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    cookies = [morsel.value for morsel in response.cookies.values()]
    cookies += [morsel.value for morsel in client.cookies.values()]
    assert not [value for value in cookies if raw in value]
    # Nothing waits in the message storage or the session either.
    session = client.session
    assert not [value for value in session.values() if raw in str(value)]
    later = client.get(reverse("admin:index")).content.decode()
    assert raw not in later


def shown_secret(response) -> str:
    (raw,) = re.findall(r'<code class="beep-secret">([^<]+)</code>', response.content.decode())
    return raw


@committed_rows
def test_api_key_is_shown_once_in_the_response_not_a_cookie(admin_client, superuser):
    org = OrganizationFactory()
    response = admin_client.post(
        "/admin/beep_iam/apikey/add/",
        {
            "name": "CI key",
            "user": superuser.pk,
            "organization": org.pk,
            "enabled": "on",
            "rate_limit_enabled": "on",
            "rate_limit_time_window": 86400000,
            "rate_limit_max": 10,
        },
    )
    raw = shown_secret(response)
    assert_shown_once(response, admin_client, raw)
    with bypass_rls():
        key = ApiKey.objects.get(name="CI key")
    assert key.key == crypto.digest(raw) and raw not in key.key
    assert raw not in admin_client.get(change_url(key)).content.decode()


@committed_rows
def test_scim_token_is_shown_once(admin_client):
    org = OrganizationFactory()
    response = admin_client.post(
        "/admin/beep_iam/scimprovider/add/", {"provider_id": "okta-once", "organization": org.pk}
    )
    raw = shown_secret(response)
    assert_shown_once(response, admin_client, raw)
    with bypass_rls():
        assert ScimProvider.objects.get(provider_id="okta-once").scim_token == crypto.digest(raw)


def test_register_a_client_in_the_admin_shows_its_secret_once(admin_client, superuser):
    response = admin_client.post(
        "/admin/beep_iam/oauthclient/add/",
        {
            "name": "Admin Registered",
            "redirect_uris": "https://registered.example.com/cb",
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scopes": "openid\nemail",
            "user": superuser.pk,
        },
    )
    raw = shown_secret(response)
    assert_shown_once(response, admin_client, raw)
    client = OAuthClient.objects.get(name="Admin Registered")
    assert client.client_id in text(response)
    assert client.public is False and client.scopes == ["openid", "email"]
    assert authenticate_client(client.client_id, raw) == client
    assert raw not in admin_client.get(change_url(client)).content.decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"redirect_uris": "http://insecure.example.com/cb"}, "must use https"),
        (
            {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
            "cannot use 'client_credentials'",
        ),
        (
            {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://k.example.com"},
            "must be an https URI",
        ),
        ({"response_types": []}, "must include 'code'"),
    ],
    ids=["http", "public-client-credentials", "jwks-http", "no-code"],
)
def test_register_a_client_in_the_admin_applies_the_registration_rules(
    admin_client, changes, message
):
    data = {
        "name": "Refused",
        "redirect_uris": "https://ok.example.com/cb",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        **changes,
    }
    response = admin_client.post("/admin/beep_iam/oauthclient/add/", data)
    assert response.status_code == 200 and message in text(response)
    assert 'class="beep-secret"' not in response.content.decode()
    assert not OAuthClient.objects.filter(name="Refused").exists()


def test_rotate_secret_button_shows_the_new_secret_once(admin_client):
    client = OAuthClientFactory(raw_secret="before-rotation", client_id="rotating")
    page = admin_client.get(change_url(client)).content.decode()
    url = reverse("admin:beep_iam_oauthclient_rotate_secret", args=[quote(client.pk)])
    assert f'action="{url}"' in page and "Rotate secret" in page
    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url)
    raw = shown_secret(response)
    assert_shown_once(response, admin_client, raw)
    assert authenticate_client("rotating", raw) == client
    with pytest.raises(InvalidClient):
        authenticate_client("rotating", "before-rotation")


def test_public_clients_offer_no_rotation(admin_client):
    client = OAuthClientFactory(public_client=True)
    assert "Rotate secret" not in admin_client.get(change_url(client)).content.decode()


# -- revoking from the token page -------------------------------------------------------------


def test_revoke_a_token_from_its_page(admin_client):
    token = OAuthAccessTokenFactory()
    page = admin_client.get(change_url(token)).content.decode()
    url = reverse("admin:beep_iam_oauthaccesstoken_revoke", args=[quote(token.pk)])
    assert f'action="{url}"' in page
    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url, follow=True)
    token.refresh_from_db()
    assert token.revoked is not None
    assert "Revoked 1 token(s)." in text(response)
    assert f'action="{url}"' not in response.content.decode()  # nothing left to revoke


def test_revoke_a_refresh_token_from_its_page_revokes_what_it_minted(admin_client):
    refresh = OAuthRefreshTokenFactory()
    minted = OAuthAccessTokenFactory(
        client=refresh.client, user=refresh.user, oauth_refresh_token=refresh
    )
    admin_client.post(reverse("admin:beep_iam_oauthrefreshtoken_revoke", args=[refresh.pk]))
    refresh.refresh_from_db()
    minted.refresh_from_db()
    assert refresh.revoked is not None and minted.revoked is not None


def test_revoking_needs_the_change_permission():
    from django.contrib.auth.models import Permission

    viewer = UserFactory(is_staff=True, password="!")
    viewer.user_permissions.add(Permission.objects.get(codename="view_oauthaccesstoken"))
    client = Client()
    client.force_login(viewer)
    token = OAuthAccessTokenFactory()
    assert "/revoke/" not in client.get(change_url(token)).content.decode()
    response = client.post(reverse("admin:beep_iam_oauthaccesstoken_revoke", args=[token.pk]))
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.revoked is None


def test_organization_list_marks_nothing_active_for_a_fresh_superuser(admin_client):
    OrganizationFactory(name="Plain Org")
    page = admin_client.get("/admin/beep_shared/organization/").content.decode()
    assert "beep-active-marker" not in page and "Work here" in page
    assert Organization.objects.count() >= 1
    assert OAuthConsent.objects.count() == 0
