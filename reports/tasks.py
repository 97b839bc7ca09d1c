"""Celery tasks for the weekly, mid-month and month-end duties: thin, ids and dates in."""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.utils import timezone

from accounts.models import Store

from .duties import duty_run
from .services import WORK, due_dates


def periodic_catch_up(*, duty: str, store: Store, through: date) -> list:
    """Run the duty for the dates it was due on since its last completed run, up to `through`:
    the day itself, and any missed while beat or the workers were down. A duty that never ran
    starts with its latest due date (no backfill of history)."""
    from .models import DutyRun, DutyRunStatus

    done = DutyRun.objects.filter(duty=duty, store=store, status=DutyRunStatus.DONE, date__lte=through)
    last = done.order_by("-date").values_list("date", flat=True).first()
    due = due_dates(duty, through=through)
    todo = [day for day in due if day > last] if last else due[-1:]
    return [duty_run(duty=duty, store=store, on=day, work=WORK[duty]) for day in todo]


@shared_task(name="reports.periodic_duty_all_stores", ignore_result=True)
def periodic_duty_all_stores(duty: str, on: str | None = None) -> list[int]:
    day = on or timezone.localdate().isoformat()
    store_ids = list(Store.objects.filter(is_active=True).values_list("pk", flat=True))
    for store_id in store_ids:
        periodic_duty.delay(duty, store_id, day)
    return store_ids


@shared_task(
    name="reports.periodic_duty", ignore_result=True, autoretry_for=(Exception,), max_retries=3, retry_backoff=60
)
def periodic_duty(duty: str, store_id: int, on: str) -> dict:
    store = Store.objects.get(pk=store_id)
    runs = periodic_catch_up(duty=duty, store=store, through=date.fromisoformat(on))
    return {run.date.isoformat(): run.counts for run in runs}
