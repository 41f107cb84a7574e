"""Custodian-bank statements for external reconciliation: CSV and ISO 20022 camt.053.

Pure parsing, no Django: the file's bytes in, a ``Statement`` out, or a ``StatementError`` that
names the line or XML element at fault. Amounts are ``Decimal`` from the text as written (never
through float). XML with a document type declaration is refused before it is parsed, so no
entity is ever expanded or fetched (XXE, "billion laughs").

The CSV format (``docs/reconciliation.md``): a header naming the columns
``date,reference,amount,currency,description`` (any order; other columns are ignored), one row
per booked bank entry with a signed amount (positive: money in, negative: money out), one row
whose reference is ``closing_balance`` and at most one whose reference is ``opening_balance``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from xml.parsers import expat

MAX_STATEMENT_BYTES = 20 * 1024 * 1024
MAX_REFERENCE_LENGTH = 255
CSV_COLUMNS = ("date", "reference", "amount", "currency", "description")
CSV_OPENING, CSV_CLOSING = "opening_balance", "closing_balance"
CAMT053_NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.053.001."
# ISO 20022's placeholder for a reference the payer did not give.
NOT_PROVIDED = "NOTPROVIDED"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SIGNED_AMOUNT = re.compile(r"[+-]?\d+(\.\d+)?")
_ISO_AMOUNT = re.compile(r"\d+(\.\d+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")


class StatementError(ValueError):
    """The file is not a statement this platform reads; the message says where and why."""


class Direction(StrEnum):
    """Seen from the bank account: a credit is money received, a debit money paid out."""

    CREDIT = "credit"
    DEBIT = "debit"


class StatementFormat(StrEnum):
    CSV = "csv"
    CAMT053 = "camt.053"


@dataclass(frozen=True)
class StatementLine:
    source: str  # where the line is in the file ("line 4", "Ntry[2]/TxDtls[1]"), for people
    booking_date: date
    amount: Decimal  # always positive; the direction says which way
    direction: Direction
    references: tuple[str, ...]  # most specific first (end-to-end id, entry ref, bank ref)
    description: str

    @property
    def signed_amount(self) -> Decimal:
        return self.amount if self.direction == Direction.CREDIT else -self.amount


@dataclass(frozen=True)
class Statement:
    format: StatementFormat
    sha256: str
    currency: str
    account: str  # the bank's identifier of the account (IBAN or other); "" in CSV
    statement_id: str
    opening_balance: Decimal | None
    opening_date: date | None
    closing_balance: Decimal
    closing_date: date
    lines: tuple[StatementLine, ...]


def statement_parse(*, data: bytes, filename: str = "") -> Statement:
    """Read a statement, telling the format from its content (XML starts with ``<``)."""
    if len(data) > MAX_STATEMENT_BYTES:
        raise StatementError(f"The file is larger than {MAX_STATEMENT_BYTES // 1024 // 1024} MB.")
    if not data.strip():
        raise StatementError("The file is empty.")
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    # XML may come in UTF-16 (with a byte-order mark); a CSV statement is UTF-8 only.
    if head.startswith((b"<", b"\xff\xfe", b"\xfe\xff")) or filename.lower().endswith(".xml"):
        statement = _camt053_parse(data)
    else:
        statement = _csv_parse(data)
    _statement_check(statement)
    return statement


def _statement_check(statement: Statement) -> None:
    """A statement must add up and end on its closing date: otherwise it is incomplete."""
    late = [line for line in statement.lines if line.booking_date > statement.closing_date]
    if late:
        raise StatementError(
            f"{late[0].source}: booked on {late[0].booking_date}, after the closing balance "
            f"of {statement.closing_date}."
        )
    if statement.opening_balance is not None:
        moved = sum((line.signed_amount for line in statement.lines), Decimal(0))
        if statement.opening_balance + moved != statement.closing_balance:
            raise StatementError(
                f"The statement does not add up: opening balance {statement.opening_balance} "
                f"plus entries {moved} is not the closing balance {statement.closing_balance} "
                "(is a page of it missing?)."
            )


def _reference_check(reference: str, where: str) -> str:
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise StatementError(f"{where}: reference longer than {MAX_REFERENCE_LENGTH} characters.")
    return reference


def _date_parse(text: str, where: str) -> date:
    text = text.strip()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise StatementError(f"{where}: {text!r} is not a date (YYYY-MM-DD).") from None


# --- CSV -----------------------------------------------------------------------------------


def _csv_parse(data: bytes) -> Statement:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StatementError(f"The CSV file is not UTF-8 text (byte {exc.start}).") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise StatementError("The CSV file is empty.")
        columns = _csv_header(header)
        entries: list[StatementLine] = []
        balances: dict[str, tuple[Decimal, date, str]] = {}
        currencies: set[str] = set()
        for row in reader:
            where = f"line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise StatementError(
                    f"{where}: {len(row)} fields, but the header has {len(header)}."
                )
            cell = {name: row[index].strip() for name, index in columns.items()}
            booking_date = _date_parse(cell["date"], f"{where}, date")
            amount = _csv_amount(cell["amount"], where)
            currency = cell["currency"]
            if not _CURRENCY.fullmatch(currency):
                raise StatementError(f"{where}: {currency!r} is not an ISO 4217 currency code.")
            currencies.add(currency)
            if len(currencies) > 1:
                raise StatementError(
                    f"{where}: currency {currency} differs from the earlier rows; "
                    "import one account (one currency) per file."
                )
            reference = _reference_check(cell["reference"], where)
            if reference.lower() in (CSV_OPENING, CSV_CLOSING):
                if reference.lower() in balances:
                    raise StatementError(f"{where}: a second {reference.lower()} row.")
                balances[reference.lower()] = (amount, booking_date, where)
                continue
            if amount == 0:
                raise StatementError(f"{where}: an entry of zero moves no money.")
            entries.append(
                StatementLine(
                    source=where,
                    booking_date=booking_date,
                    amount=abs(amount),
                    direction=Direction.CREDIT if amount > 0 else Direction.DEBIT,
                    references=(reference,) if reference else (),
                    description=cell["description"],
                )
            )
    except csv.Error as exc:
        raise StatementError(f"line {reader.line_num}: {exc}.") from None
    if CSV_CLOSING not in balances:
        raise StatementError(f"No {CSV_CLOSING} row: the statement must state its closing balance.")
    closing, closing_date, _ = balances[CSV_CLOSING]
    opening = balances.get(CSV_OPENING)
    return Statement(
        format=StatementFormat.CSV,
        sha256=hashlib.sha256(data).hexdigest(),
        currency=currencies.pop(),
        account="",
        statement_id="",
        opening_balance=opening[0] if opening else None,
        opening_date=opening[1] if opening else None,
        closing_balance=closing,
        closing_date=closing_date,
        lines=tuple(entries),
    )


def _csv_header(header: list[str]) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    missing = [column for column in CSV_COLUMNS if column not in names]
    if missing:
        raise StatementError(
            f"line 1: the header lacks {', '.join(missing)}; expected the columns "
            f"{','.join(CSV_COLUMNS)}."
        )
    doubled = sorted({name for name in names if name in CSV_COLUMNS and names.count(name) > 1})
    if doubled:
        raise StatementError(f"line 1: the header names {', '.join(doubled)} twice.")
    return {column: names.index(column) for column in CSV_COLUMNS}


def _csv_amount(text: str, where: str) -> Decimal:
    if not _SIGNED_AMOUNT.fullmatch(text):
        raise StatementError(
            f"{where}: amount {text!r} is not a decimal number "
            "(write 1234.56, with a minus sign for money paid out)."
        )
    return Decimal(text)


# --- camt.053 ------------------------------------------------------------------------------


def _xml_refuse_document_type(data: bytes) -> None:
    """Check well-formedness with a bare expat parser that stops at any DOCTYPE.

    Done on the parser's events, not by searching the bytes, so no encoding trick hides it.
    """

    def refuse(*args: object) -> None:
        raise StatementError(
            "The XML declares a document type (<!DOCTYPE>); statements with DTDs or entities "
            "are refused."
        )

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise StatementError(
            f"Not well-formed XML: {expat.errors.messages[exc.code]} "
            f"(line {exc.lineno}, column {exc.offset + 1})."
        ) from None


class _Camt:
    """Namespaced look-ups in one camt.053 document, with errors that name the element."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def path(self, path: str) -> str:
        return "/".join(f"{{{self.namespace}}}{step}" for step in path.split("/"))

    def find(self, element: ET.Element, path: str) -> ET.Element | None:
        return element.find(self.path(path))

    def findall(self, element: ET.Element, path: str) -> list[ET.Element]:
        return element.findall(self.path(path))

    def text(self, element: ET.Element, path: str) -> str:
        found = self.find(element, path)
        return (found.text or "").strip() if found is not None else ""

    def required(self, element: ET.Element, path: str, where: str) -> ET.Element:
        found = self.find(element, path)
        if found is None or (len(found) == 0 and not (found.text or "").strip()):
            raise StatementError(f"{where}: missing <{path}>.")
        return found

    def date(self, element: ET.Element, where: str) -> date:
        """``Dt`` or the date part of ``DtTm`` under ``element``."""
        day = self.text(element, "Dt")
        if not day:
            day = self.text(element, "DtTm")[:10]
        if not day:
            raise StatementError(f"{where}: missing <Dt> or <DtTm>.")
        return _date_parse(day, where)

    def amount(self, element: ET.Element, path: str, where: str) -> tuple[Decimal, str]:
        """A non-negative amount and its ``Ccy`` attribute."""
        node = self.required(element, path, where)
        text = (node.text or "").strip()
        if not _ISO_AMOUNT.fullmatch(text):
            raise StatementError(f"{where}/{path}: {text!r} is not an ISO 20022 amount.")
        currency = node.get("Ccy", "")
        if not _CURRENCY.fullmatch(currency):
            raise StatementError(f"{where}/{path}: missing or invalid Ccy attribute.")
        return Decimal(text), currency

    def direction(self, element: ET.Element, where: str) -> Direction:
        code = self.text(element, "CdtDbtInd")
        if code == "CRDT":
            return Direction.CREDIT
        if code == "DBIT":
            return Direction.DEBIT
        raise StatementError(f"{where}/CdtDbtInd: {code!r} is neither CRDT nor DBIT.")


