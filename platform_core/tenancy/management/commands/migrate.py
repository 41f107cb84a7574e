"""``migrate``, run as the schema owner, followed by the application role's privileges.

The web, worker and beat processes connect as the application role, which cannot create
or alter tables; this command swaps the connection to ``settings.DATABASE_OWNER`` for the
migrations, creates the cache table, grants the application and reporting roles what they
may do (``platform_core.db_roles.privileges_apply``), then swaps back.
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import connections

from platform_core.db_roles import privileges_apply
from platform_core.tenancy.owner import owner_connection


class Command(DjangoMigrateCommand):
    help = DjangoMigrateCommand.help + " Runs as the owner role, then applies role privileges."

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        with owner_connection(alias) as (app_role, owner_role):
            super().handle(*args, **options)
            call_command("createcachetable", database=alias, verbosity=0)
            if app_role != owner_role:
                reporting = connections.settings.get("reporting", {}).get("USER")
                with connections[alias].cursor() as cursor:
                    privileges_apply(cursor, app=app_role, reporting=reporting)
