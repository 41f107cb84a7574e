"""The margin-call loop's pages (included from the project's urls)."""

from django.urls import path

from risk.operations import views

console_urlpatterns = [
    path("", views.console_margin_calls, name="console-margin-calls"),
    path("crash-switch/", views.console_crash_switch, name="console-margin-crash-switch"),
    path(
        "proposals/<int:proposal_id>/",
        views.console_margin_proposal,
        name="console-margin-proposal",
    ),
    path(
        "proposals/<int:proposal_id>/decide/",
        views.console_margin_proposal_decide,
        name="console-margin-proposal-decide",
    ),
    path(
        "debts/<int:debt_id>/writeoff/",
        views.console_margin_debt_writeoff,
        name="console-margin-debt-writeoff",
    ),
    path(
        "disputes/<int:dispute_id>/",
        views.console_margin_dispute,
        name="console-margin-dispute",
    ),
]

portal_urlpatterns = [
    path("", views.portal_margin_calls, name="portal-margin-calls"),
    path(
        "proposals/<int:proposal_id>/dispute/",
        views.portal_margin_dispute_new,
        name="portal-margin-dispute-new",
    ),
]
