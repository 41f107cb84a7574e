"""Scheduled verification of the audit chains: a checkpoint in each chain, an error if broken."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from platform_core.audit.services import audit_chain_checkpoint
from platform_core.tasks import tenants_fan_out
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
    return tenants_fan_out(audit_chain_verify_task)


@shared_task(acks_late=True)
def approvals_expire_task(tenant_id: int) -> int:
    """Mark one tenant's overdue approval requests expired. Safe to run twice."""
    from platform_core.audit.approvals import approvals_expire

    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        return approvals_expire(tenant=tenant)


@shared_task
def approvals_expire_all_task() -> int:
    return tenants_fan_out(approvals_expire_task)


@shared_task(bind=True, acks_late=True, max_retries=None)
def notification_delivery_task(self: Any, tenant_id: int, delivery_id: int) -> str:
    """One attempt at one notification delivery; on failure, again after the back-off.

    The delivery's own attempt count (in the database) decides when to give up, so a
    redelivered or duplicated message can neither send twice nor retry for ever.
    """
    from platform_core.audit.notifications import notification_delivery_attempt

    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        outcome = notification_delivery_attempt(tenant=tenant, delivery_id=delivery_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task
def notification_deliveries_redrive_task() -> int:
    """Queue again the deliveries whose retry message the broker lost (attempts are
    idempotent: a delivery row is locked and counted, so a duplicate sends nothing twice)."""
    from platform_core.audit.notifications import notification_deliveries_overdue

    queued = 0
    for tenant in Tenant.objects.all():
        with rls_context(tenant=tenant):
            overdue = notification_deliveries_overdue(tenant=tenant)
        for delivery_id in overdue:
            notification_delivery_task.delay(tenant.pk, delivery_id)
        queued += len(overdue)
    return queued


@shared_task(acks_late=True)
def report_generate_task(tenant_id: int, request_id: int) -> str:
    """Run one report job. Safe to run twice: a finished job is left alone."""
    from platform_core.audit.reports import report_run

    tenant = Tenant.objects.get(pk=tenant_id)
    return report_run(tenant=tenant, job_id=request_id).status


@shared_task(acks_late=True)
def checkpoints_seal_task(tenant_id: int) -> dict[str, int]:
    """Seal each of one tenant's logs in a signed tree head. Safe to run twice."""
    from platform_core.audit.checkpoints import CheckpointError, checkpoint_seal
    from platform_core.hooks import checkpoint_logs

    tenant = Tenant.objects.get(pk=tenant_id)
    sealed: dict[str, int] = {}
    for log in checkpoint_logs:
        with rls_context(tenant=tenant):
            try:
                sealed[log.key] = checkpoint_seal(tenant=tenant, log=log.key).tree_size
            except CheckpointError as exc:
                # Recorded in the tenant's trail as checkpoint.inconsistent; never signed.
                logger.error("checkpoint of %s %s refused: %s", tenant.slug, log.key, exc)
    return sealed


@shared_task
def checkpoints_seal_all_task() -> int:
    return tenants_fan_out(checkpoints_seal_task)
