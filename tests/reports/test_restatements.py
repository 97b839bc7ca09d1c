"""Restated snapshots, the backfill of past months' snapshots, and catching up every missed
periodic duty oldest first (issue 12 items 1, 3; DOMAIN §10)."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse

from duties.models import DutyRun
from duties.runs import PERIODIC_CATCH_UP_DAYS, periodic_days_to_run
from members.imports import import_commit
from members.models import TierReview
from reports.models import ReportSnapshot
from reports.services import ledger_figures, snapshot_figures, snapshot_take, snapshots_restate, snapshots_touched
from reports.tasks import periodic_catch_up
from tests.factories import MemberFactory, PurchaseFactory

D = date.fromisoformat
M = Decimal


def at(moment: str):
    return time_machine.travel(f"{moment} +0800", tick=False)


@pytest.fixture
def march(store_a, staff_a):
    """A member who bought in March 2026, and March's monthly snapshot taken on 03-31."""
    with at("2026-03-10 12:00"):
        member = MemberFactory(home_store=store_a, joined_on=D("2025-06-01"), consultant=staff_a.consultant)
        PurchaseFactory(member=member, store=store_a, date=D("2026-03-10"), amount=M("1000"))
    with at("2026-03-31 23:30"):
        snapshot = snapshot_take(store=store_a, kind="monthly", start=D("2026-03-01"), end=D("2026-03-31"))
    return member, snapshot


def test_a_back_dated_purchase_restates_the_frozen_month_beside_its_figures(store_a, march):
    member, snapshot = march
    assert snapshot.figures["old_vip_sales"] == "1000.00"
    with at("2026-04-03 12:00"):
        assert list(snapshots_touched()) == []
        PurchaseFactory(member=member, store=store_a, date=D("2026-03-20"), amount=M("500"))
        # A receipt dated after the period touches nothing.
        PurchaseFactory(member=member, store=store_a, date=D("2026-04-02"), amount=M("70"))
        assert [s.pk for s in snapshots_touched()] == [snapshot.pk]
        assert snapshots_restate() == {"checked": 1, "restated": 1}
    snapshot.refresh_from_db()
    assert snapshot.figures["old_vip_sales"] == "1000.00"  # frozen stays frozen
    assert snapshot.restated_figures["old_vip_sales"] == "1500.00"
    assert snapshot.restated_figures == ledger_figures(
        snapshot_figures(store=store_a, start=snapshot.period_start, end=snapshot.period_end)
    )
    assert {"label": "老VIP销售额", "frozen": "¥1000.00", "now": "¥1500.00"} in snapshot.restated_rows
    # Checked: nothing new, nothing to look at again.
    with at("2026-04-04 12:00"):
        assert snapshots_restate() == {"checked": 0, "restated": 0}


def test_a_return_that_brings_the_ledger_back_clears_the_restatement(store_a, march):
    member, snapshot = march
    with at("2026-04-03 12:00"):
        sale = PurchaseFactory(member=member, store=store_a, date=D("2026-03-20"), amount=M("500"))
        snapshots_restate()
    with at("2026-04-05 12:00"):
        PurchaseFactory(member=member, store=store_a, date=D("2026-03-25"), amount=M("-500"), original=sale)
        assert snapshots_restate() == {"checked": 1, "restated": 0}
    snapshot.refresh_from_db()
    assert snapshot.restated_at is None and snapshot.restated_figures == {}


def test_the_report_page_says_restated_with_both_figures(client, staff_a, store_a, march):
    member, snapshot = march
    with at("2026-04-03 12:00"):
        PurchaseFactory(member=member, store=store_a, date=D("2026-03-20"), amount=M("500"))
        snapshots_restate()
        client.force_login(staff_a.manager)
        page = client.get(reverse("reports:monthly"), {"month": "2026-03"}).content.decode()
    assert "已重述" in page
    assert "¥1000.00" in page and "¥1500.00" in page


def test_an_import_of_back_dated_receipts_backfills_and_restates(
    store_a, staff_a, march, django_capture_on_commit_callbacks
):
    member, snapshot = march
    data = f"卡号,小票号,日期,金额\n{member.card_no},LATE-1,2026-03-15,800.00\n".encode()
    with at("2026-04-10 12:00"), django_capture_on_commit_callbacks(execute=True):
        preview = import_commit(kind="purchases", data=data, filename="pos.csv", store=store_a, by=staff_a.manager)
    assert preview.committed, preview.errors
    snapshot.refresh_from_db()
    assert snapshot.restated_figures["old_vip_sales"] == "1800.00"
    # The months before March the store has data in got their snapshots (trends from day one).
    months = set(ReportSnapshot.objects.filter(kind="monthly").values_list("period_end", flat=True))
    assert months == {D("2025-06-30"), D("2025-07-31"), D("2025-08-31"), D("2025-09-30"), D("2025-10-31")} | {
        D("2025-11-30"),
        D("2025-12-31"),
        D("2026-01-31"),
        D("2026-02-28"),
        D("2026-03-31"),
    }


