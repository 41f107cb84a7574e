"""Every write of the financing app: rate cards, funding pools, credit lines, contracts
(drawdown, repayment, rollover, maturity), interest accrual and charging, the liquidity buffer.

Money moves only through the ledger's services. A drawdown is one four-leg ``loan_drawdown``
entry: the loan receivable and the client-money bank account are debited, the funding pool
and the client's cash credited, so client money stays matched by the bank and the house's
loan by its funding. A repayment is its mirror (``loan_repayment``); interest is an
``interest`` entry from the client's cash, or added to the loan when the cash is short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

from financing.disclosures import signature_current, signing_missing
from financing.interest import (
    accrual_period,
    day_count_for,
    first_of_next_month,
    interest_for,
    money_round,
    next_business_day,
)
from financing.models import (
    CreditLine,
    FinancingContract,
    FundingPool,
    InterestAccrual,
    InterestCharge,
    Pledge,
    RateCard,
    Tenor,
)
from financing.policy import policy_terms_active
from financing.profile import client_held, client_profile
from ledger.models import JournalEntry, LedgerAccount
from ledger.rules import Side, quantum
from ledger.services import Leg, account_create, entry_post, transfer_post
from platform_core.audit.approvals import approval_request_create
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import CURRENCY_MINOR_UNITS, Membership, Tenant
from platform_core.tenancy.roles import Role

CREDIT_LINE_ACTIVATE = "financing.credit_line_activate"
RATINGS = ("low", "medium", "high")
PRODUCTS = ("stock", "etf", "index", "option")
# What a rate card holds when the tenant publishes one without a figure (annual decimals).
DEFAULT_TENOR_PREMIUMS = {"intraday": "0", "overnight": "0.0050", "term": "0.0150", "repo": "0"}
DEFAULT_RATING_PREMIUMS = {"low": "0", "medium": "0.0100", "high": "0.0300"}
TERM_DAYS_MAX = 183  # a contract runs at most six months (SZSE's margin contract term)


def invalid(fields: dict[str, list[str]]) -> ApplicationError:
    return ApplicationError(400, "invalid", "The request has invalid fields.", fields)


def decimal_parse(value: Any, *, field: str, minimum: Decimal | None = Decimal(0)) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise invalid({field: [f"{value!r} is not a number."]}) from None
    if not number.is_finite() or (minimum is not None and number < minimum):
        raise invalid({field: [f"Must be a number of at least {minimum}."]})
    if number >= Decimal(10) ** 20:
        raise invalid({field: ["The number is too large."]})
    return number


def _currency(value: str) -> str:
    if value not in CURRENCY_MINOR_UNITS:
        raise invalid({"currency": [f"{value!r} is not a supported currency."]})
    return value


def _money(value: Any, *, currency: str, field: str = "amount") -> Decimal:
    amount = decimal_parse(value, field=field)
    if amount <= 0:
        raise invalid({field: ["The amount must be greater than zero."]})
    if amount != amount.quantize(quantum(currency)):
        raise invalid({field: [f"Too many decimal places for {currency}."]})
    return amount


# --- the business calendar ------


def tenant_calendar(*, tenant: Tenant) -> Callable[[date], bool]:
    """Whether a day is a business day on the tenant's market (risk's trading calendar)."""
    from risk.calendar import business_day_is, tenant_market

    market = tenant_market(tenant=tenant)

    @cache
    def is_open(day: date) -> bool:
        return business_day_is(market=market, day=day)

    return is_open


def business_date_today(*, tenant: Tenant) -> date:
    from zoneinfo import ZoneInfo

    return timezone.now().astimezone(ZoneInfo(tenant.timezone)).date()


# --- rate cards ------


def rate_card_current(*, tenant: Tenant, currency: str) -> RateCard | None:
    return RateCard.objects.filter(tenant=tenant, currency=currency).order_by("-version").first()


def _premiums(value: Any, *, keys: Iterable[str], field: str, default: dict[str, str]) -> dict:
    value = value if value is not None else default
    if not isinstance(value, dict) or set(value) != set(keys):
        raise invalid({field: [f"Give one premium for each of {', '.join(keys)}."]})
    return {k: str(decimal_parse(v, field=field)) for k, v in value.items()}


def rate_card_publish(
    *,
    tenant: Tenant,
    actor: Any,
    currency: str,
    base_rate: Any,
    hedge_cost_rate: Any,
    credit_four_eyes_above: Any,
    buffer_target_share: Any,
    tenor_premiums: dict[str, Any] | None = None,
    rating_premiums: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> RateCard:
    """A new version of the tenant's terms in ``currency``; earlier versions stay as they were."""
    currency = _currency(currency)
    share = decimal_parse(buffer_target_share, field="buffer_target_share")
    if share > 1:
        raise invalid({"buffer_target_share": ["A share is between 0 and 1."]})
    fields = {
        "base_rate": decimal_parse(base_rate, field="base_rate"),
        "hedge_cost_rate": decimal_parse(hedge_cost_rate, field="hedge_cost_rate"),
        "credit_four_eyes_above": decimal_parse(
            credit_four_eyes_above, field="credit_four_eyes_above"
        ),
        "buffer_target_share": share,
        "tenor_premiums": _premiums(
            tenor_premiums,
            keys=Tenor.values,
            field="tenor_premiums",
            default=DEFAULT_TENOR_PREMIUMS,
        ),
        "rating_premiums": _premiums(
            rating_premiums, keys=RATINGS, field="rating_premiums", default=DEFAULT_RATING_PREMIUMS
        ),
    }
    with transaction.atomic():
        # One publisher per tenant and currency at a time picks the next number (the table is
        # append-only: no row lock, which would need the UPDATE privilege).
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"financing.rate_card:{tenant.pk}:{currency}"],
            )
        current = rate_card_current(tenant=tenant, currency=currency)
        card = RateCard.objects.create(
            tenant=tenant,
            currency=currency,
            version=(current.version + 1) if current else 1,
            created_by=actor if getattr(actor, "pk", None) else None,
            **fields,
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="financing.rate_card_published",
            object_type="rate_card",
            object_id=card.pk,
            payload={"currency": currency, "version": card.version, **fields},
            request=request,
        )
    return card


# --- funding pools ------


