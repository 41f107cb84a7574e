"""manage.py por_verify PROOF.json [--root ROOT.json]: check a proof of reserves offline.

Reads two files and hashes; it never opens the database, so a client or an auditor can run
it anywhere the code is, against proofs and roots they downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger import merkle

SHORTFALL_EXIT = 3


def _json_of(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as problem:
        raise CommandError(f"Cannot read the {what} {path}: {problem.strerror}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as problem:
        raise CommandError(f"The {what} {path} is not JSON: {problem}.") from None


class Command(BaseCommand):
    help = (
        "Verify a proof-of-reserves inclusion proof (steps 1-3 of the contract) without a "
        "database; with --root, also that it leads to the published root. Exit status: 0 "
        "verified; 1 a mismatch or an unreadable file (the message names it); 3 verified, "
        "but the published reserves are below the total liabilities."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("proof", metavar="PROOF.json")
        parser.add_argument("--root", metavar="ROOT.json", help="the published root")

    def handle(self, *args: Any, **options: Any) -> None:
        proof = _json_of(options["proof"], "proof")
        root = _json_of(options["root"], "root") if options.get("root") else None
        try:
            node = merkle.proof_verify(proof, root=root)
            shortfall = merkle.reserves_shortfall(root) if root is not None else 0
        except merkle.MerkleError as problem:
            raise CommandError(f"Proof NOT verified: {problem}.") from None
        self.stdout.write(
            f"Proof verified: account {proof['account_ref']}'s balance of {proof['balance']} "
            f"is included in snapshot {proof['snapshot']} ({proof['currency']}), whose total "
            f"liabilities are {node.sum} under root {node.hash.hex()}."
        )
        if root is None:
            self.stdout.write("Compare root_hash with the published root (--root) to finish.")
            return
        self.stdout.write("The root is the published one.")
        if shortfall:
            raise CommandError(
                f"The published reserves of {root['reserves']} are LESS than the total "
                f"liabilities of {node.sum}: a shortfall of {shortfall}.",
                returncode=SHORTFALL_EXIT,
            )
        self.stdout.write(
            f"The published reserves of {root['reserves']} cover the total liabilities."
        )
