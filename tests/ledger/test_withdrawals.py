# ruff: noqa: RUF001 (Simplified Chinese is written with full-width punctuation)
"""Withdrawals, fees, the sweep and manual adjustments: the services and the API.

Acme's client has 100,000 USD with the custodian bank. Acme's four-eyes threshold is the
default 50,000 (in its base currency, CNY; a USD withdrawal is compared as is). ``ops`` is
Acme's operations person, ``ops2`` a second one.
"""

from __future__ import annotations

import itertools
import time
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.http import Http404
from django.test import Client
from django.utils import timezone

from ledger.models import Hold, JournalEntry, LedgerAccount, Posting, WithdrawalRequest
from ledger.operations import (
    ADJUSTMENT_ACTION,
    client_money_list,
    fee_charge,
    sweep_post,
)
from ledger.withdrawals import (
    RELEASE_ACTION,
    withdrawal_approve,
    withdrawal_cancel,
    withdrawal_reject,
    withdrawal_request,
)
from platform_core.accounts.services import STEP_UP_SESSION_KEY
from platform_core.api.models import IdempotencyRecord
from platform_core.audit.approvals import (
    approval_request_approve,
    approval_request_create,
)
from platform_core.audit.models import ApprovalRequest, AuditEvent, Notification
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role
from tests.conftest import api_token_for, as_tenant, make_person, sign_in
from tests.ledger.factories import open_book, refreshed

pytestmark = pytest.mark.django_db

IBAN = "DE89 3704 0044 0532 0130 00"
_keys = itertools.count(1)


@pytest.fixture
def book(acme):
    book = open_book(acme)
    book.fund("100000.00")
    return book


@pytest.fixture
def ops2(acme):
    return make_person(acme.tenant, "operations2@acme.example", Role.OPERATIONS)


def ask(people, amount="100.00", key=None, person=None, **overrides):
    person = person or people.client
    kwargs = {
        "tenant": people.tenant,
        "membership": person.membership,
        "actor": person.user,
        "currency": "USD",
        "amount": amount,
        "destination": IBAN,
        "idempotency_key": key or f"form-{next(_keys)}",
    }
    kwargs.update(overrides)
    return withdrawal_request(**kwargs)


def approve(people, person, withdrawal, note=""):
    return withdrawal_approve(
        tenant=people.tenant,
        actor=person.user,
        membership=person.membership,
        withdrawal_id=withdrawal.pk,
        note=note,
    )


def reject(people, person, withdrawal, reason="the bank account is not the client's"):
    return withdrawal_reject(
        tenant=people.tenant,
        actor=person.user,
        membership=person.membership,
        withdrawal_id=withdrawal.pk,
        reason=reason,
    )


def cancel(people, withdrawal, person=None):
    person = person or people.client
    return withdrawal_cancel(
        tenant=people.tenant,
        membership=person.membership,
        actor=person.user,
        withdrawal_id=withdrawal.pk,
    )


def figures(account: LedgerAccount) -> tuple[str, str]:
    """(balance, available) of the account as it stands."""
    account = refreshed(account)
    return str(account.balance.quantize(Decimal("0.01"))), str(
        account.available.quantize(Decimal("0.01"))
    )


def audit_trail(withdrawal) -> list[tuple[str, int | None]]:
    return list(
        AuditEvent.objects.filter(object_type="withdrawal", object_id=str(withdrawal.pk))
        .order_by("seq")
        .values_list("action", "actor")
    )


def kinds_sent_to(person) -> list[str]:
    return list(
        Notification.objects.filter(recipient=person.membership)
        .order_by("pk")
        .values_list("kind", flat=True)
    )


def counts() -> dict[str, int]:
    return {
        "withdrawals": WithdrawalRequest.objects.count(),
        "holds": Hold.objects.count(),
        "entries": JournalEntry.objects.count(),
        "audit": AuditEvent.objects.count(),
        "notifications": Notification.objects.count(),
        "approvals": ApprovalRequest.objects.count(),
    }


