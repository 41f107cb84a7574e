"""Text colours of the project's CSS against their backgrounds meet WCAG 2.1 AA.

Source: WCAG 2.1, success criterion 1.4.3 (contrast minimum): 4.5:1 for body text, with the
relative luminance and contrast ratio of its definitions section; 1.4.11 (non-text contrast):
3:1 for focus indicators against what surrounds them.

The test reads every stylesheet under ``static/css``: the custom colours of ``:root`` and the
areas' overrides (``body.console``, ``body.auditor``), then every rule that sets a text
colour. A rule that also sets a background is checked against it; a rule inside the top bar
against the top bar's background; any other text against both page backgrounds (the page and
the cards), in every area.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS_DIR = Path(__file__).resolve().parents[2] / "static" / "css"
TEXT_MINIMUM = 4.5
FOCUS_MINIMUM = 3.0
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
AREAS = ("portal", "console", "auditor")


def _rules() -> list[tuple[str, dict[str, str]]]:
    rules = []
    for sheet in sorted(CSS_DIR.glob("*.css")):
        text = re.sub(r"/\*.*?\*/", "", sheet.read_text(), flags=re.S)
        for selector, body in RULE.findall(text):
            declarations = {}
            for declaration in body.split(";"):
                name, _, value = declaration.partition(":")
                if value.strip():
                    declarations[name.strip()] = value.strip()
            rules.append((" ".join(selector.split()), declarations))
    return rules


def _palettes(rules: list[tuple[str, dict[str, str]]]) -> dict[str, dict[str, str]]:
    """The custom colours of each area: ``:root``'s, then ``body.<area>``'s overrides."""
    root = {k: v for s, d in rules if s == ":root" for k, v in d.items() if k.startswith("--")}
    palettes = {}
    for area in AREAS:
        palette = dict(root)
        for selector, declarations in rules:
            if selector == f"body.{area}":
                palette.update({k: v for k, v in declarations.items() if k.startswith("--")})
        palettes[area] = palette
    return palettes


def _resolve(value: str, palette: dict[str, str]) -> str | None:
    """A colour value as #rrggbb; None for what is not a colour (inherit, transparent)."""
    value = value.split("!")[0].strip()
    while (match := re.fullmatch(r"var\((--[\w-]+)\)", value)) is not None:
        value = palette[match.group(1)]
    if re.fullmatch(r"#[0-9a-fA-F]{3}", value):
        value = "#" + "".join(c * 2 for c in value[1:])
    if re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value.lower()
    if value in {"inherit", "currentColor", "transparent", "initial"}:
        return None
    raise AssertionError(f"a colour the contrast test cannot read: {value!r}")


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _background(declarations: dict[str, str]) -> str | None:
    value = declarations.get("background-color") or declarations.get("background")
    if value is None:
        return None
    return value.split()[0]


def test_the_contrast_formula_matches_the_published_extremes() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # famously just short


def test_every_text_colour_meets_aa_on_its_background() -> None:
    rules = _rules()
    palettes = _palettes(rules)
    topbar = next(d for s, d in rules if s == ".topbar" and _background(d))
    failures = []
    checked = 0
    for area, palette in palettes.items():
        page = [_resolve(palette["--bg"], palette), _resolve(palette["--card"], palette)]
        for selector, declarations in rules:
            if "color" not in declarations:
                continue
            text = _resolve(declarations["color"], palette)
            if text is None:
                continue
            own = _background(declarations)
            if own is not None:
                backgrounds = [_resolve(own, palette)]
            elif selector.startswith(".topbar"):
                backgrounds = [_resolve(_background(topbar), palette)]
            else:
                backgrounds = page
            for background in backgrounds:
                if background is None:
                    continue
                checked += 1
                ratio = contrast(text, background)
                if ratio < TEXT_MINIMUM:
                    failures.append(f"{area} {selector}: {text} on {background} = {ratio:.2f}")
    assert checked > 20
    assert failures == []


def test_the_focus_ring_stands_out_on_pages_and_in_the_top_bar() -> None:
    rules = _rules()
    palettes = _palettes(rules)
    rings = {
        selector: re.search(r"#[0-9a-fA-F]{3,6}", declarations.get("outline", "") or "")
        or re.search(r"#[0-9a-fA-F]{3,6}", declarations.get("outline-color", ""))
        for selector, declarations in rules
        if "focus-visible" in selector
    }
    # The ring on links and form controls (a generic ``:focus-visible`` rule may exist too;
    # this one overrides it on every element a keyboard reaches).
    page_ring = next(m.group(0) for s, m in rings.items() if m and s.startswith("a:focus-visible"))
    bar_ring = next(m.group(0) for s, m in rings.items() if m and s.startswith(".topbar"))
    for palette in palettes.values():
        for background in ("--bg", "--card"):
            assert (
                contrast(_resolve(page_ring, palette), _resolve(palette[background], palette))
                >= FOCUS_MINIMUM
            )
        accent = _resolve(palette["--accent"], palette)
        assert contrast(_resolve(bar_ring, palette), accent) >= FOCUS_MINIMUM
