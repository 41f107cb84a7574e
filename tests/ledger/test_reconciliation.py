"""Reconciliation: the internal requirement-vs-resource check, statements matched to the
ledger, breaks resolved once (a shortfall by a real top-up), the command and the console pages.

Acme (Asia/Shanghai) keeps its client money at the custodian bank in USD. Its sample
statements (tests/ledger/data) are dated 2026-03-02; tests move them to the day being
reconciled. Entries cannot be back-dated, so "today" is the database's today in Acme's zone.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.http import Http404
from django.test import Client

from ledger.models import (
    BankStatement,
    JournalEntry,
    LedgerAccount,
    Posting,
    Reconciliation,
    ReconciliationMatch,
)
from ledger.reconciliation import (
    business_day_shift,
    reconciliation_break_resolve,
    reconciliation_report,
    reconciliation_run,
    statement_import,
)
from ledger.services import account_create, entry_reverse, transfer_post
from ledger.statements import Direction, StatementError, StatementFormat, statement_parse
from platform_core.audit.models import AuditEvent
from platform_core.exceptions import ApplicationError
from tests.conftest import as_tenant, comparable_body, sign_in
from tests.ledger.factories import key, open_book, refreshed

DATA = Path(__file__).parent / "data"
SAMPLE_DATE = "2026-03-02"


# --- helpers -------------------------------------------------------------------------------


def sample(name: str, day: date | None = None) -> bytes:
    data = (DATA / name).read_bytes()
    return data.replace(SAMPLE_DATE.encode(), day.isoformat().encode()) if day else data


def today(tenant) -> date:
    """The tenant's business date of the current transaction (when entries get stamped)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0].astimezone(ZoneInfo(tenant.timezone)).date()


def move(book, kind: str, amount: str, idem: str | None = None) -> JournalEntry:
    """A deposit (bank → client) or a withdrawal (client → bank) of ``amount`` USD."""
    debit, credit = (book.bank, book.client) if kind == "deposit" else (book.client, book.bank)
    return transfer_post(
        tenant=book.bank.tenant,
        debit_account=debit.pk,
        credit_account=credit.pk,
        amount=Decimal(amount),
        currency="USD",
        entry_type=kind,
        idempotency_key=idem or key(kind),
    )


def lend(book, amount: str) -> JournalEntry:
    """The house lends the client cash: the client is owed more, the bank holds no more."""
    tenant = book.bank.tenant
    loans = LedgerAccount.objects.filter(tenant=tenant, kind="loan_receivable").first()
    loans = loans or account_create(tenant=tenant, kind="loan_receivable", currency="USD")
    return transfer_post(
        tenant=tenant,
        debit_account=loans.pk,
        credit_account=book.client.pk,
        amount=Decimal(amount),
        currency="USD",
        entry_type="loan_drawdown",
        idempotency_key=key("loan"),
    )


def fund_house(book, amount: str) -> None:
    tenant = book.bank.tenant
    pool = account_create(tenant=tenant, kind="funding_pool", currency="USD")
    transfer_post(
        tenant=tenant,
        debit_account=book.house.pk,
        credit_account=pool.pk,
        amount=Decimal(amount),
        currency="USD",
        entry_type="transfer",
        idempotency_key=key("capital"),
    )


def the_sample_day(book) -> None:
    """Two deposits and a withdrawal: the bank account ends the day at 950.00."""
    move(book, "deposit", "1000.00", "dep-1001")
    move(book, "deposit", "250.00", "dep-1002")
    move(book, "withdrawal", "300.00", "wd-2001")


def run_with(tenant, data: bytes, day: date, filename: str = "statement.csv"):
    statement = statement_import(tenant=tenant, data=data, filename=filename)
    internal, external = reconciliation_run(tenant=tenant, business_date=day, statement=statement)
    return internal, external


def breaks_of(run) -> list[tuple[str, Decimal]]:
    return sorted((b.kind, b.amount) for b in run.breaks.all())


