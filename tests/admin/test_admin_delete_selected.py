"""The admin's "delete selected" action: Django's on a small selection, set-based on a large one.

Large selections are simulated by lowering ``deletion.LISTED_MAX`` to a few rows. Each test
posts as the changelist does: the action with ``index`` (the confirmation page), then the
confirmation's own form with ``post=yes``.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.models.signals import post_delete
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from beep_iam.models import (
    OAuthAccessToken,
    OAuthClient,
    OAuthConsent,
    OAuthRefreshToken,
    TeamMember,
    Verification,
)
from beep_shared.admin import deletion
from beep_shared.models import Session, Team, User
from beep_shared.rls import tenant_context
from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY
from tests.admin.test_admin_escalation import staff_with
from tests.factories import (
    MemberFactory,
    OAuthAccessTokenFactory,
    OAuthClientFactory,
    OAuthConsentFactory,
    OAuthRefreshTokenFactory,
    OrganizationFactory,
    SessionFactory,
    TeamFactory,
    TeamMemberFactory,
    UserFactory,
    VerificationFactory,
)

pytestmark = pytest.mark.django_db

LIMIT = 5
# Everything a client's delete reaches, for staff who may delete it all.
CLIENT_DELETE = (
    "view_oauthclient",
    "delete_oauthclient",
    "delete_oauthaccesstoken",
    "delete_oauthrefreshtoken",
    "delete_oauthconsent",
)


@pytest.fixture
def listed_max(monkeypatch):
    monkeypatch.setattr(deletion, "LISTED_MAX", LIMIT)


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def delete_selected(http, url, pks, *, across=False, confirm=False, follow=False):
    """The changelist's POST (``confirm=False``: the confirmation page) or the confirmation's."""
    data = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(pk) for pk in pks]}
    if across:
        data["select_across"] = "1"
    if confirm:
        data["post"] = "yes"
    else:
        data["index"] = "0"
    return http.post(url, data, follow=follow)


def clients_with_tokens(count, *, disabled, owner):
    """OAuth clients, each with an access token, a refresh token with an access token of its
    own, and a consent: every relation a client's delete cascades through."""
    made = []
    for _ in range(count):
        oauth_client = OAuthClientFactory(disabled=disabled, user=owner)
        OAuthAccessTokenFactory(client=oauth_client, user=owner)
        refresh = OAuthRefreshTokenFactory(client=oauth_client, user=owner)
        OAuthAccessTokenFactory(client=oauth_client, user=owner, oauth_refresh_token=refresh)
        OAuthConsentFactory(client=oauth_client, user=owner)
        made.append(oauth_client)
    return made


def rows_of(clients):
    """The clients' rows and the rows pointing at them (by ``client_id``, their key's target)."""
    ids = [c.client_id for c in clients]
    return (
        OAuthClient.objects.filter(client_id__in=ids).count(),
        OAuthAccessToken.objects.filter(client_id__in=ids).count(),
        OAuthRefreshToken.objects.filter(client_id__in=ids).count(),
        OAuthConsent.objects.filter(client_id__in=ids).count(),
    )


def deletions_of(model):
    return LogEntry.objects.filter(
        action_flag=DELETION, content_type=ContentType.objects.get_for_model(model)
    )


def loaded_rows(sqls, *tables):
    """SELECTs that read rows of ``tables`` with no LIMIT: what a bounded delete never runs
    (counts, existence checks and the subqueries of DELETE/UPDATE statements aside)."""
    # The tenant setting goes in front of every statement (beep_shared.rls.connection).
    statements = [re.sub(r"^\s*SET LOCAL [^;]*;\s*", "", sql) for sql in sqls]
    return [
        sql
        for sql in statements
        if sql.upper().startswith("SELECT")
        and any(f'FROM "{table}"' in sql for table in tables)
        and not re.search(r"\bLIMIT\b|\bCOUNT\(", sql, re.I)
    ]


def test_a_small_selection_is_deleted_as_django_deletes_it(admin_client):
    """At most LISTED_MAX rows: a log entry per row and the delete signals, as Django's own
    action; the confirmation lists each row's id."""
    chosen = [SessionFactory() for _ in range(3)]
    kept = SessionFactory()
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    url = changelist(Session)
    page = delete_selected(admin_client, url, [s.pk for s in chosen])
    assert page.status_code == 200
    text = page.content.decode()
    for session in chosen:
        assert f'name="{ACTION_CHECKBOX_NAME}" value="{session.pk}"' in text
    assert 'name="select_across"' not in text

    post_delete.connect(receiver, sender=Session, weak=False)
    try:
        response = delete_selected(admin_client, url, [s.pk for s in chosen], confirm=True)
    finally:
        post_delete.disconnect(receiver, sender=Session)
    assert response.status_code == 302
    assert sorted(seen) == sorted(s.pk for s in chosen)
    assert sorted(deletions_of(Session).values_list("object_id", flat=True)) == sorted(
        s.pk for s in chosen
    )
    assert list(Session.objects.values_list("pk", flat=True)) == [kept.pk]
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Successfully deleted 3 sessions."]


