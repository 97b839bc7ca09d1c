"""The Celery app and the beat schedule (DOMAIN §10). Every duty entry says why it runs when it does."""

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import after_setup_logger, after_setup_task_logger

from vipcrm.logging import celery_json

# JSON log lines for the worker and beat when DJANGO_LOG_FORMAT=json.
after_setup_logger.connect(celery_json, dispatch_uid="vipcrm.logging.celery_json")
after_setup_task_logger.connect(celery_json, dispatch_uid="vipcrm.logging.celery_task_json")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vipcrm.settings.local")

app = Celery("vipcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# vipcrm is not a Django app, so the discovery above does not see its tasks module.
app.autodiscover_tasks(["vipcrm"])

# Read here rather than from Django settings: this module is imported while the settings are
# still loading (vipcrm/__init__.py), so it must not touch them at import time.
HEARTBEAT_SECONDS = float(os.environ.get("VIPCRM_HEARTBEAT_SECONDS") or 60)

# Times are store-local (CELERY_TIMEZONE = TIME_ZONE). Every duty is idempotent per store and date
# and catches up missed days, so an extra or late firing is harmless.
app.conf.beat_schedule = {
    # The day's follow-up list and each staff member's morning digest, ready before the shops open.
    "daily-duty": {
        "task": "visits.daily_duty_all_stores",
        "schedule": crontab(hour=6, minute=30),
    },
    # If beat or the workers were down at 06:30, the list is made within the hour once they are
    # back (a no-op when it is done). Not before 06:30: the digest is a morning email.
    "daily-duty-recheck": {
        "task": "visits.daily_duty_all_stores",
        "schedule": crontab(hour="7-22", minute=0),
    },
    # Weekly report for the previous Monday–Sunday, to the manager and the VIP specialist.
    "weekly-report": {
        "task": "reports.periodic_duty_all_stores",
        "schedule": crontab(day_of_week="mon", hour=7, minute=0),
        "args": ("weekly",),
    },
    # Mid-month snapshot: upgrade, churn and repurchase rates month-to-date.
    "mid-month-snapshot": {
        "task": "reports.periodic_duty_all_stores",
        "schedule": crontab(day_of_month="15", hour=23, minute=30),
        "args": ("mid_month",),
    },
    # Month end: tier review, monthly snapshot, next month's gift plans, upgrade candidates and
    # downgrade risks. Crontab has no "last day", so it fires on the 28th–31st at 23:30 and runs
    # what is due up to that day: on the last day, the month end; on the others, only missed ones.
    "month-end": {
        "task": "reports.periodic_duty_all_stores",
        "schedule": crontab(day_of_month="28-31", hour=23, minute=30),
        "args": ("monthly",),
    },
    # Half-month top spenders (issue 12): on the 1st and the 16th, a revisit for each store's top
    # spenders of the half-month just ended and its important members. Fires every morning so a
    # missed 1st or 16th is made up the next day (a no-op on other days); before the 06:30 daily
    # duty, so the morning digest counts the new revisits.
    "top-spenders": {
        "task": "visits.top_spenders_all_stores",
        "schedule": crontab(hour=6, minute=0),
    },
    # Frozen snapshots whose period's ledger changed since (a late import, a back-dated return, a
    # month end reviewed late) are marked restated with the figures now (issue 12).
    "snapshot-restatements": {
        "task": "reports.periodic_duty_all_stores",
        "schedule": crontab(hour=6, minute=0),
        "args": ("restatements",),
    },
    # Complaint SLAs (24 h first response, 48 h solution): breaches escalated to the manager within
    # the hour, once per breach.
    "complaint-sla": {
        "task": "complaints.sla_check_all_stores",
        "schedule": crontab(minute=5),
    },
    # The email outbox's sweep: anything whose send was lost (broker down at commit, a worker killed
    # mid-send) or failed (mail server down) goes out within minutes of being due, once.
    "outbox-flush": {
        "task": "duties.outbox_flush",
        "schedule": crontab(minute="*/2"),
        # A sweep nobody ran in its slot is superseded by the next one.
        "options": {"expires": 110},
    },
    # Webhook deliveries' sweep (issue 13): retries after the backoff, and sends any whose task was
    # lost (broker down at commit, a worker killed mid-send), once each.
    "webhooks-flush": {
        "task": "duties.webhooks_flush",
        "schedule": crontab(minute="*/2"),
        "options": {"expires": 110},
    },
    # Member exports past their day and uploads never confirmed are deleted (they hold personal data).
    "files-prune": {
        "task": "members.files_prune",
        "schedule": crontab(minute=20),
        "options": {"expires": 3000},
    },
    # Proof of life for the worker and beat: a cheap task whose runs appear in the worker log
    # (`make run` shows them; the CI smoke test shortens the interval to see one quickly).
    "heartbeat": {
        "task": "vipcrm.tasks.heartbeat",
        "schedule": HEARTBEAT_SECONDS,
        # A heartbeat nobody picked up within its interval says nothing about the present.
        "options": {"expires": HEARTBEAT_SECONDS},
    },
}
