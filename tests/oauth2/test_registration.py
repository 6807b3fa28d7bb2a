"""Dynamic client registration (RFC 7591) and its management API (RFC 7592)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client, override_settings

from beep_iam.models import OAuthClient, Verification
from beep_iam.oauth2 import metadata
from beep_iam.validators import MAX_CONTACTS, MAX_REDIRECT_URIS, MAX_URI_LENGTH
from beep_shared import crypto
from tests.oauth2.conftest import ISSUER, REDIRECT_URI, basic, get_code, pkce

pytestmark = pytest.mark.django_db

URL = "/oauth2/register"
IAT = "iat-" + "x" * 40


def configure(**overrides: Any) -> Any:
    return override_settings(
        BEEP_IAM={
            **getattr(settings, "BEEP_IAM", {}),
            "OAUTH2_ISSUER": ISSUER,
            "OAUTH2_REGISTRATION": "open",
            "OAUTH2_RATE_LIMITS": {"register": None},
            **overrides,
        }
    )


@pytest.fixture(autouse=True)
def _open() -> Iterator[None]:
    with configure():
        yield


def post(http: Client, body: Any, **headers: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return http.post(URL, data, content_type="application/json", **headers)


def public(**extra: Any) -> dict[str, Any]:
    return {
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
        "client_name": "MCP client",
        "grant_types": ["authorization_code", "refresh_token"],
        **extra,
    }


def test_a_public_client_registers_without_a_secret() -> None:
    response = post(Client(), public())
    assert response.status_code == 201, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert "client_secret" not in body
    assert body["token_endpoint_auth_method"] == "none"
    assert body["redirect_uris"] == [REDIRECT_URI]
    assert body["scope"] == "openid profile email offline_access"
    assert body["registration_client_uri"] == f"{ISSUER}/oauth2/register/{body['client_id']}"
    row = OAuthClient.objects.get(client_id=body["client_id"])
    assert (row.client_secret, row.public, row.application_type) == (None, True, "web")
    assert row.name == "MCP client" and row.client_discovery_id is None
    token = body["registration_access_token"]
    stored = Verification.objects.get(identifier=crypto.digest(token))
    assert token not in stored.value and token not in stored.identifier


def test_a_confidential_client_gets_its_secret_once_stored_as_a_digest() -> None:
    response = post(Client(), {"redirect_uris": [REDIRECT_URI], "client_name": "Web"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["client_secret_expires_at"] == 0
    row = OAuthClient.objects.get(client_id=body["client_id"])
    assert row.client_secret == crypto.digest(body["client_secret"])
    assert body["client_secret"] not in json.dumps(list(OAuthClient.objects.values()), default=str)
    read = Client().get(
        f"{URL}/{body['client_id']}",
        HTTP_AUTHORIZATION=f"Bearer {body['registration_access_token']}",
    )
    assert "client_secret" not in read.json()


def test_a_registered_client_completes_the_code_flow(user: Any) -> None:
    body = post(Client(), {"redirect_uris": [REDIRECT_URI], "client_name": "Web"}).json()
    http = Client()
    http.force_login(user)
    verifier, challenge = pkce()
    code = get_code(http, body["client_id"], challenge)
    response = Client().post(
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
        HTTP_AUTHORIZATION=basic(body["client_id"], body["client_secret"]),
    )
    assert response.status_code == 200, response.content
    assert response.json()["token_type"].lower() == "bearer"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (public(redirect_uris=["http://evil.example.com/cb"]), "invalid_redirect_uri"),
        (public(redirect_uris=["https://app.example.com/cb#x"]), "invalid_redirect_uri"),
        (public(redirect_uris=["javascript:alert(1)"]), "invalid_redirect_uri"),
        (public(redirect_uris=[]), "invalid_redirect_uri"),
        (public(redirect_uris="https://app.example.com/cb"), "invalid_redirect_uri"),
        # RFC 7591 3.2.2: invalid_redirect_uri is about redirect_uris; this is other metadata.
        (public(post_logout_redirect_uris=["http://evil.example.com/"]), "invalid_client_metadata"),
        (public(token_endpoint_auth_method="client_secret_jwt"), "invalid_client_metadata"),
        (public(grant_types=["password"]), "invalid_client_metadata"),
        (public(grant_types=[]), "invalid_client_metadata"),
        (public(grant_types=["client_credentials"]), "invalid_client_metadata"),
        (public(skip_consent=True), "invalid_client_metadata"),
        (public(client_credentials_scopes=["admin"]), "invalid_client_metadata"),
        (public(disabled=False), "invalid_client_metadata"),  # even the default: no client yet
        (public(subject_type="pairwise"), "invalid_client_metadata"),
        (public(subject_type="bogus"), "invalid_client_metadata"),
        (public(scope="openid admin"), "invalid_client_metadata"),
        (public(scope='openid "x"'), "invalid_client_metadata"),
        (public(client_name=""), "invalid_client_metadata"),
        (public(client_name=7), "invalid_client_metadata"),
        (public(logo_uri="javascript:alert(1)"), "invalid_client_metadata"),
        (public(jwks_uri="https://169.254.169.254/keys"), "invalid_client_metadata"),
        (public(jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}), "invalid_client_metadata"),
        (
            public(jwks={"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}]}),
            "invalid_client_metadata",
        ),
        (public(token_endpoint_auth_method="private_key_jwt"), "invalid_client_metadata"),
        (public(dpop_bound_access_tokens="yes"), "invalid_client_metadata"),
        (public(software_statement="not-a-jwt"), "invalid_software_statement"),
        (public(software_statement="a.b.c"), "unapproved_software_statement"),
        ([1, 2], "invalid_client_metadata"),
        (public(client_name="a\x00b"), "invalid_client_metadata"),
        (public(contacts=["a\x00@example.com"]), "invalid_client_metadata"),
        # The admin edits contacts one per line: one holding a line break would split in two.
        (public(contacts=["ops@example.com\nsec@evil.example"]), "invalid_client_metadata"),
        (public(contacts=[" ops@example.com"]), "invalid_client_metadata"),
        (public(ignored={"deep": ["\x00"]}), "invalid_client_metadata"),
        ("{not json", "invalid_client_metadata"),
    ],
)
def test_bad_metadata_gets_the_rfc_7591_error(body: Any, error: str) -> None:
    before = OAuthClient.objects.count()
    response = post(Client(), body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert OAuthClient.objects.count() == before


def test_the_body_must_be_json() -> None:
    response = Client().post(URL, {"redirect_uris": REDIRECT_URI})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def _uris(n: int) -> list[str]:
    return [f"https://app.example.com/cb/{i}" for i in range(n)]


def _long_uri(length: int) -> str:
    prefix = "https://app.example.com/"
    return prefix + "a" * (length - len(prefix))


CAPS = [
    (
        "redirect_uris",
        _uris(MAX_REDIRECT_URIS),
        _uris(MAX_REDIRECT_URIS + 1),
        "invalid_redirect_uri",
    ),
    (
        "redirect_uris",
        [_long_uri(MAX_URI_LENGTH)],
        [_long_uri(MAX_URI_LENGTH + 1)],
        "invalid_redirect_uri",
    ),
    (
        "client_uri",
        _long_uri(MAX_URI_LENGTH),
        _long_uri(MAX_URI_LENGTH + 1),
        "invalid_client_metadata",
    ),
    (
        "contacts",
        ["a@example.com"] * MAX_CONTACTS,
        ["a@example.com"] * (MAX_CONTACTS + 1),
        "invalid_client_metadata",
    ),
    ("contacts", ["a" * 320], ["a" * 321], "invalid_client_metadata"),
    (
        "client_name",
        "n" * metadata.MAX_TEXT_LENGTH,
        "n" * (metadata.MAX_TEXT_LENGTH + 1),
        "invalid_client_metadata",
    ),
    (
        "software_id",
        "s" * metadata.MAX_TEXT_LENGTH,
        "s" * (metadata.MAX_TEXT_LENGTH + 1),
        "invalid_client_metadata",
    ),
    (
        "software_version",
        "1" * metadata.MAX_TEXT_LENGTH,
        "1" * (metadata.MAX_TEXT_LENGTH + 1),
        "invalid_client_metadata",
    ),
]


@pytest.mark.parametrize(("field", "at_cap", "past_cap", "error"), CAPS)
def test_caps_at_and_past(field: str, at_cap: Any, past_cap: Any, error: str) -> None:
    http = Client()
    assert post(http, public(**{field: at_cap})).status_code == 201
    response = post(http, public(**{field: past_cap}))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error


def test_jwks_caps() -> None:
    key = {
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }
    method = {"token_endpoint_auth_method": "private_key_jwt"}
    keys = [{**key, "kid": str(i)} for i in range(metadata.MAX_JWKS_KEYS)]
    assert post(Client(), public(jwks={"keys": keys}, **method)).status_code == 201
    too_many = [*keys, {**key, "kid": "x"}]
    assert post(Client(), public(jwks={"keys": too_many}, **method)).status_code == 400
    padded = [{**key, "kid": "k" * metadata.MAX_JWKS_BYTES}]
    assert post(Client(), public(jwks={"keys": padded}, **method)).status_code == 400


def test_scope_caps() -> None:
    many = [f"s{i}" for i in range(100)]
    with configure(OAUTH2_REGISTRATION_SCOPES=[*many, "x" * 200, "y" * 201]):
        assert post(Client(), public(scope=" ".join(many))).status_code == 201
        assert post(Client(), public(scope="x" * 200)).status_code == 201
        past = post(Client(), public(scope=" ".join([*many, "x" * 200])))
        assert past.status_code == 400 and "at most 100" in past.json()["error_description"]
        assert post(Client(), public(scope="y" * 201)).status_code == 400


def test_software_statement_cap() -> None:
    at_cap = "a." + "b" * (metadata.MAX_SOFTWARE_STATEMENT_LENGTH - 4) + ".c"
    assert post(Client(), public(software_statement=at_cap)).json()["error"] == (
        "unapproved_software_statement"
    )
    response = post(Client(), public(software_statement=at_cap + "c"))
    assert "at most 8192" in response.json()["error_description"]


def test_body_size_cap() -> None:
    filler = "x" * metadata.MAX_BODY_BYTES
    base = json.dumps(public(ignored=""))
    at_cap = base.replace(
        '"ignored": ""', f'"ignored": "{filler[: metadata.MAX_BODY_BYTES - len(base)]}"'
    )
    assert len(at_cap.encode()) == metadata.MAX_BODY_BYTES
    assert post(Client(), at_cap).status_code == 201
    response = post(Client(), at_cap.replace('"ignored": "', '"ignored": "x'))
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


def test_registration_disabled() -> None:
    with configure(OAUTH2_REGISTRATION=None):
        response = post(Client(), public())
        assert response.status_code == 403
        assert response.json()["error"] == "access_denied"
        metadata = Client().get("/.well-known/oauth-authorization-server").json()
        assert "registration_endpoint" not in metadata
    metadata = Client().get("/.well-known/oauth-authorization-server").json()
    assert metadata["registration_endpoint"] == f"{ISSUER}/oauth2/register"
    openid = Client().get("/.well-known/openid-configuration").json()
    assert openid["registration_endpoint"] == f"{ISSUER}/oauth2/register"


def test_initial_access_token_mode() -> None:
    with configure(
        OAUTH2_REGISTRATION="initial_access_token",
        OAUTH2_INITIAL_ACCESS_TOKENS=[crypto.digest(IAT)],
    ):
        missing = post(Client(), public())
        assert missing.status_code == 401
        # RFC 6750 3.1: no credentials, no error code in the challenge.
        assert missing["WWW-Authenticate"] == "Bearer"
        wrong = post(Client(), public(), HTTP_AUTHORIZATION="Bearer nope")
        assert wrong.status_code == 401
        machine = {"grant_types": ["client_credentials"], "client_name": "Robot"}
        ok = post(Client(), machine, HTTP_AUTHORIZATION=f"Bearer {IAT}")
        assert ok.status_code == 201, ok.content
        assert ok.json()["grant_types"] == ["client_credentials"]


def test_the_default_mode_registers_nobody_without_a_token() -> None:
    beep = {
        k: v for k, v in getattr(settings, "BEEP_IAM", {}).items() if k != "OAUTH2_REGISTRATION"
    }
    with override_settings(BEEP_IAM={**beep, "OAUTH2_RATE_LIMITS": None}):
        assert post(Client(), public()).status_code == 401


def test_signed_in_mode_owns_the_client(user: Any) -> None:
    with configure(OAUTH2_REGISTRATION="signed_in"):
        assert post(Client(), public()).status_code == 401
        http = Client()
        http.force_login(user)
        response = post(http, public())
        assert response.status_code == 201, response.content
        assert response.json()["user_id"] == str(user.pk)
        assert OAuthClient.objects.get(client_id=response.json()["client_id"]).user_id == user.pk


def test_registration_is_rate_limited_per_ip() -> None:
    with configure(OAUTH2_RATE_LIMITS={"register": {"window": 3600, "per_ip": 2}}):
        http = Client()
        assert [post(http, public()).status_code for _ in range(3)] == [201, 201, 429]


# --- RFC 7592 -------------------------------------------------------------------------------


@pytest.fixture
def registered() -> dict[str, Any]:
    response = post(Client(), {"redirect_uris": [REDIRECT_URI], "client_name": "Web"})
    assert response.status_code == 201
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_read(registered: dict[str, Any]) -> None:
    url = f"{URL}/{registered['client_id']}"
    response = Client().get(url, **bearer(registered["registration_access_token"]))
    assert response.status_code == 200
    assert response.json()["client_name"] == "Web"
    assert "no-store" in response["Cache-Control"]
    assert Client().get(url).status_code == 401
    assert Client().get(url, **bearer("wrong")).status_code == 401
    other = post(Client(), public()).json()
    assert Client().get(url, **bearer(other["registration_access_token"])).status_code == 401
    unknown = Client().get(f"{URL}/nope", **bearer(registered["registration_access_token"]))
    assert unknown.status_code == 401


def test_update_replaces_the_metadata_and_the_token(registered: dict[str, Any]) -> None:
    url = f"{URL}/{registered['client_id']}"
    token = registered["registration_access_token"]
    new = {"client_id": registered["client_id"], "redirect_uris": ["https://new.example.com/cb"]}
    response = Client().put(url, json.dumps(new), content_type="application/json", **bearer(token))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["redirect_uris"] == ["https://new.example.com/cb"]
    assert "client_name" not in body  # left out: removed (RFC 7592 2.2)
    assert "client_secret" not in body  # unchanged, so not shown again
    assert body["registration_access_token"] != token
    assert Client().get(url, **bearer(token)).status_code == 401
    assert Client().get(url, **bearer(body["registration_access_token"])).status_code == 200
    row = OAuthClient.objects.get(client_id=registered["client_id"])
    assert row.name is None and row.client_secret == crypto.digest(registered["client_secret"])


def test_update_refusals(registered: dict[str, Any]) -> None:
    url = f"{URL}/{registered['client_id']}"
    token = registered["registration_access_token"]

    def put(body: dict[str, Any]) -> Any:
        return Client().put(url, json.dumps(body), content_type="application/json", **bearer(token))

    assert put({"redirect_uris": [REDIRECT_URI]}).status_code == 400  # no client_id
    cid = registered["client_id"]
    assert (
        put({"client_id": cid, "redirect_uris": [REDIRECT_URI], "client_secret": "x"}).json()[
            "error"
        ]
        == "invalid_client_metadata"
    )
    bad = put({"client_id": cid, "redirect_uris": ["http://evil.example.com/"]})
    assert bad.json()["error"] == "invalid_redirect_uri"
    assert OAuthClient.objects.get(client_id=cid).redirect_uris == [REDIRECT_URI]


def test_an_update_may_echo_what_it_read_but_not_change_server_fields(
    registered: dict[str, Any],
) -> None:
    """RFC 7592 2.2: the PUT carries every field the client read, server fields included."""
    url = f"{URL}/{registered['client_id']}"
    token = registered["registration_access_token"]
    OAuthClient.objects.filter(client_id=registered["client_id"]).update(reference_id="org-1")
    read = Client().get(url, **bearer(token)).json()
    assert {"disabled", "reference_id"} <= set(read)
    read["client_name"] = "Web 2"
    updated = Client().put(url, json.dumps(read), content_type="application/json", **bearer(token))
    assert updated.status_code == 200, updated.content
    token = updated.json()["registration_access_token"]
    row = OAuthClient.objects.get(client_id=registered["client_id"])
    assert row.name == "Web 2" and row.reference_id == "org-1" and not row.skip_consent
    read.pop("registration_access_token")  # replaced by the update
    for field, value in (("skip_consent", True), ("disabled", True), ("reference_id", "org-2")):
        changed = {**read, field: value}
        refused = Client().put(
            url, json.dumps(changed), content_type="application/json", **bearer(token)
        )
        assert refused.status_code == 400, field
        assert refused.json() == {
            "error": "invalid_client_metadata",
            "error_description": f"{field} cannot be set by the client",
        }
    row = OAuthClient.objects.get(client_id=registered["client_id"])
    assert not row.skip_consent and not row.disabled and row.reference_id == "org-1"
    # The server's own fields may come back as they were, never otherwise (RFC 7592 2.2).
    for field, value in (
        ("registration_client_uri", f"{ISSUER}/oauth2/register/other"),
        ("registration_access_token", "not-the-token"),
    ):
        refused = Client().put(
            url,
            json.dumps({**read, field: value}),
            content_type="application/json",
            **bearer(token),
        )
        assert refused.json()["error_description"] == f"{field} must not be sent"


def test_subject_type_must_be_public(registered: dict[str, Any]) -> None:
    """Only public subject identifiers are issued (discovery: subject_types_supported)."""
    response = post(Client(), public(subject_type="pairwise"))
    assert response.json()["error_description"].startswith("subject_type must be public")
    assert post(Client(), public(subject_type="public")).json()["subject_type"] == "public"
    url = f"{URL}/{registered['client_id']}"
    body = {"client_id": registered["client_id"], "redirect_uris": [REDIRECT_URI]}
    refused = Client().put(
        url,
        json.dumps({**body, "subject_type": "pairwise"}),
        content_type="application/json",
        **bearer(registered["registration_access_token"]),
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
    assert "subject_type" in refused.json()["error_description"]
    assert OAuthClient.objects.get(client_id=registered["client_id"]).subject_type is None


def test_update_to_public_drops_the_secret_and_back_issues_one(registered: dict[str, Any]) -> None:
    url = f"{URL}/{registered['client_id']}"
    body = {**public(), "client_id": registered["client_id"]}
    first = (
        Client()
        .put(
            url,
            json.dumps(body),
            content_type="application/json",
            **bearer(registered["registration_access_token"]),
        )
        .json()
    )
    assert OAuthClient.objects.get(client_id=registered["client_id"]).client_secret is None
    body["token_endpoint_auth_method"] = "client_secret_post"
    second = (
        Client()
        .put(
            url,
            json.dumps(body),
            content_type="application/json",
            **bearer(first["registration_access_token"]),
        )
        .json()
    )
    row = OAuthClient.objects.get(client_id=registered["client_id"])
    assert row.client_secret == crypto.digest(second["client_secret"])


def test_delete(registered: dict[str, Any]) -> None:
    url = f"{URL}/{registered['client_id']}"
    token = registered["registration_access_token"]
    assert Client().delete(url).status_code == 401
    response = Client().delete(url, **bearer(token))
    assert response.status_code == 204
    assert not OAuthClient.objects.filter(client_id=registered["client_id"]).exists()
    assert not Verification.objects.filter(identifier=crypto.digest(token)).exists()
    assert Client().delete(url, **bearer(token)).status_code == 401


def test_a_rule_message_with_quotes_is_a_clean_error_at_the_token_endpoint(machine: Any) -> None:
    # Validator messages quote the value; Authlib refuses '"' in error_description (was a 500).
    response = Client().post(
        "/oauth2/token",
        urlencode({"grant_type": "client_credentials", "scope": 'a"b'}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic(machine.client.client_id, machine.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "a'b" in response.json()["error_description"]


def test_a_repeated_parameter_with_quotes_in_its_name_is_a_clean_error() -> None:
    body = "grant_type=client_credentials&a%22%27%5Cb=1&a%22%27%5Cb=2"
    response = Client().post(
        "/oauth2/token", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
