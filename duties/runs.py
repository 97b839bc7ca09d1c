"""Running scheduled duties (DOMAIN §10): once per duty, store and business date; recorded;
catching up every date missed since the last run, oldest first.

The work is passed in (`work(store, on) -> counts`): this module knows the calendar, never what a
duty does, so the apps whose duties these are (visits, complaints, reports) use it and it uses
none of them.

A duty's work runs inside the same transaction that writes its DutyRun as done, holding the row's
lock, so two workers given the same duty and date cannot both do it: the second waits, then finds
it done. A failure rolls the work back and is recorded in a separate transaction, to be retried.

Where a catch-up starts:
- daily duties: the day after the last completed run, at most CATCH_UP_DAYS back; a duty that
  never ran starts today (a new store gets no month of back-dated lists).
- weekly, mid-month and month-end duties (`periodic_catch_up`): every due date after the last
  completed run. A duty that never ran for the store starts at the store's go-live with the
  duties, the date of its first recorded run of any duty (the demo's and an import's history
  before that was replayed, with its reviews, when it was loaded), so a month end missed on the
  day the store went live (the demo is seeded on a month's last day) is reviewed at the next run,
  before any later one. A store with no run at all starts with the latest due date. Either way at
  most PERIODIC_CATCH_UP_DAYS back.
"""

from __future__ import annotations

import calendar
import logging
import traceback
from collections.abc import Callable
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from accounts.models import Store

from .models import DutyRun, DutyRunStatus

logger = logging.getLogger(__name__)

# How far back a daily catch-up goes when a duty has not run for a while: a month of daily lists
# is the most anyone would want generated at once.
CATCH_UP_DAYS = 31
# How far back a weekly, mid-month or month-end catch-up goes: a year of month ends, so a review
# missed while the workers were down for months is still run, in order, before the later ones.
PERIODIC_CATCH_UP_DAYS = 366

Work = Callable[[Store, date], dict]

# The calendars of the periodic duties (DOMAIN §10): when each is due.
WEEKLY, MID_MONTH, MONTH_END = "weekly", "mid_month", "month_end"


def is_due(schedule: str, day: date) -> bool:
    """Whether a duty on `schedule` is due on `day`: Mondays, the 15th or a month's last day."""
    if schedule == MONTH_END:
        return day.day == calendar.monthrange(day.year, day.month)[1]
    if schedule == MID_MONTH:
        return day.day == 15
    if schedule == WEEKLY:
        return day.weekday() == 0
    raise ValueError(f"unknown schedule {schedule!r}")


def due_dates(schedule: str, *, start: date, through: date) -> list[date]:
    """The dates from `start` through `through` a duty on `schedule` is due on, oldest first."""
    days = (start + timedelta(days=n) for n in range((through - start).days + 1))
    return [day for day in days if is_due(schedule, day)]


def duty_run(*, duty: str, store: Store, on: date, work: Work, slot: str = "") -> DutyRun:
    """Run `work(store, on)` unless it already ran for this duty, store, date and slot."""
    try:
        with transaction.atomic():
            _no_jit()
            # On file or made (an insert that does nothing when the run is recorded; a concurrent
            # one waits for the other's commit), then locked: two statements where get_or_create
            # and the lock took five (a read, a savepoint around the insert, the locking read).
            DutyRun.objects.bulk_create(
                [DutyRun(duty=duty, store=store, date=on, slot=slot, started_at=timezone.now())], ignore_conflicts=True
            )
            run = DutyRun.objects.select_for_update().get(duty=duty, store=store, date=on, slot=slot)
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


def _no_jit() -> None:
    """PostgreSQL compiles a query to machine code (JIT) when its estimated cost is high, as the
    duties' store-sized reads with a probe per member are: 50 ms of compiling for a 100 ms query,
    every store, every day. Off for the duty's transaction only (SET LOCAL); the answers are the
    same, only how they are computed changes."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def _done(duty: str, store: Store):
    return DutyRun.objects.filter(duty=duty, store=store, status=DutyRunStatus.DONE)


def days_to_run(*, duty: str, store: Store, through: date, catch_up_days: int = CATCH_UP_DAYS) -> list[date]:
    """The business dates still to run, oldest first: from the day after the last completed run
    (at most `catch_up_days` back) through `through`. A duty that never ran starts at `through`."""
    last = _done(duty, store).filter(date__lte=through).order_by("-date").values_list("date", flat=True).first()
    earliest = through - timedelta(days=catch_up_days - 1)
    start = through if last is None else max(last + timedelta(days=1), earliest)
    done = set(_done(duty, store).filter(date__range=(start, through)).values_list("date", flat=True))
    days = []
    day = start
    while day <= through:
        if day not in done:
            days.append(day)
        day += timedelta(days=1)
    return days


def duty_catch_up(*, duty: str, store: Store, through: date, work: Work, every_day: bool = True) -> list[DutyRun]:
    """Run the missed days first, then `through`. With `every_day` False only `through` runs."""
    days = days_to_run(duty=duty, store=store, through=through) if every_day else [through]
    return [duty_run(duty=duty, store=store, on=day, work=work) for day in days]


def store_went_live(store: Store) -> date | None:
    """The date of the store's first recorded duty run (any duty): when it went live with them."""
    return DutyRun.objects.filter(store=store).aggregate(first=Min("date"))["first"]


def periodic_days_to_run(
    *, duty: str, schedule: str, store: Store, through: date, max_days: int = PERIODIC_CATCH_UP_DAYS
) -> list[date]:
    """The due dates of a weekly, mid-month or month-end duty still to run through `through`,
    oldest first (see the module's docstring for where a duty that never ran starts)."""
    earliest = through - timedelta(days=max_days - 1)
    last = _done(duty, store).filter(date__lte=through).order_by("-date").values_list("date", flat=True).first()
    if last is not None:
        start = last + timedelta(days=1)
    else:
        live = store_went_live(store)
        if live is None:
            due = due_dates(schedule, start=earliest, through=through)
            return due[-1:]
        start = live
    if start < earliest:
        logger.warning("duty %s %s: catch-up limited to the last %s days", duty, store.code, max_days)
    due = due_dates(schedule, start=max(start, earliest), through=through)
    done = set(_done(duty, store).filter(date__in=due).values_list("date", flat=True))
    return [day for day in due if day not in done]


def periodic_catch_up(*, duty: str, schedule: str, store: Store, through: date, work: Work) -> list[DutyRun]:
    """Run every due date of the duty it has not completed, oldest first, through `through`. A
    failure stops the catch-up there (the later dates wait: a month end is reviewed before the
    next), to be retried by the next call."""
    days = periodic_days_to_run(duty=duty, schedule=schedule, store=store, through=through)
    return [duty_run(duty=duty, store=store, on=day, work=work) for day in days]
