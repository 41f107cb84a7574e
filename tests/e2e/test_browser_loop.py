"""The margin-call loop in a real browser (Debian's Chromium through Playwright), on a live
server: a client signs in with a password and a TOTP code and reads their margin ratio; the
price of the stock they are short rises through the feed and the oracle, the incremental
sweep puts the account on a margin call; the client sees the call with its countdown and the
hints; a risk officer signs in and finds the account on the risk start page.

acme.client is short 100 XYZ with 7,000 of client money (as in tests/risk_operations/
test_ladder.py): at 50 the margin ratio is 133.33% (healthy), at 54 it is 98.77%, below the
default call line. Screenshots of each step go to ``var/browser/loop/`` for CI to keep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from platform_core.tenancy.rls import rls_context
from risk.models import Instrument, Quote
from risk.sweep import margin_sweep, margin_sweep_moved
from tests.conftest import TenantPeople
from tests.e2e.test_browser_smoke import (  # the browser fixtures and the sign-in steps
    _async_unsafe_orm,  # noqa: F401
    browser,  # noqa: F401
    sign_in,
)
from tests.ledger.factories import open_book
from tests.risk.factories import SOURCES, equity, hold

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(settings.BASE_DIR) / "var" / "browser" / "loop"


def _quote(instrument: Instrument, price: str) -> None:
    """The feed: one quote per source, now, so the oracle's median is ``price``."""
    at = timezone.now()
    for source in SOURCES:
        Quote.objects.create(instrument=instrument, source=source, price=price, at=at)


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _new_page(browser: Browser) -> Page:  # noqa: F811
    """A phone-sized window, in English (the assertions read English labels)."""
    return browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US").new_page()


def test_a_price_rise_puts_the_client_on_a_call_they_and_the_risk_officer_see(
    live_server: Any,
    browser: Browser,  # noqa: F811
    acme: TenantPeople,
    settings: Any,
) -> None:
    # The short-stock book of the ladder's test, priced by the oracle and swept once.
    settings.RISK_SUITABILITY_REQUIRED = False
    tenant = acme.tenant
    with rls_context(tenant=tenant):
        xyz = equity("XYZ")
        book = open_book(acme)
        book.fund("7000.00")
        hold(book.client, xyz, "-100")
        _quote(xyz, "50")
        margin_sweep(tenant=tenant)

    # 1. The client signs in (password, then TOTP) and reads a healthy ratio.
    client_page = _new_page(browser)
    sign_in(client_page, live_server.url, acme.client)
    client_page.goto(f"{live_server.url}/risk/margin/{book.client.pk}/")
    expect(client_page.locator("#margin-ratio")).to_have_text("133.33%")
    _shot(client_page, "1-client-healthy")

    # 2. The price rises through the feed; the incremental sweep re-margins the holder.
    with rls_context(tenant=tenant):
        _quote(xyz, "54")
        outcome = margin_sweep_moved(tenant=tenant, instrument_ids=[xyz.pk])
    assert outcome.computed == 1

    client_page.reload()
    expect(client_page.locator("#margin-ratio")).to_have_text("98.77%")
    _shot(client_page, "2-client-ratio-fallen")

    # 3. The call, with its countdown and the hints.
    client_page.goto(f"{live_server.url}/margin/calls/")
    countdown = client_page.locator(".countdown").first
    expect(countdown).to_be_visible()
    seconds_left = int(countdown.get_attribute("data-seconds-left") or "0")
    assert seconds_left > 0
    expect(client_page.locator("ul.hints li").first).to_be_visible()
    expect(client_page.locator("ul.hints")).to_contain_text("425.00")
    _shot(client_page, "3-client-call")

    # 4. The risk officer signs in and finds the account on the start page.
    risk_page = _new_page(browser)
    sign_in(risk_page, live_server.url, acme.risk, next_path="/console/")
    section = risk_page.locator("#section-risk")
    expect(section).to_be_visible()
    open_calls = section.locator("li", has_text="Open margin calls").locator(".count")
    expect(open_calls).to_have_text("1")
    call_row = section.locator("tr.call-due")
    expect(call_row).to_contain_text(acme.client.email)
    expect(call_row).to_contain_text("98.77%")
    expect(call_row.locator("time.countdown")).to_be_visible()
    _shot(risk_page, "4-risk-start-page")

    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    risk_page.keyboard.press("Tab")
    expect(risk_page.locator(".skip-link")).to_be_focused()
    risk_page.keyboard.press("Enter")
    expect(risk_page.locator("main#main")).to_be_focused()
