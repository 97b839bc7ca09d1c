"""History that agrees with itself over time (issue 12, "Must show").

The demo is seeded on a month's last day (2026-11-30, a Monday, as in the issue), and then lives
day by day through two month ends into the first week of January, with beat as vipcrm/celery.py
runs it: the restatement check at 06:00, the daily lists at 06:30, the weekly report on Mondays at
07:00, the mid-month snapshot on the 15th and the month end on the last day at 23:30. Receipts
come in at the till every day. Things go wrong on the way:

- the month-end duty of the seeding day never runs, and the workers stay down through 2 December
  (receipts at the till meanwhile replay the members they touch, with the missed review);
- on 20 December a late import brings back-dated receipts into periods already frozen (a week in
  November, the first half of December, November's month).

Then: every snapshot either equals a recomputation by the snapshot builder or is marked restated
with exactly the recomputed figures; `rebuild_tiers` writes nothing; every birthday of 1–7 January
has its gift plan; every month end since the demo went live ran once, oldest first.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import StringIO
from itertools import count
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from accounts.models import Role, Staff, Store
from duties.models import DutyRun
from duties.runs import duty_catch_up
from members.dates import next_occurrence
from members.imports import import_commit
from members.models import Member, Purchase, TierReview
from members.services import purchase_record
from reports.models import ReportSnapshot, SnapshotKind
from reports.services import ledger_figures, snapshot_figures
from reports.tasks import periodic_catch_up
from visits.models import GiftPlan, Occasion
from visits.services import DAILY_DUTY, daily_work

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEEDED = date(2026, 11, 30)
LAST = date(2027, 1, 7)
DOWN = (date(2026, 11, 30), date(2026, 12, 2))  # beat and workers down from the seeding evening
LATE_IMPORT = date(2026, 12, 20)
pytestmark = pytest.mark.django_db(transaction=False)


def at(day: date, hour: int, minute: int = 0):
    return time_machine.travel(datetime.combine(day, time(hour, minute)).replace(tzinfo=SHANGHAI), tick=False)


def stores() -> list[Store]:
    return list(Store.objects.filter(is_active=True).order_by("code"))


def beat(day: date, hour: int, minute: int) -> None:
    """What beat starts at this time of `day` (vipcrm/celery.py), run in place."""
    if DOWN[0] < day <= DOWN[1] or (day == DOWN[0] and hour >= 12):
        return
    with at(day, hour, minute):
        for store in stores():
            if (hour, minute) == (6, 0):
                runs = periodic_catch_up(duty="restatements", store=store, through=day)
            elif (hour, minute) == (6, 30):
                runs = duty_catch_up(duty=DAILY_DUTY, store=store, through=day, work=daily_work)
            elif (hour, minute) == (7, 0) and day.weekday() == 0:
                runs = periodic_catch_up(duty="weekly", store=store, through=day)
            elif (hour, minute) == (23, 30) and day.day == 15:
                runs = periodic_catch_up(duty="mid_month", store=store, through=day)
            elif (hour, minute) == (23, 30) and day.day >= 28:
                runs = periodic_catch_up(duty="monthly", store=store, through=day)
            else:
                runs = []
            assert all(run.status == "done" for run in runs), [run.error for run in runs]


def till(day: date, receipts) -> None:
    """Two receipts a store a day, from members chosen by the day."""
    with at(day, 11):
        for store in stores():
            members = list(Member.objects.filter(home_store=store, erased_at__isnull=True).order_by("pk"))
            for k in range(2):
                member = members[(day.toordinal() * 7 + k * 13) % len(members)]
                amount = Decimal(("680.00", "2990.00", "12800.00")[(day.day + k) % 3])
                purchase_record(
                    member=member, store=store, receipt_no=f"H-T{next(receipts)}", date=day, amount=amount, by=None
                )


def late_import(day: date, receipts, django_capture_on_commit_callbacks) -> None:
    """A POS backlog: receipts dated in periods already frozen, one of them large enough to lift
    a member's tier back in November."""
    store = stores()[0]
    members = list(Member.objects.filter(home_store=store, erased_at__isnull=True).order_by("pk"))
    dated = [(date(2026, 11, 26), "52000.00"), (date(2026, 12, 10), "3600.00"), (date(2026, 10, 12), "880.00")]
    rows = [
        f"{member.card_no},H-I{next(receipts)},{on},{amount}"
        for member, (on, amount) in zip(members[3:6], dated, strict=True)
    ]
    data = ("卡号,小票号,日期,金额\n" + "\n".join(rows) + "\n").encode()
    manager = Staff.objects.get(store=store, role=Role.MANAGER)
    with at(day, 14), django_capture_on_commit_callbacks(execute=True):
        preview = import_commit(kind="purchases", data=data, filename="pos.csv", store=store, by=manager)
    assert preview.committed, (preview.file_errors, preview.errors)


