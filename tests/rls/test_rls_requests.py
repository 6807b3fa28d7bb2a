"""Requests: the middleware's tenant, persistent connections, and the admin's scope."""

from __future__ import annotations

import itertools
import json
import re
import warnings
from collections.abc import Callable
from io import BytesIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Permission
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.test import RequestFactory
from django.urls import path

from beep_iam.models import ScimProvider
from beep_shared import crypto
from beep_shared.models import Team
from beep_shared.rls import bypass_rls, current_scope, tenant_context
from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY, TenantMiddleware
from beep_shared.rls.scope import NO_SCOPE, Scope
from tests.factories import (
    MemberFactory,
    OrganizationFactory,
    SessionFactory,
    TeamFactory,
    UserFactory,
)


def team_names(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    names = sorted(Team.objects.values_list("name", flat=True))
    return JsonResponse({"tenant": current_scope().tenant_id, "teams": names, "pid": pid})


def create_then_fail(request: HttpRequest) -> JsonResponse:
    organization = current_scope().tenant_id
    assert organization is not None
    Team.objects.create(organization_id=organization, name="doomed", slug="doomed")
    raise RuntimeError("view failed after writing")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("teams/", team_names),
    path("fail/", create_then_fail),
]

pytestmark = pytest.mark.urls(__name__)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def session_cookie(organization: Any = None) -> str:
    """A stored Django session whose active organization is ``organization``, logged in as
    a member of it (the middleware re-checks the organization on every request)."""
    from importlib import import_module

    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    if organization is not None:
        member = MemberFactory.create(organization=organization).user
        store[ACTIVE_TENANT_SESSION_KEY] = organization.pk
        store[SESSION_KEY] = member.pk
        store[BACKEND_SESSION_KEY] = django_settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = member.get_session_auth_hash()
    store.create()
    return f"{django_settings.SESSION_COOKIE_NAME}={store.session_key}"


def wsgi_get(handler: WSGIHandler, path_: str, cookie: str | None) -> tuple[str, dict]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path_,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(b""),
        "wsgi.errors": BytesIO(),
    }
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    status: list[str] = []

    def start_response(
        status_: str, headers: list[tuple[str, str]], exc_info: Any = None, /
    ) -> Callable[[bytes], object]:
        status.append(status_)
        return lambda data: None

    body = b"".join(handler(environ, start_response))
    return status[0], json.loads(body) if body.startswith(b"{") else {}


@pytest.mark.django_db(transaction=True)
def test_alternating_tenants_on_a_persistent_connection_never_leak(persistent_connection):
    orgs = [OrganizationFactory.create() for _ in range(3)]
    expected: dict[str | None, list[str]] = {None: []}
    for org in orgs:
        expected[org.pk] = sorted(TeamFactory.create(organization=org).name for _ in range(2))
    cookies: dict[str | None, str] = {org.pk: session_cookie(org) for org in orgs}
    cookies[None] = session_cookie()
    handler = WSGIHandler()

    pids = set()
    tenants = itertools.cycle([orgs[0].pk, None, orgs[1].pk, orgs[2].pk, orgs[0].pk, orgs[2].pk])
    for tenant in itertools.islice(tenants, 60):
        status, body = wsgi_get(handler, "/teams/", cookies[tenant])
        assert status.startswith("200")
        assert (body["tenant"], body["teams"]) == (tenant, expected[tenant])
        pids.add(body["pid"])
    assert len(pids) == 1  # every request reused one server session

    # A session-level SET on the connection (raw SQL) does not reach a later request.
    with connection.cursor() as cursor:
        cursor.execute(f"SET app.current_org_id = '{orgs[0].pk}'")
    try:
        assert wsgi_get(handler, "/teams/", cookies[None])[1]["teams"] == []
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET app.current_org_id")


