"""The Django admin for platform operators, behind a verified second factor (OTPAdminSite)."""

from django_otp.admin import OTPAdminSite


class PlatformAdminSite(OTPAdminSite):
    site_header = "Margin Platform administration"
    site_title = "Margin Platform admin"


platform_admin_site = PlatformAdminSite(name="admin")
