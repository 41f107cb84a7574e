"""KYC's screening hits and the KYC API for the tenant-isolation sweep
(tests/e2e/test_sweep.py). ``sweep_entries(Sweepable, Built)`` returns the entries, so the
shared file needs one line for all of them."""

from __future__ import annotations

import tempfile
from typing import Any

from kyc.models import KycCase
from kyc.screening.models import ScreeningHit
from platform_core.tenancy.roles import Role
from tests.conftest import TenantPeople, make_person
from tests.kyc.factories import LISTED_NAME, client_with_hit

EVERYONE = ("client", "compliance", "risk", "operations", "admin", "auditor")
KYC_STAFF = ("compliance", "admin")


def _a_clients_hit_of_acme(acme: TenantPeople) -> tuple[KycCase, ScreeningHit]:
    """A new client of Acme submitted their file as Ivan Petrov; a list names him: a hit."""
    person = make_person(acme.tenant, "kyc-hit-sweep@acme.example", Role.CLIENT)
    case = client_with_hit(acme.tenant, person, tempfile.mkdtemp(prefix="kyc-sweep-"))
    return case, ScreeningHit.objects.get(subject_ref=str(case.profile_id))


def sweep_entries(sweepable: Any, built: Any) -> dict[str, Any]:
    def but(*roles: str) -> tuple[str, ...]:
        return tuple(r for r in EVERYONE if r not in roles)

    def hit(acme: TenantPeople) -> Any:
        _case, made = _a_clients_hit_of_acme(acme)
        return built(ScreeningHit, made.pk, "hit_id", secrets=(LISTED_NAME,))

    def case(acme: TenantPeople) -> Any:
        made, _hit = _a_clients_hit_of_acme(acme)
        return built(KycCase, made.pk, "case_id", secrets=())

    return {
        # The hit's console page: compliance and tenant admins read it; only a compliance
        # officer decides, and another tenant's hit is the 404 of a missing one either way.
        "console-kyc-hit": sweepable(build=hit, readers=KYC_STAFF, wrong=but(*KYC_STAFF)),
        "kyc-api:kyc-case-detail": sweepable(build=case, readers=KYC_STAFF, wrong=but(*KYC_STAFF)),
        "kyc-api:kyc-hit-detail": sweepable(build=hit, readers=KYC_STAFF, wrong=but(*KYC_STAFF)),
        "kyc-api:kyc-hit-resolve": sweepable(
            build=hit, readers=("compliance",), wrong=but("compliance")
        ),
    }
