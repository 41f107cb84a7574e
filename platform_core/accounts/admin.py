from django.contrib import admin

from platform_core.accounts.models import User
from platform_core.admin_site import platform_admin_site


@admin.register(User, site=platform_admin_site)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "full_name", "is_active", "is_staff", "date_joined")
    search_fields = ("email", "full_name")
    list_filter = ("is_active", "is_staff")
    fields = ("email", "full_name", "is_active", "date_joined", "last_login")
    readonly_fields = ("email", "date_joined", "last_login")
