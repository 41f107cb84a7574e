"""manage.py checkpoint_verify: signed tree heads, inclusion and consistency proofs.

Operator (reads the database): ``--tenant SLUG [--log audit|journal]``.
Auditor (files fetched from the API, nothing else trusted): ``--ca ca.pem --head today.json
[--previous yesterday.json --consistency proof.json] [--inclusion proof.json]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from platform_core.audit import transparency
from platform_core.audit.checkpoints import (
    CheckpointError,
    consistency_proof_for,
    head_document,
    head_verify,
    proof_path,
)
from platform_core.audit.management.commands.report_verify import trust_roots_load
from platform_core.audit.models import Checkpoint
from platform_core.audit.signing import SigningError, signing_identity_for
from platform_core.hooks import checkpoint_logs
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context


def _json(name: str) -> Any:
    try:
        return json.loads(Path(name).read_text("utf-8"))
    except OSError as exc:
        raise CommandError(f"Cannot read {name}: {exc.strerror}.") from None
    except ValueError as exc:
        raise CommandError(f"{name} is not JSON: {exc}") from None


class Command(BaseCommand):
    help = (
        "Verify signed checkpoints: with --tenant, every stored head of the tenant and that each "
        "extends the one before; with --ca and --head, files fetched from the API."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="verify every stored checkpoint of this tenant")
        parser.add_argument("--log", help="only this log")
        parser.add_argument("--ca", action="append", default=[], help="trusted CA certificate")
        parser.add_argument("--head", help="a signed head (JSON from the API)")
        parser.add_argument("--previous", help="an earlier signed head")
        parser.add_argument("--consistency", help="consistency proof from --previous to --head")
        parser.add_argument("--inclusion", help="inclusion proof of one record in --head")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["tenant"]:
                self._stored(options["tenant"], options["log"])
            elif options["head"]:
                self._files(options)
            else:
                raise CommandError("Pass --tenant SLUG, or --ca and --head files.")
        except (CheckpointError, transparency.ProofError) as exc:
            raise CommandError(f"FAILED: {exc}") from None

    def _files(self, options: dict[str, Any]) -> None:
        roots = trust_roots_load(options["ca"])
        if not roots:
            raise CommandError("Pass the CA certificate to trust with --ca ca.pem.")
        head = head_verify(_json(options["head"]), trust=roots)
        self.stdout.write(
            f"head: {head.log} of {head.tenant}, {head.tree_size} records, root "
            f"{head.root_hash.hex()}, signed {head.timestamp} by {head.signer}: signature ok"
        )
        if options["previous"]:
            previous = head_verify(_json(options["previous"]), trust=roots)
            if not options["consistency"]:
                raise CommandError("--previous needs --consistency (the proof from the API).")
            if (previous.tenant, previous.log) != (head.tenant, head.log):
                raise CheckpointError("The two heads are of different logs.")
            proof = _json(options["consistency"])
            transparency.consistency_verify(
                previous.tree_size,
                head.tree_size,
                previous.root_hash,
                head.root_hash,
                proof_path(proof),
            )
            self.stdout.write(
                f"consistency: the tree of {head.tree_size} extends the signed tree of "
                f"{previous.tree_size} ({previous.timestamp}): nothing before it was rewritten"
            )
        if options["inclusion"]:
            proof = _json(options["inclusion"])
            try:
                index, data = int(proof["leaf_index"]), bytes.fromhex(proof["leaf_data"])
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(f"The inclusion proof is malformed: {exc}") from None
            transparency.inclusion_verify(
                index,
                head.tree_size,
                transparency.leaf_hash(data),
                proof_path(proof),
                head.root_hash,
            )
            self.stdout.write(
                f"inclusion: record {index} (data {data.hex()}) is in the signed tree "
                f"of {head.tree_size}"
            )
        self.stdout.write(self.style.SUCCESS("verified"))

    def _stored(self, slug: str, only: str | None) -> None:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"Unknown tenant {slug!r}.")
        try:
            roots = list(signing_identity_for(tenant=tenant).ca_certificates())
        except SigningError as exc:
            raise CommandError(str(exc)) from None
        failures = 0
        for log in checkpoint_logs:
            if only and log.key != only:
                continue
            with rls_context(tenant=tenant):
                heads = list(
                    Checkpoint.objects.filter(tenant=tenant, log=log.key).order_by("tree_size")
                )
                previous = None
                for checkpoint in heads:
                    try:
                        head_verify(head_document(checkpoint), trust=roots)
                        proof = consistency_proof_for(
                            tenant=tenant, older=previous, newer=checkpoint
                        )
                        transparency.consistency_verify(
                            previous.tree_size if previous else 0,
                            checkpoint.tree_size,
                            bytes.fromhex(previous.root_hash)
                            if previous
                            else transparency.EMPTY_ROOT,
                            bytes.fromhex(checkpoint.root_hash),
                            proof_path(proof),
                        )
                        leaves = [
                            transparency.leaf_hash(d)
                            for d in log.leaves(tenant=tenant, size=checkpoint.tree_size)
                        ]
                        if transparency.root_of(leaves).hex() != checkpoint.root_hash:
                            raise CheckpointError("today's records no longer give the signed root")
                        self.stdout.write(
                            f"{log.key} #{checkpoint.pk}: {checkpoint.tree_size} records, "
                            f"signature ok, extends the previous head, matches the records"
                        )
                    except (CheckpointError, transparency.ProofError) as exc:
                        failures += 1
                        self.stdout.write(f"{log.key} #{checkpoint.pk}: FAILED: {exc}")
                    previous = checkpoint
            if not heads:
                self.stdout.write(f"{log.key}: no checkpoints yet")
        if failures:
            raise CommandError(f"{failures} checkpoint(s) of {slug} do not verify.")
        self.stdout.write(self.style.SUCCESS(f"every checkpoint of {slug} verifies"))
