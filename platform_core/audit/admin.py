from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.http import HttpRequest

from platform_core.admin_site import platform_admin_site
from platform_core.audit.models import AuditEvent


class EstimatedCountPaginator(Paginator):
    """Never COUNT(*) a table of millions: page links stop at what we have seen."""

    @property
    def count(self) -> int:  # type: ignore[override]
        return 10_000_000


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
