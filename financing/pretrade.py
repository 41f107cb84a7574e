"""Financing's gate in the risk app's pre-trade check, and its listener for settled
liquidations (registered in ``FinancingConfig.ready``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from financing.services import credit_line_for, credit_refusal, liquidation_proceeds_apply
from platform_core.tenancy.models import Membership, Tenant


def margin_order_gate(
    *, tenant: Tenant, account: Any, membership: Membership, orders: Any, result_after: Any
) -> str | None:
    """No margin order without an active credit line, the current documents signed and credit
    left. An order is a margin order when, filled, it would leave the account's cash below
    zero: the shortfall is what it borrows. Reads only."""
    cash_after = Decimal(str(getattr(result_after, "cash", 0)))
    if cash_after >= 0:
        return None
    currency = getattr(account, "currency", None) or getattr(result_after, "currency", "")
    refusal = credit_refusal(
        tenant=tenant, membership=membership, currency=currency, amount=-cash_after
    )
    if refusal is not None:
        return _("This order needs credit: %(why)s") % {"why": refusal}
    line = credit_line_for(tenant=tenant, membership=membership, currency=currency)
    equity = Decimal(str(getattr(result_after, "equity", 0)))
    exposure = Decimal(str(getattr(result_after, "long_market_value", 0))) + Decimal(
        str(getattr(result_after, "short_market_value", 0))
    )
    if line is not None and (equity <= 0 or exposure / equity > line.leverage_cap):
        return _("This order would take your leverage above your cap of %(cap)s.") % {
            "cap": line.leverage_cap
        }
    return None


def liquidation_settled_apply(payload: dict[str, Any]) -> None:
    """risk.liquidation_settled: apply the proceeds to the client's loans (idempotent per
    liquidation: each repayment entry's key names it)."""
    from platform_core.tenancy.rls import rls_context

    tenant = Tenant.objects.get(pk=payload["tenant"])
    with rls_context(tenant=tenant):
        membership = Membership.objects.get(tenant=tenant, pk=payload["membership"])
        liquidation_proceeds_apply(
            tenant=tenant,
            membership=membership,
            currency=payload["currency"],
            amount=Decimal(str(payload["proceeds"])),
            reference=str(payload["liquidation"]),
        )
