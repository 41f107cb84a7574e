"""The sweep: every route that names a tenant object, tried by everyone who must not see it.

Tenancy has one rule (ARCHITECTURE.md, "Tenancy"): another tenant's object is a 404, the
same as a missing one. Tests that name a few routes prove it for those routes; this file
proves it for all of them, including the ones written after it.

1. Discovery. The URL configuration is walked (``get_resolver().url_patterns``, through
   every ``include``), and so is the OpenAPI schema served at ``/api/schema/``. A route
   "takes an object id" when it has a path converter or a regex group.
2. Registration. Each such route is either in ``SWEEP`` (how to build an object of it in
   Acme, which roles may read it, which roles of Acme must be refused) or in
   ``NOT_TENANT_OBJECTS`` with the reason its parameters are not tenant object ids. A new
   route in neither fails ``test_every_route_with_an_id_is_in_the_sweep`` with a message
   saying where to register it; a stale entry fails too.
3. The sweep. For each registered route and each method its view implements, callers try
   Acme's object:

   - anonymous: the API answers 401; a page redirects to the sign-in page;
   - Globex's person with a role allowed to read it (by API token and by session): 404,
     byte for byte the 404 of an id that exists nowhere;
   - an Acme person who also belongs to Globex, acting for Globex: the same 404 (row-level
     security lets a person see their own memberships in every tenant, so only the
     application's tenant filter stands here);
   - Acme's person in a wrong role: 403, or the 404 of a missing object (a client reading
     someone else's object);
   - Acme's person in an allowed role: 200 for a read, showing the object.

   No refused response carries the object's data (e.g. its owner's e-mail) or the e-mail
   of any other Acme person, and a refused request writes nothing: the row counts of every
   model, as each tenant sees them (``as_tenant``), and the object's own fields are the same
   before and after.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from django.apps import apps
from django.contrib.sessions.models import Session
from django.db import models
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from ledger.models import (
    Hold,
    LedgerAccount,
    Reconciliation,
    ReconciliationBreak,
    ReserveLeaf,
    ReserveSnapshot,
    WithdrawalRequest,
)
from ledger.proof_of_reserves import por_snapshot_take
from ledger.reconciliation import reconciliation_run
from ledger.services import account_create, hold_reserve, transfer_post
from ledger.withdrawals import withdrawal_request
from platform_core.audit.approvals import approval_request_create
from platform_core.audit.checkpoints import checkpoint_seal
from platform_core.audit.engagements import engagement_grant
from platform_core.audit.models import (
    ApprovalRequest,
    Checkpoint,
    Engagement,
    Notification,
    ReportFile,
    ReportRequest,
    WebhookEndpoint,
)
from platform_core.audit.notifications import notification_send, webhook_endpoint_register
from platform_core.tenancy.models import Membership
from platform_core.tenancy.roles import Role
from tests.conftest import (
    ROLE_ATTRS,
    TenantPeople,
    api_token_for,
    as_tenant,
    comparable_body,
    make_person,
    sign_in,
)
from tests.financing.sweep_objects import sweep_entries as financing_sweep_entries
from tests.kyc.sweep_objects import sweep_entries as kyc_sweep_entries
from tests.ledger.factories import open_book
from tests.risk_operations.sweep_objects import sweep_entries as margin_call_sweep_entries

MISSING_ID = 999_999_999
# A snapshot id of the form the platform gives ("<UTC cut-off>-<count>") that names nothing.
MISSING_SNAPSHOT = "1999-12-31T23:59:59Z-999999999"
WRITE_METHODS = ("post", "put", "patch", "delete")
SWEPT_METHODS = ("get", *WRITE_METHODS)

# --- discovery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or the full pattern when the route has no name
    pattern: str  # the full pattern, as Django's ResolverMatch.route spells it
    namespace: str
    params: tuple[str, ...]
    callback: Any


def _params_of(pattern: Any) -> list[str]:
    regex = pattern.regex
    names = list(regex.groupindex)
    positional = regex.groups - len(names)
    return names or [f"<positional {i}>" for i in range(positional)]


def _join(prefix: str, part: str) -> str:
    # As django.urls.URLResolver._join_route: an included regex loses its leading "^".
    return prefix + part.removeprefix("^") if prefix else part


def _walk(patterns: list[Any], prefix: str, namespaces: tuple[str, ...], params: tuple[str, ...]):
    for entry in patterns:
        pattern = _join(prefix, str(entry.pattern))
        own = (*params, *_params_of(entry.pattern))
        if isinstance(entry, URLResolver):
            inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from _walk(entry.url_patterns, pattern, inner, own)
        elif isinstance(entry, URLPattern):
            namespace = ":".join(namespaces)
            key = ":".join((*namespaces, entry.name)) if entry.name else pattern
            yield Route(key, pattern, namespace, own, entry.callback)


def discover_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns, "", (), ()))


def methods_of(route: Route) -> tuple[str, ...]:
    """The methods a route's view implements (a function view: GET and POST, as a form)."""
    entry = SWEEP.get(route.key)
    if entry is not None and entry.methods:
        return entry.methods
    view_class = getattr(route.callback, "view_class", None) or getattr(route.callback, "cls", None)
    if view_class is None:
        return ("get", "post")
    return tuple(m for m in SWEPT_METHODS if hasattr(view_class, m))


