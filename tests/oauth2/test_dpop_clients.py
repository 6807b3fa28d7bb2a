"""DPoP (RFC 9449) with clients nobody here wrote, against a live server that requires nonces:
panva's oauth4webapi (Node; its DPoP handle and documented nonce retry), openid-client (Node;
its DPoP handle and built-in nonce retry) and requests-oauth2client (Python; DPoPKey /
DPoPToken). Code flow bound to a key, a resource call, a refresh, another resource call; the
resource is reached on the server's other loopback name, another origin to the clients, so
they meet its own ``use_dpop_nonce`` challenge. No relaxed option beyond plain http on
loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests_oauth2client import DPoPKey, DPoPToken, OAuth2Client

from beep_iam.models import OAuthAccessToken, OAuthRefreshToken
from beep_iam.services.oauth_clients import register_client
from beep_shared import crypto
from tests.factories import UserFactory
from tests.npm import NodeSession, node_json, npm_ci
from tests.oauth2.test_independent_client import PASSWORD, server  # noqa: F401
from tests.oauth2.test_independent_client import sign_in_and_consent as browser_sign_in_and_consent

pytestmark = [
    pytest.mark.interop,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.oauth2.dpop_urls"),
]

RP = Path(__file__).resolve().parents[2] / "interop" / "oauth4webapi"
OPENID_CLIENT = Path(__file__).resolve().parents[2] / "interop" / "openid-client"
REDIRECT_URI = "http://127.0.0.1:9/callback"
SCOPE = "openid offline_access invoices:read"


@pytest.fixture
def nonces(server, settings):  # noqa: F811
    settings.BEEP_IAM = {**settings.BEEP_IAM, "OAUTH2_DPOP": {"NONCE_REQUIRED": True}}
    return server


def other_origin(url: str) -> str:
    """The live server's URL under its other loopback name: the same server, another origin
    to a client (nonces are kept per origin, RFC 9449 8 and 9)."""
    host = urlsplit(url).hostname
    assert host in ("localhost", "127.0.0.1"), url
    return url.replace(host, "127.0.0.1" if host == "localhost" else "localhost", 1)


def public_client(name: str) -> Any:
    return register_client(
        redirect_uris=[REDIRECT_URI],
        name=name,
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
    ).client


def sign_in_and_consent(server: Any, url: str, email: str) -> str:  # noqa: F811
    """The browser's part: sign in, allow; returns the callback URL."""
    user = UserFactory(email=email, name="Dee", password=PASSWORD)
    callback = browser_sign_in_and_consent(server, url, user.email)
    assert callback.startswith(REDIRECT_URI), callback
    return callback


def bound_to(access_token: str) -> Any:
    return OAuthAccessToken.objects.get(token=crypto.digest(access_token)).confirmation


def test_oauth4webapi_code_flow_refresh_and_resource_with_nonces(nonces):
    npm_ci(RP)
    client = public_client("oauth4webapi DPoP")

    def rp(**command: Any) -> dict[str, Any]:
        return node_json(RP, "dpop.mjs", **command)

    common = {
        "issuer": nonces.url,
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "resource": other_origin(nonces.url) + "/api/invoices",
    }
    started = rp(command="start", scope=SCOPE, **common)
    callback = sign_in_and_consent(nonces, started["url"], "dee@example.com")
    result = rp(
        command="finish",
        callback=callback,
        state=started["state"],
        nonce=started["nonce"],
        code_verifier=started["code_verifier"],
        key=started["key"],
        **common,
    )
    assert result["token_type"] == result["refreshed_token_type"] == "dpop"
    # The token endpoint asked for a nonce once, the resource (another origin) once: the
    # handle keeps each origin's nonce for the next requests.
    assert result["retries"] == {"token": 1, "refresh": 0, "resource": 1}
    assert result["first"] == result["second"]
    assert result["first"]["status"] == 200
    assert result["first"]["body"]["client"] == client.client_id
    jkt = {"jkt": started["jkt"]}
    assert bound_to(result["access_token"]) == bound_to(result["refreshed_access_token"]) == jkt
    live = OAuthRefreshToken.objects.get(client_id=client.client_id, revoked__isnull=True)
    assert live.confirmation == jkt
    # The same token as a bearer token: refused.
    as_bearer = requests.get(
        nonces.url + "/api/invoices",
        headers={"Authorization": f"Bearer {result['refreshed_access_token']}"},
        timeout=10,
    )
    assert as_bearer.status_code == 401
    assert as_bearer.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')


