"""``require_oauth``: the resource-server side."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory

from beep_iam.oauth2.resource import require_oauth
from beep_iam.services.oauth_tokens import issue_tokens
from beep_shared.rls.sql import current_tenant_sql
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@require_oauth("invoices:read")
def invoices(request) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {current_tenant_sql()}")
        (tenant,) = cursor.fetchone()
    return JsonResponse(
        {
            "client": request.oauth_token.client_id,
            "user": request.user.pk if request.user.is_authenticated else None,
            "tenant": tenant,
        }
    )


def call(token: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return invoices(RequestFactory().get("/invoices", **headers))


def test_missing_token():
    response = call(None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_invalid_token():
    response = call("not-a-token")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_insufficient_scope(machine):
    issued = issue_tokens(machine.client, scopes=["invoices:write"])
    response = call(issued.access_token)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert 'scope="invoices:read"' in response["WWW-Authenticate"]


def test_machine_token_has_no_user_and_no_tenant(machine):
    issued = issue_tokens(machine.client, scopes=["invoices:read"])
    response = call(issued.access_token)
    assert response.status_code == 200
    assert json.loads(response.content) == {
        "client": machine.client.client_id,
        "user": None,
        "tenant": None,
    }


def test_user_token_for_an_organization_runs_as_that_tenant(web, user):
    web.client.scopes = None
    web.client.save()
    organization = OrganizationFactory(owner_user=user)  # the user may work there
    issued = issue_tokens(
        web.client, scopes=["invoices:read"], user=user, reference_id=organization.pk
    )
    response = call(issued.access_token)
    assert response.status_code == 200, response.content
    assert json.loads(response.content) == {
        "client": web.client.client_id,
        "user": user.pk,
        "tenant": organization.pk,
    }


def test_a_reference_that_is_no_organization_gives_no_tenant(machine):
    issued = issue_tokens(machine.client, scopes=["invoices:read"], reference_id="project-7")
    assert json.loads(call(issued.access_token).content)["tenant"] is None


def test_revoked_token(machine):
    from beep_iam.services.oauth_tokens import ANY_CLIENT, revoke_token

    issued = issue_tokens(machine.client, scopes=["invoices:read"])
    revoke_token(issued.access_token, client_id=ANY_CLIENT)
    assert call(issued.access_token).status_code == 401
