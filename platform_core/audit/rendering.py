"""Rendering PDFs from Django templates with WeasyPrint, with a CJK font and no outside reads.

A PDF template may load only the platform's own static files, by their unhashed path under
``STATIC_URL`` (``/static/css/x.css``, not ``{% static %}``, whose hashed names exist only after
collectstatic). Nothing else is fetched: no ``file://``, no network, so a value that reaches a
template cannot make the renderer read the server's files or call another host.

The CJK font is Noto Sans SC from the ``pylopdf-fonts-zh-cn`` wheel (pinned in
requirements.lock, so every machine that installs the project has it), or Debian's
``fonts-noto-cjk`` when the wheel is missing. Templates reach it as ``pdf/fonts/cjk-sans``
under the static prefix (``templates/pdf/base.html`` declares the ``@font-face``).
"""

from __future__ import annotations

import mimetypes
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import weasyprint
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.template.loader import render_to_string
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

CJK_FONT_STATIC_PATH = "pdf/fonts/cjk-sans"
_DEBIAN_CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


class PdfRenderError(Exception):
    """A template could not be rendered to PDF; the message names the cause."""


class ResourceRefusedError(ValueError):
    """A template asked for something other than one of the platform's static files."""


@cache
def cjk_font_path() -> Path:
    """The font file PDFs embed for Chinese, Japanese and Korean text."""
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        pass
    else:
        return pylopdf_fonts_zh_cn.sans_path()
    if _DEBIAN_CJK_FONT.is_file():
        return _DEBIAN_CJK_FONT
    raise ImproperlyConfigured(
        "No CJK font for PDFs: install requirements.lock (pylopdf-fonts-zh-cn) "
        "or Debian's fonts-noto-cjk."
    )


def pdf_base_url() -> str:
    """The address relative URLs in PDF templates resolve against (links point at the site)."""
    return settings.PLATFORM_BASE_URL.rstrip("/") + "/"


class StaticFilesFetcher(URLFetcher):
    """Serves ``/static/...`` URLs from the staticfiles finders and refuses everything else.

    ``data:`` URLs are served as well: they carry their content inline and read nothing.
    Errors stop the rendering (``fail_on_errors``), so a PDF never silently lacks a stylesheet,
    an image or its font.
    """

    def __init__(self, *, base_url: str) -> None:
        super().__init__(allowed_protocols={"data"}, fail_on_errors=True)
        self._static_prefix = urljoin(base_url, settings.STATIC_URL)

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if url.startswith("data:"):
            return super().fetch(url, headers)
        if not url.startswith(self._static_prefix):
            raise ResourceRefusedError(
                f"PDF templates may load only the platform's static files "
                f"({self._static_prefix}...); refused {url}"
            )
        relative = unquote(urlsplit(url).path[len(urlsplit(self._static_prefix).path) :])
        path = self._static_file(relative)
        content_type, _ = mimetypes.guess_type(path.name)
        return URLFetcherResponse(
            url,
            body=path.read_bytes(),
            headers={"Content-Type": content_type or "application/octet-stream"},
        )

    @staticmethod
    def _static_file(relative: str) -> Path:
        if relative == CJK_FONT_STATIC_PATH:
            return cjk_font_path()
        try:
            found = finders.find(relative)
        except SuspiciousFileOperation:
            found = None
        if not found:
            raise ResourceRefusedError(f"No static file {relative!r} for the PDF.")
        return Path(found)


def pdf_render(*, template_name: str, context: dict[str, Any]) -> bytes:
    """Render a Django template (usually extending ``pdf/base.html``) to PDF bytes.

    Nothing is signed here: hash and sign exactly the bytes returned, since WeasyPrint does
    not produce the same bytes twice (fonts carry a creation time).
    """
    html = render_to_string(template_name, context)
    base_url = pdf_base_url()
    document = weasyprint.HTML(
        string=html, base_url=base_url, url_fetcher=StaticFilesFetcher(base_url=base_url)
    )
    try:
        return document.write_pdf()
    except FatalURLFetchingError as exc:
        # WeasyPrint wraps the fetcher's error; its message is the one worth showing.
        cause = exc.__cause__ or exc
        raise PdfRenderError(f"{template_name}: {cause}") from exc
