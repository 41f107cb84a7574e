"""The risk app's pages (included by platform_core.urls): portal under /risk/, console under
/console/risk/."""

from django.urls import path

from risk import views

portal_urlpatterns = [
    path("margin/", views.portal_margin_index, name="portal-margin-index"),
    path("margin/<int:account_id>/", views.portal_margin, name="portal-margin"),
    path("margin/<int:account_id>/live/", views.portal_margin_live, name="portal-margin-live"),
    path("orders/new/", views.portal_order_new, name="portal-order-new"),
]

console_urlpatterns = [
    path("monitor/", views.console_margin_monitor, name="console-margin-monitor"),
    path("stress/", views.console_book_stress, name="console-book-stress"),
    path("policies/", views.console_policies, name="console-policies"),
]
