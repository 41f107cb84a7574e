"""Reads of the risk app, always for one tenant: an account's portfolio and its margin.

The portfolio handed to the engine is the one the ``margin`` command would read from JSON
(``portfolio_parse``), so the API, the live check and the command run one implementation and
refuse the same bad portfolios with the same messages.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import F, QuerySet
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone

from ledger.models import LedgerAccount
from ledger.selectors import access_account_by_id
from platform_core.audit.models import ApprovalRequest
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.selectors import tenant_scoped
from risk.engine.policies import margin_compute
from risk.engine.portfolio import Portfolio, portfolio_parse
from risk.engine.result import MarginResult
from risk.hooks import loan_sources
from risk.models import Instrument, MarginPolicyVersion, MarginStatus, Position, Quote
from risk.oracle import OraclePrice, oracle_prices
from risk.policies import ACTIVATE_ACTION
from risk.stored_policy import stored_margin_compute


def access_margin_account_by_id(
    *, tenant: Tenant, membership: Membership, account_id: object
) -> LedgerAccount:
    """A client-money account: staff read any of the tenant's, a client only their own."""
    account = access_account_by_id(tenant=tenant, membership=membership, account_id=account_id)
    if account.kind != LedgerAccount.Kind.CLIENT_CASH:
        raise Http404(f"No {LedgerAccount._meta.verbose_name} with this id.")
    return account


def position_list(*, tenant: Tenant, account: LedgerAccount) -> QuerySet[Position]:
    return (
        tenant_scoped(Position, tenant=tenant)
        .filter(account=account)
        .exclude(quantity=0)
        .select_related("instrument", "instrument__underlying")
        .order_by("instrument__symbol")
    )


@dataclass(frozen=True)
class PricedPortfolio:
    """The engine's portfolio, and the oracle's answers its prices came from."""

    portfolio: Portfolio
    prices: dict[str, OraclePrice]

    @property
    def prices_suspect(self) -> list[dict[str, Any]]:
        return [p.as_json() for _, p in sorted(self.prices.items()) if p.suspect]


def _exposures(holdings: Mapping[Instrument, Decimal]) -> dict[str, int]:
    """Per symbol: +1 if the account gains when its price rises, -1 if it loses, else 0.

    An option counts for itself and, by the sign of its delta (calls +, puts -), for its
    underlying; this decides which way a suspect price's add-on goes.
    """
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for instrument, quantity in holdings.items():
        totals[instrument.symbol] += quantity
        if instrument.kind == "option" and instrument.underlying is not None:
            delta_sign = 1 if instrument.right == "call" else -1
            totals[instrument.underlying.symbol] += quantity * instrument.multiplier * delta_sign
    return {symbol: (total > 0) - (total < 0) for symbol, total in totals.items()}


def instrument_document(instrument: Instrument, price: Decimal) -> dict[str, Any]:
    document: dict[str, Any] = {
        "symbol": instrument.symbol,
        "kind": instrument.kind,
        "price": format(price, "f"),
    }
    if instrument.kind == "option":
        assert instrument.underlying is not None and instrument.expiry is not None
        document.update(
            underlying=instrument.underlying.symbol,
            right=instrument.right,
            strike=format(instrument.strike, "f"),
            expiry=instrument.expiry.isoformat(),
            multiplier=format(instrument.multiplier, "f"),
            exercise_style=instrument.exercise_style,
            settlement=instrument.settlement,
        )
    else:
        document["underlying_class"] = instrument.underlying_class
        if instrument.underlying_class == "leveraged_etf":
            document["leverage"] = format(instrument.leverage, "f")
    return document


def loans_of(*, tenant: Tenant, accounts: Sequence[LedgerAccount]) -> dict[int, Decimal]:
    """What each account's owner owes the house: the sum over every ``risk.hooks.loan_sources``
    (one batched call per source); an account nobody reports is absent (owes nothing)."""
    totals: dict[int, Decimal] = defaultdict(Decimal)
    if not accounts:
        return {}
    for source in loan_sources:
        for account_id, amount in source.loans(tenant=tenant, accounts=accounts).items():
            if not isinstance(amount, Decimal | int) or isinstance(amount, bool):
                raise TypeError(
                    f"loan source {source.key!r} gave {amount!r} for account {account_id}: "
                    "money is a Decimal"
                )
            totals[account_id] += amount
    return {account_id: amount for account_id, amount in totals.items() if amount}


