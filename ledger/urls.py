"""/api/v1/ledger/ (included by platform_core.api.urls)."""

from django.urls import re_path

from ledger import api, por_urls, withdrawals_api

urlpatterns = [
    re_path(r"^accounts/?$", api.AccountCreateApi.as_view(), name="ledger-accounts"),
    re_path(
        r"^accounts/(?P<account_id>[0-9]+)/?$",
        api.AccountDetailApi.as_view(),
        name="ledger-account-detail",
    ),
    re_path(
        r"^accounts/(?P<account_id>[0-9]+)/statement/?$",
        api.AccountStatementApi.as_view(),
        name="ledger-account-statement",
    ),
    re_path(r"^transfers/?$", api.TransferCreateApi.as_view(), name="ledger-transfers"),
    re_path(r"^entries/?$", api.EntryCreateApi.as_view(), name="ledger-entries"),
    re_path(r"^holds/?$", api.HoldCreateApi.as_view(), name="ledger-holds"),
    re_path(
        r"^holds/(?P<hold_id>[0-9]+)/post/?$", api.HoldPostApi.as_view(), name="ledger-hold-post"
    ),
    re_path(
        r"^holds/(?P<hold_id>[0-9]+)/void/?$", api.HoldVoidApi.as_view(), name="ledger-hold-void"
    ),
    re_path(r"^trial-balance/?$", api.TrialBalanceApi.as_view(), name="ledger-trial-balance"),
    re_path(
        r"^withdrawals/?$",
        withdrawals_api.WithdrawalListCreateApi.as_view(),
        name="ledger-withdrawals",
    ),
    re_path(
        r"^withdrawals/(?P<withdrawal_id>[0-9]+)/?$",
        withdrawals_api.WithdrawalDetailApi.as_view(),
        name="ledger-withdrawal-detail",
    ),
    re_path(
        r"^withdrawals/(?P<withdrawal_id>[0-9]+)/cancel/?$",
        withdrawals_api.WithdrawalCancelApi.as_view(),
        name="ledger-withdrawal-cancel",
    ),
    re_path(
        r"^withdrawals/(?P<withdrawal_id>[0-9]+)/approve/?$",
        withdrawals_api.WithdrawalApproveApi.as_view(),
        name="ledger-withdrawal-approve",
    ),
    re_path(
        r"^withdrawals/(?P<withdrawal_id>[0-9]+)/reject/?$",
        withdrawals_api.WithdrawalRejectApi.as_view(),
        name="ledger-withdrawal-reject",
    ),
    *por_urls.urlpatterns,
]
