"""Secrets in error reports (review 5).

``DEFAULT_EXCEPTION_REPORTER_FILTER`` is ``AlwaysSafeExceptionReporterFilter``: it hides POST
parameters named by ``protect_secret_parameters`` and the locals a frame lists in
``sensitive_variables``. Locals that hold a secret but are not listed are printed in clear
in the 500 page (DEBUG) and in the error e-mails/logs of ``django.request`` (DEBUG off).
Each probe makes a database call inside the frame fail, as an outage would.
"""

from __future__ import annotations

import json
import sys
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client, RequestFactory, override_settings
from django.views.debug import ExceptionReporter

from beep_iam.oauth2 import device, endpoint, registration, views
from beep_iam.services.oauth_clients import register_client
from beep_iam.services.oauth_tokens import issue_tokens
from tests.oauth2.conftest import ISSUER, basic

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


class Outage(Exception):
    pass


def fail(*args, **kwargs):
    raise Outage("database went away")


def report_of(view, request, *args) -> str:
    try:
        view(request, *args)
    except Outage:
        reporter = ExceptionReporter(request, *sys.exc_info())
        # The 500 page and the HTML error e-mail (AdminEmailHandler) show each frame's locals.
        frames = reporter.get_traceback_data()["frames"]
        # The package's frames: this module's stand-in for the outage holds what it was
        # passed (the real function's own frame is covered by its decorator).
        ours = [frame for frame in frames if frame["function"] not in ("fail", "report_of")]
        return "\n".join(
            f"{frame['function']} {name}={value}" for frame in ours for name, value in frame["vars"]
        )
    raise AssertionError("the view did not fail")


def where(text: str, secret: str) -> str:
    """The frame locals that hold ``secret``."""
    return "; ".join(line.split("=", 1)[0] for line in text.splitlines() if secret in line)


def test_basic_credentials_are_not_in_the_token_endpoints_report(monkeypatch, web):
    monkeypatch.setattr(endpoint, "authenticate_client", fail)
    request = RequestFactory().post(
        "/oauth2/token",
        urlencode({"grant_type": "client_credentials"}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    text = report_of(views.token, request)
    assert web.client_secret not in text, where(text, web.client_secret)


def test_a_refresh_token_is_not_in_the_token_endpoints_report(monkeypatch, web, user):
    issued = issue_tokens(
        web.client, scopes=["openid", "offline_access"], user=user, with_refresh=True
    )
    refresh_token = issued.refresh_token
    assert refresh_token is not None
    monkeypatch.setattr(views.oauth_tokens, "rotate_refresh_token", fail)
    request = RequestFactory().post(
        "/oauth2/token",
        urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    text = report_of(views.token, request)
    assert refresh_token not in text, where(text, refresh_token)


def test_registration_secrets_are_not_in_the_report(monkeypatch):
    with override_settings(
        BEEP_IAM={**settings.BEEP_IAM, "OAUTH2_ISSUER": ISSUER, "OAUTH2_REGISTRATION": "open"}
    ):
        body = (
            Client()
            .post(
                "/oauth2/register",
                json.dumps({"redirect_uris": ["https://app.example.com/cb"]}),
                content_type="application/json",
            )
            .json()
        )
        token, secret = body["registration_access_token"], body["client_secret"]
        monkeypatch.setattr(registration, "rotate_client_secret", fail)
        monkeypatch.setattr(registration.OAuthClient, "full_clean", fail)
        request = RequestFactory().put(
            f"/oauth2/register/{body['client_id']}",
            json.dumps(
                {
                    **{
                        k: v
                        for k, v in body.items()
                        if k not in ("registration_access_token", "registration_client_uri")
                    }
                }
            ),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        request.user = None
        text = report_of(registration.manage, request, body["client_id"])
    leaks = [
        name
        for name, value in (("registration access token", token), ("client secret", secret))
        if value in text
    ]
    assert not leaks, (
        f"in clear in the report: {leaks}: " + where(text, secret) + where(text, token)
    )


# Review 11: the nearest decorator above a frame decides what is hidden in it.


def test_the_client_secret_is_not_in_the_device_endpoints_report(monkeypatch):
    registered = register_client(
        redirect_uris=[],
        name="TV",
        grant_types=["urn:ietf:params:oauth:grant-type:device_code"],
        response_types=[],
        token_endpoint_auth_method="client_secret_post",
        scopes=["openid"],
    )
    monkeypatch.setattr(device.resources, "resolve", fail)
    request = RequestFactory().post(
        "/oauth2/device/code",
        urlencode(
            {
                "client_id": registered.client.client_id,
                "client_secret": registered.client_secret,
                "scope": "openid",
            }
        ),
        content_type=FORM,
    )
    text = report_of(device.device_authorization, request)
    secret = registered.client_secret
    assert secret is not None
    assert secret not in text, where(text, secret)


def test_the_introspected_token_is_not_in_the_introspection_report(monkeypatch, web, user):
    # 4727076 moved `raw = params.get("token")` in front of authenticate (the one statement
    # reads the token with the client): an outage of that statement now reports it.

    token = issue_tokens(web.client, scopes=["openid"], user=user).access_token
    monkeypatch.setattr(endpoint, "authenticate_client", fail)
    request = RequestFactory().post(
        "/oauth2/introspect",
        urlencode({"token": token}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    text = report_of(views.introspect, request)
    assert token not in text, where(text, token)


def test_the_revoked_token_is_not_in_the_revocation_report(monkeypatch, web, user):

    token = issue_tokens(web.client, scopes=["openid"], user=user).access_token
    monkeypatch.setattr(views.oauth_tokens, "revoke_token", fail)
    request = RequestFactory().post(
        "/oauth2/revoke",
        urlencode({"token": token}),
        content_type=FORM,
        HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
    )
    text = report_of(views.revoke, request)
    assert token not in text, where(text, token)


def test_a_client_secret_post_secret_is_not_in_the_token_endpoints_report(monkeypatch):
    # endpoint.authenticate lists secret/header/decoded/raw_secret/credentials, but not the
    # parsed form it is passed (``params``), which holds client_secret for client_secret_post.

    registered = register_client(
        redirect_uris=[],
        name="Robot",
        grant_types=["client_credentials"],
        response_types=[],
        token_endpoint_auth_method="client_secret_post",
        client_credentials_scopes=["invoices:read"],
    )
    monkeypatch.setattr(endpoint, "authenticate_client", fail)
    request = RequestFactory().post(
        "/oauth2/token",
        urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": registered.client.client_id,
                "client_secret": registered.client_secret,
            }
        ),
        content_type=FORM,
    )
    text = report_of(views.token, request)
    secret = registered.client_secret
    assert secret is not None
    assert secret not in text, where(text, secret)
