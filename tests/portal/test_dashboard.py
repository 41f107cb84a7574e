"""The client's dashboard, as the people who use it: the client's own numbers (and a 404 for
anyone else's), the live fragment after a price tick, the what-if, the ratio history, the
learning guide and the one portal navigation.

acme.client is short 200 XYZ at 50 with 15,000 of client money (as in
tests/risk/test_margin_pages.py): equity 15,000 - 200 x 50 = 5,000; maintenance 30% of the
short's 10,000 = 3,000 (Cboe Margin Manual, short equity: 100% of the proceeds plus 30% of
the market value, the proceeds being the account's cash), margin ratio 5,000 / 3,000 =
166.67%.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from platform_core.portal.models import RatioSample
from platform_core.portal.services import ratio_samples_record
from platform_core.tenancy.roles import Role
from risk.sweep import margin_sweep
from tests.conftest import TenantPeople, as_tenant, make_person, sign_in
from tests.ledger.factories import Book, open_book
from tests.risk.factories import equity, hold, quote

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(acme: TenantPeople) -> Book:
    book = open_book(acme)
    book.fund("15000.00")
    xyz = equity("XYZ")
    quote(xyz, "49.90", "50.00", "50.10")
    hold(book.client, xyz, "-200")
    return book


def test_the_dashboard_shows_the_clients_own_numbers_formatted(
    acme: TenantPeople, book: Book
) -> None:
    client = sign_in(Client(), acme.client)
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'hx-get="/dashboard/{book.client.pk}/live/"' in html
    assert 'hx-trigger="every 1s"' in html
    assert 'id="dashboard-ratio">166.67%' in html
    assert "5,000.00 USD" in html and "3,000.00" in html  # equity, maintenance, grouped
    assert "15,000.00" in html  # the cash
    assert "5000.0000" not in html and "15000.0000" not in html  # never raw
    assert "short_stock" in html  # the strategy group, and the engine's rule for it
    assert 'class="chart ladder"' in html and 'class="marker"' in html
    assert "1987-10-19 Black Monday" in html  # the stress heat map
    assert 'class="heat heat-' in html
    # The price chart marks where XYZ crosses the call line: 15,000 - 200 P = 60 P, P = 57.69.
    assert "margin call at" in html and "↑ 57.70" in html


def test_another_clients_or_tenants_account_is_a_404(
    acme: TenantPeople, globex: TenantPeople, book: Book
) -> None:
    other_tenant = sign_in(Client(), globex.client)
    for url in (
        f"/?account={book.client.pk}",
        f"/dashboard/{book.client.pk}/live/",
        f"/dashboard/{book.client.pk}/what-if/move/?move=-10",
        f"/dashboard/{book.client.pk}/what-if/trade/?symbol=XYZ&side=buy&quantity=1",
    ):
        assert other_tenant.get(url).status_code == 404, url
    neighbour = make_person(acme.tenant, "neighbour@acme.example", Role.CLIENT)
    same_tenant = sign_in(Client(), neighbour)
    assert same_tenant.get(f"/dashboard/{book.client.pk}/live/").status_code == 404
    page = same_tenant.get("/")
    assert page.status_code == 200 and "166.67%" not in page.content.decode()


def test_the_live_fragment_follows_a_price_tick(acme: TenantPeople, book: Book) -> None:
    client = sign_in(Client(), acme.client)
    live = client.get(f"/dashboard/{book.client.pk}/live/")
    assert live.status_code == 200
    assert "<html" not in live.content.decode()  # a fragment, swapped in place
    assert 'id="dashboard-ratio">166.67%' in live.content.decode()
    # XYZ ticks up to 51: equity 15,000 - 10,200 = 4,800; maintenance 30% of 10,200 = 3,060.
    quote(equity_of("XYZ"), "50.90", "51.00", "51.10", at=timezone.now())
    after = client.get(f"/dashboard/{book.client.pk}/live/").content.decode()
    assert 'id="dashboard-ratio">156.86%' in after
    assert "4,800.00 USD" in after


def equity_of(symbol: str):
    from risk.models import Instrument

    return Instrument.objects.get(symbol=symbol)


def test_the_price_move_what_if_moves_the_ratio_the_right_way(
    acme: TenantPeople, book: Book
) -> None:
    """Short stock: prices up lower the ratio, prices down raise it."""
    client = sign_in(Client(), acme.client)
    url = f"/dashboard/{book.client.pk}/what-if/move/"
    up = client.get(url, {"move": "10"}, HTTP_HX_REQUEST="true")
    assert up.status_code == 200 and "<html" not in up.content.decode()
    # +10%: XYZ 55, equity 15,000 - 11,000 = 4,000, maintenance 3,300: 121.21%.
    assert 'id="what-if-move-ratio">121.21%' in up.content.decode()
    down = client.get(url, {"move": "-10"}, HTTP_HX_REQUEST="true")
    # -10%: XYZ 45, equity 6,000, maintenance 2,700: 222.22%.
    assert 'id="what-if-move-ratio">222.22%' in down.content.decode()


def test_a_wrong_price_move_is_refused_beside_the_field(acme: TenantPeople, book: Book) -> None:
    client = sign_in(Client(), acme.client)
    url = f"/dashboard/{book.client.pk}/what-if/move/"
    page = client.get(url, {"move": "abc"})
    assert page.status_code == 400
    assert 'id="move-errors"' in page.content.decode()
    assert "what-if-move-ratio" not in page.content.decode()
    too_far = client.get(url, {"move": "-99"}, HTTP_HX_REQUEST="true")
    assert too_far.status_code == 200  # htmx swaps only a 2xx; the message is in the fragment
    assert 'id="move-errors"' in too_far.content.decode()


def test_the_trade_preview_shows_the_ratio_after_and_places_nothing(
    acme: TenantPeople, book: Book
) -> None:
    from risk.models import Order, Position

    client = sign_in(Client(), acme.client)
    url = f"/dashboard/{book.client.pk}/what-if/trade/"
    # Buying back 100 of the short: cash 15,000 - 5,000 = 10,000 (at the oracle's 50),
    # short 100 x 50 = 5,000: equity 5,000, maintenance 1,500, ratio 333.33%.
    page = client.get(url, {"symbol": "XYZ", "side": "buy", "quantity": "100"})
    assert page.status_code == 200
    assert 'id="what-if-trade-ratio">333.33%' in page.content.decode()
    with as_tenant(acme.tenant):
        assert not Order.objects.exists()
        assert Position.objects.get(account=book.client).quantity == Decimal("-200")
    unknown = client.get(url, {"symbol": "NOPE", "side": "buy", "quantity": "1"})
    assert unknown.status_code == 400 and "NOPE" in unknown.content.decode()


def test_the_ratio_history_is_sampled_from_the_sweep(acme: TenantPeople, book: Book) -> None:
    with as_tenant(acme.tenant):
        margin_sweep(tenant=acme.tenant)
        assert ratio_samples_record(tenant=acme.tenant) == 1
        assert ratio_samples_record(tenant=acme.tenant) == 0  # nothing moved since
        sample = RatioSample.objects.get(account=book.client)
        assert sample.ratio == Decimal("1.6667")
    client = sign_in(Client(), acme.client)
    html = client.get(f"/dashboard/{book.client.pk}/live/").content.decode()
    assert 'class="series" d="M' in html and " L" in html  # two points: the sample and now


def test_the_sampler_copies_a_sweep_older_than_a_listeners_sample(
    acme: TenantPeople, book: Book
) -> None:
    from platform_core.portal.services import ratio_sample_on_status_change

    with as_tenant(acme.tenant):
        margin_sweep(tenant=acme.tenant)  # computed now, not sampled yet
    later = timezone.now() + timedelta(seconds=5)
    ratio_sample_on_status_change(
        {
            "tenant": acme.tenant.pk,
            "account": book.bank.pk,  # any other account of the tenant
            "ratio": None,
            "equity": "0",
            "maintenance": "0",
            "at": later.isoformat(),
        }
    )
    with as_tenant(acme.tenant):
        assert ratio_samples_record(tenant=acme.tenant) == 1
        assert RatioSample.objects.filter(account=book.client).count() == 1


def test_a_status_change_is_drawn_at_once(acme: TenantPeople, book: Book) -> None:
    from platform_core.portal.services import ratio_sample_on_status_change

    at = timezone.now()
    payload = {
        "tenant": acme.tenant.pk,
        "account": book.client.pk,
        "ratio": "0.9500",
        "equity": "2850.00",
        "maintenance": "3000.00",
        "at": at.isoformat(),
    }
    ratio_sample_on_status_change(payload)
    ratio_sample_on_status_change(payload)  # a retried delivery adds nothing
    with as_tenant(acme.tenant):
        assert RatioSample.objects.filter(account=book.client).count() == 1


def test_the_learning_guide_uses_the_clients_numbers(acme: TenantPeople, book: Book) -> None:
    client = sign_in(Client(), acme.client)
    # Numbers as each language writes them (Django's formats: zh-Hans groups no thousands).
    for language, words, division in (
        ("en", "Leverage", "5,000.00 ÷ 3,000.00 = 166.67%"),
        ("zh-hans", "杠杆", "5000.00 ÷ 3000.00 = 166.67%"),
    ):
        client.post("/i18n/setlang/", {"language": language, "next": "/learn/"})
        page = client.get("/learn/")
        assert page.status_code == 200
        html = page.content.decode()
        assert words in html
        assert division in html
        assert "57.70" in html  # the call price of XYZ
        assert "100.00%" in html and "75.00%" in html  # the call and liquidation lines


def test_every_portal_page_has_the_same_navigation(acme: TenantPeople, book: Book) -> None:
    client = sign_in(Client(), acme.client)
    navs = {}
    for url in (
        "/",
        "/money/",
        "/money/withdrawals/",
        "/notifications/",
        "/learn/",
        "/sandbox/",
        "/risk/orders/new/",
        "/onboarding/",
        "/proof-of-reserves/",
        f"/risk/margin/{book.client.pk}/",  # a page under a menu entry, none marked current
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        nav = html[html.index("<nav") : html.index("</nav>")]
        assert ('aria-current="page"' in nav) == (not url.startswith("/risk/margin/")), url
        navs[url] = nav.replace(' aria-current="page"', "")
    assert len(set(navs.values())) == 1
    assert "/learn/" in navs["/"] and "/sandbox/" in navs["/"] and "/money/" in navs["/"]


def test_form_fields_have_labels(acme: TenantPeople, book: Book) -> None:
    import re

    client = sign_in(Client(), acme.client)
    html = client.get("/").content.decode()
    for field_id in re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html):
        if 'type="hidden"' in html.split(f'id="{field_id}"')[0].rsplit("<", 1)[-1]:
            continue
        assert f'for="{field_id}"' in html, field_id


def test_an_open_margin_call_shows_on_the_dashboard_with_its_countdown(
    acme: TenantPeople,
) -> None:
    """As in tests/risk_operations/test_portal_calls.py: short 1,000 DEF with 28,000 of cash,
    DEF at 22: equity 6,000, maintenance 6,600, a call asking 1.25 x 6,600 - 6,000 = 2,250."""
    from risk.operations.models import MarginCall
    from tests.risk_operations.helpers import Clock, prices, sweep

    called_book = open_book(acme)
    called_book.fund("28000.00")
    hold(called_book.client, equity("DEF"), "-1000")
    clock = Clock()
    prices(clock, DEF="20")
    sweep(acme.tenant, clock)
    prices(clock, DEF="22")
    sweep(acme.tenant, clock)
    assert MarginCall.objects.get().deposit_needed == Decimal("2250")
    client = sign_in(Client(), acme.client)
    html = client.get(f"/dashboard/{called_book.client.pk}/live/").content.decode()
    assert 'id="dashboard-call"' in html and "2,250.00 USD" in html
    assert 'id="dashboard-call-left">Time left:' in html
