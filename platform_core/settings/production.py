"""Production: the same code as base; only hardening and required secrets differ."""

from platform_core.settings.base import *  # noqa: F403
from platform_core.settings.env import env_bool, env_int, env_secret

DEBUG = False
SECRET_KEY = env_secret("DJANGO_SECRET_KEY")

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Secure-sessionid"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_NAME = "__Secure-csrftoken"

# Webhooks in production: https only, never to private, loopback or link-local addresses,
# whatever DJANGO_DEBUG says.
WEBHOOKS_REQUIRE_HTTPS = True
WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
