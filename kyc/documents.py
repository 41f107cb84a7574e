"""Checks on what a client hands in: identity numbers and uploaded files.

Identity numbers: the Chinese resident identity card number (18 characters, ISO 7064 MOD 11-2
check digit, a real birth date and region) through ``python-stdnum``; passports by format.
Uploads: a size limit, the type read from the file's own first bytes (never the name or the
browser's word), and the file opened to prove it is readable.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as NumberInvalid

ID_TYPES = ("cn_resident_id", "passport")
# ICAO 9303: up to 9 letters and digits; China's are E/G/D/S/P then 8 characters.
PASSPORT_FORMAT = re.compile(r"^[A-Z0-9]{6,9}$")
CN_PASSPORT_FORMAT = re.compile(r"^[EGDSP](?:[0-9]{8}|[A-Z][0-9]{7})$")

ALLOWED_TYPES = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}


def upload_max_bytes() -> int:
    """``settings.KYC_UPLOAD_MAX_BYTES``, else the environment's, else 5 MiB."""
    from platform_core.settings.env import env_int

    configured = getattr(settings, "KYC_UPLOAD_MAX_BYTES", None)
    return int(configured or env_int("KYC_UPLOAD_MAX_BYTES", 5 * 1024 * 1024))


@dataclass(frozen=True)
class IdentityNumber:
    id_type: str
    number: str
    birth_date: date | None = None


def identity_number_check(
    id_type: str, number: str, *, issuing_country: str = ""
) -> IdentityNumber:
    """The number in its canonical form, or a ValidationError saying what is wrong with it."""
    compact = re.sub(r"[\s-]", "", number or "").upper()
    if id_type == "cn_resident_id":
        try:
            canonical = ric.validate(compact)
        except NumberInvalid:
            raise ValidationError(
                _("This is not a valid resident identity card number (check the 18 characters).")
            ) from None
        return IdentityNumber(id_type, canonical, ric.get_birth_date(canonical))
    if id_type == "passport":
        pattern = CN_PASSPORT_FORMAT if issuing_country == "CN" else PASSPORT_FORMAT
        if not pattern.match(compact):
            raise ValidationError(_("This is not a valid passport number for that country."))
        return IdentityNumber(id_type, compact)
    raise ValidationError(_("Choose a document type."))


def sniff_type(head: bytes) -> str | None:
    for content_type, magic in ALLOWED_TYPES.items():
        if head.startswith(magic):
            return content_type
    return None


def _readable(content_type: str, data: bytes) -> bool:
    try:
        if content_type == "application/pdf":
            from pyhanko.pdf_utils.reader import PdfFileReader

            reader = PdfFileReader(io.BytesIO(data), strict=False)
            return int(reader.root["/Pages"]["/Count"]) > 0
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        return True
    except Exception:  # any parser failure means the same thing here: unreadable
        return False


@dataclass(frozen=True)
class CheckedUpload:
    content_type: str
    data: bytes


def upload_check(upload: object) -> CheckedUpload:
    """Size, type by content, readability; a ValidationError naming the problem."""
    size = getattr(upload, "size", None) or 0
    limit = upload_max_bytes()
    if size > limit:
        raise ValidationError(
            _("The file is too large (at most %(mb)s MB).") % {"mb": limit // (1024 * 1024) or 1}
        )
    data = upload.read(limit + 1)  # type: ignore[attr-defined]
    if len(data) > limit:
        raise ValidationError(
            _("The file is too large (at most %(mb)s MB).") % {"mb": limit // (1024 * 1024) or 1}
        )
    if not data:
        raise ValidationError(_("The file is empty."))
    content_type = sniff_type(data[:16])
    if content_type is None:
        raise ValidationError(_("Upload a PDF, PNG or JPEG file."))
    if not _readable(content_type, data):
        raise ValidationError(_("The file cannot be read; upload a clear copy."))
    return CheckedUpload(content_type, data)