def test_run_duties_backfill_takes_the_past_twelve_months_once(store_a, staff_a):
    MemberFactory(home_store=store_a, joined_on=D("2024-01-01"))
    with at("2026-04-10 12:00"):
        first = StringIO()
        call_command("run_duties", "--backfill", stdout=first)
        again = StringIO()
        call_command("run_duties", "--backfill", stdout=again)
        with pytest.raises(CommandError, match="not both"):
            call_command("run_duties", "monthly", "--backfill", stdout=StringIO())
    assert "12 monthly snapshots" in first.getvalue() and "0 monthly snapshots" in again.getvalue()
    ends = sorted(ReportSnapshot.objects.filter(kind="monthly").values_list("period_end", flat=True))
    assert ends[0] == D("2025-04-30") and ends[-1] == D("2026-03-31") and len(ends) == 12
    assert not DutyRun.objects.exists()  # a backfill is no duty run: no reviews, plans or tasks


def test_a_missed_month_end_is_caught_up_first_by_the_next_duty(store_a, staff_a):
    # The store went live on 03-25 (its first daily list); the month end of 03-31 never ran.
    DutyRun.objects.create(
        duty="daily", store=store_a, date=D("2026-03-25"), status="done", started_at="2026-03-25T06:30+08:00"
    )
    with at("2026-04-06 07:00"):  # Monday: the weekly report
        done = periodic_catch_up(duty="weekly", store=store_a, through=D("2026-04-06"))
    assert [(run.duty, run.date) for run in done] == [
        ("monthly", D("2026-03-31")),  # first: the week's figures include its review
        ("weekly", D("2026-03-30")),
        ("weekly", D("2026-04-06")),
    ]
    assert TierReview.objects.filter(store=store_a, date=D("2026-03-31")).exists()


def test_the_morning_check_catches_up_a_missed_month_end(store_a, staff_a):
    DutyRun.objects.create(
        duty="daily", store=store_a, date=D("2026-03-25"), status="done", started_at="2026-03-25T06:30+08:00"
    )
    with at("2026-04-01 06:00"):
        done = periodic_catch_up(duty="restatements", store=store_a, through=D("2026-04-01"))
    assert [(run.duty, run.date) for run in done] == [("monthly", D("2026-03-31")), ("restatements", D("2026-04-01"))]


def test_where_a_periodic_duty_that_never_ran_starts(store_a):
    # A store with no run of any duty: the latest due date only.
    assert periodic_days_to_run(duty="monthly", schedule="month_end", store=store_a, through=D("2026-04-30")) == [
        D("2026-04-30")
    ]
    # Live since 2025-01-10, never a month end: every one since, but at most a year back.
    DutyRun.objects.create(
        duty="daily", store=store_a, date=D("2025-01-10"), status="done", started_at="2025-01-10T06:30+08:00"
    )
    days = periodic_days_to_run(duty="monthly", schedule="month_end", store=store_a, through=D("2026-04-30"))
    assert days[0] == D("2025-04-30") and days[-1] == D("2026-04-30") and len(days) == 13
    assert (D("2026-04-30") - days[0]).days < PERIODIC_CATCH_UP_DAYS


def test_a_failed_month_end_stops_the_catch_up_there(store_a, monkeypatch):
    from reports import services

    DutyRun.objects.create(
        duty="daily", store=store_a, date=D("2026-02-20"), status="done", started_at="2026-02-20T06:30+08:00"
    )

    def broken(store, on):
        if on == D("2026-02-28"):
            raise RuntimeError("boom")
        return {}

    monkeypatch.setitem(services.WORK, "monthly", broken)
    with at("2026-03-31 23:30"), pytest.raises(RuntimeError):
        periodic_catch_up(duty="monthly", store=store_a, through=D("2026-03-31"))
    assert list(DutyRun.objects.filter(duty="monthly").values_list("date", "status")) == [(D("2026-02-28"), "failed")]


def test_finding_the_touched_snapshots_costs_the_same_for_any_number(store_a, march, django_assert_num_queries):
    member, _snapshot = march
    with at("2026-04-01 09:00"):
        for month in range(1, 13):  # a year of monthly snapshots of 2025
            end = date(2025, month, 28)
            snapshot_take(store=store_a, kind="monthly", start=end.replace(day=1), end=end)
    with at("2026-04-03 12:00"):
        PurchaseFactory(member=member, store=store_a, date=D("2025-11-20"), amount=M("500"))
        # The store's watermark, three ledger aggregates, the snapshots: 5 queries for 13 snapshots.
        with django_assert_num_queries(5):
            touched = sorted(s.period_end for s in snapshots_touched(store_ids=[store_a.pk]))
    assert touched == [D("2025-11-28"), D("2025-12-28"), D("2026-03-31")]
