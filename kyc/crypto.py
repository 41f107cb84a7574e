"""Envelope encryption of client PII: a data key per client, wrapped by a master key.

Each client has one random 256-bit data key. Their personal data and documents are sealed
with it (AES-256-GCM, the ``cryptography`` package); the data key itself is stored only
wrapped (AES-256-GCM again) by a master key named by its id. The master keys come from the
settings or the environment, never from the database, so:

- rotating a master key re-wraps the data keys (``key_wrap`` under the new id) and touches
  no sealed row;
- erasing a client's wrapped data key makes every row sealed with it unreadable, including
  rows the database refuses to update or delete (crypto-shredding).

Plain Python apart from reading the settings; nothing here logs a plaintext.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32
DEV_KEY_ID = "dev-1"


class KeyUnavailable(Exception):
    """The key needed is missing: a master key not configured, or a client's key erased."""


class SealBroken(Exception):
    """A sealed value failed authentication (tampered, or sealed for another context)."""


@dataclass(frozen=True)
class MasterKeys:
    keys: dict[str, bytes]
    active: str

    def get(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyUnavailable(f"master key {key_id!r} is not configured") from None


def _decode_key(key_id: str, value: str | bytes) -> bytes:
    if isinstance(value, bytes) and len(value) == KEY_BYTES:
        return value
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnavailable(f"master key {key_id!r} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyUnavailable(f"master key {key_id!r} must be {KEY_BYTES} bytes")
    return raw


def _dev_key(secret: str) -> bytes:
    """The development master key, derived from SECRET_KEY (production sets real keys)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"kyc-master-key:dev-1"
    ).derive(secret.encode())


def master_keys() -> MasterKeys:
    """``settings.KYC_MASTER_KEYS`` ({id: base64 key}) and ``KYC_MASTER_KEY_ID``, else the
    environment (``KYC_MASTER_KEYS="id:base64,id2:base64"`` or a file named by
    ``KYC_MASTER_KEYS_FILE``, and ``KYC_MASTER_KEY_ID``), else a development key derived from
    SECRET_KEY."""
    from django.conf import settings

    configured = getattr(settings, "KYC_MASTER_KEYS", None)
    active = getattr(settings, "KYC_MASTER_KEY_ID", None)
    if not configured:
        from platform_core.settings.env import env_secret

        text = env_secret("KYC_MASTER_KEYS", "")
        configured = dict(
            part.strip().split(":", 1) for part in text.split(",") if ":" in part.strip()
        )
        active = active or os.environ.get("KYC_MASTER_KEY_ID")
    if not configured:
        return MasterKeys({DEV_KEY_ID: _dev_key(settings.SECRET_KEY)}, DEV_KEY_ID)
    keys = {key_id: _decode_key(key_id, value) for key_id, value in configured.items()}
    active = active or sorted(keys)[-1]
    if active not in keys:
        raise KeyUnavailable(f"the active master key {active!r} is not among the keys")
    return MasterKeys(keys, active)


def data_key_new() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def _open(key: bytes, sealed: bytes, context: bytes) -> bytes:
    sealed = bytes(sealed)
    if not sealed or sealed[:1] != FORMAT_VERSION or len(sealed) < 1 + NONCE_BYTES + 16:
        raise SealBroken("not a sealed value of a known format")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, context)
    except InvalidTag:
        raise SealBroken("the sealed value failed authentication") from None


def key_wrap(data_key: bytes, *, master: bytes, context: bytes) -> bytes:
    return _seal(master, data_key, b"kyc-data-key|" + context)


def key_unwrap(wrapped: bytes, *, master: bytes, context: bytes) -> bytes:
    if not wrapped:
        raise KeyUnavailable("this client's data key has been erased")
    return _open(master, wrapped, b"kyc-data-key|" + context)


def seal(data_key: bytes, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt ``plaintext``; ``context`` (which row it belongs to) is authenticated too, so a
    sealed value copied into another client's or another field's row does not open."""
    return _seal(data_key, plaintext, context)


def unseal(data_key: bytes, sealed: bytes, *, context: bytes) -> bytes:
    return _open(data_key, sealed, context)
