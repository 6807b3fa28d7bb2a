"""``manage.py rotate_oauth_client_secret CLIENT_ID``: replace a client's secret through
``rotate_client_secret`` and print the new one, once. The old secret stops working once the
new one is printed: if it cannot be (closed pipe, full disk) nothing changes
(``client_output.show_secret``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from beep_iam.management.client_output import client_report, command_error, show_secret
from beep_iam.models import OAuthClient
from beep_iam.services.oauth_clients import rotate_client_secret


class Command(BaseCommand):
    help = (
        "Give an OAuth client a new secret and print it (shown once: only its digest is "
        "stored). The old secret stops working once the new one is printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client_id", help="The client's client_id.")
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object (for scripts)."
        )

    @sensitive_variables("secret")
    def handle(self, *args: Any, **options: Any) -> None:
        client_id = options["client_id"]
        client = OAuthClient.objects.filter(client_id=client_id).first()
        if client is None:
            shown = client_id if len(client_id) <= 100 else f"{client_id[:99]}…"
            raise CommandError(f"client_id: no OAuth client has the client_id {shown!r}.")
        with transaction.atomic():
            try:
                secret = rotate_client_secret(client)
            except ValidationError as error:
                raise command_error(error) from None
            show_secret(
                self.stdout,
                client_report(
                    client,
                    secret,
                    as_json=options["json"],
                    heading=f"New secret for OAuth client {client.name or client.client_id!r}; "
                    "the old one no longer works.",
                ),
                unchanged="nothing was changed, the old secret still works.",
            )
