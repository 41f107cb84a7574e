"""Onboarding through the real services: a client's complete file, ready to submit."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from kyc import services
from kyc.documents import CheckedUpload
from kyc.models import ClientProfile
from tests.conftest import Person

# A real, checksummed resident ID number (GB 11643-1999 example) and its birth date.
VALID_RIC = "11010519491231002X"


def png_bytes(colour: str = "white") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "PNG")
    return buffer.getvalue()


def pdf_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, "PDF")
    return buffer.getvalue()


PERSONAL = {
    "legal_name": "Zhang Wei",
    "native_name": "张伟",
    "former_names": [],
    "birth_date": "1949-12-31",
    "nationality": "CN",
    "residence_country": "CN",
    "address": "1 Chang'an Avenue, Beijing",
    "phone": "+8613800000000",
    "occupation": "employee",
    "pep": "no",
}
MODEST_ANSWERS = {
    "age": "31_50",
    "income": "100k_500k",
    "assets": "500k_5m",
    "experience": "2_5",
    "products": "equities",
    "loss_tolerance": "10_30",
    "horizon": "over_3y",
    "objective": "growth",
}


def fill_profile(tenant: Any, person: Person, **overrides: Any) -> ClientProfile:
    """Save every step for ``person`` (a client) as the wizard would."""
    membership, actor = person.membership, person.user
    personal = {**PERSONAL, **overrides.get("personal", {})}
    steps: list[tuple[str, dict[str, Any], CheckedUpload | None, str]] = [
        ("personal", personal, None, ""),
        (
            "identity",
            {"id_type": "cn_resident_id", "id_number": VALID_RIC, "issuing_country": "CN"},
            CheckedUpload("image/png", png_bytes()),
            "identity",
        ),
        ("address", {}, CheckedUpload("application/pdf", pdf_bytes()), "address"),
        (
            "funds",
            {"source_of_funds": "salary", "source_of_wealth": "salary", "details": ""},
            None,
            "funds",
        ),
        (
            "bank",
            {
                "holder_name": personal["legal_name"],
                "bank_name": "ICBC",
                "account_number": "6222020200112233445",
                "country": overrides.get("bank_country", "CN"),
            },
            None,
            "",
        ),
        ("suitability", {**MODEST_ANSWERS, **overrides.get("answers", {})}, None, ""),
    ]
    profile = None
    for step, data, upload, kind in steps:
        profile = services.onboarding_step_save(
            tenant=tenant,
            membership=membership,
            actor=actor,
            step=step,
            data=data,
            upload=upload,
            upload_kind=kind,
        )
    assert profile is not None
    return profile


def submit_profile(tenant: Any, person: Person, **overrides: Any):
    fill_profile(tenant, person, **overrides)
    return services.onboarding_submit(
        tenant=tenant, membership=person.membership, actor=person.user
    )


LISTED_NAME = "Ivan Sergeyevich Petrov"


def client_with_hit(tenant: Any, person: Person, directory: Any) -> Any:
    """``person`` submits their file as Ivan Petrov, born on the day of ``PERSONAL``, and a
    sanctions list names an Ivan Sergeyevich Petrov born that day: screening raises a hit.
    Returns the open case; the hit is the profile's only one."""
    import json
    from pathlib import Path

    from kyc import screening_link
    from kyc.screening.services import list_import

    path = Path(directory) / "kyc-hit-list.json"
    entity = {
        "id": "kyc-petrov",
        "schema": "Person",
        "target": True,
        "properties": {
            "name": [LISTED_NAME],
            "topics": ["sanction"],
            "birthDate": [PERSONAL["birth_date"]],
        },
    }
    path.write_text(json.dumps(entity) + "\n", encoding="utf-8")
    list_import(path=path, fmt="ftm", source_name="kyc-test-list")
    personal = {**PERSONAL, "legal_name": "Ivan Petrov", "native_name": ""}
    case = submit_profile(tenant, person, personal=personal)
    assert screening_link.screen(tenant=tenant, profile=case.profile, reason="onboarding")
    return case
