"""API bearer tokens, issued only after a second factor (see accounts.api.TokenApi)."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions

from platform_core.accounts.services import api_token_by_key
from platform_core.tenancy.rls import rls_set


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``; the token carries its membership (and so the tenant)."""

    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        token = api_token_by_key(key)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        # The token's membership is row-level secured: act as its person to read it.
        rls_set(user=token.user_id)
        return token.user, token
