from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from platform_core.admin_site import (
    EstimatedCountPaginator,
    platform_admin_site,
    register_read_only,
)
from platform_core.audit.models import AuditEvent, Checkpoint, NotificationAttempt, ReportFile


@admin.register(AuditEvent, site=platform_admin_site)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "tenant",
        "seq",
        "occurred_at",
        "action",
        "actor_label",
        "object_type",
        "object_id",
    )
    list_filter = ("action",)
    search_fields = ("=object_id", "=request_id", "actor_label")
    list_select_related = ("tenant",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


register_read_only(Checkpoint, NotificationAttempt, ReportFile)