def refused(call, *args, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- the flow below and above the threshold ------------------------------------------------


def test_below_the_threshold_one_operations_approval_pays(acme, book):
    withdrawal = ask(acme, "100.00")
    assert withdrawal.status == "requested"
    assert withdrawal.destination == "****3000"
    assert figures(book.client) == ("100000.00", "99900.00")  # held, not yet paid
    assert refreshed(book.bank).pending_credits == Decimal("100")

    paid = approve(acme, acme.operations, withdrawal)

    assert paid.status == "paid" and paid.decided_by == acme.operations.user
    assert figures(book.client) == ("99900.00", "99900.00")
    assert figures(book.bank) == ("99900.00", "99900.00")
    hold = Hold.objects.get(pk=withdrawal.hold_id)
    assert hold.status == "posted" and hold.entry.entry_type == "withdrawal"
    assert audit_trail(withdrawal) == [
        ("ledger.withdrawal_requested", acme.client.user.pk),
        ("ledger.withdrawal_paid", acme.operations.user.pk),
    ]
    assert kinds_sent_to(acme.client) == ["withdrawal.requested", "withdrawal.paid"]


def test_above_the_threshold_a_second_operations_person_must_approve(acme, book, ops2):
    withdrawal = ask(acme, "60000.00")
    referred = approve(acme, acme.operations, withdrawal, note="client called to confirm")
    assert referred.status == "awaiting_second_approval"
    approval = ApprovalRequest.objects.get(pk=referred.approval_id)
    assert (approval.action, approval.status, approval.maker) == (
        RELEASE_ACTION,
        "pending",
        acme.operations.user,
    )
    assert approval.params == {"withdrawal_id": withdrawal.pk}
    assert figures(book.client) == ("100000.00", "40000.00")  # still only held

    # The first person cannot approve again, here or in the approvals.
    assert refused(approve, acme, acme.operations, withdrawal).error_code == "maker_cannot_decide"
    first = refused(
        approval_request_approve,
        tenant=acme.tenant,
        actor=acme.operations.user,
        membership=acme.operations.membership,
        approval_id=approval.pk,
        reason="me again",
    )
    assert first.error_code == "maker_cannot_decide"
    # Nor can the client, nor a tenant admin.
    assert refused(approve, acme, acme.client, withdrawal).error_code == "permission_denied"
    assert refused(approve, acme, acme.admin, withdrawal).error_code == "permission_denied"
    as_client = refused(
        approval_request_approve,
        tenant=acme.tenant,
        actor=acme.client.user,
        membership=acme.client.membership,
        approval_id=approval.pk,
        reason="pay me",
    )
    assert as_client.error_code == "approver_role_required"
    assert figures(book.client) == ("100000.00", "40000.00")
    assert refreshed_withdrawal(withdrawal).status == "awaiting_second_approval"

    paid = approve(acme, ops2, withdrawal)

    assert paid.status == "paid" and paid.decided_by == ops2.user
    assert paid.first_approved_by == acme.operations.user
    assert figures(book.client) == ("40000.00", "40000.00")
    approval.refresh_from_db()
    assert approval.status == "approved" and approval.decided_by == ops2.user
    assert approval.result["withdrawal_id"] == withdrawal.pk
    assert audit_trail(withdrawal) == [
        ("ledger.withdrawal_requested", acme.client.user.pk),
        ("ledger.withdrawal_referred", acme.operations.user.pk),
        ("ledger.withdrawal_paid", ops2.user.pk),
    ]


def refreshed_withdrawal(withdrawal):
    return WithdrawalRequest.objects.get(pk=withdrawal.pk)


def test_the_threshold_is_the_tenants_and_an_amount_at_it_is_paid_at_once(acme, book):
    acme.tenant.withdrawal_four_eyes_above = Decimal("250")
    acme.tenant.save(update_fields=["withdrawal_four_eyes_above"])
    at = approve(acme, acme.operations, ask(acme, "250.00"))
    above = approve(acme, acme.operations, ask(acme, "250.01"))
    assert (at.status, above.status) == ("paid", "awaiting_second_approval")


def test_a_four_eyes_request_cannot_be_opened_around_the_queue(acme, book):
    withdrawal = ask(acme, "60000.00")
    with pytest.raises(ApplicationError) as caught:
        approval_request_create(
            tenant=acme.tenant,
            actor=acme.operations.user,
            membership=acme.operations.membership,
            action=RELEASE_ACTION,
            params={"withdrawal_id": withdrawal.pk},
            reason="skip the queue",
        )
    assert caught.value.status_code == 400 and "params.withdrawal_id" in caught.value.fields
    assert refreshed_withdrawal(withdrawal).status == "requested"


# --- rejection and cancellation release the hold once --------------------------------------


def test_rejection_releases_the_hold_exactly_once_and_tells_the_client_why(acme, book):
    withdrawal = ask(acme, "300.00")
    rejected = reject(acme, acme.operations, withdrawal)
    assert (rejected.status, rejected.reason) == (
        "rejected",
        "the bank account is not the client's",
    )
    assert Hold.objects.get(pk=withdrawal.hold_id).status == "voided"
    assert figures(book.client) == ("100000.00", "100000.00")
    before = counts()
    assert refused(reject, acme, acme.operations, withdrawal).error_code == (
        "withdrawal_already_decided"
    )
    assert refused(cancel, acme, withdrawal).error_code == "withdrawal_already_decided"
    assert refused(approve, acme, acme.operations, withdrawal).error_code == (
        "withdrawal_already_decided"
    )
    assert counts() == before
    account = refreshed(book.client)
    assert (account.pending_debits, account.posted_debits) == (Decimal(0), Decimal(0))
    notification = Notification.objects.get(kind="withdrawal.rejected")
    assert "the bank account is not the client's" in notification.body
    assert audit_trail(withdrawal)[-1] == ("ledger.withdrawal_rejected", acme.operations.user.pk)


def test_a_rejection_needs_a_reason_and_only_operations_reject(acme, book):
    withdrawal = ask(acme)
    before = counts()
    assert refused(reject, acme, acme.operations, withdrawal, reason="  ").fields == {
        "reason": ["Say why the withdrawal is rejected."]
    }
    assert refused(reject, acme, acme.admin, withdrawal).error_code == "permission_denied"
    assert counts() == before and refreshed_withdrawal(withdrawal).status == "requested"


def test_the_client_cancels_while_it_is_pending_and_the_hold_is_released_once(acme, book):
    withdrawal = ask(acme, "500.00")
    cancelled = cancel(acme, withdrawal)
    assert cancelled.status == "cancelled" and cancelled.decided_by == acme.client.user
    assert figures(book.client) == ("100000.00", "100000.00")
    assert refused(cancel, acme, withdrawal).error_code == "withdrawal_already_decided"
    assert refused(approve, acme, acme.operations, withdrawal).error_code == (
        "withdrawal_already_decided"
    )
    assert refreshed(book.client).pending_debits == 0
    assert kinds_sent_to(acme.client) == ["withdrawal.requested", "withdrawal.cancelled"]


def test_a_cancelled_withdrawal_cannot_be_paid_by_its_open_four_eyes_request(acme, book, ops2):
    withdrawal = ask(acme, "70000.00")
    approval_id = approve(acme, acme.operations, withdrawal).approval_id
    cancel(acme, withdrawal)
    late = refused(
        approval_request_approve,
        tenant=acme.tenant,
        actor=ops2.user,
        membership=ops2.membership,
        approval_id=approval_id,
        reason="looks fine",
    )
    assert late.error_code == "withdrawal_already_decided"
    assert ApprovalRequest.objects.get(pk=approval_id).status == "pending"
    assert figures(book.client) == ("100000.00", "100000.00")


@pytest.mark.parametrize(
    ("rejecter", "approval_status"), [("first", "withdrawn"), ("second", "rejected")]
)
def test_rejecting_while_awaiting_closes_the_four_eyes_request(
    acme, book, ops2, rejecter, approval_status
):
    withdrawal = ask(acme, "70000.00")
    approval_id = approve(acme, acme.operations, withdrawal).approval_id
    person = acme.operations if rejecter == "first" else ops2
    assert reject(acme, person, withdrawal).status == "rejected"
    assert ApprovalRequest.objects.get(pk=approval_id).status == approval_status
    assert figures(book.client) == ("100000.00", "100000.00")


def test_after_a_rejected_four_eyes_request_operations_may_ask_again(acme, book, ops2):
    withdrawal = ask(acme, "70000.00")
    first = approve(acme, acme.operations, withdrawal).approval_id
    approval_request_reject_as(acme, ops2, first)
    assert refreshed_withdrawal(withdrawal).status == "awaiting_second_approval"
    again = approve(acme, ops2, withdrawal)
    assert again.approval_id != first and again.first_approved_by == ops2.user
    assert approve(acme, acme.operations, withdrawal).status == "paid"


def test_a_four_eyes_request_past_its_deadline_no_longer_holds_the_withdrawal(acme, book, ops2):
    withdrawal = ask(acme, "70000.00")
    stale = approve(acme, acme.operations, withdrawal).approval_id
    ApprovalRequest.objects.filter(pk=stale).update(expires_at=timezone.now())
    renewed = approve(acme, ops2, withdrawal)  # asks again, before the expiry task runs
    assert renewed.approval_id != stale and renewed.status == "awaiting_second_approval"
    assert reject(acme, acme.operations, withdrawal).status == "rejected"
    assert ApprovalRequest.objects.get(pk=renewed.approval_id).status == "rejected"


def approval_request_reject_as(people, person, approval_id):
    from platform_core.audit.approvals import approval_request_reject

    approval_request_reject(
        tenant=people.tenant,
        actor=person.user,
        membership=person.membership,
        approval_id=approval_id,
        reason="call the client first",
    )


# --- refusals write nothing ----------------------------------------------------------------


def test_a_withdrawal_the_client_cannot_fund_is_refused_with_nothing_written(acme, book):
    ask(acme, "99000.00")  # holds count: only 1,000 is left
    before = counts()
    refusal = refused(ask, acme, "1000.01")
    assert (refusal.status_code, refusal.error_code) == (422, "insufficient_funds")
    assert counts() == before
    assert figures(book.client) == ("100000.00", "1000.00")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": "12.345"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"destination": "12"}, "destination"),
        ({"destination": "<script>"}, "destination"),
        ({"currency": "EUR"}, "currency"),  # the client has no EUR account
        ({"currency": "XXX"}, "currency"),
        ({"idempotency_key": " "}, "idempotency_key"),
    ],
)
def test_bad_requests_name_their_field_and_write_nothing(acme, book, overrides, field):
    before = counts()
    refusal = refused(ask, acme, **overrides)
    assert refusal.status_code == 400 and field in refusal.fields
    assert counts() == before


