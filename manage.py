#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "migrate" and os.environ.get("MIGRATION_DATABASE_URL", "").strip():
        # Migrations run as the role that owns the tables; everything else as DATABASE_URL's.
        os.environ["DATABASE_URL"] = os.environ["MIGRATION_DATABASE_URL"]
    if command.startswith("embedded_pg_"):
        # These inspect, stop or upgrade the embedded server: settings must not start it.
        os.environ["BEEP_EMBEDDED_PG_NO_START"] = "1"
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    if "--traceback" in sys.argv:
        execute_from_command_line(sys.argv)
        return
    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.exit(f"Configuration error: {exc}")
    except OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        sys.exit(f"Database error: {first_line} (run with --traceback for details)")


if __name__ == "__main__":
    main()