def csv_statement(day: date, rows: list[tuple[str, str]], closing: str) -> bytes:
    lines = ["date,reference,amount,currency,description"]
    lines += [f"{day},{ref},{amount},USD,test" for ref, amount in rows]
    lines.append(f"{day},closing_balance,{closing},USD,")
    return "\n".join(lines).encode()


@pytest.fixture
def book(acme):
    return open_book(acme)


# --- parsing (no database) -----------------------------------------------------------------


def test_a_csv_statement_is_read_with_its_balances_and_signed_lines():
    statement = statement_parse(data=sample("statement.csv"), filename="statement.csv")
    assert statement.format == StatementFormat.CSV
    assert (statement.currency, statement.opening_balance, statement.closing_balance) == (
        "USD",
        Decimal("0.00"),
        Decimal("685.00"),
    )
    assert statement.closing_date == date(2026, 3, 2)
    assert [(line.references, line.direction, line.amount) for line in statement.lines] == [
        (("dep-1001",), Direction.CREDIT, Decimal("1000.00")),
        (("wd-2001",), Direction.DEBIT, Decimal("300.00")),
        (("BANK-FEE-0302",), Direction.DEBIT, Decimal("15.00")),
    ]
    assert statement.lines[2].description == "Account maintenance fee, March"


def test_a_camt053_statement_is_read_with_batches_references_and_balances():
    statement = statement_parse(data=sample("camt053.xml"))
    assert statement.format == StatementFormat.CAMT053
    assert (statement.account, statement.statement_id) == (
        "GB33BUKB20201555555555",
        "CLIENTMONEY-USD-20260302",
    )
    assert (statement.opening_balance, statement.closing_balance) == (
        Decimal("0.00"),
        Decimal("935.00"),
    )
    # The batch of two credit transfers becomes two lines, each under its end-to-end id; the
    # placeholder NOTPROVIDED is no reference; a DtTm booking date gives its date.
    assert [(line.source, line.references[0], line.signed_amount) for line in statement.lines] == [
        ("Ntry[1]/TxDtls[1]", "dep-1001", Decimal("1000.00")),
        ("Ntry[1]/TxDtls[2]", "dep-1002", Decimal("250.00")),
        ("Ntry[2]", "wd-2001", Decimal("-300.00")),
        ("Ntry[3]", "BANK-FEE-0302", Decimal("-15.00")),
    ]
    assert statement.lines[3].references == ("BANK-FEE-0302",)
    assert statement.lines[3].booking_date == date(2026, 3, 2)


CAMT = sample("camt053.xml").decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (sample("bad_amount.csv"), r"line 3: amount '1,300.00' is not a decimal number"),
        (sample("missing_header.csv"), r"line 1: the header lacks date, reference"),
        (b"date,reference,amount,currency,description\n", r"No closing_balance row"),
        (
            b"date,reference,amount,currency,description\n2026-03-32,x,1.00,USD,\n",
            r"line 2, date: '2026-03-32' is not a date",
        ),
        (
            b"date,reference,amount,currency,description\n2026-03-02,x,1.00,USD\n",
            r"line 2: 4 fields, but the header has 5",
        ),
        (
            b"date,reference,amount,currency,description\n2026-03-02,x,NaN,USD,\n",
            r"line 2: amount 'NaN'",
        ),
        (b"date,reference,amount,currency,description\n\xff\xfe,", r"not UTF-8 text"),
        (
            csv_statement(date(2026, 3, 2), [("opening_balance", "10.00"), ("a", "5.00")], "20.00"),
            r"does not add up: opening balance 10.00 plus entries 5.00",
        ),
        (sample("doctype.xml"), r"declares a document type"),
        (
            # The same refusal when the file is UTF-16, where a byte search would miss it.
            sample("doctype.xml")
            .decode()
            .replace('encoding="UTF-8"', 'encoding="UTF-16"')
            .encode("utf-16"),
            r"declares a document type",
        ),
        (CAMT.replace("</Stmt>", "").encode(), r"Not well-formed XML: mismatched tag \(line"),
        (CAMT.replace("camt.053.001.08", "camt.052.001.08").encode(), r"Not a camt.053"),
        (CAMT.replace("<Cd>CLBD</Cd>", "<Cd>XXXX</Cd>").encode(), r"no closing booked balance"),
        (
            CAMT.replace('<Amt Ccy="USD">300.00</Amt>', '<Amt Ccy="USD">3OO.00</Amt>').encode(),
            r"Ntry\[2\]/Amt: '3OO.00' is not an ISO 20022 amount",
        ),
        (
            CAMT.replace("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>DEBT</CdtDbtInd>", 1).encode(),
            r"Ntry\[2\]/CdtDbtInd: 'DEBT' is neither CRDT nor DBIT",
        ),
        (
            CAMT.replace('<Amt Ccy="USD">1000.00</Amt>', '<Amt Ccy="USD">999.00</Amt>').encode(),
            r"Ntry\[1\]: its 2 transactions do not add up",
        ),
        (
            CAMT.replace("<Sts><Cd>BOOK</Cd></Sts>", "<Sts><Cd>PDNG</Cd></Sts>", 1).encode(),
            r"Ntry\[1\]/Sts: 'PDNG'",
        ),
        (b"   ", r"The file is empty"),
    ],
)
def test_a_malformed_statement_is_refused_naming_where(data, message):
    with pytest.raises(StatementError, match=message):
        statement_parse(data=data)


