"""One-time values share the ``verification`` table, keyed by the SHA-256 digest of the raw
value: authorization codes, PAR request_uris and RFC 7592 registration access tokens. Code
redemption deleted the row of the presented value before it read the row's type, so any such
value presented as ``code`` at the token endpoint was used up (by anyone: a public client
needs no secret). Review 5."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from beep_iam.models import Verification
from beep_iam.oauth2 import par
from beep_shared import crypto
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


# Review 11: the type was read by a jsonb cast in SQL, which JSON text holding \u0000 breaks.


def test_a_row_whose_json_jsonb_refuses_is_no_code_and_no_500(spa):
    code = "some-code-value"
    Verification.objects.create(
        identifier=crypto.digest(code),
        value='{"type": "x\\u0000"}',  # valid JSON, not valid jsonb
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    answer = redeem_as_code(Client(raise_request_exception=False), spa.client.client_id, code)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert Verification.objects.filter(identifier=crypto.digest(code)).exists()


def test_a_nul_in_a_parameter_name_is_refused(web):
    # Names are stored with the values (a pushed request, a code's query): PostgreSQL's text
    # holds no NUL, jsonb no \u0000.
    _, challenge = pkce()
    body = urlencode({"response_type": "code", "code_challenge": challenge}) + "&x%00y=1"
    pushed = Client().post(
        "/oauth2/par",
        body,
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    assert pushed.status_code == 400
    assert "NUL" in pushed.json()["error_description"]
    assert not Verification.objects.exists()


def test_a_row_nested_too_deep_is_no_code_and_no_500(spa):
    code = "deep-code-value"
    Verification.objects.create(
        identifier=crypto.digest(code),
        value="[" * 100_000 + "]" * 100_000,  # another server's row: JSON past the parser's depth
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    answer = redeem_as_code(Client(raise_request_exception=False), spa.client.client_id, code)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
