"""What benchmarks/oauth_http.py made cheaper, kept correct: the imported signing key is kept
per row (decrypting and importing it cost about 0.4 ms per ID token; the row is still read per
token), a grant that may issue an ID token reads that row in its client's statement, and the
JSON endpoints set never_cache's headers without parsing them."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.views.decorators.cache import never_cache
from joserfc import jwt

from beep_iam.models import Jwks
from beep_iam.oauth2 import keys
from beep_iam.oauth2.endpoint import no_store
from beep_iam.services.oauth_clients import register_client
from beep_iam.services.oauth_tokens import issue_tokens
from tests.factories import UserFactory
from tests.oauth2.conftest import basic

pytestmark = pytest.mark.django_db

SECRET = "s" * 40


@pytest.fixture
def co_tenancy(settings):
    with override_settings(BEEP_IAM={**settings.BEEP_IAM, "BETTER_AUTH_SECRET": SECRET}):
        yield


def test_a_key_is_decrypted_once(co_tenancy, monkeypatch):
    row = keys.create_key()
    calls: list[str] = []
    decrypt = keys.decrypt

    def counting(secret: str, data: str) -> str:
        calls.append(data)
        return decrypt(secret, data)

    monkeypatch.setattr(keys, "decrypt", counting)
    first, second = keys.signing_key(), keys.signing_key()
    assert first.kid == second.kid == row.pk
    assert first.key is second.key
    assert len(calls) <= 1  # none when an earlier test of this process imported the row


def test_rotation_signs_with_the_new_key_at_once(co_tenancy):
    old = keys.create_key()
    assert keys.signing_key().kid == old.pk
    new = keys.create_key(expire_current=True)
    current = keys.signing_key()
    assert current.kid == new.pk
    assert current.key.as_dict(private=False)["x"] == json.loads(new.public_key)["x"]


def test_a_replaced_private_key_is_not_served_from_the_cache(co_tenancy):
    row = keys.create_key()
    before = keys.signing_key()
    other = keys.create_key()
    # The same row id now holds another key (restored from a backup, say).
    Jwks.objects.filter(pk=row.pk).update(private_key=other.private_key)
    Jwks.objects.filter(pk=other.pk).delete()
    after = keys.signing_key()
    assert after.kid == row.pk
    assert after.key.as_dict(private=True)["d"] != before.key.as_dict(private=True)["d"]


def test_another_secret_does_not_reuse_a_key_decrypted_under_the_first(settings):
    with override_settings(BEEP_IAM={**settings.BEEP_IAM, "BETTER_AUTH_SECRET": SECRET}):
        keys.create_key()
        keys.signing_key()
    with (
        override_settings(BEEP_IAM={**settings.BEEP_IAM, "BETTER_AUTH_SECRET": "t" * 40}),
        pytest.raises(ImproperlyConfigured, match="does not decrypt"),
    ):
        keys.signing_key()


def directives(response: HttpResponse) -> set[str]:
    return {part.strip() for part in response["Cache-Control"].split(",")}


def _headers(response: HttpResponse) -> dict[str, str]:
    return {k: v for k, v in response.items() if k in ("Cache-Control", "Pragma", "Expires")}


def test_no_store_sets_what_never_cache_sets():
    request = RequestFactory().get("/")

    def view(request):
        return HttpResponse("{}", headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    ours, django = no_store(view)(request), never_cache(view)(request)
    assert directives(ours) == directives(django)
    assert set(_headers(ours)) == set(_headers(django)) == {"Cache-Control", "Pragma", "Expires"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/oauth2/token", {"grant_type": "client_credentials"}),
        ("post", "/oauth2/token", {"grant_type": "password"}),  # an error answer
        ("get", "/oauth2/token", None),  # 405
        ("post", "/oauth2/introspect", {"token": "unknown"}),
        ("post", "/oauth2/revoke", {"token": "unknown"}),
        ("get", "/oauth2/userinfo", None),  # 401
    ],
)
def test_json_endpoints_answer_no_store(client, machine, method, path, body):
    headers = {"HTTP_AUTHORIZATION": basic(machine.client.client_id, machine.client_secret)}
    if method == "post":
        response = client.post(
            path, urlencode(body), content_type="application/x-www-form-urlencoded", **headers
        )
    else:
        response = client.get(path, **headers)
    assert directives(response) == {
        "max-age=0",
        "no-cache",
        "no-store",
        "must-revalidate",
        "private",
    }
    assert response["Pragma"] == "no-cache"
    assert response["Expires"]


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks"])
def test_public_documents_do_not_vary_on_a_cookie_they_do_not_read(client, path):
    # TenantMiddleware read the (empty) session of every request, so SessionMiddleware added
    # Vary: Cookie and a shared cache kept one copy per cookie of a public document.
    response = client.get(path)
    assert response.status_code == 200
    assert "public" in directives(response)
    assert "cookie" not in response.get("Vary", "").lower()


def test_a_signed_in_request_still_reads_its_session(client):
    # The switcher's organization lives in the Django session: with a session cookie the
    # middleware reads it, and what depends on it varies on the cookie.
    user = UserFactory()
    client.force_login(user)
    response = client.get("/.well-known/openid-configuration")
    assert "cookie" in response.get("Vary", "").lower()


def _refresh(http, registered, refresh_token):
    response = http.post(
        "/oauth2/token",
        urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(registered.client.client_id, registered.client_secret),
    )
    assert response.status_code == 200, response.content
    return response.json()


def _refresh_tokens(registered, user, count):
    scopes = ["openid", "offline_access"]
    return [
        issue_tokens(registered.client, scopes=scopes, user=user, with_refresh=True).refresh_token
        for _ in range(count)
    ]


def test_a_refresh_reads_the_signing_key_with_its_client(client, web, user):
    key = keys.create_key()
    (refresh_token,) = _refresh_tokens(web, user, 1)
    with CaptureQueriesContext(connection) as captured:
        body = _refresh(client, web, refresh_token)
    assert (
        jwt.decode(body["id_token"], keys.signing_key().key, algorithms=["EdDSA"]).header["kid"]
        == key.pk
    )
    reads = [q["sql"] for q in captured if 'FROM "jwks"' in q["sql"]]
    (statement,) = reads  # no read of its own
    assert "oauth_client" in statement


def test_a_key_rotated_between_two_refreshes_signs_the_second(client, web, user):
    old = keys.create_key()
    first, second = _refresh_tokens(web, user, 2)
    token = _refresh(client, web, first)["id_token"]
    assert (
        jwt.decode(token, keys.signing_key(old.pk).key, algorithms=["EdDSA"]).header["kid"]
        == old.pk
    )
    new = keys.create_key(expire_current=True)
    token = _refresh(client, web, second)["id_token"]
    assert (
        jwt.decode(token, keys.signing_key(new.pk).key, algorithms=["EdDSA"]).header["kid"]
        == new.pk
    )


def test_a_client_of_another_algorithm_reads_its_own_key(client, user):
    registered = register_client(
        redirect_uris=["https://client.example.com/callback"],
        grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "offline_access"],
        metadata=json.dumps({"id_token_signed_response_alg": "ES256"}),
    )
    keys.create_key()  # the default algorithm's, read along but not this client's
    (refresh_token,) = _refresh_tokens(registered, user, 1)
    token = _refresh(client, registered, refresh_token)["id_token"]
    header = jwt.decode(token, keys.signing_key(alg="ES256").key, algorithms=["ES256"]).header
    assert header["alg"] == "ES256"
