"""RFC 6749 5.2's ``invalid_client``, as every endpoint of this package answers it."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import errors

from beep_iam.conf import iam_settings


class InvalidClientError(errors.InvalidClientError):
    """Always 401, with a ``Basic`` challenge that names its ``realm`` (RFC 7617 2: required;
    Authlib's leaves it out): the issuer."""

    status_code = 401

    def get_headers(self) -> list[tuple[str, str]]:
        headers = [(k, v) for k, v in super().get_headers() if k.lower() != "www-authenticate"]
        params = [f'realm="{iam_settings().oauth2_issuer or "oauth2"}"', f'error="{self.error}"']
        description = self.get_error_description()
        if description:  # printable (text.printable): no quote, no backslash
            params.append(f'error_description="{description}"')
        headers.append(("WWW-Authenticate", "Basic " + ", ".join(params)))
        return headers
