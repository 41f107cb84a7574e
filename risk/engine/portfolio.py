"""The portfolio the engine margins: instruments with prices, positions, cash, loan.

Every number is a ``Decimal`` (strings or JSON numbers are read through ``str``, never float).
A malformed document raises ``PortfolioError`` naming the field, e.g. ``positions[1].quantity``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

KINDS = ("equity", "etf", "index", "option")
UNDERLYING_CLASSES = ("equity", "narrow_index", "broad_index", "leveraged_etf")
RIGHTS = ("call", "put")


class PortfolioError(ValueError):
    """A portfolio the engine cannot margin; ``field`` names where the problem is."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Instrument:
    symbol: str
    kind: str
    price: Decimal
    underlying_class: str = "equity"  # of this instrument if it is an underlying
    leverage: Decimal = Decimal(1)  # leveraged ETFs
    haircut: Decimal | None = None  # 折算率, for cn-rzrq
    underlying: str | None = None  # options
    right: str | None = None
    strike: Decimal | None = None
    expiry: date | None = None
    multiplier: Decimal = Decimal(1)
    exercise_style: str = "american"
    settlement: str = "physical"

    @property
    def is_option(self) -> bool:
        return self.kind == "option"


@dataclass(frozen=True)
class Position:
    symbol: str
    quantity: Decimal


@dataclass(frozen=True)
class Portfolio:
    currency: str
    as_of: date
    cash: Decimal
    loan: Decimal
    instruments: dict[str, Instrument]
    positions: tuple[Position, ...]
    volatility: dict[str, Decimal] = field(default_factory=dict)
    parameters: dict[str, Decimal] = field(default_factory=dict)

    def instrument(self, symbol: str) -> Instrument:
        return self.instruments[symbol]

    def underlying_of(self, instrument: Instrument) -> Instrument:
        """The instrument itself for stock, ETFs and indices; the underlying for options."""
        return self.instruments[instrument.underlying] if instrument.is_option else instrument  # type: ignore[index]

    def market_value(self, position: Position) -> Decimal:
        instrument = self.instruments[position.symbol]
        return position.quantity * instrument.price * instrument.multiplier


