"""Celery tasks for the weekly, mid-month and month-end duties and the daily restatement check:
thin, ids and dates in. The running, recording and catching up is duties.runs'."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from accounts.models import Store
from duties import runs

from .services import MONTHLY_DUTY, RESTATE_DUTY, SCHEDULES, WORK, restatements_work, snapshots_backfill

DUTIES = (*WORK, RESTATE_DUTY)


def periodic_catch_up(*, duty: str, store: Store, through: date) -> list:
    """Run the duty for every date it was due on and has not run, oldest first, up to `through`
    (DOMAIN §10; where a duty that never ran starts: duties.runs). Before anything else (the daily
    restatement check at 06:00, a weekly or mid-month report), the month ends before `through`
    are caught up, so a missed review runs the next morning, before the daily lists and before
    any later figures are frozen. Then the snapshots whose ledger changed meanwhile are restated."""
    done = []
    if duty != MONTHLY_DUTY and runs.store_went_live(store) is not None:
        done += runs.periodic_catch_up(
            duty=MONTHLY_DUTY,
            schedule=SCHEDULES[MONTHLY_DUTY],
            store=store,
            through=through - timedelta(days=1),
            work=WORK[MONTHLY_DUTY],
        )
    if duty == RESTATE_DUTY:
        return [*done, runs.duty_run(duty=RESTATE_DUTY, store=store, on=through, work=restatements_work)]
    done += runs.periodic_catch_up(duty=duty, schedule=SCHEDULES[duty], store=store, through=through, work=WORK[duty])
    if done:
        restatements_work(store, through)
    return done


def backfill(*, store: Store, through: date) -> int:
    """Monthly snapshots for the past months the store has data in, then the restatement check."""
    with transaction.atomic():
        taken = snapshots_backfill(store=store, through=through)
        restatements_work(store, through)
    return taken


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
    done = periodic_catch_up(duty=duty, store=store, through=date.fromisoformat(on))
    return {f"{run.duty} {run.date.isoformat()}": run.counts for run in done}


@shared_task(name="reports.after_import", ignore_result=True, autoretry_for=(Exception,), max_retries=3)
def after_import(store_ids: list[int]) -> dict:
    """After an import wrote purchases: the past months' snapshots it makes possible, and the
    frozen ones it changed restated."""
    today = timezone.localdate()
    return {store.code: backfill(store=store, through=today) for store in Store.objects.filter(pk__in=store_ids)}


@shared_task(name="reports.chain_refresh", ignore_result=True)
def chain_refresh(kind: str, start: str, end: str, today: str, language: str) -> None:
    """The chain view's kept figures worked out again (reports.chain: stale-while-revalidate)."""
    from .chain import chain_refresh_run
    from .periods import Kind, Period

    period = Period(date.fromisoformat(start), date.fromisoformat(end), Kind(kind))
    chain_refresh_run(period=period, today=date.fromisoformat(today), language=language)
