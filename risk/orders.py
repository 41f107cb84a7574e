"""Orders: the pre-trade check, the simulated fill and its settlement (writes).

Every order passes the pre-trade check first (``pretrade_check``), which asks the same engine
and prices as the what-if (``risk.selectors.margin_what_if``), so the two never disagree:

1. the margin after the order: its initial requirement must be covered by the equity, unless
   the order lowers the requirement (a closing or hedging order is always let through);
2. the tenant policy's leverage cap (gross market value over equity), unless the order lowers
   the leverage;
3. suitability: the product's risk level (R1-R5: the instrument's ``risk_tier``; options at
   least R4) must be one the client's KYC assessment allows (C1-C5; CSRC suitability rules);
   a client without an approved assessment may not trade (``RISK_SUITABILITY_REQUIRED``);
4. the gates apps above risk register (``risk.hooks.pretrade_gates``), in key order.

A refused order raises ``ApplicationError(422, "pretrade_refused")`` and writes nothing. A
passed order fills at once at the oracle's price with a spread and slippage against the client
(``fill_price``), its cash settles through the ledger (client money <-> the client-money bank
account, under the ``transfer`` entry type with the order in the memo) and the position moves,
all in one transaction, with an audit event. The order's idempotency key makes a replay
return the first fill. A purchase that needs more cash than the client has free is lent the
difference by the lender registered in ``risk.hooks.purchase_funding`` before it settles.

``order_fill`` is the fill and settlement alone, without the check: the operations loop's
liquidation closes positions through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from ledger.models import LedgerAccount
from ledger.rules import Side, quantum
from ledger.services import Leg, entry_post
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.selectors import tenant_scoped
from risk.engine.portfolio import PortfolioError
from risk.engine.result import MarginResult
from risk.hooks import pretrade_gates, purchase_funding, suitability_subjects
from risk.models import Instrument, Order, Position
from risk.oracle import OracleError, oracle_prices
from risk.selectors import margin_status, margin_what_if, policy_active
from risk.stored_policy import leverage_of

# The simulated execution. Half the bid-ask spread by instrument kind, plus a slippage that
# grows with the order's notional (``impact`` per ``impact_notional`` of it, at most
# ``max_slippage``); both go against the client. ``settings.RISK_EXECUTION`` overrides them.
EXECUTION_DEFAULTS: dict[str, Any] = {
    "half_spread": {"equity": "0.0005", "etf": "0.0005", "index": "0.0005", "option": "0.02"},
    "impact": "0.0001",
    "impact_notional": "100000",
    "max_slippage": "0.01",
}
PRICE_PLACES = Decimal("0.00000001")
OPTION_MIN_LEVEL = 4  # options are R4 or riskier products under the suitability rules


def _execution() -> dict[str, Any]:
    raw = {**EXECUTION_DEFAULTS, **getattr(settings, "RISK_EXECUTION", {})}
    return {
        "half_spread": {
            k: Decimal(v)
            for k, v in {**EXECUTION_DEFAULTS["half_spread"], **raw["half_spread"]}.items()
        },
        "impact": Decimal(raw["impact"]),
        "impact_notional": Decimal(raw["impact_notional"]),
        "max_slippage": Decimal(raw["max_slippage"]),
    }


def fill_price(*, instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal:
    """The simulated fill: ``price`` moved against the client by half the spread and the
    slippage of this size (a buy pays more, a sell receives less)."""
    model = _execution()
    half_spread = model["half_spread"].get(instrument.kind, model["half_spread"]["equity"])
    notional = abs(quantity) * price * instrument.multiplier
    slippage = min(model["max_slippage"], model["impact"] * notional / model["impact_notional"])
    side = 1 if quantity > 0 else -1
    return (price * (1 + side * (half_spread + slippage))).quantize(PRICE_PLACES)


# --- the pre-trade check ---------------------------------------------------------------------


@dataclass
class PreTradeCheck:
    """The margin before and after the orders, and the first refusal (None: allowed)."""

    before: MarginResult
    after: MarginResult
    refusal: str | None
    refused_by: str = ""


def product_level(instrument: Instrument) -> int:
    level = max(1, min(5, int(instrument.risk_tier)))
    if instrument.kind == "option":
        underlying_tier = instrument.underlying.risk_tier if instrument.underlying else 1
        level = max(level, OPTION_MIN_LEVEL, min(5, int(underlying_tier)))
    return level


def suitability_refusal(
    *, tenant: Tenant, membership: Membership | None, orders: Mapping[Instrument, Decimal]
) -> str | None:
    """The product-risk / investor-class check; None when every product is allowed."""
    try:
        from kyc.selectors import suitability_for  # type: ignore[attr-defined]
    except ImportError:  # KYC does not offer suitability yet
        return None
    suitability = None
    if membership is not None:
        subject_tenant, subject = tenant, membership
        for source in suitability_subjects:
            found = source.subject(tenant=tenant, membership=membership)
            if found is not None:
                subject_tenant, subject = found
                break
        with rls_context(tenant=subject_tenant):
            suitability = suitability_for(tenant=subject_tenant, membership=subject)
    if suitability is None:
        if getattr(settings, "RISK_SUITABILITY_REQUIRED", True):
            return _("Your suitability assessment is not approved yet, so you may not trade.")
        return None
    allowed = set(suitability.get("allowed_risk_levels") or ())
    for instrument in sorted(orders, key=lambda i: i.symbol):
        level = f"R{product_level(instrument)}"
        if level not in allowed:
            return _(
                "%(symbol)s is a %(level)s product, beyond what your investor class %(cls)s allows."
            ) % {
                "symbol": instrument.symbol,
                "level": level,
                "cls": suitability.get("investor_class", ""),
            }
    return None


def pretrade_check(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    membership: Membership | None,
    orders: Mapping[Instrument, Decimal],
    now: datetime | None = None,
) -> PreTradeCheck:
    """Run the pre-trade check (module docstring); reads only.

    Raises ``OracleError`` / ``PortfolioError`` when the account cannot be margined at all.
    """
    now = now or timezone.now()
    before = margin_status(tenant=tenant, account=account, now=now)
    after = margin_what_if(tenant=tenant, account=account, orders=orders, now=now)
    check = PreTradeCheck(before, after, None)
    lowers_requirement = after.initial_requirement <= before.initial_requirement
    if after.excess_initial < 0 and not lowers_requirement:
        check.refusal = _(
            "Not enough margin: after this order the account needs %(needed)s %(currency)s "
            "more equity."
        ) % {
            "needed": format(-after.excess_initial.quantize(quantum(after.currency)), "f"),
            "currency": after.currency,
        }
        check.refused_by = "margin"
        return check
    stored = policy_active(tenant=tenant)
    if stored is not None:
        leverage_after, leverage_before = leverage_of(after), leverage_of(before)
        raises = leverage_before is None or (
            leverage_after is not None and leverage_after > leverage_before
        )
        if leverage_after is not None and leverage_after > stored.leverage_cap and raises:
            check.refusal = _(
                "This order would take the account's leverage above the policy's cap of %(cap)s."
            ) % {"cap": format(stored.leverage_cap.normalize(), "f")}
            check.refused_by = "leverage_cap"
            return check
    refusal = suitability_refusal(tenant=tenant, membership=membership, orders=orders)
    if refusal:
        check.refusal, check.refused_by = refusal, "suitability"
        return check
    for key in pretrade_gates.keys():
        gate = pretrade_gates.get(key)
        if gate is None:
            continue
        message = gate.check(
            tenant=tenant, account=account, membership=membership, orders=orders, result_after=after
        )
        if message:
            check.refusal, check.refused_by = str(message), key
            return check
    return check


# --- placing an order ------------------------------------------------------------------------


def _order_fields(order: Order) -> tuple[Any, ...]:
    return (order.account_id, order.instrument_id, order.quantity.normalize())


def _replay(
    *, tenant: Tenant, key: str, account: LedgerAccount, instrument: Instrument, quantity: Decimal
) -> Order | None:
    existing = tenant_scoped(Order, tenant=tenant).filter(idempotency_key=key).first()
    if existing is None:
        return None
    if _order_fields(existing) != (account.pk, instrument.pk, quantity.normalize()):
        raise ApplicationError(
            409,
            "idempotency_conflict",
            "This idempotency key was already used for a different order.",
            {"idempotency_key": ["used before with other content"]},
        )
    return existing


def _bank_account(*, tenant: Tenant, currency: str) -> LedgerAccount:
    bank = (
        tenant_scoped(LedgerAccount, tenant=tenant)
        .filter(kind="custodian_bank", currency=currency)
        .order_by("pk")
        .first()
    )
    if bank is None:
        raise ApplicationError(
            409, "account_missing", f"There is no custodian bank account in {currency}."
        )
    return bank


def account_trade_lock(*, tenant: Tenant, account: LedgerAccount) -> None:
    """Serialise trading on one account until the transaction ends (one advisory lock).

    Re-entrant within a transaction. A caller that also locks the account's ledger row
    (``select_for_update``) must take this lock first, as ``order_place`` does, so two paths
    never wait on each other in opposite orders.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"risk.order:{tenant.pk}:{account.pk}"],
        )