def funding_pool_create(
    *,
    tenant: Tenant,
    actor: Any,
    name: str,
    kind: str,
    currency: str,
    limit: Any,
    cost_rate: Any,
    request: HttpRequest | None = None,
) -> FundingPool:
    name = (name or "").strip()
    problems: dict[str, list[str]] = {}
    if not name:
        problems["name"] = ["A pool needs a name."]
    if kind not in FundingPool.Kind.values:
        problems["kind"] = [f"Choose one of {', '.join(FundingPool.Kind.values)}."]
    if problems:
        raise invalid(problems)
    currency = _currency(currency)
    limit_value = decimal_parse(limit, field="limit")
    cost = decimal_parse(cost_rate, field="cost_rate")
    try:
        with transaction.atomic():
            pool = FundingPool.objects.create(
                tenant=tenant,
                name=name,
                kind=kind,
                currency=currency,
                limit=limit_value,
                cost_rate=cost,
            )
            audit_record(
                tenant=tenant,
                actor=actor,
                action="financing.pool_created",
                object_type="funding_pool",
                object_id=pool.pk,
                payload={
                    "name": name,
                    "kind": kind,
                    "currency": currency,
                    "limit": limit_value,
                    "cost_rate": cost,
                },
                request=request,
            )
    except IntegrityError:
        raise invalid({"name": ["This tenant already has a pool with this name."]}) from None
    return pool


def pool_used(*, tenant: Tenant, pool: FundingPool) -> Decimal:
    total = (
        FinancingContract.objects.filter(tenant=tenant, pool=pool)
        .exclude(status__in=[FinancingContract.Status.REPAID, FinancingContract.Status.ROLLED])
        .aggregate(total=Sum("outstanding"))["total"]
    )
    return total or Decimal(0)


def pool_choose(*, tenant: Tenant, currency: str, amount: Decimal) -> FundingPool:
    """The cheapest active pool with room for the whole amount (ties: the house's own money
    first, then the oldest pool). Pools are locked so two drawdowns cannot share the room."""
    pools = list(
        FundingPool.objects.select_for_update()
        .filter(tenant=tenant, currency=currency, active=True)
        .order_by("pk")
    )
    kind_order = {FundingPool.Kind.HOUSE: 0, FundingPool.Kind.INSTITUTIONAL: 1}
    for pool in sorted(pools, key=lambda p: (p.cost_rate, kind_order[p.kind], p.pk)):
        if pool.limit - pool_used(tenant=tenant, pool=pool) >= amount:
            return pool
    raise ApplicationError(
        422,
        "no_funding",
        f"No funding pool in {currency} has room for this amount; try a smaller one.",
        {"amount": ["No funding pool has room for this amount."]},
    )


# --- ledger accounts ------


def house_account(*, tenant: Tenant, kind: str, currency: str) -> LedgerAccount:
    """The tenant's house account of ``kind`` in ``currency``, opened on first use."""
    account = LedgerAccount.objects.filter(
        tenant=tenant, kind=kind, currency=currency, owner__isnull=True
    ).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return account_create(tenant=tenant, kind=kind, currency=currency)
    except ApplicationError as exc:
        if exc.error_code != "account_exists":
            raise
        return LedgerAccount.objects.get(
            tenant=tenant, kind=kind, currency=currency, owner__isnull=True
        )


def client_cash_account(*, tenant: Tenant, membership: Membership, currency: str) -> LedgerAccount:
    account = LedgerAccount.objects.filter(
        tenant=tenant, kind="client_cash", currency=currency, owner=membership
    ).first()
    if account is None:
        raise ApplicationError(
            409, "no_account", f"The client has no {currency} account to receive the money."
        )
    return account


# --- credit lines ------


def _list_of(value: Any, *, allowed: Iterable[str], field: str) -> list[str]:
    allowed = list(allowed)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise invalid({field: [f"Choose at least one of {', '.join(allowed)}."]})
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise invalid({field: [f"Not one of {', '.join(allowed)}: {', '.join(unknown)}."]})
    return sorted(set(value))


def credit_line_grant(
    *,
    tenant: Tenant,
    actor: Any,
    actor_membership: Membership,
    client_membership_id: object,
    currency: str,
    limit: Any,
    leverage_cap: Any,
    allowed_products: Any,
    allowed_tenors: Any,
    reason: str = "",
    request: HttpRequest | None = None,
) -> CreditLine:
    """Grant a line from the client's profile; above the tenant's limit it waits for four eyes.

    The leverage cap may not exceed the active policy's nor the client's suitability cap, and
    the products must be ones suitability allows.
    """
    client = access_object_by_id(Membership, tenant=tenant, object_id=client_membership_id)
    if client.role != Role.CLIENT:
        raise invalid({"membership": ["Credit lines are for clients."]})
    currency = _currency(currency)
    limit_value = _money(limit, currency=currency, field="limit")
    cap = decimal_parse(leverage_cap, field="leverage_cap", minimum=Decimal(1))
    products = _list_of(allowed_products, allowed=PRODUCTS, field="allowed_products")
    tenors = _list_of(allowed_tenors, allowed=Tenor.values, field="allowed_tenors")
    profile = client_profile(tenant=tenant, membership=client)
    if profile is None:
        raise ApplicationError(
            409, "no_profile", "The client has no risk rating yet: finish their KYC first."
        )
    policy = policy_terms_active(tenant=tenant)
    if policy is None:
        raise ApplicationError(409, "no_active_policy", "There is no active margin policy yet.")
    card = rate_card_current(tenant=tenant, currency=currency)
    if card is None:
        raise ApplicationError(409, "no_rate_card", f"Publish a {currency} rate card first.")
    problems: dict[str, list[str]] = {}
    ceilings = [policy.leverage_cap] + ([profile.leverage_cap] if profile.leverage_cap else [])
    if cap > min(ceilings):
        problems["leverage_cap"] = [
            f"At most {min(ceilings)}: the policy's and the client's suitability caps."
        ]
    if profile.allowed_products is not None:
        refused = sorted(set(products) - profile.allowed_products)
        if refused:
            problems["allowed_products"] = [f"Not suitable for this client: {', '.join(refused)}."]
    if problems:
        raise invalid(problems)
    four_eyes = limit_value > card.credit_four_eyes_above
    if four_eyes and not (reason or "").strip():
        raise invalid({"reason": ["A line above the four-eyes limit needs a reason."]})
    try:
        with transaction.atomic():
            line = CreditLine.objects.create(
                tenant=tenant,
                membership=client,
                currency=currency,
                limit=limit_value,
                leverage_cap=cap,
                allowed_products=products,
                allowed_tenors=tenors,
                rate_card=card,
                investor_class=profile.investor_class,
                risk_rating=profile.risk_rating,
                status=(
                    CreditLine.Status.PENDING_APPROVAL if four_eyes else CreditLine.Status.ACTIVE
                ),
                granted_by=actor,
            )
            audit_record(
                tenant=tenant,
                actor=actor,
                action="financing.credit_line_granted",
                object_type="credit_line",
                object_id=line.pk,
                reason=reason,
                payload={
                    "client": client.pk,
                    "currency": currency,
                    "limit": limit_value,
                    "leverage_cap": cap,
                    "products": products,
                    "tenors": tenors,
                    "risk_rating": profile.risk_rating,
                    "investor_class": profile.investor_class,
                    "rate_card": card.version,
                    "four_eyes": four_eyes,
                },
                request=request,
            )
            if four_eyes:
                approval_request_create(
                    tenant=tenant,
                    actor=actor,
                    membership=actor_membership,
                    action=CREDIT_LINE_ACTIVATE,
                    params={"credit_line_id": line.pk},
                    reason=reason,
                    request=request,
                )
    except IntegrityError:
        raise ApplicationError(
            409, "credit_line_exists", f"The client already has an open {currency} credit line."
        ) from None
    return line