def test_only_a_client_asks_for_a_withdrawal(acme, book):
    refusal = refused(ask, acme, person=acme.operations)
    assert refusal.error_code == "permission_denied"


def test_the_same_key_twice_is_one_request(acme, book):
    first = ask(acme, "100.00", key="form-abc")
    again = ask(acme, "100.0", key="form-abc")  # the same amount, written otherwise
    assert again.pk == first.pk
    assert WithdrawalRequest.objects.count() == Hold.objects.count() == 1
    assert kinds_sent_to(acme.client) == ["withdrawal.requested"]
    conflict = refused(ask, acme, "200.00", key="form-abc")
    assert conflict.error_code == "idempotency_conflict"
    assert figures(book.client) == ("100000.00", "99900.00")


def test_another_tenants_withdrawal_is_a_404(acme, globex, book):
    withdrawal = ask(acme)
    with as_tenant(globex.tenant):
        for call in (
            lambda: approve(globex, globex.operations, withdrawal),
            lambda: reject(globex, globex.operations, withdrawal),
            lambda: cancel(globex, withdrawal),
        ):
            with pytest.raises(Http404):
                call()
    assert refreshed_withdrawal(withdrawal).status == "requested"


def test_another_client_cannot_cancel_a_withdrawal(acme, book):
    other = make_person(acme.tenant, "other.client@acme.example", Role.CLIENT)
    withdrawal = ask(acme)
    with pytest.raises(Http404):
        cancel(acme, withdrawal, person=other)
    assert refreshed_withdrawal(withdrawal).status == "requested"


