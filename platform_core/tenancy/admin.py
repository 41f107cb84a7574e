from django.contrib import admin

from platform_core.admin_site import platform_admin_site
from platform_core.tenancy.models import Membership, Tenant


@admin.register(Tenant, site=platform_admin_site)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "timezone", "base_currency", "status", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("slug", "created_at")


@admin.register(Membership, site=platform_admin_site)
class MembershipAdmin(admin.ModelAdmin):
    """Read-only: roles change through the audited services (console, member_add)."""

    list_display = ("tenant", "user", "role", "status", "created_at")
    list_filter = ("role", "status")
    search_fields = ("user__email",)
    list_select_related = ("tenant", "user")

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
