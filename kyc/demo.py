"""The KYC part of the demo (``DEMO_SEED_STEPS``), through the onboarding, screening, case
and monitoring services.

- a small demo watchlist (OpenSanctions' simple CSV format, a fictitious entry) so that one
  client's screening has a hit to clear;
- the README client and client01..client25: a complete file, screened, checked and approved
  by the compliance officer (investor class C5, so options are suitable);
- client26: submitted, assigned, waiting for the checks; client27: submitted, with an open
  screening hit; client28..client30: still filling in the wizard;
- monitoring rules published, then deposits that trip them (a large transfer, round amounts
  and deposits just under the cash threshold), so compliance has alerts to work.

Idempotent: the list is imported by content hash, each client is taken only as far as they
are not yet, deposits carry idempotency keys.
"""

from __future__ import annotations

import io
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from PIL import Image

from kyc import screening_link, services
from kyc.documents import CheckedUpload
from kyc.models import ClientProfile, KycCase
from kyc.monitoring.services import rules_seed
from kyc.screening.services import list_import
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.selectors import tenant_scoped

APPROVED = range(0, 26)
SUBMITTED = (26, 27)
ONBOARDING = (28, 29, 30)
WATCHLIST_HIT = 27
WATCHLIST_NAME = "demo-watchlist"
# A fictitious person, listed only in the demo's own watchlist.
WATCHLIST_CSV = (
    "id,schema,name,aliases,birth_date,countries,sanctions\n"
    "demo-0001,Person,Viktor Aleksandrovich Morozov,Viktor Morozov,1971-03-14,ru,"
    "Demo watchlist (fictitious)\n"
    "demo-0002,Person,Ivan Petrovich Sidorenko,,1965-08-02,by,Demo watchlist (fictitious)\n"
)
ANSWERS = {
    "age": "31_50",
    "income": "500k_1m",
    "assets": "5m_10m",
    "experience": "over_5",
    "products": "leveraged",
    "loss_tolerance": "over_30",
    "horizon": "over_3y",
    "objective": "growth",
}
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(birth: date, sequence: int) -> str:
    """A well-formed Chinese resident ID number (GB 11643-1999: ISO 7064 MOD 11-2 check)."""
    body = f"110105{birth:%Y%m%d}{sequence % 1000:03d}"
    total = sum(int(digit) * weight for digit, weight in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def _image(kind: str) -> CheckedUpload:
    buffer = io.BytesIO()
    picture = Image.new("RGB", (60, 40), "white")
    if kind == "address":
        picture.save(buffer, "PDF")
        return CheckedUpload("application/pdf", buffer.getvalue())
    picture.save(buffer, "PNG")
    return CheckedUpload("image/png", buffer.getvalue())


def _steps(index: int, membership: Membership) -> list[tuple[str, dict[str, Any], str]]:
    name = membership.user.full_name
    hit = index == WATCHLIST_HIT
    birth = date(1971, 3, 14) if hit else date(1960 + index % 30, 1 + index % 12, 1 + index % 28)
    return [
        (
            "personal",
            {
                "legal_name": name,
                "native_name": "",
                "former_names": [],
                "birth_date": birth.isoformat(),
                "nationality": "RU" if hit else "CN",
                "residence_country": "CN",
                "address": f"{100 + index} Century Avenue, Pudong, Shanghai",
                "phone": f"+86138{index:08d}",
                "occupation": "employee",
                "pep": "no",
            },
            "",
        ),
        (
            "identity",
            (
                {"id_type": "passport", "id_number": f"75{index:07d}", "issuing_country": "RU"}
                if hit
                else {
                    "id_type": "cn_resident_id",
                    "id_number": resident_id(birth, 100 + 2 * index + 1),
                    "issuing_country": "CN",
                }
            ),
            "identity",
        ),
        ("address", {}, "address"),
        (
            "funds",
            {"source_of_funds": "salary", "source_of_wealth": "business", "details": ""},
            "",
        ),
        (
            "bank",
            {
                "holder_name": name,
                "bank_name": "ICBC",
                "account_number": f"62220202001{index:08d}",
                "country": "CN",
            },
            "",
        ),
        ("suitability", dict(ANSWERS), ""),
    ]


def _fill(tenant: Tenant, index: int, membership: Membership, upto: int | None = None) -> None:
    profile = services.profile_get_or_create(tenant=tenant, membership=membership)
    for step, data, kind in _steps(index, membership)[:upto]:
        if step in profile.steps_done:
            continue
        profile = services.onboarding_step_save(
            tenant=tenant,
            membership=membership,
            actor=membership.user,
            step=step,
            data=data,
            upload=_image(kind) if kind else None,
            upload_kind=kind,
        )


def _open_case(tenant: Tenant, profile: ClientProfile) -> KycCase | None:
    """The client's open onboarding case (an alert case is compliance's to work, not ours)."""
    return (
        tenant_scoped(KycCase, tenant=tenant)
        .filter(profile=profile, kind=KycCase.Kind.ONBOARDING, status__in=KycCase.OPEN_STATUSES)
        .order_by("pk")
        .first()
    )


def _submit(tenant: Tenant, membership: Membership, officer: Membership) -> KycCase | None:
    profile = services.profile_get_or_create(tenant=tenant, membership=membership)
    if profile.status == ClientProfile.Status.DRAFT:
        services.onboarding_submit(tenant=tenant, membership=membership, actor=membership.user)
        profile.refresh_from_db()
        # Screened now rather than by the worker, so the case shows its result at once.
        screening_link.screen(tenant=tenant, profile=profile, reason="onboarding")
    case = _open_case(tenant, profile)
    if case is not None and case.assignee_id is None:
        services.case_assign(
            tenant=tenant,
            actor=officer.user,
            membership=officer,
            case_id=case.pk,
            assignee=officer,
        )
        case.refresh_from_db()
    return case


def _approve(tenant: Tenant, case: KycCase, officer: Membership) -> None:
    for check in services.CHECKLISTS[case.kind]:
        services.case_check_set(
            tenant=tenant,
            actor=officer.user,
            case_id=case.pk,
            code=check,
            status="done",
            note="Seen and matches the file (demo).",
        )
    services.case_approve(
        tenant=tenant,
        actor=officer.user,
        membership=officer,
        case_id=case.pk,
        reason="Complete file, no screening hit, suitable for margin trading (demo).",
    )


def _watchlist_import() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo-watchlist.csv"
        path.write_text(WATCHLIST_CSV, encoding="utf-8")
        list_import(path=path, fmt="opensanctions-csv", source_name=WATCHLIST_NAME)


def _suspicious_deposits(tenant: Tenant, clients: list[Membership]) -> None:
    """Money movements the monitoring rules flag (the ledger's listener runs them)."""
    from ledger.demo import client_deposit

    client_deposit(tenant=tenant, membership=clients[5], amount=Decimal("600000"), number=2)
    for number, amount in enumerate(("48000", "47500", "49200"), start=2):
        client_deposit(tenant=tenant, membership=clients[9], amount=Decimal(amount), number=number)
    client_deposit(tenant=tenant, membership=clients[26], amount=Decimal("300000"), number=2)


def demo_seed_step(
    *, tenant: Tenant, staff: dict[str, Membership], clients: list[Membership]
) -> None:
    officer = staff["compliance"]
    _watchlist_import()
    rules_seed(tenant=tenant)
    for index in ONBOARDING:
        _fill(tenant, index, clients[index], upto=2 + index % 3)
    for index in (*APPROVED, *SUBMITTED):
        membership = clients[index]
        _fill(tenant, index, membership)
        case = _submit(tenant, membership, officer)
        if index in APPROVED and case is not None and case.status == KycCase.Status.OPEN:
            _approve(tenant, case, officer)
    _suspicious_deposits(tenant, clients)
