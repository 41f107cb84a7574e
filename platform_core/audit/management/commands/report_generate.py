"""manage.py report_generate --tenant SLUG --type TYPE [--from DATE --to DATE] --out FILE.pdf"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from platform_core.audit.reports import ReportError, report_issue_from_shell, report_type_get
from platform_core.hooks import report_types
from platform_core.tenancy.models import Tenant


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD, not {value!r}.") from None


class Command(BaseCommand):
    help = (
        "Issue one signed report: the PDF at --out, its data appendix and SHA-256 manifest "
        "beside it, all stored append-only. Without --from/--to: this month to today."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument(
            "--type", required=True, help=f"one of {', '.join(report_types.keys())}"
        )
        parser.add_argument("--from", dest="date_from", help="first business date (YYYY-MM-DD)")
        parser.add_argument("--to", dest="date_to", help="last business date (YYYY-MM-DD)")
        parser.add_argument("--out", required=True, help="the PDF to write (FILE.pdf)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"Unknown tenant {options['tenant']!r}.")
        try:
            report_type_get(options["type"])
        except ReportError as exc:
            raise CommandError(str(exc)) from None
        out = Path(options["out"])
        if out.suffix != ".pdf":
            raise CommandError(f"--out must name a .pdf file, not {out}.")
        if not out.parent.is_dir():
            raise CommandError(f"The directory {out.parent} does not exist.")
        today = timezone.localdate(timezone=__import__("zoneinfo").ZoneInfo(tenant.timezone))
        date_to = _date(options["date_to"], "--to") if options["date_to"] else today
        date_from = (
            _date(options["date_from"], "--from")
            if options["date_from"]
            else date_to.replace(day=1)
        )
        try:
            job, files = report_issue_from_shell(
                tenant=tenant,
                report_type=options["type"],
                date_from=date_from,
                date_to=date_to,
                stem=out.stem,
            )
        except ReportError as exc:
            raise CommandError(str(exc)) from None
        _files_write(out.parent, [(file.name, file.content) for file in files])
        for file in files:
            self.stdout.write(f"{file.sha256}  {out.parent / file.name}")
        self.stdout.write(
            f"Report {job.pk} ({options['type']}, {date_from} to {date_to}) of {tenant.slug}: "
            f"{len(files)} files, stored."
        )


def _files_write(directory: Path, files: list[tuple[str, bytes]]) -> None:
    """Stage every file beside its target, then rename them in: never a half-written report."""
    staged: list[tuple[str, Path]] = []
    try:
        for name, content in files:
            fd, path = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            staged.append((name, Path(path)))
        for name, path in staged:
            os.replace(path, directory / name)
    except OSError as exc:
        raise CommandError(f"Cannot write the report into {directory}: {exc.strerror}.") from None
    finally:
        for _name, path in staged:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
