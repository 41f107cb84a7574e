"""/api/v1/financing/ (included by platform_core.urls): every path answers with or without a
trailing slash."""

from django.urls import re_path

from financing import api

urlpatterns = [
    re_path(r"^credit-lines/?$", api.CreditLineListApi.as_view(), name="credit-lines"),
    re_path(
        r"^credit-lines/(?P<line_id>[0-9]+)/?$",
        api.CreditLineDetailApi.as_view(),
        name="credit-line-detail",
    ),
    re_path(
        r"^credit-lines/(?P<line_id>[0-9]+)/reviewed/?$",
        api.CreditLineReviewedApi.as_view(),
        name="credit-line-reviewed",
    ),
    re_path(r"^contracts/?$", api.ContractListApi.as_view(), name="contracts"),
    re_path(
        r"^contracts/(?P<contract_id>[0-9]+)/?$",
        api.ContractDetailApi.as_view(),
        name="contract-detail",
    ),
    re_path(
        r"^contracts/(?P<contract_id>[0-9]+)/repay/?$",
        api.ContractRepayApi.as_view(),
        name="contract-repay",
    ),
    re_path(r"^disclosures/?$", api.DisclosureStatusApi.as_view(), name="disclosures"),
    re_path(
        r"^signatures/(?P<signature_id>[0-9]+)/pdf/?$",
        api.SignedPdfApi.as_view(),
        name="signature-pdf",
    ),
]
