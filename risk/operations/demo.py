"""The margin-call loop's part of the demo (``DEMO_SEED_STEPS``): after the risk step's sweep
has put accounts on the ladder, each open call gets its hedge hints (the deposit, the groups
to close, a protective hedge) computed by the engine now, rather than when the worker gets to
them, so the client's portal shows them from the first page. Idempotent: hints are computed
only for calls that have none.
"""

from __future__ import annotations

from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.selectors import tenant_scoped
from risk.operations.models import MarginCall
from risk.operations.services import call_hints_compute


def demo_seed_step(
    *, tenant: Tenant, staff: dict[str, Membership], clients: list[Membership]
) -> None:
    calls = tenant_scoped(MarginCall, tenant=tenant).filter(status=MarginCall.CallStatus.OPEN)
    for call in calls.order_by("pk"):
        if not call.hints:
            call_hints_compute(tenant=tenant, call_id=call.pk)