def test_a_large_selection_deletes_the_selected_rows_and_their_cascades_only(
    admin_client, listed_max
):
    """ "Select all" on a filtered list: the rows the filter selects go, with every row they
    cascade to (tokens, refresh tokens and their tokens, consents); the rest stay. One log
    entry names the count and the filter."""
    owner = UserFactory(email="owner@example.com")
    chosen = clients_with_tokens(8, disabled=True, owner=owner)
    kept = clients_with_tokens(2, disabled=False, owner=owner)
    url = changelist(OAuthClient) + "?disabled__exact=1"

    with CaptureQueriesContext(connection) as captured:
        page = delete_selected(admin_client, url, [chosen[0].pk], across=True)
    assert page.status_code == 200
    text = page.content.decode()
    # The selection goes back as "select all" on the same list, not as an id per row.
    assert 'name="select_across" value="1"' in text
    assert text.count(f'name="{ACTION_CHECKBOX_NAME}"') == 1
    assert "OAuth clients: 8" in text and "16 OAuth access tokens" in text
    assert not loaded_rows([q["sql"] for q in captured.captured_queries], "oauth_client")

    response = delete_selected(admin_client, url, [chosen[0].pk], across=True, confirm=True)
    assert response.status_code == 302
    assert rows_of(chosen) == (0, 0, 0, 0)
    assert rows_of(kept) == (2, 4, 2, 2)
    assert [str(m) for m in response.wsgi_request._messages] == [
        "Successfully deleted 8 OAuth clients."
    ]
    (entry,) = deletions_of(OAuthClient)
    assert entry.object_id is None and entry.object_repr == "8 OAuth clients"
    assert "every row of the list at ?disabled__exact=1" in entry.change_message
    assert "16 OAuth access tokens" in entry.change_message


def test_a_large_delete_reads_no_rows_and_its_statements_do_not_grow_with_them(
    admin_client, listed_max
):
    owner = UserFactory(email="owner@example.com")
    url = changelist(OAuthClient) + "?disabled__exact=1"

    def delete_all(count):
        chosen = clients_with_tokens(count, disabled=True, owner=owner)
        with CaptureQueriesContext(connection) as captured:
            response = delete_selected(admin_client, url, [chosen[0].pk], across=True, confirm=True)
        assert response.status_code == 302
        assert rows_of(chosen) == (0, 0, 0, 0)
        return [q["sql"] for q in captured.captured_queries]

    few, many = delete_all(LIMIT + 1), delete_all(6 * LIMIT)
    assert len(few) == len(many)
    tables = ("oauth_client", "oauth_access_token", "oauth_refresh_token", "oauth_consent")
    assert not loaded_rows(many, *tables)
    assert deletions_of(OAuthClient).count() == 2  # one per delete, not one per row


def test_a_large_delete_needs_the_delete_permission_of_every_table_it_reaches(listed_max):
    owner = UserFactory(email="owner@example.com")
    chosen = clients_with_tokens(LIMIT + 2, disabled=True, owner=owner)
    url = changelist(OAuthClient) + "?disabled__exact=1"
    before = rows_of(chosen)

    _, viewer = staff_with("view_oauthclient", email="viewer@example.com")
    delete_selected(viewer, url, [chosen[0].pk], across=True, confirm=True)
    assert rows_of(chosen) == before  # the action is not offered to them

    _, partial = staff_with("view_oauthclient", "delete_oauthclient", email="partial@example.com")
    page = delete_selected(partial, url, [chosen[0].pk], across=True)
    assert "permission to delete the following types of objects" in page.content.decode()
    response = delete_selected(partial, url, [chosen[0].pk], across=True, confirm=True)
    assert response.status_code == 403
    assert rows_of(chosen) == before

    _, allowed = staff_with(*CLIENT_DELETE, email="allowed@example.com")
    response = delete_selected(allowed, url, [chosen[0].pk], across=True, confirm=True)
    assert response.status_code == 302
    assert rows_of(chosen) == (0, 0, 0, 0)