def test_the_database_refuses_to_change_a_decided_withdrawal(acme, book):
    withdrawal = cancel(acme, ask(acme))
    with pytest.raises(DatabaseError), transaction.atomic():
        WithdrawalRequest.objects.filter(pk=withdrawal.pk).update(status="paid")
    with pytest.raises(DatabaseError), transaction.atomic():
        WithdrawalRequest.objects.filter(pk=withdrawal.pk).delete()
    pending = ask(acme)
    with pytest.raises(DatabaseError), transaction.atomic():
        WithdrawalRequest.objects.filter(pk=pending.pk).update(amount=Decimal(1))


# --- notifications, after commit -----------------------------------------------------------


def test_the_client_is_notified_by_email_after_commit(
    acme, book, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        withdrawal = ask(acme, "123.45")
    assert mailoutbox == []  # nothing leaves before the transaction commits
    for callback in after_commit:
        callback()
    assert [m.to for m in mailoutbox] == [[acme.client.email]]
    # Clients read Simplified Chinese unless they choose otherwise.
    assert mailoutbox[0].subject == "提现已申请：123.45 USD"
    assert f"#{withdrawal.pk}" in mailoutbox[0].body and "****3000" in mailoutbox[0].body

    acme.client.user.language = "en"
    acme.client.user.save(update_fields=["language"])
    with django_capture_on_commit_callbacks(execute=True):
        approve(acme, acme.operations, withdrawal)
    assert mailoutbox[-1].subject == "Withdrawal paid: 123.45 USD"


# --- the API -------------------------------------------------------------------------------


class Api:
    def __init__(self, person, tenant=None):
        self.client = Client()
        self.auth = {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), person, tenant)}"}

    def get(self, path, **params):
        return self.client.get(path, params, **self.auth)

    def post(self, path, body=None, key=None):
        extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        return self.client.post(
            path, body or {}, content_type="application/json", **self.auth, **extra
        )


