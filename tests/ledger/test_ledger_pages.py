# ruff: noqa: RUF001 (Simplified Chinese is written with full-width punctuation)
"""The ledger's pages: a client's balances, statement and withdrawals in the portal; the
withdrawal queue, fees, the sweep and adjustments in the console.

Acme's client has 1,234.56 USD. Pages are read in English (the test browser asks for it).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from ledger.models import JournalEntry, WithdrawalRequest
from ledger.services import account_create
from ledger.withdrawals import withdrawal_approve, withdrawal_request
from platform_core.accounts.services import STEP_UP_SESSION_KEY
from platform_core.audit.approvals import approval_request_approve
from platform_core.audit.models import ApprovalRequest, AuditEvent, Notification
from platform_core.tenancy.roles import Role
from tests.conftest import (
    PASSWORD,
    as_tenant,
    assert_foreign_object_is_404,
    make_invited_person,
    make_person,
    sign_in,
)
from tests.ledger.factories import open_book, refreshed

pytestmark = pytest.mark.django_db

IBAN = "GB33 BUKB 2020 1555 5555 55"


@pytest.fixture
def book(acme):
    book = open_book(acme)
    book.fund("1234.56")
    return book


@pytest.fixture
def other_client(acme, book):
    """Another client of Acme, with money nobody but them may see."""
    person = make_person(acme.tenant, "other.client@acme.example", Role.CLIENT)
    account = account_create(
        tenant=acme.tenant, kind="client_cash", currency="USD", owner_id=person.membership.pk
    )
    book.fund("987.65", account)
    person.account = account
    return person


def browser(person, **kwargs) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.cookies["django_language"] = "en"
    return sign_in(client, person, **kwargs)


def page(client: Client, url: str, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def one_time_key(html: str) -> str:
    return re.search(r'name="request_key" value="([^"]+)"', html).group(1)


def row(html: str, element_id: str) -> str:
    return re.search(rf'<tr id="{element_id}">(.*?)</tr>', html, re.S).group(1)


def ask(acme, amount: str, key: str) -> WithdrawalRequest:
    return withdrawal_request(
        tenant=acme.tenant,
        membership=acme.client.membership,
        actor=acme.client.user,
        currency="USD",
        amount=amount,
        destination=IBAN,
        idempotency_key=key,
    )


# --- portal: balances and statement --------------------------------------------------------


def test_the_balances_page_shows_balance_held_and_available(acme, book, other_client):
    ask(acme, "34.56", "k1")
    html = page(browser(acme.client), "/money/")
    cells = re.findall(r"<td>([^<]*)</td>", row(html, f"account-{book.client.pk}"))
    assert cells == ["USD", "1234.56", "34.56", "1200.00"]
    assert "987.65" not in html and f"account-{other_client.account.pk}" not in html


def test_the_statement_shows_postings_with_their_running_balance(acme, book, other_client):
    book.fund("100.00")
    withdrawal = ask(acme, "34.56", "k1")
    withdrawal_approve(
        tenant=acme.tenant,
        actor=acme.operations.user,
        membership=acme.operations.membership,
        withdrawal_id=withdrawal.pk,
    )
    client = browser(acme.client)
    html = page(client, f"/money/accounts/{book.client.pk}/statement/")
    lines = re.findall(
        r"<tr>\s*<td>[^<]*</td><td>\d+</td><td>([^<]*)</td><td>[^<]*</td>\s*"
        r"<td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>",
        html,
    )
    assert lines == [
        ("deposit", "", "1234.56", "1234.56"),
        ("deposit", "", "100.00", "1334.56"),
        ("withdrawal", "34.56", "", "1300.00"),
    ]
    assert 'id="statement-balance">1300.00<' in html
    assert "987.65" not in html

    today = timezone.localdate(timezone=acme_zone(acme))
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    assert "No postings in this period." in page(client, html_url(book), start=tomorrow)
    assert "No postings in this period." in page(client, html_url(book), end=yesterday)
    assert "1334.56" in page(client, html_url(book), start=today, end=today)
    assert page(client, html_url(book), start="not a date").count("1334.56") == 1
    assert "1334.56" in page(client, html_url(book), start="0001-01-01", end="9999-12-31")


def acme_zone(acme):
    from zoneinfo import ZoneInfo

    return ZoneInfo(acme.tenant.timezone)


def html_url(book) -> str:
    return f"/money/accounts/{book.client.pk}/statement/"


def test_nothing_of_another_client_or_tenant_is_visible(acme, globex, book, other_client):
    client = browser(acme.client)
    theirs = client.get(f"/money/accounts/{other_client.account.pk}/statement/")
    missing = client.get("/money/accounts/999999999/statement/")
    assert theirs.status_code == missing.status_code == 404
    assert b"987.65" not in theirs.content and other_client.email.encode() not in theirs.content
    with as_tenant(globex.tenant):
        foreign = open_book(globex)
        foreign.fund("555.55")
    assert_foreign_object_is_404(client, f"/money/accounts/{foreign.client.pk}/statement/")


def test_staff_do_not_open_the_clients_portal_pages(acme, book):
    staff = browser(acme.operations)
    for url in ("/money/", "/money/withdrawals/", f"/money/accounts/{book.client.pk}/statement/"):
        assert staff.get(url).status_code == 403
    assert Client().get("/money/")["Location"].startswith("/accounts/login/")


# --- portal: withdrawals -------------------------------------------------------------------


def test_a_client_requests_a_withdrawal_once_and_can_cancel_it(acme, book):
    client = browser(acme.client)
    form = page(client, "/money/withdrawals/new/")
    assert "1234.56 USD" in form
    fields = {
        "currency": "USD",
        "amount": "200.00",
        "destination": IBAN,
        "request_key": one_time_key(form),
    }
    sent = client.post("/money/withdrawals/new/", fields)
    assert sent.status_code == 302 and sent["Location"] == "/money/withdrawals/"
    # The same form submitted again (a double click, a reload) is the same request.
    assert client.post("/money/withdrawals/new/", fields).status_code == 302
    withdrawal = WithdrawalRequest.objects.get()
    assert (withdrawal.amount, withdrawal.destination) == (Decimal("200"), "****5555")
    listed = page(client, "/money/withdrawals/")
    assert "****5555" in row(listed, f"withdrawal-{withdrawal.pk}")
    assert refreshed(book.client).available == Decimal("1034.56")

    cancelled = client.post(f"/money/withdrawals/{withdrawal.pk}/cancel/")
    assert cancelled.status_code == 302
    assert WithdrawalRequest.objects.get().status == "cancelled"
    assert refreshed(book.client).available == Decimal("1234.56")
    inbox = page(client, "/notifications/")
    assert "提现已取消：200.00 USD" in inbox  # in the client's language, Simplified Chinese


def test_the_request_form_shows_field_errors_and_writes_nothing(acme, book):
    client = browser(acme.client)
    key = one_time_key(page(client, "/money/withdrawals/new/"))
    cases = [
        ({"amount": "5000.00", "destination": IBAN}, "This is more than the available balance."),
        ({"amount": "1.001", "destination": IBAN}, "Too many decimal places for USD."),
        ({"amount": "10", "destination": "x"}, "Give the bank account to pay to"),
        ({"amount": "", "destination": IBAN}, "This field is required."),
    ]
    for fields, error in cases:
        response = client.post(
            "/money/withdrawals/new/", {"currency": "USD", "request_key": key, **fields}
        )
        assert response.status_code == 200 and error in response.content.decode(), fields
    assert not WithdrawalRequest.objects.exists()
    assert refreshed(book.client).pending_debits == 0


def test_a_sent_form_changed_and_sent_again_asks_before_making_a_second_request(acme, book):
    client = browser(acme.client)
    fields = {
        "currency": "USD",
        "amount": "10.00",
        "destination": IBAN,
        "request_key": one_time_key(page(client, "/money/withdrawals/new/")),
    }
    client.post("/money/withdrawals/new/", fields)
    changed = client.post("/money/withdrawals/new/", {**fields, "amount": "20.00"})
    html = changed.content.decode()
    assert changed.status_code == 200 and "This form was already sent" in html
    assert WithdrawalRequest.objects.count() == 1
    resent = client.post(
        "/money/withdrawals/new/", {**fields, "amount": "20.00", "request_key": one_time_key(html)}
    )
    assert resent.status_code == 302
    assert sorted(WithdrawalRequest.objects.values_list("amount", flat=True)) == [
        Decimal("10"),
        Decimal("20"),
    ]


def test_a_stale_second_factor_sends_the_client_to_step_up_and_writes_nothing(acme, book, settings):
    client = browser(acme.client)
    key = one_time_key(page(client, "/money/withdrawals/new/"))
    session = client.session
    session[STEP_UP_SESSION_KEY] = time.time() - settings.STEP_UP_MAX_AGE_SECONDS - 1
    session.save()
    response = client.post(
        "/money/withdrawals/new/",
        {"currency": "USD", "amount": "10", "destination": IBAN, "request_key": key},
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/step-up/?next=")
    assert not WithdrawalRequest.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="ledger.withdrawal").exists()


def test_a_client_without_a_device_is_sent_to_enrol(db):
    make_invited_person("solo", "c@solo.example", "client")
    client = Client()
    client.post("/accounts/login/", {"email": "c@solo.example", "password": PASSWORD})
    response = client.get("/money/withdrawals/new/")
    assert response["Location"].startswith("/accounts/two-factor/")


def test_another_clients_withdrawal_cannot_be_cancelled(acme, book, other_client):
    theirs = withdrawal_request(
        tenant=acme.tenant,
        membership=other_client.membership,
        actor=other_client.user,
        currency="USD",
        amount="5",
        destination=IBAN,
        idempotency_key="theirs",
    )
    client = browser(acme.client)
    assert client.post(f"/money/withdrawals/{theirs.pk}/cancel/").status_code == 404
    assert WithdrawalRequest.objects.get(pk=theirs.pk).status == "requested"
    assert f"withdrawal-{theirs.pk}" not in page(client, "/money/withdrawals/")


# --- console: the withdrawal queue ---------------------------------------------------------


def test_operations_approve_and_reject_from_the_queue(acme, book):
    small, large, doubtful = ask(acme, "10.00", "a"), ask(acme, "20.00", "b"), ask(acme, "30", "c")
    acme.tenant.withdrawal_four_eyes_above = Decimal("15")
    acme.tenant.save(update_fields=["withdrawal_four_eyes_above"])
    ops = browser(acme.operations)
    queue = page(ops, "/console/withdrawals/")
    assert all(f"withdrawal-{w.pk}" in queue for w in (small, large, doubtful))
    assert "client@acme.example" in row(queue, f"withdrawal-{small.pk}")

    ops.post(f"/console/withdrawals/{small.pk}/approve/")
    ops.post(f"/console/withdrawals/{large.pk}/approve/")
    no_reason = ops.post(f"/console/withdrawals/{doubtful.pk}/reject/", {"reason": ""}, follow=True)
    assert "Say why the withdrawal is rejected." in no_reason.content.decode()
    ops.post(f"/console/withdrawals/{doubtful.pk}/reject/", {"reason": "name mismatch"})

    statuses = dict(WithdrawalRequest.objects.values_list("pk", "status"))
    assert statuses == {
        small.pk: "paid",
        large.pk: "awaiting_second_approval",
        doubtful.pk: "rejected",
    }
    # The first approver cannot give the second approval too.
    again = ops.post(f"/console/withdrawals/{large.pk}/approve/", follow=True)
    assert "The person who asked cannot decide their own request." in again.content.decode()
    queue = page(ops, "/console/withdrawals/")
    assert "Second approval" in row(queue, f"withdrawal-{large.pk}")

    ops2 = browser(make_person(acme.tenant, "operations2@acme.example", Role.OPERATIONS))
    done = ops2.post(f"/console/withdrawals/{large.pk}/approve/", follow=True)
    assert "is paid" in done.content.decode()
    assert WithdrawalRequest.objects.get(pk=large.pk).status == "paid"
    assert refreshed(book.client).balance == Decimal("1204.56")


def test_only_operations_decide_and_other_roles_read_or_are_refused(acme, globex, book):
    withdrawal = ask(acme, "10.00", "a")
    compliance = browser(acme.compliance)
    assert f"withdrawal-{withdrawal.pk}" in page(compliance, "/console/withdrawals/")
    assert compliance.post(f"/console/withdrawals/{withdrawal.pk}/approve/").status_code == 403
    client = browser(acme.client)
    assert client.get("/console/withdrawals/").status_code == 403
    assert client.post(f"/console/withdrawals/{withdrawal.pk}/approve/").status_code == 403
    stranger = browser(globex.operations)
    assert stranger.post(f"/console/withdrawals/{withdrawal.pk}/approve/").status_code == 404
    assert stranger.post(f"/console/withdrawals/{withdrawal.pk}/reject/").status_code == 404
    assert f"withdrawal-{withdrawal.pk}" not in page(stranger, "/console/withdrawals/")
    assert WithdrawalRequest.objects.get().status == "requested"


# --- console: fees, the sweep, adjustments -------------------------------------------------


def test_operations_charge_a_fee_once_and_sweep_only_the_excess(acme, book):
    ops = browser(acme.operations)
    html = page(ops, "/console/fees/")
    fee = {
        "action": "fee",
        "account": str(book.client.pk),
        "amount": "4.56",
        "memo": "wire fee",
        "request_key": re.search(
            r'id="fee-form".*?name="request_key" value="([^"]+)"', html, re.S
        ).group(1),
    }
    assert ops.post("/console/fees/", fee).status_code == 302
    assert ops.post("/console/fees/", fee).status_code == 302  # sent twice, charged once
    assert JournalEntry.objects.filter(entry_type="fee").count() == 1
    assert refreshed(book.fees).balance == Decimal("4.56")

    html = page(ops, "/console/fees/")
    assert 'id="excess-USD">4.56<' in html
    sweep_key = re.search(
        r'id="sweep-form".*?name="request_key" value="([^"]+)"', html, re.S
    ).group(1)
    sweep = {"action": "sweep", "currency": "USD", "request_key": sweep_key}
    too_much = ops.post("/console/fees/", {**sweep, "amount": "4.57"})
    assert too_much.status_code == 200 and "At most 4.56." in too_much.content.decode()
    assert ops.post("/console/fees/", {**sweep, "amount": "4.56"}).status_code == 302
    assert refreshed(book.house).balance == Decimal("4.56")
    assert refreshed(book.bank).balance == Decimal("1230.00")

    bad = ops.post("/console/fees/", {**fee, "amount": "-1", "request_key": "new"})
    assert (
        bad.status_code == 200 and "The amount must be greater than zero." in bad.content.decode()
    )
    assert browser(acme.admin).get("/console/fees/").status_code == 403


def test_an_adjustment_is_asked_for_in_the_console_and_posted_on_approval(acme, book):
    ops = browser(acme.operations)
    assert page(ops, "/console/adjustments/")
    unbalanced = ops.post(
        "/console/adjustments/",
        {
            "memo": "move a mis-posted fee back",
            "reason": "fee charged to the wrong client",
            "account_0": str(book.fees.pk),
            "debit_0": "3.00",
            "account_1": str(book.client.pk),
            "credit_1": "2.999",
        },
    )
    assert unbalanced.status_code == 200
    assert "Too many decimal places for USD." in unbalanced.content.decode()
    asked = ops.post(
        "/console/adjustments/",
        {
            "memo": "move a mis-posted fee back",
            "reason": "fee charged to the wrong client",
            "account_0": str(book.fees.pk),
            "debit_0": "3.00",
            "account_1": str(book.client.pk),
            "credit_1": "3.00",
        },
    )
    assert asked.status_code == 302 and asked["Location"] == "/console/approvals/"
    approval = ApprovalRequest.objects.get(action="ledger.adjustment")
    assert approval.status == "pending" and approval.maker == acme.operations.user
    assert not JournalEntry.objects.filter(entry_type="adjustment").exists()

    approval_request_approve(
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        approval_id=approval.pk,
        reason="checked",
    )
    assert JournalEntry.objects.filter(entry_type="adjustment").count() == 1
    assert refreshed(book.client).balance == Decimal("1237.56")
    assert browser(acme.risk).get("/console/adjustments/").status_code == 403


def test_the_console_menu_lists_the_ledger_pages_by_role(acme, book):
    ops_nav = page(browser(acme.operations), "/console/")
    assert all(url in ops_nav for url in ("/console/withdrawals/", "/console/fees/"))
    admin_nav = page(browser(acme.admin), "/console/")
    assert "/console/adjustments/" in admin_nav and "/console/fees/" not in admin_nav
    assert "/money/" in page(browser(acme.client), "/")


def test_the_client_reads_notifications_of_each_step_in_the_portal(acme, book):
    withdrawal = ask(acme, "12.00", "n")
    withdrawal_approve(
        tenant=acme.tenant,
        actor=acme.operations.user,
        membership=acme.operations.membership,
        withdrawal_id=withdrawal.pk,
    )
    subjects = list(
        Notification.objects.filter(recipient=acme.client.membership)
        .order_by("pk")
        .values_list("subject", flat=True)
    )
    assert subjects == ["提现已申请：12.00 USD", "提现已支付：12.00 USD"]
    inbox = page(browser(acme.client), "/notifications/")
    assert all(subject in inbox for subject in subjects)


def test_the_money_pages_speak_simplified_chinese(acme, book):
    client = sign_in(Client(), acme.client)
    client.cookies["django_language"] = "zh-hans"
    html = page(client, "/money/")
    assert "可用" in html and "提现冻结" in html and "Available" not in html
    assert "申请提现" in page(client, "/money/withdrawals/new/")
