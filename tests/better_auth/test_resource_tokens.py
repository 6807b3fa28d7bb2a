"""Resource-bound JWT access tokens (RFC 8707 + RFC 9068) across Django and stock
better-auth 1.7 on one database: a token either server issues for a resource verifies at the
other's resource side (Django's ``require_oauth``; better-auth's ``verifyJwsAccessToken`` and
its introspection), and a code authorized for a resource on Django redeems at better-auth for
a token with that audience. The ``oauth_resource`` / ``oauth_client_resource`` rows are
Django's; better-auth reads them as its own (1.4 has neither table)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.http import HttpResponse, JsonResponse
from django.test import Client, RequestFactory

from beep_iam.models import OAuthClientResource, OAuthResource
from beep_iam.oauth2 import access_jwt
from beep_iam.oauth2.resource import require_oauth
from beep_iam.services import oauth_clients
from tests.oauth2.conftest import pkce, query_of

from . import oauth
from .test_accounts import sign_up
from .test_oauth_endpoints import (  # noqa: F401  (fixtures)
    FORM,
    ISSUER,
    better_auth_17,
    co_tenancy,
    django_client_registered,
)

pytestmark = pytest.mark.django_db(transaction=True)

API = "https://api.example.com/invoices"
OTHER = "https://other.example.com/api"


@require_oauth("invoices:read", resource=API)
def invoices(request) -> HttpResponse:
    return JsonResponse({"client": request.oauth_token.client_id})


def at_django(token: str) -> HttpResponse:
    return invoices(RequestFactory().get("/invoices", HTTP_AUTHORIZATION=f"Bearer {token}"))


def machine() -> dict[str, str]:
    registered = oauth_clients.register_client(
        redirect_uris=[],
        name="Robot",
        token_endpoint_auth_method="client_secret_post",
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
    )
    assert registered.client_secret is not None
    for identifier in (API, OTHER):
        row, _ = OAuthResource.objects.get_or_create(identifier=identifier, name=identifier)
        OAuthClientResource.objects.create(client_id=registered.client.client_id, resource=row)
    return {"client_id": registered.client.client_id, "client_secret": registered.client_secret}


def test_better_auth_jwt_verifies_at_django(better_auth_17):  # noqa: F811
    client = machine()
    issued = oauth.token(
        better_auth_17, client, grant_type="client_credentials", scope="invoices:read", resource=API
    )
    assert issued.status == 200, issued.body
    token = issued.body["access_token"]
    assert access_jwt.looks_like_jwt(token)
    response = at_django(token)
    assert response.status_code == 200, response.content
    assert json.loads(response.content) == {"client": client["client_id"]}
    # Django's resource side keeps the audience rule for better-auth's tokens too.
    other = oauth.token(
        better_auth_17,
        client,
        grant_type="client_credentials",
        scope="invoices:read",
        resource=OTHER,
    )
    assert at_django(other.body["access_token"]).status_code == 401
    # And Django's introspection reports better-auth's token as better-auth would.
    body = (
        Client()
        .post("/oauth2/introspect", urlencode({**client, "token": token}), content_type=FORM)
        .json()
    )
    assert body["active"] is True and body["aud"] == API


def test_django_jwt_verifies_at_better_auth(better_auth_17):  # noqa: F811
    client = machine()
    response = Client().post(
        "/oauth2/token",
        urlencode({**client, "grant_type": "client_credentials", "resource": API}),
        content_type=FORM,
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    verified = better_auth_17.call("verifyAccessToken", token=token, audience=API, issuer=ISSUER)
    assert "payload" in verified, verified
    assert verified["payload"]["client_id"] == client["client_id"]
    assert verified["payload"]["aud"] == API and verified["payload"]["scope"] == "invoices:read"
    wrong = better_auth_17.call("verifyAccessToken", token=token, audience=OTHER, issuer=ISSUER)
    assert "payload" not in wrong and "aud" in wrong["error"], wrong
    # better-auth's introspection (a resource server's remote check) takes it as its own.
    introspected = oauth.introspect(better_auth_17, client, token)
    assert introspected.status == 200 and introspected.body["active"] is True, introspected.body
    assert introspected.body["aud"] == API


def test_code_for_a_resource_on_django_redeems_at_better_auth(better_auth_17):  # noqa: F811
    browser, user_body = sign_up(better_auth_17, email="ida@example.com", name="Ida")
    client = django_client_registered()
    row = OAuthResource.objects.create(identifier=API, name="Invoices")
    OAuthClientResource.objects.create(client_id=client["client_id"], resource=row)
    http = Client()
    for name, value in browser.cookies.items():
        http.cookies[name] = value
    verifier, challenge = pkce()
    url = "/oauth2/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": oauth.REDIRECT_URI,
            "scope": "openid offline_access",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": API,
        }
    )
    assert http.get(url).status_code == 200  # Django's consent page
    code = query_of(http.post(url, {"decision": "allow"})["Location"])["code"]
    issued = oauth.exchange_code(better_auth_17, client, code, verifier)
    assert issued.status == 200, issued.body
    info = access_jwt.validate(issued.body["access_token"], API)
    assert info is not None and info.user_id == user_body["id"]
    assert info.session_id is not None  # better-auth's session, carried by the code
    # better-auth kept the resource on the refresh token: a refresh at Django stays bound.
    refreshed = http.post(
        "/oauth2/token",
        urlencode(
            {**client, "grant_type": "refresh_token", "refresh_token": issued.body["refresh_token"]}
        ),
        content_type=FORM,
    )
    assert refreshed.status_code == 200, refreshed.content
    assert access_jwt.validate(refreshed.json()["access_token"], API) is not None
