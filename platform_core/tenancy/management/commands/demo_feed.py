"""manage.py demo_feed: the simulated market feed of the demo (``settings.DEMO_FEED``), a tick
a second until stopped, each followed by the incremental margin sweep."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from platform_core.tenancy.demo import demo_feed_runner


class Command(BaseCommand):
    help = "Run the simulated market feed (a tick every --interval seconds) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0)
        parser.add_argument("--ticks", type=int, default=None, help="stop after this many")

    def handle(self, *args: Any, **options: Any) -> None:
        runner = demo_feed_runner()
        if runner is None:
            raise CommandError("No market feed is configured (settings.DEMO_FEED).")
        if options["interval"] <= 0:
            raise CommandError("--interval must be a positive number of seconds.")
        self.stdout.write(f"market feed: a tick every {options['interval']} s (Ctrl-C stops it)")
        try:
            runner(interval=options["interval"], ticks=options["ticks"])
        except KeyboardInterrupt:
            pass
