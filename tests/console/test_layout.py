"""Pages fit a phone: no rule of the project's CSS forces a box wider than a small phone's
screen (320 CSS pixels, the width WCAG 2.1 success criterion 1.4.10 "Reflow" names), so the
content reflows instead of scrolling sideways. Widths may be capped (``max-width``), never
fixed or floored above it; a grid's columns shrink below their preferred width."""

from __future__ import annotations

import re

from tests.console.test_contrast import _rules

PHONE_WIDTH_PX = 320
PX_PER_REM = 16


def _pixels(value: str) -> float | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(px|rem|em)", value.strip())
    if match is None:
        return None
    number, unit = float(match.group(1)), match.group(2)
    return number if unit == "px" else number * PX_PER_REM


def test_no_box_is_fixed_or_floored_wider_than_a_phone() -> None:
    too_wide = []
    for selector, declarations in _rules():
        for name in ("width", "min-width"):
            pixels = _pixels(declarations.get(name, ""))
            if pixels is not None and pixels > PHONE_WIDTH_PX:
                too_wide.append(f"{selector} {{ {name}: {declarations[name]} }}")
    assert too_wide == []


def test_grid_columns_shrink_on_a_phone() -> None:
    rigid = []
    for selector, declarations in _rules():
        columns = declarations.get("grid-template-columns", "")
        for minimum in re.findall(r"minmax\(\s*([^,]+),", columns):
            pixels = _pixels(minimum)
            if pixels is not None and pixels > PHONE_WIDTH_PX - 40:  # the page's own padding
                rigid.append(f"{selector}: {columns}")
    assert rigid == []


def test_the_check_reads_units_as_a_browser_does() -> None:
    assert _pixels("1100px") == 1100
    assert _pixels("30rem") == 480
    assert _pixels("min(320px, 100%)") is None
    assert _pixels("100%") is None
