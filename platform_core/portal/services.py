"""The portal's writes: the ratio history's samples, and a client's paper-trading sandbox.

The sandbox (decision 31 in ``docs/decisions.md``) is a tenant of its own, linked to the live
tenant: its ledger, positions, orders and audit chain are another tenant's rows, so row
security keeps simulated money out of every real balance, report and proof of reserves, and
the same engine, prices, policy defaults and order service run on it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from ledger.models import LedgerAccount
from ledger.selectors import account_list
from ledger.services import account_create, transfer_post
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.portal.models import RatioSample, SandboxLink
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.roles import Role
from platform_core.tenancy.selectors import tenant_scoped
from platform_core.tenancy.services import member_add, tenant_create
from risk.selectors import margin_monitor

# Samples older than this are pruned: the chart shows hours, the dispute evidence is risk's.
RATIO_HISTORY_KEPT = timedelta(days=7)
RATIO_SAMPLE_LOOKBACK = timedelta(minutes=2)
# What a new sandbox account starts with, in simulated money.
SANDBOX_STARTING_CASH = Decimal("1000000")


def ratio_samples_record(*, tenant: Tenant, now: datetime | None = None) -> int:
    """Append a sample for each account whose margin the sweep changed since the tenant's last
    sample, and prune the old ones; returns how many were added. The caller is in the tenant's
    row-security context."""
    now = now or timezone.now()
    samples = tenant_scoped(RatioSample, tenant=tenant)
    last = samples.order_by("-at").values_list("at", flat=True).first()
    moved = margin_monitor(tenant=tenant).filter(error="")
    seen: set[tuple[int, datetime]] = set()
    if last is not None:
        # The listener's samples are newer than some sweeps the sampler has not copied yet:
        # look back past them and skip what is already drawn.
        since = last - RATIO_SAMPLE_LOOKBACK
        moved = moved.filter(computed_at__gt=since)
        seen = set(samples.filter(at__gt=since).values_list("account_id", "at"))
    rows = [
        RatioSample(
            tenant=tenant,
            account_id=s.account_id,
            at=s.computed_at,
            ratio=s.ratio,
            equity=s.equity,
            maintenance=s.maintenance,
        )
        for s in moved
        if (s.account_id, s.computed_at) not in seen
    ]
    with transaction.atomic():
        RatioSample.objects.bulk_create(rows, ignore_conflicts=True)
        samples.filter(at__lt=now - RATIO_HISTORY_KEPT).delete()
    return len(rows)


def ratio_sample_on_status_change(payload: dict[str, Any]) -> None:
    """``risk.hooks.margin_status_changed``: a change of rung is drawn at once, not at the next
    sample. Idempotent (one sample per account and instant)."""
    tenant = Tenant.objects.get(pk=payload["tenant"])
    with rls_context(tenant=tenant):
        RatioSample.objects.bulk_create(
            [
                RatioSample(
                    tenant=tenant,
                    account_id=payload["account"],
                    at=datetime.fromisoformat(payload["at"]),
                    ratio=None if payload["ratio"] is None else Decimal(payload["ratio"]),
                    equity=Decimal(payload["equity"]),
                    maintenance=Decimal(payload["maintenance"]),
                )
            ],
            ignore_conflicts=True,
        )


# --- the paper-trading sandbox ------------------------------------------------------------------


@dataclass(frozen=True)
class Sandbox:
    """A client's place in their tenant's sandbox."""

    live: Tenant
    tenant: Tenant
    membership: Membership
    account: LedgerAccount


def sandbox_link_of(*, tenant: Tenant) -> SandboxLink | None:
    """The link ``tenant`` is part of, as the live tenant or as the sandbox."""
    return (
        SandboxLink.objects.select_related("tenant", "sandbox")
        .filter(Q(tenant=tenant) | Q(sandbox=tenant))
        .first()
    )


def is_sandbox(tenant: Tenant | None) -> bool:
    return tenant is not None and SandboxLink.objects.filter(sandbox=tenant).exists()


def _sandbox_slug(tenant: Tenant) -> str:
    return f"{tenant.slug[:42]}-sandbox"


def _account_ensure(*, tenant: Tenant, kind: str, currency: str, owner_id: int | None = None):
    existing = account_list(tenant=tenant).filter(kind=kind, currency=currency)
    if owner_id is not None:
        existing = existing.filter(owner_id=owner_id)
    return existing.first() or account_create(
        tenant=tenant, kind=kind, currency=currency, owner_id=owner_id
    )


def sandbox_find(*, tenant: Tenant, user: Any) -> Sandbox | None:
    """The person's sandbox from either side of the link, or None before they open one."""
    link = sandbox_link_of(tenant=tenant)
    if link is None:
        return None
    with rls_context(tenant=link.sandbox):
        membership = Membership.objects.filter(
            tenant=link.sandbox, user=user, role=Role.CLIENT, status=Membership.Status.ACTIVE
        ).first()
        account = (
            account_list(tenant=link.sandbox, owner=membership)
            .filter(kind=LedgerAccount.Kind.CLIENT_CASH)
            .first()
            if membership is not None
            else None
        )
    if membership is None or account is None:
        return None
    return Sandbox(live=link.tenant, tenant=link.sandbox, membership=membership, account=account)


