"""A lender's set-up for financing tests: an active margin policy, a rate card, a house pool,
the client's accounts, a profile from KYC, a credit line and signed documents."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from financing import services
from financing.disclosures import disclosure_sign, document_render
from financing.models import CreditLine, FundingPool, RateCard, SignatureRecord
from kyc import screening_link
from kyc import services as kyc_services
from kyc.demo import ANSWERS as DEMO_ANSWERS
from kyc.models import CaseCheck
from kyc.models import ClientProfile as KycProfile
from ledger.models import LedgerAccount
from ledger.services import account_create, transfer_post
from platform_core.audit.approvals import approval_request_approve
from platform_core.tenancy.models import Membership, Tenant
from risk.models import MarginPolicyVersion
from risk.policies import policy_activate_execute, policy_version_create
from tests.conftest import Person, TenantPeople
from tests.kyc.factories import MODEST_ANSWERS, submit_profile

CLIENT_NAME = "Zhang San"
_keys = itertools.count(1)


def key(prefix: str = "k") -> str:
    return f"{prefix}-{next(_keys)}"


def policy_activate(
    people: TenantPeople, *, leverage_cap: str = "4", name: str = "house"
) -> MarginPolicyVersion:
    """A policy drafted by one risk officer and activated as the approval would."""
    draft = policy_version_create(
        tenant=people.tenant,
        actor=people.risk.user,
        name=name,
        base="cboe-strategy",
        leverage_cap=leverage_cap,
    )
    policy_activate_execute(
        tenant=people.tenant,
        params={"policy_id": draft.pk, "digest": draft.digest},
        maker=people.risk.user,
        approver=people.admin.user,
    )
    draft.refresh_from_db()
    return draft


def rate_card(people: TenantPeople, currency: str = "USD", **overrides: Any) -> RateCard:
    fields = {
        "base_rate": "0.05",
        "hedge_cost_rate": "0.002",
        "credit_four_eyes_above": "500000",
        "buffer_target_share": "0.10",
        "tenor_premiums": {"intraday": "0.001", "overnight": "0.005", "term": "0.015", "repo": "0"},
        "rating_premiums": {"low": "0", "medium": "0.01", "high": "0.03"},
        **overrides,
    }
    return services.rate_card_publish(
        tenant=people.tenant, actor=people.risk.user, currency=currency, **fields
    )


def pool(
    people: TenantPeople,
    name: str = "house",
    *,
    currency: str = "USD",
    limit: str = "10000000",
    cost: str = "0.02",
    kind: str = "house",
) -> FundingPool:
    return services.funding_pool_create(
        tenant=people.tenant,
        actor=people.risk.user,
        name=name,
        kind=kind,
        currency=currency,
        limit=limit,
        cost_rate=cost,
    )


@dataclass
class Lender:
    people: TenantPeople
    currency: str
    bank: LedgerAccount
    client_cash: LedgerAccount
    house: LedgerAccount

    @property
    def tenant(self) -> Tenant:
        return self.people.tenant

    @property
    def client(self) -> Person:
        return self.people.client

    def deposit(self, amount: str, membership: Membership | None = None) -> None:
        account = self.client_cash
        if membership is not None:
            account = LedgerAccount.objects.get(
                tenant=self.tenant, kind="client_cash", currency=self.currency, owner=membership
            )
        transfer_post(
            tenant=self.tenant,
            debit_account=self.bank.pk,
            credit_account=account.pk,
            amount=Decimal(amount),
            currency=self.currency,
            entry_type="deposit",
            idempotency_key=key("deposit"),
        )

    def line(self, limit: str = "200000", **kwargs: Any) -> CreditLine:
        return services.credit_line_grant(
            tenant=self.tenant,
            actor=self.people.risk.user,
            actor_membership=self.people.risk.membership,
            client_membership_id=kwargs.pop("membership_id", self.client.membership.pk),
            currency=self.currency,
            limit=limit,
            leverage_cap=kwargs.pop("leverage_cap", "2"),
            allowed_products=kwargs.pop("allowed_products", ["stock", "etf"]),
            allowed_tenors=kwargs.pop("allowed_tenors", ["intraday", "overnight", "term", "repo"]),
            **kwargs,
        )

    def sign(
        self, kind: str, person: Person | None = None, language: str = "en"
    ) -> SignatureRecord:
        person = person or self.client
        document = document_render(
            tenant=self.tenant, membership=person.membership, kind=kind, language=language
        )
        return disclosure_sign(
            tenant=self.tenant,
            membership=person.membership,
            document_id=document.pk,
            typed_name=person.user.full_name,
            consent=True,
            otp=one_time_code(person),
        )

    def sign_all(self, person: Person | None = None) -> None:
        self.sign("risk_disclosure", person)
        self.sign("credit_agreement", person)

    def draw(
        self,
        amount: str,
        tenor: str = "term",
        *,
        day: date,
        term_days: int | None = 30,
        person: Person | None = None,
    ) -> Any:
        person = person or self.client
        return services.contract_draw(
            tenant=self.tenant,
            membership=person.membership,
            actor=person.user,
            currency=self.currency,
            amount=amount,
            tenor=tenor,
            idempotency_key=key("draw"),
            term_days=term_days if tenor in ("term", "repo") else None,
            business_date=day,
        )


def one_time_code(person: Person) -> str:
    """A TOTP code not used yet, else one of the person's backup codes (TOTP codes are single
    use, and only two 30-second steps are accepted at a time)."""
    try:
        return person.fresh_otp()
    except AssertionError:
        return person.backup_codes.pop()


def named(person: Person, name: str = CLIENT_NAME) -> Person:
    person.user.full_name = name
    person.user.save(update_fields=["full_name"])
    return person


def lender(people: TenantPeople, currency: str = "USD") -> Lender:
    """Everything a drawdown needs, in ``people``'s tenant (the caller acts as it)."""
    named(people.client)
    policy_activate(people)
    rate_card(people, currency)
    pool(people, currency=currency)
    return Lender(
        people=people,
        currency=currency,
        bank=account_create(tenant=people.tenant, kind="custodian_bank", currency=currency),
        client_cash=account_create(
            tenant=people.tenant,
            kind="client_cash",
            currency=currency,
            owner_id=people.client.membership.pk,
        ),
        house=account_create(tenant=people.tenant, kind="house_cash", currency=currency),
    )


