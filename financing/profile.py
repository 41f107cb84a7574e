"""What financing needs to know about a client, from the KYC app: class, rating, suitability."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kyc.selectors import investor_class_for, risk_rating_for, suitability_for
from platform_core.tenancy.models import Membership, Tenant


@dataclass(frozen=True)
class ClientProfile:
    investor_class: str
    risk_rating: str  # "low", "medium" or "high"
    leverage_cap: Decimal | None  # suitability's cap; None: suitability sets none
    allowed_products: frozenset[str] | None  # None: suitability restricts nothing


def _field(source: Any, name: str) -> Any:
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, name, None)


def client_profile(*, tenant: Tenant, membership: Membership) -> ClientProfile | None:
    """The client's profile, or None while KYC has not rated them (no credit without it)."""
    rating = risk_rating_for(tenant=tenant, membership=membership)
    if not rating:
        return None
    investor_class = investor_class_for(tenant=tenant, membership=membership)
    suitability = suitability_for(tenant=tenant, membership=membership)
    cap = _field(suitability, "leverage_cap") if suitability is not None else None
    products = _field(suitability, "allowed_products") if suitability is not None else None
    return ClientProfile(
        investor_class=str(investor_class or ""),
        risk_rating=str(rating),
        leverage_cap=Decimal(str(cap)) if cap is not None else None,
        allowed_products=frozenset(products) if products is not None else None,
    )