# --- internal reconciliation ---------------------------------------------------------------


@pytest.mark.django_db
def test_deposits_and_withdrawals_reconcile_internally_without_a_break(acme, book):
    the_sample_day(book)
    day = today(acme.tenant)
    (run,) = reconciliation_run(tenant=acme.tenant, business_date=day, actor=acme.operations.user)
    assert (run.kind, run.currency, run.status) == ("internal", "USD", "balanced")
    assert run.figures["requirement"] == run.figures["resource"] == "950.0000"
    assert run.figures["client_accounts"] == 1
    assert run.breaks.count() == 0
    assert AuditEvent.objects.filter(
        tenant=acme.tenant, action="ledger.reconciliation_recorded", object_id=str(run.pk)
    ).exists()


@pytest.mark.django_db
def test_a_past_date_reconciles_as_it_stood_at_that_close(acme, book):
    the_sample_day(book)
    day = today(acme.tenant)
    (before,) = reconciliation_run(
        tenant=acme.tenant, business_date=day - timedelta(days=1), currency="USD"
    )
    assert before.figures["requirement"] == before.figures["resource"] == "0"
    assert before.figures["provisional"] is False
    assert before.cutoff == datetime.combine(day, time.min, ZoneInfo("Asia/Shanghai"))


@pytest.mark.django_db
def test_a_shortfall_is_a_break_resolved_by_a_same_day_topup_from_house_money(acme, book):
    move(book, "deposit", "1000.00")
    lend(book, "400.00")  # client cash 1,400 owed, the bank holds 1,000
    fund_house(book, "5000.00")
    day = today(acme.tenant)
    (run,) = reconciliation_run(tenant=acme.tenant, business_date=day)
    (brk,) = run.breaks.all()
    assert (run.status, brk.kind, brk.amount, brk.status) == (
        "breaks",
        "shortfall",
        Decimal("400.0000"),
        "open",
    )
    assert "holds 1000.00 USD" in brk.reason and "owed 1400.00 USD" in brk.reason

    resolved = reconciliation_break_resolve(
        tenant=acme.tenant,
        actor=acme.operations.user,
        break_id=brk.pk,
        resolution="topup",
        reason="funded from the house account at 16:00",
    )

    topup = resolved.resolution_entry
    assert (resolved.status, resolved.resolution, topup.entry_type) == (
        "resolved",
        "topup",
        "shortfall_topup",
    )
    assert topup.idempotency_key == f"reconciliation-break:{brk.pk}:topup"
    legs = {(p.account_id, p.side, p.amount) for p in Posting.objects.filter(entry=topup)}
    assert legs == {
        (book.bank.pk, "debit", Decimal("400.0000")),
        (book.house.pk, "credit", Decimal("400.0000")),
    }
    assert refreshed(book.bank).balance == Decimal("1400.00")
    assert refreshed(book.house).balance == Decimal("4600.00")
    event = AuditEvent.objects.get(
        tenant=acme.tenant, action="ledger.reconciliation_break_resolved", object_id=str(brk.pk)
    )
    assert (event.actor_id, event.reason, event.payload["entry"]) == (
        acme.operations.user.pk,
        "funded from the house account at 16:00",
        topup.pk,
    )
    run.refresh_from_db()
    assert run.status == "resolved"
    report = reconciliation_report(tenant=acme.tenant, business_date=day).as_dict()
    assert report["open_breaks"] == 0
    assert report["runs"][0]["breaks"][0]["resolved_same_day"] is True

    # Resolved once: no second top-up, and a new run finds the money in place.
    with pytest.raises(ApplicationError) as refused:
        reconciliation_break_resolve(
            tenant=acme.tenant,
            actor=acme.operations.user,
            break_id=brk.pk,
            resolution="topup",
            reason="again",
        )
    assert refused.value.error_code == "break_not_open"
    (again,) = reconciliation_run(tenant=acme.tenant, business_date=day)
    assert again.status == "balanced"
    run.refresh_from_db()
    assert (run.status, run.superseded_by_id) == ("superseded", again.pk)
    assert JournalEntry.objects.filter(entry_type="shortfall_topup").count() == 1


