"""What financing needs to know about a client, from the KYC app: class, rating, suitability."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kyc.selectors import (
    investor_class_for,
    monitoring_hold_for,
    risk_rating_for,
    suitability_for,
)
from platform_core.tenancy.models import Membership, Tenant

# Options are R4 products or riskier (CSRC suitability rules, as risk's pre-trade check reads
# them); the other kinds' levels are per instrument, checked on each order.
OPTION_MIN_LEVEL = 4


@dataclass(frozen=True)
class ClientProfile:
    investor_class: str
    risk_rating: str  # "low", "medium" or "high"
    leverage_cap: Decimal | None  # gross market value over equity; None: suitability sets none
    allowed_products: frozenset[str] | None  # None: suitability restricts nothing


def client_profile(*, tenant: Tenant, membership: Membership) -> ClientProfile | None:
    """The client's profile, or None while KYC has not rated them (no credit without it).

    KYC's suitability cap is the financing a client may take per unit of their own equity;
    a credit line's cap is gross market value over equity, i.e. one more (own money plus
    borrowed, over own money)."""
    rating = risk_rating_for(tenant=tenant, membership=membership)
    if not rating:
        return None
    investor_class = investor_class_for(tenant=tenant, membership=membership)
    suitability = suitability_for(tenant=tenant, membership=membership)
    if suitability is None:
        return ClientProfile(str(investor_class or ""), str(rating), None, None)
    levels = [int(level[1:]) for level in suitability["allowed_risk_levels"]]
    products = {"stock", "etf", "index"}
    if max(levels, default=0) >= OPTION_MIN_LEVEL:
        products.add("option")
    return ClientProfile(
        investor_class=str(investor_class or ""),
        risk_rating=str(rating),
        leverage_cap=1 + Decimal(str(suitability["leverage_cap"])),
        allowed_products=frozenset(products),
    )


def client_held(*, tenant: Tenant, membership: Membership) -> bool:
    """An open AML monitoring alert that blocks the client (KYC's hold): no new credit."""
    return bool(monitoring_hold_for(tenant=tenant, membership=membership))
