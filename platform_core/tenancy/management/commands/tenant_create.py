"""manage.py tenant_create SLUG --name ... --timezone ... --currency ..."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from platform_core.tenancy.services import tenant_create


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Create a tenant (a licensed operator)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", required=True, help="IANA zone, e.g. Asia/Shanghai")
        parser.add_argument("--currency", required=True, help="ISO 4217 base currency, e.g. CNY")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_create(
                slug=options["slug"],
                name=options["name"],
                timezone=options["timezone"],
                currency=options["currency"],
                actor_label=f"cli:{getpass.getuser()}",
            )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from None
        self.stdout.write(f"Created tenant {tenant.slug} (id {tenant.pk}).")