def test_openid_client_code_flow_refresh_and_resource_with_nonces(nonces):
    npm_ci(OPENID_CLIENT)
    client = public_client("openid-client DPoP")
    resource = other_origin(nonces.url) + "/api/invoices"
    with NodeSession(
        OPENID_CLIENT,
        "dpop.mjs",
        issuer=nonces.url,
        client_id=client.client_id,
        redirect_uri=REDIRECT_URI,
        scope=SCOPE,
        resource=resource,
    ) as node:
        started = node.read()
        assert f"dpop_jkt={started['jkt']}" in started["url"]
        node.send(sign_in_and_consent(nonces, started["url"], "fay@example.com"))
        result = node.finish()
    assert "error" not in result, result
    assert result["token_type"] == result["refreshed_token_type"] == "dpop"
    answers = [(a["status"], a.get("error"), a["url"]) for a in result["seen"]]
    token = nonces.url + "/oauth2/token"
    # The library's own retries: once at the token endpoint (400 use_dpop_nonce), once at the
    # resource (401 with a DPoP challenge); userinfo and the refresh reuse the token
    # endpoint's nonce, the second resource call the resource's.
    assert answers[:2] == [(400, "use_dpop_nonce", token), (200, None, token)]
    refused = [a for a in result["seen"] if a["status"] == 401]
    assert [a["url"] for a in refused] == [resource]
    assert refused[0]["challenge"].startswith('DPoP error="use_dpop_nonce"')
    userinfo, jwks = nonces.url + "/oauth2/userinfo", nonces.url + "/jwks"
    assert [(status, url) for status, _, url in answers[2:] if url != jwks] == [
        (200, userinfo),
        (401, resource),
        (200, resource),
        (200, token),
        (200, resource),
    ]
    assert (
        result["first"]
        == result["second"]
        == {
            "status": 200,
            "body": {"client": client.client_id, "user": result["sub"]},
        }
    )
    assert result["userinfo"]["sub"] == result["sub"]  # with openid: the ID token verified too
    jkt = {"jkt": started["jkt"]}
    assert bound_to(result["access_token"]) == bound_to(result["refreshed_access_token"]) == jkt
    live = OAuthRefreshToken.objects.get(client_id=client.client_id, revoked__isnull=True)
    assert live.confirmation == jkt


def test_requests_oauth2client_code_flow_refresh_and_resource_with_nonces(nonces):
    client = public_client("requests-oauth2client DPoP")
    oauth = OAuth2Client.from_discovery_endpoint(
        issuer=nonces.url,
        client_id=client.client_id,
        testing=True,  # http on loopback; nothing else relaxed
        id_token_signed_response_alg="EdDSA",
        dpop_bound_access_tokens=True,
    )
    oauth.update_authorization_server_public_keys()
    key = DPoPKey.generate(alg="ES256")
    # No openid: requests-oauth2client 1.8.0 fails validating an ID token that comes with a
    # DPoP token (its DPoPToken copy loses the key: TypeError in validate_id_token).
    request = oauth.authorization_request(
        scope="offline_access invoices:read", redirect_uri=REDIRECT_URI, dpop_key=key
    )
    callback = sign_in_and_consent(nonces, str(request.uri), "eve@example.com")
    token = oauth.authorization_code(request.validate_callback(callback), dpop_key=key)
    assert isinstance(token, DPoPToken)
    assert bound_to(token.access_token) == {"jkt": key.dpop_jkt}

    resource = nonces.url + "/api/invoices"
    response = requests.get(resource, auth=token, timeout=10)  # retries with the RS nonce
    assert response.status_code == 200, response.text
    assert response.json()["client"] == client.client_id

    refreshed = oauth.refresh_token(token)
    assert isinstance(refreshed, DPoPToken) and refreshed.access_token != token.access_token
    assert bound_to(refreshed.access_token) == {"jkt": key.dpop_jkt}
    assert requests.get(resource, auth=refreshed, timeout=10).status_code == 200

    # The refresh token is bound to the key: another key cannot use it.
    thief = DPoPKey.generate(alg="ES256")
    stolen = {
        "grant_type": "refresh_token",
        "refresh_token": refreshed.refresh_token,
        "client_id": client.client_id,
    }

    def steal(nonce: str | None) -> requests.Response:
        proof = thief.proof("POST", oauth.token_endpoint, nonce=nonce)
        return requests.post(
            oauth.token_endpoint, data=stolen, headers={"DPoP": str(proof)}, timeout=10
        )

    asked = steal(None)
    assert asked.json()["error"] == "use_dpop_nonce"
    refused = steal(asked.headers["DPoP-Nonce"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_dpop_proof"
    assert (
        OAuthRefreshToken.objects.get(token=crypto.digest(refreshed.refresh_token)).revoked is None
    )
