"""Financing's Celery tasks: thin, idempotent wrappers over its services."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from financing.services import business_date_today, financing_day_close
from platform_core.tasks import tenants_fan_out
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context


@shared_task(acks_late=True)
def financing_day_close_task(tenant_id: int, business_date: str | None = None) -> dict:
    """Accrue, charge, roll and mature for the tenant's business date (idempotent: a second
    run for the same date changes nothing)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        day = (
            date.fromisoformat(business_date)
            if business_date
            else business_date_today(tenant=tenant)
        )
        result = financing_day_close(tenant=tenant, business_date=day)
    return result.__dict__


@shared_task
def financing_day_close_all_task() -> int:
    return tenants_fan_out(financing_day_close_task, include_closed=False)