def priced_portfolio(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    orders: Mapping[Instrument, Decimal] | None = None,
    now: datetime | None = None,
    loan: Decimal | None = None,
) -> PricedPortfolio:
    """The account's positions (plus ``orders``, paid from cash at the same prices), priced
    by the oracle, with the client's cash (the client-money balance) and loan (``loans_of``,
    unless the caller read it already for many accounts at once).

    Raises ``OracleError`` for an instrument never quoted and ``PortfolioError`` for what the
    engine refuses (an expired option…).
    """
    now = now or timezone.now()
    if loan is None:
        loan = loans_of(tenant=tenant, accounts=[account]).get(account.pk, Decimal(0))
    holdings: dict[Instrument, Decimal] = defaultdict(Decimal)
    for position in position_list(tenant=tenant, account=account):
        holdings[position.instrument] += position.quantity
    for instrument, quantity in (orders or {}).items():
        holdings[instrument] += quantity
    instruments = {i.symbol: i for i in holdings}
    for instrument in holdings:
        if instrument.kind == "option" and instrument.underlying is not None:
            instruments.setdefault(instrument.underlying.symbol, instrument.underlying)
    prices = oracle_prices(instruments=instruments.values(), now=now)
    exposures = _exposures(holdings)
    used = {s: prices[s].margin_price(exposures.get(s, 0)) for s in instruments}
    cash = account.balance
    for instrument, quantity in (orders or {}).items():
        cash -= quantity * used[instrument.symbol] * instrument.multiplier
    document = {
        "currency": account.currency,
        "as_of": timezone.localdate(now, ZoneInfo(tenant.timezone)).isoformat(),
        "cash": format(cash, "f"),
        "loan": format(loan, "f"),
        "instruments": [instrument_document(i, used[s]) for s, i in sorted(instruments.items())],
        "positions": [
            {"symbol": i.symbol, "quantity": format(q, "f")}
            for i, q in sorted(holdings.items(), key=lambda item: item[0].symbol)
            if q != 0
        ],
    }
    return PricedPortfolio(portfolio_parse(document), prices)


def portfolio_for_account(
    *, tenant: Tenant, account: LedgerAccount, now: datetime | None = None
) -> Portfolio:
    """The engine's portfolio of the account, at the oracle's prices."""
    return priced_portfolio(tenant=tenant, account=account, now=now).portfolio


def _with_suspects(result: MarginResult, priced: PricedPortfolio) -> MarginResult:
    result.extra["prices_suspect"] = priced.prices_suspect
    return result


def margin_status(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    policy: str | None = None,
    now: datetime | None = None,
) -> MarginResult:
    """The account's margin now; ``as_json()`` is the contract's result plus
    ``prices_suspect`` (the instruments margined at a last trusted price with its add-on).

    ``policy``: a built-in policy's name, or None for the tenant's active stored policy (the
    built-in ``cboe-strategy`` when it has none).
    """
    priced = priced_portfolio(tenant=tenant, account=account, now=now)
    return _with_suspects(
        portfolio_margin(tenant=tenant, account=account, priced=priced, policy=policy), priced
    )


def margin_what_if(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    orders: Mapping[Instrument, Decimal],
    policy: str | None = None,
    now: datetime | None = None,
) -> MarginResult:
    """The account's margin as if ``orders`` (signed quantities) were filled at the oracle's
    prices: the same engine and prices as the live check, so the two can never disagree."""
    priced = priced_portfolio(tenant=tenant, account=account, orders=orders, now=now)
    return _with_suspects(
        portfolio_margin(tenant=tenant, account=account, priced=priced, policy=policy), priced
    )


# --- stored policies -------------------------------------------------------------------------

DEFAULT_POLICY = "cboe-strategy"