def is_api(url: str) -> bool:
    return url.startswith("/api/")


# --- the registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """An object built in Acme: its model and id, and what only Acme may see of it.

    Most routes name an object by its primary key. Some name it otherwise (a proof-of-reserves
    snapshot by its id string): ``url_id`` is then what the route takes, and ``missing_id``
    a well-formed id of the same kind that exists nowhere, for the "missing" twin of each URL.
    """

    model: type[models.Model]
    pk: int  # the row whose fields a refused request must leave alone
    param: str  # the route parameter that names the object
    secrets: tuple[str, ...]  # strings of the object's data that must not leak
    other_kwargs: dict[str, Any] = field(default_factory=dict)  # parents, other path parts
    url_id: Any = None  # what ``param`` takes, when it is not ``pk``
    missing_id: Any = MISSING_ID

    @property
    def kwargs(self) -> dict[str, Any]:
        return {**self.other_kwargs, self.param: self.pk if self.url_id is None else self.url_id}

    @property
    def missing_kwargs(self) -> dict[str, Any]:
        return {**self.other_kwargs, self.param: self.missing_id}


@dataclass(frozen=True)
class Sweepable:
    build: Callable[[TenantPeople], Built]  # builds the object in Acme
    readers: tuple[str, ...]  # roles (attributes of TenantPeople) that may read it
    wrong: tuple[str, ...]  # roles of Acme that must be refused (403, or a 404)
    methods: tuple[str, ...] = ()  # only for function views: the methods they accept


def another_client_of_acme(acme: TenantPeople) -> Built:
    """A client's membership: staff read it, ``acme.client`` may not (it is not theirs)."""
    owner = make_person(acme.tenant, "owner@acme.example", Role.CLIENT)
    return Built(Membership, owner.membership.pk, "membership_id", secrets=(owner.email,))


def an_approval_request_of_acme(acme: TenantPeople) -> Built:
    """A pending four-eyes request (a second-factor reset) that only Acme's staff may see."""
    approval = approval_request_create(
        tenant=acme.tenant,
        actor=acme.admin.user,
        membership=acme.admin.membership,
        action="accounts.second_factor_reset",
        params={"membership_id": acme.compliance.membership.pk},
        reason="sweep: phone lost on the 7th",
    )
    return Built(
        ApprovalRequest, approval.pk, "approval_id", secrets=("sweep: phone lost on the 7th",)
    )


def a_funded_client_account_of_acme(acme: TenantPeople) -> Built:
    """Client money with a balance only Acme may see; the client themselves is a reader too."""
    book = open_book(acme)
    book.fund("4321.09")
    return Built(LedgerAccount, book.client.pk, "account_id", secrets=("4321.09",))


def a_funded_client_account_of_acme_grouped(acme: TenantPeople) -> Built:
    """The same, for the portal's dashboard, which groups amounts as the language writes them."""
    return replace(a_funded_client_account_of_acme(acme), secrets=("4,321.09",))


def a_pending_hold_of_acme(acme: TenantPeople) -> Built:
    book = open_book(acme)
    book.fund("1234.56")
    held = hold_reserve(
        tenant=acme.tenant,
        debit_account=book.client.pk,
        credit_account=book.bank.pk,
        amount=Decimal("1234.56"),
        currency="USD",
        entry_type="withdrawal",
    )
    return Built(Hold, held.pk, "hold_id", secrets=("1234.56",))


def _a_snapshot_of_acme(acme: TenantPeople) -> tuple[ReserveSnapshot, LedgerAccount]:
    """A proof-of-reserves snapshot with one tree (USD), holding ``acme.client``'s balance."""
    book = open_book(acme)
    book.fund("4321.09")
    snapshot_id = por_snapshot_take(tenant=acme.tenant, actor=acme.operations.user)
    return ReserveSnapshot.objects.get(snapshot=snapshot_id, currency="USD"), book.client


def _snapshot_built(row: ReserveSnapshot, secrets: tuple[str, ...], **other: Any) -> Built:
    return Built(
        ReserveSnapshot,
        row.pk,
        "snapshot",
        secrets=secrets,
        other_kwargs=other,
        url_id=row.snapshot,
        missing_id=MISSING_SNAPSHOT,
    )


def a_published_root_of_acme(acme: TenantPeople) -> Built:
    """The root every member of Acme may read; its hash commits to every client's balance."""
    row, _ = _a_snapshot_of_acme(acme)
    return _snapshot_built(row, (row.root_hash,))


def a_published_root_download_of_acme(acme: TenantPeople) -> Built:
    row, _ = _a_snapshot_of_acme(acme)
    return _snapshot_built(row, (row.root_hash,), currency=row.currency)


