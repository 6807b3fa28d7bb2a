"""The Django REST framework classes (beep_iam.oauth2.drf) on APIViews, through the test client."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import path
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from beep_iam.oauth2.drf import (
    OAuth2APIView,
    OAuth2Authentication,
    OAuth2TenantMixin,
    TokenHasScope,
)
from beep_iam.services.oauth_tokens import ANY_CLIENT, issue_tokens, revoke_token
from beep_shared.rls.middleware import ACTIVE_TENANT_SESSION_KEY
from beep_shared.rls.sql import current_tenant_sql
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.oauth2.test_drf")]


def _tenant() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {current_tenant_sql()}")
        return cursor.fetchone()[0]


class Invoices(OAuth2APIView):
    renderer_classes = [JSONRenderer]
    required_scopes = ["invoices:read"]
    required_scopes_post = ["invoices:write"]

    def get(self, request):
        return Response(
            {
                "client": request.auth.client_id,
                "user": request.user.pk if request.user.is_authenticated else None,
                "tenant": _tenant(),
            }
        )

    def post(self, request):
        return Response({"written": True})


class DecidedInScope(BasePermission):
    """A permission that reads tenant rows decides in the scope it runs in: record it."""

    seen: list[str | None] = []

    def has_permission(self, request, view):
        self.seen.append(_tenant())
        return True


class Guarded(OAuth2APIView):
    renderer_classes = [JSONRenderer]
    permission_classes = [TokenHasScope, DecidedInScope]
    required_scopes = ["invoices:read"]

    def get(self, request):
        return Response({"tenant": _tenant()})


class Failing(OAuth2APIView):
    renderer_classes = [JSONRenderer]

    def get(self, request):
        raise RuntimeError("boom")


class Mixed(OAuth2TenantMixin, APIView):
    """Session or bearer; the scope check still wants a token."""

    renderer_classes = [JSONRenderer]
    authentication_classes = [OAuth2Authentication, SessionAuthentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["invoices:read"]

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("invoices", Invoices.as_view()),
    path("failing", Failing.as_view()),
    path("mixed", Mixed.as_view()),
    path("guarded", Guarded.as_view()),
]


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_valid_token_sets_user_and_auth(client, web, user):
    web.client.scopes = None
    web.client.save()
    issued = issue_tokens(web.client, scopes=["invoices:read"], user=user)
    response = client.get("/invoices", **bearer(issued.access_token))
    assert response.status_code == 200, response.content
    assert response.json() == {"client": web.client.client_id, "user": user.pk, "tenant": None}


def test_machine_token_has_no_user(client, machine):
    issued = issue_tokens(machine.client, scopes=["invoices:read"])
    response = client.get("/invoices", **bearer(issued.access_token))
    assert response.status_code == 200
    assert response.json()["user"] is None


def test_no_token_is_401_with_a_bearer_challenge(client):
    response = client.get("/invoices")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["not-a-token", "revoked"])
def test_an_invalid_token_is_401_invalid_token(client, machine, token):
    if token == "revoked":
        token = issue_tokens(machine.client, scopes=["invoices:read"]).access_token
        revoke_token(token, client_id=ANY_CLIENT)
    response = client.get("/invoices", **bearer(token))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="the access token is invalid"'
    )


def test_a_missing_scope_is_403_insufficient_scope(client, machine):
    issued = issue_tokens(machine.client, scopes=["invoices:read"])
    response = client.post("/invoices", **bearer(issued.access_token))
    assert response.status_code == 403
    challenge = response["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="invoices:read invoices:write"' in challenge
    both = issue_tokens(machine.client, scopes=["invoices:read", "invoices:write"])
    assert client.post("/invoices", **bearer(both.access_token)).json() == {"written": True}


def test_a_token_for_an_organization_runs_as_that_tenant(client, web, user):
    web.client.scopes = None
    web.client.save()
    organization = OrganizationFactory(owner_user=user)  # the user may work there
    issued = issue_tokens(
        web.client, scopes=["invoices:read"], user=user, reference_id=organization.pk
    )
    response = client.get("/invoices", **bearer(issued.access_token))
    assert response.status_code == 200, response.content
    assert response.json()["tenant"] == organization.pk
    # ... and only for that request.
    assert _tenant() is None


def test_a_token_for_no_organization_runs_as_none_whatever_the_cookie(client, machine, user):
    # TenantMiddleware scopes a request to the organization of the session cookie sent with
    # it; a token granted for no organization must not run in it (review 5: a stranger's
    # token read the cookie user's organization's rows).
    organization = OrganizationFactory(owner_user=user)
    client.force_login(user)
    session = client.session
    session[ACTIVE_TENANT_SESSION_KEY] = organization.pk
    session.save()
    issued = issue_tokens(machine.client, scopes=["invoices:read"])
    response = client.get("/invoices", **bearer(issued.access_token))
    assert response.status_code == 200, response.content
    assert response.json()["tenant"] is None


@pytest.mark.parametrize("granted_for", ["other organization", "no organization"])
def test_permissions_decide_as_the_token_not_the_cookie(client, web, user, granted_for):
    # Review 13: the scope was entered after APIView.initial, so DRF's permission (and
    # throttle) checks ran as the organization of a session cookie sent along.
    web.client.scopes = None
    web.client.save()
    cookie_organization = OrganizationFactory(owner_user=user)
    token_organization = OrganizationFactory(owner_user=user)
    reference = token_organization.pk if granted_for == "other organization" else None
    issued = issue_tokens(web.client, scopes=["invoices:read"], user=user, reference_id=reference)
    client.force_login(user)
    session = client.session
    session[ACTIVE_TENANT_SESSION_KEY] = cookie_organization.pk
    session.save()
    DecidedInScope.seen.clear()
    response = client.get("/guarded", **bearer(issued.access_token))
    assert response.status_code == 200, response.content
    assert response.json()["tenant"] == reference
    assert DecidedInScope.seen == [reference]


def test_the_tenant_ends_when_the_view_raises(web, user):
    web.client.scopes = None
    web.client.save()
    organization = OrganizationFactory(owner_user=user)
    issued = issue_tokens(
        web.client, scopes=["invoices:read"], user=user, reference_id=organization.pk
    )
    with pytest.raises(RuntimeError):
        Client().get("/failing", **bearer(issued.access_token))
    assert _tenant() is None


def test_session_authentication_without_a_token_gets_no_scopes(client, user):
    client.force_login(user)
    response = client.get("/mixed")
    assert response.status_code == 403
    assert client.get("/mixed", **bearer("nope")).status_code == 401


def test_malformed_credentials_are_400_invalid_request(client, machine):
    # RFC 6750 3.1: a token that is no b64token, or sent twice, is a malformed request.
    issued = issue_tokens(machine.client, scopes=["invoices:read"])
    assert client.get("/invoices", HTTP_AUTHORIZATION="Bearer a b c").status_code == 400
    twice = client.get(
        f"/invoices?access_token={issued.access_token}", **bearer(issued.access_token)
    )
    assert twice.status_code == 400
    assert client.get("/invoices", **bearer(issued.access_token)).status_code == 200
