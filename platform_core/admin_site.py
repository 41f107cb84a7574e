"""The Django admin for platform operators, behind a verified second factor (OTPAdminSite).

The admin shows raw records. Append-only tables (journal, postings, audit events, evidence,
signatures, reports...) are registered with ``ReadOnlyModelAdmin``: they can be read, never
added, changed or deleted here; corrections go through the services as compensating records.
"""

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import models
from django.http import HttpRequest
from django_otp.admin import OTPAdminSite


class PlatformAdminSite(OTPAdminSite):
    site_header = "Margin Platform administration"
    site_title = "Margin Platform admin"


platform_admin_site = PlatformAdminSite(name="admin")


class EstimatedCountPaginator(Paginator):
    """Never COUNT(*) a table of millions: page links stop at what we have seen."""

    @property
    def count(self) -> int:  # type: ignore[override]
        return 10_000_000


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Raw records of an append-only table: cheap to list, never edited through the admin.

    Binary columns (sealed personal data, signed files) are left out of the page; their
    hashes and metadata stay visible.
    """

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ("-pk",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [
            f.name
            for f in self.model._meta.concrete_fields
            if not isinstance(f, models.BinaryField) and not f.primary_key
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def register_read_only(*model_classes: type[models.Model]) -> None:
    for model in model_classes:
        platform_admin_site.register(model, ReadOnlyModelAdmin)