def _client_proof_secrets(row: ReserveSnapshot, account: LedgerAccount) -> tuple[str, ...]:
    # The salt is the client's alone: with it, the leaf (and so the balance) is theirs.
    salt = ReserveLeaf.objects.get(snapshot=row, account=account).salt
    return (salt, row.root_hash)


def a_clients_proof_of_acme(acme: TenantPeople) -> Built:
    """``acme.client``'s inclusion proof: "my proof" is the caller's own, so only they read it."""
    row, account = _a_snapshot_of_acme(acme)
    return _snapshot_built(row, _client_proof_secrets(row, account))


def a_clients_proof_download_of_acme(acme: TenantPeople) -> Built:
    row, account = _a_snapshot_of_acme(acme)
    return _snapshot_built(row, _client_proof_secrets(row, account), currency=row.currency)


NOTIFICATION_REASON = "sweep: margin below 110% on account 7"


def a_message_to_acmes_compliance_officer(acme: TenantPeople) -> Built:
    """An in-portal message: only its recipient may mark it read, anyone else gets a 404."""
    notification = notification_send(
        tenant=acme.tenant,
        recipient=acme.compliance.membership,
        kind="approval.requested",
        context={
            "approval_id": 7,
            "action": "withdrawal.approve",
            "maker": "sweep-maker",
            "reason": NOTIFICATION_REASON,
        },
        key="sweep-approval-7",
        channels=("portal",),
    )
    return Built(
        Notification,
        notification.pk,
        "notification_id",
        secrets=(NOTIFICATION_REASON, str(notification.event_id)),
    )


WEBHOOK_URL = "https://hooks.acme.example/sweep/ledger-sync"


def a_webhook_endpoint_of_acme_with_a_pending_delivery(acme: TenantPeople) -> Built:
    """Acme's endpoint, one delivery waiting for it (sent after commit, so never here)."""
    # No DNS in the test: the URL check would otherwise resolve the host.
    with override_settings(WEBHOOKS_ALLOW_PRIVATE_NETWORKS=True):
        endpoint = webhook_endpoint_register(
            tenant=acme.tenant,
            actor=acme.admin.user,
            url=WEBHOOK_URL,
            events=["approval.requested"],
            description="sweep: ledger sync",
        )
    notification = notification_send(
        tenant=acme.tenant,
        recipient=acme.compliance.membership,
        kind="approval.requested",
        context={"approval_id": 7, "action": "withdrawal.approve", "maker": "m", "reason": "r"},
        key="sweep-webhook-7",
        channels=("webhook",),
    )
    return Built(
        WebhookEndpoint,
        endpoint.pk,
        "endpoint_id",
        secrets=(WEBHOOK_URL, str(notification.event_id)),
    )


def _a_shortfall_run_of_acme(acme: TenantPeople) -> tuple[Reconciliation, ReconciliationBreak]:
    """Today's internal reconciliation: clients are owed 5432.17, the bank holds 5000.00."""
    book = open_book(acme)
    book.fund("5000.00")
    loans = account_create(tenant=acme.tenant, kind="loan_receivable", currency="USD")
    transfer_post(
        tenant=acme.tenant,
        debit_account=loans.pk,
        credit_account=book.client.pk,
        amount=Decimal("432.17"),
        currency="USD",
        entry_type="loan_drawdown",
        idempotency_key="sweep-loan",
    )
    today = timezone.localdate(timezone=ZoneInfo(acme.tenant.timezone))
    (run,) = reconciliation_run(tenant=acme.tenant, business_date=today, currency="USD")
    (brk,) = run.breaks.all()
    assert brk.kind == ReconciliationBreak.Kind.SHORTFALL, brk.kind
    return run, brk


def a_reconciliation_run_of_acme(acme: TenantPeople) -> Built:
    run, brk = _a_shortfall_run_of_acme(acme)
    return Built(Reconciliation, run.pk, "reconciliation_id", secrets=("5432.17", brk.reason))


def an_open_reconciliation_break_of_acme(acme: TenantPeople) -> Built:
    _, brk = _a_shortfall_run_of_acme(acme)
    return Built(ReconciliationBreak, brk.pk, "break_id", secrets=("5432.17", brk.reason))


def a_clients_pending_withdrawal_of_acme(acme: TenantPeople) -> Built:
    """``acme.client`` asked to be paid 777.31 to their bank; the amount is held meanwhile."""
    book = open_book(acme)
    book.fund("4321.09")
    withdrawal = withdrawal_request(
        tenant=acme.tenant,
        membership=acme.client.membership,
        actor=acme.client.user,
        currency="USD",
        amount="777.31",
        destination="GB33BUKB20201555559876",
        idempotency_key="sweep-withdrawal",
    )
    return Built(WithdrawalRequest, withdrawal.pk, "withdrawal_id", secrets=("777.31", "****9876"))


KYC_NAME = "Sweep Kycclient"


def _a_kyc_client_case_of_acme(acme: TenantPeople) -> Any:
    """A new client of Acme has submitted their onboarding file: an open case (kyc)."""
    from tests.kyc.factories import PERSONAL, submit_profile

    person = make_person(acme.tenant, "kyc-sweep-client@acme.example", Role.CLIENT)
    name = {"legal_name": KYC_NAME, "native_name": ""}
    return person, submit_profile(acme.tenant, person, personal={**PERSONAL, **name})


