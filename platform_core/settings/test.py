"""Test settings: real PostgreSQL (embedded unless DATABASE_URL), fast hashing, local mail."""

from platform_core.settings.base import *  # noqa: F403
from platform_core.settings.env import env_str

DEBUG = False
# Argon2 is the production hasher (tested in tests/accounts); a fast one keeps the suite quick.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

# Two test runs at once (two checkouts, a helper and a person) each need their own database.
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "test_platform")}  # noqa: F405

# Tasks queued by the code under test run inline when their transaction commits; the tests of
# Celery itself (marked celery_integration) switch this off and use a real worker and broker.
CELERY_TASK_ALWAYS_EAGER = True
