"""Readers for published list files: FollowTheMoney JSON lines, OpenSanctions' simple CSV and
OFAC's SDN + alias CSV. Plain Python (no Django), so a file can be checked without a database.

Each reader yields ``ListRecord``s; a malformed line raises ``ListFormatError`` naming it, and
the importer, which reads the whole file inside one transaction, then imports nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

FORMATS = ("ftm", "opensanctions-csv", "ofac")

# FtM schemas a client can be confused with; links (Sanction, Ownership...) are not screened.
TARGET_SCHEMAS = frozenset(
    {"Person", "Organization", "Company", "LegalEntity", "PublicBody", "Vessel", "Airplane"}
)
NAME_PROPS = ("name", "alias", "previousName")
WEAK_PROPS = ("weakAlias",)
COUNTRY_PROPS = ("nationality", "citizenship", "country", "jurisdiction")
PARTIAL_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
# A target's sanctions text can run to hundreds of KiB (OpenSanctions simple CSV).
csv.field_size_limit(1 << 24)


class ListFormatError(ValueError):
    """A line the reader cannot make sense of; ``line`` is 1-based."""

    def __init__(self, line: int, message: str, *, file: str = "") -> None:
        self.line = line
        self.file = file
        self.message = message
        where = f"{file}: " if file else ""
        super().__init__(f"{where}line {line}: {message}")


@dataclass(frozen=True)
class ListRecord:
    key: str
    schema: str
    caption: str
    names: tuple[str, ...]
    weak_aliases: tuple[str, ...] = ()
    birth_dates: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()
    content_hash: str = field(default="", compare=False)

    def with_hash(self) -> ListRecord:
        body = json.dumps(
            [
                self.schema,
                self.caption,
                sorted(self.names),
                sorted(self.weak_aliases),
                sorted(self.birth_dates),
                sorted(self.countries),
                sorted(self.topics),
                sorted(self.programs),
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        digest = hashlib.sha256(body.encode()).hexdigest()
        return ListRecord(**{**self.__dict__, "content_hash": digest})


def file_sha256(*paths: Path | None) -> str:
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\x00")
    return digest.hexdigest()


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        value = " ".join(str(value).split())
        if value:
            seen.setdefault(value, None)
    return tuple(seen)


def _dates(values: Iterable[str], *, line: int) -> tuple[str, ...]:
    out = []
    for value in values:
        value = str(value).strip()[:10]
        if not value:
            continue
        if not PARTIAL_DATE.match(value):
            raise ListFormatError(line, f"birth date {value!r} is not an ISO date")
        out.append(value)
    return _unique(out)


def _countries(values: Iterable[str]) -> tuple[str, ...]:
    return _unique(v.strip().lower() for v in values if v and len(v.strip()) <= 10)


# --- FollowTheMoney JSON lines ---------------------------------------------------------------


def read_ftm(handle: Iterable[str]) -> Iterator[ListRecord]:
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ListFormatError(number, f"not a JSON object ({exc.msg})") from None
        if not isinstance(data, dict):
            raise ListFormatError(number, "not a JSON object")
        key, schema, props = data.get("id"), data.get("schema"), data.get("properties")
        if not isinstance(key, str) or not key or not isinstance(schema, str):
            raise ListFormatError(number, "an entity needs an 'id' and a 'schema'")
        if not isinstance(props, dict) or not all(isinstance(v, list) for v in props.values()):
            raise ListFormatError(number, "'properties' must map names to lists of values")
        if schema not in TARGET_SCHEMAS:
            continue
        topics = _unique(props.get("topics", []))
        if not topics and not data.get("target"):
            continue  # a linked entity that is not itself listed
        names = _unique(v for p in NAME_PROPS for v in props.get(p, []))
        caption = str(data.get("caption") or (names[0] if names else ""))
        if not names and caption:
            names = (caption,)
        if not names:
            raise ListFormatError(number, f"entity {key} has no name")
        yield ListRecord(
            key=key,
            schema=schema,
            caption=caption,
            names=names,
            weak_aliases=_unique(v for p in WEAK_PROPS for v in props.get(p, [])),
            birth_dates=_dates(props.get("birthDate", []), line=number),
            countries=_countries(v for p in COUNTRY_PROPS for v in props.get(p, [])),
            topics=topics,
            programs=_unique(props.get("program", [])),
        ).with_hash()


# --- OpenSanctions targets.simple.csv --------------------------------------------------------

SIMPLE_COLUMNS = ("id", "schema", "name", "aliases", "birth_date", "countries", "sanctions")


def _split(value: str) -> list[str]:
    return [v for v in (value or "").split(";") if v.strip()]


def read_opensanctions_csv(handle: Iterable[str]) -> Iterator[ListRecord]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ListFormatError(1, f"unreadable CSV ({exc})") from None
    missing = [c for c in SIMPLE_COLUMNS if c not in header]
    if missing:
        raise ListFormatError(1, f"header lacks the columns {', '.join(missing)}")
    index = {name: header.index(name) for name in header}
    width = len(header)
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                raise ListFormatError(number, f"{len(row)} columns where the header has {width}")
            cell = {name: row[i] for name, i in index.items()}
            key, schema, name = cell["id"].strip(), cell["schema"].strip(), cell["name"].strip()
            if not key or not schema or not name:
                raise ListFormatError(number, "'id', 'schema' and 'name' must not be empty")
            if schema not in TARGET_SCHEMAS:
                continue
            dataset = cell.get("dataset", "")
            topics = ["sanction"] if cell["sanctions"].strip() else []
            if "pep" in dataset.lower():
                topics.append("role.pep")
            yield ListRecord(
                key=key,
                schema=schema,
                caption=name,
                names=_unique([name, *_split(cell["aliases"])]),
                birth_dates=_dates(_split(cell["birth_date"]), line=number),
                countries=_countries(_split(cell["countries"])),
                topics=_unique(topics),
                programs=_unique(_split(cell.get("program_ids", ""))),
            ).with_hash()
    except csv.Error as exc:
        raise ListFormatError(reader.line_num, f"unreadable CSV ({exc})") from None


# --- OFAC SDN + alias CSV --------------------------------------------------------------------

OFAC_TYPES = {
    "individual": "Person",
    "vessel": "Vessel",
    "aircraft": "Airplane",
    "": "Organization",
}
OFAC_DOB = re.compile(r"\bDOB (?:circa )?((?:\d{1,2} )?(?:[A-Z][a-z]{2} )?\d{4})")
OFAC_NATIONALITY = re.compile(r"\b(?:nationality|citizen) ([A-Z][A-Za-z .'-]+?)(?:;|\.$|$)")
OFAC_WEAK_AKA = re.compile(r"a\.k\.a\. '([^']+)'")


def _ofac_cell(value: str) -> str:
    value = value.strip()
    return "" if value == "-0-" else value


def _ofac_date(value: str) -> str:
    for fmt, width in (("%d %b %Y", 10), ("%b %Y", 7), ("%Y", 4)):
        try:
            return datetime.strptime(value, fmt).date().isoformat()[:width]  # noqa: DTZ007
        except ValueError:
            continue
    return ""


def person_name_from_ofac(name: str) -> str:
    """``KHOROSHEV, Dmitry Yuryevich`` -> ``Dmitry Yuryevich KHOROSHEV``."""
    last, sep, first = name.partition(", ")
    return f"{first} {last}" if sep and first else name


def read_ofac_aliases(handle: Iterable[str]) -> dict[str, list[str]]:
    """``alt.csv``: ent_num, alt_num, alt_type, alt_name, alt_remarks (no header)."""
    aliases: dict[str, list[str]] = {}
    reader = csv.reader(handle)
    try:
        for row in reader:
            if not row or not any(c.strip() for c in row) or row[0].startswith("\x1a"):
                continue
            if len(row) < 4:
                raise ListFormatError(
                    reader.line_num, f"an alias row has 5 columns, this one has {len(row)}"
                )
            ent_num, name = _ofac_cell(row[0]), _ofac_cell(row[3])
            if not ent_num.isdigit():
                raise ListFormatError(reader.line_num, f"ent_num {row[0]!r} is not a number")
            if name:
                aliases.setdefault(ent_num, []).append(name)
    except csv.Error as exc:
        raise ListFormatError(reader.line_num, f"unreadable CSV ({exc})") from None
    return aliases


def read_ofac(
    handle: Iterable[str], aliases: dict[str, list[str]] | None = None
) -> Iterator[ListRecord]:
    """``sdn.csv``: ent_num, name, type, program, title, ..., remarks (no header, ``-0-``)."""
    aliases = aliases or {}
    reader = csv.reader(handle)
    try:
        for row in reader:
            number = reader.line_num
            if not row or not any(c.strip() for c in row) or row[0].startswith("\x1a"):
                continue
            if len(row) != 12:
                raise ListFormatError(number, f"an SDN row has 12 columns, this one has {len(row)}")
            ent_num, name, kind = _ofac_cell(row[0]), _ofac_cell(row[1]), _ofac_cell(row[2])
            if not ent_num.isdigit():
                raise ListFormatError(number, f"ent_num {row[0]!r} is not a number")
            if not name:
                raise ListFormatError(number, "the SDN name is empty")
            schema = OFAC_TYPES.get(kind.lower())
            if schema is None:
                raise ListFormatError(number, f"unknown SDN type {kind!r}")
            remarks = _ofac_cell(row[11])
            raw_names = [name, *aliases.get(ent_num, [])]
            names = [person_name_from_ofac(n) for n in raw_names] if schema == "Person" else []
            dates = [_ofac_date(m) for m in OFAC_DOB.findall(remarks)]
            programs = [p.strip(" []") for p in re.split(r"\] \[", _ofac_cell(row[3])) if p]
            yield ListRecord(
                key=ent_num,
                schema=schema,
                caption=name,
                names=_unique([*names, *raw_names]),
                weak_aliases=_unique(OFAC_WEAK_AKA.findall(remarks)),
                birth_dates=_unique(d for d in dates if d),
                countries=_unique(_country_code(c) for c in OFAC_NATIONALITY.findall(remarks)),
                topics=("sanction",),
                programs=_unique(programs),
            ).with_hash()
    except csv.Error as exc:
        raise ListFormatError(reader.line_num, f"unreadable CSV ({exc})") from None


def _country_code(name: str) -> str:
    from followthemoney.types import registry

    return registry.country.clean(name.strip()) or ""


def read_file(path: Path, fmt: str, *, aliases: Path | None = None) -> Iterator[ListRecord]:
    """Every record of ``path``; errors name the file and line."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    legacy = fmt == "ofac"
    alias_map: dict[str, list[str]] = {}
    if aliases is not None:
        try:
            alias_map = read_ofac_aliases(_lines(aliases, legacy=legacy))
        except ListFormatError as exc:
            raise ListFormatError(exc.line, exc.message, file=aliases.name) from None
    readers: dict[str, Any] = {
        "ftm": read_ftm,
        "opensanctions-csv": read_opensanctions_csv,
        "ofac": lambda lines: read_ofac(lines, alias_map),
    }
    try:
        yield from readers[fmt](_lines(path, legacy=legacy))
    except ListFormatError as exc:
        raise ListFormatError(exc.line, exc.message, file=path.name) from None


def _lines(path: Path, *, legacy: bool) -> Iterator[str]:
    """The file's lines as text; a line that is not UTF-8 is an error naming it.

    OFAC's own files are Windows-1252 in the wild, so ``legacy`` falls back to it.
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                if legacy:
                    yield raw.decode("cp1252", errors="replace")
                    continue
                raise ListFormatError(number, "not UTF-8 text") from None
