"""The risk app's Celery tasks: thin, idempotent wrappers over the sweep."""

from __future__ import annotations

from celery import shared_task

from platform_core.tasks import tenants_fan_out
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context


@shared_task(acks_late=True)
def margin_sweep_task(tenant_id: int) -> int:
    """The full-book sweep of one tenant; returns how many accounts were margined."""
    from risk.sweep import margin_sweep

    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        return margin_sweep(tenant=tenant).computed


@shared_task
def margin_sweep_all_task() -> int:
    """Beat: one full-book sweep task per open tenant."""
    return tenants_fan_out(margin_sweep_task, include_closed=False)


@shared_task(acks_late=True)
def margin_sweep_moved_task(instrument_ids: list[int]) -> int:
    """The incremental path for a batch of ticks: in every open tenant, re-margin the holders
    of the moved instruments (and of options on them). Returns the accounts margined."""
    from risk.sweep import margin_sweep_moved

    computed = 0
    for tenant in Tenant.objects.exclude(status=Tenant.Status.CLOSED).order_by("pk"):
        with rls_context(tenant=tenant):
            computed += margin_sweep_moved(tenant=tenant, instrument_ids=instrument_ids).computed
    return computed
