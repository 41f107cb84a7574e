"""The risk app's live sweep drives the ladder through ``risk.hooks.margin_status_changed``:
the call is issued once, however often the sweep runs at the same prices."""

from __future__ import annotations

from typing import Any

import pytest

from platform_core.audit.models import Notification
from risk.operations.models import MarginCall, MarginNotice, RatioMark
from tests.conftest import TenantPeople
from tests.ledger.factories import open_book
from tests.risk.factories import equity, hold
from tests.risk_operations.helpers import Clock, prices

pytestmark = pytest.mark.django_db
sweep_module = pytest.importorskip("risk.sweep")


def test_the_live_sweep_calls_once(
    acme: TenantPeople, django_capture_on_commit_callbacks: Any
) -> None:
    book = open_book(acme)
    book.fund("7000.00")
    hold(book.client, equity("XYZ"), "-100")
    clock = Clock()
    prices(clock, XYZ="50")
    with django_capture_on_commit_callbacks(execute=True):
        sweep_module.margin_sweep(tenant=acme.tenant, now=clock.now)
    assert not MarginCall.objects.exists()

    prices(clock, XYZ="54")  # ratio 1,600 / 1,620: below the call line
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            sweep_module.margin_sweep(tenant=acme.tenant, now=clock.now)
    call = MarginCall.objects.get()
    assert call.stage == "margin_call" and call.account_id == book.client.pk
    assert RatioMark.objects.count() == 1
    assert MarginNotice.objects.filter(step="margin_call").count() == 1
    assert Notification.objects.filter(kind="margin.call").count() == 1