def _camt053_parse(data: bytes) -> Statement:
    _xml_refuse_document_type(data)
    root = ET.fromstring(data)  # noqa: S314 - no DTD, checked above
    namespace, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", "")
    if local != "Document" or not namespace.startswith(CAMT053_NAMESPACE_PREFIX):
        raise StatementError(
            f"Not a camt.053 statement: the root element is {root.tag!r}, expected Document in "
            f"a {CAMT053_NAMESPACE_PREFIX}xx namespace."
        )
    camt = _Camt(namespace)
    report = camt.required(root, "BkToCstmrStmt", "Document")
    statements = camt.findall(report, "Stmt")
    if len(statements) != 1:
        raise StatementError(
            f"BkToCstmrStmt holds {len(statements)} <Stmt>; import one account's statement "
            "per file."
        )
    (stmt,) = statements
    account = camt.text(stmt, "Acct/Id/IBAN") or camt.text(stmt, "Acct/Id/Othr/Id")
    currency = camt.text(stmt, "Acct/Ccy")
    balances = _camt_balances(camt, stmt)
    if "CLBD" not in balances:
        raise StatementError("Stmt: no closing booked balance (<Bal> with Tp/CdOrPrtry/Cd CLBD).")
    currency = currency or balances["CLBD"][2]
    for code, (_, _, ccy) in balances.items():
        if ccy != currency:
            raise StatementError(
                f"Stmt/Bal {code}: currency {ccy} is not the account's {currency}."
            )
    lines: list[StatementLine] = []
    for index, entry in enumerate(camt.findall(stmt, "Ntry"), start=1):
        lines.extend(_camt_entry_lines(camt, entry, f"Ntry[{index}]", currency))
    opening = balances.get("OPBD") or balances.get("PRCD")
    closing = balances["CLBD"]
    return Statement(
        format=StatementFormat.CAMT053,
        sha256=hashlib.sha256(data).hexdigest(),
        currency=currency,
        account=account,
        statement_id=camt.text(stmt, "Id"),
        opening_balance=opening[0] if opening else None,
        opening_date=opening[1] if opening else None,
        closing_balance=closing[0],
        closing_date=closing[1],
        lines=tuple(lines),
    )