def a_kyc_case_of_acme(acme: TenantPeople) -> Built:
    from kyc.models import KycCase

    _person, case = _a_kyc_client_case_of_acme(acme)
    return Built(KycCase, case.pk, "case_id", secrets=(KYC_NAME,))


def a_kyc_identity_document_of_acme(acme: TenantPeople) -> Built:
    from kyc.models import ProfileDocument

    _person, case = _a_kyc_client_case_of_acme(acme)
    document = ProfileDocument.objects.get(profile_id=case.profile_id, kind="identity")
    return Built(ProfileDocument, document.pk, "document_id", secrets=())


def a_draft_monitoring_rule_of_acme(acme: TenantPeople) -> Built:
    from kyc.models import MonitoringRule
    from kyc.monitoring.services import rule_draft_create

    rule = rule_draft_create(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        code="large_cash",
        params={"threshold": "43210.98"},
        score=20,
    )
    return Built(MonitoringRule, rule.pk, "rule_id", secrets=("43210.98",))


def a_suspicious_transaction_report_of_acme(acme: TenantPeople) -> Built:
    """A third party paid a client's account; the alert's case became a report."""
    from kyc.models import SuspiciousTransactionReport
    from kyc.monitoring.services import entry_evaluate, str_create
    from kyc.services import case_assign

    person, _case = _a_kyc_client_case_of_acme(acme)
    bank = account_create(tenant=acme.tenant, kind="custodian_bank", currency="CNY")
    cash = account_create(
        tenant=acme.tenant, kind="client_cash", currency="CNY", owner_id=person.membership.pk
    )
    entry = transfer_post(
        tenant=acme.tenant,
        debit_account=bank.pk,
        credit_account=cash.pk,
        amount=Decimal("8765.43"),
        currency="CNY",
        entry_type="deposit",
        idempotency_key="sweep-kyc-deposit",
        memo="payer=Sweep Thirdparty",
    )
    (alert,) = entry_evaluate(tenant=acme.tenant, entry_id=entry.pk)
    case_assign(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.compliance.membership,
        case_id=alert.case_id,
        assignee=acme.compliance.membership,
    )
    report = str_create(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        case_id=alert.case_id,
        narrative="sweep: funded by an unrelated payer",
    )
    return Built(
        SuspiciousTransactionReport,
        report.pk,
        "report_id",
        secrets=("sweep: funded by an unrelated payer", "Sweep Thirdparty"),
    )


KYC_STAFF = ("compliance", "admin")  # kyc.views and kyc.monitoring.views


SWEEP_PERIOD = (date(2025, 3, 7), date(2025, 3, 9))  # dates no other page shows


def an_engagement_of_acmes_auditor(acme: TenantPeople) -> Engagement:
    """Acme's auditor may read the journal and the audit trail of 7-9 March 2025, this week."""
    now = timezone.now()
    return engagement_grant(
        tenant=acme.tenant,
        actor=acme.admin.user,
        auditor=acme.auditor.membership,
        scope=["journal", "audit_trail"],
        period_from=SWEEP_PERIOD[0],
        period_to=SWEEP_PERIOD[1],
        access_from=now - timedelta(hours=1),
        access_until=now + timedelta(days=7),
        reason="sweep: FY2025 audit",
    )


def an_open_engagement_of_acme(acme: TenantPeople) -> Built:
    engagement = an_engagement_of_acmes_auditor(acme)
    return Built(Engagement, engagement.pk, "engagement_id", secrets=("2025-03-09",))


def an_engagement_to_revoke(acme: TenantPeople) -> Built:
    engagement = an_engagement_of_acmes_auditor(acme)
    return Built(Engagement, engagement.pk, "engagement_id", secrets=("sweep: FY2025 audit",))


def _a_report_job_of_acme(acme: TenantPeople) -> ReportRequest:
    engagement = an_engagement_of_acmes_auditor(acme)
    return ReportRequest.objects.create(
        tenant=acme.tenant,
        engagement=engagement,
        report_type="journal",
        period_from=SWEEP_PERIOD[0],
        period_to=SWEEP_PERIOD[1],
        key="sweep-journal",
        status=ReportRequest.Status.DONE,
        progress=100,
    )


def a_report_of_acmes_auditor(acme: TenantPeople) -> Built:
    job = _a_report_job_of_acme(acme)
    return Built(ReportRequest, job.pk, "report_id", secrets=("2025-03-09",))


SWEEP_FILE = b"entry,amount\r\n1,4321.09\r\n"


def a_report_file_of_acmes_auditor(acme: TenantPeople) -> Built:
    """An issued appendix file: its bytes and SHA-256 only the engaged auditor downloads."""
    job = _a_report_job_of_acme(acme)
    digest = hashlib.sha256(SWEEP_FILE).hexdigest()
    file = ReportFile.objects.create(
        tenant=acme.tenant,
        request=job,
        kind="csv",
        name="sweep-postings.csv",
        content_type="text/csv",
        content=SWEEP_FILE,
        sha256=digest,
        size=len(SWEEP_FILE),
    )
    return Built(ReportFile, file.pk, "file_id", secrets=(digest,))


