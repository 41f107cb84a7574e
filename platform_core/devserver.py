"""`make run`: prepare the database, seed the demo, then run web, worker, beat and the demo's
simulated market feed (a tick a second, each followed by the incremental margin sweep, so the
portal's ratios and the console's monitor move) together.

Ctrl-C (or any one process ending) stops all of them, and the embedded PostgreSQL too
when this run started it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from platform_core import embedded_db

BASE_DIR = Path(__file__).resolve().parent.parent
ADDRESS = os.environ.get("PLATFORM_ADDRESS", "127.0.0.1:8000")


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, check=True)


def _prepare() -> None:
    for folder in ("celery/queue", "celery/processed", "celery/control", "mail", "media"):
        (BASE_DIR / "var" / folder).mkdir(parents=True, exist_ok=True)
    _manage("migrate", "--noinput", "-v", "0")
    _manage("collectstatic", "--noinput", "-v", "0")
    _manage("demo_seed")


def _start(name: str, args: list[str]) -> subprocess.Popen[bytes]:
    print(f"starting {name}: {' '.join(args)}", flush=True)
    # Own process group: Ctrl-C reaches this supervisor, which stops children in order.
    return subprocess.Popen(args, cwd=BASE_DIR, start_new_session=True)


def main() -> int:
    embedded = not os.environ.get("DATABASE_URL")
    started_db = embedded and not embedded_db.is_running()
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings.base")
    processes: list[subprocess.Popen[bytes]] = []
    later: subprocess.Popen[bytes] | None = None
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        if embedded:
            embedded_db.ensure_running()
        _prepare()
        celery = [sys.executable, "-m", "celery", "-A", "platform_core"]
        processes = [
            _start("web", [sys.executable, "manage.py", "runserver", ADDRESS, "--noreload"]),
            _start("worker", [*celery, "worker", "--loglevel=INFO", "--concurrency=2"]),
            _start("beat", [*celery, "beat", "--loglevel=INFO"]),
            _start("feed", [sys.executable, "manage.py", "demo_feed"]),
        ]
        # The demo's slow steps (signed PDFs) go on beside the servers; it may end by itself.
        later = _start("demo (later steps)", [sys.executable, "manage.py", "demo_seed", "--later"])
        print(f"\nPlatform running on http://{ADDRESS}/  (Ctrl-C stops everything)\n", flush=True)
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.5)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"setup step failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if later is not None and later.poll() is None:
            later.terminate()
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if started_db:
            embedded_db.stop()
            print("embedded PostgreSQL stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
