"""/api/v1/risk/ (included by platform_core.api.urls)."""

from django.urls import re_path

from risk import api

urlpatterns = [
    re_path(
        r"^accounts/(?P<account_id>[0-9]+)/margin/?$",
        api.AccountMarginApi.as_view(),
        name="risk-account-margin",
    ),
    re_path(r"^what-if/?$", api.WhatIfApi.as_view(), name="risk-what-if"),
    re_path(r"^orders/?$", api.OrderCreateApi.as_view(), name="risk-orders"),
    re_path(
        r"^accounts/(?P<account_id>[0-9]+)/stress/?$",
        api.AccountStressApi.as_view(),
        name="risk-account-stress",
    ),
    re_path(r"^stress/?$", api.BookStressApi.as_view(), name="risk-book-stress"),
    re_path(r"^monitor/?$", api.MarginMonitorApi.as_view(), name="risk-monitor"),
]
