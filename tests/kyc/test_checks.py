"""``check --deploy`` warns (kyc.W001) while client PII would be sealed under the development
master key derived from SECRET_KEY, is silent once real master keys are set, and errs
(kyc.E001) on master keys that cannot be read."""

from __future__ import annotations

import base64
import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from kyc.checks import master_keys_check

REAL_KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(autouse=True)
def no_keys_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KYC_MASTER_KEYS", "KYC_MASTER_KEYS_FILE", "KYC_MASTER_KEY_ID"):
        monkeypatch.delenv(name, raising=False)


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_development_key_fails_the_deploy_check(settings) -> None:
    settings.KYC_MASTER_KEYS = None
    assert ids(master_keys_check()) == ["kyc.W001"]
    with pytest.raises(SystemCheckError, match=r"kyc\.W001"):
        call_command("check", "--deploy", "--fail-level", "WARNING", stdout=StringIO())


def test_keys_from_the_environment_as_ci_sets_them_pass(settings, monkeypatch) -> None:
    settings.KYC_MASTER_KEYS = None
    monkeypatch.setenv("KYC_MASTER_KEYS", f"ci-1:{REAL_KEY}")
    assert master_keys_check() == []


def test_configured_keys_pass_but_keeping_the_development_key_among_them_does_not(
    settings,
) -> None:
    from kyc.crypto import _dev_key

    settings.KYC_MASTER_KEYS = {"prod-1": REAL_KEY}
    settings.KYC_MASTER_KEY_ID = "prod-1"
    assert master_keys_check() == []
    settings.KYC_MASTER_KEYS = {
        "dev-1": base64.b64encode(_dev_key(settings.SECRET_KEY)).decode(),
        "prod-1": REAL_KEY,
    }
    assert ids(master_keys_check()) == ["kyc.W001"]


def test_unreadable_keys_are_an_error(settings) -> None:
    settings.KYC_MASTER_KEYS = {"prod-1": "not base64!"}
    settings.KYC_MASTER_KEY_ID = "prod-1"
    assert ids(master_keys_check()) == ["kyc.E001"]


def test_the_check_is_for_deployments_only(settings) -> None:
    settings.KYC_MASTER_KEYS = None
    call_command("check", "--fail-level", "WARNING", stdout=StringIO())  # no SystemCheckError
