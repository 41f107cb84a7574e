"""The dashboard in Debian's Chromium at a phone's width (375 px): nothing scrolls sideways,
the live figures follow a price tick through htmx, the what-if slider answers, and focus is
visible on the keyboard. A screenshot is kept under var/ for people to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import TenantPeople, as_tenant

# Skips this module too where Debian's chromium is missing; the fixtures are reused.
from tests.e2e.test_browser_smoke import _async_unsafe_orm, browser, sign_in  # noqa: F401
from tests.ledger.factories import open_book
from tests.risk.factories import equity, hold, quote

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def phone(browser: Any) -> Any:  # noqa: F811
    context = browser.new_context(viewport={"width": 375, "height": 812})
    yield context.new_page()
    context.close()


def test_the_dashboard_on_a_phone_follows_the_market(
    live_server: Any, phone: Page, acme: TenantPeople
) -> None:
    with as_tenant(acme.tenant):
        book = open_book(acme)
        book.fund("15000.00")
        xyz = equity("XYZ")
        quote(xyz, "49.90", "50.00", "50.10")
        hold(book.client, xyz, "-200")
    sign_in(phone, live_server.url, acme.client)
    expect(phone.locator("#dashboard-ratio")).to_have_text("166.67%")
    width = phone.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 375, f"the page is {width} px wide on a 375 px screen"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "portal-dashboard-375.png"), full_page=True)

    # XYZ ticks to 51: 4,800 / 3,060 (see test_dashboard.py); the poll brings it in.
    quote(xyz, "50.90", "51.00", "51.10")
    expect(phone.locator("#dashboard-ratio")).to_have_text("156.86%", timeout=10_000)

    slider = phone.locator("#id_move")
    slider.focus()
    outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    slider.fill("10")
    expect(phone.locator("#what-if-move-ratio")).to_be_visible(timeout=10_000)