def credit_line_activate_approved(
    *, tenant: Tenant, params: dict[str, Any], maker: Any, approver: Any
) -> dict[str, Any]:
    """The four-eyes action's effect: the waiting line becomes active."""
    line = access_object_by_id(CreditLine, tenant=tenant, object_id=params.get("credit_line_id"))
    line = CreditLine.objects.select_for_update().get(pk=line.pk)
    if line.status != CreditLine.Status.PENDING_APPROVAL:
        raise ApplicationError(409, "credit_line_not_pending", f"This line is {line.status}.")
    line.status = CreditLine.Status.ACTIVE
    line.approved_by = approver
    line.save(update_fields=["status", "approved_by", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=approver,
        action="financing.credit_line_activated",
        object_type="credit_line",
        object_id=line.pk,
        payload={"maker": getattr(maker, "pk", None)},
    )
    return {"credit_line_id": line.pk, "status": line.status}


def credit_line_activate_validate(*, tenant: Tenant, params: dict[str, Any]) -> dict[str, Any]:
    from django.core.exceptions import ValidationError

    if not CreditLine.objects.filter(
        tenant=tenant, pk=params.get("credit_line_id"), status=CreditLine.Status.PENDING_APPROVAL
    ).exists():
        raise ValidationError({"credit_line_id": ["No credit line waiting for approval."]})
    return {"credit_line_id": int(params["credit_line_id"])}


def credit_lines_review_flag(
    *, tenant: Tenant, membership: Membership, reason: str, actor: Any = None
) -> int:
    """Put the client's active lines under review (their risk rating changed); no new credit
    until a person looks. Returns how many lines changed."""
    changed = 0
    with transaction.atomic():
        for line in CreditLine.objects.select_for_update().filter(
            tenant=tenant, membership=membership, status=CreditLine.Status.ACTIVE
        ):
            line.status = CreditLine.Status.REVIEW
            line.review_reason = reason[:500]
            line.save(update_fields=["status", "review_reason", "updated_at"])
            audit_record(
                tenant=tenant,
                actor=actor,
                actor_label="" if actor else "financing.rating_changed",
                action="financing.credit_line_review",
                object_type="credit_line",
                object_id=line.pk,
                reason=reason,
            )
            changed += 1
    return changed


def credit_line_reviewed(
    *,
    tenant: Tenant,
    actor: Any,
    credit_line_id: object,
    reason: str,
    request: HttpRequest | None = None,
) -> CreditLine:
    """A person reviewed the line against the client's new rating: it is active again."""
    if not (reason or "").strip():
        raise invalid({"reason": ["A reason is required."]})
    with transaction.atomic():
        line = access_object_by_id(CreditLine, tenant=tenant, object_id=credit_line_id)
        line = CreditLine.objects.select_for_update().get(pk=line.pk)
        if line.status != CreditLine.Status.REVIEW:
            raise ApplicationError(409, "credit_line_not_in_review", f"This line is {line.status}.")
        profile = client_profile(tenant=tenant, membership=line.membership)
        line.status = CreditLine.Status.ACTIVE
        line.risk_rating = profile.risk_rating if profile else line.risk_rating
        line.save(update_fields=["status", "risk_rating", "updated_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="financing.credit_line_reviewed",
            object_type="credit_line",
            object_id=line.pk,
            reason=reason,
            request=request,
        )
    return line


# --- reads the services share ------


def loan_outstanding(
    *, tenant: Tenant, membership: Membership, currency: str | None = None
) -> Decimal:
    """What the client owes on open contracts: principal plus interest charged and unpaid."""
    contracts = FinancingContract.objects.filter(
        tenant=tenant,
        membership=membership,
        status__in=[FinancingContract.Status.OPEN, FinancingContract.Status.OVERDUE],
    )
    if currency:
        contracts = contracts.filter(currency=currency)
    totals = contracts.aggregate(p=Sum("outstanding"), i=Sum("interest_owed"))
    return (totals["p"] or Decimal(0)) + (totals["i"] or Decimal(0))


def credit_line_for(*, tenant: Tenant, membership: Membership, currency: str) -> CreditLine | None:
    return (
        CreditLine.objects.filter(tenant=tenant, membership=membership, currency=currency)
        .exclude(status=CreditLine.Status.CLOSED)
        .first()
    )


def credit_available(*, tenant: Tenant, membership: Membership, currency: str) -> Decimal:
    line = credit_line_for(tenant=tenant, membership=membership, currency=currency)
    if line is None or line.status != CreditLine.Status.ACTIVE:
        return Decimal(0)
    return max(
        Decimal(0),
        line.limit - loan_outstanding(tenant=tenant, membership=membership, currency=currency),
    )


@dataclass(frozen=True)
class CreditRefusal:
    code: str  # the error code an API answers with
    message: str


def credit_refusal_of(
    *, tenant: Tenant, membership: Membership, currency: str, amount: Decimal | None = None
) -> CreditRefusal | None:
    """Why this client may not draw (or trade on margin) now, with a code, or None."""
    line = credit_line_for(tenant=tenant, membership=membership, currency=currency)
    if line is None:
        return CreditRefusal("no_credit_line", f"No {currency} credit line.")
    if line.status != CreditLine.Status.ACTIVE:
        return CreditRefusal(
            "credit_line_inactive", f"The credit line is {line.get_status_display().lower()}."
        )
    if client_held(tenant=tenant, membership=membership):
        return CreditRefusal(
            "credit_held", "Credit is on hold while compliance reviews an alert on the account."
        )
    missing = signing_missing(tenant=tenant, membership=membership)
    if missing:
        return CreditRefusal(
            "disclosure_unsigned",
            "Sign the current " + " and ".join(m.replace("_", " ") for m in missing) + " first.",
        )
    available = credit_available(tenant=tenant, membership=membership, currency=currency)
    if available <= 0 or (amount is not None and amount > available):
        return CreditRefusal(
            "credit_limit_exceeded", f"Not enough credit left ({available} {currency} available)."
        )
    return None


def credit_refusal(
    *, tenant: Tenant, membership: Membership, currency: str, amount: Decimal | None = None
) -> str | None:
    """Why this client may not draw (or trade on margin) now, or None if they may."""
    refusal = credit_refusal_of(
        tenant=tenant, membership=membership, currency=currency, amount=amount
    )
    return refusal.message if refusal is not None else None


# --- rates ------


@dataclass(frozen=True)
class RateQuote:
    base_rate: Decimal
    tenor_premium: Decimal
    counterparty_premium: Decimal
    hedge_cost: Decimal

    @property
    def rate(self) -> Decimal:
        return self.base_rate + self.tenor_premium + self.counterparty_premium + self.hedge_cost


def rate_quote(*, line: CreditLine, tenor: str, rating: str | None = None) -> RateQuote:
    """The rate of a contract: base + tenor premium + risk-rating premium + hedge cost."""
    card = line.rate_card
    return RateQuote(
        base_rate=card.base_rate,
        tenor_premium=Decimal(card.tenor_premiums[tenor]),
        counterparty_premium=Decimal(card.rating_premiums[rating or line.risk_rating]),
        hedge_cost=card.hedge_cost_rate,
    )


# --- contracts ------


@dataclass(frozen=True)
class PledgeInput:
    instrument_id: int
    quantity: Decimal
    haircut: Decimal


def _maturity(*, tenor: str, start: date, term_days: int | None, is_open: Callable) -> date:
    if tenor == Tenor.INTRADAY:
        return start + timedelta(days=1)  # interest for the one day; due by the close
    if tenor == Tenor.OVERNIGHT:
        return next_business_day(start, is_open)
    if term_days is None or not 1 <= term_days <= TERM_DAYS_MAX:
        raise invalid({"term_days": [f"Between 1 and {TERM_DAYS_MAX} days."]})
    maturity = start + timedelta(days=term_days)
    while not is_open(maturity):  # a maturity on a closed day moves to the next business day
        maturity += timedelta(days=1)
    return maturity


def _drawdown_post(*, contract: FinancingContract, key: str, actor: Any) -> JournalEntry:
    tenant, currency, amount = contract.tenant, contract.currency, contract.principal
    client = client_cash_account(tenant=tenant, membership=contract.membership, currency=currency)
    legs = [
        Leg(
            house_account(tenant=tenant, kind="loan_receivable", currency=currency).pk,
            Side.DEBIT,
            amount,
        ),
        Leg(
            house_account(tenant=tenant, kind="custodian_bank", currency=currency).pk,
            Side.DEBIT,
            amount,
        ),
        Leg(
            house_account(tenant=tenant, kind="funding_pool", currency=currency).pk,
            Side.CREDIT,
            amount,
        ),
        Leg(client.pk, Side.CREDIT, amount),
    ]
    return entry_post(
        tenant=tenant,
        entry_type="loan_drawdown",
        legs=legs,
        idempotency_key=key,
        memo=f"financing contract {contract.pk} ({contract.tenor}) from pool {contract.pool.name}",
        actor=actor,
    )


def contract_draw(
    *,
    tenant: Tenant,
    membership: Membership,
    actor: Any,
    currency: str,
    amount: Any,
    tenor: str,
    idempotency_key: str,
    term_days: int | None = None,
    pledges: list[PledgeInput] | None = None,
    business_date: date | None = None,
    request: HttpRequest | None = None,
) -> FinancingContract:
    """Draw credit: checks the line, the signatures and the limit, picks the pool, posts."""
    currency = _currency(currency)
    value = _money(amount, currency=currency)
    if tenor not in Tenor.values:
        raise invalid({"tenor": [f"Choose one of {', '.join(Tenor.values)}."]})
    if not (idempotency_key or "").strip():
        raise invalid({"idempotency_key": ["A drawdown needs an idempotency key."]})
    key = f"financing:draw:{membership.pk}:{idempotency_key}"
    with transaction.atomic():
        line = _line_lock(tenant=tenant, membership=membership, currency=currency)
        replayed = FinancingContract.objects.filter(tenant=tenant, draw_key=key).first()
        if replayed is not None:  # the same request again: its first answer, nothing new
            return replayed
        refusal = credit_refusal_of(
            tenant=tenant, membership=membership, currency=currency, amount=value
        )
        if refusal is not None:
            raise ApplicationError(403, "credit_refused", refusal.message)
        assert line is not None
        if tenor not in line.allowed_tenors:
            raise invalid({"tenor": ["This tenor is not allowed on your credit line."]})
        if tenor == Tenor.REPO and not pledges:
            raise invalid({"pledges": ["Repo financing needs pledged securities."]})
        contract, _entry = _contract_open(
            line=line,
            actor=actor,
            amount=value,
            tenor=tenor,
            key=key,
            term_days=term_days,
            pledges=pledges,
            business_date=business_date,
            request=request,
        )
    return contract


def _line_lock(*, tenant: Tenant, membership: Membership, currency: str) -> CreditLine | None:
    """The client's line in ``currency``, locked: one drawdown at a time per line."""
    line = credit_line_for(tenant=tenant, membership=membership, currency=currency)
    if line is None:
        return None
    return CreditLine.objects.select_for_update().get(pk=line.pk)


def _contract_open(
    *,
    line: CreditLine,
    actor: Any,
    amount: Decimal,
    tenor: str,
    key: str,
    term_days: int | None = None,
    pledges: list[PledgeInput] | None = None,
    business_date: date | None = None,
    request: HttpRequest | None = None,
    audit_extra: dict[str, Any] | None = None,
) -> tuple[FinancingContract, JournalEntry]:
    """A checked drawdown on ``line`` (the caller holds its lock): the contract at today's
    quote, funded by a pool, and its ledger entry."""
    tenant, membership, currency = line.tenant, line.membership, line.currency
    is_open = tenant_calendar(tenant=tenant)
    start = business_date or business_date_today(tenant=tenant)
    maturity = _maturity(tenor=tenor, start=start, term_days=term_days, is_open=is_open)
    quote = rate_quote(line=line, tenor=tenor)
    pool = pool_choose(tenant=tenant, currency=currency, amount=amount)
    signature = signature_current(tenant=tenant, membership=membership, kind="credit_agreement")
    contract = FinancingContract.objects.create(
        tenant=tenant,
        credit_line=line,
        membership=membership,
        pool=pool,
        tenor=tenor,
        currency=currency,
        principal=amount,
        outstanding=amount,
        base_rate=quote.base_rate,
        tenor_premium=quote.tenor_premium,
        counterparty_premium=quote.counterparty_premium,
        hedge_cost=quote.hedge_cost,
        rate=quote.rate,
        day_count=day_count_for(currency),
        start_date=start,
        maturity_date=maturity,
        charging=(
            FinancingContract.Charging.MONTHLY
            if tenor in (Tenor.TERM, Tenor.REPO)
            else FinancingContract.Charging.MATURITY
        ),
        signature=signature,
        draw_key=key,
    )
    if tenor == Tenor.REPO:
        _pledges_record(contract=contract, pledges=pledges or [], amount=amount)
    entry = _drawdown_post(contract=contract, key=key, actor=actor)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="financing.drawdown",
        object_type="financing_contract",
        object_id=contract.pk,
        payload={
            "amount": amount,
            "currency": currency,
            "tenor": tenor,
            "pool": pool.pk,
            "rate": quote.rate,
            "maturity": maturity.isoformat(),
            "signature": signature.pk if signature else None,
            **(audit_extra or {}),
        },
        request=request,
    )
    return contract, entry


# A margin purchase borrows on the rolling tenor when the line allows it: it is repaid from the
# client's cash or sale proceeds whenever they come, not on a fixed date.
PURCHASE_TENORS = (Tenor.OVERNIGHT, Tenor.INTRADAY, Tenor.TERM)


def purchase_draw(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    membership: Membership | None,
    actor: Any,
    amount: Decimal,
    idempotency_key: str,
    order_key: str = "",
) -> JournalEntry:
    """Lend the cash a margin purchase needs beyond the client's own (``risk.hooks``
    ``purchase_funding``): the credit gate's checks (line active, current documents signed,
    limit left, the line's leverage cap), then a new contract and its ``loan_drawdown`` entry.
    The same key returns the first entry. A refusal is ``ApplicationError`` 422 with the
    reason's code, and nothing is written."""
    currency = account.currency
    membership = membership or account.owner
    if account.kind != "client_cash" or membership is None or account.owner_id != membership.pk:
        raise ApplicationError(
            422, "not_client_account", "Credit is lent only to the client's own cash account."
        )
    value = _money(amount, currency=currency)
    if not (idempotency_key or "").strip():
        raise invalid({"idempotency_key": ["A drawdown needs an idempotency key."]})
    key = f"financing:purchase:{membership.pk}:{idempotency_key}"
    with transaction.atomic():
        line = _line_lock(tenant=tenant, membership=membership, currency=currency)
        account = LedgerAccount.objects.get(pk=account.pk)  # the cash as of the lock
        replayed = FinancingContract.objects.filter(tenant=tenant, draw_key=key).first()
        if replayed is not None:
            if replayed.principal != value:
                raise ApplicationError(
                    409,
                    "idempotency_conflict",
                    "This idempotency key already funded a different amount.",
                    {"idempotency_key": ["used before with another amount"]},
                )
            return JournalEntry.objects.get(tenant=tenant, idempotency_key=key)
        refusal = credit_refusal_of(
            tenant=tenant, membership=membership, currency=currency, amount=value
        )
        if refusal is not None:
            raise ApplicationError(
                422, refusal.code, refusal.message, {"amount": [refusal.message]}
            )
        assert line is not None
        if purchase_leverage(tenant=tenant, account=account, amount=value) > line.leverage_cap:
            message = (
                f"This purchase would take your leverage above your cap of {line.leverage_cap}."
            )
            raise ApplicationError(422, "leverage_cap_exceeded", message, {"amount": [message]})
        tenor = next((t for t in PURCHASE_TENORS if t in line.allowed_tenors), None)
        if tenor is None:
            message = "The credit line allows no tenor a margin purchase can use."
            raise ApplicationError(422, "tenor_not_allowed", message, {"amount": [message]})
        _contract, entry = _contract_open(
            line=line,
            actor=actor,
            amount=value,
            tenor=tenor,
            key=key,
            term_days=TERM_DAYS_MAX if tenor == Tenor.TERM else None,
            audit_extra={"order": order_key, "purpose": "margin_purchase"},
        )
    return entry


def purchase_leverage(*, tenant: Tenant, account: LedgerAccount, amount: Decimal) -> Decimal:
    """Gross market value over equity once a purchase costing ``amount`` plus the client's
    free cash is made (the drawdown adds as much cash as loan, so the equity is today's);
    infinite without positive equity."""
    from risk.selectors import margin_status

    now = margin_status(tenant=tenant, account=account)
    equity = Decimal(str(now.equity))
    if equity <= 0:
        return Decimal("Infinity")
    gross = Decimal(str(now.long_market_value)) + Decimal(str(now.short_market_value))
    return (gross + amount + max(Decimal(0), account.available)) / equity


def _pledges_record(
    *, contract: FinancingContract, pledges: list[PledgeInput], amount: Decimal
) -> None:
    """Value each pledge at the oracle's price less its haircut; together they must cover the
    amount lent."""
    from risk.models import Instrument
    from risk.oracle import oracle_prices

    instruments = {
        i.pk: i for i in Instrument.objects.filter(pk__in=[p.instrument_id for p in pledges])
    }
    missing = [p.instrument_id for p in pledges if p.instrument_id not in instruments]
    if missing:
        raise invalid({"pledges": [f"No instrument {i}." for i in missing]})
    prices = oracle_prices(instruments=list(instruments.values()))
    total = Decimal(0)
    rows = []
    for pledge in pledges:
        if pledge.quantity <= 0 or not Decimal(0) <= pledge.haircut < 1:
            raise invalid({"pledges": ["Quantity above zero and a haircut in [0, 1)."]})
        instrument = instruments[pledge.instrument_id]
        quote = prices.get(instrument.symbol)
        price = quote.price if quote is not None and not quote.reason else None
        if price is None:
            raise invalid({"pledges": [f"No trusted price for {instrument.symbol}."]})
        value = money_round(
            pledge.quantity * price * (1 - pledge.haircut), quantum(contract.currency)
        )
        total += value
        rows.append(
            Pledge(
                tenant=contract.tenant,
                contract=contract,
                instrument=instrument,
                quantity=pledge.quantity,
                price=price,
                haircut=pledge.haircut,
                collateral_value=value,
            )
        )
    if total < amount:
        raise invalid({"pledges": [f"The pledged collateral ({total}) does not cover {amount}."]})
    Pledge.objects.bulk_create(rows)


def access_contract_by_id(
    *, tenant: Tenant, membership: Membership, contract_id: object
) -> FinancingContract:
    """A client reaches only their own contracts; staff every contract of the tenant."""
    contract = access_object_by_id(FinancingContract, tenant=tenant, object_id=contract_id)
    if membership.role == Role.CLIENT and contract.membership_id != membership.pk:
        return access_object_by_id(FinancingContract, tenant=tenant, object_id=-1)
    return contract


def _repayment_post(
    *, contract: FinancingContract, principal: Decimal, interest: Decimal, key: str, actor: Any
) -> None:
    tenant, currency = contract.tenant, contract.currency
    client = client_cash_account(tenant=tenant, membership=contract.membership, currency=currency)
    receivable = house_account(tenant=tenant, kind="loan_receivable", currency=currency)
    legs = [
        Leg(client.pk, Side.DEBIT, principal + interest),
        Leg(receivable.pk, Side.CREDIT, principal + interest),
    ]
    if principal > 0:
        legs += [
            Leg(
                house_account(tenant=tenant, kind="funding_pool", currency=currency).pk,
                Side.DEBIT,
                principal,
            ),
            Leg(
                house_account(tenant=tenant, kind="custodian_bank", currency=currency).pk,
                Side.CREDIT,
                principal,
            ),
        ]
    entry_post(
        tenant=tenant,
        entry_type="loan_repayment",
        legs=legs,
        idempotency_key=key,
        memo=f"financing contract {contract.pk} repaid",
        actor=actor,
    )


def contract_repay(
    *,
    tenant: Tenant,
    membership: Membership,
    actor: Any,
    contract_id: object,
    amount: Any,
    idempotency_key: str,
    request: HttpRequest | None = None,
) -> FinancingContract:
    """Repay from the client's cash: interest charged and unpaid first, then principal."""
    contract = access_contract_by_id(tenant=tenant, membership=membership, contract_id=contract_id)
    value = _money(amount, currency=contract.currency)
    if not (idempotency_key or "").strip():
        raise invalid({"idempotency_key": ["A repayment needs an idempotency key."]})
    with transaction.atomic():
        contract = FinancingContract.objects.select_for_update().get(pk=contract.pk)
        if contract.status not in (FinancingContract.Status.OPEN, FinancingContract.Status.OVERDUE):
            raise ApplicationError(409, "contract_closed", f"This contract is {contract.status}.")
        key = f"financing:repay:{contract.pk}:{idempotency_key}"
        if _entry_exists(tenant=tenant, key=key):  # the same repayment again: nothing new
            return contract
        owed = contract.outstanding + contract.interest_owed
        if value > owed:
            raise invalid({"amount": [f"At most {owed} is owed on this contract."]})
        interest = min(value, contract.interest_owed)
        principal = value - interest
        _repayment_post(
            contract=contract, principal=principal, interest=interest, key=key, actor=actor
        )
        _contract_reduce(contract=contract, principal=principal, interest=interest)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="financing.repayment",
            object_type="financing_contract",
            object_id=contract.pk,
            payload={"principal": principal, "interest": interest, "status": contract.status},
            request=request,
        )
    return contract


