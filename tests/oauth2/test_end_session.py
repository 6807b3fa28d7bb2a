"""RP-initiated logout: at once only with an ID token of the signed-in user, otherwise after
the user confirms on a page; for a client that may, back to a registered URI only."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlencode

import pytest
from django.test import Client

from beep_iam.oauth2 import access_jwt, sign_in
from beep_iam.oauth2.claims import id_token
from beep_iam.oauth2.resources import Policy
from tests.factories import UserFactory
from tests.oauth2.conftest import AFTER_LOGOUT as AFTER
from tests.oauth2.conftest import query_of

pytestmark = pytest.mark.django_db


def hint_for(user, registered, alg: str = "EdDSA", session_of: Client | None = None) -> str:
    """An ID token of ``user`` for the client; issued to the session of ``session_of`` (its
    ``auth_time`` that session's sign-in), or to no session in particular."""
    recorded = session_of.session.get(sign_in.SESSION_KEY) if session_of else None
    signed_in_at = recorded[1] if recorded else None
    return id_token(
        user=user,
        client_id=registered.client.client_id,
        scopes=["openid"],
        access_token="x",
        alg=alg,
        auth_time=dt.datetime.fromtimestamp(signed_in_at, dt.UTC) if signed_in_at else None,
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def end(client, **params):
    return client.get("/oauth2/end-session?" + urlencode(params))


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])  # whichever the client's tokens
def test_signs_out_and_returns_with_state(client, user, logout_client, alg):
    client.force_login(user)
    response = end(
        client,
        id_token_hint=hint_for(user, logout_client, alg, session_of=client),
        post_logout_redirect_uri=AFTER,
        state="bye",
    )
    assert response.status_code == 302
    assert response["Location"].startswith(AFTER + "?")
    assert query_of(response["Location"]) == {"state": "bye"}
    assert not signed_in(client)


def test_without_a_redirect_uri_a_page(client, user, logout_client):
    client.force_login(user)
    hint = hint_for(user, logout_client, session_of=client)
    response = client.post("/oauth2/end-session", {"id_token_hint": hint})
    assert response.status_code == 200
    assert b"signed out" in response.content
    assert not signed_in(client)


def test_refusals_sign_no_one_out_and_redirect_nowhere(client, user, web, logout_client):
    client.force_login(user)
    other = UserFactory()
    forged = hint_for(user, logout_client)[:-4] + "AAAA"
    cases = [
        {"id_token_hint": "not.a.jwt"},
        {"id_token_hint": forged},
        {"id_token_hint": hint_for(user, logout_client), "post_logout_redirect_uri": AFTER + "x"},
        {"id_token_hint": hint_for(user, logout_client), "client_id": "someone-else"},
        {"id_token_hint": hint_for(other, logout_client)},
    ]
    for params in cases:
        response = end(client, **params)
        assert response.status_code == 400, params
        assert not response.has_header("Location"), params
        assert b"sign-out request cannot be completed" in response.content, params
        assert signed_in(client), params


def test_a_client_without_enable_end_session(client, user, web):
    client.force_login(user)
    response = end(client, id_token_hint=hint_for(user, web))
    assert response.status_code == 400
    assert signed_in(client)


def test_advertised(client):
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["end_session_endpoint"] == "https://testserver/oauth2/end-session"


def _csrf(page) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)
    assert match, page.content
    return match.group(1).decode()


@pytest.fixture
def browser(user) -> Client:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    return browser