@pytest.mark.django_db
def test_a_topup_the_house_cannot_pay_writes_nothing(acme, book):
    lend(book, "400.00")
    (run,) = reconciliation_run(tenant=acme.tenant, business_date=today(acme.tenant))
    (brk,) = run.breaks.all()
    with pytest.raises(ApplicationError) as refused:
        reconciliation_break_resolve(
            tenant=acme.tenant,
            actor=acme.operations.user,
            break_id=brk.pk,
            resolution="topup",
            reason="pay it in",
        )
    assert refused.value.error_code == "insufficient_funds"
    brk.refresh_from_db()
    assert brk.status == "open"
    assert not JournalEntry.objects.filter(entry_type="shortfall_topup").exists()
    assert not AuditEvent.objects.filter(action="ledger.reconciliation_break_resolved").exists()


@pytest.mark.django_db
def test_one_shortfall_reported_on_two_dates_is_paid_in_once(acme, book):
    lend(book, "400.00")
    fund_house(book, "5000.00")
    day = today(acme.tenant)
    (first,) = reconciliation_run(tenant=acme.tenant, business_date=day)
    (second,) = reconciliation_run(tenant=acme.tenant, business_date=day + timedelta(days=1))
    assert second.figures["provisional"] is True
    resolve = {
        "tenant": acme.tenant,
        "actor": acme.operations.user,
        "resolution": "topup",
        "reason": "pay it in",
    }
    reconciliation_break_resolve(break_id=second.breaks.get().pk, **resolve)
    with pytest.raises(ApplicationError) as refused:
        reconciliation_break_resolve(break_id=first.breaks.get().pk, **resolve)
    assert refused.value.error_code == "shortfall_changed"
    assert "now 0.00 USD" in refused.value.message
    assert refreshed(book.house).balance == Decimal("4600.00")


@pytest.mark.django_db
def test_a_resolution_needs_a_reason_and_one_that_fits_the_break(acme, book):
    lend(book, "400.00")
    (run,) = reconciliation_run(tenant=acme.tenant, business_date=today(acme.tenant))
    brk = run.breaks.get()
    common = {"tenant": acme.tenant, "actor": acme.operations.user, "break_id": brk.pk}
    with pytest.raises(ApplicationError) as no_reason:
        reconciliation_break_resolve(resolution="topup", reason="  ", **common)
    assert "reason" in no_reason.value.fields
    with pytest.raises(ApplicationError) as wrong:
        reconciliation_break_resolve(resolution="timing_difference", reason="later", **common)
    assert wrong.value.fields["resolution"] == [
        "A shortfall break is resolved by: topup, correction_posted."
    ]
    with pytest.raises(ApplicationError) as early:
        reconciliation_break_resolve(
            resolution="correction_posted",
            reason="the loan",
            correction_entry_id=JournalEntry.objects.get(entry_type="loan_drawdown").pk,
            **common,
        )
    assert "before the reconciled close" in early.value.fields["correction_entry"][0]
    brk.refresh_from_db()
    assert brk.status == "open"