def test_protected_rows_block_a_large_delete(admin_client, listed_max, monkeypatch):
    """A PROTECT key Django enforces in Python (the database's key here still cascades): the
    confirmation names the protected rows and the delete does not happen, whether it comes
    through the page or straight to :func:`deletion.delete_rows`, or the protected rows lie
    deeper than the confirmation looks."""
    owner = UserFactory(email="owner@example.com")
    chosen = clients_with_tokens(LIMIT + 2, disabled=True, owner=owner)
    before = rows_of(chosen)
    key = OAuthAccessToken._meta.get_field("client").remote_field
    monkeypatch.setattr(key, "on_delete", models.PROTECT)
    url = changelist(OAuthClient) + "?disabled__exact=1"

    response = delete_selected(admin_client, url, [chosen[0].pk], across=True, confirm=True)
    assert response.status_code == 200
    assert "would require deleting the following protected related objects" in (
        response.content.decode()
    )
    assert rows_of(chosen) == before
    with pytest.raises(models.ProtectedError):
        deletion.delete_rows(OAuthClient.objects.filter(disabled=True))
    assert rows_of(chosen) == before

    # Further down the cascade than the confirmation looks: the delete itself refuses.
    monkeypatch.setattr(deletion, "DEPTH", 0)
    response = delete_selected(admin_client, url, [chosen[0].pk], across=True, confirm=True)
    assert response.status_code == 200
    assert "would require deleting the following protected related objects" in (
        response.content.decode()
    )
    assert rows_of(chosen) == before
    assert not deletions_of(OAuthClient).exists()


def test_a_large_delete_under_row_level_security_deletes_the_tenants_rows_only(listed_max):
    """Staff working in Alpha select all teams: Alpha's teams go with their members; Beta's,
    invisible to the request's transaction, stay. A session's active team is cleared."""
    alpha, beta = OrganizationFactory(name="Alpha"), OrganizationFactory(name="Beta")
    staff, http = staff_with("view_team", "delete_team", "delete_teammember")
    MemberFactory(organization=alpha, user=staff)
    session = http.session
    session[ACTIVE_TENANT_SESSION_KEY] = alpha.pk
    session.save()
    ours = [TeamMemberFactory(team=TeamFactory(organization=alpha)).team for _ in range(7)]
    for _ in range(3):
        TeamMemberFactory(team=TeamFactory(organization=beta))
    active = SessionFactory(user=staff, active_organization=alpha, active_team=ours[0])

    response = delete_selected(http, changelist(Team), [ours[0].pk], across=True, confirm=True)
    assert response.status_code == 302
    assert [str(m) for m in response.wsgi_request._messages] == ["Successfully deleted 7 teams."]
    with tenant_context(alpha):
        assert not Team.objects.exists() and not TeamMember.objects.exists()
    with tenant_context(beta):
        assert Team.objects.count() == 3 and TeamMember.objects.count() == 3
    active.refresh_from_db()
    assert active.active_team_id is None


def test_a_large_delete_of_users_deletes_what_only_django_knows_points_at_them(
    admin_client, superuser, listed_max
):
    """Banned users, selected all: the rows Django's own keys tie to them (their admin log
    entries, their group links; keys with no ON DELETE action in the database) go in
    statements of their own, their sessions through the database's cascade. Everyone else,
    and the superuser's log entry of the delete, stays."""
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="Support")
    chosen = [UserFactory(banned=True) for _ in range(LIMIT + 2)]
    kept = UserFactory(email="kept@example.com")
    for user in [*chosen, kept]:
        user.groups.add(group)
        SessionFactory(user=user)
        LogEntry.objects.create(
            user_id=user.pk, content_type=ContentType.objects.get_for_model(Team), action_flag=1
        )
    ids = [u.pk for u in chosen]
    url = changelist(type(superuser)) + "?banned__exact=1"

    response = delete_selected(admin_client, url, [ids[0]], across=True, confirm=True)
    assert response.status_code == 302
    assert not type(superuser).objects.filter(pk__in=ids).exists()
    assert not LogEntry.objects.filter(user_id__in=ids).exists()
    assert not group.user_set.filter(pk__in=ids).exists()
    assert not Session.objects.filter(user_id__in=ids).exists()
    assert list(group.user_set.all()) == [kept]
    assert Session.objects.filter(user_id=kept.pk).count() == 1
    assert LogEntry.objects.filter(user_id=kept.pk).count() == 1
    (entry,) = deletions_of(type(superuser))
    assert entry.user_id == superuser.pk and entry.object_repr == f"{len(ids)} users"


def test_a_large_delete_of_a_table_with_delete_receivers_sends_them(
    admin_client, listed_max, monkeypatch
):
    """Signals need model instances: such a table is deleted by Django's collector, a batch
    at a time; still one log entry."""
    monkeypatch.setattr(deletion, "BATCH", 3)
    chosen = [SessionFactory() for _ in range(LIMIT + 3)]
    kept = SessionFactory(user=UserFactory(email="kept@example.com"))
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_delete.connect(receiver, sender=Session, weak=False)
    try:
        response = delete_selected(
            admin_client, changelist(Session), [s.pk for s in chosen], confirm=True
        )
    finally:
        post_delete.disconnect(receiver, sender=Session)
    assert response.status_code == 302
    assert sorted(seen) == sorted(s.pk for s in chosen)
    assert list(Session.objects.values_list("pk", flat=True)) == [kept.pk]
    (entry,) = deletions_of(Session)
    assert entry.object_repr == f"{len(chosen)} sessions"
    assert f"the rows with ids {', '.join(str(s.pk) for s in chosen[:LIMIT])} and 3 more" in (
        entry.change_message
    )