URL = "/api/v1/ledger/withdrawals"
BODY = {"amount": "250.5", "currency": "USD", "destination": IBAN}


def test_a_client_asks_through_the_api_once_per_key_and_operations_pay(acme, book):
    client = Api(acme.client)
    created = client.post(URL, BODY, key="w-1")
    assert created.status_code == 201, created.content
    body = created.json()
    assert {k: body[k] for k in ("status", "amount", "currency", "destination")} == {
        "status": "requested",
        "amount": "250.50",
        "currency": "USD",
        "destination": "****3000",
    }
    replay = client.post(URL, {**BODY, "amount": "250.50"}, key="w-1")
    assert replay.status_code == 201 and replay.json() == body
    assert replay["Idempotent-Replayed"] == "true"
    assert WithdrawalRequest.objects.count() == 1
    conflict = client.post(URL, {**BODY, "amount": "1"}, key="w-1")
    assert conflict.status_code == 409 and conflict.json()["fields"] == {
        "amount": ["differs from the first request made with this Idempotency-Key"]
    }
    assert client.post(URL, BODY).json()["code"] == "idempotency_key_required"

    listed = client.get(URL).json()
    assert [w["id"] for w in listed["results"]] == [body["id"]]
    assert client.get(f"{URL}/{body['id']}").json() == body

    ops = Api(acme.operations)
    paid = ops.post(f"{URL}/{body['id']}/approve", key="a-1")
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    assert figures(book.client) == ("99749.50", "99749.50")
    assert ops.get(URL, status="paid").json()["count"] == 1
    assert ops.get(URL, status="nonsense").status_code == 400


