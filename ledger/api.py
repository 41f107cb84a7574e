"""/api/v1/ledger/: the ledger contract (../shared/contracts/ledger-api.md), to the letter."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from ledger.models import Hold, JournalEntry, LedgerAccount, Posting
from ledger.rules import ACCOUNT_KINDS, ENTRY_TYPES, Side
from ledger.selectors import access_account_by_id, account_statement, money, trial_balance
from ledger.services import (
    Leg,
    account_create,
    amount_parse,
    entry_post,
    hold_post,
    hold_reserve,
    hold_void,
    invalid,
    transfer_post,
)
from platform_core.api.idempotency import (
    IDEMPOTENCY_PARAMETER,
    idempotency_key_of,
    idempotent_write,
)
from platform_core.api.views import TenantApiView
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import CURRENCY_MINOR_UNITS
from platform_core.tenancy.roles import Role

WRITERS = frozenset({Role.OPERATIONS, Role.TENANT_ADMIN})
STAFF_READERS = frozenset(
    {Role.OPERATIONS, Role.TENANT_ADMIN, Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER}
)
READERS = STAFF_READERS | {Role.CLIENT}
# Entry types that only their own workflow posts (reversal: the reverse service; adjustment:
# four eyes through /api/v1/approvals).
API_ENTRY_TYPES = sorted(set(ENTRY_TYPES) - {"reversal", "adjustment"})


def _money(value: Decimal, currency: str) -> str:
    return format(money(value, currency), "f")


def account_body(account: LedgerAccount) -> dict[str, Any]:
    c = account.currency
    return {
        "id": account.pk,
        "kind": account.kind,
        "currency": c,
        "owner": account.owner_id,
        "side": account.normal_side,
        "balance": _money(account.balance, c),
        "pending_debits": _money(account.pending_debits, c),
        "pending_credits": _money(account.pending_credits, c),
        "available": _money(account.available, c),
    }


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=sorted(ACCOUNT_KINDS))
    currency = serializers.CharField()
    owner = serializers.IntegerField(allow_null=True)
    side = serializers.ChoiceField(choices=["debit", "credit"])
    balance = serializers.CharField()
    pending_debits = serializers.CharField()
    pending_credits = serializers.CharField()
    available = serializers.CharField()

    class Meta:
        ref_name = "LedgerAccount"


class AccountCreateApi(TenantApiView):
    allowed_roles = WRITERS

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=sorted(ACCOUNT_KINDS))
        currency = serializers.ChoiceField(choices=sorted(CURRENCY_MINOR_UNITS))
        owner = serializers.IntegerField(required=False, allow_null=True)

        class Meta:
            ref_name = "LedgerAccountInput"

    @extend_schema(request=InputSerializer, responses={201: AccountSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = account_create(
            tenant=request.tenant,
            kind=data.validated_data["kind"],
            currency=data.validated_data["currency"],
            owner_id=data.validated_data.get("owner"),
            actor=request.user,
            request=request._request,
        )
        return Response(account_body(account), status=status.HTTP_201_CREATED)


class AccountDetailApi(TenantApiView):
    allowed_roles = READERS

    @extend_schema(responses=AccountSerializer)
    def get(self, request: Request, account_id: int) -> Response:
        account = access_account_by_id(
            tenant=request.tenant, membership=request.membership, account_id=account_id
        )
        return Response(account_body(account))


class TransferInput(serializers.Serializer):
    debit_account = serializers.IntegerField()
    credit_account = serializers.IntegerField()
    amount = serializers.CharField(max_length=40)
    currency = serializers.ChoiceField(choices=sorted(CURRENCY_MINOR_UNITS))
    entry_type = serializers.ChoiceField(choices=API_ENTRY_TYPES)
    memo = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    class Meta:
        ref_name = "TransferInput"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Parsed here, so "125.5" and "125.50" are one request and a bad amount is a 400
        # that does not use the idempotency key up.
        attrs["amount"] = amount_parse(attrs["amount"], currency=attrs["currency"])
        return attrs


class TransferOutput(serializers.Serializer):
    entry_id = serializers.IntegerField()
    entry_type = serializers.CharField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    debit_account = serializers.IntegerField()
    credit_account = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Transfer"


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class TransferCreateApi(TenantApiView):
    allowed_roles = WRITERS

    @extend_schema(
        request=TransferInput, responses={201: TransferOutput}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    def post(self, request: Request) -> Response:
        fields = _validated(TransferInput, request.data)
        key = idempotency_key_of(request)

        def write() -> tuple[int, dict[str, Any]]:
            entry = transfer_post(
                tenant=request.tenant, idempotency_key=key, actor=request.user, **fields
            )
            return status.HTTP_201_CREATED, {
                "entry_id": entry.pk,
                "entry_type": entry.entry_type,
                "amount": _money(fields["amount"], fields["currency"]),
                "currency": fields["currency"],
                "debit_account": fields["debit_account"],
                "credit_account": fields["credit_account"],
                "created_at": _created_at(entry),
            }

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="ledger.transfer",
            request_fields=fields,
            write=write,
        )


def _created_at(entry: JournalEntry) -> str:
    created = JournalEntry.objects.filter(pk=entry.pk).values_list("created_at", flat=True).get()
    return serializers.DateTimeField().to_representation(created)


class PostingInput(serializers.Serializer):
    account = serializers.IntegerField()
    debit = serializers.CharField(max_length=40, required=False)
    credit = serializers.CharField(max_length=40, required=False)

    class Meta:
        ref_name = "PostingInput"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("debit" in attrs) == ("credit" in attrs):
            raise serializers.ValidationError("Give exactly one of debit or credit.")
        return attrs


class EntryInput(serializers.Serializer):
    entry_type = serializers.ChoiceField(choices=API_ENTRY_TYPES)
    memo = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    postings = PostingInput(many=True, min_length=2)

    class Meta:
        ref_name = "EntryInput"


class PostingOutput(serializers.Serializer):
    account = serializers.IntegerField()
    debit = serializers.CharField(required=False)
    credit = serializers.CharField(required=False)
    currency = serializers.CharField()
    balance_after = serializers.CharField()

    class Meta:
        ref_name = "Posting"


class EntryOutput(serializers.Serializer):
    entry_id = serializers.IntegerField()
    entry_type = serializers.CharField()
    postings = PostingOutput(many=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Entry"


def posting_body(posting: Posting) -> dict[str, Any]:
    return {
        "account": posting.account_id,
        posting.side: _money(posting.amount, posting.currency),
        "currency": posting.currency,
        "balance_after": _money(posting.balance_after, posting.currency),
    }


class EntryCreateApi(TenantApiView):
    allowed_roles = WRITERS

    @extend_schema(
        request=EntryInput, responses={201: EntryOutput}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    def post(self, request: Request) -> Response:
        fields = _validated(EntryInput, request.data)
        legs = []
        accounts = {
            a.pk: a.currency
            for a in LedgerAccount.objects.filter(
                tenant=request.tenant, pk__in=[p["account"] for p in fields["postings"]]
            )
        }
        problems: dict[str, list[str]] = {}
        for index, posting in enumerate(fields["postings"]):
            side = Side.DEBIT if "debit" in posting else Side.CREDIT
            currency = accounts.get(posting["account"])
            if currency is None:
                problems[f"postings.{index}.account"] = [
                    f"No account {posting['account']} in this tenant."
                ]
                continue
            try:
                amount = amount_parse(posting[str(side)], currency=currency, field=str(side))
            except ApplicationError as exc:
                problems[f"postings.{index}.{side}"] = exc.fields[str(side)]
                continue
            legs.append(Leg(posting["account"], side, amount))
        if problems:
            raise invalid(problems)
        key = idempotency_key_of(request)
        canonical = {
            "entry_type": fields["entry_type"],
            "memo": fields["memo"],
            "postings": [[leg.account_id, str(leg.side), leg.amount] for leg in legs],
        }

        def write() -> tuple[int, dict[str, Any]]:
            entry = entry_post(
                tenant=request.tenant,
                entry_type=fields["entry_type"],
                legs=legs,
                idempotency_key=key,
                memo=fields["memo"],
                actor=request.user,
            )
            postings = Posting.objects.filter(entry_id=entry.pk).order_by("pk")
            return status.HTTP_201_CREATED, {
                "entry_id": entry.pk,
                "entry_type": entry.entry_type,
                "postings": [posting_body(p) for p in postings],
                "created_at": _created_at(entry),
            }

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="ledger.entry",
            request_fields=canonical,
            write=write,
        )


# --- holds ---------------------------------------------------------------------------------


class HoldInput(TransferInput):
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    class Meta:
        ref_name = "HoldInput"


class HoldOutput(serializers.Serializer):
    hold_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Hold.Status.choices)
    amount = serializers.CharField()
    currency = serializers.CharField()
    debit_account = serializers.IntegerField()
    credit_account = serializers.IntegerField()
    entry_type = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    posted_amount = serializers.CharField(allow_null=True)
    entry_id = serializers.IntegerField(allow_null=True)

    class Meta:
        ref_name = "Hold"


def hold_body(hold: Hold) -> dict[str, Any]:
    c = hold.currency
    return {
        "hold_id": hold.pk,
        "status": hold.status,
        "amount": _money(hold.amount, c),
        "currency": c,
        "debit_account": hold.debit_account_id,
        "credit_account": hold.credit_account_id,
        "entry_type": hold.entry_type,
        "expires_at": serializers.DateTimeField().to_representation(hold.expires_at)
        if hold.expires_at
        else None,
        "posted_amount": _money(hold.posted_amount, c) if hold.posted_amount is not None else None,
        "entry_id": hold.entry_id,
    }


class HoldCreateApi(TenantApiView):
    allowed_roles = WRITERS

    @extend_schema(
        request=HoldInput, responses={201: HoldOutput}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    def post(self, request: Request) -> Response:
        fields = _validated(HoldInput, request.data)

        def write() -> tuple[int, dict[str, Any]]:
            hold = hold_reserve(tenant=request.tenant, **fields)
            return status.HTTP_201_CREATED, hold_body(hold)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="ledger.hold",
            request_fields=fields,
            write=write,
        )


class HoldPostInput(serializers.Serializer):
    amount = serializers.CharField(max_length=40, required=False)

    class Meta:
        ref_name = "HoldPostInput"


class HoldPostApi(TenantApiView):
    allowed_roles = WRITERS

    @extend_schema(
        request=HoldPostInput, responses={200: HoldOutput}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    def post(self, request: Request, hold_id: int) -> Response:
        hold = access_object_by_id(Hold, tenant=request.tenant, object_id=hold_id)
        fields = _validated(HoldPostInput, request.data or {})
        amount = None
        if "amount" in fields:
            amount = amount_parse(fields["amount"], currency=hold.currency)

        def write() -> tuple[int, dict[str, Any]]:
            posted = hold_post(
                tenant=request.tenant, hold_id=hold.pk, amount=amount, actor=request.user
            )
            return status.HTTP_200_OK, hold_body(posted)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="ledger.hold_post",
            request_fields={"hold": hold.pk, "amount": amount},
            write=write,
        )


class HoldVoidApi(TenantApiView):
    allowed_roles = WRITERS

    @extend_schema(request=None, responses={200: HoldOutput}, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request: Request, hold_id: int) -> Response:
        hold = access_object_by_id(Hold, tenant=request.tenant, object_id=hold_id)

        def write() -> tuple[int, dict[str, Any]]:
            return status.HTTP_200_OK, hold_body(hold_void(tenant=request.tenant, hold_id=hold.pk))

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="ledger.hold_void",
            request_fields={"hold": hold.pk},
            write=write,
        )


# --- reading -------------------------------------------------------------------------------


class TrialBalanceOutput(serializers.Serializer):
    currency = serializers.CharField()
    total_debits = serializers.CharField()
    total_credits = serializers.CharField()
    accounts = serializers.ListField(child=serializers.DictField())

    class Meta:
        ref_name = "TrialBalance"


class TrialBalanceApi(TenantApiView):
    allowed_roles = STAFF_READERS

    @extend_schema(
        parameters=[
            OpenApiParameter("currency", str, required=True, enum=sorted(CURRENCY_MINOR_UNITS))
        ],
        responses=TrialBalanceOutput,
    )
    def get(self, request: Request) -> Response:
        currency = request.query_params.get("currency", "")
        if currency not in CURRENCY_MINOR_UNITS:
            raise invalid({"currency": ["A supported currency is required, e.g. ?currency=USD."]})
        result = trial_balance(tenant=request.tenant, currency=currency)
        return Response(
            {
                "currency": currency,
                "total_debits": _money(result.total_debits, currency),
                "total_credits": _money(result.total_credits, currency),
                "accounts": [
                    {"id": a.pk, "kind": a.kind, "balance": _money(a.balance, currency)}
                    for a in result.accounts
                ],
            }
        )


def _bound(value: str | None, name: str) -> datetime | None:
    """``from``/``to`` as a date (start of that UTC day) or a date-time."""
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise invalid({name: ["Use a date (2026-11-26) or a date-time."]})
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


class StatementLine(serializers.Serializer):
    posting_id = serializers.IntegerField()
    entry_id = serializers.IntegerField()
    entry_type = serializers.CharField()
    memo = serializers.CharField()
    created_at = serializers.DateTimeField()
    debit = serializers.CharField(required=False)
    credit = serializers.CharField(required=False)
    balance_after = serializers.CharField()

    class Meta:
        ref_name = "StatementLine"


class StatementOutput(serializers.Serializer):
    account = AccountSerializer()
    postings = StatementLine(many=True)

    class Meta:
        ref_name = "Statement"


class AccountStatementApi(TenantApiView):
    allowed_roles = READERS

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="inclusive date or date-time"),
            OpenApiParameter("to", str, description="exclusive date or date-time"),
        ],
        responses=StatementOutput,
    )
    def get(self, request: Request, account_id: int) -> Response:
        account = access_account_by_id(
            tenant=request.tenant, membership=request.membership, account_id=account_id
        )
        start = _bound(request.query_params.get("from"), "from")
        end = _bound(request.query_params.get("to"), "to")
        lines = account_statement(tenant=request.tenant, account=account, start=start, end=end)
        represent = serializers.DateTimeField().to_representation
        return Response(
            {
                "account": account_body(account),
                "postings": [
                    {
                        "posting_id": p.pk,
                        "entry_id": p.entry_id,
                        "entry_type": p.entry.entry_type,
                        "memo": p.entry.memo,
                        "created_at": represent(p.entry.created_at),
                        p.side: _money(p.amount, p.currency),
                        "balance_after": _money(p.balance_after, p.currency),
                    }
                    for p in lines[:5000]
                ],
            }
        )
