"""The ledger's Celery tasks: thin, idempotent wrappers over its services."""

from __future__ import annotations

import logging

from celery import shared_task

from ledger.proof_of_reserves import por_snapshot_take
from platform_core.exceptions import ApplicationError
from platform_core.tasks import tenants_fan_out
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def por_snapshot_task(tenant_id: int) -> str:
    """The tenant's proof-of-reserves snapshot for its business day: taken once per date, so
    running twice returns the same id. A tenant without client accounts has nothing to prove.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    try:
        with rls_context(tenant=tenant):
            return por_snapshot_take(tenant=tenant, actor_label="scheduler", daily=True)
    except ApplicationError as refusal:
        if refusal.error_code != "no_client_accounts":
            raise
        logger.info("proof of reserves: %s has no client accounts yet", tenant.slug)
        return ""


@shared_task
def por_snapshots_take_all_task() -> int:
    """Fan out: one snapshot task per tenant."""
    return tenants_fan_out(por_snapshot_task, include_closed=False)


@shared_task
def reconciliations_daily_task() -> None:
    """Reconcile each active tenant's previous business day once it has closed (idempotent)."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from ledger.reconciliation import reconciliation_list, reconciliation_run

    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE):
        day = timezone.localdate(timezone=ZoneInfo(tenant.timezone)) - timedelta(days=1)
        with rls_context(tenant=tenant):
            done = (
                reconciliation_list(tenant=tenant, business_date=day)
                .filter(kind="internal", figures__provisional=False)
                .exists()
            )
            if not done:
                reconciliation_run(tenant=tenant, business_date=day, actor_label="task:reconcile")


@shared_task(acks_late=True)
def journal_seal_task(tenant_id: int) -> int:
    """Chain the tenant's new journal entries (safe to run twice: sealed entries are skipped)."""
    from ledger.services import journal_seal

    tenant = Tenant.objects.get(pk=tenant_id)
    sealed = 0
    with rls_context(tenant=tenant):
        while batch := journal_seal(tenant=tenant):
            sealed += batch
    return sealed


@shared_task
def journal_seal_all_task() -> int:
    return tenants_fan_out(journal_seal_task)


@shared_task(acks_late=True)
def holds_expire_task(tenant_id: int) -> int:
    """Release the tenant's holds past their expiry (a racing post waits on the hold's row)."""
    from ledger.services import holds_expire

    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        return holds_expire(tenant=tenant)


@shared_task
def holds_expire_all_task() -> int:
    return tenants_fan_out(holds_expire_task)