def _contract_reduce(*, contract: FinancingContract, principal: Decimal, interest: Decimal) -> None:
    contract.outstanding -= principal
    contract.interest_owed -= interest
    fields = ["outstanding", "interest_owed"]
    if contract.outstanding == 0 and contract.interest_owed == 0:
        contract.status = FinancingContract.Status.REPAID
        contract.closed_at = timezone.now()
        fields += ["status", "closed_at"]
    contract.save(update_fields=fields)


def _entry_exists(*, tenant: Tenant, key: str) -> bool:
    return JournalEntry.objects.filter(tenant=tenant, idempotency_key=key).exists()


# --- interest ------


def _accrued_until(contract: FinancingContract) -> date:
    last = contract.accruals.order_by("-period_end").values_list("period_end", flat=True).first()
    return last or contract.start_date


def interest_accrue(*, tenant: Tenant, business_date: date) -> int:
    """Accrue one business date's interest on every open contract; a second run for the same
    date adds nothing (one accrual per contract and business date). Returns rows written."""
    is_open = tenant_calendar(tenant=tenant)
    if not is_open(business_date):
        return 0
    written = 0
    contracts = FinancingContract.objects.filter(
        tenant=tenant,
        status__in=[FinancingContract.Status.OPEN, FinancingContract.Status.OVERDUE],
        start_date__lte=business_date,
    ).order_by("pk")
    for contract in contracts:
        with transaction.atomic():
            locked = FinancingContract.objects.select_for_update().get(pk=contract.pk)
            if InterestAccrual.objects.filter(
                tenant=tenant, contract=locked, business_date=business_date
            ).exists():
                continue
            period = accrual_period(
                business_date=business_date,
                accrued_until=_accrued_until(locked),
                maturity=locked.maturity_date,
                is_open=is_open,
            )
            if period is None:
                continue
            InterestAccrual.objects.create(
                tenant=tenant,
                contract=locked,
                business_date=business_date,
                period_start=period.start,
                period_end=period.end,
                days=period.days,
                principal=locked.outstanding,
                rate=locked.rate,
                day_count=locked.day_count,
                amount=interest_for(
                    principal=locked.outstanding,
                    rate=locked.rate,
                    days=period.days,
                    day_count=locked.day_count,
                ),
            )
            written += 1
    return written


