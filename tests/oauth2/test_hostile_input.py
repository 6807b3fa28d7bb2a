"""Input built to break the token side gets the RFCs' errors, never a server error, and no
credential-less way in (from the session-8 adversarial review)."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.views.debug import SafeExceptionReporterFilter
from joserfc import jwt
from joserfc.jwk import ECKey

from beep_iam.oauth2 import views
from beep_iam.services import oauth_tokens
from beep_iam.services.oauth_clients import register_client
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, basic, get_code

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_URL = ISSUER + "/oauth2/token"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# JSON nested deeper than Python's recursion limit: json.loads raises RecursionError, which
# is neither a ValueError nor a JoseError. 3,334 characters, under every length limit.
DEEP = b64(b"[" * 2500)
DEEP_HEADER_JWT = f"{DEEP}.e30.c2ln"
DEEP_PAYLOAD_JWT = b64(b'{"alg":"ES256"}') + "." + DEEP + ".c2ln"


@pytest.fixture
def http() -> Client:
    http = Client()
    http.raise_request_exception = False  # a server error is a 500 answer, as in production
    return http


def post(http: Client, body: dict[str, str] | str, path: str = "/oauth2/token", **headers: str):
    return http.post(
        path, body if isinstance(body, str) else urlencode(body), content_type=FORM, **headers
    )


def error_of(response) -> str:
    return response.json()["error"]


# --- JSON nested past the recursion limit --------------------------------------------------


@pytest.mark.parametrize("token", [DEEP_HEADER_JWT, DEEP_PAYLOAD_JWT])
def test_a_deeply_nested_bearer_token_is_an_invalid_token(http, token):
    response = http.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.parametrize("assertion", [DEEP_HEADER_JWT, DEEP_PAYLOAD_JWT])
def test_a_deeply_nested_client_assertion_is_an_invalid_client(http, assertion):
    response = post(http, assertion_body(assertion))
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"


def test_a_deeply_nested_token_is_inactive_at_introspection(http, machine):
    auth = basic(machine.client.client_id, machine.client_secret)
    response = post(http, {"token": DEEP_HEADER_JWT}, "/oauth2/introspect", HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200
    assert response.json() == {"active": False}
    response = post(http, {"token": DEEP_HEADER_JWT}, "/oauth2/revoke", HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200


def test_a_deeply_nested_dpop_proof_is_an_invalid_proof(http, machine):
    response = post(
        http,
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
        HTTP_DPOP=DEEP_HEADER_JWT,
    )
    assert response.status_code == 400
    assert error_of(response) == "invalid_dpop_proof"


# --- NUL characters (no PostgreSQL text holds one) -----------------------------------------


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"])
def test_a_nul_in_the_form_is_an_invalid_request(http, path):
    response = post(http, "grant_type=client_credentials&client_id=a%00b&token=x", path)
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"


@pytest.mark.parametrize("credentials", [b"a%00b:secret", b"client:se%00cret"])
def test_a_nul_in_basic_credentials_is_an_invalid_client(http, credentials):
    header = "Basic " + base64.b64encode(credentials).decode()
    response = post(http, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"


def test_a_nul_in_an_assertions_subject_is_an_invalid_client(http):
    now = int(time.time())
    claims = {"iss": "a\x00b", "sub": "a\x00b", "aud": ISSUER, "exp": now + 60, "jti": "x"}
    signed = jwt.encode({"alg": "ES256"}, claims, ECKey.generate_key("P-256"))
    response = post(http, assertion_body(signed))
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"


# --- resource values that no error description may quote as they are ----------------------


@pytest.mark.parametrize("resource", ["é", "a\\b", 'https://x/#"', "javascript:é"])
def test_a_resource_with_unprintable_characters_is_an_invalid_target(http, spa, resource):
    body = {
        "grant_type": "refresh_token",
        "client_id": spa.client.client_id,
        "refresh_token": "x",
        "resource": resource,
    }
    response = post(http, body)
    assert response.status_code == 400
    assert error_of(response) == "invalid_target"


def test_an_unregistered_resource_with_a_quote_is_an_invalid_target(http, machine):
    response = post(
        http,
        {"grant_type": "client_credentials", "resource": 'https://api.example.com/"x'},
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert response.status_code == 400
    assert error_of(response) == "invalid_target"


# --- client authentication -----------------------------------------------------------------


def test_an_empty_basic_password_is_no_secret(http, user):
    """A client with a NULL method and no secret (other tools write such rows) does not pass
    as a confidential client with an empty Basic password."""
    registered = register_client(
        redirect_uris=["https://c.example/cb"],
        token_endpoint_auth_method=None,
        grant_types=None,
        client_credentials_scopes=["invoices:read"],
    )
    assert registered.client.client_secret is None
    row = registered.client
    issued = oauth_tokens.issue_tokens(row, scopes=["openid"], user=user)
    empty = "Basic " + base64.b64encode(f"{row.client_id}:".encode()).decode()
    response = post(
        http, {"token": issued.access_token}, "/oauth2/introspect", HTTP_AUTHORIZATION=empty
    )
    assert response.status_code == 401
    response = post(http, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=empty)
    assert response.status_code == 401
    assert error_of(response) == "invalid_client"


def assertion_body(assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION,
        "client_assertion": assertion,
    }


# --- PKCE ----------------------------------------------------------------------------------


@pytest.mark.parametrize("verifier", ["a", "é" * 43, "x" * 129, "x" * 42 + " "])
def test_a_malformed_code_verifier_is_refused_and_uses_the_code_up(http, user, web, verifier):
    browser = Client()
    browser.force_login(user)
    challenge = b64(hashlib.sha256(verifier.encode()).digest())
    code = get_code(browser, web.client.client_id, challenge)
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    auth = basic(web.client.client_id, web.client_secret)
    response = post(http, body, HTTP_AUTHORIZATION=auth)
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"
    assert error_of(post(http, body, HTTP_AUTHORIZATION=auth)) == "invalid_grant"  # used up


# --- error reports -------------------------------------------------------------------------


def test_error_reports_hide_the_parsed_form(rf, monkeypatch):
    """A server error inside the token endpoint: the frames' locals that hold the form (the
    view's, the grant's) are starred in Django's error reports."""
    poster = register_client(
        redirect_uris=[],
        token_endpoint_auth_method="client_secret_post",
        grant_types=["client_credentials"],
        response_types=[],
        client_credentials_scopes=["invoices:read"],
    )
    secret = poster.client_secret
    assert secret

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(oauth_tokens, "issue_tokens", boom)
    request = rf.post(
        "/oauth2/token",
        urlencode({"grant_type": "client_credentials", "client_id": poster.client.client_id,
                   "client_secret": secret}),
        content_type=FORM,
    )  # fmt: skip
    try:
        views.token(request)
    except RuntimeError as exc:
        tb = exc.__traceback__
    else:
        raise AssertionError("the view did not fail")
    reporter = SafeExceptionReporterFilter()
    shown = []
    while tb is not None:
        frame_vars = dict(reporter.get_traceback_frame_variables(request, tb.tb_frame))
        if "/beep_iam/" in tb.tb_frame.f_code.co_filename:  # the package's frames, not this test's
            shown.append((tb.tb_frame.f_code.co_name, repr(frame_vars)))
        tb = tb.tb_next
    leaking = [name for name, text in shown if secret in text]
    assert not leaking, leaking
    assert {"token", "_client_credentials"} <= {name for name, _ in shown}
