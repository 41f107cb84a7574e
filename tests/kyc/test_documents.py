"""Identity numbers and uploads: checksums, formats, sizes, types by content, readability."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from kyc.documents import identity_number_check, upload_check
from tests.kyc.factories import VALID_RIC, pdf_bytes, png_bytes


def test_a_resident_id_with_a_good_check_digit_passes_and_gives_the_birth_date():
    checked = identity_number_check("cn_resident_id", "110105 19491231 002x")
    assert checked.number == VALID_RIC
    assert checked.birth_date.isoformat() == "1949-12-31"


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # one check digit off
        "11010519491231002",  # 17 characters
        "110105194913310028",  # month 13
        "ABCDEFGHIJKLMNOPQR",
    ],
)
def test_a_bad_resident_id_is_refused(number):
    with pytest.raises(ValidationError):
        identity_number_check("cn_resident_id", number)


def test_passport_numbers_follow_the_issuing_countrys_format():
    assert identity_number_check("passport", "e12345678", issuing_country="CN").number == (
        "E12345678"
    )
    assert identity_number_check("passport", "EA1234567", issuing_country="CN")
    with pytest.raises(ValidationError):
        identity_number_check("passport", "12345678", issuing_country="CN")
    assert identity_number_check("passport", "533380006", issuing_country="GB")
    with pytest.raises(ValidationError):
        identity_number_check("passport", "53-33*80006!", issuing_country="GB")


def test_uploads_are_typed_by_their_content_not_their_name():
    assert upload_check(SimpleUploadedFile("scan.txt", png_bytes())).content_type == "image/png"
    assert upload_check(SimpleUploadedFile("a.png", pdf_bytes())).content_type == (
        "application/pdf"
    )
    with pytest.raises(ValidationError, match="PDF, PNG or JPEG"):
        upload_check(SimpleUploadedFile("id.png", b"MZ\x90\x00 an executable"))


def test_an_unreadable_file_with_a_right_header_is_refused():
    broken = png_bytes()[:30]  # a PNG cut short
    with pytest.raises(ValidationError, match="cannot be read"):
        upload_check(SimpleUploadedFile("id.png", broken))
    with pytest.raises(ValidationError, match="cannot be read"):
        upload_check(SimpleUploadedFile("id.pdf", b"%PDF-1.7\n garbage, no objects"))


@override_settings(KYC_UPLOAD_MAX_BYTES=1024)
def test_a_file_over_the_limit_is_refused():
    big = png_bytes() + b"\0" * 2048
    with pytest.raises(ValidationError, match="too large"):
        upload_check(SimpleUploadedFile("id.png", big))
