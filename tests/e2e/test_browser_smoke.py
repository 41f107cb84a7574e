"""Browser smoke test: real sign-in pages, driven by Debian's Chromium through Playwright.

A compliance officer signs in with a password and a TOTP code and reaches the console;
a client signs in the same way and gets the 403 page at /console/. Browsers cannot be
downloaded here (never ``playwright install``): the test uses /usr/bin/chromium or skips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from django.db import connections

from tests.conftest import PASSWORD, Person, TenantPeople

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium package is not installed: apt-get install chromium",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def _async_unsafe_orm() -> Iterator[None]:
    """Playwright's sync API runs an event loop; the ORM would refuse to run beside it."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser(_async_unsafe_orm: None) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # Inside sync_playwright() Django's `connections` (an asgiref Local) is a fresh set:
        # the ORM calls made here opened their own connection; close it, or it outlives the
        # test and blocks dropping the test database.
        connections.close_all()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def sign_in(page: Page, base_url: str, person: Person, next_path: str = "/") -> None:
    """Password on /accounts/login/, then a TOTP code on /accounts/verify/."""
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    form = page.locator("main form")
    form.locator("input[name=email]").fill(person.email)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/accounts/verify/**")  # the password step asks for the second factor

    form.locator("input[name=otp]").fill(person.fresh_otp())
    form.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: "/accounts/" not in url)


def test_compliance_officer_signs_in_and_reaches_the_console(
    live_server: Any, page: Page, acme: TenantPeople
) -> None:
    sign_in(page, live_server.url, acme.compliance, next_path="/console/")

    expect(page.locator("#console-title")).to_be_visible()
    assert urlparse(page.url).path == "/console/"


def test_client_signs_in_but_gets_403_at_the_console(
    live_server: Any, page: Page, acme: TenantPeople
) -> None:
    sign_in(page, live_server.url, acme.client)

    response = page.goto(f"{live_server.url}/console/")

    assert response is not None
    assert response.status == 403
    assert page.locator("#console-title").count() == 0
