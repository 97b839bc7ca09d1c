"""Running scheduled duties (DOMAIN §10): once per duty, store and business date; recorded;
catching up the days missed since the last run.

A duty's work runs inside the same transaction that writes its DutyRun as done, holding the row's
lock, so two workers given the same duty and date cannot both do it: the second waits, then finds
it done. A failure rolls the work back and is recorded in a separate transaction, to be retried.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Store

from .models import DutyRun, DutyRunStatus

logger = logging.getLogger(__name__)

# How far back a catch-up goes when a duty has not run for a while: a month of daily lists is
# the most anyone would want generated at once.
CATCH_UP_DAYS = 31

Work = Callable[[Store, date], dict]


def duty_run(*, duty: str, store: Store, on: date, work: Work, slot: str = "") -> DutyRun:
    """Run `work(store, on)` unless it already ran for this duty, store, date and slot."""
    try:
        with transaction.atomic():
            run, _ = DutyRun.objects.get_or_create(
                duty=duty, store=store, date=on, slot=slot, defaults={"started_at": timezone.now()}
            )
            run = DutyRun.objects.select_for_update().get(pk=run.pk)
            if run.status == DutyRunStatus.DONE:
                return run
            run.started_at = timezone.now()
            run.attempts += 1
            counts = work(store, on)
            run.status = DutyRunStatus.DONE
            run.counts = counts
            run.error = ""
            run.finished_at = timezone.now()
            run.save()
            logger.info("duty %s %s %s done: %s", duty, store.code, on, counts)
            return run
    except Exception:
        logger.exception("duty %s %s %s failed", duty, store.code, on)
        run, _ = DutyRun.objects.get_or_create(
            duty=duty, store=store, date=on, slot=slot, defaults={"started_at": timezone.now()}
        )
        run.status = DutyRunStatus.FAILED
        run.error = traceback.format_exc(limit=20)[-4000:]
        run.attempts += 1
        run.finished_at = timezone.now()
        run.save()
        raise


def days_to_run(*, duty: str, store: Store, through: date, catch_up_days: int = CATCH_UP_DAYS) -> list[date]:
    """The business dates still to run, oldest first: from the day after the last completed run
    (at most `catch_up_days` back) through `through`. A duty that never ran starts at `through`."""
    last = (
        DutyRun.objects.filter(duty=duty, store=store, status=DutyRunStatus.DONE, date__lte=through)
        .order_by("-date")
        .values_list("date", flat=True)
        .first()
    )
    earliest = through - timedelta(days=catch_up_days - 1)
    start = through if last is None else max(last + timedelta(days=1), earliest)
    done = set(
        DutyRun.objects.filter(
            duty=duty, store=store, status=DutyRunStatus.DONE, date__range=(start, through)
        ).values_list("date", flat=True)
    )
    days = []
    day = start
    while day <= through:
        if day not in done:
            days.append(day)
        day += timedelta(days=1)
    return days


def duty_catch_up(*, duty: str, store: Store, through: date, work: Work, every_day: bool = True) -> list[DutyRun]:
    """Run the missed days first, then `through`. With `every_day` False (weekly, monthly duties)
    the caller passes only the dates the duty is due on and this runs just `through`."""
    days = days_to_run(duty=duty, store=store, through=through) if every_day else [through]
    return [duty_run(duty=duty, store=store, on=day, work=work) for day in days]