def interest_charge(
    *, tenant: Tenant, contract: FinancingContract, until: date, actor: Any = None
) -> InterestCharge | None:
    """Charge the interest accrued for days before ``until`` and not charged yet (the caller
    holds the contract's lock). From the client's cash, or added to the loan if it is short.
    Charging the same period twice charges once."""
    if InterestCharge.objects.filter(tenant=tenant, contract=contract, period_end=until).exists():
        return None
    charged_until = (
        contract.charges.order_by("-period_end").values_list("period_end", flat=True).first()
    )
    accruals = contract.accruals.filter(period_end__lte=until)
    if charged_until:
        accruals = accruals.filter(period_end__gt=charged_until)
    accrued = accruals.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    amount = money_round(accrued, quantum(contract.currency))
    if amount <= 0:
        return None
    currency = contract.currency
    client = client_cash_account(tenant=tenant, membership=contract.membership, currency=currency)
    capitalised = client.available < amount
    source = (
        house_account(tenant=tenant, kind="loan_receivable", currency=currency)
        if capitalised
        else client
    )
    entry = transfer_post(
        tenant=tenant,
        debit_account=source.pk,
        credit_account=house_account(tenant=tenant, kind="interest_income", currency=currency).pk,
        amount=amount,
        currency=currency,
        entry_type="interest",
        idempotency_key=f"financing:interest:{contract.pk}:{until.isoformat()}",
        memo=f"interest on financing contract {contract.pk} to {until.isoformat()}",
        actor=actor,
    )
    charge = InterestCharge.objects.create(
        tenant=tenant,
        contract=contract,
        period_end=until,
        accrued=accrued,
        amount=amount,
        capitalised=capitalised,
        entry_id=entry.pk,
    )
    if capitalised:
        contract.interest_owed += amount
        contract.save(update_fields=["interest_owed"])
    return charge