# Answers that make a professional investor (CSRC suitability: wealth or income and
# experience): every product level, and financing up to 1.25 times equity.
PROFESSIONAL_ANSWERS = dict(DEMO_ANSWERS)
# Not professional, class C3 (score 19): up to R3, so no options, and financing up to half
# of equity.
CAUTIOUS_ANSWERS = {**MODEST_ANSWERS, "experience": "under_2", "loss_tolerance": "under_10"}
# The tenant's rating thresholds that give each level whatever the client's score (0-100).
RATING_THRESHOLDS = {"low": (99, 100), "medium": (1, 100), "high": (1, 2)}


def kyc_approve(
    people: TenantPeople,
    person: Person | None = None,
    *,
    rating: str = "medium",
    answers: dict[str, str] | None = None,
) -> KycProfile:
    """Onboard ``person`` (the client by default) through KYC's own services: a complete file,
    screened, every check done and approved by compliance (and, when high-risk, by the senior
    approver), rated ``rating`` by the tenant's thresholds."""
    person = person or people.client
    medium_from, high_from = RATING_THRESHOLDS[rating]
    kyc_services.rating_config_set(
        tenant=people.tenant,
        actor=people.compliance.user,
        medium_from=medium_from,
        high_from=high_from,
    )
    case = submit_profile(
        people.tenant,
        person,
        personal={"legal_name": person.user.full_name or "Zhang San"},
        answers=answers or PROFESSIONAL_ANSWERS,
    )
    assert screening_link.screen(tenant=people.tenant, profile=case.profile, reason="test")
    officer = people.compliance
    kyc_services.case_assign(
        tenant=people.tenant,
        actor=officer.user,
        membership=officer.membership,
        case_id=case.pk,
        assignee=officer.membership,
    )
    for check in CaseCheck.objects.filter(case=case):
        kyc_services.case_check_set(
            tenant=people.tenant,
            actor=officer.user,
            case_id=case.pk,
            code=check.code,
            status="done",
            note="seen the original",
        )
    case = kyc_services.case_approve(
        tenant=people.tenant,
        actor=officer.user,
        membership=officer.membership,
        case_id=case.pk,
        reason="documents verified against originals",
    )
    if case.approval_id:  # a high-risk client: the senior approver decides
        approval_request_approve(
            tenant=people.tenant,
            actor=people.admin.user,
            membership=people.admin.membership,
            approval_id=case.approval_id,
            reason="source of wealth documented",
        )
    profile = KycProfile.objects.get(pk=case.profile_id)
    assert (profile.status, profile.risk_rating) == ("approved", rating)
    return profile
