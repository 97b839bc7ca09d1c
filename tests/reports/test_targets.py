"""Targets (the annual plan, its split into months by weight, its allocation to staff), the store's
daily sales, and achievement = actual / target (DOMAIN §1, §6), with the numbers worked out."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Role
from reports.metrics import vip_sales_share
from reports.models import AnnualTarget, MonthlyTarget, StaffTarget, StoreDailySales, TargetMetric
from reports.selectors import staff_achievement, store_achievement, target_plans
from reports.services import annual_target_set, daily_sales_record, month_weights_set, staff_allocation_set
from tests.factories import MemberFactory, PurchaseFactory, StaffFactory
from visits.models import FollowUpTask

D = date.fromisoformat
M = Decimal
END_OF_MARCH = "2026-03-31 23:30 +0800"


def months_of(annual: AnnualTarget) -> list[Decimal]:
    return list(annual.months.order_by("month").values_list("amount", flat=True))


# --- The split -----------------------------------------------------------------------------------


def test_it_splits_a_year_into_equal_months_that_add_up_exactly(store_a, staff_a):
    money = annual_target_set(
        store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="1200000", by=staff_a.manager
    )
    # 100 new cards over 12 equal months: 8.33 each; the 4 units left go to the earliest months.
    cards = annual_target_set(
        store=store_a, year=2026, metric=TargetMetric.NEW_MEMBERS, amount="100", by=staff_a.manager
    )

    assert months_of(money) == [M("100000.00")] * 12
    assert months_of(cards) == [M(9)] * 4 + [M(8)] * 8
    assert sum(months_of(cards)) == 100
    plan = target_plans(store=store_a, year=2026)[TargetMetric.NEW_MEMBERS]
    # Quarters are the sums of their months: 9+9+9, 9+8+8, 8+8+8, 8+8+8.
    assert [amount for _q, amount in plan.quarters] == [M(27), M(25), M(24), M(24)]


def test_it_resplits_the_year_by_the_months_weights(store_a, staff_a):
    annual = annual_target_set(
        store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="130000", by=staff_a.manager
    )

    # December weighs double: Σ weights = 13, so each month 130,000 / 13 = 10,000 and December 20,000.
    month_weights_set(annual=annual, weights={12: "2"}, by=staff_a.manager)
    assert months_of(annual) == [M("10000.00")] * 11 + [M("20000.00")]

    # 100,000 over 13: 7,692.3076… a month (December 15,384.6153…), floored to the cent:
    # 11 × 7,692.30 + 15,384.61 = 99,999.91. The 9 cents left go to the largest remainders:
    # 0.769 of a cent in January–November beats December's 0.538, earliest first.
    annual_target_set(store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="100000", by=staff_a.manager)
    amounts = months_of(annual)
    assert amounts == [M("7692.31")] * 9 + [M("7692.30")] * 2 + [M("15384.61")]
    assert sum(amounts) == M("100000.00")
    # The weights stayed when the amount changed.
    assert list(annual.months.order_by("month").values_list("weight", flat=True)) == [M(1)] * 11 + [M(2)]


def test_it_does_not_split_a_rate(store_a, staff_a):
    annual = annual_target_set(
        store=store_a, year=2026, metric=TargetMetric.VIP_SALES_SHARE, amount="0.35", by=staff_a.manager
    )
    month_weights_set(annual=annual, weights={1: "5"}, by=staff_a.manager)

    assert months_of(annual) == [M("0.35")] * 12


def test_it_refuses_a_rate_given_as_a_percentage_and_saves_nothing(store_a, staff_a):
    with pytest.raises(ValidationError) as e:
        annual_target_set(
            store=store_a, year=2026, metric=TargetMetric.FOLLOW_UP_COMPLETION, amount="90", by=staff_a.manager
        )

    assert "0.35" in str(e.value.message_dict["amount"])
    assert not AnnualTarget.objects.exists() and not MonthlyTarget.objects.exists()


@pytest.mark.parametrize(
    ("metric", "amount"),
    [
        (TargetMetric.OLD_VIP_SALES, "-1"),
        (TargetMetric.OLD_VIP_SALES, "12.345"),
        (TargetMetric.OLD_VIP_SALES, "十万"),
        (TargetMetric.NEW_MEMBERS, "10.5"),
        (TargetMetric.VIP_SALES_SHARE, "0"),
        ("no_such_metric", "1"),
    ],
)
def test_it_refuses_a_bad_annual_amount(store_a, staff_a, metric, amount):
    with pytest.raises(ValidationError):
        annual_target_set(store=store_a, year=2026, metric=metric, amount=amount, by=staff_a.manager)

    assert not AnnualTarget.objects.exists()


def test_it_saves_no_weight_when_one_is_bad(store_a, staff_a):
    annual = annual_target_set(
        store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="120000", by=staff_a.manager
    )

    with pytest.raises(ValidationError) as e:
        month_weights_set(annual=annual, weights={1: "3", 2: "-1", 3: "abc"}, by=staff_a.manager)

    assert set(e.value.message_dict) == {"w2", "w3"}
    assert "2月" in e.value.message_dict["w2"][0]
    assert set(annual.months.values_list("weight", flat=True)) == {M(1)}
    assert months_of(annual) == [M("10000.00")] * 12


def test_it_refuses_weights_that_add_up_to_nothing(store_a, staff_a):
    annual = annual_target_set(
        store=store_a, year=2026, metric=TargetMetric.NEW_MEMBERS, amount="12", by=staff_a.manager
    )

    with pytest.raises(ValidationError):
        month_weights_set(annual=annual, weights=dict.fromkeys(range(1, 13), "0"), by=staff_a.manager)

    assert months_of(annual) == [M(1)] * 12


# --- Allocation to staff -------------------------------------------------------------------------


@pytest.fixture
def march_sales_target(store_a, staff_a):
    """Old-VIP sales 120,000 a year: 10,000 in March."""
    annual = annual_target_set(
        store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="120000", by=staff_a.manager
    )
    return annual.months.get(month=3)


def test_it_allocates_a_month_to_staff(march_sales_target, staff_a):
    c, s = staff_a.consultant, staff_a.specialist

    staff_allocation_set(monthly=march_sales_target, allocations={c.pk: "6000", s.pk: "4000"}, by=staff_a.manager)
    # Empty removes a person's target; the others keep theirs.
    staff_allocation_set(monthly=march_sales_target, allocations={s.pk: ""}, by=staff_a.manager)

    assert dict(StaffTarget.objects.values_list("staff_id", "amount")) == {c.pk: M("6000")}


def test_it_refuses_to_allocate_more_than_the_month(march_sales_target, staff_a):
    c, s = staff_a.consultant, staff_a.specialist
    staff_allocation_set(monthly=march_sales_target, allocations={c.pk: "6000"}, by=staff_a.manager)

    # 6,000 + 5,000 = 11,000 > 10,000: refused, and the first 6,000 stays as it was.
    with pytest.raises(ValidationError) as e:
        staff_allocation_set(monthly=march_sales_target, allocations={s.pk: "5000"}, by=staff_a.manager)

    assert "¥11,000.00" in e.value.messages[0] and "¥10,000.00" in e.value.messages[0]
    assert dict(StaffTarget.objects.values_list("staff_id", "amount")) == {c.pk: M("6000")}


def test_it_saves_no_allocation_when_one_value_is_bad(march_sales_target, staff_a):
    c, s = staff_a.consultant, staff_a.specialist

    with pytest.raises(ValidationError) as e:
        staff_allocation_set(monthly=march_sales_target, allocations={c.pk: "3000", s.pk: "三千"}, by=staff_a.manager)

    assert list(e.value.message_dict) == [f"staff_{s.pk}"]
    assert not StaffTarget.objects.exists()


def test_it_allocates_only_to_the_stores_own_staff(march_sales_target, staff_a, staff_b, hq):
    for outsider in (staff_b.consultant, hq):
        with pytest.raises(ValidationError):
            staff_allocation_set(monthly=march_sales_target, allocations={outsider.pk: "100"}, by=staff_a.manager)

    assert not StaffTarget.objects.exists()


def test_it_keeps_the_vip_sales_share_for_the_store(store_a, staff_a):
    annual = annual_target_set(
        store=store_a, year=2026, metric=TargetMetric.VIP_SALES_SHARE, amount="0.4", by=staff_a.manager
    )

    with pytest.raises(ValidationError):
        staff_allocation_set(
            monthly=annual.months.get(month=3), allocations={staff_a.consultant.pk: "0.4"}, by=staff_a.manager
        )


def test_it_refuses_to_lower_a_month_below_what_is_allocated(march_sales_target, staff_a):
    staff_allocation_set(monthly=march_sales_target, allocations={staff_a.consultant.pk: "9000"}, by=staff_a.manager)
    annual = march_sales_target.annual

    # 60,000 a year is 5,000 in March, below the 9,000 already given to the consultant.
    with pytest.raises(ValidationError) as e:
        annual_target_set(store=annual.store, year=2026, metric=annual.metric, amount="60000", by=staff_a.manager)

    assert "3月" in e.value.messages[0]
    annual.refresh_from_db()
    assert annual.amount == M("120000") and months_of(annual) == [M("10000.00")] * 12


def test_it_lets_only_the_manager_or_hq_set_targets(store_a, staff_a, staff_b, hq):
    for person in (staff_a.consultant, staff_a.specialist, staff_b.manager):
        with pytest.raises(PermissionDenied):
            annual_target_set(store=store_a, year=2026, metric=TargetMetric.NEW_MEMBERS, amount="10", by=person)

    annual_target_set(store=store_a, year=2026, metric=TargetMetric.NEW_MEMBERS, amount="10", by=hq)
    assert AnnualTarget.objects.get().set_by == hq


# --- Store daily sales ---------------------------------------------------------------------------


def test_it_records_a_days_sales_and_a_correction_overwrites_it(store_a, staff_a):
    with time_machine.travel(END_OF_MARCH, tick=False):
        daily_sales_record(store=store_a, day=D("2026-03-30"), total_sales="8000", by=staff_a.manager)
        row = daily_sales_record(store=store_a, day=D("2026-03-30"), total_sales="8500.50", by=staff_a.manager)

    assert StoreDailySales.objects.count() == 1
    assert (row.total_sales, row.source, row.entered_by) == (M("8500.50"), "manual", staff_a.manager)


@pytest.mark.parametrize(
    ("day", "amount", "field"),
    [
        ("2026-04-01", "8000", "date"),  # tomorrow, store time
        ("1899-12-31", "8000", "date"),
        ("2026-03-30", "-1", "total_sales"),
        ("2026-03-30", "8000.001", "total_sales"),
        ("2026-03-30", "八千", "total_sales"),
    ],
)
def test_it_refuses_bad_daily_sales(store_a, staff_a, day, amount, field):
    with time_machine.travel(END_OF_MARCH, tick=False), pytest.raises(ValidationError) as e:
        daily_sales_record(store=store_a, day=D(day), total_sales=amount, by=staff_a.manager)

    assert field in e.value.message_dict
    assert not StoreDailySales.objects.exists()


def test_it_lets_only_the_manager_or_hq_enter_sales(store_a, staff_a, staff_b):
    with time_machine.travel(END_OF_MARCH, tick=False):
        for person in (staff_a.specialist, staff_b.manager):
            with pytest.raises(PermissionDenied):
                daily_sales_record(store=store_a, day=D("2026-03-30"), total_sales="1", by=person)


# --- Achievement ---------------------------------------------------------------------------------


@pytest.fixture
def march(store_a, staff_a):
    """March 2026 in store A, with targets for every metric.

    Sales (by the member's home store): m_old joined 2025, bought 3,000 and returned 500 in March
    → old-VIP sales 2,500; m_new joined 03-05, bought 2,000 → new-VIP sales 2,000; one new member.
    Store totals entered for three days: 4,000 + 3,000 + 3,000 = 10,000 → VIP share 4,500 / 10,000.
    Tasks due in March: 4 (one more cancelled, not counted), 3 done by 03-31 → completion 3 / 4.
    Targets for March: old-VIP 120,000 / 12 = 10,000; new-VIP 24,000 / 12 = 2,000; new members
    12 / 12 = 1; VIP share 0.5; completion 0.9.
    """
    c = staff_a.consultant
    old = MemberFactory(home_store=store_a, joined_on=D("2025-01-01"), consultant=c)
    new = MemberFactory(home_store=store_a, joined_on=D("2026-03-05"), consultant=c, opened_by=c)
    PurchaseFactory(member=old, date=D("2026-03-03"), amount=M("3000"), consultant=c)
    PurchaseFactory(member=old, date=D("2026-03-04"), amount=M("-500"), consultant=c)
    PurchaseFactory(member=new, date=D("2026-03-05"), amount=M("2000"), consultant=staff_a.specialist)
    PurchaseFactory(member=old, date=D("2026-02-27"), amount=M("9999"), consultant=c)  # February: not counted
    for n, (status, done_on) in enumerate(
        [("done", "2026-03-02"), ("done", "2026-03-10"), ("done", "2026-03-31"), ("open", None), ("cancelled", None)]
    ):
        FollowUpTask.objects.create(
            store=store_a,
            member=old,
            kind="care",
            origin=f"t{n}",
            due_date=D("2026-03-09"),
            status=status,
            done_on=D(done_on) if done_on else None,
            assignee=c,
        )
    m = staff_a.manager
    with time_machine.travel(END_OF_MARCH, tick=False):
        for day, total in (("2026-03-03", "4000"), ("2026-03-04", "3000"), ("2026-03-05", "3000")):
            daily_sales_record(store=store_a, day=D(day), total_sales=total, by=m)
    for metric, amount in (
        (TargetMetric.OLD_VIP_SALES, "120000"),
        (TargetMetric.NEW_VIP_SALES, "24000"),
        (TargetMetric.NEW_MEMBERS, "12"),
        (TargetMetric.VIP_SALES_SHARE, "0.5"),
        (TargetMetric.FOLLOW_UP_COMPLETION, "0.9"),
    ):
        annual_target_set(store=store_a, year=2026, metric=metric, amount=amount, by=m)
    return {"old": old, "new": new}


def achievement_in_march(store):
    rows = store_achievement(
        store=store,
        plans=target_plans(store=store, year=2026),
        months=[3],
        start=D("2026-03-01"),
        end=D("2026-03-31"),
    )
    return {a.metric: a for a in rows}


def test_it_works_out_achievement_against_the_months_targets(store_a, march):
    a = achievement_in_march(store_a)

    assert (a["old_vip_sales"].actual.value, a["old_vip_sales"].target) == (M("2500.00"), M("10000.00"))
    assert a["old_vip_sales"].ratio == M("0.25")  # 2,500 / 10,000
    assert a["new_vip_sales"].ratio == M("1")  # 2,000 / 2,000
    assert (a["new_members"].actual.value, a["new_members"].target, a["new_members"].ratio) == (M(1), M(1), M(1))
    share = a["vip_sales_share"]
    assert (share.actual.numerator, share.actual.denominator) == (M("4500.00"), M("10000.00"))
    assert share.actual.value == M("0.45")
    assert share.ratio == M("0.9")  # 0.45 / 0.5
    assert share.actual.note == "按已录入的 3 / 31 天计算"
    completion = a["follow_up_completion"]
    assert (completion.actual.numerator, completion.actual.denominator) == (3, 4)
    assert completion.ratio == M("0.8333")  # 0.75 / 0.9
    assert completion.formula.endswith("= 75% / 90%")


def test_it_sets_the_vip_sales_of_the_entered_days_only_against_their_totals(store_a, staff_a, march):
    # The old member buys 5,000 more on 03-20, a day without an entered total: the share still
    # compares the three entered days, 4,500 / 10,000, while the month's VIP sales are 9,500.
    PurchaseFactory(member=march["old"], date=D("2026-03-20"), amount=M("5000"))

    a = achievement_in_march(store_a)

    assert a["old_vip_sales"].actual.value + a["new_vip_sales"].actual.value == M("9500.00")
    share = a["vip_sales_share"].actual
    assert (share.numerator, share.denominator, share.value) == (M("4500.00"), M("10000.00"), M("0.45"))


def test_it_sets_the_periods_vip_sales_against_the_totals_when_every_day_is_entered():
    entered = {D("2026-03-01") + timedelta(days=n): M("100") for n in range(31)}

    share = vip_sales_share(vip_sales=M("1550"), entered=entered, days=31, vip_by_day=lambda: pytest.fail("not asked"))

    # 1,550 / (31 × 100) = 0.5, nothing to explain.
    assert (share.value, share.numerator, share.denominator, share.note) == (M("0.5"), M("1550"), M("3100"), "")


def test_it_gives_no_vip_sales_share_without_store_totals(store_a, march):
    StoreDailySales.objects.all().delete()

    share = achievement_in_march(store_a)["vip_sales_share"]

    assert share.actual.value is None and share.ratio is None
    assert share.actual.note == "未录入门店销售总额"


def test_it_gives_no_achievement_without_a_target(store_a, march):
    AnnualTarget.objects.filter(metric=TargetMetric.NEW_MEMBERS).delete()

    a = achievement_in_march(store_a)["new_members"]

    assert (a.target, a.ratio, a.actual.value) == (None, None, M(1))


def test_it_works_out_each_persons_achievement(store_a, staff_a, march):
    c, s = staff_a.consultant, staff_a.specialist
    m3 = AnnualTarget.objects.get(metric=TargetMetric.OLD_VIP_SALES).months.get(month=3)
    staff_allocation_set(monthly=m3, allocations={c.pk: "5000"}, by=staff_a.manager)
    cards = AnnualTarget.objects.get(metric=TargetMetric.NEW_MEMBERS).months.get(month=3)
    staff_allocation_set(monthly=cards, allocations={c.pk: "1"}, by=staff_a.manager)
    extra = StaffFactory(username="a_consultant3", role=Role.CONSULTANT, store=store_a)

    rows = staff_achievement(
        store=store_a, people=[c, s, extra], year=2026, month=3, start=D("2026-03-01"), end=D("2026-03-31")
    )
    mine, specialist, nobody = ({r.metric: r for r in row.rows.values()} for row in rows)

    # The consultant: 3,000 − 500 of old-VIP sales on their receipts, against 5,000 → 50%; the card
    # they opened, against 1 → 100%; their tasks 3 / 4 done with no personal target.
    assert (mine["old_vip_sales"].actual.value, mine["old_vip_sales"].ratio) == (M("2500.00"), M("0.5"))
    assert (mine["new_members"].actual.value, mine["new_members"].ratio) == (M(1), M(1))
    assert (mine["follow_up_completion"].actual.numerator, mine["follow_up_completion"].actual.denominator) == (3, 4)
    assert mine["follow_up_completion"].ratio is None
    # The specialist rang up the new member's 2,000: new-VIP sales, no target.
    assert specialist["new_vip_sales"].actual.value == M("2000.00")
    assert nobody["old_vip_sales"].actual.value == 0 and nobody["follow_up_completion"].actual.value is None
    assert "vip_sales_share" not in mine
