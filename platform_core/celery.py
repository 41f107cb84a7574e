"""The Celery application. Apps register their periodic tasks through the platform's hooks."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings.base")

app = Celery("platform_core")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
