"""/api/v1/margin/ (included by platform_core.urls): every path answers with or without a
trailing slash."""

from django.urls import re_path

from risk.operations import api

urlpatterns = [
    re_path(r"^calls/?$", api.MarginCallListApi.as_view(), name="calls"),
    re_path(r"^calls/(?P<call_id>[0-9]+)/?$", api.MarginCallDetailApi.as_view(), name="call"),
    re_path(r"^proposals/?$", api.ProposalListApi.as_view(), name="proposals"),
    re_path(
        r"^proposals/(?P<proposal_id>[0-9]+)/?$",
        api.ProposalDetailApi.as_view(),
        name="proposal",
    ),
    re_path(
        r"^proposals/(?P<proposal_id>[0-9]+)/execution-request/?$",
        api.ProposalExecutionRequestApi.as_view(),
        name="proposal-execution-request",
    ),
]
