"""Run a benchmark against a throw-away database on the configured PostgreSQL.

python -m bench            # list benchmarks
python -m bench audit      # audit-trail append and verify throughput
"""

from __future__ import annotations

import importlib
import os
import sys

BENCHMARKS = {
    "audit": "bench.audit",
    "rls": "bench.rls",
    "ledger": "bench.ledger",
    "margin_calls": "bench.margin_calls",
    "reports": "bench.reports",
    "risk": "bench.risk",
    "screening": "bench.screening",
    "sweep": "bench.risk_sweep",
}
# Benchmarks of plain-Python code that need no database (nor Django).
WITHOUT_DATABASE = {"risk"}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in BENCHMARKS:
        print("usage: python -m bench <name>\n\nbenchmarks:")
        for name, module in BENCHMARKS.items():
            doc = (importlib.import_module(module).__doc__ or "").strip().splitlines()[0]
            print(f"  {name:<10} {doc}")
        return 2 if len(argv) >= 2 else 0
    if argv[1] in WITHOUT_DATABASE:
        importlib.import_module(BENCHMARKS[argv[1]]).run(argv[2:])
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings.test")
    os.environ.setdefault("TEST_DATABASE_NAME", "bench_platform")
    import django

    django.setup()
    from django.db import connection

    from platform_core.tenancy.owner import owner_connection

    # Like the test suite: the owner builds the database, the benchmark runs as the app role.
    with owner_connection():
        name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        importlib.import_module(BENCHMARKS[argv[1]]).run(argv[2:])
    finally:
        with owner_connection():
            connection.creation.destroy_test_db(name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
