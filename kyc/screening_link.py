"""The link to the screening app (``kyc.screening``): the subject source it reads clients
through, and the calls onboarding and cases make to it.

Screening stores no client PII: it asks ``subject_source`` for names, birth date and countries,
decrypted on demand. If the screening services are not installed (an import fails), the calls
here say so instead of passing: ``blocking_reasons`` then blocks approval.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from django.utils.translation import gettext as _

from kyc.crypto import KeyUnavailable, SealBroken
from kyc.models import ClientProfile
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.selectors import tenant_scoped

logger = logging.getLogger(__name__)


def _services() -> Any:
    try:
        from kyc.screening import services
    except ImportError:
        return None
    return services


def _subject_class() -> Any:
    try:
        from kyc.screening.matching import Subject
    except ImportError:
        return None
    return Subject


def subject_fields(profile: ClientProfile) -> dict[str, Any] | None:
    """Name forms, birth date and countries of a profile, or None when unreadable (erased)."""
    from kyc.pii import pii_unseal

    try:
        answers = pii_unseal(
            tenant=profile.tenant,
            membership=profile.membership,
            purpose="profile",
            sealed=profile.sealed,
        )
    except (KeyUnavailable, SealBroken):
        return None
    personal = answers.get("personal") or {}
    names = [personal.get("legal_name"), personal.get("native_name")]
    names += personal.get("former_names") or []
    names = [n for n in dict.fromkeys(n.strip() for n in names if n and n.strip())]
    if not names:
        return None
    birth = personal.get("birth_date")
    countries = tuple(
        dict.fromkeys(
            c for c in (personal.get("nationality"), personal.get("residence_country")) if c
        )
    )
    from datetime import date

    return {
        "ref": str(profile.pk),
        "names": tuple(names),
        "birth_date": date.fromisoformat(birth) if birth else None,
        "countries": countries,
    }


def subject_of(profile: ClientProfile) -> Any:
    fields = subject_fields(profile)
    subject_class = _subject_class()
    if fields is None or subject_class is None:
        return None
    return subject_class(**fields)


def subject_source(tenant: Tenant, refs: Iterable[str] | None) -> Iterator[Any]:
    """The screening app's subject source: the tenant's submitted clients (or ``refs`` only)."""
    profiles = tenant_scoped(ClientProfile, tenant=tenant).exclude(
        status=ClientProfile.Status.DRAFT
    )
    if refs is not None:
        ids = [int(ref) for ref in refs if str(ref).isdigit()]
        profiles = profiles.filter(pk__in=ids)
    for profile in profiles.select_related("tenant", "membership").order_by("pk").iterator():
        subject = subject_of(profile)
        if subject is not None:
            yield subject


def screen(*, tenant: Tenant, profile: ClientProfile, reason: str, actor: Any = None) -> bool:
    """Screen the profile now; False when screening is unavailable (approval stays blocked)."""
    services = _services()
    subject = subject_of(profile)
    if services is None or subject is None or not hasattr(services, "subject_screen"):
        return False
    services.subject_screen(tenant=tenant, subject=subject, reason=reason, actor=actor)
    return True


def blocking_reasons(*, tenant: Tenant, profile: ClientProfile) -> list[str]:
    services = _services()
    if services is None or not hasattr(services, "subject_blocking_reasons"):
        return [_("Sanctions screening is not available; the client cannot be cleared.")]
    return list(services.subject_blocking_reasons(tenant=tenant, ref=str(profile.pk)))


def summary(*, tenant: Tenant, profile: ClientProfile) -> dict[str, Any] | None:
    services = _services()
    if services is None or not hasattr(services, "subject_summary"):
        return None
    return dict(services.subject_summary(tenant=tenant, ref=str(profile.pk)) or {})
