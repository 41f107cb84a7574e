"""Read-only admin pages for the lists and the screening records (cheap on big tables).

Decisions on hits go through the services (four eyes for strong hits), never through admin.
"""

from django.contrib import admin

from kyc.screening.models import (
    DeltaScreening,
    ListEntity,
    ListSource,
    ListVersion,
    ScreeningHit,
    ScreeningResult,
    ScreeningRun,
    WhitelistEntry,
)
from platform_core.admin_site import ReadOnlyModelAdmin, platform_admin_site, register_read_only


@admin.register(ListVersion, site=platform_admin_site)
class ListVersionAdmin(ReadOnlyModelAdmin):
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
class ListEntityAdmin(ReadOnlyModelAdmin):
    list_display = ("caption", "schema", "source", "key", "changed_in", "delisted_in")
    search_fields = ("=key", "caption")
    list_select_related = ("source", "changed_in", "delisted_in")


@admin.register(ScreeningRun, site=platform_admin_site)
class ScreeningRunAdmin(ReadOnlyModelAdmin):
    list_display = ("tenant", "subject_ref", "created_at", "reason", "band", "top_score")
    list_filter = ("band", "reason")
    search_fields = ("=subject_ref",)
    list_select_related = ("tenant",)


@admin.register(ScreeningHit, site=platform_admin_site)
class ScreeningHitAdmin(ReadOnlyModelAdmin):
    list_display = ("tenant", "subject_ref", "entity", "band", "score", "status", "decided_at")
    list_filter = ("status", "band")
    search_fields = ("=subject_ref",)
    list_select_related = ("tenant", "entity")


register_read_only(ListSource, ScreeningResult, WhitelistEntry, DeltaScreening)
