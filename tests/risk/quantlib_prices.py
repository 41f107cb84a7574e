"""Option values from QuantLib, the independent pricer the engine's tests are checked against."""

from __future__ import annotations

import QuantLib as ql

TODAY = ql.Date(2, 1, 2025)


def quantlib_european(
    spot: float, strike: float, days: int, vol: float, rate: float, dividend: float, call: bool
) -> float:
    """QuantLib's analytic Black-Scholes-Merton value, time measured ACT/365 as the engine does."""
    ql.Settings.instance().evaluationDate = TODAY
    day_count = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, dividend, day_count)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, rate, day_count)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(TODAY, ql.NullCalendar(), vol, day_count)
        ),
    )
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, strike),
        ql.EuropeanExercise(TODAY + days),
    )
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    return float(option.NPV())
