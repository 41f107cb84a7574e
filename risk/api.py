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
from platform_core.api.pagination import PlatformPagination
from platform_core.api.views import TenantApiView
from platform_core.audit.approvals import approval_request_create
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role
from risk.engine import load_policies
from risk.engine.policies import POLICIES
from risk.engine.portfolio import PortfolioError
from risk.engine.result import MarginResult
from risk.models import Instrument
from risk.oracle import OracleError
from risk.orders import order_place
from risk.policies import ACTIVATE_ACTION, policy_version_create
from risk.selectors import (
    access_margin_account_by_id,
    access_policy_by_id,
    margin_function,
    margin_monitor,
    margin_status,
    margin_what_if,
    policy_active,
    policy_list,
    priced_portfolio,
)
from risk.stored_policy import DEFAULT_LADDER
from risk.stress import account_stress, book_stress_run, shock_parse

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


class LiquidationPriceSerializer(serializers.Serializer):
    underlying = serializers.CharField()
    current = serializers.CharField()
    down = serializers.CharField(allow_null=True)
    up = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "RiskLiquidationPrice"


class WhatIfSerializer(MarginSerializer):
    """The margin after the orders, the liquidation price per underlying (the margin-call
    line) and, for one order, the largest quantity the initial margin allows on its side."""

    liquidation_prices = LiquidationPriceSerializer(many=True, allow_null=True)
    max_quantity = serializers.IntegerField(allow_null=True)

    class Meta:
        ref_name = "RiskWhatIf"


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


def what_if_extras(
    *, tenant: Any, account: Any, orders: dict[Instrument, Decimal], policy: str | None
) -> dict[str, Any]:
    """The liquidation price per underlying after the orders (the margin-call line of the
    tenant's ladder) and, for one order, ``max_quantity`` on its side: the engine's searches
    under a built-in policy named, else the same searches under the tenant's policy."""
    from risk.engine.whatif import liquidation_prices, max_quantity
    from risk.searches import liquidation_prices_under, max_quantity_under

    stored = policy_active(tenant=tenant)
    ladder = stored.ladder if stored is not None and policy is None else DEFAULT_LADDER
    line = Decimal(str(ladder["margin_call"]))
    after = priced_portfolio(tenant=tenant, account=account, orders=orders)
    extras: dict[str, Any] = {"max_quantity": None}
    if policy is not None:
        extras["liquidation_prices"] = [
            {
                "underlying": p.underlying,
                "current": format(p.current, "f"),
                "down": None if p.down is None else format(p.down, "f"),
                "up": None if p.up is None else format(p.up, "f"),
            }
            for p in liquidation_prices(after.portfolio, policy=policy, line=line)
        ]
    else:
        margin = margin_function(tenant=tenant, account=account, prices=after.prices)
        extras["liquidation_prices"] = liquidation_prices_under(
            after.portfolio, margin=margin, line=line
        )
    if len(orders) == 1:
        ((instrument, quantity),) = orders.items()
        before = priced_portfolio(tenant=tenant, account=account, orders={instrument: Decimal(0)})
        side = 1 if quantity > 0 else -1
        if policy is not None:
            extras["max_quantity"] = max_quantity(
                before.portfolio, instrument.symbol, side=side, policy=policy
            )
        else:
            extras["max_quantity"] = max_quantity_under(
                before.portfolio,
                instrument.symbol,
                side=side,
                margin=margin_function(tenant=tenant, account=account, prices=before.prices),
            )
    return extras


class WhatIfApi(TenantApiView):
    """Not a write: the orders are margined, never placed, so no Idempotency-Key."""

    allowed_roles = READERS

    @extend_schema(request=WhatIfInputSerializer, responses=WhatIfSerializer)
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
        body = result.as_json()
        body.update(
            _computed(
                lambda: what_if_extras(
                    tenant=request.tenant,
                    account=account,
                    orders=orders,
                    policy=fields["policy"],
                )
            )
        )
        return Response(body)


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


# --- stress tests and the margin monitor ----------------------------------------------------


class StressRowSerializer(serializers.Serializer):
    scenario = serializers.CharField()
    source = serializers.CharField()
    loss = serializers.CharField()
    equity_after = serializers.CharField()
    maintenance_after = serializers.CharField()
    margin_ratio_after = serializers.CharField(allow_null=True)
    status_after = serializers.CharField()
    below = serializers.ListField(child=serializers.CharField())

    class Meta:
        ref_name = "RiskStressRow"


