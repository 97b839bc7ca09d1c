"""The corrected DOMAIN §6 definitions (issue 12 item 2), each with its figures worked out by hand:
a quarter's old / new VIP sales are the sums of its months', and rate targets total as a weighted
rate, never a sum of percentages."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from reports.kpis import compute_kpis, vip_sales_split
from reports.metrics import amount_display, weighted_rate_target
from reports.models import TargetMetric
from reports.periods import Period
from reports.selectors import staff_actuals, store_achievement, target_plans
from reports.services import annual_target_set, staff_allocation_set
from tests.factories import MemberFactory, PurchaseFactory
from visits.models import FollowUpTask

D = date.fromisoformat
M = Decimal


# --- Quarter = the sum of its months --------------------------------------------------------------


@pytest.fixture
def q4(store_a, store_b, staff_a):
    """Q4 2026 at store A (receipts all taken by store A's till, consultant c):

    member  joined      purchases
    x       2026-10-15  10-20 1,000; 11-10 2,000; 12-05 500
    y       2025-01-01  11-01 3,000
    z       2026-11-20  11-25 4,000; 12-28 −400 (a return)
    (store B: one member joined 2026-10-01 buying 9,999 on 10-02, never counted for A)

    Month by month (new = joined in that month, old = joined before its 1st):
      October : x new 1,000                      → old 0,      new 1,000
      November: x old 2,000, y old 3,000, z new 4,000 → old 5,000, new 4,000
      December: x old 500, z old −400            → old 100,    new 0
      Q4 = sum: old 5,100, new 5,000 (total 10,100).
    The quarter as one period would call x and z "new" all quarter: old 3,000, new 7,100.
    """
    c = staff_a.consultant
    x = MemberFactory(home_store=store_a, joined_on=D("2026-10-15"), consultant=c)
    y = MemberFactory(home_store=store_a, joined_on=D("2025-01-01"), consultant=c)
    z = MemberFactory(home_store=store_a, joined_on=D("2026-11-20"), consultant=c)
    for member, day, amount in (
        (x, "2026-10-20", "1000"),
        (x, "2026-11-10", "2000"),
        (x, "2026-12-05", "500"),
        (y, "2026-11-01", "3000"),
        (z, "2026-11-25", "4000"),
        (z, "2026-12-28", "-400"),
    ):
        PurchaseFactory(member=member, date=D(day), amount=M(amount), consultant=c)
    other = MemberFactory(home_store=store_b, joined_on=D("2026-10-01"))
    PurchaseFactory(member=other, date=D("2026-10-02"), amount=M("9999"))
    return {"x": x, "y": y, "z": z}


def test_a_quarter_is_the_sum_of_its_three_months(store_a, q4):
    quarter = Period.quarter(2026, 4)
    months = [compute_kpis(start=m.start, end=m.end, store_ids=[store_a.pk]) for m in quarter.months()]
    whole = compute_kpis(start=quarter.start, end=quarter.end, store_ids=[store_a.pk])

    assert [(k.old_vip_sales, k.new_vip_sales) for k in months] == [
        (M("0"), M("1000")),
        (M("5000"), M("4000")),
        (M("100"), M("0")),
    ]
    assert (whole.old_vip_sales, whole.new_vip_sales) == (M("5100.00"), M("5000.00"))
    assert whole.old_vip_sales == sum(k.old_vip_sales for k in months)
    assert whole.new_vip_sales == sum(k.new_vip_sales for k in months)
    # The JSON the API and the snapshots carry says the same.
    data = whole.as_json()
    assert (data["old_vip_sales"], data["new_vip_sales"]) == ("5100.00", "5000.00")


def test_a_year_and_a_range_sum_their_months_too(store_a, q4):
    # The year 2026: only Q4 has receipts, so the same 5,100 / 5,000. A range 10-16..12-31 sums
    # October 16–31 (x joined 10-15, before the part's start: old 1,000), November (old 5,000,
    # new 4,000) and December (old 100): old 6,100, new 4,000.
    year = compute_kpis(start=D("2026-01-01"), end=D("2026-12-31"), store_ids=[store_a.pk])
    assert (year.old_vip_sales, year.new_vip_sales) == (M("5100.00"), M("5000.00"))
    split = vip_sales_split(store_ids=[store_a.pk], start=D("2026-10-16"), end=D("2026-12-31"))
    assert split == {store_a.pk: (M("6100.00"), M("4000.00"))}


def test_a_week_is_one_period_not_months(store_a, q4):
    # Week Mon 2026-11-30 .. Sun 12-06 crosses into December: x's 500 on 12-05 is old (x joined
    # 10-15, before the week): old 500, new 0 either way; and z (joined 11-20) has nothing in it.
    week = Period.week(D("2026-12-02"))
    k = compute_kpis(start=week.start, end=week.end, store_ids=[store_a.pk])
    assert (week.start, week.end) == (D("2026-11-30"), D("2026-12-06"))
    assert (k.old_vip_sales, k.new_vip_sales) == (M("500.00"), M("0.00"))


def test_quarter_achievement_uses_the_same_new_as_the_months(store_a, staff_a, q4):
    # New-VIP sales target 36,000 a year → 3,000 a month → Q4 9,000. Actual Q4 new-VIP sales =
    # 1,000 + 4,000 + 0 = 5,000 → achievement 5,000 / 9,000 = 0.5556 (not 7,100 / 9,000 = 0.7889).
    annual_target_set(store=store_a, year=2026, metric=TargetMetric.NEW_VIP_SALES, amount="36000", by=staff_a.manager)
    quarter = Period.quarter(2026, 4)
    rows = store_achievement(
        store=store_a,
        plans=target_plans(store=store_a, year=2026, today=D("2026-12-31")),
        months=quarter.month_numbers(),
        start=quarter.start,
        end=quarter.end,
    )
    new = next(a for a in rows if a.metric == TargetMetric.NEW_VIP_SALES)
    assert (new.actual.value, new.target, new.ratio) == (M("5000.00"), M("9000.00"), M("0.5556"))
    # A person's quarter adds up the same way: c took every receipt.
    mine = staff_actuals(store=store_a, start=quarter.start, end=quarter.end)[staff_a.consultant.pk]
    assert (mine[TargetMetric.OLD_VIP_SALES].value, mine[TargetMetric.NEW_VIP_SALES].value) == (
        M("5100.00"),
        M("5000.00"),
    )


# --- Rate targets total as a weighted rate ---------------------------------------------------------


def _tasks(store, member, assignee, n, *, due="2026-03-10"):
    for i in range(n):
        FollowUpTask.objects.create(
            store=store,
            member=member,
            kind="care",
            origin=f"{assignee.pk}-{due}-{i}",
            due_date=D(due),
            status="done",  # done, so that many may share a member (one open card per person)
            done_on=D(due),
            assignee=assignee,
        )


def test_a_rate_targets_allocation_totals_as_a_weighted_rate(store_a, staff_a):
    """Follow-up completion target 80%; March allocated: consultant 90%, specialist 70%, manager
    50% (the page used to say "已分配 210%", their sum).

    Tasks due in March: consultant 8, specialist 2, manager 0. Weighted: each target × its
    person's tasks due, over all tasks due = (0.90 × 8 + 0.70 × 2 + 0.50 × 0) / (8 + 2 + 0)
    = (7.2 + 1.4) / 10 = 0.86 → 86%. In April (not begun on 03-31, no task due yet) the same
    targets count once each: (0.90 + 0.70 + 0.50) / 3 = 0.70 → 70%."""
    m = staff_a.manager
    member = MemberFactory(home_store=store_a, joined_on=D("2025-01-01"))
    _tasks(store_a, member, staff_a.consultant, 8)
    _tasks(store_a, member, staff_a.specialist, 2)
    _tasks(store_a, member, staff_a.consultant, 5, due="2026-04-10")  # April's: not March's weights
    annual_target_set(store=store_a, year=2026, metric=TargetMetric.FOLLOW_UP_COMPLETION, amount="0.8", by=m)
    plan = target_plans(store=store_a, year=2026)[TargetMetric.FOLLOW_UP_COMPLETION]
    allocation = {staff_a.consultant.pk: "0.9", staff_a.specialist.pk: "0.7", m.pk: "0.5"}
    for month in (3, 4):
        with time_machine.travel("2026-03-31 10:00 +0800", tick=False):
            monthly = plan.annual.months.get(month=month)
            staff_allocation_set(monthly=monthly, allocations=allocation, by=m)

    plans = target_plans(store=store_a, year=2026, today=D("2026-03-31"))
    march, april = plans[TargetMetric.FOLLOW_UP_COMPLETION].month(3), plans[TargetMetric.FOLLOW_UP_COMPLETION].month(4)

    assert march.allocated == M("0.8600")
    assert amount_display(TargetMetric.FOLLOW_UP_COMPLETION, march.allocated) == "86%"
    assert (april.allocated, april.allocated_note) == (M("0.7000"), "尚无到期任务，按人数平均")
    # Money still adds up: nothing changed for amounts that add.
    assert plans[TargetMetric.OLD_VIP_SALES].months == []


def test_the_weighted_rate_is_the_sum_of_numerators_over_the_sum_of_denominators():
    # 35% on 20 tasks and 40% on 0 tasks and 60% on 5: (7 + 0 + 3) / 25 = 0.40.
    assert weighted_rate_target({1: M("0.35"), 2: M("0.40"), 3: M("0.60")}, {1: 20, 3: 5}) == (M("0.4000"), "")
    assert weighted_rate_target({}, {}) == (None, "")


def test_the_targets_page_shows_the_weighted_total(client, store_a, staff_a):
    # Consultant 90% on 8 tasks due, specialist 70% on 2: (7.2 + 1.4) / 10 = 86%, not 160%.
    m = staff_a.manager
    member = MemberFactory(home_store=store_a, joined_on=D("2025-01-01"))
    _tasks(store_a, member, staff_a.consultant, 8)
    _tasks(store_a, member, staff_a.specialist, 2)
    with time_machine.travel("2026-03-31 10:00 +0800", tick=False):
        annual = annual_target_set(
            store=store_a, year=2026, metric=TargetMetric.FOLLOW_UP_COMPLETION, amount="0.8", by=m
        )
        staff_allocation_set(
            monthly=annual.months.get(month=3),
            allocations={staff_a.consultant.pk: "0.9", staff_a.specialist.pk: "0.7"},
            by=m,
        )
        client.force_login(m)
        html = client.get(reverse("reports:targets"), {"year": 2026, "month": 3}).content.decode()
    assert "个人加权 86% / 门店目标 80%" in html
    assert "160%" not in html
