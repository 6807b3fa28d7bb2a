"""``BEEP_IAM["OAUTH2_EXTRA_CLAIMS"]``: custom claims in ID tokens and UserInfo."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from joserfc import jwt
from joserfc.jwk import KeySet

from beep_iam.conf import load
from beep_iam.oauth2 import keys
from beep_iam.oauth2.claims import RESERVED_CLAIMS, id_token, user_claims
from beep_iam.services.oauth_tokens import issue_tokens
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, basic, get_code, pkce

pytestmark = pytest.mark.django_db

CALLS: list[tuple[Any, Any, list[str]]] = []


def department(user: Any, client: Any, scopes: list[str]) -> dict[str, Any]:
    CALLS.append((user, client, scopes))
    claims: dict[str, Any] = {"client_name": client.name}
    if "profile" in scopes:
        claims["department"] = "billing"
    return claims


def overrides_email(user: Any, client: Any, scopes: list[str]) -> dict[str, Any]:
    return {"email": "boss@example.com", "sub": "someone-else", "team": "a"}


def not_a_dict(user: Any, client: Any, scopes: list[str]) -> Any:
    return ["department"]


def not_json(user: Any, client: Any, scopes: list[str]) -> dict[str, Any]:
    return {"since": object()}


NOT_CALLABLE = {"department": "billing"}


def hook(name: str | None) -> Any:
    path = f"tests.oauth2.test_claims_hook.{name}" if name else None
    return override_settings(
        BEEP_IAM={**settings.BEEP_IAM, "OAUTH2_ISSUER": ISSUER, "OAUTH2_EXTRA_CLAIMS": path}
    )


def decode(token: str) -> dict[str, Any]:
    published = KeySet.import_key_set({"keys": keys.published_keys()})
    return jwt.decode(token, published, algorithms=["EdDSA"]).claims


def test_id_token_and_userinfo_carry_the_hooks_claims(client, web, user):
    CALLS.clear()
    with hook("department"):
        verifier, challenge = pkce()
        client.force_login(user)
        code = get_code(client, web.client.client_id, challenge, scope="openid profile")
        response = client.post(
            "/oauth2/token",
            urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                }
            ),
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=basic(web.client.client_id, web.client_secret),
        )
        assert response.status_code == 200, response.content
        body = response.json()
        claims = decode(body["id_token"])
        assert claims["department"] == "billing" and claims["client_name"] == "Web app"
        assert claims["sub"] == user.pk and claims["aud"] == web.client.client_id
        info = client.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
        assert info.json() == {
            "sub": user.pk,
            "name": "Alice Example",
            "department": "billing",
            "client_name": "Web app",
        }
    hook_user, hook_client, hook_scopes = CALLS[0]
    assert hook_user.pk == user.pk
    assert hook_client.client_id == web.client.client_id
    assert hook_scopes == ["openid", "profile"]


def test_the_hook_sees_the_scopes(web, user):
    with hook("department"):
        claims = user_claims(user, ["openid"], client_id=web.client.client_id)
    assert claims == {"sub": user.pk, "client_name": "Web app"}


def test_without_a_hook_nothing_is_added(client, web, user):
    with hook(None):
        issued = issue_tokens(web.client, scopes=["openid", "profile"], user=user)
        info = client.get("/oauth2/userinfo", HTTP_AUTHORIZATION=f"Bearer {issued.access_token}")
    assert info.json() == {"sub": user.pk, "name": "Alice Example"}


def test_reserved_claims_are_refused(web, user):
    assert {"iss", "sub", "aud", "exp", "iat", "nonce", "email"} <= RESERVED_CLAIMS
    with hook("overrides_email"), pytest.raises(ImproperlyConfigured) as raised:
        id_token(user=user, client_id=web.client.client_id, scopes=["openid"], access_token="a")
    assert "reserved claim(s) email, sub" in str(raised.value)


@pytest.mark.parametrize(("name", "message"), [("not_a_dict", "dict"), ("not_json", "JSON")])
def test_bad_hook_results_are_refused(web, user, name, message):
    with hook(name), pytest.raises(ImproperlyConfigured, match=message):
        user_claims(user, ["openid"], client_id=web.client.client_id)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tests.oauth2.test_claims_hook.nowhere", "cannot import"),
        ("tests.oauth2.test_claims_hook.NOT_CALLABLE", "is not callable"),
        (department, "must be a dotted path"),
    ],
)
def test_bad_settings(value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load({"OAUTH2_EXTRA_CLAIMS": value})