def a_signed_checkpoint_of_acme(acme: TenantPeople) -> Built:
    """A signed head of Acme's audit log, readable by its auditor under an audit_trail scope."""
    an_engagement_of_acmes_auditor(acme)
    with override_settings(SIGNING_PKCS12_FILE="", SIGNING_TSA_URL=""):
        head = checkpoint_seal(tenant=acme.tenant, log="audit")
    return Built(Checkpoint, head.pk, "checkpoint_id", secrets=(head.root_hash,))


POLICY_SECRET = "sweep-house-ladder"


def a_draft_margin_policy_of_acme(acme: TenantPeople) -> Built:
    """A draft version of Acme's house margin policy; its name is Acme's own."""
    from risk.models import MarginPolicyVersion
    from risk.policies import policy_version_create

    version = policy_version_create(
        tenant=acme.tenant, actor=acme.risk.user, name=POLICY_SECRET, base="cboe-strategy"
    )
    return Built(MarginPolicyVersion, version.pk, "policy_id", secrets=(POLICY_SECRET,))


STAFF = ("compliance", "risk", "operations", "admin")
LEDGER_WRITERS = ("operations", "admin")
EVERYONE = ("client", *STAFF, "auditor")
RECONCILIATION_READERS = ("operations", "compliance", "admin")  # ledger.reconciliation_views


def everyone_but(*roles: str) -> tuple[str, ...]:
    return tuple(role for role in EVERYONE if role not in roles)


