"""Fixtures of the financing tests."""

from __future__ import annotations

import pytest

from financing import services
from financing.profile import ClientProfile
from platform_core.tenancy.models import Membership, Tenant


@pytest.fixture
def kyc_profiles(monkeypatch: pytest.MonkeyPatch) -> dict[int, ClientProfile]:
    """Client profiles by membership id, standing in for KYC's selectors (investor class,
    suitability, rating) until that app offers them. A client not listed has no rating."""
    profiles: dict[int, ClientProfile] = {}

    def profile_of(*, tenant: Tenant, membership: Membership) -> ClientProfile | None:
        return profiles.get(membership.pk)

    monkeypatch.setattr(services, "client_profile", profile_of)
    return profiles
