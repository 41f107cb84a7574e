"""manage.py member_add --tenant SLUG --email ... --role ROLE [--password ...] [--json]"""

from __future__ import annotations

import getpass
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from platform_core.exceptions import ApplicationError
from platform_core.tenancy.management.commands.tenant_create import validation_message
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.roles import Role
from platform_core.tenancy.services import member_add


class Command(BaseCommand):
    help = "Give a person a role in a tenant; a new person gets a password and a TOTP device."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", required=True, help=f"one of: {', '.join(Role.values)}")
        parser.add_argument("--password", help="initial password; generated when omitted")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"Unknown tenant {options['tenant']!r}.")
        try:
            with rls_context(tenant=tenant):
                added = member_add(
                    tenant=tenant,
                    email=options["email"],
                    role=options["role"],
                    password=options.get("password"),
                    actor_label=f"cli:{getpass.getuser()}",
                )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from None
        except ApplicationError as refusal:
            raise CommandError(refusal.message) from None
        result = {
            "membership_id": added.membership.pk,
            "tenant": tenant.slug,
            "email": added.membership.user.email,
            "role": added.membership.role,
            "user_created": added.user_created,
            "initial_password": added.initial_password,
            "otpauth_uri": added.otpauth_uri,
            "backup_codes": added.backup_codes,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(
            f"Membership {added.membership.pk}: {result['email']} is {result['role']}"
            f" in {tenant.slug}."
        )
        if added.initial_password:
            self.stdout.write(f"Initial password: {added.initial_password}")
        if added.otpauth_uri:
            self.stdout.write(f"TOTP device: {added.otpauth_uri}")
            self.stdout.write(f"Backup codes: {' '.join(added.backup_codes)}")
        if not added.user_created:
            self.stdout.write("Existing user: password and second factor unchanged.")
