"""The Celery app and the beat schedule (DOMAIN §10). Every duty entry says why it runs when it does."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vipcrm.settings.local")

app = Celery("vipcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Times are store-local (CELERY_TIMEZONE = TIME_ZONE). Later issues add the daily, hourly,
# weekly, mid-month and month-end duties here.
app.conf.beat_schedule = {
    # Proof of life for the worker and beat: a cheap task whose runs appear in the worker log.
    "heartbeat-every-minute": {
        "task": "vipcrm.tasks.heartbeat",
        "schedule": 60.0,
    },
}
