"""The ladder's bulk insert (COPY into a temporary table, then INSERT … SELECT) must bring
every value back exactly, including the characters COPY's text format escapes (PostgreSQL
docs, "COPY", File Formats: backslash, tab, newline and carriage return; ``\\N`` is NULL)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from psycopg.types.json import Jsonb

from risk.operations.services import _rows_insert

pytestmark = pytest.mark.django_db


def test_rows_come_back_exactly_as_written():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE copy_probe (id bigserial PRIMARY KEY, note text, doc jsonb, "
            "at timestamptz, day date, amount numeric, flag boolean, missing text)"
        )
    awkward = 'tab\there, line\nbreak, return\r, back\\slash, \\N, quote " and 中文'
    rows = [
        (
            awkward,
            Jsonb({"memo": awkward, "amount": "1.10", "list": [1, None]}),
            datetime(2026, 11, 27, 1, 2, 3, 456789, tzinfo=UTC),
            date(2026, 2, 28),
            Decimal("-12345678.901234"),
            False,
            None,
        ),
        ("", Jsonb([]), datetime(2026, 1, 1, tzinfo=UTC), date(2026, 1, 1), Decimal(0), True, "x"),
    ]
    columns = ("note", "doc", "at", "day", "amount", "flag", "missing")
    ids = _rows_insert("copy_probe", columns, rows)
    assert len(ids) == 2
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM copy_probe ORDER BY id")  # noqa: S608
        # Django's cursor hands jsonb back as its text.
        back = [(r[0], json.loads(r[1]), *r[2:]) for r in cursor.fetchall()]
    expected = [tuple(v.obj if isinstance(v, Jsonb) else v for v in row) for row in rows]
    assert [tuple(row) for row in back] == expected
