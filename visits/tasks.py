"""Celery tasks for the daily duty: thin, they take ids and a date and call the services."""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.utils import timezone

from accounts.models import Store
from duties.runs import duty_catch_up

from .services import DAILY_DUTY, daily_work
from .top_spenders import top_spenders_catch_up


@shared_task(name="visits.daily_duty_all_stores", ignore_result=True)
def daily_duty_all_stores(on: str | None = None) -> list[int]:
    """Beat's entry point at 06:30: one task per active store, so stores run in parallel on
    several workers and one store's failure does not hold up the others."""
    day = on or timezone.localdate().isoformat()
    store_ids = list(Store.objects.filter(is_active=True).values_list("pk", flat=True))
    for store_id in store_ids:
        daily_duty.delay(store_id, day)
    return store_ids


@shared_task(name="visits.daily_duty", ignore_result=True, autoretry_for=(Exception,), max_retries=3, retry_backoff=60)
def daily_duty(store_id: int, on: str) -> dict:
    """Catch up missed days, then the day itself; each (store, date) runs once."""
    store = Store.objects.get(pk=store_id)
    runs = duty_catch_up(duty=DAILY_DUTY, store=store, through=date.fromisoformat(on), work=daily_work)
    return {run.date.isoformat(): run.counts for run in runs}


# --- Half-month top spenders (issue 12 item 6) ---------------------------------------------------


@shared_task(name="visits.top_spenders_all_stores", ignore_result=True)
def top_spenders_all_stores(on: str | None = None) -> list[int]:
    """Beat's entry point, every morning: one task per active store; on the 1st and the 16th (or
    the first morning after a missed one) each makes its revisit list, on other days nothing."""
    day = on or timezone.localdate().isoformat()
    store_ids = list(Store.objects.filter(is_active=True).values_list("pk", flat=True))
    for store_id in store_ids:
        top_spenders_duty.delay(store_id, day)
    return store_ids


@shared_task(
    name="visits.top_spenders_duty", ignore_result=True, autoretry_for=(Exception,), max_retries=3, retry_backoff=60
)
def top_spenders_duty(store_id: int, on: str) -> dict:
    """The missed 1sts and 16ths first, then `on` if due; each (store, date) runs once."""
    store = Store.objects.get(pk=store_id)
    runs = top_spenders_catch_up(store=store, through=date.fromisoformat(on))
    return {run.date.isoformat(): run.counts for run in runs}