class StressInputSerializer(serializers.Serializer):
    shocks = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=20,
        help_text='each {"name", "market_move", "moves": {SYMBOL: move}, "volatility_shift", '
        '"volatility_shifts": {SYMBOL: shift}} as fractions, or {"scenario": "1987-10-19"}',
    )

    class Meta:
        ref_name = "RiskStressInput"


def _shocks(data: Any) -> list[Any]:
    serializer = StressInputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    try:
        return [
            shock_parse(raw, f"shocks.{index}")
            for index, raw in enumerate(serializer.validated_data["shocks"])
        ]
    except PortfolioError as exc:
        raise ApplicationError(
            400, "invalid", "The request has invalid fields.", {exc.field: [exc.problem]}
        ) from None


class AccountStressApi(TenantApiView):
    """An account's stress table: the default shocks (GET) or the caller's own (POST)."""

    allowed_roles = READERS

    @extend_schema(responses=StressRowSerializer(many=True))
    def get(self, request: Request, account_id: int) -> Response:
        account = access_margin_account_by_id(
            tenant=request.tenant, membership=request.membership, account_id=account_id
        )
        rows = _computed(lambda: account_stress(tenant=request.tenant, account=account))
        return Response([row.as_json() for row in rows])

    @extend_schema(
        request=StressInputSerializer,
        responses=StressRowSerializer(many=True),
        description="Not a write: the shocks are applied to a copy, so no Idempotency-Key.",
    )
    def post(self, request: Request, account_id: int) -> Response:
        account = access_margin_account_by_id(
            tenant=request.tenant, membership=request.membership, account_id=account_id
        )
        shocks = _shocks(request.data)
        rows = _computed(
            lambda: account_stress(tenant=request.tenant, account=account, shocks=shocks)
        )
        return Response([row.as_json() for row in rows])


class BookStressSerializer(serializers.Serializer):
    scenario = serializers.CharField()
    source = serializers.CharField()
    book_loss = serializers.CharField()
    accounts = serializers.IntegerField()
    breaches = serializers.ListField(child=serializers.DictField())
    failed = serializers.ListField(child=serializers.DictField())

    class Meta:
        ref_name = "RiskBookStress"


class BookStressApi(TenantApiView):
    """The whole book under the shocks: which accounts breach which line, the book's loss."""

    allowed_roles = frozenset({Role.RISK_OFFICER})

    @extend_schema(
        request=StressInputSerializer,
        responses=BookStressSerializer(many=True),
        description="Not a write: the shocks are applied to copies, so no Idempotency-Key.",
    )
    def post(self, request: Request) -> Response:
        shocks = _shocks(request.data)
        outcomes = book_stress_run(tenant=request.tenant, shocks=shocks)
        return Response([outcome.as_json() for outcome in outcomes])


class MarginMonitorRowSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account_id")
    client = serializers.EmailField(source="account.owner.user.email")
    status = serializers.CharField()
    margin_ratio = serializers.DecimalField(source="ratio", max_digits=20, decimal_places=4)
    collateral_ratio = serializers.DecimalField(max_digits=20, decimal_places=4)
    equity = serializers.DecimalField(max_digits=28, decimal_places=2)
    maintenance_requirement = serializers.DecimalField(
        source="maintenance", max_digits=28, decimal_places=2
    )
    initial_requirement = serializers.DecimalField(
        source="initial", max_digits=28, decimal_places=2
    )
    policy = serializers.CharField()
    error = serializers.CharField()
    computed_at = serializers.DateTimeField()

    class Meta:
        ref_name = "RiskMarginMonitorRow"


MONITOR_STATUSES = ["healthy", "warning", "margin_call", "deleverage", "liquidate"]


