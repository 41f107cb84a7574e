"""manage.py demo_seed: the demo operator, its people and its book (safe to run again)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from platform_core.tenancy.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = (
        "Create (or show) the demo tenant 'Demo Capital': a person in every role and thirty "
        "clients across the loop (onboarding, review, funded books from healthy to deleveraged)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--later",
            action="store_true",
            help="Run the slow steps instead (signing the demo documents); make run runs them "
            "in the background.",
        )
        parser.add_argument(
            "--all-logins",
            action="store_true",
            help="Also print the authenticator URI of each numbered client (client01..client30).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        people, clients = demo_seed(
            on_step=lambda name, took: self.stdout.write(f"  {name}: {took:.1f} s"),
            later=options["later"],
        )
        if options["later"]:
            self.stdout.write(f"Demo's later steps done in {time.monotonic() - started:.1f} s.")
            return
        self.stdout.write("Demo Capital logins (password, then a code from the TOTP URI):")
        for login in people:
            self.stdout.write(f"\n  {login.role:<19} {login.email}  password: {login.password}")
            self.stdout.write(f"    TOTP: {login.otpauth_uri}")
            self.stdout.write(f"    backup codes: {' '.join(login.backup_codes)}")
        self.stdout.write(
            f"\n  {len(clients)} more clients, client01..client{len(clients):02d}"
            f"@demo-capital.example, password {DEMO_PASSWORD}"
            + ("" if options["all_logins"] else " (their TOTP URIs: demo_seed --all-logins)")
        )
        if options["all_logins"]:
            for login in clients:
                self.stdout.write(f"    {login.email}  TOTP: {login.otpauth_uri}")
        self.stdout.write(f"\nDemo seeded in {time.monotonic() - started:.1f} s.")
