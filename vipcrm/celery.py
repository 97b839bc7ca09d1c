"""The Celery app and the beat schedule (DOMAIN §10). Every duty entry says why it runs when it does."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vipcrm.settings.local")

app = Celery("vipcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# vipcrm is not a Django app, so the discovery above does not see its tasks module.
app.autodiscover_tasks(["vipcrm"])

# Read here rather than from Django settings: this module is imported while the settings are
# still loading (vipcrm/__init__.py), so it must not touch them at import time.
HEARTBEAT_SECONDS = float(os.environ.get("VIPCRM_HEARTBEAT_SECONDS") or 60)

# Times are store-local (CELERY_TIMEZONE = TIME_ZONE). Later issues add the daily, hourly,
# weekly, mid-month and month-end duties here.
app.conf.beat_schedule = {
    # Proof of life for the worker and beat: a cheap task whose runs appear in the worker log
    # (`make run` shows them; the CI smoke test shortens the interval to see one quickly).
    "heartbeat": {
        "task": "vipcrm.tasks.heartbeat",
        "schedule": HEARTBEAT_SECONDS,
        # A heartbeat nobody picked up within its interval says nothing about the present.
        "options": {"expires": HEARTBEAT_SECONDS},
    },
}
