"""The sign-in an authorization request asks for (OIDC Core 3.1.2.1): ``auth_time`` is the
session's own sign-in, and ``prompt=login`` / ``max_age`` cannot be skipped by whoever holds
the session (opening the login page's return URL, or posting the consent form)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.test import Client

from beep_iam.models import Verification
from beep_iam.oauth2 import sign_in
from beep_shared import crypto
from tests.factories import UserFactory
from tests.oauth2.conftest import REDIRECT_URI, authorize_url, basic, pkce, query_of

pytestmark = pytest.mark.django_db


def signed_in_ago(http: Client, seconds: float | None) -> None:
    """Make the test client's session one that signed in ``seconds`` ago (None: a session
    with no recorded sign-in, as those from before it was recorded)."""
    session = http.session
    if seconds is None:
        session.pop(sign_in.SESSION_KEY, None)
    else:
        user_pk = session[sign_in.SESSION_KEY][0]
        session[sign_in.SESSION_KEY] = [user_pk, time.time() - seconds]
    session.save()


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def is_login_page(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def return_url(response) -> str:
    """The URL the login page sends the user back to."""
    return parse_qs(urlsplit(response["Location"]).query)["next"][0]


def code_of(response) -> str:
    assert response.status_code == 302, response.content
    assert response["Location"].startswith(REDIRECT_URI + "?"), response["Location"]
    return query_of(response["Location"])["code"]


def auth_time_ms(code: str) -> Any:  # the code's authTime: a number, or None
    row = Verification.objects.get(identifier=crypto.digest(code))
    return json.loads(row.value)["authTime"]


def consented(http: Client, url: str):
    response = http.get(url)
    if response.status_code == 200:  # the consent page
        response = http.post(url, {"decision": "allow"})
    return response


def test_login_records_the_sessions_own_sign_in(client, user, web):
    before = time.time()
    client.force_login(user)
    _, challenge = pkce()
    code = code_of(consented(client, authorize_url(web.client.client_id, challenge)))
    assert before * 1000 - 1 <= auth_time_ms(code) <= time.time() * 1000


def test_an_old_session_stays_old_when_the_user_signs_in_elsewhere(signed_in, web, user):
    signed_in_ago(signed_in, 7 * 24 * 3600)
    Client().force_login(user)  # another device, now (last_login moves)
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge, max_age="60")
    assert is_login_page(signed_in.get(url))
    code = code_of(consented(signed_in, authorize_url(web.client.client_id, challenge)))
    assert time.time() * 1000 - auth_time_ms(code) > 6 * 24 * 3600 * 1000


def test_an_unknown_sign_in_time_is_too_old_for_max_age_and_no_auth_time(signed_in, web):
    signed_in_ago(signed_in, None)
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge, max_age="3600")
    assert is_login_page(signed_in.get(url))
    code = code_of(consented(signed_in, authorize_url(web.client.client_id, challenge)))
    assert auth_time_ms(code) is None  # not made up from last_login or the clock


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}, {"max_age": "60"}])
def test_the_return_url_needs_a_new_sign_in(signed_in, web, user, extra):
    signed_in_ago(signed_in, 3600)
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge, **extra))
    assert is_login_page(response)
    back = return_url(response)
    assert "prompt=login" not in back and "max_age" not in back
    # Whoever holds the session opens the return URL without signing in: asked again.
    again = signed_in.get(back)
    assert is_login_page(again)
    # ... and cannot post the consent form for it either.
    assert is_login_page(signed_in.post(back, {"decision": "allow"}))
    # Signed in since: answered, without asking a third time.
    signed_in.force_login(user)
    code = code_of(consented(signed_in, back))
    assert auth_time_ms(code) >= (time.time() - 60) * 1000


def test_the_consent_post_cannot_skip_prompt_login(signed_in, web):
    signed_in_ago(signed_in, 3600)
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge, prompt="login")
    assert is_login_page(signed_in.post(url, {"decision": "allow"}))


@pytest.mark.parametrize("kind", ["forged", "tampered", "another-salt", "unsigned-time"])
def test_a_marker_that_is_not_ours_asks_to_sign_in(signed_in, web, kind):
    marker = {
        "forged": "forged",
        "tampered": signing.dumps({"was": None}, salt="beep_iam.oauth2.sign_in") + "x",
        "another-salt": signing.dumps({"was": None}),
        "unsigned-time": str(time.time() - 3600),
    }[kind]  # made here: a parameter's id must not change between pytest-xdist workers
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge, **{sign_in.PARAM: marker})
    assert is_login_page(signed_in.get(url))


def test_prompt_none_with_a_sign_in_too_old_redirects_login_required(signed_in, web):
    signed_in_ago(signed_in, 2 * 3600)
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge, max_age="60", prompt="none")
    response = signed_in.get(url)
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "login_required"
    assert response["Location"].startswith(REDIRECT_URI + "?")


@pytest.mark.parametrize("max_age", ["100000000000000", "9" * 400])
def test_a_huge_max_age_is_no_server_error(signed_in, web, max_age):
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge, max_age=max_age)
    response = consented(signed_in, url)
    code_of(response)  # signed in just now: within any max_age


def test_a_pushed_request_keeps_the_new_sign_in_it_needs(signed_in, web, user):
    signed_in_ago(signed_in, 3600)
    _, challenge = pkce()
    pushed = Client().post(
        "/oauth2/par",
        urlsplit(authorize_url(web.client.client_id, challenge, prompt="login")).query,
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    assert pushed.status_code == 201, pushed.content
    request_uri = pushed.json()["request_uri"]
    url = f"/oauth2/authorize?client_id={web.client.client_id}&request_uri={request_uri}"
    assert is_login_page(signed_in.get(url))
    back = return_url(signed_in.get(url))
    assert is_login_page(signed_in.get(back))  # the pushed row holds the requirement
    signed_in.force_login(user)
    code_of(consented(signed_in, back))


def test_the_consent_post_is_csrf_protected_without_the_middleware(settings, signed_in, web):
    settings.MIDDLEWARE = [
        m for m in settings.MIDDLEWARE if m != "django.middleware.csrf.CsrfViewMiddleware"
    ]
    http = Client(enforce_csrf_checks=True)
    http.cookies = signed_in.cookies
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge)
    response = http.post(url, {"decision": "allow"})
    assert response.status_code == 403
    assert "Location" not in response


def test_a_login_hosts_clock_a_little_behind_still_answers(signed_in, web, user):
    """The sign-in is recorded by the host that signs in, the marker's time by the one that
    redirected: a clock a few seconds behind is within the allowance."""
    signed_in_ago(signed_in, 3600)
    _, challenge = pkce()
    back = return_url(signed_in.get(authorize_url(web.client.client_id, challenge, prompt="login")))
    signed_in_ago(signed_in, 3)  # a new sign-in, recorded by a clock 3 seconds behind
    code_of(consented(signed_in, back))


def test_another_users_sign_in_record_does_not_count(signed_in, web, user):
    """The record names its user: a request of another user (better-auth's cookie on a
    browser whose Django session is someone else's) does not take its time."""
    session = signed_in.session
    session[sign_in.SESSION_KEY] = ["someone-else", time.time()]
    session.save()
    _, challenge = pkce()
    assert is_login_page(
        signed_in.get(authorize_url(web.client.client_id, challenge, max_age="600"))
    )


# --- stolen sessions swapped in on the way back (session-8 review 3) ------------------------


def pushed_url(web, **extra: str) -> str:
    _, challenge = pkce()
    pushed = Client().post(
        "/oauth2/par",
        urlsplit(authorize_url(web.client.client_id, challenge, **extra)).query,
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    assert pushed.status_code == 201, pushed.content
    request_uri = pushed.json()["request_uri"]
    return f"/oauth2/authorize?client_id={web.client.client_id}&request_uri={request_uri}"


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "60"}, {"max_age": "0"}])
@pytest.mark.parametrize("age", [30 * 24 * 3600, 200])  # a month, or minutes before
def test_an_anonymous_start_then_a_stolen_cookie_answers_nothing(web, user, extra, age):
    victim = Client()
    victim.force_login(user)
    signed_in_ago(victim, age)
    attacker = Client()  # no session: the pushed row gets a marker for nobody
    back = return_url(attacker.get(pushed_url(web, **extra)))
    attacker.cookies = victim.cookies
    assert is_login_page(consented(attacker, back))