@pytest.mark.django_db(transaction=True)
def test_a_shortfall_corrected_by_a_later_entry_is_resolved_naming_it(acme, globex):
    with as_tenant(acme.tenant):
        book = open_book(acme)
        loan = lend(book, "400.00")
    with as_tenant(acme.tenant):
        (run,) = reconciliation_run(tenant=acme.tenant, business_date=today(acme.tenant))
        brk = run.breaks.get()
    with as_tenant(acme.tenant):  # a later transaction: the loan was booked in error
        reversal = entry_reverse(tenant=acme.tenant, entry_id=loan.pk, idempotency_key="undo")
    with as_tenant(globex.tenant):
        foreign = open_book(globex)
        move(foreign, "deposit", "5.00")
        foreign_entry = JournalEntry.objects.get()
    with as_tenant(acme.tenant):
        with pytest.raises(Http404):
            reconciliation_break_resolve(
                tenant=acme.tenant,
                actor=acme.operations.user,
                break_id=brk.pk,
                resolution="correction_posted",
                reason="reversed",
                correction_entry_id=foreign_entry.pk,
            )
        resolved = reconciliation_break_resolve(
            tenant=acme.tenant,
            actor=acme.operations.user,
            break_id=brk.pk,
            resolution="correction_posted",
            reason="the loan was booked twice; reversed",
            correction_entry_id=reversal.pk,
        )
        assert (resolved.status, resolved.resolution_entry_id) == ("resolved", reversal.pk)
        (again,) = reconciliation_run(tenant=acme.tenant, business_date=today(acme.tenant))
        assert again.status == "balanced"


@pytest.mark.django_db
def test_another_tenants_break_is_not_found(acme, globex, book):
    with as_tenant(globex.tenant):
        other = open_book(globex)
        lend(other, "10.00")
        (run,) = reconciliation_run(tenant=globex.tenant, business_date=today(globex.tenant))
        foreign = run.breaks.get()
    for break_id in (foreign.pk, 999_999_999):
        with pytest.raises(Http404):
            reconciliation_break_resolve(
                tenant=acme.tenant,
                actor=acme.operations.user,
                break_id=break_id,
                resolution="topup",
                reason="not ours",
            )
    with as_tenant(globex.tenant):
        foreign.refresh_from_db()
        assert foreign.status == "open"


@pytest.mark.django_db
def test_a_recorded_break_and_statement_cannot_be_rewritten(acme, book):
    lend(book, "400.00")
    (run,) = reconciliation_run(tenant=acme.tenant, business_date=today(acme.tenant))
    brk = run.breaks.get()
    statement = statement_import(tenant=acme.tenant, data=sample("statement.csv"))
    for statement_sql, params in [
        ("UPDATE ledger_reconciliationbreak SET amount = 1 WHERE id = %s", [brk.pk]),
        ("DELETE FROM ledger_reconciliationbreak WHERE id = %s", [brk.pk]),
        ("UPDATE ledger_reconciliation SET figures = '{}' WHERE id = %s", [run.pk]),
        ("UPDATE ledger_bankstatement SET closing_balance = 0 WHERE id = %s", [statement.pk]),
    ]:
        with pytest.raises(DatabaseError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement_sql, params)
    brk.refresh_from_db()
    assert brk.amount == Decimal("400.0000")