def _rollover(*, contract: FinancingContract, business_date: date, actor: Any) -> FinancingContract:
    """Roll an overnight (or unpaid intraday) contract into a new overnight one: interest to
    date is charged, the principal carries over (same pool, no cash moves)."""
    tenant = contract.tenant
    interest_charge(tenant=tenant, contract=contract, until=contract.maturity_date, actor=actor)
    contract.refresh_from_db()
    is_open = tenant_calendar(tenant=tenant)
    quote = rate_quote(line=contract.credit_line, tenor=Tenor.OVERNIGHT)
    new = FinancingContract.objects.create(
        tenant=tenant,
        credit_line=contract.credit_line,
        membership=contract.membership,
        pool=contract.pool,
        rolled_from=contract,
        tenor=Tenor.OVERNIGHT,
        currency=contract.currency,
        principal=contract.outstanding,
        outstanding=contract.outstanding,
        interest_owed=contract.interest_owed,
        base_rate=quote.base_rate,
        tenor_premium=quote.tenor_premium,
        counterparty_premium=quote.counterparty_premium,
        hedge_cost=quote.hedge_cost,
        rate=quote.rate,
        day_count=contract.day_count,
        start_date=contract.maturity_date,
        maturity_date=next_business_day(max(contract.maturity_date, business_date), is_open),
        charging=FinancingContract.Charging.MATURITY,
        signature=contract.signature,
    )
    contract.status = FinancingContract.Status.ROLLED
    contract.closed_at = timezone.now()
    contract.outstanding = Decimal(0)
    contract.interest_owed = Decimal(0)
    contract.save(update_fields=["status", "closed_at", "outstanding", "interest_owed"])
    audit_record(
        tenant=tenant,
        actor=actor,
        actor_label="" if actor else "financing.day_close",
        action="financing.rollover",
        object_type="financing_contract",
        object_id=contract.pk,
        payload={
            "new_contract": new.pk,
            "principal": new.principal,
            "rate": new.rate,
            "maturity": new.maturity_date.isoformat(),
        },
    )
    return new


