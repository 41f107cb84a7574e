"""The onboarding wizard's forms (one per step) and the console's case forms.

Forms only parse and check; ``kyc.services`` saves. An invalid step saves nothing.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kyc.countries import ISO_COUNTRIES
from kyc.documents import identity_number_check, upload_check
from kyc.suitability import QUESTIONS

STEPS = ("personal", "identity", "address", "funds", "bank", "suitability", "review")
STEP_TITLES = {
    "personal": _("Personal details"),
    "identity": _("Identity document"),
    "address": _("Proof of address"),
    "funds": _("Source of funds and wealth"),
    "bank": _("Your bank account"),
    "suitability": _("Suitability questionnaire"),
    "review": _("Review and submit"),
}


def country_field(label: object) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=2,
        min_length=2,
        help_text=_("Two-letter ISO code, e.g. CN"),
    )


def _country(value: str) -> str:
    value = (value or "").strip().upper()
    if value not in ISO_COUNTRIES:
        raise ValidationError(_("Enter a two-letter ISO country code, e.g. CN."))
    return value


def name_key(name: str) -> str:
    """A name compared for sameness: case, width, spaces and punctuation ignored."""
    folded = unicodedata.normalize("NFKC", name or "").casefold()
    return "".join(ch for ch in folded if ch.isalnum())


class PersonalForm(forms.Form):
    OCCUPATIONS = (
        ("employee", _("Employee")),
        ("self_employed", _("Self-employed")),
        ("business_owner", _("Business owner")),
        ("cash_business", _("Owner of a cash-intensive business")),
        ("retired", _("Retired")),
        ("student", _("Student")),
        ("other", _("Other")),
    )
    PEP = (
        ("no", _("No")),
        ("domestic", _("Yes, a domestic public function")),
        ("foreign", _("Yes, a foreign public function")),
        ("international", _("Yes, in an international organisation")),
        ("associate", _("A family member or close associate of such a person")),
    )

    legal_name = forms.CharField(label=_("Legal name"), max_length=200)
    native_name = forms.CharField(
        label=_("Name in your own script (e.g. Chinese characters)"),
        max_length=200,
        required=False,
    )
    former_names = forms.CharField(
        label=_("Former names, one per line"), widget=forms.Textarea, required=False
    )
    birth_date = forms.DateField(label=_("Date of birth"), help_text="YYYY-MM-DD")
    nationality = country_field(_("Nationality"))
    residence_country = country_field(_("Country of residence"))
    address = forms.CharField(label=_("Home address"), widget=forms.Textarea, max_length=500)
    phone = forms.CharField(label=_("Phone"), max_length=32)
    occupation = forms.ChoiceField(label=_("Occupation"), choices=OCCUPATIONS)
    pep = forms.ChoiceField(
        label=_("Do you hold, or have you held, a prominent public function?"), choices=PEP
    )

    def clean_nationality(self) -> str:
        return _country(self.cleaned_data["nationality"])

    def clean_residence_country(self) -> str:
        return _country(self.cleaned_data["residence_country"])

    def clean_birth_date(self) -> date:
        born = self.cleaned_data["birth_date"]
        today = timezone.localdate()
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if age < 18:
            raise ValidationError(_("You must be at least 18 years old."))
        if age > 120:
            raise ValidationError(_("Check the date of birth."))
        return born

    def clean_phone(self) -> str:
        phone = re.sub(r"[\s()-]", "", self.cleaned_data["phone"])
        if not re.fullmatch(r"\+?[0-9]{6,20}", phone):
            raise ValidationError(_("Enter a phone number of digits, optionally starting with +."))
        return phone

    def clean_former_names(self) -> list[str]:
        lines = self.cleaned_data.get("former_names") or ""
        return [line.strip() for line in lines.splitlines() if line.strip()]


class UploadFormMixin:
    """A file field that may stay empty when a file of its kind is already on record."""

    file_field = "document"

    def __init__(self, *args: Any, has_file: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.fields[self.file_field].required = not has_file  # type: ignore[attr-defined]
        self.upload = None

    def clean_file(self) -> Any:
        upload = self.cleaned_data.get(self.file_field)  # type: ignore[attr-defined]
        if upload:
            self.upload = upload_check(upload)
        return upload


class IdentityForm(UploadFormMixin, forms.Form):
    birth_date = ""  # from the personal step, ISO; set by the view
    ID_TYPES = (
        ("cn_resident_id", _("PRC resident identity card")),
        ("passport", _("Passport")),
    )
    id_type = forms.ChoiceField(label=_("Document type"), choices=ID_TYPES)
    id_number = forms.CharField(label=_("Document number"), max_length=32)
    issuing_country = country_field(_("Issuing country"))
    document = forms.FileField(label=_("A scan or photo of the document (PDF, PNG, JPEG)"))

    def clean_issuing_country(self) -> str:
        return _country(self.cleaned_data["issuing_country"])

    def clean_document(self) -> Any:
        return self.clean_file()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "id_type" in data and "id_number" in data:
            country = data.get("issuing_country", "")
            if data["id_type"] == "cn_resident_id" and country and country != "CN":
                self.add_error("issuing_country", _("A resident identity card is issued by CN."))
            try:
                checked = identity_number_check(
                    data["id_type"], data["id_number"], issuing_country=country
                )
            except ValidationError as problem:
                self.add_error("id_number", problem)
            else:
                data["id_number"] = checked.number
                data["id_birth_date"] = checked.birth_date
                born = self.birth_date
                if checked.birth_date and born and checked.birth_date.isoformat() != born:
                    self.add_error(
                        "id_number",
                        _("The birth date in this number is not the one in your personal details."),
                    )
        return data


class AddressForm(UploadFormMixin, forms.Form):
    file_field = "proof"
    proof = forms.FileField(
        label=_("A utility bill or bank statement from the last 3 months (PDF, PNG, JPEG)")
    )

    def clean_proof(self) -> Any:
        return self.clean_file()


class FundsForm(UploadFormMixin, forms.Form):
    SOURCES = (
        ("salary", _("Salary")),
        ("business", _("Business income")),
        ("investments", _("Investments")),
        ("inheritance", _("Inheritance or gift")),
        ("property_sale", _("Sale of property")),
        ("other", _("Other")),
    )
    file_field = "proof"
    source_of_funds = forms.ChoiceField(label=_("Source of the money you deposit"), choices=SOURCES)
    source_of_wealth = forms.ChoiceField(label=_("Source of your wealth"), choices=SOURCES)
    details = forms.CharField(
        label=_("Details"), widget=forms.Textarea, required=False, max_length=1000
    )
    proof = forms.FileField(label=_("Supporting document (optional)"), required=False)

    def __init__(self, *args: Any, has_file: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, has_file=True, **kwargs)

    def clean_proof(self) -> Any:
        return self.clean_file()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        other = "other" in (data.get("source_of_funds"), data.get("source_of_wealth"))
        if other and not (data.get("details") or "").strip():
            self.add_error("details", _("Describe the source you marked as other."))
        return data


class BankForm(forms.Form):
    holder_name = forms.CharField(label=_("Account holder's name"), max_length=200)
    bank_name = forms.CharField(label=_("Bank"), max_length=200)
    account_number = forms.CharField(label=_("Account number or IBAN"), max_length=34)
    country = country_field(_("Country of the bank"))

    def __init__(self, *args: Any, names: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names = [n for n in (names or []) if n]

    def clean_country(self) -> str:
        return _country(self.cleaned_data["country"])

    def clean_account_number(self) -> str:
        number = re.sub(r"\s", "", self.cleaned_data["account_number"]).upper()
        if not re.fullmatch(r"[A-Z0-9]{8,34}", number):
            raise ValidationError(_("Enter 8 to 34 letters and digits."))
        return number

    def clean_holder_name(self) -> str:
        holder = self.cleaned_data["holder_name"].strip()
        if not self.names:
            raise ValidationError(_("Fill in your personal details first."))
        if name_key(holder) not in {name_key(n) for n in self.names}:
            raise ValidationError(
                _("The account must be in your own name, exactly as in your personal details.")
            )
        return holder


class SuitabilityForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for question in QUESTIONS:
            self.fields[question.key] = forms.ChoiceField(
                label=question.text,
                choices=[(value, label) for value, label, _points in question.choices],
                widget=forms.RadioSelect,
                error_messages={"required": _("Answer this question.")},
            )


class ReviewForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("I confirm that what I have given is true and complete."),
        error_messages={"required": _("Confirm before you submit.")},
    )


STEP_FORMS: dict[str, type[forms.Form]] = {
    "personal": PersonalForm,
    "identity": IdentityForm,
    "address": AddressForm,
    "funds": FundsForm,
    "bank": BankForm,
    "suitability": SuitabilityForm,
    "review": ReviewForm,
}
UPLOAD_KINDS = {"identity": "identity", "address": "address", "funds": "funds"}


# --- console --------------------------------------------------------------------------------


class CaseActionForm(forms.Form):
    ACTIONS = (
        ("take", "take"),
        ("assign", "assign"),
        ("check", "check"),
        ("request_info", "request_info"),
        ("approve", "approve"),
        ("reject", "reject"),
        ("report", "report"),
    )
    action = forms.ChoiceField(choices=ACTIONS)
    assignee = forms.IntegerField(required=False)
    check = forms.CharField(required=False, max_length=32)
    check_status = forms.ChoiceField(
        required=False, choices=(("done", "done"), ("failed", "failed"))
    )
    reason = forms.CharField(required=False, widget=forms.Textarea, max_length=2000)


class RatingConfigForm(forms.Form):
    """A tenant's risk-rating weights (0-100 per factor), bands and review intervals."""

    customer = forms.IntegerField(label=_("Customer"), min_value=0, max_value=100)
    geography = forms.IntegerField(label=_("Geography"), min_value=0, max_value=100)
    product = forms.IntegerField(label=_("Product"), min_value=0, max_value=100)
    channel = forms.IntegerField(label=_("Channel"), min_value=0, max_value=100)
    pep = forms.IntegerField(label=_("Politically exposed person"), min_value=0, max_value=100)
    screening = forms.IntegerField(label=_("Screening"), min_value=0, max_value=100)
    medium_from = forms.IntegerField(label=_("Medium from score"), min_value=1, max_value=99)
    high_from = forms.IntegerField(label=_("High from score"), min_value=2, max_value=100)
    review_years_low = forms.IntegerField(
        label=_("Review low risk every (years)"), min_value=1, max_value=10
    )
    review_years_medium = forms.IntegerField(
        label=_("Review medium risk every (years)"), min_value=1, max_value=10
    )
    review_years_high = forms.IntegerField(
        label=_("Review high risk every (years)"), min_value=1, max_value=10
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("medium_from") and data.get("high_from"):
            if data["medium_from"] >= data["high_from"]:
                self.add_error("high_from", _("Must be above the medium threshold."))
        return data


class HitDecisionForm(forms.Form):
    """An officer's decision on a screening hit: a true match, or a false positive (optionally
    whitelisted for the continuous re-screening, for some days)."""

    action = forms.ChoiceField(
        choices=(("confirm", _("True match")), ("clear", _("False positive")))
    )
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea)
    whitelist_days = forms.IntegerField(
        label=_("Whitelist for (days)"), required=False, min_value=1, max_value=3660
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("action") == "confirm" and data.get("whitelist_days"):
            self.add_error("whitelist_days", _("Only a false positive is whitelisted."))
        return data
