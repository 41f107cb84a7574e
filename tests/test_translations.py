"""Both languages everywhere: a string a person reads is marked for translation and has a
Simplified Chinese translation.

(a) Every msgid the project marks (``{% translate %}``, ``{% blocktranslate %}`` in templates,
read through Django's own ``templatize`` as makemessages does; ``gettext`` and friends in the
apps' Python) has a non-empty zh-Hans translation in one of the compiled catalogues Django
loads (the top-level ``locale/`` and each app's ``locale/``).

(b) No visible text in a template outside translation tags: the template's TEXT tokens (Django's
own Lexer), less HTML tags, comments, scripts and styles, but with the attributes a person
reads (title, alt, placeholder, aria-label) kept, must hold no word.

Strings already known to be missing are listed in ``KNOWN_*`` below, by file, so that the test
fails on every new one while that debt is paid off; an entry that is no longer needed fails
too, so the lists only shrink.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType
from django.utils import translation
from django.utils.translation import trans_real
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("platform_core", "ledger", "kyc", "risk", "financing")
SKIPPED_PARTS = {"migrations", "__pycache__", "locale", "static"}
TEMPLATE_SUFFIXES = {".html", ".txt", ".md", ".xml"}
GETTEXT_NAMES = {
    "_": 1,
    "gettext": 1,
    "gettext_lazy": 1,
    "gettext_noop": 1,
    "ngettext": 2,
    "ngettext_lazy": 2,
    "pgettext": 2,
    "pgettext_lazy": 2,
    "npgettext": 3,
    "npgettext_lazy": 3,
}
READ_ATTRIBUTES = ("title", "alt", "placeholder", "aria-label")

# Untranslated msgids and bare template text found when this test was written, in files owned
# by their apps' authors; listed so that CI stays green while they are fixed. Empty is the goal.
KNOWN_UNTRANSLATED: dict[str, set[str]] = {}
KNOWN_BARE_TEXT: dict[str, set[str]] = {}


def _project_files(suffixes: set[str], *, templates: bool) -> Iterator[Path]:
    roots = [ROOT / d for d in CODE_DIRS] + ([ROOT / "templates"] if templates else [])
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix not in suffixes:
                continue
            parts = set(path.relative_to(ROOT).parts)
            if parts & SKIPPED_PARTS:
                continue
            in_templates = "templates" in parts
            if templates != in_templates:
                continue
            yield path


def _strings(tokens: list[tokenize.TokenInfo], start: int, count: int) -> list[str] | None:
    """The first ``count`` string-literal arguments of the call whose '(' is at ``start``."""
    found: list[str] = []
    current: list[str] = []
    depth = 0
    for token in tokens[start:]:
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
            continue
        if token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
            if depth == 0:
                break
            continue
        if depth != 1:
            continue
        if token.type == tokenize.STRING:
            prefix = re.match(r"[A-Za-z]*", token.string).group(0).lower()
            if "f" in prefix or "b" in prefix:
                return None
            current.append(eval(token.string))  # noqa: S307 - a literal from our own source
        elif token.type == tokenize.OP and token.string == ",":
            if not current:
                return found if len(found) >= count else None
            found.append("".join(current))
            current = []
            if len(found) == count:
                return found
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            return found if len(found) >= count else None  # not a literal: nothing to check
    if current:
        found.append("".join(current))
    return found if len(found) >= count else None


def msgids_in(source: str) -> Iterator[tuple[str, str, str | None]]:
    """(kind, msgid, context) of each gettext call with literal arguments in ``source``."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return
    for index, token in enumerate(tokens[:-1]):
        if token.type != tokenize.NAME or token.string not in GETTEXT_NAMES:
            continue
        if index and tokens[index - 1].type == tokenize.OP and tokens[index - 1].string == ".":
            continue  # a method called like gettext on some object
        following = tokens[index + 1]
        if following.type != tokenize.OP or following.string != "(":
            continue
        name = token.string
        args = _strings(tokens, index + 1, GETTEXT_NAMES[name])
        if not args:
            continue
        if name.startswith("np"):
            yield "plural", args[1], args[0]
        elif name.startswith("p"):
            yield "single", args[1], args[0]
        elif name.startswith("n"):
            yield "plural", args[0], None
        else:
            yield "single", args[0], None


def _catalog() -> object:
    with translation.override("zh-hans"):
        return trans_real.translation("zh-hans")._catalog  # Django's own loader


def _translated(catalog: object, kind: str, msgid: str, context: str | None) -> bool:
    key = f"{context}\x04{msgid}" if context else msgid
    if kind == "plural":
        value = catalog.get((key, 0))  # type: ignore[attr-defined]
    else:
        value = catalog.get(key)  # type: ignore[attr-defined]
    return bool(value)


def untranslated() -> dict[str, set[str]]:
    catalog = _catalog()
    missing: dict[str, set[str]] = {}
    files = [(p, p.read_text(encoding="utf-8")) for p in _project_files({".py"}, templates=False)]
    for path in _project_files(TEMPLATE_SUFFIXES, templates=True):
        files.append((path, templatize(path.read_text(encoding="utf-8"), origin=str(path))))
    for path, source in files:
        for kind, msgid, context in msgids_in(source):
            if msgid.strip() and not _translated(catalog, kind, msgid, context):
                missing.setdefault(str(path.relative_to(ROOT)), set()).add(msgid)
    return missing


