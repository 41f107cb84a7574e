"""Financing's signed and accrued records, read-only in the admin."""

from financing.models import (
    DisclosureDocument,
    InterestAccrual,
    InterestCharge,
    Pledge,
    RateCard,
    SignatureRecord,
)
from platform_core.admin_site import register_read_only

register_read_only(
    RateCard, DisclosureDocument, SignatureRecord, Pledge, InterestAccrual, InterestCharge
)