# --- external reconciliation ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_csv_statement_matches_entries_and_lists_what_is_missing_on_each_side(acme, book):
    the_sample_day(book)
    day = today(acme.tenant)
    internal, external = run_with(acme.tenant, sample("statement.csv", day), day)
    assert internal.status == "balanced"
    assert external.status == "breaks"
    matched = {m.entry.idempotency_key for m in external.matches.select_related("entry")}
    assert matched == {"dep-1001", "wd-2001"}
    assert breaks_of(external) == [
        ("unmatched_bank_line", Decimal("15.0000")),
        ("unmatched_ledger_entry", Decimal("250.0000")),
    ]
    fee = external.breaks.get(kind="unmatched_bank_line")
    assert "BANK-FEE-0302" in fee.reason and fee.statement_line.source == "line 5"
    missing = external.breaks.get(kind="unmatched_ledger_entry")
    assert missing.entry.idempotency_key == "dep-1002"
    # Bank 685 against ledger 950: the two listed items explain all of it.
    assert external.figures["difference"] == "-265.0000"
    assert external.figures["explained_by_items"] == "-265.0000"
    assert external.figures["unexplained"] == "0.0000"


@pytest.mark.django_db
def test_a_camt053_statement_matches_a_batch_and_finds_the_bank_fee(acme, book):
    the_sample_day(book)
    day = today(acme.tenant)
    statement = statement_import(
        tenant=acme.tenant, data=sample("camt053.xml", day), filename="camt053.xml"
    )
    assert (statement.source_format, statement.bank_account) == (
        "camt.053",
        "GB33BUKB20201555555555",
    )
    _, external = reconciliation_run(tenant=acme.tenant, business_date=day, statement=statement)
    assert external.figures["matched"] == 3
    assert breaks_of(external) == [("unmatched_bank_line", Decimal("15.0000"))]
    assert external.figures["unexplained"] == "0.0000"


@pytest.mark.django_db
def test_an_unexplained_closing_difference_and_an_amount_mismatch_are_breaks(acme, book):
    the_sample_day(book)
    day = today(acme.tenant)
    data = csv_statement(
        day,
        [("dep-1001", "990.00"), ("dep-1002", "250.00"), ("wd-2001", "-300.00")],
        closing="932.50",
    )
    _, external = run_with(acme.tenant, data, day)
    # 932.50 against 950.00: the 10.00 short deposit explains part; 7.50 nobody can explain.
    assert breaks_of(external) == [
        ("amount_mismatch", Decimal("10.0000")),
        ("closing_balance", Decimal("7.5000")),
    ]
    closing = external.breaks.get(kind="closing_balance")
    assert "17.50 USD below the ledger's 950.00 USD" in closing.reason
    assert "7.50 USD is unexplained" in closing.reason
    mismatch = external.breaks.get(kind="amount_mismatch")
    assert mismatch.entry.idempotency_key == "dep-1001"
    assert "990.00 USD and the ledger 1000.00 USD" in mismatch.reason


@pytest.mark.django_db
def test_an_entry_the_bank_books_a_business_day_later_is_a_timing_difference(acme, book):
    the_sample_day(book)
    day = today(acme.tenant)
    next_day = business_day_shift(day, +1)
    on_the_day = csv_statement(day, [("dep-1001", "1000.00"), ("wd-2001", "-300.00")], "700.00")
    _, first = run_with(acme.tenant, on_the_day, day)
    waiting = first.breaks.get()
    assert (waiting.kind, waiting.entry.idempotency_key) == ("unmatched_ledger_entry", "dep-1002")

    a_day_later = csv_statement(next_day, [("dep-1002", "250.00")], "950.00")
    _, second = run_with(acme.tenant, a_day_later, next_day)
    assert (second.status, second.figures["matched"]) == ("balanced", 1)
    waiting.refresh_from_db()
    assert (waiting.status, waiting.resolution) == ("resolved", "timing_difference")
    assert f"matched by reconciliation #{second.pk}" in waiting.resolution_note
    first.refresh_from_db()
    assert first.status == "resolved"