class MarginMonitorApi(TenantApiView):
    """The accounts' latest margin status from the sweep, lowest margin ratio first."""

    allowed_roles = STAFF_READERS
    pagination_class = PlatformPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=MONITOR_STATUSES),
            OpenApiParameter("ratio_below", str, description="only margin ratios below this"),
        ],
        responses=MarginMonitorRowSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        state = request.query_params.get("status") or None
        if state and state not in MONITOR_STATUSES:
            raise serializers.ValidationError({"status": [f"{state!r} is not a status."]})
        raw = request.query_params.get("ratio_below") or None
        try:
            below = None if raw is None else Decimal(raw)
        except ArithmeticError:
            below = Decimal("NaN")
        if below is not None and (not below.is_finite() or abs(below) > 1_000_000):
            raise serializers.ValidationError(
                {"ratio_below": [f"{raw!r} is not a number from -1000000 to 1000000."]}
            )
        queryset = margin_monitor(tenant=request.tenant, status=state, ratio_below=below)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(MarginMonitorRowSerializer(page, many=True).data)


# --- stored margin policies -----------------------------------------------------------------

POLICY_READERS = STAFF_READERS


class PolicySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    base = serializers.CharField()
    parameters = serializers.DictField()
    ladder = serializers.DictField(child=serializers.CharField())
    call_deadline_business_days = serializers.IntegerField()
    leverage_cap = serializers.DecimalField(max_digits=12, decimal_places=4)
    digest = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "RiskMarginPolicy"


class PolicyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    base = serializers.ChoiceField(choices=["cboe-strategy", "finra-pm", "span-like", "cn-rzrq"])
    parameters = serializers.DictField(required=False, default=dict)
    ladder = serializers.DictField(required=False, allow_null=True, default=None)
    call_deadline_business_days = serializers.IntegerField(required=False, allow_null=True)
    leverage_cap = serializers.CharField(max_length=20, required=False, default="4")

    class Meta:
        ref_name = "RiskMarginPolicyInput"


class PolicyListCreateApi(TenantApiView):
    allowed_roles = POLICY_READERS

    @extend_schema(responses=PolicySerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(PolicySerializer(policy_list(tenant=request.tenant), many=True).data)

    @extend_schema(
        request=PolicyInputSerializer,
        responses={201: PolicySerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="A risk officer drafts the next version of a policy (a built-in base plus "
        "the house's parameters and ladder); it applies only once activated under four eyes.",
    )
    def post(self, request: Request) -> Response:
        if request.membership.role != Role.RISK_OFFICER:
            raise ApplicationError(
                403, "permission_denied", "Only a risk officer may draft margin policies."
            )
        data = PolicyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)

        def write() -> tuple[int, dict[str, Any]]:
            version = policy_version_create(
                tenant=request.tenant, actor=request.user, request=request._request, **fields
            )
            return status.HTTP_201_CREATED, dict(PolicySerializer(version).data)

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="risk.policy",
            request_fields={**fields, "requester": request.membership.pk},
            write=write,
        )


class PolicyDetailApi(TenantApiView):
    allowed_roles = POLICY_READERS

    @extend_schema(responses=PolicySerializer)
    def get(self, request: Request, policy_id: int) -> Response:
        version = access_policy_by_id(tenant=request.tenant, policy_id=policy_id)
        return Response(PolicySerializer(version).data)


class PolicyActivateInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)

    class Meta:
        ref_name = "RiskMarginPolicyActivateInput"


class PolicyActivationSerializer(serializers.Serializer):
    approval_id = serializers.IntegerField()
    digest = serializers.CharField()

    class Meta:
        ref_name = "RiskMarginPolicyActivation"


class PolicyActivateApi(TenantApiView):
    """Ask for a draft's activation: a four-eyes request a second risk officer decides."""

    allowed_roles = frozenset({Role.RISK_OFFICER})

    @extend_schema(
        request=PolicyActivateInputSerializer,
        responses={201: PolicyActivationSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Returns {approval_id}; the version is activated when another risk officer "
        "approves it through the approvals API, pinned to its digest.",
    )
    def post(self, request: Request, policy_id: int) -> Response:
        version = access_policy_by_id(tenant=request.tenant, policy_id=policy_id)
        data = PolicyActivateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def write() -> tuple[int, dict[str, Any]]:
            approval = approval_request_create(
                tenant=request.tenant,
                actor=request.user,
                membership=request.membership,
                action=ACTIVATE_ACTION,
                params={"policy_id": version.pk},
                reason=data.validated_data["reason"],
                request=request._request,
            )
            return status.HTTP_201_CREATED, {"approval_id": approval.pk, "digest": version.digest}

        return idempotent_write(
            request=request,
            tenant=request.tenant,
            operation="risk.policy_activate",
            request_fields={"policy": version.pk, "requester": request.membership.pk},
            write=write,
        )
