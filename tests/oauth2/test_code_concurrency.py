"""Two redemptions of one code at the same moment: one gets tokens, the other is a replay, and
the replay revokes what the first got (it waits for them: codes.redeem_code)."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings

from beep_iam.oauth2 import codes
from beep_iam.services.oauth_tokens import validate_access_token
from tests.factories import UserFactory
from tests.oauth2.conftest import pkce

ROUNDS = 15
SPA_URI = "http://127.0.0.1/cb"
FORM = "application/x-www-form-urlencoded"


def _race(body: str) -> list:
    barrier = threading.Barrier(2)
    responses: list = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            response = Client().post("/oauth2/token", body, content_type=FORM)
        finally:
            connection.close()
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_of_one_code(spa):
    user = UserFactory()
    # Thirty token requests from one address: more than the default per-IP limit allows.
    with override_settings(BEEP_IAM={**settings.BEEP_IAM, "OAUTH2_RATE_LIMITS": None}):
        _rounds(spa, user)


def _rounds(spa, user) -> None:
    for round_no in range(ROUNDS):
        verifier, challenge = pkce()
        query = {
            "response_type": "code",
            "client_id": spa.client.client_id,
            "redirect_uri": SPA_URI,
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        code = codes.issue_code(query, user_id=user.pk, session_id="", auth_time_ms=None)
        body = urlencode(
            {
                "grant_type": "authorization_code",
                "client_id": spa.client.client_id,
                "code": code,
                "redirect_uri": SPA_URI,
                "code_verifier": verifier,
            }
        )
        responses = _race(body)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 400], f"round {round_no}: {statuses}"
        (won,) = [r for r in responses if r.status_code == 200]
        (lost,) = [r for r in responses if r.status_code == 400]
        assert lost.json()["error"] == "invalid_grant"
        assert validate_access_token(won.json()["access_token"]) is None, f"round {round_no}"