@pytest.mark.django_db
def test_a_bank_line_two_business_days_off_does_not_match(acme, book):
    move(book, "deposit", "100.00", "dep-late")
    day = today(acme.tenant)
    later = business_day_shift(business_day_shift(day, +1), +1)
    _, external = run_with(
        acme.tenant, csv_statement(later, [("dep-late", "100.00")], "100.00"), later
    )
    assert breaks_of(external) == [("unmatched_bank_line", Decimal("100.0000"))]


@pytest.mark.django_db
def test_reconciling_a_date_again_supersedes_its_earlier_run(acme, book):
    the_sample_day(book)
    day = today(acme.tenant)
    data = sample("statement.csv", day)
    _, first = run_with(acme.tenant, data, day)
    _, second = run_with(acme.tenant, data, day)
    assert BankStatement.objects.filter(tenant=acme.tenant).count() == 1  # same file, one import
    first.refresh_from_db()
    assert (first.status, first.superseded_by_id) == ("superseded", second.pk)
    assert set(first.breaks.values_list("status", flat=True)) == {"superseded"}
    # The earlier run's matches do not hide the entries from the new one.
    assert second.figures["matched"] == 2
    assert second.breaks.filter(status="open").count() == 2


@pytest.mark.django_db
def test_a_statement_that_does_not_fit_is_refused_and_nothing_is_kept(acme, book):
    the_sample_day(book)
    day = today(acme.tenant)
    statement = statement_import(tenant=acme.tenant, data=sample("statement.csv", day))
    with pytest.raises(ApplicationError) as wrong_date, transaction.atomic():
        reconciliation_run(
            tenant=acme.tenant, business_date=day - timedelta(days=1), statement=statement
        )
    assert "closes on" in wrong_date.value.fields["statement"][0]
    with pytest.raises(ApplicationError) as wrong_currency:
        reconciliation_run(
            tenant=acme.tenant, business_date=day, currency="CNY", statement=statement
        )
    assert wrong_currency.value.fields["currency"] == ["The statement is in USD, not CNY."]
    yen = csv_statement(day, [("x", "1.50")], "1.50").replace(b"USD", b"JPY")
    with pytest.raises(ApplicationError) as decimals:
        statement_import(tenant=acme.tenant, data=yen)
    assert decimals.value.fields["statement"] == ["closing balance: 1.50 is not an amount in JPY."]
    assert Reconciliation.objects.count() == 0


# --- the command ---------------------------------------------------------------------------


def reconcile(*args: str) -> str:
    out = StringIO()
    call_command("reconcile", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_command_prints_a_balanced_day_and_exits_zero(acme, book):
    the_sample_day(book)
    day = today(acme.tenant)
    output = reconcile("--tenant", "acme", "--date", day.isoformat())
    assert f"acme {day} internal USD: balanced (requirement 950.00, resource 950.00)" in output
    run = Reconciliation.objects.get()
    assert run.actor_label == "command:reconcile"


@pytest.mark.django_db
def test_the_command_lists_breaks_and_exits_two_while_they_are_open(acme, book, tmp_path):
    the_sample_day(book)
    day = today(acme.tenant)
    statement = tmp_path / "camt053.xml"
    statement.write_bytes(sample("camt053.xml", day))
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command(
            "reconcile",
            "--tenant",
            "acme",
            "--date",
            str(day),
            "--statement",
            str(statement),
            stdout=out,
        )
    assert failed.value.returncode == 2
    assert str(failed.value) == "1 open break(s) to resolve."
    output = out.getvalue()
    assert "internal USD: balanced" in output
    assert "external USD: open breaks (bank 935.00, ledger 950.00, 3 of 4 lines matched)" in output
    assert "unmatched_bank_line 15.00 USD [open]" in output


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--date", "2026-03-02"], "Unknown tenant 'nope'."),
        (["--tenant", "acme", "--date", "03/02/2026"], "is not a date (YYYY-MM-DD)"),
        (["--tenant", "acme", "--date", "2026-03-02", "--currency", "XYZ"], "'XYZ' is not a"),
        (
            ["--tenant", "acme", "--date", "2026-03-02", "--statement", "/no/such/file.csv"],
            "Cannot read the statement /no/such/file.csv: No such file or directory.",
        ),
        (
            [
                "--tenant",
                "acme",
                "--date",
                "2026-03-02",
                "--statement",
                str(DATA / "bad_amount.csv"),
            ],
            "line 3: amount '1,300.00' is not a decimal number",
        ),
        (
            [
                "--tenant",
                "acme",
                "--date",
                "2026-03-02",
                "--statement",
                str(DATA / "missing_header.csv"),
            ],
            "line 1: the header lacks date",
        ),
        (
            ["--tenant", "acme", "--date", "2026-03-02", "--statement", str(DATA / "doctype.xml")],
            "declares a document type",
        ),
        (
            # A good statement that closes on another day than the one asked for.
            [
                "--tenant",
                "acme",
                "--date",
                "2026-03-03",
                "--statement",
                str(DATA / "statement.csv"),
            ],
            "The statement closes on 2026-03-02, not on 2026-03-03",
        ),
    ],
)
def test_the_command_refuses_bad_input_and_writes_nothing(acme, book, args, message):
    with pytest.raises(CommandError, match=re.escape(message)) as failed:
        reconcile(*args)
    assert failed.value.returncode == 1
    assert BankStatement.objects.count() == 0
    assert Reconciliation.objects.count() == ReconciliationMatch.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="ledger.reconciliation").exists()
    assert not AuditEvent.objects.filter(action="ledger.bank_statement_imported").exists()


