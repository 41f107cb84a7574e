"""KYC's Celery tasks: thin, idempotent wrappers over its services."""

from __future__ import annotations

from celery import shared_task

from platform_core.tasks import tenants_fan_out
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context


@shared_task(acks_late=True)
def reviews_open_due_task(tenant_id: int) -> int:
    from kyc.services import reviews_open_due

    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        return reviews_open_due(tenant=tenant)


@shared_task
def reviews_open_due_all_task() -> int:
    """Fan out: open the due periodic-review cases of every active tenant."""
    return tenants_fan_out(reviews_open_due_task, include_closed=False)


@shared_task(acks_late=True)
def profile_screen_task(tenant_id: int, profile_id: int, reason: str, actor_id: int | None) -> bool:
    """Screen a client after their file was submitted or changed."""
    from django.contrib.auth import get_user_model

    from kyc import screening_link
    from kyc.models import ClientProfile

    tenant = Tenant.objects.get(pk=tenant_id)
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    with rls_context(tenant=tenant):
        profile = ClientProfile.objects.select_related("tenant", "membership").get(
            tenant=tenant, pk=profile_id
        )
        return screening_link.screen(tenant=tenant, profile=profile, reason=reason, actor=actor)


@shared_task(acks_late=True)
def monitoring_batch_task(tenant_id: int) -> int:
    from kyc.monitoring.services import monitoring_batch

    tenant = Tenant.objects.get(pk=tenant_id)
    with rls_context(tenant=tenant):
        return monitoring_batch(tenant=tenant)


@shared_task
def monitoring_batch_all_task() -> int:
    """Fan out: yesterday's transaction-monitoring batch for every active tenant."""
    return tenants_fan_out(monitoring_batch_task, include_closed=False)
