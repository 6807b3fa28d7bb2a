"""DPoP (RFC 9449) through the Django REST framework classes."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import path
from joserfc.jwk import ECKey
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from beep_iam.oauth2.drf import OAuth2APIView
from beep_iam.services.oauth_tokens import issue_tokens
from tests.oauth2.conftest import with_issuer
from tests.oauth2.test_dpop import proof

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.oauth2.test_drf_dpop")]

URL = "http://testserver/api/invoices"
STRICT_URL = "http://testserver/api/strict"


class Invoices(OAuth2APIView):
    renderer_classes = [JSONRenderer]
    required_scopes = ["invoices:read"]

    def get(self, request):
        return Response({"client": request.auth.client_id})


class Strict(Invoices):
    dpop_required = True


urlpatterns = [path("api/invoices", Invoices.as_view()), path("api/strict", Strict.as_view())]


@pytest.fixture
def key() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture
def bound(machine, key) -> str:
    cnf = {"jkt": key.thumbprint()}
    return issue_tokens(machine.client, scopes=["invoices:read"], confirmation=cnf).access_token


def get(http: Client, url: str, token: str, scheme: str = "DPoP", dpop: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"{scheme} {token}"}
    if dpop is not None:
        headers["HTTP_DPOP"] = dpop
    return http.get(url.removeprefix("http://testserver"), **headers)


def test_bound_token_with_its_proof(client, bound, key):
    response = get(client, URL, bound, dpop=proof(key, "GET", URL, access_token=bound))
    assert response.status_code == 200, response.content


def test_bound_token_as_bearer_is_refused_with_a_dpop_challenge(client, bound, key):
    response = get(client, URL, bound, "Bearer", dpop=proof(key, "GET", URL, access_token=bound))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('DPoP error="invalid_token"')


def test_bound_token_with_another_key_is_refused(client, bound):
    other = ECKey.generate_key("P-256")
    response = get(client, URL, bound, dpop=proof(other, "GET", URL, access_token=bound))
    assert response.status_code == 401
    assert 'error="invalid_dpop_proof"' in response["WWW-Authenticate"]


def test_a_view_that_requires_dpop_refuses_bearer_tokens(client, machine, bound, key):
    plain = issue_tokens(machine.client, scopes=["invoices:read"]).access_token
    assert get(client, URL, plain, "Bearer").status_code == 200
    refused = get(client, STRICT_URL, plain, "Bearer")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
    proven = get(client, STRICT_URL, bound, dpop=proof(key, "GET", STRICT_URL, access_token=bound))
    assert proven.status_code == 200


def test_nonce_is_sent_with_use_dpop_nonce(client, bound, key, settings):
    with with_issuer("https://testserver"):
        settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DPOP": {"NONCE_REQUIRED": True}}
        first = get(client, URL, bound, dpop=proof(key, "GET", URL, access_token=bound))
        assert first.status_code == 401
        assert 'error="use_dpop_nonce"' in first["WWW-Authenticate"]
        nonce = first["DPoP-Nonce"]
        again = proof(key, "GET", URL, access_token=bound, nonce=nonce)
        assert get(client, URL, bound, dpop=again).status_code == 200