# --- the console ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_operations_see_a_break_and_top_it_up_from_the_console(acme, book):
    lend(book, "400.00")
    fund_house(book, "1000.00")
    client = sign_in(Client(), acme.operations)
    response = client.post(
        "/console/reconciliation/run/", {"business_date": today(acme.tenant).isoformat()}
    )
    run = Reconciliation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/console/reconciliation/{run.pk}/"
    brk = run.breaks.get()
    page = client.get(f"/console/reconciliation/{run.pk}/")
    assert page.status_code == 200
    assert brk.reason in page.content.decode()
    listing = client.get("/console/reconciliation/")
    assert listing.status_code == 200 and f"{brk.pk}</a>" in listing.content.decode()

    response = client.post(
        f"/console/reconciliation/breaks/{brk.pk}/resolve/",
        {"resolution": "topup", "reason": "paid in at 15:30"},
    )
    assert response.status_code == 302
    brk.refresh_from_db()
    assert (brk.status, brk.resolved_by_id) == ("resolved", acme.operations.user.pk)
    assert brk.resolution_entry.entry_type == "shortfall_topup"


@pytest.mark.django_db
def test_the_console_shows_another_tenants_run_and_break_as_missing(acme, globex, book):
    with as_tenant(globex.tenant):
        other = open_book(globex)
        lend(other, "10.00")
        (run,) = reconciliation_run(tenant=globex.tenant, business_date=today(globex.tenant))
        foreign = run.breaks.get()
    client = sign_in(Client(), acme.operations)
    seen = client.get(f"/console/reconciliation/{run.pk}/")
    missing = client.get("/console/reconciliation/999999999/")
    assert seen.status_code == missing.status_code == 404
    assert comparable_body(seen) == comparable_body(missing)
    response = client.post(
        f"/console/reconciliation/breaks/{foreign.pk}/resolve/",
        {"resolution": "topup", "reason": "not ours"},
    )
    assert response.status_code == 404
    with as_tenant(globex.tenant):
        foreign.refresh_from_db()
        assert foreign.status == "open"


@pytest.mark.django_db
def test_only_operations_reconcile_and_clients_see_nothing(acme, book):
    day = today(acme.tenant).isoformat()
    compliance = sign_in(Client(), acme.compliance)
    assert compliance.get("/console/reconciliation/").status_code == 200
    assert (
        compliance.post("/console/reconciliation/run/", {"business_date": day}).status_code == 403
    )
    client = sign_in(Client(), acme.client)
    assert client.get("/console/reconciliation/").status_code == 403
    assert Reconciliation.objects.count() == 0
