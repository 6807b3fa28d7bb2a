"""DPoP at the pushed authorization request endpoint (RFC 9449 10.1) with a client nobody here
wrote: panva's openid-client (interop/openid-client/par_dpop.mjs) pushes its authorization
request with ``buildAuthorizationUrlWithPAR(config, params, { DPoP })``, a proof and no
``dpop_jkt`` parameter; the server binds the code to the proof's key, the library's token
request with the same key gets DPoP-bound tokens and userinfo answers with them. A second
flow redeems such a code with another key of the library's: refused, ``invalid_dpop_proof``.
With and without nonces required (the library's own retry at PAR and the token endpoint).
No relaxed option beyond plain http on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model

from beep_iam.models import OAuthAccessToken, OAuthRefreshToken, Verification
from beep_iam.oauth2 import par
from beep_shared import crypto
from tests.npm import NodeSession, npm_ci
from tests.oauth2.test_dpop_clients import (
    REDIRECT_URI,
    bound_to,
    public_client,
    sign_in_and_consent,
)
from tests.oauth2.test_independent_client import server  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.interop, pytest.mark.django_db(transaction=True)]

OPENID_CLIENT = Path(__file__).resolve().parents[2] / "interop" / "openid-client"
SCOPE = "openid profile offline_access"


def pushed_row(url: str) -> Any:
    """The ``verification`` rows of the pushed request behind the authorization ``url``."""
    params = parse_qs(urlsplit(url).query)
    assert set(params) == {"client_id", "request_uri"}, params  # nothing but the reference
    request_uri = params["request_uri"][0]
    return Verification.objects.filter(
        identifier=crypto.digest(request_uri.removeprefix(par.PREFIX))
    )


def pushed_query(url: str) -> dict[str, Any]:
    """The authorization request stored for the pushed request behind ``url``."""
    value: dict[str, Any] = json.loads(pushed_row(url).get().value)
    assert value["type"] == "par", value
    query: dict[str, Any] = value["query"]
    return query


def answers(seen: list[dict[str, Any]]) -> list[tuple[int, str | None, str]]:
    return [(a["status"], a.get("error"), a["url"]) for a in seen]


@pytest.mark.parametrize("nonce_required", [False, True], ids=["no-nonce", "nonce"])
def test_openid_client_dpop_at_par_binds_the_code(server, settings, nonce_required):  # noqa: F811
    settings.BEEP_IAM = {
        **settings.BEEP_IAM,
        "OAUTH2_DPOP": {"NONCE_REQUIRED": nonce_required},
    }
    npm_ci(OPENID_CLIENT)
    client = public_client("openid-client PAR DPoP")
    common = {
        "issuer": server.url,
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
    }
    par_url, token_url = server.url + "/oauth2/par", server.url + "/oauth2/token"
    # The library's retry when asked for a nonce (400 use_dpop_nonce), then the answer.
    asked = [(400, "use_dpop_nonce")] if nonce_required else []

    def pushed(started: dict[str, Any]) -> None:
        """The PAR request carried the library's proof: the stored request is bound to it."""
        assert [(s, e) for s, e, _ in answers(started["seen"])] == [*asked, (201, None)]
        assert {url for _, _, url in answers(started["seen"])} == {par_url}
        query = pushed_query(started["url"])
        assert query["client_id"] == client.client_id
        # The library sends no dpop_jkt parameter (oauth4webapi's pushedAuthorizationRequest
        # only adds the proof header): the server took it from the proof.
        assert query["dpop_jkt"] == started["jkt"]

    # The same key at PAR and at the token endpoint: DPoP-bound tokens, userinfo with them.
    with NodeSession(OPENID_CLIENT, "par_dpop.mjs", **common) as node:
        started = node.read()
        pushed(started)
        node.send(sign_in_and_consent(server, started["url"], "par-dpop@example.com"))
        result = node.finish()
    assert node.returncode == 0 and "error" not in result, result
    assert result["token_jkt"] == started["jkt"]
    assert result["token_type"] == "dpop"  # "DPoP" in the response, lowercased by the library
    jkt = {"jkt": started["jkt"]}
    assert bound_to(result["access_token"]) == jkt
    refresh = OAuthRefreshToken.objects.get(token=crypto.digest(result["refresh_token"]))
    assert refresh.confirmation == jkt  # a public client's refresh token: bound as well
    user = get_user_model().objects.get(email="par-dpop@example.com")
    assert result["sub"] == user.pk
    assert result["userinfo"] == {"sub": user.pk, "name": "Dee"}
    userinfo_url = server.url + "/oauth2/userinfo"
    flow = [a for a in answers(result["seen"]) if a[2] in (token_url, userinfo_url)]
    # The nonce from PAR's answer is reused at the token endpoint (same origin): no retry.
    assert flow == [(200, None, token_url), (200, None, userinfo_url)]
    assert not pushed_row(started["url"]).exists()  # the request_uri was used up by the code

    # A code pushed with one key, redeemed by the library with another key: refused.
    with NodeSession(OPENID_CLIENT, "par_dpop.mjs", other_key=True, **common) as node:
        started = node.read()
        pushed(started)
        node.send(sign_in_and_consent(server, started["url"], "par-thief@example.com"))
        result = node.finish()
    assert node.returncode == 0 and "error" not in result, result
    assert result["token_jkt"] != started["jkt"]
    assert result["refused"] == {
        "name": "ResponseBodyError",
        "code": "OAUTH_RESPONSE_BODY_ERROR",
        "error": "invalid_dpop_proof",
        "status": 400,
    }
    # The other key has no nonce yet: the library asks once, then the server refuses the key.
    assert [a for a in answers(result["seen"]) if a[2] == token_url] == [
        *[(400, "use_dpop_nonce", token_url)] * nonce_required,
        (400, "invalid_dpop_proof", token_url),
    ]
    thief = get_user_model().objects.get(email="par-thief@example.com")
    assert not OAuthAccessToken.objects.filter(user=thief).exists()
