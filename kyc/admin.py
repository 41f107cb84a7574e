"""KYC evidence that is never rewritten, read-only in the admin; personal data stays sealed."""

from kyc.models import ProfileDocument, ProfileSnapshot, RiskRating, SuitabilityAssessment
from platform_core.admin_site import register_read_only

register_read_only(ProfileDocument, ProfileSnapshot, RiskRating, SuitabilityAssessment)
