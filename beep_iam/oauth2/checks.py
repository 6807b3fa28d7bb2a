"""System check: the OAuth endpoints are routed but have no issuer."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse

from beep_iam.conf import iam_settings


def endpoints_routed() -> bool:
    try:
        reverse("beep_iam_oauth2:token")
    except NoReverseMatch:
        return False
    return True


def check_issuer(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    # A warning, not an error: the same project runs commands that serve no request (migrate,
    # the tests) without a public URL; the endpoints then answer 503 (endpoint.needs_issuer).
    try:
        configured = iam_settings().oauth2_issuer is not None
    except ImproperlyConfigured:
        return []  # beep_iam.E001 reports it
    if configured or not endpoints_routed():
        return []
    return [
        checks.Warning(
            "The OAuth endpoints (beep_iam.oauth2.urls) are routed but "
            "BEEP_IAM['OAUTH2_ISSUER'] is not set: every endpoint answers 503.",
            hint="Set it to the server's public URL, e.g. 'https://auth.example.com' "
            "(docs/oauth2.md).",
            id="beep_iam.W040",
        )
    ]
