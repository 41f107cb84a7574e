"""Password-attempt throttling per e-mail and per client address (shared cache)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _keys(email: str, ip: str | None) -> list[str]:
    email_key = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    keys = [f"login-fail:email:{email_key}"]
    if ip:
        keys.append(f"login-fail:ip:{ip}")
    return keys


def login_attempt_allowed(*, email: str, ip: str | None) -> bool:
    # Per address the allowance is larger: several people may share one office NAT.
    limits = [settings.LOGIN_THROTTLE_LIMIT, settings.LOGIN_THROTTLE_LIMIT * 4]
    return all(
        (cache.get(key) or 0) < limit for key, limit in zip(_keys(email, ip), limits, strict=False)
    )


def login_failure_record(*, email: str, ip: str | None) -> None:
    for key in _keys(email, ip):
        if not cache.add(key, 1, timeout=settings.LOGIN_THROTTLE_WINDOW):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, timeout=settings.LOGIN_THROTTLE_WINDOW)


def login_success_reset(*, email: str) -> None:
    cache.delete(_keys(email, None)[0])
