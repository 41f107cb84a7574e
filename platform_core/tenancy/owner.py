"""Swapping a connection to the schema owner's login, for migrations and test set-up only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections

_LOGIN_KEYS = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


@contextmanager
def owner_connection(alias: str = "default") -> Iterator[tuple[str, str]]:
    """Use the owner login on ``alias`` inside the block; yields (application role, owner role)."""
    connection = connections[alias]
    owner = settings.DATABASE_OWNER
    app_role, owner_role = settings.DATABASE_APP_ROLE, str(owner["USER"])
    if connection.settings_dict.get("USER") == owner_role:  # already the owner (test set-up)
        yield app_role, owner_role
        return
    saved = {key: connection.settings_dict.get(key) for key in _LOGIN_KEYS}
    connection.close()
    connection.settings_dict.update({key: owner.get(key, saved[key]) for key in _LOGIN_KEYS})
    connection.settings_dict.setdefault("OPTIONS", {})
    try:
        yield app_role, owner_role
    finally:
        connection.close()
        connection.settings_dict.update(saved)
