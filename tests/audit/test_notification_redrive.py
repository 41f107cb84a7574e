"""A delivery whose queued message was lost is queued again, and still sent only once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from platform_core.audit.models import NotificationDelivery
from platform_core.audit.notifications import notification_send
from platform_core.audit.tasks import notification_deliveries_redrive_task

pytestmark = pytest.mark.django_db


def test_an_overdue_delivery_is_redriven_once(acme, mailoutbox):
    # Sent inside the test's transaction: its after-commit message never leaves, as if lost.
    notification_send(
        tenant=acme.tenant,
        recipient=acme.compliance.membership,
        kind="approval.requested",
        context={"approval_id": 7, "action": "x", "maker": "m@acme.example", "reason": "r"},
        key="lost-message",
        channels=["email"],
    )
    delivery = NotificationDelivery.objects.get()
    assert notification_deliveries_redrive_task() == 0  # not overdue yet: nothing queued
    NotificationDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )
    assert notification_deliveries_redrive_task() == 1
    delivery.refresh_from_db()
    assert delivery.status == NotificationDelivery.Status.DELIVERED
    assert [m.to for m in mailoutbox] == [[acme.compliance.email]]
    assert notification_deliveries_redrive_task() == 0
    assert len(mailoutbox) == 1