def test_the_api_refuses_what_each_role_may_not_do(acme, book):
    withdrawal = ask(acme)
    ops, client = Api(acme.operations), Api(acme.client)
    assert ops.post(URL, BODY, key="x").status_code == 403
    assert client.post(f"{URL}/{withdrawal.pk}/approve", key="y").status_code == 403
    assert (
        client.post(f"{URL}/{withdrawal.pk}/reject", {"reason": "no"}, key="z").status_code == 403
    )
    assert ops.post(f"{URL}/{withdrawal.pk}/cancel", key="c").status_code == 403
    assert Api(acme.auditor).get(URL).status_code == 403
    assert refreshed_withdrawal(withdrawal).status == "requested"
    assert not IdempotencyRecord.objects.exists()


def test_unfunded_api_withdrawal_is_a_422_and_the_key_stays_failed(acme, book):
    client = Api(acme.client)
    too_much = client.post(URL, {**BODY, "amount": "100000.01"}, key="big")
    assert too_much.status_code == 422 and too_much.json()["code"] == "insufficient_funds"
    book.fund("1000.00")
    again = client.post(URL, {**BODY, "amount": "100000.01"}, key="big")
    assert again.status_code == 422 and again["Idempotent-Replayed"] == "true"
    assert not WithdrawalRequest.objects.exists()


def test_reject_and_cancel_through_the_api(acme, book):
    first, second = ask(acme, "10.00"), ask(acme, "20.00")
    ops, client = Api(acme.operations), Api(acme.client)
    assert ops.post(f"{URL}/{first.pk}/reject", {}, key="r-0").status_code == 400
    rejected = ops.post(f"{URL}/{first.pk}/reject", {"reason": "wrong name"}, key="r-1")
    assert rejected.status_code == 200 and rejected.json()["reason"] == "wrong name"
    cancelled = client.post(f"{URL}/{second.pk}/cancel", key="c-1")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    twice = client.post(f"{URL}/{second.pk}/cancel", key="c-2")
    assert twice.status_code == 409 and twice.json()["code"] == "withdrawal_already_decided"
    assert figures(book.client) == ("100000.00", "100000.00")


def test_the_api_four_eyes_second_approval(acme, book, ops2):
    withdrawal = ask(acme, "75000.00")
    first = Api(acme.operations).post(f"{URL}/{withdrawal.pk}/approve", key="1")
    assert first.json()["status"] == "awaiting_second_approval"
    approval_id = first.json()["approval_id"]
    again = Api(acme.operations)
    refusal = again.post(f"/api/v1/approvals/{approval_id}/approve", {"reason": "me"}, key="2")
    assert refusal.status_code == 403 and refusal.json()["code"] == "maker_cannot_decide"
    second = Api(ops2).post(f"/api/v1/approvals/{approval_id}/approve", {"reason": "ok"}, key="3")
    assert second.status_code == 200, second.content
    assert refreshed_withdrawal(withdrawal).status == "paid"
    assert figures(book.client) == ("25000.00", "25000.00")


def test_a_client_sees_only_their_own_withdrawals_and_staff_see_all(acme, book):
    other = make_person(acme.tenant, "other.client@acme.example", Role.CLIENT)
    book.fund("50.00", open_book_client(acme, other))
    mine = ask(acme, "10.00")
    theirs = ask(acme, "5.00", person=other)
    client = Api(acme.client)
    assert [w["id"] for w in client.get(URL).json()["results"]] == [mine.pk]
    assert client.get(f"{URL}/{theirs.pk}").status_code == 404
    assert client.post(f"{URL}/{theirs.pk}/cancel", key="k").status_code == 404
    staff = Api(acme.compliance)
    assert {w["id"] for w in staff.get(URL).json()["results"]} == {mine.pk, theirs.pk}


def open_book_client(people, person):
    from ledger.services import account_create

    return account_create(
        tenant=people.tenant, kind="client_cash", currency="USD", owner_id=person.membership.pk
    )