def _quantity_check(quantity: Decimal) -> None:
    if quantity == 0 or not quantity.is_finite():
        raise ApplicationError(
            400,
            "invalid",
            "The request has invalid fields.",
            {"quantity": ["An order needs a non-zero quantity."]},
        )


def order_fill(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    instrument: Instrument,
    quantity: Decimal,
    actor: Any,
    idempotency_key: str,
    membership: Membership | None = None,
    entry_type: str = "transfer",
    memo_prefix: str = "trade settlement",
    at_market: bool = False,
    shortfall_funding: Callable[[Decimal], Any] | None = None,
    policy: str = "",
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Order:
    """Fill one order and settle it: price, cash, ledger entry, position, order row, audit.

    No pre-trade check: ``order_place`` runs it before calling this; the operations loop's
    liquidation closes positions without one. What it guarantees:

    - **idempotent per key**: the same ``idempotency_key`` returns the first ``Order`` and
      writes nothing; the same key with another account, instrument or quantity is a 409
      ``idempotency_conflict``;
    - **one advisory lock per account** (``account_trade_lock``), taken first, held to the end
      of the caller's transaction;
    - **nothing written on refusal**: one ``transaction.atomic`` block; a refusal (400
      ``invalid`` for a zero quantity or a fill too small to move a cent, 422
      ``price_unavailable``, 409 ``account_missing``, the ledger's 422 ``insufficient_funds``,
      anything ``shortfall_funding`` raises) leaves no order, entry, position or audit row.

    The fill is at the oracle's price moved against the client by the simulated spread and
    slippage (``fill_price``), or at the oracle's price itself with ``at_market``. The cash
    rounds against the client to the currency's minor unit and settles between the client's
    money and the client-money bank account under ``entry_type`` (``transfer``, or
    ``liquidation`` for the operations loop), memo ``"<memo_prefix>: buy 100 XYZ at 50.02"``.
    When a purchase costs more than the account's free cash, ``shortfall_funding(amount)`` is
    called with the difference before the settlement entry, to put that cash in the account;
    without it the ledger refuses the entry. ``policy`` names the policy the order was checked
    under (recorded on the order).
    """
    _quantity_check(quantity)
    with transaction.atomic():
        account_trade_lock(tenant=tenant, account=account)
        replayed = _replay(
            tenant=tenant,
            key=idempotency_key,
            account=account,
            instrument=instrument,
            quantity=quantity,
        )
        if replayed is not None:
            return replayed
        now = now or timezone.now()
        try:
            oracle = oracle_prices(instruments=[instrument], now=now)[instrument.symbol]
        except OracleError as exc:
            raise ApplicationError(
                422, "price_unavailable", str(exc), {"symbol": [f"{exc.symbol}: no quote"]}
            ) from None
        market = oracle.observed if oracle.observed is not None else oracle.price
        price = (
            market.quantize(PRICE_PLACES)
            if at_market
            else fill_price(instrument=instrument, quantity=quantity, price=market)
        )
        # The cash rounds against the client: a purchase costs up to the cent above, a sale
        # brings in the cent below.
        cash = (-quantity * price * instrument.multiplier).quantize(
            quantum(account.currency), rounding=ROUND_FLOOR
        )
        if cash == 0:
            raise ApplicationError(
                400,
                "invalid",
                "The request has invalid fields.",
                {"quantity": ["The order is too small to move any money."]},
            )
        bank = _bank_account(tenant=tenant, currency=account.currency)
        funding_entry = None
        if cash < 0 and shortfall_funding is not None:
            free = max(LedgerAccount.objects.get(pk=account.pk).available, Decimal(0))
            shortfall = -cash - free
            if shortfall > 0:
                funding_entry = shortfall_funding(shortfall)
        legs = (
            [Leg(account.pk, Side.DEBIT, -cash), Leg(bank.pk, Side.CREDIT, -cash)]
            if cash < 0
            else [Leg(bank.pk, Side.DEBIT, cash), Leg(account.pk, Side.CREDIT, cash)]
        )
        entry = entry_post(
            tenant=tenant,
            entry_type=entry_type,
            legs=legs,
            idempotency_key=f"risk.order:{idempotency_key}",
            memo=f"{memo_prefix}: {'buy' if quantity > 0 else 'sell'} "
            f"{format(abs(quantity).normalize(), 'f')} {instrument.symbol} at {price}",
            actor=actor,
        )
        order = Order.objects.create(
            tenant=tenant,
            account=account,
            membership=membership or account.owner,
            instrument=instrument,
            quantity=quantity,
            oracle_price=market,
            fill_price=price,
            cash=cash,
            currency=account.currency,
            idempotency_key=idempotency_key,
            journal_entry_id=entry.pk,
            policy=policy,
        )
        position = (
            tenant_scoped(Position, tenant=tenant)
            .select_for_update()
            .filter(account=account, instrument=instrument)
            .first()
        )
        if position is None:
            position = Position(
                tenant=tenant, account=account, instrument=instrument, quantity=Decimal(0)
            )
        position.quantity += quantity
        position.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="risk.order.filled",
            object_type="order",
            object_id=order.pk,
            payload={
                "account": account.pk,
                "symbol": instrument.symbol,
                "quantity": format(quantity.normalize(), "f"),
                "fill_price": format(price, "f"),
                "cash": format(cash, "f"),
                "journal_entry": entry.pk,
                "entry_type": entry_type,
                "funding_entry": getattr(funding_entry, "pk", None),
                "policy": policy,
            },
            request=request,
        )
    return order


