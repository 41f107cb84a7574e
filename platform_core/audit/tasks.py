"""Scheduled verification of the audit chains: a checkpoint in each chain, an error if broken."""

from __future__ import annotations

import logging

from celery import shared_task

from platform_core.audit.services import audit_chain_checkpoint
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def audit_chain_verify_task(tenant_id: int) -> dict[str, object]:
    """Verify one tenant's chain and record the result in it. Safe to run twice."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        event = audit_chain_checkpoint(tenant=tenant)
    if event.action == "audit.chain_broken":
        logger.error("audit chain of %s broken: %s", tenant.slug, event.payload["problem"])
    return {"tenant": tenant.slug, "action": event.action, "seq": event.seq}


@shared_task
def audit_chains_verify_all_task() -> int:
    tenant_ids = list(Tenant.objects.values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        audit_chain_verify_task.delay(tenant_id)
    return len(tenant_ids)
