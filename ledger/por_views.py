"""The portal's proof-of-reserves page: published roots, and each client's proof to download."""

from __future__ import annotations

import json
import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from ledger.proof_of_reserves import (
    NOT_FOUND,
    por_proof_for,
    por_root,
    por_root_document,
    por_snapshot_list,
    por_snapshots_provable,
)
from platform_core.exceptions import ApplicationError

RECENT_TREES = 60


def _json_download(document: dict[str, Any], filename: str) -> HttpResponse:
    response = HttpResponse(json.dumps(document, indent=2) + "\n", content_type="application/json")
    # Snapshot ids may hold ":", which some file systems refuse in names.
    safe = re.sub(r"[^0-9A-Za-z._-]", "", filename)
    response["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response


@require_GET
@login_required
def por_page(request: HttpRequest) -> HttpResponse:
    membership = getattr(request, "membership", None)
    trees: list[dict[str, Any]] = []
    if membership is not None:
        tenant = request.tenant  # type: ignore[attr-defined]
        rows = list(por_snapshot_list(tenant=tenant)[:RECENT_TREES])
        provable = por_snapshots_provable(tenant=tenant, membership=membership, snapshots=rows)
        trees = [
            {
                "root": (root := por_root_document(row, tenant=tenant)),
                "has_proof": row.pk in provable,
                "covered": root["reserves"] >= root["total_liabilities"],
            }
            for row in rows
        ]
    return render(request, "ledger/por_proof.html", {"trees": trees})


@require_GET
@login_required
def por_root_download(request: HttpRequest, snapshot: str, currency: str) -> HttpResponse:
    if getattr(request, "membership", None) is None:
        raise Http404(NOT_FOUND)
    root = por_root(tenant=request.tenant, snapshot=snapshot, currency=currency)  # type: ignore[attr-defined]
    return _json_download(root, f"proof-of-reserves-root-{snapshot}-{root['currency']}.json")


@require_GET
@login_required
def por_proof_download(request: HttpRequest, snapshot: str, currency: str) -> HttpResponse:
    membership = getattr(request, "membership", None)
    if membership is None:
        raise Http404(NOT_FOUND)
    try:
        proof = por_proof_for(
            tenant=request.tenant,  # type: ignore[attr-defined]
            snapshot=snapshot,
            membership=membership,
            currency=currency,
        )
    except ApplicationError as refusal:
        messages.error(request, refusal.message)
        return HttpResponseRedirect(reverse("portal-por"))
    return _json_download(
        proof, f"proof-of-reserves-{snapshot}-{proof['currency']}-{proof['account_ref']}.json"
    )
