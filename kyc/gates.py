"""The AML monitoring hold, enforced where money moves: risk's pre-trade check and the
ledger's withdrawal request. A client with an open ``block_and_review`` or ``decline``
monitoring alert (``kyc.selectors.monitoring_hold_for``) may neither trade nor withdraw until
compliance closes it; forced liquidations do not pass the pre-trade check and stay possible.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from kyc.selectors import monitoring_hold_for
from platform_core.tenancy.models import Membership, Tenant


def hold_refusal(*, tenant: Tenant, membership: Membership | None) -> str | None:
    if membership is None or not monitoring_hold_for(tenant=tenant, membership=membership):
        return None
    return _(
        "Your account is under review by our compliance team; trading and withdrawals are "
        "paused until the review ends. Please contact us if you have questions."
    )


def monitoring_hold_order_gate(
    *, tenant: Tenant, account: Any, membership: Membership | None, orders: Any, result_after: Any
) -> str | None:
    return hold_refusal(tenant=tenant, membership=membership)


def monitoring_hold_withdrawal_gate(
    *, tenant: Tenant, membership: Membership, currency: str, amount: Any
) -> str | None:
    return hold_refusal(tenant=tenant, membership=membership)