def contract_rollover(
    *, tenant: Tenant, actor: Any, contract_id: object, business_date: date | None = None
) -> FinancingContract:
    """Roll a contract on or after its maturity (the day close does it by itself)."""
    contract = access_object_by_id(FinancingContract, tenant=tenant, object_id=contract_id)
    day = business_date or business_date_today(tenant=tenant)
    with transaction.atomic():
        contract = FinancingContract.objects.select_for_update().get(pk=contract.pk)
        if contract.status != FinancingContract.Status.OPEN:
            raise ApplicationError(409, "contract_closed", f"This contract is {contract.status}.")
        if contract.tenor not in (Tenor.OVERNIGHT, Tenor.INTRADAY):
            raise ApplicationError(409, "not_rolling", "Only overnight financing rolls over.")
        if day < contract.maturity_date:
            raise ApplicationError(409, "not_due", "This contract is not due yet.")
        return _rollover(contract=contract, business_date=day, actor=actor)


def _mature(*, contract: FinancingContract, actor: Any) -> None:
    """A term or repo contract at maturity: interest charged, then repaid from the client's
    cash if it suffices, else overdue (the margin loop sees the debt)."""
    tenant = contract.tenant
    interest_charge(tenant=tenant, contract=contract, until=contract.maturity_date, actor=actor)
    contract.refresh_from_db()
    client = client_cash_account(
        tenant=tenant, membership=contract.membership, currency=contract.currency
    )
    owed = contract.outstanding + contract.interest_owed
    if client.available >= owed:
        _repayment_post(
            contract=contract,
            principal=contract.outstanding,
            interest=contract.interest_owed,
            key=f"financing:mature:{contract.pk}",
            actor=actor,
        )
        _contract_reduce(
            contract=contract, principal=contract.outstanding, interest=contract.interest_owed
        )
    else:
        contract.status = FinancingContract.Status.OVERDUE
        contract.save(update_fields=["status"])
    audit_record(
        tenant=tenant,
        actor=actor,
        actor_label="" if actor else "financing.day_close",
        action="financing.matured",
        object_type="financing_contract",
        object_id=contract.pk,
        payload={"status": contract.status},
    )


