"""A policy's parameters as overridden by a portfolio's ``parameters`` object.

A policy declares the names it reads; a name may also be given per product as ``NAME.SYMBOL``
(``price_scan.SPX``), which wins over the plain ``NAME`` for that symbol, which wins over the
policy's default. A name the policy does not read is an error naming ``parameters.<name>``: a
mistyped override silently ignored would margin the account on the default.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from risk.engine.portfolio import Portfolio, PortfolioError


class PolicyParameters:
    """Overrides checked against the names one policy reads."""

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        policy: str,
        names: Collection[str],
        per_symbol: Collection[str] = (),
    ) -> None:
        for key in portfolio.parameters:
            name, _, symbol = key.partition(".")
            if not symbol and name in names:
                continue
            if symbol and name in per_symbol:
                if symbol not in portfolio.instruments:
                    raise PortfolioError(f"parameters.{key}", f"unknown symbol {symbol!r}")
                continue
            known = ", ".join(sorted({*names, *(f"{n}.SYMBOL" for n in per_symbol)}))
            raise PortfolioError(
                f"parameters.{key}", f"not a parameter of {policy} (it reads {known})"
            )
        self._values = portfolio.parameters

    def value(
        self,
        name: str,
        default: Decimal,
        *,
        symbol: str | None = None,
        low: Decimal | None = None,
        high: Decimal | None = None,
    ) -> Decimal:
        """The override for ``symbol`` if any, else the plain override, else ``default``.

        An override outside ``[low, high]`` is an error naming the key it came from.
        """
        for key in ((f"{name}.{symbol}",) if symbol else ()) + (name,):
            if key in self._values:
                number = self._values[key]
                if (low is not None and number < low) or (high is not None and number > high):
                    bounds = f"[{'' if low is None else low}, {'' if high is None else high}]"
                    raise PortfolioError(f"parameters.{key}", f"{number} is outside {bounds}")
                return number
        return default

    def given(self, name: str, *, symbol: str | None = None) -> bool:
        """Whether the portfolio overrides ``name`` (for ``symbol`` or for every product)."""
        return name in self._values or (symbol is not None and f"{name}.{symbol}" in self._values)