def policy_active(*, tenant: Tenant) -> MarginPolicyVersion | None:
    """The tenant's active margin policy version (None: the built-in default applies)."""
    return (
        tenant_scoped(MarginPolicyVersion, tenant=tenant)
        .filter(status=MarginPolicyVersion.Status.ACTIVE)
        .first()
    )


def policy_list(*, tenant: Tenant, name: str | None = None) -> QuerySet[MarginPolicyVersion]:
    queryset = tenant_scoped(MarginPolicyVersion, tenant=tenant)
    if name is not None:
        queryset = queryset.filter(name=name)
    return queryset.order_by("name", "-version")


def access_policy_by_id(*, tenant: Tenant, policy_id: object) -> MarginPolicyVersion:
    return access_object_by_id(MarginPolicyVersion, tenant=tenant, object_id=policy_id)


def policy_activations_pending(*, tenant: Tenant) -> dict[int, int]:
    """Drafts waiting for a second risk officer: ``{policy version id: approval id}``."""
    pending = tenant_scoped(ApprovalRequest, tenant=tenant).filter(
        action=ACTIVATE_ACTION, status=ApprovalRequest.Status.PENDING
    )
    return {int(a.params["policy_id"]): a.pk for a in pending.order_by("pk")}


def policy_by_name(*, tenant: Tenant, name: str) -> MarginPolicyVersion | None:
    """``NAME``: its active version, else its latest; ``NAME@N``: version N."""
    name, _, number = name.partition("@")
    versions = policy_list(tenant=tenant, name=name)
    if number:
        return versions.filter(version=int(number)).first() if number.isdigit() else None
    return versions.filter(status=MarginPolicyVersion.Status.ACTIVE).first() or versions.first()


def investor_class_of(*, tenant: Tenant, membership: Membership | None) -> str | None:
    """The client's investor class from KYC (None until KYC offers it or has classified them)."""
    if membership is None:
        return None
    try:
        from kyc.selectors import investor_class_for  # type: ignore[attr-defined]
    except ImportError:
        return None
    value = investor_class_for(tenant=tenant, membership=membership)
    return None if value is None else str(getattr(value, "value", value))


def daily_closes(*, symbols: Iterable[str], days: int = 260) -> dict[str, list[Decimal]]:
    """Each symbol's daily closes (its last quote of each UTC day), oldest first."""
    closes: dict[str, list[Decimal]] = defaultdict(list)
    rows = (
        Quote.objects.filter(instrument__symbol__in=list(symbols))
        .annotate(day=TruncDate("at"))
        .order_by("instrument__symbol", "day", "-at")
        .distinct("instrument__symbol", "day")
        .values_list("instrument__symbol", "day", "price")
    )
    for symbol, _, price in rows:
        closes[symbol].append(price)
    return {s: c[-days:] for s, c in closes.items()}


VOLATILITY_POLICIES = frozenset({"span-like", "finra-pm"})
# Used for a name with too short a price history to estimate its volatility (the simulated
# feed's long-run level), and reported in the result's ``volatility_assumed``.
FALLBACK_VOLATILITY = Decimal("0.30")
MIN_VOLATILITY_HISTORY = 20


def volatility_estimate(closes: list[Decimal]) -> Decimal | None:
    """Annualised volatility: the standard deviation of daily log returns times sqrt(252)."""
    if len(closes) < MIN_VOLATILITY_HISTORY:
        return None
    returns = [math.log(float(b) / float(a)) for a, b in itertools.pairwise(closes) if a > 0]
    mean = sum(returns) / len(returns)
    variance = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    return Decimal(repr(math.sqrt(variance * 252))).quantize(Decimal("0.0001"))


def portfolio_with_volatility(portfolio: Portfolio, *, names: Iterable[str]) -> Portfolio:
    """The portfolio with each underlying's volatility from its price history."""
    names = sorted(set(names) - set(portfolio.volatility))
    if not names:
        return portfolio
    closes = daily_closes(symbols=names)
    volatility = dict(portfolio.volatility)
    assumed = []
    for name in names:
        estimate = volatility_estimate(closes.get(name, []))
        if estimate is None or estimate <= 0:
            estimate = FALLBACK_VOLATILITY
            assumed.append(name)
        volatility[name] = estimate
    parameters = portfolio.parameters
    result = replace(portfolio, volatility=volatility, parameters=parameters)
    object.__setattr__(result, "_volatility_assumed", assumed)
    return result


