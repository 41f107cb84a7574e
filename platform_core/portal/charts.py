"""Geometry for the dashboard's server-rendered SVG charts (no script, no CDN).

Plain Python on numbers: each function returns coordinates in a fixed view box that the
templates draw, so the charts render the same on a phone and in a test. Floats are fine here:
they are pixel positions, never money.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

WIDTH = 600
HEIGHT = 200
PAD_LEFT = 72
PAD_RIGHT = 8
PAD_TOP = 10
PAD_BOTTOM = 24


@dataclass(frozen=True)
class Level:
    """A horizontal line across a chart: a ladder line, a liquidation price."""

    key: str
    value: Decimal
    y: float = 0.0


@dataclass
class LineChart:
    path: str
    levels: list[Level]
    y_ticks: list[tuple[float, Decimal]]
    first: datetime | None
    last: datetime | None
    last_point: tuple[float, float] | None
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PAD_LEFT
    plot_right: int = WIDTH - PAD_RIGHT
    empty: bool = field(default=False)


def _bounds(values: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    low, high = min(values), max(values)
    if low == high:
        spread = abs(low) * Decimal("0.05") or Decimal(1)
        return low - spread, high + spread
    margin = (high - low) * Decimal("0.08")
    return low - margin, high + margin


def line_chart(
    series: Sequence[tuple[datetime, Decimal | None]], levels: Sequence[tuple[str, Decimal]] = ()
) -> LineChart:
    """A time series with horizontal levels, scaled so every point and level is visible;
    points without a value (no ratio) are left out."""
    points = [(at, value) for at, value in series if value is not None]
    if not points:
        return LineChart("", [], [], None, None, None, empty=True)
    low, high = _bounds([v for _, v in points] + [v for _, v in levels])
    start, end = points[0][0], points[-1][0]
    span = (end - start).total_seconds() or 1.0
    plot_width = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_height = HEIGHT - PAD_TOP - PAD_BOTTOM

    def y_of(value: Decimal) -> float:
        return round(PAD_TOP + float((high - value) / (high - low)) * plot_height, 1)

    def x_of(at: datetime) -> float:
        if len(points) == 1:
            return float(WIDTH - PAD_RIGHT)
        return round(PAD_LEFT + (at - start).total_seconds() / span * plot_width, 1)

    coordinates = [(x_of(at), y_of(v)) for at, v in points]
    path = "M" + " L".join(f"{x},{y}" for x, y in coordinates)
    ticks = [high - (high - low) * Decimal(i) / 4 for i in range(5)]
    return LineChart(
        path=path,
        levels=[Level(key, value, y_of(value)) for key, value in levels],
        y_ticks=[(y_of(t), t) for t in ticks],
        first=start,
        last=end,
        last_point=coordinates[-1],
    )


@dataclass(frozen=True)
class Zone:
    key: str
    x: float
    width: float


@dataclass(frozen=True)
class Ladder:
    """The ladder as bands on one axis of ratios, with the account's ratio marked."""

    zones: list[Zone]
    lines: list[tuple[str, Decimal, float]]
    marker: float | None
    width: int = WIDTH
    height: int = 48


LADDER_ORDER = ("liquidation", "deleverage", "margin_call", "warning")
ZONE_BELOW = {
    "liquidation": "liquidate",
    "deleverage": "deleverage",
    "margin_call": "margin_call",
    "warning": "warning",
}


def ladder_scale(*, ladder: dict[str, Decimal], ratio: Decimal | None) -> Ladder:
    """Bands from 0 to a little past the warning line (or past the ratio, if higher, up to 4x
    the warning line so a very safe account still shows the lines)."""
    top = ladder["warning"] * Decimal("1.6")
    if ratio is not None and ratio > top:
        top = min(ratio * Decimal("1.1"), ladder["warning"] * 4)

    def x_of(value: Decimal) -> float:
        return round(float(min(max(value, Decimal(0)), top) / top) * WIDTH, 1)

    zones, left = [], 0.0
    for line in LADDER_ORDER:
        right = x_of(ladder[line])
        zones.append(Zone(ZONE_BELOW[line], left, round(right - left, 1)))
        left = right
    zones.append(Zone("healthy", left, round(WIDTH - left, 1)))
    return Ladder(
        zones=zones,
        lines=[(line, ladder[line], x_of(ladder[line])) for line in LADDER_ORDER],
        marker=None if ratio is None else x_of(ratio),
    )


@dataclass(frozen=True)
class Bar:
    key: str
    value: Decimal
    width: float
    y: int


def bars(values: Sequence[tuple[str, Decimal]], *, width: int = WIDTH) -> list[Bar]:
    """Horizontal bars on one scale (negative values drawn as empty)."""
    top = max([v for _, v in values if v > 0] or [Decimal(1)])
    return [
        Bar(key, value, round(float(max(value, Decimal(0)) / top) * (width - 8), 1), 8 + 28 * i)
        for i, (key, value) in enumerate(values)
    ]
