"""Client PII at rest: sealed per client, master keys rotate, erasing a key shreds the data."""

from __future__ import annotations

import base64
import os

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from kyc import crypto
from kyc.models import ClientDataKey, ClientProfile, ProfileDocument, ProfileSnapshot
from kyc.pii import client_data_erase, data_keys_rewrap, pii_seal, pii_unseal
from kyc.services import document_open, profile_answers
from platform_core.audit.models import AuditEvent
from tests.kyc.factories import PERSONAL, png_bytes, submit_profile

OLD = base64.b64encode(os.urandom(32)).decode()
NEW = base64.b64encode(os.urandom(32)).decode()


def test_a_sealed_value_opens_only_with_its_key_and_its_context():
    key = crypto.data_key_new()
    sealed = crypto.seal(key, b"Zhang Wei", context=b"1|2|profile")
    assert b"Zhang" not in sealed
    assert crypto.unseal(key, sealed, context=b"1|2|profile") == b"Zhang Wei"
    with pytest.raises(crypto.SealBroken):
        crypto.unseal(key, sealed, context=b"1|3|profile")  # another client's row
    with pytest.raises(crypto.SealBroken):
        crypto.unseal(crypto.data_key_new(), sealed, context=b"1|2|profile")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(crypto.SealBroken):
        crypto.unseal(key, tampered, context=b"1|2|profile")


@override_settings(KYC_MASTER_KEYS={"k1": OLD}, KYC_MASTER_KEY_ID="k1")
def test_personal_data_is_stored_only_encrypted_and_reads_back(acme):
    submit_profile(acme.tenant, acme.client)
    profile = ClientProfile.objects.get(membership=acme.client.membership)
    # What the database holds: no name, no ID number, in any row the owner can read.
    with connection.cursor() as cursor:
        cursor.execute("SELECT sealed FROM kyc_clientprofile WHERE id = %s", [profile.pk])
        (raw,) = cursor.fetchone()
    assert "张伟".encode() not in bytes(raw) and b"Zhang" not in bytes(raw)
    assert b"11010519491231002X" not in bytes(raw)
    assert profile_answers(profile)["personal"]["native_name"] == "张伟"
    document = ProfileDocument.objects.get(profile=profile, kind="identity")
    assert document_open(document=document) == png_bytes()
    # Nor in the audit trail.
    payloads = str(list(AuditEvent.objects.values_list("payload", "reason")))
    assert "Zhang" not in payloads and "张伟" not in payloads


def test_a_data_key_is_per_client(acme):
    from tests.conftest import make_person

    other = make_person(acme.tenant, "second-client@acme.example", "client")
    sealed = pii_seal(
        tenant=acme.tenant, membership=acme.client.membership, purpose="profile", value={"a": 1}
    )
    pii_seal(tenant=acme.tenant, membership=other.membership, purpose="profile", value={"a": 1})
    rows = ClientDataKey.objects.filter(tenant=acme.tenant)
    assert rows.count() == 2
    with pytest.raises(crypto.SealBroken):  # the other client's key cannot open it
        pii_unseal(
            tenant=acme.tenant, membership=other.membership, purpose="profile", sealed=sealed
        )


def test_rotating_the_master_key_rewraps_data_keys_and_data_still_reads(acme):
    with override_settings(KYC_MASTER_KEYS={"k1": OLD}, KYC_MASTER_KEY_ID="k1"):
        sealed = pii_seal(
            tenant=acme.tenant,
            membership=acme.client.membership,
            purpose="profile",
            value={"legal_name": "Zhang Wei"},
        )
    row = ClientDataKey.objects.get(membership=acme.client.membership)
    assert row.master_key_id == "k1"
    with override_settings(KYC_MASTER_KEYS={"k1": OLD, "k2": NEW}, KYC_MASTER_KEY_ID="k2"):
        assert data_keys_rewrap(tenant=acme.tenant) == 1
        assert data_keys_rewrap(tenant=acme.tenant) == 0  # nothing left under k1
    row.refresh_from_db()
    assert row.master_key_id == "k2" and row.rewrapped_at is not None
    # The old master key can go: data sealed before the rotation opens with k2 alone.
    with override_settings(KYC_MASTER_KEYS={"k2": NEW}, KYC_MASTER_KEY_ID="k2"):
        value = pii_unseal(
            tenant=acme.tenant, membership=acme.client.membership, purpose="profile", sealed=sealed
        )
    assert value == {"legal_name": "Zhang Wei"}
    # And without k2 it does not open at all.
    with override_settings(KYC_MASTER_KEYS={"k1": OLD}, KYC_MASTER_KEY_ID="k1"):
        with pytest.raises(crypto.KeyUnavailable):
            pii_unseal(
                tenant=acme.tenant,
                membership=acme.client.membership,
                purpose="profile",
                sealed=sealed,
            )


def test_erasing_the_key_shreds_data_even_in_append_only_rows(acme):
    submit_profile(acme.tenant, acme.client)
    profile = ClientProfile.objects.get(membership=acme.client.membership)
    snapshot = ProfileSnapshot.objects.get(profile=profile)
    document = ProfileDocument.objects.get(profile=profile, kind="identity")
    # The snapshot is append-only: the database refuses to change or delete it.
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM kyc_profilesnapshot WHERE id = %s", [snapshot.pk])
    client_data_erase(
        tenant=acme.tenant,
        actor=acme.compliance.user,
        membership=acme.client.membership,
        reason="erasure request #12, retention period over",
    )
    assert ProfileSnapshot.objects.filter(pk=snapshot.pk).exists()  # the row stays...
    with pytest.raises(crypto.KeyUnavailable):  # ...but nothing in it can be read
        pii_unseal(
            tenant=acme.tenant,
            membership=acme.client.membership,
            purpose="snapshot",
            sealed=snapshot.sealed,
        )
    with pytest.raises(crypto.KeyUnavailable):
        document_open(document=document)
    with pytest.raises(crypto.KeyUnavailable):
        profile_answers(profile)
    event = AuditEvent.objects.filter(action="kyc.client_data_erased").get()
    assert event.object_id == str(acme.client.membership.pk)
    assert PERSONAL["legal_name"] not in str(event.payload)


def test_the_rekey_command_rewraps_and_names_a_missing_key(acme):
    from io import StringIO

    from django.core.management import CommandError, call_command

    with override_settings(KYC_MASTER_KEYS={"k1": OLD}, KYC_MASTER_KEY_ID="k1"):
        pii_seal(tenant=acme.tenant, membership=acme.client.membership, purpose="profile", value={})
    # Without the old key the data key cannot be unwrapped: a clear failure, nothing changed.
    with override_settings(KYC_MASTER_KEYS={"k2": NEW}, KYC_MASTER_KEY_ID="k2"):
        with pytest.raises(CommandError, match="k1"):
            call_command("kyc_rekey", stdout=StringIO())
    assert ClientDataKey.objects.get().master_key_id == "k1"
    out = StringIO()
    with override_settings(KYC_MASTER_KEYS={"k1": OLD, "k2": NEW}, KYC_MASTER_KEY_ID="k2"):
        call_command("kyc_rekey", stdout=out)
    assert "1 data keys re-wrapped" in out.getvalue()
    assert ClientDataKey.objects.get().master_key_id == "k2"
