"""The portal wizard: each step saved and resumable, bad input a 400 with field errors and
nothing saved, the bank account in the client's own name, submission to compliance."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kyc.models import (
    ClientProfile,
    KycCase,
    ProfileDocument,
    SuitabilityAssessment,
)
from kyc.services import profile_answers
from platform_core.audit.models import AuditEvent
from tests.conftest import sign_in
from tests.kyc.factories import MODEST_ANSWERS, VALID_RIC, fill_profile, pdf_bytes, png_bytes

PERSONAL_FORM = {
    "legal_name": "Li Na",
    "native_name": "李娜",
    "former_names": "Li Xiaona\n",
    "birth_date": "1949-12-31",  # as in VALID_RIC
    "nationality": "cn",
    "residence_country": "CN",
    "address": "88 Nanjing Road, Shanghai",
    "phone": "+86 138 0000 0000",
    "occupation": "employee",
    "pep": "no",
}


@pytest.fixture
def browser(acme) -> Client:
    return sign_in(Client(), acme.client)


def state(acme):
    """Everything the wizard could have written, to show a refused step wrote nothing."""
    profile = ClientProfile.objects.filter(membership=acme.client.membership).first()
    return (
        profile and (bytes(profile.sealed), list(profile.steps_done), profile.status),
        ProfileDocument.objects.count(),
        SuitabilityAssessment.objects.count(),
        AuditEvent.objects.filter(action__startswith="kyc.").count(),
    )


def test_a_step_is_saved_and_shown_again_when_the_client_comes_back(acme, browser):
    response = browser.post("/onboarding/personal/", PERSONAL_FORM)
    assert response.status_code == 302 and response["Location"] == "/onboarding/identity/"
    profile = ClientProfile.objects.get(membership=acme.client.membership)
    assert profile.steps_done == ["personal"]
    assert profile_answers(profile)["personal"]["former_names"] == ["Li Xiaona"]
    assert profile_answers(profile)["personal"]["nationality"] == "CN"
    # A new session (the client came back another day) finds the answers filled in.
    again = sign_in(Client(), acme.client).get("/onboarding/personal/")
    assert again.status_code == 200
    assert "李娜" in again.content.decode() and "88 Nanjing Road" in again.content.decode()
    home = browser.get("/onboarding/")
    assert home.status_code == 200 and b"/onboarding/identity/" in home.content


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("legal_name", "", "This field is required."),
        ("birth_date", "2015-01-01", "at least 18"),
        ("nationality", "XX", "two-letter ISO country code"),
        ("phone", "call me", "phone number"),
        ("pep", "maybe", "Select a valid choice"),
    ],
)
def test_a_bad_personal_step_is_a_400_naming_the_field_and_saves_nothing(
    acme, browser, field, value, message
):
    before = state(acme)
    response = browser.post("/onboarding/personal/", {**PERSONAL_FORM, field: value})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field] and message in str(errors[field])
    assert state(acme) == before


def _identity(number: str, upload: SimpleUploadedFile) -> dict:
    return {
        "id_type": "cn_resident_id",
        "id_number": number,
        "issuing_country": "CN",
        "document": upload,
    }


def test_an_identity_number_with_a_bad_check_digit_is_refused_and_nothing_saved(acme, browser):
    browser.post("/onboarding/personal/", PERSONAL_FORM)
    before = state(acme)
    response = browser.post(
        "/onboarding/identity/",
        _identity("110105194912310021", SimpleUploadedFile("id.png", png_bytes())),
    )
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["id_number"]
    assert state(acme) == before
    good = browser.post(
        "/onboarding/identity/", _identity(VALID_RIC, SimpleUploadedFile("id.png", png_bytes()))
    )
    assert good.status_code == 302
    assert ProfileDocument.objects.filter(kind="identity").count() == 1


def test_an_unreadable_or_wrong_type_upload_is_a_field_error(acme, browser):
    browser.post("/onboarding/personal/", PERSONAL_FORM)
    before = state(acme)
    for upload, message in [
        (SimpleUploadedFile("id.png", png_bytes()[:40]), "cannot be read"),
        (SimpleUploadedFile("id.pdf", b"#!/bin/sh\nrm -rf /\n"), "PDF, PNG or JPEG"),
    ]:
        response = browser.post("/onboarding/identity/", _identity(VALID_RIC, upload))
        assert response.status_code == 400
        assert message in str(response.context["form"].errors["document"])
    assert state(acme) == before


def test_the_bank_account_must_be_in_the_clients_own_name(acme, browser):
    browser.post("/onboarding/personal/", PERSONAL_FORM)
    bank = {"bank_name": "ICBC", "account_number": "6222 0202 0011 2233", "country": "CN"}
    before = state(acme)
    response = browser.post("/onboarding/bank/", {**bank, "holder_name": "Wang Fang"})
    assert response.status_code == 400
    assert "your own name" in str(response.context["form"].errors["holder_name"])
    assert state(acme) == before
    # The same name in another case or spacing, or the native-script name, is the same person.
    assert browser.post("/onboarding/bank/", {**bank, "holder_name": "LI  NA"}).status_code == 302
    assert browser.post("/onboarding/bank/", {**bank, "holder_name": "李娜"}).status_code == 302


def test_a_questionnaire_with_a_missing_answer_saves_nothing(acme, browser):
    before = state(acme)
    partial = {k: v for k, v in MODEST_ANSWERS.items() if k != "loss_tolerance"}
    response = browser.post("/onboarding/suitability/", partial)
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["loss_tolerance"]
    assert state(acme) == before
    assert browser.post("/onboarding/suitability/", MODEST_ANSWERS).status_code == 302
    assessment = SuitabilityAssessment.objects.get()
    assert assessment.investor_class == "C4" and assessment.allowed_risk_levels[-1] == "R4"


def test_submitting_an_incomplete_file_is_refused_and_a_complete_one_opens_a_case(acme, browser):
    browser.post("/onboarding/personal/", PERSONAL_FORM)
    response = browser.post("/onboarding/review/", {"confirm": "on"})
    assert response.status_code == 400
    assert not KycCase.objects.exists()
    fill_profile(acme.tenant, acme.client)
    assert browser.post("/onboarding/review/", {}).status_code == 400  # not confirmed
    response = browser.post("/onboarding/review/", {"confirm": "on"})
    assert response.status_code == 302
    case = KycCase.objects.get()
    assert case.kind == "onboarding" and case.status == "open"
    assert ClientProfile.objects.get().status == "submitted"
    # Submitted: the wizard no longer changes the file.
    locked = browser.post("/onboarding/personal/", PERSONAL_FORM)
    assert locked.status_code == 302 and locked["Location"] == "/onboarding/"


def test_the_address_proof_accepts_a_pdf_and_resume_keeps_it(acme, browser):
    proof = SimpleUploadedFile("bill.pdf", pdf_bytes())
    assert browser.post("/onboarding/address/", {"proof": proof}).status_code == 302
    # Coming back, the file on record means the step may be saved without a new upload.
    assert browser.post("/onboarding/address/", {}).status_code == 302
    assert ProfileDocument.objects.filter(kind="address").count() == 1


def test_staff_do_not_onboard(acme):
    response = sign_in(Client(), acme.compliance).get("/onboarding/personal/")
    assert response.status_code == 403


def test_the_wizard_speaks_chinese(acme):
    browser = sign_in(Client(), acme.client)
    browser.cookies["django_language"] = "zh-hans"
    response = browser.get("/onboarding/personal/")
    assert response.status_code == 200
    assert "个人资料" in response.content.decode()


def test_personal_data_never_reaches_the_logs(acme, browser, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    browser.post("/onboarding/personal/", PERSONAL_FORM)
    browser.post(
        "/onboarding/identity/", _identity(VALID_RIC, SimpleUploadedFile("id.png", png_bytes()))
    )
    browser.post(
        "/onboarding/identity/",
        _identity("110105194912310021", SimpleUploadedFile("id.png", png_bytes())),
    )
    logged = caplog.text
    for secret in ("Li Na", "李娜", VALID_RIC, "110105194912310021", "Nanjing Road"):
        assert secret not in logged


def test_the_resident_id_must_carry_the_birth_date_given_in_personal_details(acme, browser):
    browser.post("/onboarding/personal/", {**PERSONAL_FORM, "birth_date": "1949-12-30"})
    before = state(acme)
    response = browser.post(
        "/onboarding/identity/", _identity(VALID_RIC, SimpleUploadedFile("id.png", png_bytes()))
    )
    assert response.status_code == 400
    assert "birth date" in str(response.context["form"].errors["id_number"])
    assert state(acme) == before
