"""The client portal's pages (included at the root by platform_core.urls; the dashboard
itself is the portal's home, ``portal-home``)."""

from django.urls import path

from platform_core.portal import views

urlpatterns = [
    path("dashboard/<int:account_id>/live/", views.dashboard_live, name="portal-dashboard-live"),
    path(
        "dashboard/<int:account_id>/what-if/move/",
        views.what_if_move,
        name="portal-what-if-move",
    ),
    path(
        "dashboard/<int:account_id>/what-if/trade/",
        views.what_if_trade,
        name="portal-what-if-trade",
    ),
    path("learn/", views.learn, name="portal-learn"),
    path("sandbox/", views.sandbox, name="portal-sandbox"),
]