_TAG = re.compile(r"<(/?)([a-zA-Z][\w:-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.S)
_ATTRIBUTE = re.compile(r"""([\w:-]+)\s*=\s*("[^"]*"|'[^']*')""")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ENTITY = re.compile(r"&#?\w+;")
_WORD = re.compile(r"[^\W\d_]{2,}")  # two letters or more, any script
_DECLARATION = re.compile(r"<![a-zA-Z][^>]*>")
# Not words to translate: identifiers and paths (risk_disclosure/v1), acronyms that read the
# same in Chinese (SHA-256, UTC, PEP, CNY, TOTP).
_IDENTIFIER = re.compile(r"[_/@=]")
_ACRONYM = re.compile(r"[A-Z]{2,6}")
# Blocks whose content is a value the page uses (a CSS class, a URL), not text it shows.
VALUE_BLOCKS = {"area", "home_url"}


def _visible(html: str) -> list[str]:
    """The words of an HTML fragment a person reads: text between tags and the read
    attributes; not scripts, styles, comments or template placeholders."""
    html = _COMMENT.sub(" ", html)
    html = _DECLARATION.sub(" ", html)
    html = re.sub(r"<(script|style)\b.*?</\1\s*>", " ", html, flags=re.S | re.I)
    read: list[str] = []
    for match in _TAG.finditer(html):
        for name, value in _ATTRIBUTE.findall(match.group(3)):
            if name.lower() in READ_ATTRIBUTES:
                read.append(value[1:-1])
    text = _TAG.sub(" ", html)
    text = _ENTITY.sub(" ", text)
    return [
        word
        for chunk in [text, *read]
        for piece in chunk.split()
        if not _IDENTIFIER.search(piece)
        for word in _WORD.findall(piece)
        if not _ACRONYM.fullmatch(word)
    ]


def bare_text(source: str) -> list[str]:
    """Words in the template's TEXT tokens outside translate blocks and comments. A text
    token's attributes are read in the context of the whole tag, so the HTML is joined first
    with placeholders where template tags stood."""
    pieces: list[str] = []
    skip_until: str | None = None
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents.split() else ""
            if skip_until:
                if name == skip_until:
                    skip_until = None
                continue
            if (
                name == "block"
                and token.contents.split()[1:2]
                and (token.contents.split()[1] in VALUE_BLOCKS)
            ):
                skip_until = "endblock"
            elif name in ("blocktranslate", "blocktrans"):
                skip_until = "end" + name
            elif name == "comment":
                skip_until = "endcomment"
            elif name in ("verbatim",):
                skip_until = "endverbatim"
            pieces.append(" X ")
        elif token.token_type == TokenType.TEXT and not skip_until:
            pieces.append(token.contents)
        elif not skip_until:
            pieces.append(" X ")  # a variable or comment: stands for something translated
    words = _visible("".join(pieces))
    return [w for w in words if w != "X"]


def bare_texts() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in _project_files(TEMPLATE_SUFFIXES, templates=True):
        if path.suffix == ".xml":
            continue  # machine-read formats (statements, feeds), not pages
        words = bare_text(path.read_text(encoding="utf-8"))
        if words:
            found[str(path.relative_to(ROOT))] = set(words)
    return found


def _difference(found: dict[str, set[str]], known: dict[str, set[str]]) -> dict[str, set[str]]:
    new = {f: words - known.get(f, set()) for f, words in found.items()}
    return {f: w for f, w in new.items() if w}


def _stale(found: dict[str, set[str]], known: dict[str, set[str]]) -> dict[str, set[str]]:
    gone = {f: words - found.get(f, set()) for f, words in known.items()}
    return {f: w for f, w in gone.items() if w}


def test_the_extractors_see_what_makemessages_sees() -> None:
    source = (
        '{% load i18n %}<p title="{% translate \'Close\' %}">{% translate "Balance" %}</p>'
        "{% blocktranslate count n=3 %}one order{% plural %}{{ n }} orders{% endblocktranslate %}"
    )
    python = templatize(source)
    assert ("single", "Close", None) in set(msgids_in(python))
    assert ("single", "Balance", None) in set(msgids_in(python))
    assert ("plural", "one order", None) in set(msgids_in(python))
    assert set(msgids_in("x = pgettext_lazy('menu', 'Open')\ny = _(f'{z}')")) == {
        ("single", "Open", "menu")
    }
    assert bare_text(source) == []
    assert bare_text('{% load i18n %}<a title="Go home" href="/">Home</a> {{ x }}') == [
        "Home",
        "Go",
        "home",
    ]
    assert bare_text("<script>let words = 1;</script><!-- a note -->{# x #}") == []


def test_the_catalogue_is_read_in_chinese() -> None:
    catalog = _catalog()
    assert not _translated(catalog, "single", "A sentence no catalogue has, surely.", None)
    with translation.override("zh-hans"):
        assert translation.gettext("Password") != "Password"


@pytest.mark.parametrize("kind", ["untranslated", "bare"])
def test_every_string_a_person_reads_is_translated(kind: str) -> None:
    found, known = (
        (untranslated(), KNOWN_UNTRANSLATED)
        if kind == "untranslated"
        else (bare_texts(), KNOWN_BARE_TEXT)
    )
    new = _difference(found, known)
    assert not new, f"{kind} strings (add translations or translate tags): {new}"
    assert not _stale(found, known), "fixed: remove from KNOWN_*: " + str(_stale(found, known))