def test_another_tenants_withdrawal_is_the_404_of_a_missing_one(acme, globex, book):
    withdrawal = ask(acme)
    api = Api(globex.operations)
    for suffix in ("", "/approve", "/reject"):
        foreign = api.client.generic(
            "GET" if not suffix else "POST",
            f"{URL}/{withdrawal.pk}{suffix}",
            '{"reason": "x"}',
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="g",
            **api.auth,
        )
        missing = api.client.generic(
            "GET" if not suffix else "POST",
            f"{URL}/999999999{suffix}",
            '{"reason": "x"}',
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="g",
            **api.auth,
        )
        assert foreign.status_code == missing.status_code == 404
        assert foreign.content == missing.content
    assert refreshed_withdrawal(withdrawal).status == "requested"


def test_a_browser_session_needs_a_fresh_step_up_to_withdraw_through_the_api(acme, book, settings):
    client = sign_in(Client(), acme.client)
    session = client.session
    session[STEP_UP_SESSION_KEY] = time.time() - settings.STEP_UP_MAX_AGE_SECONDS - 1
    session.save()
    stale = client.post(URL, BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY="s")
    assert stale.status_code == 403 and stale.json()["code"] == "step_up_required"
    assert not WithdrawalRequest.objects.exists()


# --- manual adjustments under four eyes ----------------------------------------------------


def ask_adjustment(people, maker, postings, memo="correct a mis-keyed fee"):
    return approval_request_create(
        tenant=people.tenant,
        actor=maker.user,
        membership=maker.membership,
        action=ADJUSTMENT_ACTION,
        params={"memo": memo, "postings": postings},
        reason="fee #1042 charged twice",
    )


def test_an_adjustment_is_posted_only_when_a_tenant_admin_approves(acme, book):
    fee_charge(
        tenant=acme.tenant, actor=None, account_id=book.client.pk, amount="40", idempotency_key="f"
    )
    approval = ask_adjustment(
        acme,
        acme.operations,
        [{"account": book.fees.pk, "debit": "40"}, {"account": book.client.pk, "credit": "40.0"}],
    )
    assert approval.params["postings"] == [
        {"account": book.fees.pk, "debit": "40.00"},
        {"account": book.client.pk, "credit": "40.00"},
    ]
    assert figures(book.client) == ("99960.00", "99960.00")  # nothing posted yet
    wrong_role = refused(
        approval_request_approve,
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        approval_id=approval.pk,
        reason="ok",
    )
    assert wrong_role.error_code == "approver_role_required"

    approved = approval_request_approve(
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        approval_id=approval.pk,
        reason="checked the fee log",
    )

    entry = JournalEntry.objects.get(pk=approved.result["entry_id"])
    assert (entry.entry_type, entry.actor, entry.memo) == (
        "adjustment",
        acme.admin.user,
        "correct a mis-keyed fee",
    )
    assert sorted(Posting.objects.filter(entry=entry).values_list("account_id", "side")) == sorted(
        [(book.fees.pk, "debit"), (book.client.pk, "credit")]
    )
    assert figures(book.client) == ("100000.00", "100000.00")


def test_the_maker_of_an_adjustment_cannot_approve_it(acme, book):
    approval = ask_adjustment(
        acme,
        acme.admin,
        [{"account": book.house.pk, "debit": "5"}, {"account": book.fees.pk, "credit": "5"}],
    )
    own = refused(
        approval_request_approve,
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        approval_id=approval.pk,
        reason="mine",
    )
    assert own.error_code == "maker_cannot_decide"
    assert not JournalEntry.objects.filter(entry_type="adjustment").exists()


def test_an_adjustment_that_would_overdraw_leaves_its_request_pending(acme, book):
    approval = ask_adjustment(
        acme,
        acme.operations,
        [
            {"account": book.client.pk, "debit": "100000.01"},
            {"account": book.bank.pk, "credit": "100000.01"},
        ],
    )
    refusal = refused(
        approval_request_approve,
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        approval_id=approval.pk,
        reason="ok",
    )
    assert refusal.error_code == "insufficient_funds"
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "pending"