def _decimal(value: Any, where: str, *, positive: bool = False, allow_zero: bool = True) -> Decimal:
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise PortfolioError(where, f"{value!r} is not a number")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PortfolioError(where, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise PortfolioError(where, f"{value!r} is not a finite number")
    if positive and (number < 0 or (number == 0 and not allow_zero)):
        raise PortfolioError(
            where, "must be greater than zero" if not allow_zero else "must not be negative"
        )
    return number


def _date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PortfolioError(where, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise PortfolioError(where, f"{value!r} is not one of {', '.join(choices)}")
    return str(value)


def _instrument(raw: Any, where: str, as_of: date) -> Instrument:
    if not isinstance(raw, dict):
        raise PortfolioError(where, "must be an object")
    symbol = raw.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise PortfolioError(f"{where}.symbol", "is required")
    kind = _choice(raw.get("kind"), f"{where}.kind", KINDS)
    if "price" not in raw:
        raise PortfolioError(f"{where}.price", f"missing price for {symbol}")
    price = _decimal(raw["price"], f"{where}.price", positive=True)
    common: dict[str, Any] = {"symbol": symbol, "kind": kind, "price": price}
    if "haircut" in raw:
        haircut = _decimal(raw["haircut"], f"{where}.haircut", positive=True)
        if haircut > 1:
            raise PortfolioError(f"{where}.haircut", "a haircut (折算率) is at most 1")
        common["haircut"] = haircut
    if kind != "option":
        underlying_class = _choice(
            raw.get("underlying_class", "broad_index" if kind == "index" else "equity"),
            f"{where}.underlying_class",
            UNDERLYING_CLASSES,
        )
        leverage = Decimal(1)
        if underlying_class == "leveraged_etf":
            if "leverage" not in raw:
                raise PortfolioError(f"{where}.leverage", "a leveraged ETF needs its leverage")
            leverage = abs(_decimal(raw["leverage"], f"{where}.leverage"))
            if leverage == 0:
                raise PortfolioError(f"{where}.leverage", "must not be zero")
        return Instrument(**common, underlying_class=underlying_class, leverage=leverage)
    for name in ("underlying", "right", "strike", "expiry", "multiplier"):
        if name not in raw:
            raise PortfolioError(f"{where}.{name}", f"option {symbol} without {name}")
    expiry = _date(raw["expiry"], f"{where}.expiry")
    if expiry < as_of:
        raise PortfolioError(f"{where}.expiry", f"option {symbol} expired on {expiry}")
    multiplier = _decimal(raw["multiplier"], f"{where}.multiplier", positive=True, allow_zero=False)
    return Instrument(
        **common,
        underlying=str(raw["underlying"]),
        right=_choice(raw["right"], f"{where}.right", RIGHTS),
        strike=_decimal(raw["strike"], f"{where}.strike", positive=True, allow_zero=False),
        expiry=expiry,
        multiplier=multiplier,
        exercise_style=_choice(
            raw.get("exercise_style", "american"),
            f"{where}.exercise_style",
            ("american", "european"),
        ),
        settlement=_choice(
            raw.get("settlement", "physical"), f"{where}.settlement", ("physical", "cash")
        ),
    )


def portfolio_parse(document: Any) -> Portfolio:
    """Read the contract's portfolio JSON (already decoded) into a ``Portfolio``."""
    if not isinstance(document, dict):
        raise PortfolioError("portfolio", "must be a JSON object")
    currency = document.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise PortfolioError("currency", "an ISO 4217 code such as USD is required")
    if "as_of" not in document:
        raise PortfolioError("as_of", "the valuation date is required")
    as_of = _date(document["as_of"], "as_of")
    cash = _decimal(document.get("cash", "0"), "cash")
    loan = _decimal(document.get("loan", "0"), "loan", positive=True)
    raw_instruments = document.get("instruments", [])
    if not isinstance(raw_instruments, list):
        raise PortfolioError("instruments", "must be a list")
    instruments: dict[str, Instrument] = {}
    for index, raw in enumerate(raw_instruments):
        instrument = _instrument(raw, f"instruments[{index}]", as_of)
        if instrument.symbol in instruments:
            raise PortfolioError(
                f"instruments[{index}].symbol", f"{instrument.symbol} is listed twice"
            )
        instruments[instrument.symbol] = instrument
    for index, instrument in enumerate(instruments.values()):
        if instrument.is_option:
            if instrument.underlying not in instruments:
                raise PortfolioError(
                    f"instruments[{index}].underlying",
                    f"unknown underlying {instrument.underlying!r} (list it with its price)",
                )
            if instruments[instrument.underlying].is_option:  # type: ignore[index]
                raise PortfolioError(
                    f"instruments[{index}].underlying", "an option's underlying cannot be an option"
                )
    raw_positions = document.get("positions", [])
    if not isinstance(raw_positions, list):
        raise PortfolioError("positions", "must be a list")
    positions = []
    for index, raw in enumerate(raw_positions):
        where = f"positions[{index}]"
        if not isinstance(raw, dict):
            raise PortfolioError(where, "must be an object")
        symbol = raw.get("symbol")
        if symbol not in instruments:
            raise PortfolioError(f"{where}.symbol", f"unknown symbol {symbol!r}")
        if "quantity" not in raw:
            raise PortfolioError(f"{where}.quantity", "is required")
        quantity = _decimal(raw["quantity"], f"{where}.quantity")
        if quantity != 0:
            positions.append(Position(symbol=symbol, quantity=quantity))
    raw_vol = document.get("volatility", {})
    if not isinstance(raw_vol, dict):
        raise PortfolioError("volatility", "must be an object of symbol: annualised volatility")
    volatility = {}
    for symbol, value in raw_vol.items():
        if symbol not in instruments:
            raise PortfolioError(f"volatility.{symbol}", f"unknown symbol {symbol!r}")
        volatility[symbol] = _decimal(value, f"volatility.{symbol}", positive=True)
    raw_params = document.get("parameters", {})
    if not isinstance(raw_params, dict):
        raise PortfolioError("parameters", "must be an object")
    parameters = {name: _decimal(value, f"parameters.{name}") for name, value in raw_params.items()}
    return Portfolio(
        currency=currency,
        as_of=as_of,
        cash=cash,
        loan=loan,
        instruments=instruments,
        positions=tuple(positions),
        volatility=volatility,
        parameters=parameters,
    )
