from django.conf import settings
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ledger import reconciliation_views
from ledger.por_urls import portal_urlpatterns as por_portal_urlpatterns
from platform_core import views
from platform_core.admin_site import platform_admin_site
from platform_core.audit import approvals_views, notifications_views

urlpatterns = [
    path("", views.portal_home, name="portal-home"),
    path("console/", views.console_home, name="console-home"),
    path("console/approvals/", approvals_views.approvals_inbox, name="console-approvals"),
    path(
        "console/approvals/<int:approval_id>/decide/",
        approvals_views.approval_decide,
        name="console-approval-decide",
    ),
    path(
        "console/reconciliation/",
        reconciliation_views.reconciliation_index,
        name="console-reconciliation",
    ),
    path(
        "console/reconciliation/run/",
        reconciliation_views.reconciliation_run_view,
        name="console-reconciliation-run",
    ),
    path(
        "console/reconciliation/<int:reconciliation_id>/",
        reconciliation_views.reconciliation_detail,
        name="console-reconciliation-detail",
    ),
    path(
        "console/reconciliation/breaks/<int:break_id>/resolve/",
        reconciliation_views.reconciliation_break_resolve_view,
        name="console-reconciliation-break-resolve",
    ),
    path("proof-of-reserves/", include(por_portal_urlpatterns)),
    path("audit/", views.audit_home, name="audit-home"),
    path("tenant/switch/", views.tenant_switch, name="tenant-switch"),
    path("notifications/", notifications_views.notifications_inbox, name="portal-notifications"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("accounts/", include("platform_core.accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("i18n/catalog.js", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/v1/", include(("platform_core.api.urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path(settings.ADMIN_URL, platform_admin_site.urls),
]

handler400 = "platform_core.errors.bad_request"
handler403 = "platform_core.errors.permission_denied"
handler404 = "platform_core.errors.page_not_found"
handler500 = "platform_core.errors.server_error"
