"""DPoP (RFC 9449) across Django and stock better-auth 1.7 on one database: a DPoP-bound token
issued by either server is stored in the same ``confirmation`` form, validates at the other's
resource side (Django's ``require_oauth``; better-auth's introspection reports its ``cnf``)
and refreshes at the other only with a proof of the same key (1.7 only: 1.4 has no DPoP)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.http import JsonResponse
from django.test import Client, RequestFactory
from joserfc.jwk import ECKey

from beep_iam.models import OAuthAccessToken
from beep_iam.oauth2.resource import require_oauth
from beep_iam.services import oauth_clients
from beep_shared import crypto
from tests.oauth2.conftest import pkce, query_of
from tests.oauth2.test_dpop import proof

from . import oauth
from .test_accounts import sign_up
from .test_oauth_endpoints import FORM, ISSUER, better_auth_17, co_tenancy  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

BETTER_AUTH_TOKEN_URL = f"{ISSUER}/oauth2/token"  # better-auth's baseURL + its path
DJANGO_TOKEN_URL = "http://localhost:3000/oauth2/token"  # the issuer's origin + Django's path
RESOURCE_URL = "http://testserver/invoices"


@require_oauth("openid")
def resource(request):
    return JsonResponse({"user": request.oauth_token.user_id})


def call_resource(token: str, key: ECKey | None, scheme: str = "DPoP"):
    headers = {"HTTP_AUTHORIZATION": f"{scheme} {token}"}
    if key is not None:
        headers["HTTP_DPOP"] = proof(key, "GET", RESOURCE_URL, access_token=token)
    return resource(RequestFactory().get("/invoices", **headers))


def public_client() -> dict[str, str]:
    registered = oauth_clients.register_client(
        name="Shared SPA",
        redirect_uris=[oauth.REDIRECT_URI],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        scopes=oauth.SCOPE.split(),
    )
    return {"client_id": registered.client.client_id}


def better_auth_token(server, client_id: str, dpop: str | None, **form: str):
    headers = {"DPoP": dpop} if dpop else {}
    return server.request(
        "POST",
        "/api/auth/oauth2/token",
        form={"client_id": client_id, **form},
        headers=headers,
    )


def confirmation_of(access_token: str):
    return OAuthAccessToken.objects.get(token=crypto.digest(access_token)).confirmation


def test_better_auth_bound_tokens_validate_and_refresh_at_django(better_auth_17):  # noqa: F811
    browser, _ = sign_up(better_auth_17, email="hopper@example.com", name="Grace")
    client = public_client()
    key = ECKey.generate_key("P-256")
    code, verifier = oauth.authorize(browser, client["client_id"])
    issued = better_auth_token(
        better_auth_17,
        client["client_id"],
        proof(key, htu=BETTER_AUTH_TOKEN_URL),
        grant_type="authorization_code",
        code=code,
        redirect_uri=oauth.REDIRECT_URI,
        code_verifier=verifier,
    )
    assert issued.status == 200, issued.body
    assert issued.body["token_type"] == "DPoP"
    access, refresh = issued.body["access_token"], issued.body["refresh_token"]
    assert confirmation_of(access) == {"jkt": key.thumbprint()}  # the form Django writes

    # Django's resource side: with a proof of the key only, never as a bearer token.
    assert call_resource(access, key).status_code == 200
    assert call_resource(access, None, "Bearer").status_code == 401
    assert call_resource(access, ECKey.generate_key("P-256")).status_code == 401

    # Django's token endpoint refreshes better-auth's bound refresh token with the same key.
    http = Client()

    def refresh_at_django(dpop: str | None):
        headers = {"HTTP_DPOP": dpop} if dpop else {}
        body = {"grant_type": "refresh_token", "refresh_token": refresh, **client}
        return http.post("/oauth2/token", urlencode(body), content_type=FORM, **headers)

    assert refresh_at_django(None).json()["error"] == "invalid_dpop_proof"
    other = ECKey.generate_key("P-256")
    assert refresh_at_django(proof(other, htu=DJANGO_TOKEN_URL)).json()["error"] == (
        "invalid_dpop_proof"
    )
    refreshed = refresh_at_django(proof(key, htu=DJANGO_TOKEN_URL))
    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["token_type"] == "DPoP"
    assert call_resource(refreshed.json()["access_token"], key).status_code == 200


def test_django_bound_tokens_validate_and_refresh_at_better_auth(better_auth_17):  # noqa: F811
    browser, _ = sign_up(better_auth_17, email="liskov@example.com", name="Barbara")
    client = public_client()
    key = ECKey.generate_key("P-256")

    # Signed in on better-auth only: its session cookie signs the user in on Django.
    http = Client()
    for name, value in browser.cookies.items():
        http.cookies[name] = value
    verifier, challenge = pkce()
    url = "/oauth2/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": oauth.REDIRECT_URI,
            "scope": oauth.SCOPE,
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "dpop_jkt": key.thumbprint(),
        }
    )
    assert http.get(url).status_code == 200  # Django's consent page
    response = http.post(url, {"decision": "allow"})
    code = query_of(response["Location"])["code"]
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": oauth.REDIRECT_URI,
        "code_verifier": verifier,
        **client,
    }
    issued = http.post(
        "/oauth2/token",
        urlencode(body),
        content_type=FORM,
        HTTP_DPOP=proof(key, htu=DJANGO_TOKEN_URL),
    )
    assert issued.status_code == 200, issued.content
    assert issued.json()["token_type"] == "DPoP"
    refresh = issued.json()["refresh_token"]

    # better-auth refuses the bound refresh token without a proof, or with another key...
    refused = better_auth_token(
        better_auth_17, client["client_id"], None, grant_type="refresh_token", refresh_token=refresh
    )
    assert refused.status == 400 and refused.body["error"] == "invalid_dpop_proof", refused.body
    other = ECKey.generate_key("P-256")
    refused = better_auth_token(
        better_auth_17,
        client["client_id"],
        proof(other, htu=BETTER_AUTH_TOKEN_URL),
        grant_type="refresh_token",
        refresh_token=refresh,
    )
    assert refused.status == 400 and refused.body["error"] == "invalid_dpop_proof", refused.body
    # ...and refreshes it with the key; its new access token is bound and works at Django.
    refreshed = better_auth_token(
        better_auth_17,
        client["client_id"],
        proof(key, htu=BETTER_AUTH_TOKEN_URL),
        grant_type="refresh_token",
        refresh_token=refresh,
    )
    assert refreshed.status == 200, refreshed.body
    assert refreshed.body["token_type"] == "DPoP"
    assert confirmation_of(refreshed.body["access_token"]) == {"jkt": key.thumbprint()}
    assert call_resource(refreshed.body["access_token"], key).status_code == 200
    assert call_resource(refreshed.body["access_token"], None, "Bearer").status_code == 401
