"""The portal's navigation and its number formats (grouped and localised for the language)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.formats import number_format

from platform_core.hooks import menu_for
from platform_core.portal.services import is_sandbox

register = template.Library()

DASH = "—"


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _grouped(value: Decimal, places: int) -> str:
    """Grouped as the active language writes numbers (Django's format files: 5,000.00 in
    English; zh-Hans sets no thousands separator, so 5000.00)."""
    exponent = Decimal(1).scaleb(-places)
    return number_format(
        value.quantize(exponent, rounding=ROUND_HALF_UP),
        decimal_pos=places,
        use_l10n=True,
        force_grouping=True,
    )


@register.filter
def money(value: Any, places: int = 2) -> str:
    """1234567.8 -> "1,234,567.80" in the active language's format."""
    number = _decimal(value)
    return DASH if number is None else _grouped(number, int(places))


@register.filter
def percent(value: Any, places: int = 2) -> str:
    """A ratio as a percentage: 1.2345 -> "123.45%"."""
    number = _decimal(value)
    return DASH if number is None else f"{_grouped(number * 100, int(places))}%"


@register.filter
def signed_percent(value: Any) -> str:
    """A fractional move: -0.1 -> "-10.00%", 0.05 -> "+5.00%"."""
    number = _decimal(value)
    if number is None:
        return DASH
    return ("+" if number > 0 else "") + percent(number)


@register.filter
def quantity(value: Any) -> str:
    """A quantity without trailing zeros: 200.00000000 -> "200", -1.5 -> "-1.5"."""
    number = _decimal(value)
    if number is None:
        return DASH
    places = max(0, -number.normalize().as_tuple().exponent)  # type: ignore[operator]
    return _grouped(number, min(places, 8))


@register.filter
def x_ratio(value: Any) -> str:
    """A leverage as "2.50" followed by the multiplication sign."""
    number = _decimal(value)
    return DASH if number is None else f"{_grouped(number, 2)}\N{MULTIPLICATION SIGN}"


@register.inclusion_tag("portal/nav.html", takes_context=True)
def portal_nav(context: dict[str, Any]) -> dict[str, Any]:
    """The one navigation of every portal page: the portal menu entries the apps register for
    the person's role, the current page marked for assistive technology."""
    request = context.get("request")
    membership = getattr(request, "membership", None)
    match = getattr(request, "resolver_match", None)
    current = ""
    if match is not None:
        current = f"{match.namespace}:{match.url_name}" if match.namespace else match.url_name
    links = []
    for entry in menu_for(area="portal", role=membership.role if membership else None):
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        links.append({"label": entry.label, "url": url, "current": entry.url_name == current})
    return {"links": links, "in_sandbox": is_sandbox(getattr(request, "tenant", None))}


@register.filter
def label(mapping: dict[str, Any], key: str) -> Any:
    """A translated label by key (status and line names): ``status_labels|label:row.status``."""
    return mapping.get(key, key)
