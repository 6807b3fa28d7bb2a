"""``createsuperuser`` that ends with a usable admin login also without a terminal.

Django's skips, with exit status 0, when asked interactively with no terminal: the README's
one-liner would then carry on to ``runserver`` with nobody able to sign in. Here, with no
terminal, a superuser that exists already is kept, else one is made from
``DJANGO_SUPERUSER_EMAIL`` (``admin@example.com``), ``DJANGO_SUPERUSER_NAME`` (``Admin``) and
``DJANGO_SUPERUSER_PASSWORD`` (a random one, printed once).
"""

from __future__ import annotations

import os
import secrets
import sys
from typing import Any

from django.contrib.auth.management.commands import createsuperuser
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from beep_shared.models import User


class Command(createsuperuser.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        stdin = options.get("stdin") or sys.stdin
        if not options["interactive"] or (hasattr(stdin, "isatty") and stdin.isatty()):
            super().handle(*args, **options)
            return
        users = User.objects.db_manager(options["database"])
        existing = users.filter(is_superuser=True).order_by("created_at").first()
        if existing is not None:
            self.stdout.write(
                f"No terminal: keeping the superuser {existing.email} "
                f"(`python manage.py changepassword {existing.email}` sets a new password)."
            )
            return
        email = options["email"] or os.environ.get("DJANGO_SUPERUSER_EMAIL", "admin@example.com")
        name = options.get("name") or os.environ.get("DJANGO_SUPERUSER_NAME", "Admin")
        given = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        password = given or secrets.token_urlsafe(12)
        try:
            user = users.create_superuser(email, password, name=name)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        shown = "DJANGO_SUPERUSER_PASSWORD" if given else f"{password} (shown once)"
        self.stdout.write(
            f"No terminal: created the superuser {user.email} with the password {shown}; "
            f"`python manage.py changepassword {user.email}` sets another."
        )