def portfolio_margin(
    *,
    tenant: Tenant,
    account: LedgerAccount,
    priced: PricedPortfolio,
    policy: str | None = None,
    stored: MarginPolicyVersion | None = None,
) -> MarginResult:
    """Margin an account's priced portfolio: under a built-in ``policy`` if named, else under
    ``stored`` or the tenant's active stored policy, else under the built-in default."""
    if policy is not None:
        return margin_compute(priced.portfolio, policy)
    stored = stored or policy_active(tenant=tenant)
    if stored is None:
        return margin_compute(priced.portfolio, DEFAULT_POLICY)
    from risk.policies import stored_policy_of

    portfolio = priced.portfolio
    symbols = set(portfolio.instruments)
    tiers = dict(Instrument.objects.filter(symbol__in=symbols).values_list("symbol", "risk_tier"))
    history = None
    dynamic = stored.parameters.get("dynamic_addon") or {}
    names = {i.underlying or s for s, i in portfolio.instruments.items()}
    if dynamic.get("method") == "var":
        history = daily_closes(symbols=names)
    if dynamic.get("method") == "volatility" or stored.base in VOLATILITY_POLICIES:
        portfolio = portfolio_with_volatility(portfolio, names=names)
    owner = account.owner if account.owner_id else None
    result = stored_margin_compute(
        portfolio,
        stored_policy_of(stored),
        label=f"{tenant.slug}:{stored.name}",
        risk_tiers=tiers,
        investor_class=investor_class_of(tenant=tenant, membership=owner),
        history=history,
    )
    assumed = getattr(portfolio, "_volatility_assumed", [])
    if assumed:
        result.extra["volatility_assumed"] = {n: format(FALLBACK_VOLATILITY, "f") for n in assumed}
    return result


# --- the margin monitor ------------------------------------------------------------------------


def margin_monitor(
    *,
    tenant: Tenant,
    status: str | None = None,
    ratio_below: Decimal | None = None,
    account_id: int | None = None,
) -> QuerySet[MarginStatus]:
    """The latest margin status of the tenant's accounts, lowest margin ratio first (accounts
    with no ratio last); optionally only one status, or ratios below a figure."""
    queryset = tenant_scoped(MarginStatus, tenant=tenant).select_related("account__owner__user")
    if status:
        queryset = queryset.filter(status=status)
    if ratio_below is not None:
        queryset = queryset.filter(ratio__lt=ratio_below)
    if account_id is not None:
        queryset = queryset.filter(account_id=account_id)
    return queryset.order_by(F("ratio").asc(nulls_last=True), "account_id")


def margin_status_of(*, tenant: Tenant, account: LedgerAccount) -> MarginStatus | None:
    return tenant_scoped(MarginStatus, tenant=tenant).filter(account=account).first()


def margin_function(
    *, tenant: Tenant, account: LedgerAccount, prices: dict[str, OraclePrice] | None = None
) -> Any:
    """``portfolio -> MarginResult`` under the tenant's policy for this account (its stored
    policy with the account's tiers and investor class, else the built-in default)."""
    stored = policy_active(tenant=tenant)

    def margin(portfolio: Portfolio) -> MarginResult:
        return portfolio_margin(
            tenant=tenant,
            account=account,
            priced=PricedPortfolio(portfolio, prices or {}),
            policy=None if stored is not None else DEFAULT_POLICY,
            stored=stored,
        )

    return margin


def liquidation_prices_of(
    *, tenant: Tenant, account: LedgerAccount, priced: PricedPortfolio, line: Decimal
) -> list[dict[str, Any]]:
    """Per underlying, the prices at which the margin ratio falls below ``line`` under the
    tenant's policy (``risk.searches``), the rest of the portfolio fixed."""
    from risk.searches import liquidation_prices_under

    return liquidation_prices_under(
        priced.portfolio,
        margin=margin_function(tenant=tenant, account=account, prices=priced.prices),
        line=line,
    )
