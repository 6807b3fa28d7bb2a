"""One-time values share the ``verification`` table, keyed by the SHA-256 digest of the raw
value: authorization codes, PAR request_uris and RFC 7592 registration access tokens. Code
redemption deleted the row of the presented value before it read the row's type, so any such
value presented as ``code`` at the token endpoint was used up (by anyone: a public client
needs no secret). Review 5."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import override_settings

from beep_iam.models import Verification
from beep_iam.oauth2 import par
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, basic, pkce

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


def redeem_as_code(http, client_id: str, value: str):
    return http.post(
        "/oauth2/token",
        urlencode(
            {
                "grant_type": "authorization_code",
                "code": value,
                "redirect_uri": REDIRECT_URI,
                "client_id": client_id,
                "code_verifier": "x" * 43,
            }
        ),
        content_type=FORM,
    )


def test_a_registration_access_token_presented_as_a_code_stays(client, spa):
    with override_settings(
        BEEP_IAM={**settings.BEEP_IAM, "OAUTH2_ISSUER": ISSUER, "OAUTH2_REGISTRATION": "open"}
    ):
        registered = client.post(
            "/oauth2/register",
            json.dumps({"redirect_uris": ["https://app.example.com/cb"], "client_name": "A"}),
            content_type="application/json",
        )
        assert registered.status_code == 201, registered.content
        body = registered.json()
        uri = body["registration_client_uri"].removeprefix("https://testserver")
        auth = {"HTTP_AUTHORIZATION": f"Bearer {body['registration_access_token']}"}
        assert client.get(uri, **auth).status_code == 200
        # Anyone holding (or logging) it, through the token endpoint as any public client:
        answer = redeem_as_code(client, spa.client.client_id, body["registration_access_token"])
        assert answer.status_code == 400
        after = client.get(uri, **auth)
    assert after.status_code == 200, (
        "the registration access token was deleted by a token request that presented it as "
        f"an authorization code: {after.status_code}"
    )


def test_a_request_uri_presented_as_a_code_stays(client, user, web, spa):
    _, challenge = pkce()
    pushed = client.post(
        "/oauth2/par",
        urlencode(
            {
                "response_type": "code",
                "client_id": web.client.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        ),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    request_uri = pushed.json()["request_uri"]
    answer = redeem_as_code(client, spa.client.client_id, request_uri.removeprefix(par.PREFIX))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert Verification.objects.filter(value__contains='"type":"par"').exists(), (
        "the pushed request was deleted by a token request presenting it as a code"
    )
