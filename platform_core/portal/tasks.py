"""The portal's Celery tasks: thin, idempotent wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from platform_core.tasks import tenants_fan_out
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context


@shared_task(acks_late=True)
def ratio_sample_task(tenant_id: int) -> int:
    from platform_core.portal.services import ratio_samples_record

    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        return ratio_samples_record(tenant=tenant)


@shared_task
def ratio_sample_all_task() -> int:
    """Beat: one sampling task per open tenant."""
    return tenants_fan_out(ratio_sample_task, include_closed=False)
