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
    re_path(r"^policies/?$", api.PolicyListCreateApi.as_view(), name="risk-policies"),
    re_path(
        r"^policies/(?P<policy_id>[0-9]+)/?$",
        api.PolicyDetailApi.as_view(),
        name="risk-policy-detail",
    ),
    re_path(
        r"^policies/(?P<policy_id>[0-9]+)/activate/?$",
        api.PolicyActivateApi.as_view(),
        name="risk-policy-activate",
    ),
]
