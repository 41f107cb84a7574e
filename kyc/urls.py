"""KYC routes: the portal's onboarding wizard and the console's case pages."""

from django.urls import path

from kyc import views
from kyc.forms import STEPS
from kyc.monitoring import views as monitoring_views

# One route per step, no path converter: a step name is not an object id.
portal_urlpatterns = [
    path("", views.onboarding_home, name="portal-onboarding"),
    *[
        path(f"{step}/", views.onboarding_step, {"step": step}, name=f"portal-onboarding-{step}")
        for step in STEPS
    ],
]

console_urlpatterns = [
    path("", views.console_home, name="console-kyc"),
    path("cases/", views.console_cases, name="console-kyc-cases"),
    path("cases/<int:case_id>/", views.console_case, name="console-kyc-case"),
    path("documents/<int:document_id>/", views.console_document, name="console-kyc-document"),
    path("hits/", views.console_hits, name="console-kyc-hits"),
    path("hits/<int:hit_id>/", views.console_hit, name="console-kyc-hit"),
    path("settings/", views.console_rating_settings, name="console-kyc-settings"),
    path("alerts/", monitoring_views.console_alerts, name="console-kyc-alerts"),
    path("rules/", monitoring_views.console_rules, name="console-kyc-rules"),
    path("rules/<int:rule_id>/", monitoring_views.console_rule, name="console-kyc-rule"),
    path(
        "reports/<int:report_id>/export/",
        monitoring_views.console_report_export,
        name="console-kyc-report-export",
    ),
]
