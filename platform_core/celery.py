"""The Celery application. Apps register their periodic tasks through the platform's hooks."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings.base")

app = Celery("platform_core")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["platform_core"])


@app.on_after_finalize.connect
def _beat_schedule_from_hooks(sender: Celery, **kwargs: object) -> None:
    """Periodic tasks come from the apps' registrations (platform_core.hooks.scheduled_tasks)."""
    from platform_core.hooks import beat_schedule

    sender.conf.beat_schedule = beat_schedule()