def sandbox_open(
    *, tenant: Tenant, membership: Membership, request: HttpRequest | None = None
) -> Sandbox:
    """Give a live client a sandbox account with ``SANDBOX_STARTING_CASH`` of simulated money
    (creating the tenant's sandbox on first use); opening it again returns the same one.

    The simulated deposit is posted in the sandbox tenant's own ledger, from its own
    custodian-bank account: no entry of the live tenant is written.
    """
    if membership.role != Role.CLIENT or is_sandbox(tenant):
        raise ApplicationError(409, "not_a_live_client", "Only a live client opens a sandbox.")
    user = membership.user
    found = sandbox_find(tenant=tenant, user=user)
    if found is not None:
        return found
    live_accounts = account_list(tenant=tenant, owner=membership).filter(
        kind=LedgerAccount.Kind.CLIENT_CASH
    )
    currency = live_accounts.values_list("currency", flat=True).first() or tenant.base_currency
    with transaction.atomic():
        link = SandboxLink.objects.filter(tenant=tenant).select_related("sandbox").first()
        if link is None:
            sandbox = tenant_create(
                slug=_sandbox_slug(tenant),
                name=f"{tenant.name} · sandbox",
                timezone=tenant.timezone,
                currency=tenant.base_currency,
                actor=user,
            )
            link = SandboxLink.objects.create(tenant=tenant, sandbox=sandbox)
        sandbox = link.sandbox
        with rls_context(tenant=sandbox):
            paper = Membership.objects.filter(tenant=sandbox, user=user).first()
            if paper is None:
                paper = member_add(
                    tenant=sandbox, email=user.email, role=Role.CLIENT, actor=user, request=request
                ).membership
            bank = _account_ensure(
                tenant=sandbox, kind=LedgerAccount.Kind.CUSTODIAN_BANK, currency=currency
            )
            account = _account_ensure(
                tenant=sandbox,
                kind=LedgerAccount.Kind.CLIENT_CASH,
                currency=currency,
                owner_id=paper.pk,
            )
            transfer_post(
                tenant=sandbox,
                debit_account=bank.pk,
                credit_account=account.pk,
                amount=SANDBOX_STARTING_CASH,
                currency=currency,
                entry_type="deposit",
                idempotency_key=f"sandbox:start:{paper.pk}:{currency}",
                memo="Simulated money: paper-trading sandbox",
                actor=user,
            )
            account.refresh_from_db()
        audit_record(
            tenant=tenant,
            actor=user,
            action="portal.sandbox_opened",
            object_type="tenant",
            object_id=sandbox.pk,
            payload={"sandbox": sandbox.slug, "currency": currency},
            request=request,
        )
    return Sandbox(live=tenant, tenant=sandbox, membership=paper, account=account)


def live_client_of(*, tenant: Tenant, membership: Membership) -> tuple[Tenant, Membership] | None:
    """For a sandbox client, the live tenant and the same person's live client membership:
    their suitability answers for what they practise (``risk.hooks.suitability_subjects``)."""
    link = SandboxLink.objects.select_related("tenant").filter(sandbox=tenant).first()
    if link is None:
        return None
    with rls_context(tenant=link.tenant):
        live = Membership.objects.filter(
            tenant=link.tenant,
            user_id=membership.user_id,
            role=Role.CLIENT,
            status=Membership.Status.ACTIVE,
        ).first()
    return (link.tenant, live) if live is not None else None
