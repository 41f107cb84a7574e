"""System checks of the kyc app (registered in ``KycConfig.ready()``).

``kyc.W001`` (deploy): client PII would be sealed under the development master key, which is
derived from SECRET_KEY; anyone who learns the secret key could then read every client's file,
and rotating the secret key would make the files unreadable. Production sets
``KYC_MASTER_KEYS`` (see the README's environment table).
``kyc.E001`` (deploy): the configured master keys cannot be read.
"""

from __future__ import annotations

from typing import Any

from django.core import checks


def master_keys_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.conf import settings

    from kyc.crypto import KeyUnavailable, _dev_key, master_keys

    try:
        keys = master_keys()
    except KeyUnavailable as exc:
        return [
            checks.Error(
                f"The KYC master keys cannot be used: {exc}.",
                hint="Set KYC_MASTER_KEYS to id:base64-of-32-random-bytes[,id2:...] and "
                "KYC_MASTER_KEY_ID to one of those ids.",
                id="kyc.E001",
            )
        ]
    dev_key = _dev_key(settings.SECRET_KEY)
    if dev_key in keys.keys.values():
        return [
            checks.Warning(
                "Client PII is sealed under the development master key derived from "
                "SECRET_KEY (KYC_MASTER_KEYS is not set).",
                hint="Set KYC_MASTER_KEYS (or KYC_MASTER_KEYS_FILE) to "
                "id:base64-of-32-random-bytes, e.g. prod-1:$(head -c 32 /dev/urandom | base64), "
                "before the first client is onboarded.",
                id="kyc.W001",
            )
        ]
    return []


def register() -> None:
    checks.register(master_keys_check, checks.Tags.security, deploy=True)
