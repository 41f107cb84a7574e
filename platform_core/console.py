"""The console's start page: for each staff role, what needs action now, as counts with links.

Like the root urls, this module is project configuration: it is the one place below the apps'
own pages that names every app, and it reads them only through their selectors. Each count is
one query on the active tenant's rows, whatever the size of the book.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from kyc.models import ClientProfile, KycCase, MonitoringAlert
from kyc.screening.selectors import hit_queue
from kyc.selectors import case_queue
from ledger.models import ReconciliationBreak, WithdrawalRequest
from ledger.reconciliation import reconciliation_break_list
from ledger.withdrawals import withdrawal_queue
from platform_core.audit.approvals import approval_inbox, approval_list
from platform_core.audit.models import ApprovalRequest
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.roles import STAFF_ROLES, Role
from platform_core.tenancy.selectors import membership_list, tenant_scoped
from risk.engine.stress import HISTORICAL_SCENARIOS
from risk.models import MARGIN_STATUSES, MarginPolicyVersion
from risk.operations.models import MarginCall, Proposal
from risk.operations.models import Status as LadderStatus
from risk.operations.selectors import call_list, crash_switch_state, proposal_list
from risk.selectors import margin_monitor, policy_active
from risk.stored_policy import DEFAULT_LADDER

SECOND_FACTOR_RESET = "accounts.second_factor_reset"
CALLS_SHOWN = 5
# One-click market-wide moves (percent) offered beside the historical scenarios.
MARKET_MOVES = ("-10", "-20")

# Which sections a role sees, in page order. A person sees the union over their roles.
SECTIONS_OF_ROLE: dict[str, tuple[str, ...]] = {
    Role.COMPLIANCE_OFFICER: ("compliance",),
    Role.RISK_OFFICER: ("risk",),
    Role.OPERATIONS: ("operations",),
    Role.TENANT_ADMIN: ("admin",),
}
SECTION_ORDER = ("compliance", "risk", "operations", "admin")

# Tones say how urgent a non-zero count is; the template turns them into a class.
ALERT, WATCH = "bad", "warn"


@dataclass(frozen=True)
class ActionItem:
    """One line of a section: a count of things to act on and where to act."""

    label: Any
    count: int
    url: str
    tone: str = ""
    note: str = ""  # e.g. the ratio band a status stands for

    @property
    def urgent(self) -> bool:
        return bool(self.count and self.tone)


@dataclass(frozen=True)
class CallDue:
    call_id: int
    account_id: int
    client: str
    ratio: Decimal | None
    deposit_needed: Decimal
    currency: str
    deadline_at: datetime
    seconds_left: int

    @property
    def ratio_percent(self) -> str:
        return "—" if self.ratio is None else f"{(self.ratio * 100).quantize(Decimal('0.01'))}%"

    @property
    def hours_left(self) -> int:
        return self.seconds_left // 3600

    @property
    def minutes_left(self) -> int:
        return self.seconds_left % 3600 // 60


@dataclass
class Section:
    key: str
    title: Any
    items: list[ActionItem]
    extra: dict[str, Any] = field(default_factory=dict)
    url: str = ""  # the area's own overview, when it has one


def _url(name: str, **query: str) -> str:
    return reverse(name) + (f"?{urlencode(query)}" if query else "")


def _counts_by(queryset: QuerySet[Any], *fields: str) -> dict[Any, int]:
    """One GROUP BY query: ``{value: count}`` (or ``{(v1, v2): count}`` for several fields)."""
    rows = queryset.order_by().values_list(*fields).annotate(number=Count("pk"))
    if len(fields) == 1:
        return {row[0]: row[1] for row in rows}
    return {row[:-1]: row[-1] for row in rows}


def sections_for(*, roles: Iterable[str]) -> list[str]:
    wanted = {key for role in roles for key in SECTIONS_OF_ROLE.get(role, ())}
    return [key for key in SECTION_ORDER if key in wanted]


# --- compliance -------------------------------------------------------------------------------


def compliance_section(*, tenant: Tenant, today: Any) -> Section:
    cases = _counts_by(case_queue(tenant=tenant), "kind", "status")
    by_status = {status: 0 for status in KycCase.OPEN_STATUSES}
    for (_kind, status), number in cases.items():
        by_status[status] += number
    reviews_open = sum(n for (kind, _s), n in cases.items() if kind == KycCase.Kind.REVIEW)
    cases_url = "console-kyc-cases"
    status_labels = dict(KycCase.Status.choices)
    items = [
        ActionItem(status_labels[status], by_status[status], _url(cases_url, status=status), tone)
        for status, tone in (
            (KycCase.Status.OPEN, WATCH),
            (KycCase.Status.INFO_REQUESTED, ""),
            (KycCase.Status.PENDING_APPROVAL, ALERT),
        )
    ]
    hits = _counts_by(hit_queue(tenant=tenant), "band")
    alerts = tenant_scoped(MonitoringAlert, tenant=tenant).filter(
        status=MonitoringAlert.Status.OPEN
    )
    open_case = tenant_scoped(KycCase, tenant=tenant).filter(
        profile=OuterRef("pk"), status__in=KycCase.OPEN_STATUSES
    )
    reviews_due = (
        tenant_scoped(ClientProfile, tenant=tenant)
        .filter(status=ClientProfile.Status.APPROVED, next_review_on__lte=today)
        .exclude(Exists(open_case))
        .count()
    )
    items += [
        ActionItem(
            _("Screening hits that block a client"),
            hits.get("hit", 0),
            _url("console-kyc-hits", band="hit"),
            ALERT,
        ),
        ActionItem(
            _("Screening hits to review"),
            sum(n for band, n in hits.items() if band != "hit"),
            _url("console-kyc-hits", band="review"),
            WATCH,
        ),
        ActionItem(
            _("Open AML alerts"),
            alerts.count(),
            _url("console-kyc-alerts", status=MonitoringAlert.Status.OPEN),
            WATCH,
        ),
        ActionItem(_("Periodic reviews in progress"), reviews_open, _url(cases_url, status="open")),
        ActionItem(_("Reviews due, no case opened yet"), reviews_due, _url(cases_url), WATCH),
    ]
    return Section("compliance", _("Compliance"), items, url=reverse("console-kyc"))


# --- risk -------------------------------------------------------------------------------------


def _client_label(call: MarginCall) -> str:
    membership = call.membership
    return membership.user.email if membership is not None else f"#{call.account_id}"


def _percent(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


def ratio_bands(stored: MarginPolicyVersion | None) -> dict[str, str]:
    """The margin-ratio band each ladder status stands for, under the tenant's active policy
    (its ladder lines, else the default ones)."""
    ladder = {**DEFAULT_LADDER, **(stored.ladder if stored else {})}
    lines = {k: Decimal(v) for k, v in ladder.items()}
    warning, call = lines["warning"], lines["margin_call"]
    deleverage, liquidation = lines["deleverage"], lines["liquidation"]
    return {
        "healthy": f"≥ {_percent(warning)}",
        "warning": f"[{_percent(call)}, {_percent(warning)})",
        "margin_call": f"[{_percent(deleverage)}, {_percent(call)})",
        "deleverage": f"[{_percent(liquidation)}, {_percent(deleverage)})",
        "liquidate": f"< {_percent(liquidation)}",
    }


def risk_section(*, tenant: Tenant, now: datetime) -> Section:
    monitor_url = "console-margin-monitor"
    statuses = _counts_by(margin_monitor(tenant=tenant), "status")
    labels = dict(LadderStatus.choices)
    tones = {"warning": WATCH, "margin_call": ALERT, "deleverage": ALERT, "liquidate": ALERT}
    bands = ratio_bands(policy_active(tenant=tenant))
    items = [
        ActionItem(
            labels[s], statuses.get(s, 0), _url(monitor_url, status=s), tones.get(s, ""), bands[s]
        )
        for s in MARGIN_STATUSES
    ]
    open_calls = call_list(tenant=tenant, status=MarginCall.CallStatus.OPEN)
    calls_url = reverse("console-margin-calls")
    waiting = _counts_by(
        proposal_list(tenant=tenant).filter(status__in=Proposal.OPEN), "kind", "status"
    )
    items += [
        ActionItem(_("Open margin calls"), open_calls.count(), calls_url, ALERT),
        ActionItem(
            _("Liquidation proposals waiting for approval"),
            sum(n for (kind, _s), n in waiting.items() if kind == Proposal.Kind.LIQUIDATION),
            calls_url,
            ALERT,
        ),
        ActionItem(
            _("Deleveraging proposals waiting"),
            sum(n for (kind, _s), n in waiting.items() if kind == Proposal.Kind.DELEVERAGE),
            calls_url,
            WATCH,
        ),
    ]
    due = [
        CallDue(
            call_id=call.pk,
            account_id=call.account_id,
            client=_client_label(call),
            ratio=call.ratio,
            deposit_needed=call.deposit_needed,
            currency=call.currency,
            deadline_at=call.deadline_at,
            seconds_left=max(int((call.deadline_at - now).total_seconds()), 0),
        )
        for call in open_calls.select_related("membership__user").order_by("deadline_at", "pk")[
            :CALLS_SHOWN
        ]
    ]
    book = margin_monitor(tenant=tenant).aggregate(
        accounts=Count("pk"), equity=Sum("equity"), maintenance=Sum("maintenance")
    )
    stress_url = "console-book-stress"
    scenarios = [
        *(
            (_("market %(move)s%%") % {"move": move}, _url(stress_url, market_move=move))
            for move in MARKET_MOVES
        ),
        *((shock.name, _url(stress_url, scenario=shock.name)) for shock in HISTORICAL_SCENARIOS),
    ]
    return Section(
        "risk",
        _("Risk"),
        items,
        url=reverse("console-margin-monitor"),
        extra={
            "calls_due": due,
            "switch": crash_switch_state(tenant=tenant),
            "calls_url": calls_url,
            "book": {
                "accounts": book["accounts"],
                "equity": book["equity"] or Decimal(0),
                "maintenance": book["maintenance"] or Decimal(0),
                "headroom": (book["equity"] or Decimal(0)) - (book["maintenance"] or Decimal(0)),
            },
            "stress_scenarios": scenarios,
        },
    )


# --- operations -------------------------------------------------------------------------------


def operations_section(*, tenant: Tenant) -> Section:
    withdrawals = _counts_by(withdrawal_queue(tenant=tenant), "status")
    withdrawals_url = reverse("console-withdrawals")
    breaks = reconciliation_break_list(tenant=tenant, status=ReconciliationBreak.Status.OPEN)
    items = [
        ActionItem(
            _("Withdrawals to approve"),
            withdrawals.get(WithdrawalRequest.Status.REQUESTED, 0),
            withdrawals_url,
            ALERT,
        ),
        ActionItem(
            _("Withdrawals awaiting a second approval"),
            withdrawals.get(WithdrawalRequest.Status.AWAITING_SECOND_APPROVAL, 0),
            withdrawals_url,
            ALERT,
        ),
        ActionItem(
            _("Open reconciliation breaks"),
            breaks.count(),
            reverse("console-reconciliation"),
            ALERT,
        ),
        ActionItem(
            _("Approvals waiting for operations"),
            approval_inbox(tenant=tenant, role=Role.OPERATIONS).count(),
            reverse("console-approvals"),
            WATCH,
        ),
    ]
    return Section("operations", _("Operations"), items)


# --- tenant admin -----------------------------------------------------------------------------


def admin_section(*, tenant: Tenant) -> Section:
    staff = membership_list(tenant=tenant).filter(
        role__in=STAFF_ROLES | {Role.AUDITOR}, status=Membership.Status.ACTIVE
    )
    by_role = _counts_by(staff, "role")
    confirmed_device = TOTPDevice.objects.filter(user=OuterRef("user"), confirmed=True)
    waiting = staff.aggregate(
        never_signed_in=Count("pk", filter=Q(user__last_login__isnull=True)),
        no_second_factor=Count("pk", filter=~Exists(confirmed_device)),
    )
    resets = (
        approval_list(tenant=tenant, status=ApprovalRequest.Status.PENDING)
        .filter(action=SECOND_FACTOR_RESET)
        .count()
    )
    approvals_url = reverse("console-approvals")
    roles = dict(Role.choices)
    items = [
        ActionItem(_("Invitations not yet accepted"), waiting["never_signed_in"], "#staff", WATCH),
        ActionItem(
            _("Staff without a second factor"), waiting["no_second_factor"], "#staff", WATCH
        ),
        ActionItem(_("Second-factor resets waiting"), resets, approvals_url, ALERT),
        ActionItem(
            _("Approvals waiting for a tenant admin"),
            approval_inbox(tenant=tenant, role=Role.TENANT_ADMIN).count(),
            approvals_url,
            WATCH,
        ),
    ]
    return Section(
        "admin",
        _("Staff and roles"),
        items,
        extra={
            "staff_by_role": [
                (roles[role], by_role.get(role, 0)) for role in (*sorted(STAFF_ROLES), Role.AUDITOR)
            ],
            "members": staff.order_by("role", "id")[:100],
        },
    )


def console_start(
    *, tenant: Tenant, roles: Iterable[str], now: datetime | None = None
) -> list[Section]:
    """The sections the given roles see, each a list of counts with links, in page order."""
    now = now or timezone.now()
    today = now.astimezone(ZoneInfo(tenant.timezone)).date()
    builders = {
        "compliance": lambda: compliance_section(tenant=tenant, today=today),
        "risk": lambda: risk_section(tenant=tenant, now=now),
        "operations": lambda: operations_section(tenant=tenant),
        "admin": lambda: admin_section(tenant=tenant),
    }
    return [builders[key]() for key in sections_for(roles=roles)]
