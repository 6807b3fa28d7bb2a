"""``manage.py register_oauth_client``: register an OAuth client through ``register_client``
(every registration rule applies) and print its client id and secret, once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from beep_iam.management.client_output import client_report, command_error, show_secret
from beep_iam.models.oauth import (
    ApplicationType,
    ClientType,
    GrantType,
    ResponseType,
    TokenEndpointAuthMethod,
)
from beep_iam.services.oauth_clients import register_client


def _words(values: list[str] | None) -> list[str] | None:
    """Repeated options, each also split on spaces ("openid profile" is two scopes, as in
    an OAuth scope parameter)."""
    if values is None:
        return None
    return [word for value in values for word in value.split()]


class Command(BaseCommand):
    help = (
        "Register an OAuth client and print its client id and secret (shown once: only the "
        "secret's digest is stored). Repeat --redirect-uri, --grant-type, --scope, ... for "
        "several values."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Shown to users on consent screens.")
        parser.add_argument(
            "--redirect-uri", action="append", dest="redirect_uris", default=[], metavar="URI"
        )
        parser.add_argument(
            "--auth-method",
            dest="token_endpoint_auth_method",
            default=TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
            help=f"One of: {', '.join(TokenEndpointAuthMethod.values)} (default: %(default)s). "
            "'none' makes a public client, without a secret.",
        )
        parser.add_argument(
            "--grant-type",
            action="append",
            dest="grant_types",
            metavar="GRANT",
            help=f"One of: {', '.join(GrantType.values)} (default: authorization_code).",
        )
        parser.add_argument(
            "--response-type",
            action="append",
            dest="response_types",
            metavar="TYPE",
            help=f"One of: {', '.join(ResponseType.values)} (default: code).",
        )
        parser.add_argument(
            "--scope", action="append", dest="scopes", metavar="SCOPE", help="Allowed scopes."
        )
        parser.add_argument(
            "--client-credentials-scope",
            action="append",
            dest="client_credentials_scopes",
            metavar="SCOPE",
            help="Scopes the client may get for itself (client_credentials grant).",
        )
        parser.add_argument("--user", metavar="EMAIL", help="The client's owner (an email).")
        parser.add_argument("--uri", help="The client's home page.")
        parser.add_argument("--icon", metavar="URI")
        parser.add_argument("--tos", metavar="URI", help="Terms of service.")
        parser.add_argument("--policy", metavar="URI", help="Privacy policy.")
        parser.add_argument("--contact", action="append", dest="contacts", metavar="EMAIL")
        parser.add_argument(
            "--post-logout-redirect-uri",
            action="append",
            dest="post_logout_redirect_uris",
            metavar="URI",
        )
        parser.add_argument("--jwks-uri", metavar="URI", help="For private_key_jwt clients.")
        parser.add_argument(
            "--type",
            choices=ClientType.values,
            help="better-auth's client type, kept for it (Django reads the auth method).",
        )
        parser.add_argument(
            "--application-type",
            choices=ApplicationType.values,
            help="OpenID Connect's application_type; 'native' lets the redirect URIs use a "
            "private-use scheme (com.example.app:/callback, RFC 8252 7.1).",
        )
        parser.add_argument("--require-pkce", action="store_true", default=None)
        parser.add_argument("--skip-consent", action="store_true", default=None)
        parser.add_argument(
            "--enable-end-session",
            action="store_true",
            default=None,
            help="Let the client sign its users out (RP-initiated logout at /oauth2/end-session, "
            "to a --post-logout-redirect-uri).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object (for scripts)."
        )

    @sensitive_variables("registered")
    def handle(self, *args: Any, **options: Any) -> None:
        arguments: dict[str, Any] = {
            "name": options["name"],
            "redirect_uris": options["redirect_uris"],
            "token_endpoint_auth_method": options["token_endpoint_auth_method"],
            "grant_types": options["grant_types"],
            "response_types": options["response_types"],
            "scopes": _words(options["scopes"]),
            "user": self.owner(options["user"]),
        }
        if options["client_credentials_scopes"]:
            arguments["client_credentials_scopes"] = _words(options["client_credentials_scopes"])
        for name in (
            "uri",
            "icon",
            "tos",
            "policy",
            "contacts",
            "post_logout_redirect_uris",
            "jwks_uri",
            "type",
            "application_type",
            "require_pkce",
            "skip_consent",
            "enable_end_session",
        ):
            if options[name] is not None:
                arguments[name] = options[name]
        with transaction.atomic():
            try:
                registered = register_client(**arguments)
            except ValidationError as error:
                raise command_error(error) from None
            client = registered.client
            show_secret(
                self.stdout,
                client_report(
                    client,
                    registered.client_secret,
                    as_json=options["json"],
                    heading=f"Registered OAuth client {client.name!r}.",
                ),
                unchanged="no client was registered.",
            )
        grants = client.grant_types
        if (grants is None or GrantType.CLIENT_CREDENTIALS in grants) and not (
            client.client_credentials_scopes
        ):
            self.stderr.write(
                "Note: no --client-credentials-scope, so this client's client_credentials "
                "requests are refused (unauthorized_client) until it has some (fail closed)."
            )

    def owner(self, email: str | None) -> Any:
        if email is None:
            return None
        user = get_user_model()._default_manager.filter(email=email.strip().lower()).first()
        if user is None:
            raise CommandError(f"user: no user has the email address {email!r}.")
        return user
