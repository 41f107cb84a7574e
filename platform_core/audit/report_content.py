"""What a report type gives the report pipeline: the period it covers, its sections, its
appendix files. Plain Python (no ORM), so the contract can be read and tested on its own.

A report type's ``build`` (see ``platform_core.hooks.ReportType``) receives a
``ReportPeriod`` and a ``ReportAppendix`` and returns a ``ReportBody``: what a person reads in
the PDF (short tables, totals, exceptions, charts) while everything row by row goes into the
appendix, whose SHA-256 the signed PDF states on its cover.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

# More rows than this in a PDF table is the wrong shape (WeasyPrint takes ~13 s for 2,000
# rows): a section longer than this is cut, and says where the rest is.
PDF_ROWS_MAX = 400


@dataclass(frozen=True)
class ReportPeriod:
    """Business dates ``date_from``..``date_to`` (both included) in the tenant's time zone."""

    date_from: date
    date_to: date
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start(self) -> datetime:
        """The first instant of ``date_from`` (aware)."""
        return datetime.combine(self.date_from, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """The first instant after ``date_to`` (aware, excluded)."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=self.zone)

    def __str__(self) -> str:
        return f"{self.date_from.isoformat()} to {self.date_to.isoformat()} ({self.timezone})"


@dataclass
class ReportSection:
    """One part of the PDF: a heading, some text, an optional table and an optional chart.

    ``rows`` hold display strings (format amounts with ``amount_text``); ``numeric`` lists the
    column indexes to right-align. ``chart_svg`` is an SVG document (``bar_chart_svg``).
    """

    title: str
    text: str = ""
    columns: Sequence[str] = ()
    rows: list[Sequence[str]] = field(default_factory=list)
    numeric: Sequence[int] = ()
    chart_svg: str = ""
    note: str = ""


@dataclass
class ReportBody:
    """What ``build`` returns.

    ``summary``: the key facts as (label, value) pairs, shown right after the cover.
    ``empty``: true when the period holds no data; the cover then says so (the report is
    still complete and signed: "nothing happened" is a finding too).
    """

    summary: list[tuple[str, str]] = field(default_factory=list)
    sections: list[ReportSection] = field(default_factory=list)
    empty: bool = False


@dataclass(frozen=True)
class AppendixFile:
    name: str  # the part of the file name after the report's stem: "postings.csv"
    content_type: str
    content: bytes
    kind: str  # "csv" or "json"


class ReportAppendix:
    """The data appendix a ``build`` fills: CSV tables and JSON documents, kept in memory."""

    def __init__(self) -> None:
        self.files: list[AppendixFile] = []

    def _add(self, file: AppendixFile) -> str:
        if any(existing.name == file.name for existing in self.files):
            raise ValueError(f"the appendix already has a file {file.name!r}")
        if not file.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"appendix file names are letters, digits, - _ . : {file.name!r}")
        self.files.append(file)
        return file.name

    def csv(self, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
        """Write a CSV table (UTF-8, RFC 4180, header first); returns the file name."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([_csv_cell(value) for value in row] for row in rows)
        return self._add(
            AppendixFile(f"{name}.csv", "text/csv", buffer.getvalue().encode("utf-8"), "csv")
        )

    def json(self, name: str, document: Any) -> str:
        """Write a JSON document (sorted keys, Decimals and dates as strings)."""
        content = json.dumps(
            document, sort_keys=True, indent=1, ensure_ascii=False, default=_json_default
        ).encode("utf-8")
        return self._add(AppendixFile(f"{name}.json", "application/json", content, "json"))


def _csv_cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot go into a report's JSON appendix")


def amount_text(value: Decimal) -> str:
    """An amount for a PDF table: thousands separated, never in exponent form."""
    return f"{value:,f}"


def bar_chart_svg(
    *, labels: Sequence[str], values: Sequence[Decimal | int], title: str = ""
) -> str:
    """A small vertical bar chart as an SVG document (drawn for print: grey bars, no script)."""
    width, height, top, bottom, left = 640, 220, 24, 40, 8
    count = max(len(values), 1)
    peak = max((abs(Decimal(v)) for v in values), default=Decimal(0)) or Decimal(1)
    slot = (width - 2 * left) / count
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="9">',
        f'<text x="{left}" y="14" font-size="11">{escape(title)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" '
        f'y2="{height - bottom}" stroke="#333" stroke-width="0.5"/>',
    ]
    usable = height - top - bottom
    step = max(1, count // 12)  # at most about a dozen labels under the axis
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar_height = float(abs(Decimal(value)) / peak) * usable
        x = left + i * slot + (slot - bar) / 2
        y = height - bottom - bar_height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{bar_height:.1f}" '
            f'fill="#6b7a8f"/>'
        )
        if i % step == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 12}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