SWEEP: dict[str, Sweepable] = {
    **margin_call_sweep_entries(Sweepable, Built),
    **financing_sweep_entries(Sweepable, Built),
    **kyc_sweep_entries(Sweepable, Built),
    "api:member-detail": Sweepable(
        build=another_client_of_acme, readers=STAFF, wrong=("client", "auditor")
    ),
    **{
        f"api:approval-{verb}": Sweepable(
            build=an_approval_request_of_acme, readers=STAFF, wrong=("client", "auditor")
        )
        for verb in ("detail", "approve", "reject", "withdraw")
    },
    **{
        f"api:ledger-account-{view}": Sweepable(
            build=a_funded_client_account_of_acme,
            readers=(*STAFF, "client"),
            wrong=("auditor",),
        )
        for view in ("detail", "statement")
    },
    **{
        f"api:ledger-hold-{verb}": Sweepable(
            build=a_pending_hold_of_acme,
            readers=LEDGER_WRITERS,
            wrong=("client", "auditor", "risk", "compliance"),
        )
        for verb in ("post", "void")
    },
    "console-approval-decide": Sweepable(
        build=an_approval_request_of_acme,
        readers=STAFF,
        wrong=("client", "auditor"),
        methods=("post",),
    ),
    # Published roots are for every member of the tenant; a proof only for its own client.
    "api:por-root": Sweepable(build=a_published_root_of_acme, readers=EVERYONE, wrong=()),
    "api:por-my-proof": Sweepable(
        build=a_clients_proof_of_acme, readers=("client",), wrong=everyone_but("client")
    ),
    "portal-por-root": Sweepable(
        build=a_published_root_download_of_acme, readers=EVERYONE, wrong=(), methods=("get",)
    ),
    "portal-por-proof": Sweepable(
        build=a_clients_proof_download_of_acme,
        readers=("client",),
        wrong=everyone_but("client"),
        methods=("get",),
    ),
    # A message has no role rule: only its recipient may act on it.
    "api:notification-read": Sweepable(
        build=a_message_to_acmes_compliance_officer,
        readers=("compliance",),
        wrong=everyone_but("compliance"),
    ),
    **{
        f"api:webhook-{view}": Sweepable(
            build=a_webhook_endpoint_of_acme_with_a_pending_delivery,
            readers=("admin",),
            wrong=everyone_but("admin"),
        )
        for view in ("disable", "deliveries")
    },
    # Operations, compliance and tenant admins read reconciliations; only operations act.
    "console-reconciliation-detail": Sweepable(
        build=a_reconciliation_run_of_acme,
        readers=RECONCILIATION_READERS,
        wrong=everyone_but(*RECONCILIATION_READERS),
    ),
    "console-reconciliation-break-resolve": Sweepable(
        build=an_open_reconciliation_break_of_acme,
        readers=("operations",),
        wrong=everyone_but("operations"),
        methods=("post",),
    ),
    # The portal's money pages are a client's own; staff use the console (ledger.views).
    "portal-statement": Sweepable(
        build=a_funded_client_account_of_acme, readers=("client",), wrong=everyone_but("client")
    ),
    "portal-withdrawal-cancel": Sweepable(
        build=a_clients_pending_withdrawal_of_acme,
        readers=("client",),
        wrong=everyone_but("client"),
        methods=("post",),
    ),
    # The API: the client and staff other than auditors read a withdrawal (a client only
    # their own); only the client cancels it, only operations decide (ledger.withdrawals_api).
    "api:ledger-withdrawal-detail": Sweepable(
        build=a_clients_pending_withdrawal_of_acme,
        readers=("client", *STAFF),
        wrong=("auditor",),
    ),
    "api:ledger-withdrawal-cancel": Sweepable(
        build=a_clients_pending_withdrawal_of_acme,
        readers=("client",),
        wrong=everyone_but("client"),
    ),
    **{
        f"{prefix}withdrawal-{verb}": Sweepable(
            build=a_clients_pending_withdrawal_of_acme,
            readers=("operations",),
            wrong=everyone_but("operations"),
            methods=("post",),  # the console's are function views; the API's only post
        )
        for prefix in ("api:ledger-", "console-")
        for verb in ("approve", "reject")
    },
    # KYC (kyc.views, kyc.monitoring.views): compliance officers and tenant admins only.
    "console-kyc-case": Sweepable(
        build=a_kyc_case_of_acme, readers=KYC_STAFF, wrong=everyone_but(*KYC_STAFF)
    ),
    "console-kyc-document": Sweepable(
        build=a_kyc_identity_document_of_acme,
        readers=KYC_STAFF,
        wrong=everyone_but(*KYC_STAFF),
        methods=("get",),
    ),
    "console-kyc-rule": Sweepable(
        build=a_draft_monitoring_rule_of_acme, readers=KYC_STAFF, wrong=everyone_but(*KYC_STAFF)
    ),
    "console-kyc-report-export": Sweepable(
        build=a_suspicious_transaction_report_of_acme,
        readers=KYC_STAFF,
        wrong=everyone_but(*KYC_STAFF),
        methods=("get",),
    ),
    # An account's margin (risk.api): the client for their own account and staff read it.
    "api:risk-account-margin": Sweepable(
        build=a_funded_client_account_of_acme, readers=(*STAFF, "client"), wrong=("auditor",)
    ),
    # A tenant's margin policy versions (risk.api): staff read them; only a risk officer asks
    # for a version's activation.
    "api:risk-policy-detail": Sweepable(
        build=a_draft_margin_policy_of_acme, readers=STAFF, wrong=("client", "auditor")
    ),
    "api:risk-policy-activate": Sweepable(
        build=a_draft_margin_policy_of_acme, readers=("risk",), wrong=everyone_but("risk")
    ),
    # An account's stress table (risk.api) reads like its margin; the portal's margin pages
    # (risk.views) are the client's own.
    "api:risk-account-stress": Sweepable(
        build=a_funded_client_account_of_acme, readers=(*STAFF, "client"), wrong=("auditor",)
    ),
    **{
        name: Sweepable(
            build=a_funded_client_account_of_acme,
            readers=("client",),
            wrong=everyone_but("client"),
            methods=("get",),
        )
        for name in ("portal-margin", "portal-margin-live")
    },
    **{
        name: Sweepable(
            build=a_funded_client_account_of_acme_grouped,
            readers=("client",),
            wrong=everyone_but("client"),
            methods=("get",),
        )
        for name in ("portal-dashboard-live", "portal-what-if-move", "portal-what-if-trade")
    },
    # The auditor area and the checkpoint API: only the auditor of an open engagement
    # (platform_core.audit.engagements); the tenant admin grants and revokes engagements.
    "audit-engagement": Sweepable(
        build=an_open_engagement_of_acme, readers=("auditor",), wrong=everyone_but("auditor")
    ),
    "audit-report": Sweepable(
        build=a_report_of_acmes_auditor,
        readers=("auditor",),
        wrong=everyone_but("auditor"),
        methods=("get",),
    ),
    "audit-report-file": Sweepable(
        build=a_report_file_of_acmes_auditor,
        readers=("auditor",),
        wrong=everyone_but("auditor"),
        methods=("get",),
    ),
    "api:engagement-revoke": Sweepable(
        build=an_engagement_to_revoke, readers=("admin",), wrong=everyone_but("admin")
    ),
    "console-engagement-revoke": Sweepable(
        build=an_engagement_to_revoke,
        readers=("admin",),
        wrong=everyone_but("admin"),
        methods=("post",),
    ),
    **{
        f"api:checkpoint-{view}": Sweepable(
            build=a_signed_checkpoint_of_acme, readers=("auditor",), wrong=everyone_but("auditor")
        )
        for view in ("detail", "inclusion", "consistency")
    },
}

# Routes whose parameters are not ids of tenant objects. "namespace:*" covers a namespace.
NOT_TENANT_OBJECTS: dict[str, str] = {
    "accounts:set_password": (
        "uidb64 and token are a signed one-time password-reset link for a person (a User, "
        "not tenant-owned); the token is checked by Django's token generator"
    ),
    "admin:*": (
        "the Django admin for platform operators (is_staff, behind OTPAdminSite), not a "
        "tenant door; its <path:object_id>, content_type_id, app_label and catch-all url "
        "are the admin's own addressing"
    ),
}

