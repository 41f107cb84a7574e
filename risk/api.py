"""/api/v1/risk/: an account's margin now, and what orders would do to it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.api.idempotency import (
    IDEMPOTENCY_PARAMETER,
    idempotency_key_of,
    idempotent_write,
)
from platform_core.api.views import TenantApiView
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role
from risk.engine import load_policies
from risk.engine.policies import POLICIES
from risk.engine.portfolio import PortfolioError
from risk.engine.result import MarginResult
from risk.models import Instrument
from risk.oracle import OracleError
from risk.orders import order_place
from risk.selectors import access_margin_account_by_id, margin_status, margin_what_if

STAFF_READERS = frozenset(
    {Role.RISK_OFFICER, Role.OPERATIONS, Role.TENANT_ADMIN, Role.COMPLIANCE_OFFICER}
)
READERS = STAFF_READERS | {Role.CLIENT}
DEFAULT_POLICY = "cboe-strategy"


def policy_names() -> list[str]:
    load_policies()
    return sorted(POLICIES)


class MarginGroupSerializer(serializers.Serializer):
    strategy = serializers.CharField()
    legs = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    initial_requirement = serializers.CharField()
    maintenance_requirement = serializers.CharField()
    rule = serializers.CharField()

    class Meta:
        ref_name = "RiskMarginGroup"


class SuspectPriceSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    reason = serializers.ChoiceField(choices=["stale", "jump"])
    trusted_price = serializers.CharField()
    observed_price = serializers.CharField(allow_null=True)
    trusted_at = serializers.DateTimeField()

    class Meta:
        ref_name = "RiskSuspectPrice"


class MarginSerializer(serializers.Serializer):
    """The margin contract's result (../shared/contracts/margin-cli.md) plus suspect prices."""

    policy = serializers.CharField()
    currency = serializers.CharField()
    equity = serializers.CharField()
    initial_requirement = serializers.CharField()
    maintenance_requirement = serializers.CharField()
    excess_initial = serializers.CharField()
    excess_maintenance = serializers.CharField()
    margin_ratio = serializers.CharField(allow_null=True)
    collateral_ratio = serializers.CharField(allow_null=True)
    groups = MarginGroupSerializer(many=True)
    prices_suspect = SuspectPriceSerializer(many=True)

    class Meta:
        ref_name = "RiskMargin"


def _computed(compute: Any) -> MarginResult:
    """Run the engine; a portfolio it cannot margin is a 422 naming the field or symbol."""
    try:
        return compute()
    except OracleError as exc:
        raise ApplicationError(
            422, "price_unavailable", str(exc), {"prices": [f"{exc.symbol}: no quote"]}
        ) from None
    except PortfolioError as exc:
        raise ApplicationError(
            422, "portfolio_invalid", str(exc), {exc.field: [exc.problem]}
        ) from None


def _policy(value: str | None) -> str | None:
    """A built-in policy asked for by name, or None: the tenant's active stored policy (the
    built-in default when it has none)."""
    policy = value or None
    if policy is not None and policy not in policy_names():
        raise ApplicationError(
            400, "invalid", "The request has invalid fields.", {"policy": [f"Unknown {policy!r}."]}
        )
    return policy


class AccountMarginApi(TenantApiView):
    allowed_roles = READERS

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "policy",
                str,
                description=(
                    "a built-in policy; by default the tenant's active stored policy "
                    f"({DEFAULT_POLICY} when it has none)"
                ),
                enum=["cboe-strategy", "finra-pm", "span-like", "cn-rzrq"],
            )
        ],
        responses=MarginSerializer,
    )
    def get(self, request: Request, account_id: int) -> Response:
        account = access_margin_account_by_id(
            tenant=request.tenant, membership=request.membership, account_id=account_id
        )
        policy = _policy(request.query_params.get("policy"))
        result = _computed(
            lambda: margin_status(tenant=request.tenant, account=account, policy=policy)
        )
        return Response(result.as_json())


class WhatIfOrderSerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=64)
    quantity = serializers.DecimalField(max_digits=28, decimal_places=8)

    class Meta:
        ref_name = "RiskWhatIfOrder"

    def validate_quantity(self, value: Decimal) -> Decimal:
        if value == 0:
            raise serializers.ValidationError("An order needs a non-zero quantity.")
        return value


class WhatIfInputSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    orders = WhatIfOrderSerializer(many=True, min_length=1, max_length=100)
    policy = serializers.CharField(required=False, allow_null=True, default=None)

    class Meta:
        ref_name = "RiskWhatIfInput"

    def validate_policy(self, value: str | None) -> str | None:
        if value is not None and value not in policy_names():
            raise serializers.ValidationError(f"Unknown policy {value!r}.")
        return value


class WhatIfApi(TenantApiView):
    """Not a write: the orders are margined, never placed, so no Idempotency-Key."""

    allowed_roles = READERS

    @extend_schema(request=WhatIfInputSerializer, responses=MarginSerializer)
    def post(self, request: Request) -> Response:
        data = WhatIfInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        account = access_margin_account_by_id(
            tenant=request.tenant, membership=request.membership, account_id=fields["account"]
        )
        symbols = [order["symbol"] for order in fields["orders"]]
        instruments = {
            i.symbol: i
            for i in Instrument.objects.filter(symbol__in=symbols).select_related("underlying")
        }
        problems = {
            f"orders.{index}.symbol": [f"Unknown instrument {symbol!r}."]
            for index, symbol in enumerate(symbols)
            if symbol not in instruments
        }
        if problems:
            raise ApplicationError(400, "invalid", "The request has invalid fields.", problems)
        orders: dict[Instrument, Decimal] = {}
        for order in fields["orders"]:
            instrument = instruments[order["symbol"]]
            orders[instrument] = orders.get(instrument, Decimal(0)) + order["quantity"]
        result = _computed(
            lambda: margin_what_if(
                tenant=request.tenant, account=account, orders=orders, policy=fields["policy"]
            )
        )
        return Response(result.as_json())


# --- orders ---------------------------------------------------------------------------------


class OrderInputSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    symbol = serializers.CharField(max_length=64)
    quantity = serializers.DecimalField(
        max_digits=28, decimal_places=8, help_text="signed: buy > 0, sell < 0"
    )

    class Meta:
        ref_name = "RiskOrderInput"

    def validate_quantity(self, value: Decimal) -> Decimal:
        if value == 0:
            raise serializers.ValidationError("An order needs a non-zero quantity.")
        return value


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    symbol = serializers.CharField(source="instrument.symbol")
    quantity = serializers.DecimalField(max_digits=28, decimal_places=8)
    oracle_price = serializers.DecimalField(max_digits=24, decimal_places=8)
    fill_price = serializers.DecimalField(max_digits=24, decimal_places=8)
    cash = serializers.DecimalField(max_digits=28, decimal_places=2)
    currency = serializers.CharField()
    journal_entry = serializers.IntegerField(source="journal_entry_id")
    policy = serializers.CharField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "RiskOrder"


class OrderCreateApi(TenantApiView):
    """Place an order: the pre-trade check, then the simulated fill settled in the ledger."""

    allowed_roles = READERS

    @extend_schema(
        request=OrderInputSerializer,
        responses={201: OrderSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="A client's order on their own account, filled at once at the oracle's "
        "price with spread and slippage. 422 pretrade_refused (with the reason) when the "
        "pre-trade check refuses it: nothing is written.",
    )
    def post(self, request: Request) -> Response:
        if request.membership.role != Role.CLIENT:
            raise ApplicationError(403, "permission_denied", "Only a client may place orders.")
        data = OrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        account = access_margin_account_by_id(
            tenant=request.tenant, membership=request.membership, account_id=fields["account"]
        )
        instrument = (
            Instrument.objects.filter(symbol=fields["symbol"]).select_related("underlying").first()
        )
        if instrument is None:
            raise ApplicationError(
                400,
                "invalid",
                "The request has invalid fields.",
                {"symbol": [f"Unknown instrument {fields['symbol']!r}."]},
            )
        key = idempotency_key_of(request)

        def write() -> tuple[int, dict[str, Any]]:
            order = order_place(
                tenant=request.tenant,
                account=account,
                membership=request.membership,
                actor=request.user,
                instrument=instrument,
                quantity=fields["quantity"],
                idempotency_key=key,
                request=request._request,
            )
            return status.HTTP_201_CREATED, dict(OrderSerializer(order).data)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="risk.order",
            request_fields={
                "account": account.pk,
                "symbol": instrument.symbol,
                "quantity": format(fields["quantity"].normalize(), "f"),
                "requester": request.membership.pk,
            },
            write=write,
        )
