"""Write (or check) the better-auth module generated from the Django models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from beep_iam.better_auth import drizzle, mapping


def default_output() -> Path:
    """This repository's folder; a host project names its own (``--output``)."""
    base = getattr(settings, "BASE_DIR", None)
    folder = Path(base) / "interop" / "better-auth" / "generated" if base else None
    if folder is None or not folder.parent.is_dir():
        raise CommandError(
            "Name the folder to write to with --output FOLDER (the default, "
            "interop/better-auth/generated under BASE_DIR, is this repository's)."
        )
    return folder


class Command(BaseCommand):
    help = (
        "Generate the better-auth side of the schema (Drizzle schema, model/field names, "
        "id generator) as an ES module, from the Django models."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            default=None,
            help="Folder to write to (default: interop/better-auth/generated).",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; fail if the files in the folder differ from the models.",
        )

    def handle(self, *args: Any, output: str | None, check: bool, **options: Any) -> None:
        if output is not None and not output.strip():
            raise CommandError("--output must name a folder, got an empty one.")
        folder = Path(output) if output is not None else default_output()
        files = drizzle.render(mapping.tables())
        if check:
            missing = [name for name in files if not (folder / name).is_file()]
            if missing:
                raise CommandError(
                    f"{', '.join(missing)} missing in {folder}: "
                    "run `python manage.py generate_better_auth`."
                )
            stale = [name for name, text in files.items() if (folder / name).read_text() != text]
            if stale:
                raise CommandError(
                    f"{', '.join(stale)} in {folder} out of date with the models: "
                    "run `python manage.py generate_better_auth`."
                )
            self.stdout.write(f"{folder}: up to date.")
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                (folder / name).write_text(text)
        except OSError as error:
            raise CommandError(f"Cannot write to {folder}: {error.strerror}.") from error
        self.stdout.write(f"Wrote {', '.join(files)} to {folder}.")