@pytest.mark.django_db(transaction=True)
def test_a_failing_view_rolls_its_transaction_back():
    org = OrganizationFactory.create()
    status, _ = wsgi_get(WSGIHandler(), "/fail/", session_cookie(org))
    assert status.startswith("500")
    with tenant_context(org):
        assert not Team.objects.filter(slug="doomed").exists()


@pytest.mark.django_db
def test_the_tenant_comes_from_the_beep_session_first_then_the_django_session(rf: RequestFactory):
    user = UserFactory.create()
    a = OrganizationFactory.create(owner_user=user)
    b = OrganizationFactory.create(owner_user=user)
    middleware = TenantMiddleware(lambda request: JsonResponse({}))
    request = rf.get("/teams/")
    request.user = user
    request.session = {ACTIVE_TENANT_SESSION_KEY: b.pk}
    assert middleware.scope_for(request) == Scope(tenant_id=b.pk)
    request.beep_session = SessionFactory.create(user=user, active_organization=a)
    assert middleware.scope_for(request) == Scope(tenant_id=a.pk)
    # The rule holds whatever the source: an organization of someone else is no tenant.
    request.beep_session = SessionFactory.create(
        user=user, active_organization=OrganizationFactory.create()
    )
    del request._beep_rls_access  # the per-request cache
    assert middleware.scope_for(request) == NO_SCOPE
    request.beep_session = SessionFactory.create(active_organization=None)
    request.session = {ACTIVE_TENANT_SESSION_KEY: "organization__not-an-id"}
    assert middleware.scope_for(request) == NO_SCOPE  # malformed: fail closed, no error


@pytest.fixture
def two_orgs():
    a, b = OrganizationFactory.create(), OrganizationFactory.create()
    return (
        a,
        b,
        TeamFactory.create(organization=a, name="Alpha team"),
        TeamFactory.create(organization=b, name="Beta team"),
    )