def test_every_admin_that_offers_delete_selected_offers_the_bounded_one(rf, superuser):
    request = rf.get("/")
    request.user = superuser
    offered = {}
    for model, model_admin in admin.site._registry.items():
        if isinstance(model_admin, deletion.DeleteSummaryMixin):
            action = model_admin.get_actions(request).get("delete_selected")
            offered[model._meta.label] = action and action[0]
    assert offered["beep_shared.Session"] is deletion.delete_selected
    assert offered["beep_shared.User"] is deletion.delete_selected
    assert offered["beep_iam.OAuthAccessToken"] is None  # tokens are revoked and purged
    assert set(offered.values()) <= {deletion.delete_selected, None}


# --- review 15: a selection through other tables --------------------------------------------
# Every statement selects the rows again, and those before the last change other tables (the
# admin log, many-to-many links): a filter through them emptied the selection before the rows
# went. Such a selection is deleted in batches by key instead.

THROUGH_OTHERS = 8  # above the lowered LISTED_MAX


def test_select_all_users_in_a_group_deletes_the_users(admin_client, listed_max, monkeypatch):
    # A project's user admin with Django's own "groups" filter (django.contrib.auth's has it).
    user_admin = admin.site._registry[User]
    monkeypatch.setattr(user_admin, "list_filter", (*user_admin.list_filter, "groups"))
    group = Group.objects.create(name="leavers")
    users = [UserFactory() for _ in range(THROUGH_OTHERS)]
    for u in users:
        u.groups.add(group)
    url = changelist(User) + f"?groups__id__exact={group.pk}"
    page = delete_selected(admin_client, url, [users[0].pk], across=True)
    assert page.status_code == 200
    delete_selected(admin_client, url, [users[0].pk], across=True, confirm=True)
    remaining = User.objects.filter(pk__in=[u.pk for u in users]).count()
    links = User.groups.through.objects.filter(group=group).count()
    # Correct: the users are gone (or, at least, nothing was half-done).
    assert (remaining, links) in ((0, 0), (THROUGH_OTHERS, THROUGH_OTHERS)), (remaining, links)
    assert remaining == 0


def test_select_all_users_with_log_entries_does_not_only_erase_the_log(
    admin_client, superuser, listed_max, monkeypatch
):
    user_admin = admin.site._registry[User]
    monkeypatch.setattr(user_admin, "list_filter", (*user_admin.list_filter, "logentry"))
    users = [UserFactory() for _ in range(THROUGH_OTHERS)]
    ct = ContentType.objects.get_for_model(User)
    for u in users:
        LogEntry.objects.create(
            user_id=u.pk,
            content_type_id=ct.pk,
            object_id=str(u.pk),
            object_repr="x",
            action_flag=ADDITION,
        )
    url = changelist(User) + "?logentry__isnull=False"
    page = delete_selected(admin_client, url, [users[0].pk], across=True)
    assert page.status_code == 200, page.content[:500]
    delete_selected(admin_client, url, [users[0].pk], across=True, confirm=True)
    remaining = User.objects.filter(pk__in=[u.pk for u in users]).count()
    logs = LogEntry.objects.filter(user_id__in=[u.pk for u in users]).count()
    assert (remaining, logs) != (THROUGH_OTHERS, 0), "log entries erased, users kept, no trace"


@pytest.mark.parametrize("chosen_by", ["q", "identifier"])
def test_the_log_entry_keeps_no_secret_the_selection_named(admin_client, listed_max, chosen_by):
    # Review 15: the entry recorded the list's query string, a whole reset identifier (an
    # exact search, or a whole-value filter on the secret column) included.
    identifier = "reset-password:the-reset-token-itself"
    rows = [VerificationFactory(identifier=identifier) for _ in range(LIMIT + 2)]
    url = changelist(Verification) + "?" + urlencode({chosen_by: identifier})
    response = delete_selected(admin_client, url, [rows[0].pk], across=True, confirm=True)
    assert response.status_code == 302
    assert not Verification.objects.filter(pk__in=[row.pk for row in rows]).exists()
    (entry,) = deletions_of(Verification)
    assert "the-reset-token-itself" not in entry.change_message
    assert f"{chosen_by}=%28hidden%29" in entry.change_message