def test_ones_own_old_session_then_a_stolen_cookie_answers_nothing(web, user):
    victim = Client()
    victim.force_login(user)
    signed_in_ago(victim, 3600)
    attacker = Client()
    attacker.force_login(UserFactory())
    signed_in_ago(attacker, 365 * 24 * 3600)
    back = return_url(attacker.get(pushed_url(web, prompt="login")))
    attacker.cookies = victim.cookies
    assert is_login_page(consented(attacker, back))


def test_a_newer_stolen_session_of_the_same_user_answers_nothing(web, user):
    old, newer = Client(), Client()
    for http, age in ((old, 7200), (newer, 3600)):
        http.force_login(user)
        signed_in_ago(http, age)
    _, challenge = pkce()
    back = return_url(old.get(authorize_url(web.client.client_id, challenge, prompt="login")))
    assert is_login_page(consented(newer, back))


def test_a_sign_in_just_before_the_redirect_is_not_the_one_asked_for(signed_in, web, user):
    """A session signed in a minute ago (within the clock allowance) still owes a new one."""
    signed_in_ago(signed_in, 60)
    _, challenge = pkce()
    back = return_url(signed_in.get(authorize_url(web.client.client_id, challenge, prompt="login")))
    assert is_login_page(signed_in.get(back))
    signed_in.force_login(user)
    code_of(consented(signed_in, back))
