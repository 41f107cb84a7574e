"""Screen one name against the lists and print the candidates; stores nothing."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kyc.screening.matching import Subject
from kyc.screening.selectors import DEFAULT_THRESHOLDS
from kyc.screening.services import band_for, screening_preview
from platform_core.exceptions import ApplicationError

SCHEMAS = ("Person", "Organization", "Company", "LegalEntity", "Vessel", "Airplane")


class Command(BaseCommand):
    help = "Screen NAME against the sanctions and PEP lists (no side effects)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--birth-date", help="YYYY-MM-DD")
        parser.add_argument(
            "--country", action="append", default=[], help="ISO 3166 alpha-2; repeatable"
        )
        parser.add_argument("--schema", default="LegalEntity", choices=SCHEMAS)
        parser.add_argument("--limit", type=int, default=10)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        name = " ".join(options["name"].split())
        if not name:
            raise CommandError("Give a name to screen.")
        birth_date = None
        if options.get("birth_date"):
            try:
                birth_date = date.fromisoformat(options["birth_date"])
            except ValueError:
                raise CommandError(
                    f"--birth-date {options['birth_date']!r} is not a date (YYYY-MM-DD)."
                ) from None
        countries = []
        for code in options["country"]:
            if len(code) != 2 or not code.isalpha():
                raise CommandError(f"--country {code!r} is not a two-letter ISO code.")
            countries.append(code.lower())
        if not 1 <= options["limit"] <= 100:
            raise CommandError("--limit is between 1 and 100.")
        subject = Subject(
            ref="preview",
            names=(name,),
            birth_date=birth_date,
            countries=tuple(countries),
            schema=options["schema"],
        )
        try:
            scored = screening_preview(subject=subject, limit=options["limit"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        rows = []
        for item in scored:
            score = round(item.score, 3)
            rows.append(
                {
                    "entity_id": item.candidate.entity_id,
                    "caption": item.candidate.caption,
                    "schema": item.candidate.schema,
                    "topics": list(item.candidate.topics),
                    "matched_name": item.matched_name,
                    "score": score,
                    "band": str(band_for(Decimal(str(score)), DEFAULT_THRESHOLDS)),
                    "features": item.features,
                }
            )
        if options["json"]:
            self.stdout.write(json.dumps({"query": name, "candidates": rows}, ensure_ascii=False))
            return
        if not rows:
            self.stdout.write(f"{name}: no candidates.")
            return
        for row in rows:
            topics = ",".join(row["topics"]) or "-"
            self.stdout.write(
                f"{row['score']:.3f} {row['band']:<6} #{row['entity_id']} {row['caption']} "
                f"[{row['schema']}; {topics}]"
            )
            for feature, value in row["features"].items():
                self.stdout.write(f"       {feature} {value['score']:.2f}: {value['detail']}")
