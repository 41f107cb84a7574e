"""The margin-call loop's Celery tasks: thin, idempotent wrappers over its services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from platform_core.tasks import tenants_fan_out
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context


@shared_task(acks_late=True)
def notices_dispatch_task(tenant_id: int, keys: list[str]) -> int:
    """Deliver stored notices through the notification service (each once, by its key)."""
    from risk.operations.services import notices_dispatch

    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        return notices_dispatch(tenant=tenant, keys=keys)


@shared_task(acks_late=True)
def call_hints_task(tenant_id: int, call_id: int) -> dict[str, Any]:
    from risk.operations.services import call_hints_compute

    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        return call_hints_compute(tenant=tenant, call_id=call_id)


@shared_task(acks_late=True)
def proposals_execute_task(tenant_id: int, proposal_ids: list[int]) -> list[str]:
    """Execute proposals automatically, one transaction each; a proposal the crash switch
    paused meanwhile stays queued; an executed one is left alone."""
    from risk.operations.services import proposal_execute

    tenant = Tenant.objects.get(pk=tenant_id)
    statuses = []
    with rls_context(tenant=tenant):
        for proposal_id in proposal_ids:
            proposal = proposal_execute(tenant=tenant, proposal_id=proposal_id, automatic=True)
            statuses.append(proposal.status)
    return statuses


@shared_task(acks_late=True)
def calls_deadline_check_task(tenant_id: int) -> dict[str, int]:
    from risk.operations.services import calls_deadline_check

    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        return calls_deadline_check(tenant=tenant)


@shared_task
def calls_deadline_check_all_task() -> int:
    """Fan out: the deadline pass for every open tenant (reminders, overdue calls)."""
    return tenants_fan_out(calls_deadline_check_task, include_closed=False)
