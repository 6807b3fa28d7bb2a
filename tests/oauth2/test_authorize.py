"""The authorization endpoint: what is redirected, what is shown, the consent page, codes."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from beep_iam.models import OAuthConsent, Verification
from beep_iam.oauth2 import codes, sign_in
from beep_shared import crypto
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, authorize_url, get_code, pkce, query_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def assert_redirected_error(response, error: str) -> dict:
    assert response.status_code == 302, response.content
    assert response["Location"].startswith(REDIRECT_URI + "?")
    params = query_of(response["Location"])
    assert params["error"] == error, params
    assert params["state"] == "st-123"
    assert params["iss"] == ISSUER
    return params


def assert_error_page(response) -> None:
    assert response.status_code == 400
    assert not response.has_header("Location")
    assert b"cannot be completed" in response.content


def test_unknown_client_gets_an_error_page(signed_in):
    _, challenge = pkce()
    assert_error_page(signed_in.get(authorize_url("no-such-client", challenge)))


def test_disabled_client_gets_an_error_page(signed_in, web):
    web.client.disabled = True
    web.client.save()
    _, challenge = pkce()
    assert_error_page(signed_in.get(authorize_url(web.client.client_id, challenge)))


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example.com/callback",
        REDIRECT_URI + "/more",
        REDIRECT_URI + "?x=1",
        "https://CLIENT.example.com/callback",
    ],
)
def test_unregistered_redirect_uri_is_never_redirected_to(signed_in, web, uri):
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge, redirect_uri=uri))
    assert_error_page(response)


def test_repeated_parameters_get_an_error_page(signed_in, web):
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge) + "&state=again"
    assert_error_page(signed_in.get(url))


def test_a_signed_out_user_is_sent_to_sign_in(client, web):
    _, challenge = pkce()
    response = client.get(authorize_url(web.client.client_id, challenge))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_prompt_none_signed_out(client, web):
    _, challenge = pkce()
    response = client.get(authorize_url(web.client.client_id, challenge, prompt="none"))
    assert_redirected_error(response, "login_required")


def test_prompt_login_asks_to_sign_in_again_once(signed_in, web):
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge, prompt="login"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert "prompt%3Dlogin" not in response["Location"]


def test_max_age_older_than_the_sign_in(signed_in, web, user):
    session = signed_in.session
    sign_in.record(session, user, time.time() - 2 * 3600)  # the session's own sign-in
    session.save()
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge, max_age="60"))
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_type": ""}, "invalid_request"),  # empty counts as absent
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"max_age": "soon"}, "invalid_request"),
        ({"request": "eyJ.x.y"}, "request_not_supported"),
    ],
)
def test_refusals_once_client_and_redirect_uri_are_proven(signed_in, web, extra, error):
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge, **extra))
    params = assert_redirected_error(response, error)
    assert "code" not in params


@pytest.mark.parametrize("scope", [None, ""])  # absent, or empty (which counts as absent)
def test_a_request_without_scope_gets_the_clients_registered_scopes(signed_in, web, scope):
    """RFC 6749 3.3: a default rather than a failure, better-auth's (the client's registered
    scopes): shown on the consent page, held by the code and its tokens."""
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge)
    url = url.replace("scope=openid+email+offline_access", f"scope={scope}" if scope == "" else "")
    page = signed_in.get(url)
    assert page.status_code == 200
    for registered in web.client.scopes:
        assert f"<code>{registered}</code>".encode() in page.content
    response = signed_in.post(url, {"decision": "allow"})
    code = query_of(response["Location"])["code"]
    stored = json.loads(Verification.objects.get(identifier=crypto.digest(code)).value)
    assert stored["query"]["scope"] == " ".join(web.client.scopes)


def test_the_consent_form_grants_the_default_scopes_it_showed(signed_in, web):
    """Without scope the default is the client's scopes, which may widen while the user reads
    the page (an operator, an RFC 7592 update, a metadata document fetched again): the form
    posts the scopes it showed, so "Allow" grants those and no more."""
    web.client.scopes = ["openid"]
    web.client.save()
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge).replace(
        "scope=openid+email+offline_access", ""
    )
    page = signed_in.get(url)
    assert page.status_code == 200 and b"offline_access" not in page.content
    form = re.search(r'<form method="post" action="([^"]+)"', page.content.decode())
    assert form is not None
    action = html.unescape(form[1])
    web.client.scopes = ["openid", "email", "offline_access"]
    web.client.save()
    response = signed_in.post(action, {"decision": "allow"})
    code = query_of(response["Location"])["code"]
    stored = json.loads(Verification.objects.get(identifier=crypto.digest(code)).value)
    assert stored["query"]["scope"] == "openid"
    assert OAuthConsent.objects.get(client_id=web.client.client_id).scopes == ["openid"]


def test_pkce_is_required(signed_in, web, spa):
    response = signed_in.get(authorize_url(web.client.client_id, None))
    assert_redirected_error(response, "invalid_request")


def test_a_client_excused_from_pkce_still_needs_it_or_a_nonce_for_offline_access(signed_in, web):
    """require_pkce False lets a confidential client skip PKCE, but not for a long-lived
    grant without OpenID Connect's nonce (RFC 9700 2.1.1; better-auth's isPKCERequired)."""
    web.client.require_pkce = False
    web.client.save()
    plain = {"scope": "openid email", "nonce": ""}
    assert signed_in.get(authorize_url(web.client.client_id, None, **plain)).status_code == 200
    offline = {"scope": "email offline_access", "nonce": ""}
    params = assert_redirected_error(
        signed_in.get(authorize_url(web.client.client_id, None, **offline)), "invalid_request"
    )
    assert "offline_access" in params["error_description"]
    with_nonce = {"scope": "openid offline_access", "nonce": "n-1"}
    assert signed_in.get(authorize_url(web.client.client_id, None, **with_nonce)).status_code == 200


def test_client_not_registered_for_the_code_grant(signed_in, web):
    web.client.grant_types = ["client_credentials"]
    web.client.save()
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge))
    assert_redirected_error(response, "unauthorized_client")


def test_consent_page_cannot_be_framed_and_names_the_client(signed_in, web):
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert "no-store" in response["Cache-Control"]
    assert b"Web app" in response.content
    assert b"See your email address" in response.content


def test_consent_page_shows_only_https_links(signed_in, web):
    web.client.uri = "javascript:alert(1)"
    web.client.policy = "https://client.example.com/privacy"
    web.client.save()
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge))
    assert b"javascript:" not in response.content
    assert b"https://client.example.com/privacy" in response.content


def test_consent_post_without_csrf_is_refused(user, web):
    http = Client(enforce_csrf_checks=True)
    http.force_login(user)
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge)
    response = http.post(url, {"decision": "allow"})
    assert response.status_code == 403
    assert not OAuthConsent.objects.filter(client_id=web.client.client_id).exists()


def test_an_authorization_request_by_post_is_asked_as_a_get(user, web):
    # OIDC Core 3.1.2.1: servers MUST take GET and POST (form serialization). A relying
    # party's cross-site form POST carries no CSRF token, and asks nothing the GET would not.
    http = Client(enforce_csrf_checks=True)
    http.force_login(user)
    _, challenge = pkce()
    params = query_of(authorize_url(web.client.client_id, challenge))
    params["resource"] = ["https://a.example.com/", "https://b.example.com/"]
    response = http.post("/oauth2/authorize", params)
    assert response.status_code == 303
    location = urlsplit(response["Location"])
    assert location.path == "/oauth2/authorize"
    again = parse_qs(location.query)
    assert again["client_id"] == [web.client.client_id]
    assert again["resource"] == ["https://a.example.com/", "https://b.example.com/"]
    del params["resource"]
    page = http.get(f"/oauth2/authorize?{urlencode(params)}")
    assert page.status_code == 200 and b"Allow" in page.content  # the consent page
    # A POST with no form asks what its URL says.
    bodiless = http.post(f"/oauth2/authorize?{urlencode(params)}")
    assert bodiless.status_code == 303
    assert parse_qs(urlsplit(bodiless["Location"]).query)["client_id"] == [web.client.client_id]
    # An answer still needs the form's CSRF token: "decision" alone is refused.
    refused = http.post("/oauth2/authorize?" + urlencode(params), {"decision": "allow"})
    assert refused.status_code == 403
    assert not OAuthConsent.objects.filter(client_id=web.client.client_id).exists()


def test_consent_post_with_csrf(user, web):
    http = Client(enforce_csrf_checks=True)
    http.force_login(user)
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge)
    page = http.get(url)
    token = page.context["csrf_token"]
    response = http.post(url, {"decision": "allow", "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    assert "code" in query_of(response["Location"])


def test_consent_is_remembered_and_asked_again_when_scopes_widen(signed_in, web):
    _, challenge = pkce()
    get_code(signed_in, web.client.client_id, challenge, scope="openid email")
    consent = OAuthConsent.objects.get(client_id=web.client.client_id)
    assert consent.scopes == ["openid", "email"]
    # The same scopes: no page.
    response = signed_in.get(authorize_url(web.client.client_id, challenge, scope="openid"))
    assert response.status_code == 302
    assert "code" in query_of(response["Location"])
    # Wider: the page again; prompt=none cannot show it.
    wider = authorize_url(web.client.client_id, challenge, scope="openid profile")
    assert signed_in.get(wider).status_code == 200
    response = signed_in.get(
        authorize_url(web.client.client_id, challenge, scope="openid profile", prompt="none")
    )
    assert_redirected_error(response, "consent_required")


def test_prompt_consent_asks_even_when_consent_is_stored(signed_in, web):
    _, challenge = pkce()
    get_code(signed_in, web.client.client_id, challenge, scope="openid")
    url = authorize_url(web.client.client_id, challenge, scope="openid", prompt="consent")
    assert signed_in.get(url).status_code == 200


def test_skip_consent_clients_skip_the_page(signed_in, web):
    web.client.skip_consent = True
    web.client.save()
    _, challenge = pkce()
    response = signed_in.get(authorize_url(web.client.client_id, challenge))
    assert response.status_code == 302
    assert "code" in query_of(response["Location"])
    # prompt=consent asks all the same (OIDC Core 3.1.2.1; better-auth checks it first too).
    asked = signed_in.get(authorize_url(web.client.client_id, challenge, prompt="consent"))
    assert asked.status_code == 200 and b'value="allow"' in asked.content


def test_denied_consent(signed_in, web):
    _, challenge = pkce()
    response = signed_in.post(authorize_url(web.client.client_id, challenge), {"decision": "deny"})
    assert_redirected_error(response, "access_denied")


def test_the_code_response_and_how_the_code_is_stored(signed_in, web, user):
    _, challenge = pkce()
    url = authorize_url(web.client.client_id, challenge)
    signed_in.get(url)
    before = timezone.now()
    response = signed_in.post(url, {"decision": "allow"})
    params = query_of(response["Location"])
    assert params["state"] == "st-123"
    assert params["iss"] == ISSUER
    code = params["code"]
    assert len(code) == 32 and code.isalnum()
    # better-auth 1.7's form: the digest as identifier, the request in a JSON value.
    row = Verification.objects.get(identifier=crypto.digest(code))
    assert not Verification.objects.filter(identifier=code).exists()
    assert code not in row.value
    value = json.loads(row.value)
    assert value["type"] == "authorization_code"
    assert value["userId"] == user.pk
    assert value["query"]["client_id"] == web.client.client_id
    assert value["query"]["redirect_uri"] == REDIRECT_URI
    assert value["query"]["code_challenge"] == challenge
    assert value["query"]["nonce"] == "n-456"
    assert isinstance(value["authTime"], int)
    lifetime = row.expires_at - before
    assert timedelta(minutes=9) < lifetime <= codes.CODE_LIFETIME + timedelta(seconds=5)


def test_a_redirect_uri_with_a_query_keeps_it(signed_in, web):
    web.client.redirect_uris = [REDIRECT_URI, "https://client.example.com/cb?tenant=7"]
    web.client.skip_consent = True
    web.client.save()
    _, challenge = pkce()
    response = signed_in.get(
        authorize_url(
            web.client.client_id, challenge, redirect_uri="https://client.example.com/cb?tenant=7"
        )
    )
    assert response["Location"].startswith("https://client.example.com/cb?tenant=7&code=")
