"""A client's personal data, sealed with their own data key (see ``kyc.crypto``).

Services call ``pii_seal`` / ``pii_unseal``; only ``data_keys_rewrap`` (master-key rotation)
and ``client_data_erase`` (crypto-shredding) change keys. Nothing here logs a plaintext.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from kyc import crypto
from kyc.models import ClientDataKey
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.selectors import tenant_scoped


def _key_context(tenant_id: int, membership_id: int) -> bytes:
    return f"{tenant_id}|{membership_id}".encode()


def _row_context(tenant_id: int, membership_id: int, purpose: str) -> bytes:
    return f"{tenant_id}|{membership_id}|{purpose}".encode()


def _data_key(row: ClientDataKey) -> bytes:
    keys = crypto.master_keys()
    try:
        return crypto.key_unwrap(
            bytes(row.wrapped_key),
            master=keys.get(row.master_key_id),
            context=_key_context(row.tenant_id, row.membership_id),
        )
    except crypto.KeyUnavailable:
        raise
    except crypto.SealBroken:
        raise crypto.KeyUnavailable("the client's data key does not open") from None


def data_key_for(*, tenant: Tenant, membership: Membership, create: bool = True) -> bytes:
    """The client's data key, made on first use."""
    row = tenant_scoped(ClientDataKey, tenant=tenant).filter(membership=membership).first()
    if row is None:
        if not create:
            raise crypto.KeyUnavailable("this client has no data key")
        keys = crypto.master_keys()
        data_key = crypto.data_key_new()
        with transaction.atomic():
            row, made = ClientDataKey.objects.get_or_create(
                tenant=tenant,
                membership=membership,
                defaults={
                    "master_key_id": keys.active,
                    "wrapped_key": crypto.key_wrap(
                        data_key,
                        master=keys.get(keys.active),
                        context=_key_context(tenant.pk, membership.pk),
                    ),
                },
            )
        if made:
            return data_key
    return _data_key(row)


def pii_seal(*, tenant: Tenant, membership: Membership, purpose: str, value: Any) -> bytes:
    """``value`` (JSON or bytes) sealed for this client and this purpose."""
    key = data_key_for(tenant=tenant, membership=membership)
    plaintext = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True).encode()
    return crypto.seal(key, plaintext, context=_row_context(tenant.pk, membership.pk, purpose))


def pii_unseal_bytes(
    *, tenant: Tenant, membership: Membership, purpose: str, sealed: bytes | memoryview
) -> bytes:
    key = data_key_for(tenant=tenant, membership=membership, create=False)
    return crypto.unseal(
        key, bytes(sealed), context=_row_context(tenant.pk, membership.pk, purpose)
    )


def pii_unseal(
    *, tenant: Tenant, membership: Membership, purpose: str, sealed: bytes | memoryview
) -> Any:
    if not sealed:
        return {}
    raw = pii_unseal_bytes(tenant=tenant, membership=membership, purpose=purpose, sealed=sealed)
    return json.loads(raw)


def data_keys_rewrap(*, tenant: Tenant, actor: Any = None, batch: int = 500) -> int:
    """Re-wrap every data key of ``tenant`` not yet under the active master key. Sealed rows
    are untouched; the old master key can be retired once this returns for every tenant."""
    keys = crypto.master_keys()
    done = 0
    with transaction.atomic():
        rows = (
            tenant_scoped(ClientDataKey, tenant=tenant)
            .exclude(master_key_id=keys.active)
            .exclude(wrapped_key=b"")
            .select_for_update()
            .order_by("pk")
        )
        for row in rows.iterator(chunk_size=batch):
            data_key = _data_key(row)
            row.wrapped_key = crypto.key_wrap(
                data_key,
                master=keys.get(keys.active),
                context=_key_context(row.tenant_id, row.membership_id),
            )
            row.master_key_id = keys.active
            row.rewrapped_at = timezone.now()
            row.save(update_fields=["wrapped_key", "master_key_id", "rewrapped_at"])
            done += 1
        audit_record(
            tenant=tenant,
            actor=actor,
            actor_label="" if actor else "system:kyc_key_rotation",
            action="kyc.data_keys_rewrapped",
            object_type="tenant",
            object_id=tenant.pk,
            payload={"master_key_id": keys.active, "count": done},
        )
    return done


def client_data_erase(
    *, tenant: Tenant, actor: Any, membership: Membership, reason: str
) -> ClientDataKey:
    """Crypto-shred a client: their data key is destroyed, so every sealed copy of their data,
    append-only or not, becomes unreadable. Irreversible; audited."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            400, "invalid", "The request has invalid fields.", {"reason": ["A reason is required."]}
        )
    with transaction.atomic():
        row = (
            tenant_scoped(ClientDataKey, tenant=tenant)
            .select_for_update()
            .filter(membership=membership)
            .first()
        )
        if row is None:
            raise ApplicationError(404, "not_found", "This client has no personal data.")
        row.wrapped_key = b""
        row.erased_at = timezone.now()
        row.save(update_fields=["wrapped_key", "erased_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="kyc.client_data_erased",
            object_type="membership",
            object_id=membership.pk,
            reason=reason,
        )
    return row
