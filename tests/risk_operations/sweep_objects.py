"""The margin-call loop's objects for the tenant-isolation sweep (tests/e2e/test_sweep.py).

``sweep_entries(Sweepable, Built)`` returns the loop's SWEEP entries, so the shared file
needs one line for all of them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone

from risk.operations.models import ClientDebt, Dispute, MarginCall, Proposal
from tests.conftest import TenantPeople
from tests.ledger.factories import open_book

SECRET_SYMBOL = "ZQX-SWEEP"
SECRET_POLICY = "house-sweep-policy-7731"
STATEMENT = "I dispute the fills of 17 March, ref 88120"


def an_executed_liquidation_of_acme(acme: TenantPeople) -> Proposal:
    book = open_book(acme)
    now = timezone.now()
    leg = {"symbol": SECRET_SYMBOL, "quantity": "-10", "close": "10", "price": "43.21"}
    return Proposal.objects.create(
        tenant=acme.tenant,
        account_id=book.client.pk,
        membership_id=acme.client.membership.pk,
        kind=Proposal.Kind.LIQUIDATION,
        status=Proposal.ProposalStatus.EXECUTED,
        currency="USD",
        ratio_before=Decimal("0.5"),
        ratio_after=None,
        target_ratio=Decimal("1.25"),
        equity_before=Decimal("100"),
        maintenance_before=Decimal("200"),
        steps=[
            {
                "step": 1,
                "strategy": "short_stock",
                "legs": [{**leg, "multiplier": "1", "kind": "equity"}],
                "impact": "0.43",
                "ratio_after": None,
            }
        ],
        fills=[{**leg, "step": 1, "cash": "-432.10"}],
        proceeds=Decimal("-432.10"),
        created_at=now,
        decided_at=now,
        decided_by_label="system:margin_ladder",
    )


def an_open_call_of_acme(acme: TenantPeople) -> MarginCall:
    book = open_book(acme)
    now = timezone.now()
    return MarginCall.objects.create(
        tenant=acme.tenant,
        account_id=book.client.pk,
        membership_id=acme.client.membership.pk,
        episode=1,
        stage="margin_call",
        currency="USD",
        issued_at=now,
        deadline_date=now.date(),
        deadline_at=now,
        ratio=Decimal("0.95"),
        equity=Decimal("950"),
        maintenance=Decimal("1000"),
        target_ratio=Decimal("1.25"),
        deposit_needed=Decimal("300"),
        policy_name=SECRET_POLICY,
        policy_version="1",
    )


def sweep_entries(sweepable: Any, built: Any) -> dict[str, Any]:
    everyone = ("client", "compliance", "risk", "operations", "admin", "auditor")

    def but(*roles: str) -> tuple[str, ...]:
        return tuple(r for r in everyone if r not in roles)

    def proposal(acme: TenantPeople) -> Any:
        made = an_executed_liquidation_of_acme(acme)
        return built(Proposal, made.pk, "proposal_id", secrets=(SECRET_SYMBOL,))

    def call(acme: TenantPeople) -> Any:
        made = an_open_call_of_acme(acme)
        return built(MarginCall, made.pk, "call_id", secrets=(SECRET_POLICY,))

    def debt(acme: TenantPeople) -> Any:
        made = an_executed_liquidation_of_acme(acme)
        owed = ClientDebt.objects.create(
            tenant=acme.tenant,
            account_id=made.account_id,
            proposal=made,
            currency="USD",
            amount=Decimal("432.10"),
            created_at=timezone.now(),
        )
        return built(ClientDebt, owed.pk, "debt_id", secrets=("432.10",))

    def dispute(acme: TenantPeople) -> Any:
        made = an_executed_liquidation_of_acme(acme)
        case = Dispute.objects.create(
            tenant=acme.tenant,
            proposal=made,
            membership_id=acme.client.membership.pk,
            statement=STATEMENT,
            evidence={"policy_version": "default v0", "proposal": {"steps": made.steps}},
            evidence_digest="0" * 64,
            created_at=timezone.now(),
        )
        return built(Dispute, case.pk, "dispute_id", secrets=(STATEMENT,))

    return {
        "console-margin-proposal": sweepable(
            build=proposal,
            readers=("risk", "compliance"),
            wrong=but("risk", "compliance"),
            methods=("get",),
        ),
        "console-margin-proposal-decide": sweepable(
            build=proposal, readers=("risk",), wrong=but("risk"), methods=("post",)
        ),
        "console-margin-debt-writeoff": sweepable(
            build=debt, readers=("risk",), wrong=but("risk"), methods=("post",)
        ),
        "console-margin-dispute": sweepable(
            build=dispute, readers=("risk", "compliance"), wrong=but("risk", "compliance")
        ),
        # The API: a client reads their own calls, the risk staff every call and proposal; only
        # a risk officer asks to execute one.
        "margin-api:call": sweepable(
            build=call,
            readers=("client", "risk", "compliance"),
            wrong=but("client", "risk", "compliance"),
        ),
        "margin-api:proposal": sweepable(
            build=proposal, readers=("risk", "compliance"), wrong=but("risk", "compliance")
        ),
        "margin-api:proposal-execution-request": sweepable(
            build=proposal, readers=("risk",), wrong=but("risk")
        ),
        # A client disputes only their own liquidation.
        "portal-margin-dispute-new": sweepable(
            build=proposal, readers=("client",), wrong=but("client"), methods=("get",)
        ),
    }
