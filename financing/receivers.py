"""What financing does when the KYC app tells it something (connected in
``FinancingConfig.ready``)."""

from __future__ import annotations

from typing import Any

from financing.services import credit_lines_review_flag
from platform_core.tenancy.models import Membership, Tenant


def risk_rating_changed_review(payload: dict[str, Any]) -> None:
    """kyc.risk_rating_changed: the client's lines were granted on the old rating, so they go
    under review (no new credit until a person looks). A first rating has no line to review;
    a retried delivery finds the lines under review already and changes nothing."""
    if payload.get("previous") is None:
        return
    from platform_core.tenancy.rls import rls_context

    tenant = Tenant.objects.get(pk=payload["tenant"])
    with rls_context(tenant=tenant):
        membership = Membership.objects.get(tenant=tenant, pk=payload["membership"])
        credit_lines_review_flag(
            tenant=tenant,
            membership=membership,
            reason=f"risk rating {payload['previous']} -> {payload['rating']} at {payload['at']}",
        )
