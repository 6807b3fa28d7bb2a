"""The checks of an authorization request once its client and redirect URI are proven, in
one place for the authorization endpoint and the pushed authorization request endpoint
(RFC 9126 2.1: the server validates a pushed request as it would at the authorization
endpoint)."""

from __future__ import annotations

import re

from authlib.oauth2.rfc6749 import errors

from beep_iam.conf import OIDC_SCOPES
from beep_iam.models import OAuthClient
from beep_iam.models.oauth import GrantType, TokenEndpointAuthMethod
from beep_iam.oauth2 import dpop, resources
from beep_iam.oauth2.endpoint import scope_list
from beep_iam.oauth2.text import printable
from beep_iam.services import oauth_tokens

PROMPTS = frozenset({"none", "login", "consent", "select_account"})
#: RFC 7636 4.1 and 4.2: ``43*128unreserved``, the code verifier and the code challenge alike.
PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def default_scopes(client: OAuthClient) -> list[str]:
    """The scopes of a request that names none (RFC 6749 3.3), as better-auth defaults them:
    the client's registered scopes, else the server's."""
    return list(client.scopes or OIDC_SCOPES)


def is_openid(client: OAuthClient, params: dict[str, str]) -> bool:
    """Whether the request is an OpenID Connect one (its scope, or the default, names
    ``openid``), read before its scope is validated: the redirect URI is proven first."""
    scope = params.get("scope")
    return "openid" in (scope.split(" ") if scope is not None else default_scopes(client))


def _check_parameters(client: OAuthClient, params: dict[str, str]) -> tuple[list[str], set[str]]:
    """The request's scopes and prompt values; raises the error to redirect with."""
    if "response_type" not in params:  # RFC 6749 4.1.2.1: a missing parameter
        raise errors.InvalidRequestError(description="response_type is required")
    if params["response_type"] != "code":
        raise errors.UnsupportedResponseTypeError(printable(params["response_type"]))
    if params.get("response_mode", "query") != "query":
        # The one mode discovery lists; a client asking for another (form_post) would not
        # read a query response, so it hears why rather than waiting for nothing.
        raise errors.InvalidRequestError(description="response_mode must be query")
    oauth_tokens.check_grant(client, GrantType.AUTHORIZATION_CODE)
    if "request" in params:
        raise errors.OAuth2Error(
            error="request_not_supported", description="request is not supported"
        )
    scopes = scope_list(params.get("scope"))
    if scopes is None:
        # RFC 6749 3.3: a default instead of failing, better-auth's (the client's registered
        # scopes, else the server's); the request then holds it, for the code and consent.
        scopes = default_scopes(client)
        params["scope"] = " ".join(scopes)
    oauth_tokens.allowed_scopes(client, scopes)
    method = params.get("code_challenge_method")
    challenge = params.get("code_challenge")
    if challenge is not None or method is not None:
        if method != "S256":
            raise errors.InvalidRequestError(
                description="code_challenge_method must be S256 (plain is refused)"
            )
        if challenge is None or not PKCE_VALUE.fullmatch(challenge):
            raise errors.InvalidRequestError(description="code_challenge is missing or malformed")
    elif client.token_endpoint_auth_method == TokenEndpointAuthMethod.NONE or (
        client.require_pkce is not False
    ):
        raise errors.InvalidRequestError(description="PKCE (code_challenge, S256) is required")
    elif "offline_access" in scopes and not ("openid" in scopes and params.get("nonce")):
        # A long-lived grant needs a countermeasure against code injection (RFC 9700 2.1.1):
        # PKCE, or an OpenID Connect nonce; better-auth's rule too.
        raise errors.InvalidRequestError(
            description="PKCE (code_challenge, S256) or an OpenID Connect nonce is required "
            "with offline_access"
        )
    jkt = params.get("dpop_jkt")
    if jkt is not None and not dpop.JKT.fullmatch(jkt):  # RFC 9449 10
        raise errors.InvalidRequestError(description="dpop_jkt must be a SHA-256 JWK thumbprint")
    prompts = set((params.get("prompt") or "").split())
    if not prompts <= PROMPTS or ("none" in prompts and len(prompts) > 1):
        raise errors.InvalidRequestError(description="unsupported prompt value")
    if "max_age" in params:
        try:
            if int(params["max_age"]) < 0:
                raise ValueError
        except ValueError:
            raise errors.InvalidRequestError(description="max_age must be an integer") from None
    return scopes, prompts


def check(
    client: OAuthClient, params: dict[str, str]
) -> tuple[list[str], set[str], list[str] | None]:
    """Every check of an authorization request once its client and redirect URI are proven,
    at the authorization endpoint and the PAR endpoint alike: scopes, prompts, resources. A
    request without ``scope`` gets :func:`default_scopes` written into ``params``."""
    scopes, prompts = _check_parameters(client, params)
    wanted = resources.requested(params)
    resources.resolve(client, wanted, scopes)
    return scopes, prompts, wanted
