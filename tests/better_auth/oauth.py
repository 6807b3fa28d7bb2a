"""OAuth steps against better-auth: authorize + consent + token with PKCE (S256), etc."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

REDIRECT_URI = "https://app.example.com/callback"
SCOPE = "openid profile email offline_access"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def register_client(browser: Any) -> dict[str, Any]:
    """A confidential client registered by a signed-in user (better-auth's create-client)."""
    response = browser.post(
        "/api/auth/oauth2/create-client",
        json={
            "client_name": "Interop App",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
    )
    assert response.status in (200, 201), response.body
    return response.body


def authorize(browser: Any, client_id: str) -> tuple[str, str]:
    """authorize (-> consent page -> consent accepted, the first time); (code, verifier)."""
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": "interop-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = browser.get("/api/auth/oauth2/authorize?" + urlencode(query))
    assert response.status in (302, 303), (response.status, response.body)
    redirect = response.location or ""
    if not redirect.startswith(REDIRECT_URI):  # not consented yet: the consent page
        assert urlsplit(redirect).path == "/consent", redirect
        consent = browser.post(
            "/api/auth/oauth2/consent",
            json={"accept": True, "oauth_query": urlsplit(redirect).query},
        )
        assert consent.status == 200, consent.body
        # The lines name the redirect differently: redirect_uri, url (1.7), uri (1.4).
        body = consent.body
        redirect = body.get("redirect_uri") or body.get("url") or body.get("uri")
        assert redirect and redirect.startswith(REDIRECT_URI), consent.body
    params = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
    assert params["state"] == "interop-state"
    return params["code"], verifier


def token(server: Any, client: dict[str, Any], **form: str) -> Any:
    return server.request(
        "POST",
        "/api/auth/oauth2/token",
        form={"client_id": client["client_id"], "client_secret": client["client_secret"], **form},
    )


def exchange_code(server: Any, client: dict[str, Any], code: str, verifier: str) -> Any:
    return token(
        server,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )


def introspect(server: Any, client: dict[str, Any], raw: str, hint: str | None = None) -> Any:
    form = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    form["token"] = raw
    if hint:
        form["token_type_hint"] = hint
    return server.request("POST", "/api/auth/oauth2/introspect", form=form)


def is_active(server: Any, client: dict[str, Any], raw: str, hint: str | None = None) -> bool:
    """better-auth's introspection verdict. 1.4 answers an unknown, expired or revoked token
    with 400 invalid_request ("token not found" / "token expired") instead of active=false."""
    response = introspect(server, client, raw, hint)
    if server.line == "1.4" and response.status == 400:
        assert response.body["error"] == "invalid_request", response.body
        return False
    assert response.status == 200, response.body
    return bool(response.body["active"])


def revoke(server: Any, client: dict[str, Any], raw: str, hint: str) -> Any:
    form = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    form.update(token=raw, token_type_hint=hint)
    return server.request("POST", "/api/auth/oauth2/revoke", form=form)