def _purchase_funding(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    membership: Membership | None,
    actor: Any,
    idempotency_key: str,
) -> Callable[[Decimal], Any] | None:
    """The registered lender of a margin purchase's shortfall (the first by key), if any."""
    for key in purchase_funding.keys():
        funding = purchase_funding.get(key)
        if funding is None:
            continue
        return lambda amount: funding.fund(
            tenant=tenant,
            account=account,
            membership=membership,
            actor=actor,
            amount=amount,
            idempotency_key=f"risk.order:{idempotency_key}:funding",
            order_key=idempotency_key,
        )
    return None


def order_place(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    membership: Membership | None,
    actor: Any,
    instrument: Instrument,
    quantity: Decimal,
    idempotency_key: str,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Order:
    """Check, fill and settle one order (module docstring); the same key returns the first.

    The fill is ``order_fill``'s; a purchase that needs more cash than the client has free is
    lent the difference by the registered ``risk.hooks.purchase_funding`` (after the check,
    before the settlement). Raises ``ApplicationError``: 422 ``pretrade_refused`` (nothing
    written), 422 ``price_unavailable`` / ``portfolio_invalid`` when the account cannot be
    margined, the funding's refusal, the ledger's refusals (e.g. 422 ``insufficient_funds``
    with no funding registered) — in each case nothing is written.
    """
    _quantity_check(quantity)
    if (
        instrument.kind == "option"
        and instrument.expiry
        and instrument.expiry < timezone.localdate()
    ):
        raise ApplicationError(
            400,
            "invalid",
            "The request has invalid fields.",
            {"symbol": [f"{instrument.symbol} has expired."]},
        )
    now = now or timezone.now()
    with transaction.atomic():
        account_trade_lock(tenant=tenant, account=account)
        replayed = _replay(
            tenant=tenant,
            key=idempotency_key,
            account=account,
            instrument=instrument,
            quantity=quantity,
        )
        if replayed is not None:
            return replayed
        account = LedgerAccount.objects.get(pk=account.pk)  # the balance as of the lock
        try:
            check = pretrade_check(
                tenant=tenant,
                account=account,
                membership=membership,
                orders={instrument: quantity},
                now=now,
            )
        except OracleError as exc:
            raise ApplicationError(
                422, "price_unavailable", str(exc), {"symbol": [f"{exc.symbol}: no quote"]}
            ) from None
        except PortfolioError as exc:
            raise ApplicationError(
                422, "portfolio_invalid", str(exc), {exc.field: [exc.problem]}
            ) from None
        if check.refusal is not None:
            raise ApplicationError(
                422,
                "pretrade_refused",
                check.refusal,
                {"orders": [check.refusal], "check": [check.refused_by]},
            )
        return order_fill(
            tenant=tenant,
            account=account,
            instrument=instrument,
            quantity=quantity,
            actor=actor,
            idempotency_key=idempotency_key,
            membership=membership,
            shortfall_funding=_purchase_funding(
                tenant=tenant,
                account=account,
                membership=membership,
                actor=actor,
                idempotency_key=idempotency_key,
            ),
            policy=check.after.policy,
            request=request,
            now=now,
        )


def order_list(*, tenant: Tenant, account: LedgerAccount | None = None):
    queryset = tenant_scoped(Order, tenant=tenant).select_related("instrument")
    if account is not None:
        queryset = queryset.filter(account=account)
    return queryset.order_by("-created_at", "-pk")
