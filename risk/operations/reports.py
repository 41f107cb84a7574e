"""The ``margin_calls`` report type for auditors (``platform_core.hooks.report_types``).

The PDF carries the period's totals (calls issued, met, closed by liquidation, still open;
notices stored and delivered; deleveragings and liquidations, queued under the crash switch;
shortfalls and write-offs; crash-switch changes), calls per day, and the exceptions: calls
left open past their deadline, proposals executed while a dispute is open. Every call, notice,
proposal (with its fills) and ratio mark is in the appendix.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from platform_core.audit.models import AuditEvent
from platform_core.audit.report_content import (
    ReportAppendix,
    ReportBody,
    ReportPeriod,
    ReportSection,
    amount_text,
)
from platform_core.hooks import ReportType
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.selectors import tenant_scoped
from risk.operations.models import (
    ClientDebt,
    Dispute,
    MarginCall,
    MarginNotice,
    Proposal,
    RatioMark,
)


def margin_calls_build(
    *, tenant: Tenant, period: ReportPeriod, appendix: ReportAppendix
) -> ReportBody:
    window = {"gte": period.start, "lt": period.end}
    calls = tenant_scoped(MarginCall, tenant=tenant).filter(
        issued_at__gte=window["gte"], issued_at__lt=window["lt"]
    )
    notices = tenant_scoped(MarginNotice, tenant=tenant).filter(
        created_at__gte=window["gte"], created_at__lt=window["lt"]
    )
    proposals = tenant_scoped(Proposal, tenant=tenant).filter(
        created_at__gte=window["gte"], created_at__lt=window["lt"]
    )
    marks = tenant_scoped(RatioMark, tenant=tenant).filter(
        at__gte=window["gte"], at__lt=window["lt"]
    )
    debts = tenant_scoped(ClientDebt, tenant=tenant).filter(
        created_at__gte=window["gte"], created_at__lt=window["lt"]
    )
    switches = AuditEvent.objects.filter(
        tenant=tenant,
        action__in=("risk.crash_switch_engaged", "risk.crash_switch_released"),
        occurred_at__gte=window["gte"],
        occurred_at__lt=window["lt"],
    ).order_by("seq")

    call_status = Counter(calls.values_list("status", flat=True))
    executed = proposals.filter(status=Proposal.ProposalStatus.EXECUTED)
    kinds = Counter(executed.values_list("kind", flat=True))
    shortfall = sum((d.amount for d in debts), Decimal(0))
    written_off = sum(
        (d.amount for d in debts if d.status == ClientDebt.DebtStatus.WRITTEN_OFF), Decimal(0)
    )
    summary = [
        (_("Margin calls issued"), str(calls.count())),
        (_("Met"), str(call_status.get(MarginCall.CallStatus.MET, 0))),
        (_("Closed by liquidation"), str(call_status.get(MarginCall.CallStatus.LIQUIDATED, 0))),
        (_("Still open"), str(call_status.get(MarginCall.CallStatus.OPEN, 0))),
        (_("Notices stored"), str(notices.count())),
        (_("Notices delivered"), str(notices.filter(sent_at__isnull=False).count())),
        (_("Deleveragings executed"), str(kinds.get(Proposal.Kind.DELEVERAGE, 0))),
        (_("Liquidations executed"), str(kinds.get(Proposal.Kind.LIQUIDATION, 0))),
        (
            _("Proposals queued by the crash switch"),
            str(proposals.filter(paused_by_switch=True).count()),
        ),
        (_("Shortfall become client debt"), amount_text(shortfall)),
        (_("Written off"), amount_text(written_off)),
        (_("Crash-switch changes"), str(switches.count())),
    ]
    per_day = (
        calls.annotate(day=TruncDate("issued_at", tzinfo=period.zone))
        .values_list("day", flat=True)
        .order_by("day")
    )
    day_counts = Counter(per_day)
    overdue = calls.filter(status=MarginCall.CallStatus.OPEN, deadline_at__lt=period.end).order_by(
        "deadline_at"
    )
    disputed = Dispute.objects.filter(
        tenant=tenant, proposal__in=executed, status=Dispute.DisputeStatus.OPEN
    ).order_by("pk")
    sections = [
        ReportSection(
            title=_("Calls per day"),
            columns=(_("Day"), _("Calls")),
            rows=[(day.isoformat(), str(n)) for day, n in sorted(day_counts.items())],
            numeric=(1,),
        ),
        ReportSection(
            title=_("Calls open past their deadline"),
            columns=(_("Call"), _("Account"), _("Deadline"), _("Deposit needed")),
            rows=[
                (
                    str(c.pk),
                    str(c.account_id),
                    c.deadline_date.isoformat(),
                    amount_text(c.deposit_needed),
                )
                for c in overdue[:400]
            ],
            numeric=(3,),
        ),
        ReportSection(
            title=_("Crash switch"),
            columns=(_("When"), _("Change"), _("By"), _("Reason")),
            rows=[
                (
                    e.occurred_at.astimezone(period.zone).strftime("%Y-%m-%d %H:%M"),
                    _("engaged") if e.action.endswith("engaged") else _("released"),
                    e.actor_label,
                    e.reason,
                )
                for e in switches[:400]
            ],
        ),
        ReportSection(
            title=_("Executed proposals under dispute"),
            columns=(_("Dispute"), _("Proposal"), _("Opened")),
            rows=[
                (str(d.pk), str(d.proposal_id), d.created_at.date().isoformat())
                for d in disputed[:400]
            ],
        ),
    ]
    appendix.csv(
        "calls",
        (
            "id",
            "account",
            "status",
            "stage",
            "issued_at",
            "deadline",
            "ratio",
            "equity",
            "maintenance",
            "deposit_needed",
            "currency",
            "policy",
            "closed_at",
            "closed_reason",
        ),
        (
            (
                c.pk,
                c.account_id,
                c.status,
                c.stage,
                c.issued_at,
                c.deadline_date,
                c.ratio,
                c.equity,
                c.maintenance,
                c.deposit_needed,
                c.currency,
                f"{c.policy_name} v{c.policy_version}",
                c.closed_at,
                c.closed_reason,
            )
            for c in calls.order_by("pk").iterator()
        ),
    )
    appendix.csv(
        "notices",
        ("id", "account", "call", "step", "key", "stored_at", "sent_at", "notification"),
        (
            (
                n.pk,
                n.account_id,
                n.call_id,
                n.step,
                n.key,
                n.created_at,
                n.sent_at,
                n.notification_id,
            )
            for n in notices.order_by("pk").iterator()
        ),
    )
    appendix.csv(
        "proposals",
        (
            "id",
            "account",
            "call",
            "kind",
            "status",
            "created_at",
            "decided_at",
            "decided_by",
            "ratio_before",
            "ratio_after",
            "net_cash",
            "shortfall",
            "paused_by_switch",
            "policy",
        ),
        (
            (
                p.pk,
                p.account_id,
                p.call_id,
                p.kind,
                p.status,
                p.created_at,
                p.decided_at,
                p.decided_by_label,
                p.ratio_before,
                p.ratio_after,
                p.proceeds,
                p.shortfall,
                p.paused_by_switch,
                p.policy_version,
            )
            for p in proposals.order_by("pk").iterator()
        ),
    )
    appendix.json(
        "fills",
        {
            str(p.pk): {"steps": p.steps, "fills": p.fills, "prices": p.prices}
            for p in executed.order_by("pk")
        },
    )
    appendix.csv(
        "ratio_marks",
        ("account", "at", "previous", "status", "ratio", "equity", "maintenance", "sweep"),
        (
            (m.account_id, m.at, m.previous, m.status, m.ratio, m.equity, m.maintenance, m.sweep_id)
            for m in marks.order_by("at", "pk").iterator()
        ),
    )
    empty = not (calls.exists() or notices.exists() or proposals.exists() or switches.exists())
    return ReportBody(summary=summary, sections=sections, empty=empty)


MARGIN_CALLS = ReportType(
    key="margin_calls",
    title=gettext_lazy("Margin calls"),
    description=gettext_lazy(
        "Calls, notices, deleveraging and liquidation log, the crash switch and client debt."
    ),
    build=margin_calls_build,
)
