"""Import a sanctions or PEP list file as a new version, all or nothing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kyc.screening import formats
from kyc.screening.progress import ProgressLine
from kyc.screening.services import list_import, list_version_delta_screen


class Command(BaseCommand):
    help = (
        "Import a list file (FollowTheMoney JSON lines, OpenSanctions simple CSV, or OFAC SDN "
        "CSV with its alias file) as a new version; the same file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", dest="fmt", required=True, choices=formats.FORMATS)
        parser.add_argument("--aliases", type=Path, help="OFAC alt.csv, joined on ent_num")
        parser.add_argument(
            "--list", dest="source", help="list name (default: ofac-sdn, or the file's name)"
        )
        parser.add_argument(
            "--delta-now",
            action="store_true",
            help="screen the changes against every client here instead of in a task",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        aliases: Path | None = options.get("aliases")
        fmt: str = options["fmt"]
        for given in (path, aliases):
            if given is not None and not given.is_file():
                raise CommandError(f"No such file: {given}")
        if aliases is not None and fmt != "ofac":
            raise CommandError("--aliases goes with --format ofac.")
        source = options.get("source") or ("ofac-sdn" if fmt == "ofac" else path.name.split(".")[0])
        progress = ProgressLine(sys.stderr, f"importing {path.name}")
        try:
            outcome = list_import(
                path=path, fmt=fmt, source_name=source, aliases=aliases, progress=progress
            )
        except formats.ListFormatError as exc:
            progress.finish()
            raise CommandError(f"{exc}. Nothing was imported.") from None
        progress.finish()
        version = outcome.version
        if not outcome.created:
            self.stdout.write(
                f"{source}: this file is already version {version.seq}; nothing changed."
            )
            return
        self.stdout.write(
            f"{source}: version {version.seq} imported, {version.entity_count} entities "
            f"({version.added_count} added, {version.changed_count} changed, "
            f"{version.removed_count} delisted)."
        )
        if options["delta_now"]:
            delta = list_version_delta_screen(
                version_id=version.pk, progress=ProgressLine(sys.stderr, "delta screening")
            )
            self.stdout.write(
                f"delta screening: {delta.subjects_rescreened} clients re-screened in "
                f"{delta.tenants} tenants."
            )
        else:
            self.stdout.write("The changes are being screened against every client (a task).")