# Refusals the sweep expects that the application does not give yet (reported as bugs).
# Strict: the day the bug is fixed, the case XPASSes and fails until the entry goes.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def excluded(route: Route) -> str | None:
    for key, reason in NOT_TENANT_OBJECTS.items():
        if key == route.key or (key.endswith(":*") and route.namespace == key[:-2]):
            return reason
    return None


ROUTES = discover_routes()
ROUTES_BY_KEY = {route.key: route for route in ROUTES}
ROUTES_WITH_IDS = [route for route in ROUTES if route.params]

REGISTER_HINT = (
    "Register it in SWEEP in tests/e2e/test_sweep.py (a function that builds the object in "
    "Acme and returns it, the roles that may read it, the roles of Acme that must be "
    "refused), or, if its parameters are not ids of tenant objects, add it to "
    "NOT_TENANT_OBJECTS with the reason."
)


# --- callers --------------------------------------------------------------------------------

ROLE_NAMES = {
    "client": "client",
    "compliance": "compliance officer",
    "risk": "risk officer",
    "operations": "operations person",
    "admin": "tenant admin",
    "auditor": "auditor",
}


@dataclass(frozen=True)
class Caller:
    kind: str  # anonymous | other tenant | both tenants | wrong role | allowed
    role: str = ""
    auth: str = ""  # token | session

    def __str__(self) -> str:
        role = ROLE_NAMES.get(self.role, self.role)
        by = f" by {self.auth}"
        return {
            "anonymous": "anonymous",
            "other tenant": f"globex's {role}{by}",
            "both tenants": f"acme's {role} acting for globex{by}",
            "wrong role": f"acme's {role}{by}",
            "allowed": f"acme's {role}{by}",
        }[self.kind]

    @property
    def denied(self) -> bool:
        return self.kind != "allowed"

    def connect(self, acme: TenantPeople, globex: TenantPeople) -> tuple[Client, dict[str, str]]:
        """A client signed in as this caller, and the headers its requests carry."""
        if self.kind == "anonymous":
            return Client(), {}
        tenant_slug = None
        if self.kind == "other tenant":
            person = getattr(globex, self.role)
        elif self.kind == "both tenants":
            acme_person = getattr(acme, self.role)
            person = make_person(globex.tenant, acme_person.email, ROLE_ATTRS[self.role])
            tenant_slug = "globex"
        else:
            person = getattr(acme, self.role)
        if self.auth == "token":
            token = api_token_for(Client(), person, tenant=tenant_slug)
            return Client(), {"HTTP_AUTHORIZATION": f"Token {token}"}
        client = sign_in(Client(), person)
        if tenant_slug:
            switched = client.post("/tenant/switch/", {"tenant": tenant_slug})
            assert switched.status_code == 302, switched.content
        return client, {}


def callers_for(route: Route, entry: Sweepable, method: str) -> Iterator[Caller]:
    auths = ("token", "session") if is_api("/" + route.pattern) else ("session",)
    yield Caller("anonymous")
    for auth in auths:
        for role in entry.readers:
            yield Caller("other tenant", role, auth)
        # One role is enough to show the tenant filter does not trust row security alone.
        yield Caller("both tenants", entry.readers[0], auth)
        for role in entry.wrong:
            yield Caller("wrong role", role, auth)
        if method == "get":
            for role in entry.readers:
                yield Caller("allowed", role, auth)


# --- the cases ------------------------------------------------------------------------------

VERBS = {"get": "reads", "post": "posts to", "put": "replaces", "patch": "patches"}
VERBS["delete"] = "deletes"


@dataclass(frozen=True)
class Case:
    route: str
    method: str
    caller: Caller

    def __str__(self) -> str:
        outcome = {
            "anonymous": "is asked to sign in",
            "other tenant": "gets the 404 of a missing one",
            "both tenants": "gets the 404 of a missing one",
            "wrong role": "is refused",
            "allowed": "gets it",
        }[self.caller.kind]
        return f"{self.caller} {VERBS[self.method]} acme's {self.route} and {outcome}"


def sweep_cases() -> Iterator[Any]:
    for key, entry in SWEEP.items():
        route = ROUTES_BY_KEY.get(key)
        if route is None:  # a stale entry: test_no_registry_entry_is_stale says so
            continue
        for method in methods_of(route):
            for caller in callers_for(route, entry, method):
                case = Case(key, method, caller)
                bug = KNOWN_BUGS.get((key, caller.role)) if caller.kind == "wrong role" else None
                marks = [pytest.mark.xfail(reason=bug, strict=True)] if bug else []
                yield pytest.param(case, id=str(case), marks=marks)


# --- what a refusal must (not) show or change -----------------------------------------------


def _request(client: Client, method: str, url: str, headers: dict[str, str]) -> HttpResponse:
    if is_api(url):
        extra = {"HTTP_IDEMPOTENCY_KEY": "sweep"} if method in WRITE_METHODS else {}
        return getattr(client, method)(url, {}, content_type="application/json", **headers, **extra)
    return getattr(client, method)(url, {}, **headers)