def test_without_a_hint_the_user_confirms_on_a_page(browser, logout_client):
    client_id = logout_client.client.client_id
    page = end(browser, client_id=client_id, post_logout_redirect_uri=AFTER, state="s1")
    assert page.status_code == 200
    assert not page.has_header("Location")
    assert b"Sign out?" in page.content and b"Web app" in page.content
    assert page["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert page["X-Frame-Options"] == "DENY"
    assert signed_in(browser)  # a link alone signs no one out
    response = browser.post(
        "/oauth2/end-session",
        {
            "client_id": client_id,
            "post_logout_redirect_uri": AFTER,
            "state": "s1",
            "decision": "logout",
            "csrfmiddlewaretoken": _csrf(page),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == AFTER + "?state=s1"
    assert not signed_in(browser)


def test_the_confirmation_needs_its_csrf_token(browser, logout_client):
    # Logout CSRF: another site's form posting the answer signs no one out.
    response = browser.post(
        "/oauth2/end-session",
        {"client_id": logout_client.client.client_id, "decision": "logout"},
    )
    assert response.status_code == 403
    assert signed_in(browser)


def test_staying_signed_in(browser, logout_client):
    client_id = logout_client.client.client_id
    page = end(browser, client_id=client_id, post_logout_redirect_uri=AFTER)
    response = browser.post(
        "/oauth2/end-session",
        {
            "client_id": client_id,
            "post_logout_redirect_uri": AFTER,
            "decision": "stay",
            "csrfmiddlewaretoken": _csrf(page),
        },
    )
    assert response.status_code == 302 and response["Location"] == AFTER
    assert signed_in(browser)
    page = end(browser)
    response = browser.post(
        "/oauth2/end-session", {"decision": "stay", "csrfmiddlewaretoken": _csrf(page)}
    )
    assert response.status_code == 200 and b"You are still signed in" in response.content
    assert signed_in(browser)


def test_without_a_hint_or_a_client_only_the_page(browser):
    page = end(browser)
    assert page.status_code == 200 and b"Do you want to sign out?" in page.content
    response = browser.post(
        "/oauth2/end-session", {"decision": "logout", "csrfmiddlewaretoken": _csrf(page)}
    )
    assert response.status_code == 200 and b"You are signed out" in response.content
    assert not signed_in(browser)


def test_without_a_hint_the_redirect_needs_a_proven_client(browser, spa, logout_client):
    cases = [
        {"post_logout_redirect_uri": AFTER},  # no client named
        {"client_id": logout_client.client.client_id, "post_logout_redirect_uri": AFTER + "x"},
        {"client_id": spa.client.client_id},  # end session not enabled
        {"client_id": "unknown"},
    ]
    for params in cases:
        response = end(browser, **params)
        assert response.status_code == 400, params
        assert not response.has_header("Location"), params
        assert signed_in(browser), params


def test_signed_out_already_returns_to_the_client(client, logout_client):
    response = end(
        client,
        client_id=logout_client.client.client_id,
        post_logout_redirect_uri=AFTER,
        state="s2",
    )
    assert response.status_code == 302 and response["Location"] == AFTER + "?state=s2"


def test_a_relying_party_may_post_with_a_hint(browser, user, logout_client):
    # RP-Initiated Logout 1.0 section 2: GET and POST; a cross-site form has no CSRF token.
    response = browser.post(
        "/oauth2/end-session",
        {
            "id_token_hint": hint_for(user, logout_client, session_of=browser),
            "post_logout_redirect_uri": AFTER,
        },
    )
    assert response.status_code == 302 and response["Location"] == AFTER
    assert not signed_in(browser)


@pytest.mark.parametrize("issued_to", ["an older session", "no session"])
def test_a_hint_of_another_session_asks_first(browser, user, logout_client, issued_to):
    """RP-Initiated Logout 1.0 section 2: an ID token that is not the current session's (an
    old one, or one without auth_time or sid) does not sign the user out unasked."""
    if issued_to == "an older session":
        old = Client()
        old.force_login(user)
        session = old.session
        sign_in.record(session, user, session[sign_in.SESSION_KEY][1] - 3600)
        session.save()
        hint = hint_for(user, logout_client, session_of=old)
    else:
        hint = hint_for(user, logout_client)
    page = end(browser, id_token_hint=hint, post_logout_redirect_uri=AFTER)
    assert page.status_code == 200 and b"Sign out?" in page.content
    assert signed_in(browser)
    response = browser.post(
        "/oauth2/end-session",
        {
            "id_token_hint": hint,
            "post_logout_redirect_uri": AFTER,
            "decision": "logout",
            "csrfmiddlewaretoken": _csrf(page),
        },
    )
    assert response.status_code == 302 and response["Location"] == AFTER
    assert not signed_in(browser)


def test_an_access_token_is_no_id_token_hint(client, user, logout_client):
    # RFC 8725 3.11 (review 14): a JWT access token (typ at+jwt) of the same keys, even one
    # whose audience names the client, is not an ID token.
    raw, _ = access_jwt.issue(
        logout_client.client,
        Policy(resources=[], audience=[logout_client.client.client_id], scopes=["openid"]),
        scopes=["openid"],
        user_id=str(user.pk),
    )
    client.force_login(user)
    response = end(client, id_token_hint=raw, post_logout_redirect_uri=AFTER)
    assert response.status_code == 400
    assert not response.has_header("Location")
    assert signed_in(client)
