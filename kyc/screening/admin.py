"""Read-only admin pages for the lists and the screening records (cheap on big tables).

Decisions on hits go through the services (four eyes for strong hits), never through admin.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from kyc.screening.models import ListEntity, ListVersion, ScreeningHit, ScreeningRun
from platform_core.admin_site import platform_admin_site
from platform_core.audit.admin import EstimatedCountPaginator


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ListVersion, site=platform_admin_site)
class ListVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "source",
        "seq",
        "imported_at",
        "entity_count",
        "added_count",
        "changed_count",
        "removed_count",
        "content_hash",
    )
    list_select_related = ("source",)


@admin.register(ListEntity, site=platform_admin_site)
class ListEntityAdmin(ReadOnlyAdmin):
    list_display = ("caption", "schema", "source", "key", "changed_in", "delisted_in")
    search_fields = ("=key", "caption")
    list_select_related = ("source", "changed_in", "delisted_in")


@admin.register(ScreeningRun, site=platform_admin_site)
class ScreeningRunAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "subject_ref", "created_at", "reason", "band", "top_score")
    list_filter = ("band", "reason")
    search_fields = ("=subject_ref",)
    list_select_related = ("tenant",)


@admin.register(ScreeningHit, site=platform_admin_site)
class ScreeningHitAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "subject_ref", "entity", "band", "score", "status", "decided_at")
    list_filter = ("status", "band")
    search_fields = ("=subject_ref",)
    list_select_related = ("tenant", "entity")
