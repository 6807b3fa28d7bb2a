"""The resource-server side of RFC 8707 / 9068 / 9728: ``require_oauth`` and the DRF classes
check the audience of both token forms, refuse expired and cut-off JWTs, and point every 401
to the protected resource metadata, which is served for each registered resource."""

from __future__ import annotations

import json
import time

import pytest
from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory, override_settings
from joserfc import jwt

from beep_iam.models import OAuthClientResource, OAuthResource
from beep_iam.oauth2 import access_jwt, keys, resource_metadata
from beep_iam.oauth2.resource import require_oauth
from beep_iam.oauth2.resources import resolve
from beep_iam.services.oauth_tokens import issue_tokens
from beep_shared.models import Session
from tests.oauth2.conftest import ISSUER, with_issuer

pytestmark = pytest.mark.django_db

API = "https://api.example.com/invoices"
OTHER = "https://other.example.com/api"
METADATA = "https://api.example.com/.well-known/oauth-protected-resource/invoices"


@require_oauth("invoices:read", resource=API)
def invoices(request) -> HttpResponse:
    return JsonResponse({"client": request.oauth_token.client_id, "user": request.user.pk})


def call(token: str | None, view=invoices):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return view(RequestFactory().get("/invoices", **headers))


def link(registered, identifier: str = API, **fields) -> OAuthResource:
    row, _ = OAuthResource.objects.get_or_create(
        identifier=identifier, defaults={"name": "Invoices", **fields}
    )
    OAuthClientResource.objects.create(client_id=registered.client.client_id, resource=row)
    return row


def jwt_for(registered, identifier: str = API, **subject) -> str:
    policy = resolve(registered.client, [identifier], ["invoices:read"])
    token, _ = access_jwt.issue(registered.client, policy, scopes=policy.scopes, **subject)
    return token