def test_history_agrees_with_itself_through_two_month_ends(django_capture_on_commit_callbacks):
    with at(SEEDED, 9):
        call_command("seed_demo", "--per-store", "40", stdout=StringIO())
    # Seeding backfilled the 12 complete months before it: the trends are full on day one.
    for store in stores():
        months = ReportSnapshot.objects.filter(store=store, kind=SnapshotKind.MONTHLY)
        assert months.count() == 12
        assert months.order_by("period_end").last().period_end == date(2026, 10, 31)

    receipts = count(1)
    day = SEEDED
    while day <= LAST:
        beat(day, 6, 0)
        beat(day, 6, 30)
        beat(day, 7, 0)
        if day != SEEDED:
            till(day, receipts)
        if day == LATE_IMPORT:
            late_import(day, receipts, django_capture_on_commit_callbacks)
        beat(day, 23, 30)
        day += timedelta(days=1)

    with at(LAST, 20):
        # Every month end since the demo went live ran once, the missed one first (on the morning
        # the workers came back), then December's on its day; both reviews are recorded.
        for store in stores():
            monthly = DutyRun.objects.filter(store=store, duty="monthly").order_by("pk")
            assert list(monthly.values_list("date", "status")) == [
                (date(2026, 11, 30), "done"),
                (date(2026, 12, 31), "done"),
            ]
            assert monthly[0].started_at.astimezone(SHANGHAI).date() == date(2026, 12, 3)
            assert (
                TierReview.objects.filter(store=store, date__in=[date(2026, 11, 30), date(2026, 12, 31)]).count() == 2
            )
            weekly = DutyRun.objects.filter(store=store, duty="weekly").values_list("date", flat=True)
            assert sorted(weekly) == [date(2026, 11, 23) + timedelta(days=7 * n) for n in range(7)]

        # Every snapshot equals a recomputation, or is restated with exactly the recomputation.
        restated = 0
        snapshots = list(ReportSnapshot.objects.select_related("store").order_by("period_end", "kind", "store_id"))
        assert len(snapshots) == 2 * (12 + 2 + 7 + 1)  # 12 backfilled + Nov, Dec; 7 weeks; 15 Dec
        for snapshot in snapshots:
            now = ledger_figures(
                snapshot_figures(store=snapshot.store, start=snapshot.period_start, end=snapshot.period_end)
            )
            label = f"{snapshot} taken {snapshot.taken_at:%m-%d %H:%M}"
            if snapshot.restated_at is None:
                assert ledger_figures(snapshot.figures) == now, label
            else:
                restated += 1
                assert snapshot.restated_figures == now, label
                assert ledger_figures(snapshot.figures) != now, label
        # The late import changed the periods it was dated in (the October month at least, the
        # week of 26 November, November, the first half of December and its week).
        late = ReportSnapshot.objects.filter(restated_at__isnull=False)
        assert restated >= 4
        assert late.filter(kind="monthly", period_end=date(2026, 11, 30)).exists()
        assert late.filter(kind="mid_month", period_end=date(2026, 12, 15)).exists()
        assert late.filter(kind="weekly", period_start=date(2026, 11, 23)).exists()

        # A full replay of the ledger agrees with the history the duties wrote.
        out = StringIO()
        call_command("rebuild_tiers", stdout=out)
        assert re.search(r"\b0 changed, 0 tier changes written, 0 removed", out.getvalue()), out.getvalue()

        # Every birthday of the first week of January has its gift plan.
        start = date(2027, 1, 1)
        missing = []
        for member in Member.objects.filter(erased_at__isnull=True, birthday__isnull=False):
            occurs = next_occurrence(member.birthday, lunar=member.birthday_lunar, on_or_after=start)
            if (
                occurs <= date(2027, 1, 7)
                and not GiftPlan.objects.filter(
                    member=member, occasion=Occasion.BIRTHDAY, occasion_date=occurs
                ).exists()
            ):
                missing.append((member.pk, occurs))
        assert missing == []
        assert Purchase.objects.filter(receipt_no__startswith="H-I").count() == 3
