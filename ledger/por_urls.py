"""Proof-of-reserves routes.

``urlpatterns`` go under /api/v1/ledger/ (every path with or without a trailing slash, as the
rest of the API); ``portal_urlpatterns`` under /proof-of-reserves/ in the portal.
"""

from django.urls import path, re_path

from ledger import por_views
from ledger.por_api import ReserveMyProofApi, ReserveRootApi, ReserveRootListApi

# Snapshot ids are dates or UTC instants with a count: "2026-11-26", "2026-11-26T15:04:05Z-3".
SNAPSHOT = r"(?P<snapshot>[0-9A-Za-z:._-]{1,64})"

urlpatterns = [
    re_path(r"^proof-of-reserves/?$", ReserveRootListApi.as_view(), name="por-roots"),
    re_path(rf"^proof-of-reserves/{SNAPSHOT}/?$", ReserveRootApi.as_view(), name="por-root"),
    re_path(
        rf"^proof-of-reserves/{SNAPSHOT}/my-proof/?$",
        ReserveMyProofApi.as_view(),
        name="por-my-proof",
    ),
]

portal_urlpatterns = [
    path("", por_views.por_page, name="portal-por"),
    path(
        "<str:snapshot>/<str:currency>/root.json",
        por_views.por_root_download,
        name="portal-por-root",
    ),
    path(
        "<str:snapshot>/<str:currency>/my-proof.json",
        por_views.por_proof_download,
        name="portal-por-proof",
    ),
]