def test_a_bare_401_points_to_the_resource_metadata():
    response = call(None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == f'Bearer resource_metadata="{METADATA}"'


def test_jwt_for_this_resource_is_accepted(machine):
    link(machine)
    response = call(jwt_for(machine))
    assert response.status_code == 200, response.content
    assert json.loads(response.content) == {"client": machine.client.client_id, "user": None}


def test_jwt_for_another_resource_is_refused(machine):
    link(machine, OTHER)
    response = call(jwt_for(machine, OTHER))
    assert response.status_code == 401
    challenge = response["WWW-Authenticate"]
    assert 'error="invalid_token"' in challenge and f'resource_metadata="{METADATA}"' in challenge


def test_expired_jwt_is_refused(machine):
    link(machine)
    key = keys.signing_key()
    now = int(time.time()) - 3600
    claims = {
        "iss": ISSUER, "sub": machine.client.client_id, "aud": API, "scope": "invoices:read",
        "client_id": machine.client.client_id, "azp": machine.client.client_id,
        "iat": now, "exp": now + 60, "jti": "j",
    }  # fmt: skip
    header = {"alg": "EdDSA", "kid": key.kid, "typ": "at+jwt"}
    expired = jwt.encode(header, claims, key.key, algorithms=["EdDSA"])
    assert call(expired).status_code == 401
    claims["exp"] = int(time.time()) + 60  # the same token, unexpired: accepted
    assert call(jwt.encode(header, claims, key.key, algorithms=["EdDSA"])).status_code == 200


def test_jwt_of_another_issuer_is_refused(machine):
    link(machine)
    with with_issuer("https://elsewhere.example.com"):
        token = jwt_for(machine)
    assert call(token).status_code == 401


def test_jwt_is_cut_off_when_its_session_ends(web, user):
    link(web)
    web.client.scopes = None
    web.client.save()
    session, _ = Session.objects.create_session(user)
    token = jwt_for(web, user_id=str(user.pk), session_id=session.pk)
    response = call(token)
    assert response.status_code == 200 and json.loads(response.content)["user"] == user.pk
    session.delete()  # sign-out
    assert call(token).status_code == 401


def test_jwt_is_cut_off_when_its_client_is_disabled_or_its_user_banned(web, user):
    link(web)
    web.client.scopes = None
    web.client.save()
    token = jwt_for(web, user_id=str(user.pk))
    assert call(token).status_code == 200
    user.banned = True
    user.save()
    assert call(token).status_code == 401
    user.banned = False
    user.save()
    web.client.disabled = True
    web.client.save()
    assert call(token).status_code == 401


def test_opaque_token_must_be_bound_to_the_resource(machine):
    link(machine)
    unbound = issue_tokens(machine.client, scopes=["invoices:read"])
    assert call(unbound.access_token).status_code == 401
    bound = issue_tokens(machine.client, scopes=["invoices:read"], resources=[API])
    assert call(bound.access_token).status_code == 200
    elsewhere = issue_tokens(machine.client, scopes=["invoices:read"], resources=[OTHER])
    assert call(elsewhere.access_token).status_code == 401


def test_without_a_resource_jwts_are_refused_and_opaque_tokens_taken(machine):
    @require_oauth("invoices:read")
    def unnamed(request):
        return HttpResponse("ok")

    link(machine)
    assert call(jwt_for(machine), unnamed).status_code == 401
    opaque = issue_tokens(machine.client, scopes=["invoices:read"])
    assert call(opaque.access_token, unnamed).status_code == 200
    assert call(None, unnamed)["WWW-Authenticate"] == "Bearer"


def test_an_opaque_token_bound_to_a_resource_is_refused_where_none_is_named(machine):
    # A token meant for another resource server (better-auth without its jwt plugin issues
    # opaque ones) must not open a view that names no resource.
    @require_oauth("invoices:read")
    def unnamed(request):
        return HttpResponse("ok")

    link(machine)
    bound = issue_tokens(machine.client, scopes=["invoices:read"], resources=[API])
    assert call(bound.access_token, unnamed).status_code == 401
    assert call(bound.access_token).status_code == 200


def test_the_setting_names_the_default_resource(settings, machine):
    @require_oauth("invoices:read")
    def by_setting(request):
        return HttpResponse("ok")

    link(machine)
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_RESOURCE": API}
    assert call(jwt_for(machine), by_setting).status_code == 200
    assert f'resource_metadata="{METADATA}"' in call(None, by_setting)["WWW-Authenticate"]


def test_insufficient_scope_names_the_metadata_too(machine):
    link(machine)
    policy = resolve(machine.client, [API], ["invoices:write"])
    token, _ = access_jwt.issue(machine.client, policy, scopes=["invoices:write"])
    response = call(token)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert f'resource_metadata="{METADATA}"' in response["WWW-Authenticate"]


# --- the DRF classes ------------------------------------------------------------------------


def test_drf_view_checks_the_audience(machine):
    from beep_iam.oauth2.drf import OAuth2APIView

    class Invoices(OAuth2APIView):
        required_scopes = ["invoices:read"]
        oauth_resource = API

        def get(self, request):
            from rest_framework.response import Response

            return Response({"client": request.auth.client_id})

    view = Invoices.as_view()
    link(machine)
    link(machine, OTHER)
    assert call(jwt_for(machine), view).status_code == 200
    refused = call(jwt_for(machine, OTHER), view)
    assert refused.status_code == 401
    assert f'resource_metadata="{METADATA}"' in refused["WWW-Authenticate"]
    bare = call(None, view)
    assert bare.status_code == 401
    assert bare["WWW-Authenticate"] == f'Bearer resource_metadata="{METADATA}"'


# --- RFC 9728 metadata ------------------------------------------------------------------------

urlpatterns = resource_metadata.urlpatterns


@override_settings(ROOT_URLCONF=__name__)
def test_metadata_of_a_resource_with_a_path(client):
    OAuthResource.objects.create(
        identifier="http://testserver/mcp",
        name="Notes MCP",
        allowed_scopes=["notes:read", "notes:write"],
        metadata={"resource_documentation": "https://docs.example.com", "secret": "not shown"},
    )
    response = client.get("/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 200
    assert response.json() == {
        "resource": "http://testserver/mcp",
        "authorization_servers": [ISSUER],
        "bearer_methods_supported": ["header"],
        "resource_name": "Notes MCP",
        "scopes_supported": ["notes:read", "notes:write"],
        "resource_documentation": "https://docs.example.com",
    }
    assert "max-age" in response["Cache-Control"]


@override_settings(ROOT_URLCONF=__name__)
def test_metadata_of_a_resource_without_a_path(client):
    OAuthResource.objects.create(identifier="http://testserver", name="Root")
    body = client.get("/.well-known/oauth-protected-resource").json()
    assert body["resource"] == "http://testserver" and "scopes_supported" not in body


@override_settings(ROOT_URLCONF=__name__)
def test_no_metadata_for_unknown_disabled_or_foreign_resources(client):
    OAuthResource.objects.create(identifier="http://testserver/off", name="Off", disabled=True)
    OAuthResource.objects.create(identifier="https://api.example.com/mcp", name="Elsewhere")
    for suffix in ("/nothing", "/off", "/mcp", ""):
        assert client.get(f"/.well-known/oauth-protected-resource{suffix}").status_code == 404


def test_metadata_url_of_identifiers():
    assert resource_metadata.metadata_url("https://a.example.com") == (
        "https://a.example.com/.well-known/oauth-protected-resource"
    )
    assert resource_metadata.metadata_url("https://a.example.com/") == (
        "https://a.example.com/.well-known/oauth-protected-resource"
    )
    assert resource_metadata.metadata_url("https://a.example.com:8443/v1/mcp") == (
        "https://a.example.com:8443/.well-known/oauth-protected-resource/v1/mcp"
    )


def test_the_project_serves_the_metadata(client):
    OAuthResource.objects.create(identifier="http://testserver/api", name="API")
    assert client.get("/.well-known/oauth-protected-resource/api").status_code == 200


@pytest.mark.parametrize(
    "value",
    ["api.example.com", "https://api.example.com/x#f", "ftp://x.example.com", 5, "http://[x"],
)
def test_a_bad_resource_setting_is_refused_naming_it(value):
    from django.core.exceptions import ImproperlyConfigured

    from beep_iam.conf import load

    with pytest.raises(ImproperlyConfigured, match="OAUTH2_RESOURCE"):
        load({"OAUTH2_RESOURCE": value})


def test_a_new_key_verifies_at_once_and_a_deleted_one_stops(machine):
    from beep_iam.models import Jwks

    link(machine)
    assert call(jwt_for(machine)).status_code == 200  # the published keys are now cached
    new = keys.create_key(expire_current=True)
    token = jwt_for(machine)
    assert access_jwt._kid(token) == new.pk
    assert call(token).status_code == 200
    Jwks.objects.filter(pk=new.pk).delete()
    assert call(token).status_code == 401


def test_a_jwt_granted_for_an_organization_runs_as_that_tenant(web, user):
    from django.db import connection

    from beep_shared.rls.sql import current_tenant_sql
    from tests.factories import OrganizationFactory
    from tests.factories.tenant import MemberFactory

    @require_oauth("invoices:read", resource=API)
    def tenant(request):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {current_tenant_sql()}")
            return JsonResponse({"tenant": cursor.fetchone()[0]})

    link(web)
    web.client.scopes = None
    web.client.save()
    organization = OrganizationFactory()
    MemberFactory(organization=organization, user=user)  # the tenancy rule: still a member
    token = jwt_for(web, user_id=str(user.pk), reference_id=str(organization.pk))
    response = call(token, tenant)
    assert response.status_code == 200, response.content
    assert json.loads(response.content) == {"tenant": str(organization.pk)}
