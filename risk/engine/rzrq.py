"""``cn-rzrq``: China's regulated margin financing and securities lending (融资融券).

The exchanges' rules (SSE/SZSE 融资融券交易实施细则) measure an account two ways, and the held view
carries both:

- **Opening** is governed by the *available margin* (保证金可用余额): cash, plus collateral
  securities at their haircut (折算率), less the margin the open financing and short sales tie up:
  the financing margin ratio (融资保证金比例) x the financed amount and the securities-lending
  margin ratio (融券保证金比例) x the value sold short. A new financed purchase of X needs
  X x the financing ratio of it. Here ``excess_initial`` *is* that available margin, so
  ``initial_requirement`` = equity - available margin, which works out per position as:

  * each long position: (its value not bought with the loan) x (1 - haircut), the part of owned
    collateral the rules do not count;
  * the loan (``financing``): loan x financing ratio; the securities it bought count only through
    their gain or loss, which the equity already carries. Which securities the loan bought is not
    in the portfolio, so the loan is taken to have bought those with the highest haircut first:
    the attribution that counts the least collateral, in the platform's favour; a loan larger
    than the long positions (a loss on financed stock) is then counted in full, as the rules
    count losses;
  * each short position: its value x lending ratio (the sale proceeds sit in ``cash``, frozen by
    the rules; the equity already offsets them by subtracting the value sold short).

  For an account that starts flat and buys X with a loan of X, that is X x the financing ratio:
  the deposit the client must make. Interest and fees accrued (利息及费用) are expected inside
  ``loan``.
- **Maintenance** is governed by the maintenance collateral ratio (维持担保比例, the contract's
  ``collateral_ratio``: (cash + securities) ÷ (loan + value sold short)). The account needs the
  ratio at or above the liquidation line, i.e. equity ≥ (line - 1) x what it owes, so the
  ``maintenance_requirement`` is (liquidation line - 1) x (loan + overdraft) for the financing and
  (line - 1) x value for each short position, and ``excess_maintenance`` ≥ 0 exactly when the
  collateral ratio is at or above the line (less the cent each group is rounded up).
  ``margin_ratio`` is then (collateral ratio - 1) ÷ (line - 1): 1 at the line.

Extra result keys: ``line`` ("healthy", "warning" below the warning line, "liquidation" below the
liquidation line; "healthy" when nothing is owed) and ``lines`` (the two thresholds used).

Options and indices are not eligible (融资融券 covers shares, ETFs and bonds): a portfolio holding
one is an error naming ``instruments[i].kind``.

Parameters (``parameters`` overrides; ratios as fractions)
----------------------------------------------------------
- ``financing_margin_ratio``: 0.80 for an ``as_of`` from 2023-09-09, 1.00 before (SSE
  Implementation Rules art. 39 and SZSE art. 4.5, cut from 100 % to 80 % after the close of
  2023-09-08; a broker may set more).
- ``lending_margin_ratio``: 1.00 from 2024-07-22, 0.80 from 2023-10-30, 0.50 before (CSRC
  announcements of 2023-10-14 and 2024-07-10; private funds 1.20 since 2024-07-22: override).
- ``haircut_equity``: 0.65, the 折算率 of a share without its own ``haircut`` (the maximum for
  A-shares outside the SSE 180 / SZSE 100; constituents may have up to 0.70, ST shares 0).
- ``haircut_etf``: 0.90 (the maximum for ETFs).
- ``warning_line``: 1.50 (the legacy top-up target, 补足至150%, kept as brokers' warning line).
- ``liquidation_line``: 1.30 (the legacy uniform floor, 不得低于130%, still the mainstream 平仓线).

These are the exchanges' floors and the market's customary lines (research notes, section 6); a
tenant's stored policy overrides them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from risk.engine.parameters import PolicyParameters
from risk.engine.policies import policy_register
from risk.engine.portfolio import Portfolio, PortfolioError
from risk.engine.result import Group, MarginResult, result_assemble

# (first day in force, ratio), newest first.
FINANCING_MARGIN_RATIOS = ((date(2023, 9, 9), Decimal("0.80")), (date.min, Decimal("1.00")))
LENDING_MARGIN_RATIOS = (
    (date(2024, 7, 22), Decimal("1.00")),
    (date(2023, 10, 30), Decimal("0.80")),
    (date.min, Decimal("0.50")),
)
ELIGIBLE_KINDS = ("equity", "etf")


def _in_force(history: tuple[tuple[date, Decimal], ...], as_of: date) -> Decimal:
    return next(ratio for since, ratio in history if as_of >= since)


def _line(held: Decimal, owed: Decimal, warning: Decimal, liquidation: Decimal) -> str:
    """Where the collateral ratio held ÷ owed stands, compared exactly (no rounded ratio)."""
    if owed <= 0 or held >= warning * owed:
        return "healthy"
    return "warning" if held >= liquidation * owed else "liquidation"


@dataclass(frozen=True)
class RzrqParameters:
    financing_ratio: Decimal
    lending_ratio: Decimal
    default_haircut: dict[str, Decimal]
    warning: Decimal
    liquidation: Decimal


def rzrq_parameters(portfolio: Portfolio) -> RzrqParameters:
    """The policy's parameters for ``portfolio`` (its date and its ``parameters`` overrides)."""
    names = (
        "financing_margin_ratio",
        "lending_margin_ratio",
        "haircut_equity",
        "haircut_etf",
        "warning_line",
        "liquidation_line",
    )
    parameters = PolicyParameters(portfolio, policy="cn-rzrq", names=names)
    zero, one = Decimal(0), Decimal(1)
    financing_ratio = parameters.value(
        "financing_margin_ratio", _in_force(FINANCING_MARGIN_RATIOS, portfolio.as_of), low=zero
    )
    lending_ratio = parameters.value(
        "lending_margin_ratio", _in_force(LENDING_MARGIN_RATIOS, portfolio.as_of), low=zero
    )
    default_haircut = {
        "equity": parameters.value("haircut_equity", Decimal("0.65"), low=zero, high=one),
        "etf": parameters.value("haircut_etf", Decimal("0.90"), low=zero, high=one),
    }
    liquidation = parameters.value("liquidation_line", Decimal("1.30"), low=one)
    warning = parameters.value("warning_line", Decimal("1.50"), low=liquidation)
    return RzrqParameters(financing_ratio, lending_ratio, default_haircut, warning, liquidation)