@dataclass(frozen=True)
class DayClose:
    accrued: int
    charged: int
    rolled: int
    matured: int


def financing_day_close(*, tenant: Tenant, business_date: date, actor: Any = None) -> DayClose:
    """The business day's run: accrue, charge monthly interest on the first business day of a
    month, roll overnight contracts and mature term ones that are due. Idempotent."""
    is_open = tenant_calendar(tenant=tenant)
    if not is_open(business_date):
        return DayClose(0, 0, 0, 0)
    charged = rolled = matured = 0
    # Due contracts first: their last accrual period ends at maturity.
    due = FinancingContract.objects.filter(
        tenant=tenant, status=FinancingContract.Status.OPEN, maturity_date__lte=business_date
    ).order_by("pk")
    for contract in due:
        with transaction.atomic():
            locked = FinancingContract.objects.select_for_update().get(pk=contract.pk)
            if locked.status != FinancingContract.Status.OPEN:
                continue
            _accrue_to_maturity(contract=locked, is_open=is_open)
            if locked.tenor in (Tenor.OVERNIGHT, Tenor.INTRADAY):
                _rollover(contract=locked, business_date=business_date, actor=actor)
                rolled += 1
            else:
                _mature(contract=locked, actor=actor)
                matured += 1
    accrued = interest_accrue(tenant=tenant, business_date=business_date)
    month_start = date(business_date.year, business_date.month, 1)
    monthly = FinancingContract.objects.filter(
        tenant=tenant,
        charging=FinancingContract.Charging.MONTHLY,
        status__in=[FinancingContract.Status.OPEN, FinancingContract.Status.OVERDUE],
        start_date__lt=month_start,
    ).order_by("pk")
    for contract in monthly:
        with transaction.atomic():
            locked = FinancingContract.objects.select_for_update().get(pk=contract.pk)
            if interest_charge(tenant=tenant, contract=locked, until=month_start, actor=actor):
                charged += 1
    return DayClose(accrued, charged, rolled, matured)


def _accrue_to_maturity(*, contract: FinancingContract, is_open: Callable[[date], bool]) -> None:
    """Close the contract's accrual up to maturity (days not yet covered by a business-day run,
    e.g. when the day close did not run), recorded on the maturity's business date."""
    until = _accrued_until(contract)
    while until < contract.maturity_date:
        end = min(contract.maturity_date, first_of_next_month(until))
        day = end - timedelta(days=1)
        if InterestAccrual.objects.filter(
            tenant=contract.tenant, contract=contract, business_date=day
        ).exists():
            break
        InterestAccrual.objects.create(
            tenant=contract.tenant,
            contract=contract,
            business_date=day,
            period_start=until,
            period_end=end,
            days=(end - until).days,
            principal=contract.outstanding,
            rate=contract.rate,
            day_count=contract.day_count,
            amount=interest_for(
                principal=contract.outstanding,
                rate=contract.rate,
                days=(end - until).days,
                day_count=contract.day_count,
            ),
        )
        until = end


# --- liquidation proceeds ------


def liquidation_proceeds_apply(
    *, tenant: Tenant, membership: Membership, currency: str, amount: Decimal, reference: str
) -> Decimal:
    """Apply up to ``amount`` of the client's cash (a liquidation's proceeds) to their loans,
    oldest contract first, interest before principal. Idempotent per ``reference``. Returns
    what was applied."""
    remaining = amount
    applied = Decimal(0)
    with transaction.atomic():
        client = client_cash_account(tenant=tenant, membership=membership, currency=currency)
        LedgerAccount.objects.select_for_update().filter(pk=client.pk).first()
        if JournalEntry.objects.filter(
            tenant=tenant, idempotency_key__startswith=f"financing:liquidation:{reference}:"
        ).exists():  # this liquidation was applied already
            return Decimal(0)
        contracts = (
            FinancingContract.objects.select_for_update()
            .filter(
                tenant=tenant,
                membership=membership,
                currency=currency,
                status__in=[FinancingContract.Status.OPEN, FinancingContract.Status.OVERDUE],
            )
            .order_by("start_date", "pk")
        )
        remaining = min(remaining, client.available)
        for contract in contracts:
            if remaining <= 0:
                break
            interest = min(remaining, contract.interest_owed)
            principal = min(remaining - interest, contract.outstanding)
            if interest + principal <= 0:
                continue
            _repayment_post(
                contract=contract,
                principal=principal,
                interest=interest,
                key=f"financing:liquidation:{reference}:{contract.pk}",
                actor=None,
            )
            _contract_reduce(contract=contract, principal=principal, interest=interest)
            remaining -= interest + principal
            applied += interest + principal
        if applied:
            audit_record(
                tenant=tenant,
                actor=None,
                actor_label="financing.liquidation_settled",
                action="financing.proceeds_applied",
                object_type="membership",
                object_id=membership.pk,
                payload={"reference": reference, "currency": currency, "applied": applied},
            )
    return applied


# --- the liquidity buffer ------


def buffer_fund(
    *,
    tenant: Tenant,
    actor: Any,
    currency: str,
    amount: Any,
    idempotency_key: str,
    request: HttpRequest | None = None,
) -> Decimal:
    """The house sets money aside in the liquidity buffer (house cash earmarked, same class)."""
    currency = _currency(currency)
    value = _money(amount, currency=currency)
    if not (idempotency_key or "").strip():
        raise invalid({"idempotency_key": ["A one-time key is required."]})
    with transaction.atomic():
        buffer = house_account(tenant=tenant, kind="liquidity_buffer", currency=currency)
        transfer_post(
            tenant=tenant,
            debit_account=house_account(tenant=tenant, kind="house_cash", currency=currency).pk,
            credit_account=buffer.pk,
            amount=value,
            currency=currency,
            entry_type="transfer",
            idempotency_key=f"financing:buffer:{idempotency_key}",
            memo="liquidity buffer funded",
            actor=actor,
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="financing.buffer_funded",
            object_type="ledger_account",
            object_id=buffer.pk,
            payload={"currency": currency, "amount": value},
            request=request,
        )
        buffer.refresh_from_db()
    return buffer.balance