def _database_state(acme: TenantPeople, globex: TenantPeople, built: Built) -> dict[Any, Any]:
    """Row counts of every model as each tenant sees them, and the object's own fields."""
    state: dict[Any, Any] = {}
    for tenant in (acme.tenant, globex.tenant):
        with as_tenant(tenant):
            for model in apps.get_models():
                if model is Session:  # signing in and switching tenants write sessions
                    continue
                state[tenant.slug, model._meta.label] = model._default_manager.count()
    with as_tenant(acme.tenant):
        state["object"] = built.model._default_manager.filter(pk=built.pk).values().first()
    return state


def _leaks(response: HttpResponse, secrets: list[str]) -> list[str]:
    seen = response.content + "\n".join(f"{k}: {v}" for k, v in response.items()).encode()
    return [secret for secret in secrets if secret.encode() in seen]


# --- the tests ------------------------------------------------------------------------------


def test_every_route_with_an_id_is_in_the_sweep():
    unknown = [
        f"{route.key} ({route.pattern}) takes {list(route.params)}"
        for route in ROUTES_WITH_IDS
        if route.key not in SWEEP and not excluded(route)
    ]
    assert not unknown, (
        "The sweep does not know these routes: " + "; ".join(unknown) + (". " + REGISTER_HINT)
    )


def test_no_registry_entry_is_stale():
    keys = set(ROUTES_BY_KEY)
    namespaces = {route.namespace for route in ROUTES}
    stale = [key for key in SWEEP if key not in keys]
    stale += [
        key
        for key in NOT_TENANT_OBJECTS
        if key not in keys and not (key.endswith(":*") and key[:-2] in namespaces)
    ]
    assert not stale, f"No route is named {stale}; remove or rename these entries."
    for key, entry in SWEEP.items():
        assert ROUTES_BY_KEY[key].params, f"{key} takes no id; it needs no SWEEP entry."
        for role in (*entry.readers, *entry.wrong):
            assert role in ROLE_ATTRS, f"{key}: {role!r} is not a role attribute of TenantPeople"
        assert not set(entry.readers) & set(entry.wrong), f"{key}: a role is both allowed and not"


@pytest.mark.django_db
def test_every_schema_path_with_a_parameter_is_in_the_sweep():
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    paths = yaml.safe_load(response.content)["paths"]
    problems = []
    for path, operations in paths.items():
        params = re.findall(r"{(\w+)}", path)
        if not params:
            continue
        match = resolve(re.sub(r"{\w+}", "1", path))
        key = match.view_name if match.url_name else match.route
        route = ROUTES_BY_KEY.get(key)
        if route is None or (key not in SWEEP and not excluded(route)):
            problems.append(f"{path} (route {key}) is documented but not swept. {REGISTER_HINT}")
            continue
        if set(params) != set(route.params):
            problems.append(f"{path} documents {params}, the route takes {list(route.params)}")
        if key in SWEEP:
            documented = {m for m in operations if m in SWEPT_METHODS}
            missed = documented - set(methods_of(route))
            if missed:
                problems.append(f"{path}: the sweep does not try {sorted(missed)}")
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(sweep_cases()))
def test_sweep(case: Case, acme: TenantPeople, globex: TenantPeople):
    entry, caller = SWEEP[case.route], case.caller
    built = entry.build(acme)
    url = reverse(case.route, kwargs=built.kwargs)
    missing_url = reverse(case.route, kwargs=built.missing_kwargs)
    client, headers = caller.connect(acme, globex)

    before = _database_state(acme, globex, built)
    response = _request(client, case.method, url, headers)
    after = _database_state(acme, globex, built)

    if not caller.denied:
        assert response.status_code == 200, (url, response.status_code, response.content)
        # The secrets are really in the object's answer, so their absence elsewhere means something.
        assert _leaks(response, list(built.secrets)) == list(built.secrets), response.content
        return

    if caller.kind == "anonymous":
        if is_api(url):
            assert response.status_code == 401, (url, response.status_code, response.content)
        else:
            assert response.status_code == 302, (url, response.status_code)
            assert response["Location"].startswith(reverse("accounts:login")), response["Location"]
    elif caller.kind in ("other tenant", "both tenants"):
        missing = _request(client, case.method, missing_url, headers)
        assert response.status_code == 404, (url, response.status_code, response.content)
        assert missing.status_code == 404, (missing_url, missing.status_code)
        assert comparable_body(response) == comparable_body(missing), (
            "another tenant's object is told apart"
        )
    else:  # wrong role
        assert response.status_code in (403, 404), (url, response.status_code, response.content)
        if response.status_code == 404:
            missing = _request(client, case.method, missing_url, headers)
            assert comparable_body(response) == comparable_body(missing), (
                "a refused object is told apart"
            )

    # Globex's people know no one at Acme (a person of both tenants knows their colleagues).
    others = (
        [getattr(acme, role).email for role in ROLE_ATTRS] if caller.kind == "other tenant" else []
    )
    assert not _leaks(response, [*built.secrets, *others]), "a refusal shows Acme's data"
    assert after == before, "a refused request changed the database"