@policy_register("cn-rzrq")
def cn_rzrq(portfolio: Portfolio) -> MarginResult:
    """融资融券: available margin for opening, the 维持担保比例 lines for maintenance."""
    zero, one = Decimal(0), Decimal(1)
    read = rzrq_parameters(portfolio)
    financing_ratio, lending_ratio = read.financing_ratio, read.lending_ratio
    default_haircut, warning, liquidation = read.default_haircut, read.warning, read.liquidation

    instrument_index = {symbol: i for i, symbol in enumerate(portfolio.instruments)}
    for position in portfolio.positions:
        instrument = portfolio.instrument(position.symbol)
        if instrument.kind not in ELIGIBLE_KINDS:
            raise PortfolioError(
                f"instruments[{instrument_index[instrument.symbol]}].kind",
                f"{instrument.symbol} is an {instrument.kind}: 融资融券 covers shares and ETFs",
            )
    longs = [p for p in portfolio.positions if p.quantity > 0]
    shorts = [p for p in portfolio.positions if p.quantity < 0]

    def haircut(symbol: str) -> Decimal:
        instrument = portfolio.instrument(symbol)
        return (
            default_haircut[instrument.kind] if instrument.haircut is None else instrument.haircut
        )

    # The loan is attributed to the highest-haircut holdings first (ties by symbol, so the
    # split does not depend on the order the positions were listed in).
    financed = [zero] * len(longs)
    unattributed = portfolio.loan
    for i in sorted(range(len(longs)), key=lambda i: (-haircut(longs[i].symbol), longs[i].symbol)):
        financed[i] = min(unattributed, portfolio.market_value(longs[i]))
        unattributed -= financed[i]

    excess_line = liquidation - one
    groups = []
    for position, bought_with_loan in zip(longs, financed, strict=True):
        owned = portfolio.market_value(position) - bought_with_loan
        rate = haircut(position.symbol)
        groups.append(
            Group(
                strategy="long_stock",
                legs=[(position.symbol, position.quantity)],
                initial=owned * (one - rate),
                maintenance=zero,
                rule=(
                    f"collateral at haircut (折算率) {rate}: {1 - rate:.0%} of the "
                    f"{owned:.2f} not bought with the loan is not counted"
                ),
            )
        )
    overdraft = max(-portfolio.cash, zero)
    if portfolio.loan > 0 or overdraft > 0:
        groups.append(
            Group(
                strategy="financing",
                legs=[],
                initial=portfolio.loan * financing_ratio,
                maintenance=(portfolio.loan + overdraft) * excess_line,
                rule=(
                    f"financing (融资) {portfolio.loan:.2f} at a margin ratio of "
                    f"{financing_ratio:.0%}; owed {portfolio.loan + overdraft:.2f} held to the "
                    f"{liquidation:.0%} line"
                ),
            )
        )
    for position in shorts:
        value = -portfolio.market_value(position)
        groups.append(
            Group(
                strategy="short_stock",
                legs=[(position.symbol, position.quantity)],
                initial=value * lending_ratio,
                maintenance=value * excess_line,
                rule=(
                    f"securities lending (融券) {value:.2f} at a margin ratio of "
                    f"{lending_ratio:.0%}, held to the {liquidation:.0%} line"
                ),
            )
        )

    result = result_assemble(policy="cn-rzrq", portfolio=portfolio, groups=groups)
    held = max(result.cash, zero) + result.long_market_value
    owed = result.loan + overdraft + result.short_market_value
    result.extra.update(
        line=_line(held, owed, warning, liquidation),
        lines={"warning": f"{warning:.4f}", "liquidation": f"{liquidation:.4f}"},
    )
    return result
