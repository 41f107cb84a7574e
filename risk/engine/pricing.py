"""Theoretical option values for the scenario policies: Black-76 and Black-Scholes-Merton.

Both are vectorised over NumPy float64 arrays (broadcasting like any ufunc), because a scenario
grid prices every option of every account at every scenario point in one pass. Floats stay inside
the engine: the scenario policies turn the losses they compute into ``Decimal`` requirements that
``result_assemble`` rounds up, in the platform's favour.

- ``black76(forward, …)`` is Black's (1976) formula for an option on a forward or future price F:
  ``e^{-rT}·[F·N(d1) - K·N(d2)]`` for a call, ``e^{-rT}·[K·N(-d2) - F·N(-d1)]`` for a put, with
  ``d1 = (ln(F/K) + sigma^2 T/2) / (sigma sqrt(T))`` and ``d2 = d1 - sigma sqrt(T)``.
- ``black_scholes(spot, …, dividend_yield)`` is Merton's (1973) extension of Black-Scholes to a
  continuous dividend yield (or any cost of carry ``b = r - q``): it is Black-76 on the forward
  ``F = S·e^{(r-q)T}``, which is why it is written that way here.

These are European values. The scenario policies floor American options at their intrinsic value
(an American option is worth at least its immediate exercise), which is the only early-exercise
premium they recognise.

A zero time to expiry or zero volatility gives the discounted intrinsic value of the forward, the
limit of the formula, so an option expiring today is valued at what exercising it yields.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

# J. F. Hart, "Computer Approximations" (1968), algorithm 5666, as published by
# G. West, "Better approximations to cumulative normal functions", Wilmott (2005): the normal
# tail probability to double precision (|error| < 1e-15) with no SciPy dependency.
_HART_NUMERATOR = (
    0.0352624965998911,
    0.700383064443688,
    6.37396220353165,
    33.912866078383,
    112.079291497871,
    221.213596169931,
    220.206867912376,
)
_HART_DENOMINATOR = (
    0.0883883476483184,
    1.75566716318264,
    16.064177579207,
    86.7807322029461,
    296.564248779674,
    637.333633378831,
    793.826512519948,
    440.413735824752,
)
_HART_SWITCH = 7.07106781186547  # beyond it the rational form loses precision: continued fraction
_SQRT_TWO_PI = 2.506628274631
# Arrays are evaluated in blocks that stay in the processor's cache: the polynomial makes ~30
# passes over its input, and on large grids memory bandwidth, not arithmetic, is the cost.
_BLOCK = 65536


def _horner(x: FloatArray, coefficients: tuple[float, ...]) -> FloatArray:
    result = np.full_like(x, coefficients[0])
    for coefficient in coefficients[1:]:
        result *= x
        result += coefficient
    return result


def _normal_cdf_block(x: FloatArray) -> FloatArray:
    # N(±40) is 0 or 1 to double precision; capping keeps ±inf (a worthless or certain option)
    # out of inf/inf in the rational form.
    absolute = np.minimum(np.abs(x), 40.0)
    tail = _horner(absolute, _HART_NUMERATOR)
    tail /= _horner(absolute, _HART_DENOMINATOR)
    density = absolute * absolute
    density *= -0.5
    np.exp(density, out=density)
    tail *= density
    far = absolute >= _HART_SWITCH
    if far.any():
        b = absolute[far]
        fraction = b + 1.0 / (b + 2.0 / (b + 3.0 / (b + 4.0 / (b + 0.65))))
        tail[far] = density[far] / fraction / _SQRT_TWO_PI
    np.subtract(1.0, tail, out=tail, where=x > 0)
    return tail


def normal_cdf(x: ArrayLike) -> FloatArray:
    """The standard normal distribution function N(x), elementwise, to double precision."""
    values = np.asarray(x, dtype=np.float64)
    flat = values.ravel()
    result = np.empty_like(flat)
    for start in range(0, flat.size, _BLOCK):
        result[start : start + _BLOCK] = _normal_cdf_block(flat[start : start + _BLOCK])
    return result.reshape(values.shape)


def black76(
    forward: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    volatility: ArrayLike,
    rate: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Black's value of a European option on the forward price ``forward`` (per unit)."""
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t = np.maximum(np.asarray(years, dtype=np.float64), 0.0)
    sigma = np.asarray(volatility, dtype=np.float64)
    r = np.asarray(rate, dtype=np.float64)
    call = np.asarray(is_call, dtype=bool)
    shape = np.broadcast_shapes(f.shape, k.shape, t.shape, sigma.shape, r.shape, call.shape)
    # Full-size arrays are written in place: on a scenario grid every temporary is rows x 16.
    deviation = np.broadcast_to(sigma * np.sqrt(t), shape)
    live = deviation > 0
    safe = np.where(live, deviation, 1.0)  # no division by zero; those points take intrinsic
    d1 = np.empty(shape)
    np.divide(f, k, out=d1)
    # F = 0 (the underlying wiped out) or a vanishing sigma sqrt(T) send d1 to +-inf: the limits.
    with np.errstate(divide="ignore", over="ignore"):
        np.log(d1, out=d1)
        d1 += 0.5 * safe * safe
        d1 /= safe
    d2 = d1 - safe
    # A put is the call formula mirrored: K·N(-d2) - F·N(-d1).
    sign = np.where(call, 1.0, -1.0)
    d1 *= sign
    d2 *= sign
    value = normal_cdf(d1)
    value *= f
    value -= k * normal_cdf(d2)
    value *= sign
    if not live.all():
        intrinsic = np.broadcast_to(np.maximum(sign * (f - k), 0.0), shape)
        value[~live] = intrinsic[~live]
    value *= np.exp(-r * t)
    return value


def black_scholes(
    spot: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    volatility: ArrayLike,
    rate: ArrayLike,
    dividend_yield: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Black-Scholes-Merton value of a European option on a spot price paying a yield ``q``."""
    t = np.maximum(np.asarray(years, dtype=np.float64), 0.0)
    r = np.asarray(rate, dtype=np.float64)
    forward = np.asarray(spot, dtype=np.float64) * np.exp(
        (r - np.asarray(dividend_yield, dtype=np.float64)) * t
    )
    return black76(forward, strike, t, volatility, r, is_call)
