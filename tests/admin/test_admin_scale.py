"""The admin stays cheap on large tables: bounded counts, id inputs for relations, cheap filters.

Large tables are simulated by lowering the paginator's exact-count limit to a few rows.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.admin import widgets
from django.core.paginator import EmptyPage
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from beep_shared.admin import SessionAdmin
from beep_shared.admin.base import TableAdmin
from beep_shared.admin.filters import ExactValueFilter
from beep_shared.admin.pagination import LargeTablePaginator
from beep_shared.models import Session, Team
from tests.factories import SessionFactory, TeamFactory, UserFactory
from tests.owner import OWNER_ALIAS

pytestmark = pytest.mark.django_db

LIMIT = 5


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(LargeTablePaginator, "exact_count_limit", LIMIT)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root@example.com", "pw", name="Root")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


# ANALYZE is the tables' owner's (PostgreSQL < 17 has no MAINTAIN privilege): the tests
# that need fresh statistics commit their rows, so the owner's connection sees them.
ANALYZED = pytest.mark.django_db(transaction=True, databases="__all__")


def analyze(table):
    """Fresh planner statistics, so estimates are predictable."""
    with connections[OWNER_ALIAS].cursor() as cursor:
        cursor.execute(f'ANALYZE "{table}"')


def count_queries(captured):
    return [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]


def unbounded_counts(captured, table):
    """COUNT queries over ``table`` without a LIMIT: the full scans this design avoids."""
    return [
        sql for sql in count_queries(captured) if f'"{table}"' in sql and "LIMIT" not in sql.upper()
    ]


def test_count_is_exact_below_the_limit_and_uses_a_bounded_query(small_limit):
    SessionFactory.create_batch(3)
    paginator = LargeTablePaginator(Session.objects.order_by("-row_id"), 2)
    with CaptureQueriesContext(connection) as captured:
        assert paginator.count == 3
    assert paginator.count_is_exact and paginator.count_qualifier == ""
    (sql,) = count_queries(captured)
    assert f"LIMIT {LIMIT + 1}" in sql
    assert paginator.num_pages == 2
    with pytest.raises(EmptyPage):
        paginator.page(3)


@ANALYZED
def test_count_above_the_limit_is_the_planner_estimate(small_limit):
    SessionFactory.create_batch(12)
    analyze("session")
    paginator = LargeTablePaginator(Session.objects.order_by("-row_id"), 5)
    with CaptureQueriesContext(connection) as captured:
        count = paginator.count
    assert count == 12  # ANALYZE just counted the table: the estimate is exact here
    assert paginator.count_qualifier == "about" and not paginator.count_is_exact
    assert unbounded_counts(captured, "session") == []
    assert any(re.search(r"(^|;\s*)EXPLAIN ", q["sql"]) for q in captured)


def test_an_underestimated_count_is_reported_as_a_lower_bound(small_limit, monkeypatch):
    SessionFactory.create_batch(8)
    monkeypatch.setattr("beep_shared.admin.pagination.planner_row_estimate", lambda qs: 1)
    paginator = LargeTablePaginator(Session.objects.order_by("-row_id"), 5)
    assert paginator.count == LIMIT
    assert paginator.count_qualifier == "more than"


@ANALYZED
def test_approximate_counts_accept_any_page_from_one(small_limit):
    sessions = SessionFactory.create_batch(12)
    analyze("session")
    paginator = LargeTablePaginator(Session.objects.order_by("row_id"), 5)
    assert [s.pk for s in paginator.page(3)] == [s.pk for s in sessions[10:]]
    assert list(paginator.page(40)) == []  # past the end: empty, not an error
    with pytest.raises(EmptyPage):
        paginator.page(0)


@ANALYZED
def test_changelist_of_a_large_table_says_about_and_never_counts_it_all(
    small_limit, admin_client, monkeypatch
):
    monkeypatch.setattr(admin.site._registry[Session], "list_per_page", 5)
    SessionFactory.create_batch(12)
    analyze("session")
    url = reverse("admin:beep_shared_session_changelist")
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(url)
    page = response.content.decode()
    assert response.status_code == 200
    assert "about 12 sessions" in " ".join(page.split())
    assert unbounded_counts(captured, "session") == []
    # Page links are drawn from the estimate, and the last page lists the remaining rows.
    assert 'href="?p=3"' in page
    last = admin_client.get(url, {"p": "3"}).content.decode()
    assert last.count('class="action-select"') == 2


def test_search_results_are_counted_exactly(small_limit, admin_client):
    session = SessionFactory(user=UserFactory(email="needle@example.com"))
    SessionFactory.create_batch(7)
    url = reverse("admin:beep_shared_session_changelist")
    response = admin_client.get(url, {"q": "needle@example.com"})
    page = " ".join(response.content.decode().split())
    assert "1 result" in page and "1 session" in page
    assert session.pk in page


def test_facet_counts_are_never_computed(admin_client):
    SessionFactory()
    url = reverse("admin:beep_iam_account_changelist")
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(url, {"_facets": "1"})
    assert response.status_code == 200
    assert count_queries(captured) == [sql for sql in count_queries(captured) if "LIMIT" in sql]
    assert "Show counts" not in response.content.decode()


class TeamWithoutRawIds(TableAdmin):
    """Declares nothing about its relation: TableAdmin must still avoid a <select>."""


class TeamWithDropdown(TableAdmin):
    dropdown_fields = ("organization",)


def test_relations_are_edited_by_id_unless_a_dropdown_is_asked_for(rf, superuser):
    request = rf.get("/")
    request.user = superuser
    team = TeamFactory()

    form = TeamWithoutRawIds(Team, admin.site).get_form(request, team)
    assert isinstance(form.base_fields["organization"].widget, widgets.ForeignKeyRawIdWidget)

    form = TeamWithDropdown(Team, admin.site).get_form(request, team)
    assert not isinstance(form.base_fields["organization"].widget, widgets.ForeignKeyRawIdWidget)


@pytest.mark.parametrize(
    "model_admin",
    [ma for ma in admin.site._registry.values() if isinstance(ma, TableAdmin)],
    ids=lambda ma: type(ma).__name__,
)
def test_no_registered_table_admin_renders_a_select_of_related_rows(rf, superuser, model_admin):
    request = rf.get("/")
    request.user = superuser
    form = model_admin.get_form(request)
    for name, field in form.base_fields.items():
        relation = getattr(field, "queryset", None) is not None
        if relation and name not in model_admin.dropdown_fields:
            widget = getattr(field.widget, "widget", field.widget)  # unwrap the +/edit icons
            assert isinstance(
                widget, (widgets.ForeignKeyRawIdWidget, widgets.AutocompleteSelect)
            ), f"{type(model_admin).__name__}.{name} renders every related row"


class SessionByUser(SessionAdmin):
    list_filter = [("user", ExactValueFilter), ("ip_address", ExactValueFilter)]


def render_changelist(model_admin, rf, superuser, params):
    request = rf.get("/", params)
    request.user = superuser
    response = model_admin.changelist_view(request)
    response.render()
    return " ".join(response.content.decode().split())


def test_exact_value_filter_filters_on_the_column_and_keeps_other_parameters(rf, superuser):
    mine, other = SessionFactory(ip_address="10.0.0.1"), SessionFactory(ip_address="10.0.0.1")
    model_admin = SessionByUser(Session, admin.site)

    page = render_changelist(model_admin, rf, superuser, {"user__id__exact": mine.user_id})
    assert mine.pk in page and other.pk not in page
    # The box shows the value; the other filter's form carries it along as a hidden input.
    assert f'name="user__id__exact" value="{mine.user_id}"' in page
    hidden = f'type="hidden" name="user__id__exact" value="{mine.user_id}"'
    assert hidden in page

    page = render_changelist(model_admin, rf, superuser, {"user__id__exact": ""})
    assert mine.pk in page and other.pk in page  # an empty box is no filter


def test_exact_value_filter_reads_no_related_table(rf, superuser):
    UserFactory.create_batch(3)
    SessionFactory()
    with CaptureQueriesContext(connection) as captured:
        render_changelist(SessionByUser(Session, admin.site), rf, superuser, {})
    from_user_table = [q["sql"] for q in captured if re.search(r'FROM "user"(?! INNER)', q["sql"])]
    # Only the request's own user is loaded (the session/auth lookup), never the user list.
    assert len(from_user_table) <= 1, from_user_table


class SessionFilteredByUserList(SessionAdmin):
    list_filter = ("user", "expires_at")


def test_check_warns_about_filters_that_list_a_whole_table():
    warnings = SessionFilteredByUserList(Session, admin.site).check()
    assert [w.id for w in warnings] == ["beep_shared.W001"]
    assert "'user'" in warnings[0].msg and "ExactValueFilter" in str(warnings[0].hint)
    assert SessionByUser(Session, admin.site).check() == []


def test_action_checkbox_markup_is_djangos():
    session = SessionFactory()
    model_admin = admin.site._registry[Session]
    assert model_admin.action_checkbox(session) == admin.ModelAdmin.action_checkbox(
        model_admin, session
    )


def test_result_count_beside_the_search_box_only_for_a_search_or_filter(admin_client):
    user = UserFactory(email="twice@example.com")
    SessionFactory.create_batch(2, user=user)
    SessionFactory()
    url = reverse("admin:beep_shared_session_changelist")
    assert "results (" not in " ".join(admin_client.get(url).content.decode().split())
    filtered = admin_client.get(url, {"q": "twice@example.com"}).content.decode()
    assert "2 results (" in " ".join(filtered.split())


@pytest.mark.parametrize("pk", ["session__0190b5a0-0000-7000-8000-000000000001", "a/b_c?d"])
def test_row_links_match_djangos(rf, superuser, pk):
    from django.contrib.admin.views.main import ChangeList

    request = rf.get("/")
    request.user = superuser
    changelist = admin.site._registry[Session].get_changelist_instance(request)
    row = Session(id=pk) if pk.startswith("session__") else type("Row", (), {"id": pk})()
    expected = ChangeList.url_for_result(changelist, row)
    assert changelist.url_for_result(row) == expected
    assert changelist.url_for_result(row) == expected  # from the cached template


def test_date_times_in_lists_are_quick_columns_that_sort_like_the_field(admin_client):
    from datetime import UTC, datetime

    sooner = SessionFactory(expires_at=datetime(2030, 1, 1, 0, 0, tzinfo=UTC))
    later = SessionFactory(expires_at=datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC))
    url = reverse("admin:beep_shared_session_changelist")
    page = admin_client.get(url).content.decode()
    assert '<td class="field-expires_at"><span class="nowrap">2031-02-03 04:05</span></td>' in page
    assert page.index(later.pk) < page.index(sooner.pk)  # newest rows first by default

    # The column header sorts by the field, like Django's own date column.
    header = re.search(r'class="sortable column-expires_at">.*?href="(\?o=[^"]+)"', page, re.S)
    assert header is not None
    ordered = admin_client.get(url + header.group(1).replace("&amp;", "&")).content.decode()
    assert ordered.index(sooner.pk) < ordered.index(later.pk)


class TestExactSearch:
    @pytest.fixture
    def tokens(self):
        from tests.factories import OAuthAccessTokenFactory, OAuthClientFactory

        client = OAuthClientFactory(client_id="exact-client")
        alice = UserFactory(email="alice-exact@example.com")
        return {
            "by_client": OAuthAccessTokenFactory(client=client),
            "by_user": OAuthAccessTokenFactory(user=alice),
            "other": OAuthAccessTokenFactory(),
        }

    def search(self, term):
        from beep_iam.models import OAuthAccessToken
        from beep_shared.admin.search import exact_search

        queryset = exact_search(
            OAuthAccessToken.objects.all(), ("id", "client", "user__email"), term
        )
        return queryset, {token.pk for token in queryset}

    def test_each_field_matches_exactly(self, tokens):
        assert self.search("exact-client")[1] == {tokens["by_client"].pk}
        assert self.search("alice-exact@example.com")[1] == {tokens["by_user"].pk}
        assert self.search(tokens["other"].pk)[1] == {tokens["other"].pk}
        assert self.search("EXACT-CLIENT")[1] == set()  # exact, so an index answers it
        assert self.search("nothing like it")[1] == set()
        assert len(self.search("  ")[1]) == 3  # no term, no filter

    def test_the_condition_stays_on_indexed_columns_of_one_table(self, tokens):
        queryset, _ = self.search("alice-exact@example.com")
        sql = str(queryset.query)
        assert "UPPER(" not in sql and 'JOIN "user"' not in sql
        assert '"oauth_access_token"."user_id" IN' in sql

    def test_many_related_matches_go_through_a_subquery(self, tokens, monkeypatch):
        monkeypatch.setattr("beep_shared.admin.search.MAX_RELATED_KEYS", 0)
        queryset, found = self.search("alice-exact@example.com")
        assert found == {tokens["by_user"].pk}
        # Django 6.1 quotes the subquery alias ("U0"), 5.2 does not: compare without quotes.
        assert "IN (SELECT U0.id AS id FROM user U0" in str(queryset.query).replace('"', "")

    def test_a_path_that_is_not_a_relation_is_refused(self):
        from beep_iam.models import OAuthAccessToken
        from beep_shared.admin.search import exact_search

        with pytest.raises(ValueError, match="must follow foreign keys"):
            exact_search(OAuthAccessToken.objects.all(), ("scopes__x",), "openid")
        with pytest.raises(ValueError, match="has no field 'nope'"):
            exact_search(OAuthAccessToken.objects.all(), ("nope",), "openid")

    def test_the_token_admin_search_box_uses_it(self, tokens, admin_client):
        url = reverse("admin:beep_iam_oauthaccesstoken_changelist")
        with CaptureQueriesContext(connection) as captured:
            page = admin_client.get(url, {"q": "exact-client"}).content.decode()
        assert tokens["by_client"].pk in page and tokens["other"].pk not in page
        assert 'id="searchbar"' in page
        assert not any("UPPER(" in q["sql"] for q in captured)


@ANALYZED
def test_access_token_pages_count_no_table_and_list_no_related_rows(small_limit, admin_client):
    from tests.factories import OAuthAccessTokenFactory, OAuthClientFactory

    client = OAuthClientFactory()
    tokens = OAuthAccessTokenFactory.create_batch(8, client=client)
    OAuthClientFactory.create_batch(3)  # clients a dropdown would list
    analyze("oauth_access_token")
    with CaptureQueriesContext(connection) as captured:
        listed = admin_client.get(reverse("admin:beep_iam_oauthaccesstoken_changelist"))
        shown = admin_client.get(
            reverse("admin:beep_iam_oauthaccesstoken_change", args=[tokens[0].pk])
        )
    assert unbounded_counts(captured, "oauth_access_token") == []
    assert "about 8 OAuth access tokens" in " ".join(listed.content.decode().split())
    page = shown.content.decode()
    assert tokens[0].pk in page and client.name in page
    assert "<select" not in page
    assert not any('FROM "oauth_client"' in q["sql"] and "LIMIT" not in q["sql"] for q in captured)


def test_session_search_is_exact_and_ip_addresses_have_a_filter(admin_client):
    mine = SessionFactory(user=UserFactory(email="ip-owner@example.com"), ip_address="10.9.8.7")
    other = SessionFactory(ip_address="10.9.8.6")
    url = reverse("admin:beep_shared_session_changelist")
    page = admin_client.get(url, {"q": "ip-owner@"}).content.decode()
    assert mine.pk not in page  # exact values only: a fragment finds nothing
    page = admin_client.get(url, {"ip_address__exact": "10.9.8.7"}).content.decode()
    assert mine.pk in page and other.pk not in page
    assert 'name="ip_address__exact" value="10.9.8.7"' in page


@pytest.fixture
def listed_max(monkeypatch):
    from beep_shared.admin import deletion

    monkeypatch.setattr(deletion, "LISTED_MAX", 5)


def test_the_delete_page_counts_a_large_cascade_per_table(admin_client, listed_max):
    """A client with thousands of tokens: the delete page lists the client and a count per
    table (refresh tokens cascade to their access tokens too, counted once), not each row;
    a small cascade keeps Django's row-by-row list. Confirming deletes them all."""
    from datetime import timedelta

    from django.contrib.admin.utils import quote
    from django.utils import timezone

    from beep_iam.models import OAuthAccessToken, OAuthClient, OAuthRefreshToken
    from beep_shared import crypto
    from tests.factories import OAuthAccessTokenFactory, OAuthClientFactory

    made = OAuthAccessTokenFactory(client=OAuthClientFactory(name="Popular app"))
    first = OAuthAccessToken.objects.select_related("client", "user").get(pk=made.pk)
    oauth_client, owner = first.client, first.user
    url = reverse("admin:beep_iam_oauthclient_delete", args=[quote(oauth_client.pk)])
    small = admin_client.get(url)
    assert small.status_code == 200
    assert small.content.count(b"OAuth access token:") == 1  # Django's list, linked rows

    expires = timezone.now() + timedelta(hours=1)
    refresh = OAuthRefreshToken.objects.create(
        token=crypto.digest("r"),
        client=oauth_client,
        user=owner,
        scopes=["openid"],
        expires_at=expires,
    )
    OAuthAccessToken.objects.bulk_create(
        OAuthAccessToken(
            token=crypto.digest(f"t{n}"),
            client=oauth_client,
            user=owner,
            oauth_refresh_token=refresh if n % 2 else None,
            scopes=["openid"],
            expires_at=expires,
        )
        for n in range(2000)
    )
    with CaptureQueriesContext(connection) as captured:
        large = admin_client.get(url)
    assert large.status_code == 200
    text = large.content.decode()
    assert "OAuth access token:" not in text
    assert "2,001 OAuth access tokens" in text and "1 OAuth refresh token" in text
    assert len(large.content) - len(small.content) < 2_000
    # Counted, never loaded: no query reads token rows.
    assert not [
        q
        for q in captured.captured_queries
        if 'FROM "oauth_access_token"' in q["sql"] and "COUNT(" not in q["sql"]
    ]
    confirmed = admin_client.post(url, {"post": "yes"})
    assert confirmed.status_code == 302
    assert not OAuthClient.objects.filter(pk=oauth_client.pk).exists()
    assert not OAuthAccessToken.objects.exists()