def _camt_balances(camt: _Camt, stmt: ET.Element) -> dict[str, tuple[Decimal, date, str]]:
    """Booked balances by code: OPBD (opening), PRCD (previous closing), CLBD (closing)."""
    balances: dict[str, tuple[Decimal, date, str]] = {}
    for index, balance in enumerate(camt.findall(stmt, "Bal"), start=1):
        where = f"Stmt/Bal[{index}]"
        code = camt.text(balance, "Tp/CdOrPrtry/Cd")
        if code not in ("OPBD", "PRCD", "CLBD"):
            continue  # available and interim balances say nothing about booked money
        if code in balances:
            raise StatementError(f"{where}: a second {code} balance.")
        amount, currency = camt.amount(balance, "Amt", where)
        sign = camt.direction(balance, where)
        day = camt.date(camt.required(balance, "Dt", where), f"{where}/Dt")
        balances[code] = (amount if sign == Direction.CREDIT else -amount, day, currency)
    return balances


def _camt_entry_lines(
    camt: _Camt, entry: ET.Element, where: str, currency: str
) -> list[StatementLine]:
    """One line per entry, or one per transaction of a batch booking (they must add up)."""
    amount, ccy = camt.amount(entry, "Amt", where)
    if ccy != currency:
        raise StatementError(f"{where}/Amt: currency {ccy} is not the account's {currency}.")
    if amount == 0:
        raise StatementError(f"{where}/Amt: an entry of zero moves no money.")
    direction = camt.direction(entry, where)
    status = camt.text(entry, "Sts/Cd") or camt.text(entry, "Sts")
    if status and status != "BOOK":
        raise StatementError(f"{where}/Sts: {status!r}; a statement lists booked entries only.")
    booking_date = camt.date(camt.required(entry, "BookgDt", where), f"{where}/BookgDt")
    entry_refs = [camt.text(entry, "NtryRef"), camt.text(entry, "AcctSvcrRef")]
    description = camt.text(entry, "AddtlNtryInf")
    transactions = camt.findall(entry, "NtryDtls/TxDtls")

    def line(
        source: str, tx: ET.Element | None, amount: Decimal, direction: Direction
    ) -> StatementLine:
        tx_refs = (
            [camt.text(tx, "Refs/EndToEndId"), camt.text(tx, "Refs/AcctSvcrRef")]
            if tx is not None
            else []
        )
        references = [r for r in dict.fromkeys(tx_refs + entry_refs) if r and r != NOT_PROVIDED]
        tx_text = ""
        if tx is not None:
            tx_text = camt.text(tx, "RmtInf/Ustrd") or camt.text(tx, "AddtlTxInf")
        return StatementLine(
            source=source,
            booking_date=booking_date,
            amount=amount,
            direction=direction,
            references=tuple(_reference_check(r, source) for r in references),
            description=tx_text or description,
        )

    if len(transactions) <= 1:
        return [line(where, transactions[0] if transactions else None, amount, direction)]
    lines = []
    for index, tx in enumerate(transactions, start=1):
        source = f"{where}/TxDtls[{index}]"
        path = "Amt" if camt.find(tx, "Amt") is not None else "AmtDtls/TxAmt/Amt"
        tx_amount, tx_ccy = camt.amount(tx, path, source)
        if tx_ccy != currency:
            raise StatementError(f"{source}/{path}: currency {tx_ccy} is not {currency}.")
        if tx_amount == 0:
            raise StatementError(f"{source}/{path}: a transaction of zero moves no money.")
        tx_direction = camt.direction(tx, source) if camt.text(tx, "CdtDbtInd") else direction
        lines.append(line(source, tx, tx_amount, tx_direction))
    entry_signed = amount if direction == Direction.CREDIT else -amount
    if sum((item.signed_amount for item in lines), Decimal(0)) != entry_signed:
        raise StatementError(
            f"{where}: its {len(lines)} transactions do not add up to the entry's {amount}."
        )
    return lines
