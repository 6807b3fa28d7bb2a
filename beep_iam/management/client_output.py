"""What the OAuth client commands share: service errors as CommandErrors, and the output
that shows a new secret once (plain text for people, ``--json`` for scripts).

A new secret is shown, then committed: the commands write and flush it inside the
transaction that stores its digest (:func:`show_secret`), so a closed pipe or a full disk
rolls the change back (the old secret keeps working; a registration leaves no client) instead
of committing a secret nobody saw. Output the operating system accepted but the reader then
lost (a terminal closed after the write) cannot be noticed: rotate again. The old secret
gets no grace period: better-auth checks secrets against the one ``client_secret`` column,
so a second valid secret would hold for Django only.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import CommandError, OutputWrapper
from django.views.decorators.debug import sensitive_variables

from beep_iam.models import OAuthClient

SECRET_NOTE = "Shown once: only its digest is stored. Keep it somewhere safe now."


def command_error(error: ValidationError) -> CommandError:
    """``field: rule`` lines from a service's ValidationError."""
    if hasattr(error, "error_dict"):
        lines = [
            f"{field}: {message}" if field != NON_FIELD_ERRORS else message
            for field, errors in error.error_dict.items()
            for message in ValidationError(errors).messages
        ]
    else:
        lines = list(error.messages)
    return CommandError("\n".join(lines))


@sensitive_variables("report")
def show_secret(stdout: OutputWrapper, report: str, *, unchanged: str) -> None:
    """Write ``report`` (which holds a new secret) and flush it, or raise CommandError saying
    what stays as it was (``unchanged``); call it inside the transaction that stores the
    secret, so that the error rolls it back."""
    try:
        stdout.write(report)
        stdout.flush()
    except OSError as exc:  # BrokenPipeError, ENOSPC, EIO...
        reason = exc.strerror or exc.__class__.__name__
        raise CommandError(f"Could not write the new secret ({reason}): {unchanged}") from None


@sensitive_variables("secret")
def client_report(client: OAuthClient, secret: str | None, *, as_json: bool, heading: str) -> str:
    if as_json:
        return json.dumps(
            {
                "client_id": client.client_id,
                "client_secret": secret,
                "name": client.name,
                "token_endpoint_auth_method": client.token_endpoint_auth_method,
                "grant_types": client.grant_types,
                "response_types": client.response_types,
                "redirect_uris": client.redirect_uris,
                "scopes": client.scopes,
                "client_credentials_scopes": client.client_credentials_scopes,
                "public": client.public,
            }
        )
    lines: list[Any] = [heading, f"client_id:     {client.client_id}"]
    if secret:
        lines += [f"client_secret: {secret}", SECRET_NOTE]
    else:
        lines.append("client_secret: none (this client authenticates without a secret)")
    return "\n".join(lines)
