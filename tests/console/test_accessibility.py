"""Accessibility of the demo's pages, as each role of the demo sees them.

Seeds ``make run``'s demo, signs in as every staff role and as the README client (password and
TOTP, through the real pages), and walks the pages their navigation and start page link to.
Every page must: declare its language (``<html lang>``), have exactly one ``h1``, give every
image a text alternative, label every form field (a ``<label for>``, a wrapping ``<label>``,
``aria-label`` or ``aria-labelledby``), offer a skip link to the main content, and let a phone
lay it out (the ``viewport`` meta). Source: WCAG 2.1 success criteria 1.1.1 (non-text
content), 1.3.1 and 3.3.2 (labels), 2.4.1 (bypass blocks), 2.4.6 (headings), 3.1.1 (language
of page), 1.4.10 (reflow).
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pyotp
import pytest
from django.test import Client

from platform_core.tenancy.demo import demo_seed

# Downloads, actions and other areas' machinery are not pages to audit.
SKIPPED = ("/accounts/logout", "/i18n/", "/admin/", "/api/", "/static/", "/audit/files/")
PAGES_PER_PERSON = 40
FIELD_TAGS = {"input", "select", "textarea"}
UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}


class PageAudit(HTMLParser):
    """Collects what the checks need in one pass over a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.viewport = False
        self.h1 = 0
        self.links: list[str] = []
        self.skip_link = False
        self.label_for: set[str] = set()
        self.fields: list[tuple[str, dict[str, str], bool]] = []
        self.images_without_alt: list[str] = []
        self.main_id = ""
        self._labels_open = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        elif tag == "meta" and a.get("name") == "viewport":
            self.viewport = "width=device-width" in a.get("content", "")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
            if a["href"].startswith("#") and "skip-link" in a.get("class", ""):
                self.skip_link = True
        elif tag == "label":
            self._labels_open += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag == "img" and "alt" not in a:
            self.images_without_alt.append(a.get("src", "?"))
        elif tag == "main":
            self.main_id = a.get("id", "")
        if tag in FIELD_TAGS:
            self.fields.append((tag, a, self._labels_open > 0))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._labels_open:
            self._labels_open -= 1

    def problems(self) -> list[str]:
        found = []
        if not self.lang:
            found.append("html without lang")
        if not self.viewport:
            found.append("no viewport meta")
        if self.h1 != 1:
            found.append(f"{self.h1} h1 elements")
        if not self.skip_link or not self.main_id:
            found.append("no skip link to the main content")
        found += [f"img without alt: {src}" for src in self.images_without_alt]
        for tag, a, wrapped in self.fields:
            if tag == "input" and a.get("type", "text") in UNLABELLED_INPUT_TYPES:
                continue
            labelled = (
                wrapped
                or a.get("id", "") in self.label_for
                or a.get("aria-label")
                or a.get("aria-labelledby")
            )
            if not labelled:
                found.append(f"unlabelled {tag} name={a.get('name', '?')}")
        return found


def _audit(html: str) -> PageAudit:
    audit = PageAudit()
    audit.feed(html)
    return audit


def _sign_in(email: str, password: str, otpauth_uri: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"email": email, "password": password})
    assert response.status_code == 302, email
    code = pyotp.parse_uri(otpauth_uri).now()
    response = client.post("/accounts/verify/", {"otp": code})
    assert response.status_code == 302, email
    return client


def _crawl(client: Client, start: str, prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    """Problems by page, for the pages reachable from ``start`` within ``prefixes``."""
    seen: dict[str, list[str]] = {}
    queue = [start]
    while queue and len(seen) < PAGES_PER_PERSON:
        path = queue.pop(0)
        if path in seen:
            continue
        response = client.get(path)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            seen[path] = (
                []
                if response.status_code in (200, 302, 403, 405)
                else [f"status {response.status_code}"]
            )
            continue
        audit = _audit(response.content.decode())
        seen[path] = audit.problems()
        for href in audit.links:
            parts = urlsplit(href)
            if parts.netloc or not parts.path.startswith("/"):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target.startswith(SKIPPED) or not target.startswith(prefixes):
                continue
            if target not in seen and target not in queue:
                queue.append(target)
    return seen


def test_the_audit_finds_what_it_looks_for() -> None:
    bad = _audit(
        '<html><head></head><body><h1>a</h1><h1>b</h1><img src="x.png">'
        '<input name="q"><label>Amount <input name="amount"></label>'
        '<label for="n">N</label><input id="n" name="n"><select aria-label="s"></select>'
        '<input type="hidden" name="csrf"></body></html>'
    )
    assert bad.problems() == [
        "html without lang",
        "no viewport meta",
        "2 h1 elements",
        "no skip link to the main content",
        "img without alt: x.png",
        "unlabelled input name=q",
    ]


@pytest.mark.django_db(transaction=True)
def test_every_demo_page_is_labelled_titled_and_keyboard_reachable() -> None:
    staff, _clients = demo_seed()
    problems: dict[str, list[str]] = {}
    pages = 0
    for login in staff:
        if login.role == "auditor":
            start, prefixes = "/audit/", ("/audit/",)
        elif login.role == "client":
            start, prefixes = "/", ("/",)
        else:
            start, prefixes = "/console/", ("/console/",)
        client = _sign_in(login.email, login.password, login.otpauth_uri)
        for path, found in _crawl(client, start, prefixes).items():
            pages += 1
            if found:
                problems[f"{login.role} {path}"] = found
    assert pages > 30
    assert problems == {}
