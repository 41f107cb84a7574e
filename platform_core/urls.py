from django.conf import settings
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from kyc.urls import console_urlpatterns as kyc_console_urlpatterns
from kyc.urls import portal_urlpatterns as kyc_portal_urlpatterns
from ledger import reconciliation_views
from ledger import views as ledger_views
from ledger.por_urls import portal_urlpatterns as por_portal_urlpatterns
from platform_core import views
from platform_core.admin_site import platform_admin_site
from platform_core.audit import approvals_views, notifications_views, report_views
from risk import page_urls as risk_pages
from risk.operations.urls import console_urlpatterns as risk_operations_console_urlpatterns
from risk.operations.urls import portal_urlpatterns as risk_operations_portal_urlpatterns

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
    # The ledger's portal pages (a client's money) and console pages (withdrawals, fees,
    # the sweep, adjustments).
    path("money/", ledger_views.portal_balances, name="portal-balances"),
    path(
        "money/accounts/<int:account_id>/statement/",
        ledger_views.portal_statement,
        name="portal-statement",
    ),
    path("money/withdrawals/", ledger_views.portal_withdrawals, name="portal-withdrawals"),
    path(
        "money/withdrawals/new/",
        ledger_views.portal_withdrawal_new,
        name="portal-withdrawal-new",
    ),
    path(
        "money/withdrawals/<int:withdrawal_id>/cancel/",
        ledger_views.portal_withdrawal_cancel,
        name="portal-withdrawal-cancel",
    ),
    path("console/withdrawals/", ledger_views.console_withdrawals, name="console-withdrawals"),
    path(
        "console/withdrawals/<int:withdrawal_id>/approve/",
        ledger_views.console_withdrawal_approve,
        name="console-withdrawal-approve",
    ),
    path(
        "console/withdrawals/<int:withdrawal_id>/reject/",
        ledger_views.console_withdrawal_reject,
        name="console-withdrawal-reject",
    ),
    path("console/fees/", ledger_views.console_fees, name="console-fees"),
    path("console/adjustments/", ledger_views.console_adjustment, name="console-adjustment"),
    path("proof-of-reserves/", include(por_portal_urlpatterns)),
    path("risk/", include(risk_pages.portal_urlpatterns)),
    path("console/risk/", include(risk_pages.console_urlpatterns)),
    # Financing: the client's credit, documents and contracts; the console's lines and funding.
    path("", include("financing.urls")),
    # KYC: the onboarding wizard (portal) and the case pages (console).
    path("onboarding/", include(kyc_portal_urlpatterns)),
    path("console/kyc/", include(kyc_console_urlpatterns)),
    # The margin-call loop: calls, proposals, the crash switch, disputes.
    path("console/margin/", include(risk_operations_console_urlpatterns)),
    path("margin/calls/", include(risk_operations_portal_urlpatterns)),
    path("console/engagements/", report_views.console_engagements, name="console-engagements"),
    path(
        "console/engagements/<int:engagement_id>/revoke/",
        report_views.console_engagement_revoke,
        name="console-engagement-revoke",
    ),
    path("audit/", views.audit_home, name="audit-home"),
    path(
        "audit/engagements/<int:engagement_id>/",
        report_views.engagement_detail,
        name="audit-engagement",
    ),
    path("audit/reports/<int:report_id>/", report_views.report_detail, name="audit-report"),
    path("audit/files/<int:file_id>/", report_views.report_file_download, name="audit-report-file"),
    path("audit/verification/", report_views.verification, name="audit-verification"),
    path(
        "audit/verification/ca.pem",
        report_views.ca_certificate_download,
        name="audit-ca-certificate",
    ),
    path("tenant/switch/", views.tenant_switch, name="tenant-switch"),
    path("notifications/", notifications_views.notifications_inbox, name="portal-notifications"),
    # The client's dashboard, learning guide and paper-trading sandbox.
    path("", include("platform_core.portal.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("accounts/", include("platform_core.accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("i18n/catalog.js", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/v1/kyc/", include(("kyc.api_urls", "kyc-api"), namespace="kyc-api")),
    path(
        "api/v1/financing/",
        include(("financing.api_urls", "financing-api"), namespace="financing-api"),
    ),
    path(
        "api/v1/margin/",
        include(("risk.operations.api_urls", "margin-api"), namespace="margin-api"),
    ),
    path("api/v1/", include(("platform_core.api.urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path(settings.ADMIN_URL, platform_admin_site.urls),
]

handler400 = "platform_core.errors.bad_request"
handler403 = "platform_core.errors.permission_denied"
handler404 = "platform_core.errors.page_not_found"
handler500 = "platform_core.errors.server_error"