@pytest.mark.parametrize(
    ("postings", "field"),
    [
        ("one posting", "params.postings"),
        ("not a list", "params.postings"),
        ("unbalanced", "params.postings"),
        ("foreign", "params.postings.0.account"),
        ("both sides", "params.postings.0"),
        ("over-precise", "params.postings.1.credit"),
    ],
)
def test_adjustment_postings_are_checked_when_asked(acme, globex, book, postings, field):
    with as_tenant(globex.tenant):
        foreign = open_book(globex).house
    examples = {
        "one posting": [{"account": book.house.pk, "debit": "5"}],
        "unbalanced": [
            {"account": book.house.pk, "debit": "5"},
            {"account": book.fees.pk, "credit": "4"},
        ],
        "foreign": [
            {"account": foreign.pk, "debit": "5"},
            {"account": book.fees.pk, "credit": "5"},
        ],
        "both sides": [
            {"account": book.house.pk, "debit": "5", "credit": "5"},
            {"account": book.fees.pk, "credit": "5"},
        ],
        "over-precise": [
            {"account": book.house.pk, "debit": "5"},
            {"account": book.fees.pk, "credit": "5.001"},
        ],
    }
    before = ApprovalRequest.objects.count()
    refusal = refused(ask_adjustment, acme, acme.operations, examples.get(postings, postings))
    assert refusal.status_code == 400 and field in refusal.fields, refusal.fields
    assert ApprovalRequest.objects.count() == before


# --- fees and the sweep --------------------------------------------------------------------


def test_a_fee_moves_the_clients_claim_to_the_house_and_the_sweep_takes_only_the_excess(acme, book):
    entry = fee_charge(
        tenant=acme.tenant,
        actor=acme.operations.user,
        account_id=book.client.pk,
        amount="12.50",
        memo="custody fee, March",
        idempotency_key="fee-1",
    )
    assert entry.entry_type == "fee"
    assert figures(book.client)[0] == "99987.50" and figures(book.fees)[0] == "12.50"
    (usd,) = client_money_list(tenant=acme.tenant)
    assert (usd.held, usd.owed, usd.excess) == (
        Decimal("100000"),
        Decimal("99987.50"),
        Decimal("12.50"),
    )

    too_much = refused(
        sweep_post,
        tenant=acme.tenant,
        actor=acme.operations.user,
        currency="USD",
        amount="12.51",
        idempotency_key="sweep-1",
    )
    assert too_much.error_code == "sweep_exceeds_excess"
    swept = sweep_post(
        tenant=acme.tenant,
        actor=acme.operations.user,
        currency="USD",
        amount="12.50",
        idempotency_key="sweep-2",
    )
    assert swept.entry_type == "sweep"
    assert figures(book.house)[0] == "12.50" and figures(book.bank)[0] == "99987.50"
    assert client_money_list(tenant=acme.tenant)[0].excess == 0
    # The same form sent again is the same entry, even though nothing is left to sweep.
    again = sweep_post(
        tenant=acme.tenant,
        actor=acme.operations.user,
        currency="USD",
        amount="12.5",
        idempotency_key="sweep-2",
    )
    assert again.pk == swept.pk


def test_a_fee_needs_a_client_account_and_a_fee_income_account(acme, book):
    assert refused(
        fee_charge,
        tenant=acme.tenant,
        actor=None,
        account_id=book.house.pk,
        amount="1",
        idempotency_key="f-1",
    ).fields == {"account": ["Choose a client account of this tenant."]}
    from ledger.services import account_create

    eur = account_create(
        tenant=acme.tenant, kind="client_cash", currency="EUR", owner_id=acme.client.membership.pk
    )
    missing = refused(
        fee_charge,
        tenant=acme.tenant,
        actor=None,
        account_id=eur.pk,
        amount="1",
        idempotency_key="f-2",
    )
    assert missing.error_code == "account_missing"
