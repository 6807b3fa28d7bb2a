"""``manage.py purge_expired_tokens``: delete expired and long-revoked tokens in batches."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.utils import timezone

from beep_iam.conf import MAX_PURGE_BATCH_SIZE, iam_settings
from beep_iam.maintenance import targets as _targets  # noqa: F401  (registers the targets)
from beep_iam.maintenance.purge import PurgeTarget, count, purge, registry

BAR_WIDTH = 30


def _plain(text: str) -> str:
    return text


class Progress:
    """A one-line text progress bar on stderr: redrawn in place on a terminal, otherwise
    one line per 10% so logs stay short."""

    def __init__(self, stream: OutputWrapper, label: str, total: int) -> None:
        self.stream = stream
        self.label = label
        self.total = max(total, 1)
        self.started = time.perf_counter()
        self.tty = stream.isatty()
        self.last_decile = -1

    def __call__(self, done: int) -> None:
        fraction = min(done / self.total, 1.0)
        decile = int(fraction * 10)
        if not self.tty and decile == self.last_decile:
            return
        self.last_decile = decile
        elapsed = time.perf_counter() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        filled = int(fraction * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = (
            f"{self.label}: [{bar}] {fraction:4.0%} "
            f"{done:,}/{self.total:,} rows, {rate:,.0f} rows/s"
        )
        self.stream.write(("\r" + line) if self.tty else line + "\n", _plain, ending="")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n", _plain, ending="")
            self.stream.flush()


class Command(BaseCommand):
    help = (
        "Delete expired OAuth tokens and tokens revoked longer ago than "
        "BEEP_IAM['REVOKED_TOKEN_RETENTION'], expired codes and stale rate-limit counters, "
        "in bounded batches (one transaction each)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Rows deleted per transaction (default BEEP_IAM['PURGE_BATCH_SIZE'], 5000).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only count the rows that would be deleted.",
        )
        parser.add_argument(
            "--target",
            action="append",
            dest="targets",
            metavar="NAME",
            help=f"Purge only this target (repeatable). Known: {', '.join(registry.names())}.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="Database alias to purge (default: 'default').",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size is None:
            batch_size = iam_settings().purge_batch_size
        if not 1 <= batch_size <= MAX_PURGE_BATCH_SIZE:
            raise CommandError(
                f"--batch-size must be between 1 and {MAX_PURGE_BATCH_SIZE}, got {batch_size}."
            )
        using = options["database"]
        if using not in connections:
            raise CommandError(f"Unknown database alias {using!r}; see settings.DATABASES.")
        try:
            selected = registry.select(options["targets"])
        except KeyError as exc:
            raise CommandError(f"{exc.args[0]}. Pass one of them to --target.") from None

        # One instant for the whole run: rows that expire meanwhile wait for the next run.
        now = timezone.now()
        try:
            if options["dry_run"]:
                self._dry_run(selected, now, using)
            else:
                self._purge(selected, now, using, batch_size)
        except DatabaseError as exc:
            raise CommandError(
                f"Purging failed: {exc}. Rows deleted by completed batches stay deleted; "
                "fix the cause (database reachable? migrations applied?) and run again."
            ) from exc

    def _dry_run(self, selected: list[PurgeTarget], now: Any, using: str) -> None:
        total = 0
        for target in selected:
            n = count(target, now=now, using=using)
            total += n
            self.stdout.write(f"{target.name}: {n:,} rows would be deleted ({target.description})")
        self.stdout.write(f"Dry run: {total:,} rows would be deleted; nothing was changed.")

    def _purge(self, selected: list[PurgeTarget], now: Any, using: str, batch_size: int) -> None:
        total = 0
        for target in selected:
            expected = count(target, now=now, using=using)
            if expected == 0:
                self.stdout.write(f"{target.name}: nothing to delete")
                continue
            bar = Progress(self.stderr, target.name, expected)
            try:
                result = purge(target, now=now, batch_size=batch_size, using=using, progress=bar)
            finally:
                bar.close()
            total += result.deleted
            self.stdout.write(
                f"{target.name}: deleted {result.deleted:,} rows in {result.batches} batches "
                f"({result.seconds:.1f} s, {result.rate:,.0f} rows/s)"
            )
        self.stdout.write(self.style.SUCCESS(f"Deleted {total:,} rows."))