def staff_user() -> Any:
    user = UserFactory.create(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_team"]))
    return user


@pytest.mark.django_db(transaction=True)  # the bypass alias sees committed rows only
def test_admin_superuser_sees_all_tenants_through_the_bypass(client, two_orgs):
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    page = client.get("/admin/beep_shared/team/").content.decode()
    assert "Alpha team" in page and "Beta team" in page
    assert "row level security bypassed" in page


@pytest.mark.django_db
def test_admin_superuser_without_a_bypass_role_sees_the_chosen_organization(
    client, two_orgs, settings
):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Overriding setting DATABASES": only read here
        settings.DATABASES = {"default": settings.DATABASES["default"]}
    b = two_orgs[1]
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    page = client.get("/admin/beep_shared/team/").content.decode()
    assert "Alpha team" not in page and "Beta team" not in page
    activated = client.post(f"/admin/beep_shared/organization/{b.pk}/activate/")
    assert activated.status_code == 302
    assert client.session[ACTIVE_TENANT_SESSION_KEY] == b.pk
    response = client.get("/admin/beep_shared/team/")
    assert response.status_code == 200, response
    page = response.content.decode()
    assert "Beta team" in page and "Alpha team" not in page


@pytest.mark.django_db
def test_admin_staff_work_in_one_chosen_organization_of_theirs(client, two_orgs):
    a, b, _, _ = two_orgs
    staff = staff_user()
    MemberFactory.create(organization=a, user=staff)
    client.force_login(staff)
    page = client.get("/admin/beep_shared/team/").content.decode()
    assert "Alpha team" not in page and "No organization chosen" in page

    client.post(f"/admin/beep_shared/organization/{b.pk}/activate/")  # not a member of b
    assert client.session.get(ACTIVE_TENANT_SESSION_KEY) is None
    client.post(f"/admin/beep_shared/organization/{a.pk}/activate/")
    assert client.session[ACTIVE_TENANT_SESSION_KEY] == a.pk
    page = client.get("/admin/beep_shared/team/").content.decode()
    assert "Alpha team" in page and "Beta team" not in page

    client.post("/admin/beep_shared/organization/deactivate/")
    assert ACTIVE_TENANT_SESSION_KEY not in client.session


@pytest.mark.django_db(transaction=True)  # the bypass alias sees committed rows only
def test_admin_creates_a_scim_provider_showing_the_token_once(client):
    org = OrganizationFactory.create()
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    response = client.post(
        "/admin/beep_iam/scimprovider/add/", {"provider_id": "okta", "organization": org.pk}
    )
    # Shown in the response to the POST itself, never through a (message) cookie.
    assert response.status_code == 200
    (raw,) = re.findall(r'<code class="beep-secret">([^<]+)</code>', response.content.decode())
    assert not [c for c in response.cookies.values() if raw in c.value]
    with bypass_rls():
        stored = ScimProvider.objects.get(provider_id="okta")
    assert crypto.matches(raw, stored.scim_token) and stored.scim_token != raw
    page = client.get(f"/admin/beep_iam/scimprovider/{stored.pk}/change/").content.decode()
    assert stored.scim_token not in page and raw not in page


@pytest.mark.django_db
@pytest.mark.parametrize("lose", ["suspended", "deleted", "user deactivated"])
def test_admin_choice_is_dropped_once_the_membership_no_longer_holds(client, two_orgs, lose):
    a, _, _, _ = two_orgs
    staff = staff_user()
    membership = MemberFactory.create(organization=a, user=staff)
    client.force_login(staff)
    client.post(f"/admin/beep_shared/organization/{a.pk}/activate/")
    assert "Alpha team" in client.get("/admin/beep_shared/team/").content.decode()

    with tenant_context(a):
        if lose == "suspended":
            membership.status = "suspended"
            membership.save()
        elif lose == "deleted":
            membership.delete()
    if lose == "user deactivated":
        staff.is_active = False
        staff.save()
        client.force_login(staff)  # (an inactive user is logged out; log in as if allowed)
    page = client.get("/admin/beep_shared/team/").content.decode()
    assert "Alpha team" not in page
    assert ACTIVE_TENANT_SESSION_KEY not in client.session

    # A refused re-activation leaves nothing behind either.
    client.post(f"/admin/beep_shared/organization/{a.pk}/activate/")
    assert ACTIVE_TENANT_SESSION_KEY not in client.session
    assert "Alpha team" not in client.get("/admin/beep_shared/team/").content.decode()


@pytest.mark.django_db
def test_may_work_in_is_the_one_rule_for_organizations(two_orgs):
    from beep_shared.rls.access import may_work_in

    a, b, _, _ = two_orgs
    staff = staff_user()
    MemberFactory.create(organization=a, user=staff)
    owner = UserFactory.create()
    b.owner_user = owner
    b.save()
    superuser = UserFactory.create(is_staff=True, is_superuser=True)
    assert may_work_in(staff, a) and not may_work_in(staff, b)
    assert may_work_in(owner, b.pk) and not may_work_in(owner, a)
    assert may_work_in(superuser, a) and may_work_in(superuser, b)
    assert not may_work_in(superuser, "organization__not-an-id")
    assert not may_work_in(None, a)


def streamed_teams(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(
        f"{name}\n" for name in Team.objects.order_by("name").values_list("name", flat=True)
    )


urlpatterns.append(path("stream/", streamed_teams))


@pytest.mark.django_db(transaction=True)
def test_streamed_content_runs_as_the_requests_tenant():
    a, b = OrganizationFactory.create(), OrganizationFactory.create()
    TeamFactory.create(organization=a, name="Alpha team")
    TeamFactory.create(organization=b, name="Beta team")
    environ_cookie = session_cookie(a)
    handler = WSGIHandler()
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/stream/",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(b""),
        "wsgi.errors": BytesIO(),
        "HTTP_COOKIE": environ_cookie,
    }
    result = handler(environ, lambda *args: lambda data: None)
    try:
        body = b"".join(result)
    finally:
        result.close()
    assert body == b"Alpha team\n"
