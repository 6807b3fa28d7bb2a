"""Tenancy (issue 18 item 6): the organization a grant is for is chosen at consent
(``OAUTH2_CONSENT_REFERENCE_ID``, better-auth's ``consentReferenceId``), carried by its tokens
(``reference_id``, kept across refreshes), reported by introspection and UserInfo, and the
resource side runs under row level security as that organization, as a role RLS applies to."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.test import RequestFactory, override_settings

from beep_iam.models import OAuthAccessToken, OAuthConsent
from beep_iam.models.tenant import Member
from beep_iam.oauth2.resource import require_oauth
from beep_iam.services.oauth_tokens import issue_tokens
from beep_shared.models import Team
from beep_shared.rls import tenant_context
from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY
from tests.factories import OrganizationFactory, TeamFactory
from tests.factories.tenant import MemberFactory
from tests.oauth2.conftest import ISSUER, authorize_url, basic, get_code, pkce
from tests.oauth2.test_code_flow import FORM, exchange, refresh, signed_in  # noqa: F401

pytestmark = pytest.mark.django_db

HOOK = "beep_iam.oauth2.tenancy.active_tenant"


@pytest.fixture
def hook():
    with override_settings(
        BEEP_IAM={
            **getattr(settings, "BEEP_IAM", {}),
            "OAUTH2_ISSUER": ISSUER,
            "OAUTH2_CONSENT_REFERENCE_ID": HOOK,
        }
    ):
        yield


@pytest.fixture
def organizations(user):
    a, b = OrganizationFactory(name="Alpha"), OrganizationFactory(name="Beta")
    for organization in (a, b):
        MemberFactory(organization=organization, user=user)
        TeamFactory(organization=organization, name=f"{organization.name} team")
    return a, b


def work_in(http, organization) -> None:
    session = http.session
    session[ACTIVE_TENANT_SESSION_KEY] = organization.pk
    session.save()


def tokens_for(http, web) -> dict:
    verifier, challenge = pkce()
    code = get_code(http, web.client.client_id, challenge, scope="openid offline_access")
    response = exchange(http, web, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def introspect(http, web, token: str) -> dict:
    response = http.post(
        "/oauth2/introspect",
        urlencode({"token": token}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    assert response.status_code == 200
    return response.json()


@require_oauth()
def teams(request):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user"
        )
        role = cursor.fetchone()
    return JsonResponse(
        {"role": list(role), "teams": sorted(Team.objects.values_list("name", flat=True))}
    )


def call(token: str):
    return teams(RequestFactory().get("/teams", HTTP_AUTHORIZATION=f"Bearer {token}"))


def test_the_grant_carries_the_organization_chosen_at_consent(
    hook,
    signed_in,  # noqa: F811
    web,
    user,
    organizations,
):
    alpha, _ = organizations
    work_in(signed_in, alpha)
    issued = tokens_for(signed_in, web)
    consent = OAuthConsent.objects.get(client_id=web.client.client_id, user_id=user.pk)
    assert consent.reference_id == alpha.pk

    assert introspect(signed_in, web, issued["access_token"])["reference_id"] == alpha.pk
    info = signed_in.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {issued['access_token']}")
    assert info.json() == {"sub": user.pk, "reference_id": alpha.pk}

    # The resource side: Alpha's rows only, as a role row level security applies to.
    response = call(issued["access_token"])
    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert body["role"] == [False, False]  # neither superuser nor BYPASSRLS
    assert body["teams"] == ["Alpha team"]

    # A refresh keeps what the grant is for.
    refreshed = refresh(signed_in, web, issued["refresh_token"]).json()
    assert introspect(signed_in, web, refreshed["access_token"])["reference_id"] == alpha.pk
    assert json.loads(call(refreshed["access_token"]).content)["teams"] == ["Alpha team"]


def test_a_token_for_no_organization_does_not_run_in_the_requests_one(web, user, organizations):
    # What TenantMiddleware does for a request whose session cookie chose an organization:
    # the view of a token granted for none must still see no tenant rows (review 5).
    alpha, _ = organizations
    token = issue_tokens(web.client, scopes=["openid"], user=user).access_token
    with tenant_context(alpha):
        assert Team.objects.count() == 1  # the cookie's organization, outside the view
        response = call(token)
        assert Team.objects.count() == 1  # and again once the view is done
    assert response.status_code == 200, response.content
    assert json.loads(response.content)["teams"] == []


def test_a_consent_for_one_organization_is_asked_again_for_another(
    hook,
    signed_in,  # noqa: F811
    web,
    organizations,
):
    alpha, beta = organizations
    work_in(signed_in, alpha)
    tokens_for(signed_in, web)
    work_in(signed_in, beta)
    _, challenge = pkce()
    page = signed_in.get(authorize_url(web.client.client_id, challenge))
    assert page.status_code == 200 and b"wants to access your account" in page.content
    issued = tokens_for(signed_in, web)
    assert json.loads(call(issued["access_token"]).content)["teams"] == ["Beta team"]


def test_a_member_no_more_is_refused_at_the_resource(
    hook,
    signed_in,  # noqa: F811
    web,
    user,
    organizations,
):
    alpha, _ = organizations
    work_in(signed_in, alpha)
    issued = tokens_for(signed_in, web)
    with tenant_context(alpha):
        Member.objects.filter(user=user).delete()
    response = call(issued["access_token"])
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_an_organization_the_user_may_not_work_in_is_not_chosen(
    hook,
    signed_in,  # noqa: F811
    web,
):
    stranger = OrganizationFactory()
    work_in(signed_in, stranger)  # a forged or stale session value
    issued = tokens_for(signed_in, web)
    assert "reference_id" not in introspect(signed_in, web, issued["access_token"])
    assert OAuthAccessToken.objects.get().reference_id is None


def test_without_the_hook_no_reference(signed_in, web, organizations):  # noqa: F811
    work_in(signed_in, organizations[0])
    issued = tokens_for(signed_in, web)
    assert "reference_id" not in introspect(signed_in, web, issued["access_token"])
    assert json.loads(call(issued["access_token"]).content)["teams"] == []
