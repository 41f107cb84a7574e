"""manage.py demo_seed: the demo operator and its logins (safe to run again)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from platform_core.tenancy.demo import demo_seed


class Command(BaseCommand):
    help = "Create (or show) the demo tenant 'Demo Capital' with one person in every role."

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo_seed()
        self.stdout.write("Demo Capital logins (password, then a code from the TOTP URI):")
        for login in logins:
            self.stdout.write(f"\n  {login.role:<19} {login.email}  password: {login.password}")
            self.stdout.write(f"    TOTP: {login.otpauth_uri}")
            self.stdout.write(f"    backup codes: {' '.join(login.backup_codes)}")
