"""Domain errors of the OAuth services, each carrying its RFC 6749 / 7009 error code.

An HTTP layer maps ``error`` to the response body; nothing here is an HTTP 500.
"""

from __future__ import annotations


class OAuthError(Exception):
    error = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidClient(OAuthError):
    """Unknown or disabled client, or failed client authentication."""

    error = "invalid_client"


class UnauthorizedClient(OAuthError):
    """The token exists but was issued to another client."""

    error = "unauthorized_client"


class InvalidGrant(OAuthError):
    """The refresh token is unknown, expired, revoked or bound to another client."""

    error = "invalid_grant"


class RefreshTokenReused(InvalidGrant):
    """A rotated or revoked refresh token was presented again; its family is now revoked."""


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidRequest(OAuthError):
    """A malformed request, e.g. a redirect URI that matches no registered one."""

    error = "invalid_request"
