"""Shared helpers for the screening tests: the shared list fixtures and a subject source.

The real list files live beside the clone in ``../shared/fixtures/sanctions/``; they are never
copied into the project, and tests that need them skip when the folder is absent.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kyc.screening.hooks import subject_source
from kyc.screening.matching import Subject

SANCTIONS = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "sanctions"


@pytest.fixture
def sanctions() -> Path:
    if not SANCTIONS.is_dir():
        pytest.skip(f"the shared list fixtures are not here ({SANCTIONS.resolve()})")
    return SANCTIONS


@dataclass
class SubjectTable:
    """A stand-in for the kyc app's subject source: subjects per tenant id."""

    by_tenant: dict[int, dict[str, Subject]] = field(default_factory=dict)
    calls: int = 0

    def add(self, tenant: Any, subject: Subject) -> Subject:
        self.by_tenant.setdefault(tenant.pk, {})[subject.ref] = subject
        return subject

    def __call__(self, tenant: Any, refs: Iterable[str] | None) -> Iterator[Subject]:
        self.calls += 1
        subjects = self.by_tenant.get(getattr(tenant, "pk", tenant), {})
        if refs is None:
            yield from subjects.values()
            return
        for ref in refs:
            if ref in subjects:
                yield subjects[ref]


@pytest.fixture
def subjects() -> Iterator[SubjectTable]:
    table = SubjectTable()
    subject_source.unregister()
    subject_source.register(table)
    yield table
    subject_source.unregister()


def person_csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def parse_birth(value: str) -> tuple[date | None, int | None]:
    value = (value or "").strip()
    if len(value) >= 10:
        try:
            return date.fromisoformat(value[:10]), None
        except ValueError:
            return None, None
    if len(value) == 4 and value.isdigit():
        return None, int(value)
    return None, None


def write_ftm(path: Path, entities: Iterable[dict[str, Any]]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for entity in entities:
            handle.write(json.dumps(entity, ensure_ascii=False) + "\n")
    return path


def person_entity(
    key: str, names: list[str], *, birth: str = "", country: str = ""
) -> dict[str, Any]:
    props: dict[str, list[str]] = {"name": names, "topics": ["sanction"]}
    if birth:
        props["birthDate"] = [birth]
    if country:
        props["nationality"] = [country]
    return {"id": key, "schema": "Person", "properties": props, "target": True}


def un_list_file(sanctions: Path, tmp_path: Path) -> Path:
    """The untreated UN persons as FtM lines (ids ``un-<row>``), written to a temp file."""
    rows = person_csv_rows(sanctions / "positives_un_untreated.csv")
    return write_ftm(
        tmp_path / "un.ftm.json",
        (
            person_entity(
                f"un-{i}",
                [row["full_name"]],
                birth=row["date_of_birth"],
                country=row["nationality"],
            )
            for i, row in enumerate(rows)
        ),
    )


def subject_from_row(ref: str, row: dict[str, str]) -> Subject:
    birth_date, birth_year = parse_birth(row.get("date_of_birth", ""))
    country = (row.get("nationality") or "").strip().lower()
    return Subject(
        ref=ref,
        names=(row["full_name"],),
        birth_date=birth_date,
        birth_year=birth_year,
        countries=(country,) if len(country) == 2 else (),
    )
