"""Store attribution (DOMAIN §6, §13) on a hand-made ledger: a member transferred from A to B, and
a receipt rung at B for one of A's members. Figures worked out by hand.

Stores A (SHA) and B (BJB); consultants a_c (A) and b_c (B). Churn window 180 days, tier B from
10,000 in 365 days.

member  joined      receipts (till, consultant)                               home store
m       2026-01-10  02-01 6,000 (A, a_c); 09-05 3,000 (A, a_c);               A, then B from 10-10
                    10-12 2,000 (B, b_c)                                     (transfer, T = 10-10)
n       2025-06-01  06-15 1,000 (A, a_c); 09-20 500 (A, a_c);                 A
                    10-15 1,500 (B, nobody: the cross-store receipt); 10-20 700 (A, a_c)
p       2026-10-02  10-03 800 (A, nobody)                                     A

m's tier: 12-month spend on 10-12 = 6,000 + 3,000 + 2,000 = 11,000 ≥ 10,000 → B on 10-12 (the
receipt was rung at B after the transfer; the ledger is the member's wherever they buy).

September [09-01, 09-30], S⁻ = 08-31 (active needs activity ≥ 03-05). Home on 09-30: m and n at A
(m's transfer is dated after 09-30), nobody at B.
  A: base {n} (06-15); n bought 09-20 → repurchase 1/1, churn 0/1; m's last activity 02-01 is
     before 03-05, so m is inactive at S⁻ and bought 09-05 → win-back {m}; upgrade base {m, n},
     none upgraded → 0/2; tier mix at 09-30: C 2. Sales at A's till: old 3,000 + 500 = 3,500.
  B: no members, no sales.
October [10-01, 10-31], S⁻ = 09-30. Home on 10-31: n, p at A; m at B.
  A: base {n}; repurchase 1/1 (10-20, and 10-15 at B); churn 0/1; new members {p}; upgrade 0/1;
     tier mix C 2. Sales at A's till: old 700 (n), new 800 (p) → VIP 1,500.
  B: base {m} (09-05); repurchase 1/1; churn 0/1; upgrade base {m}, upgraded {m} → 1/1; tier mix
     B 1. Sales at B's till: old 2,000 (m) + 1,500 (n, cross-store) = 3,500, new 0.
  VIP share with every October day entered at 1,000 (31,000): A 1,500 / 31,000 = 0.0484;
  B 3,500 / 31,000 = 0.1129.
  Staff (October): A: a_c 700, no consultant 800 → 1,500 = A's VIP sales. B: b_c 2,000, no
  consultant 1,500 → 3,500 = B's VIP sales.
The cross-store receipt's follow-up: n's own consultant a_c, in A (n's home store).
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from accounts.models import Role
from members.models import MemberOwnerChange, OwnerChangeReason, Tier, TierChange
from members.selectors import (
    member_home_store_on,
    new_members_by_store,
    sales_by_consultant,
    vip_sales_by_store,
)
from members.services import purchase_record
from members.transfers import member_transfer
from reports.dashboards import staff_table
from reports.kpis import compute_kpis
from reports.metrics import NO_CONSULTANT
from reports.models import StoreDailySales, TargetMetric
from reports.selectors import staff_achievement, store_actuals
from reports.services import sales_by_consultant_json, weekly_context
from tests.factories import MemberFactory, StaffFactory
from visits.models import TaskKind, TaskReason

D = date.fromisoformat
M = Decimal
SEPTEMBER = {"start": D("2026-09-01"), "end": D("2026-09-30")}
OCTOBER = {"start": D("2026-10-01"), "end": D("2026-10-31")}
T = D("2026-10-10")


def at(day: str):
    return time_machine.travel(f"{day} 12:00 +0800", tick=False)


@pytest.fixture
def world(store_a, store_b, staff_a, staff_b):
    a_c, b_c = staff_a.consultant, staff_b.consultant
    m = MemberFactory(home_store=store_a, consultant=a_c, name="m", joined_on=D("2026-01-10"))
    n = MemberFactory(home_store=store_a, consultant=a_c, name="n", joined_on=D("2025-06-01"))
    p = MemberFactory(home_store=store_a, consultant=a_c, name="p", joined_on=D("2026-10-02"))
    receipts = {}

    def ring(key, member, store, day, amount, consultant):
        with at(day):
            receipts[key] = purchase_record(
                member=member,
                store=store,
                receipt_no=key,
                date=D(day),
                amount=M(amount),
                by=None,
                consultant=consultant,
            ).purchase

    ring("m1", m, store_a, "2026-02-01", "6000", a_c)
    ring("n1", n, store_a, "2026-06-15", "1000", a_c)
    ring("m2", m, store_a, "2026-09-05", "3000", a_c)
    ring("n2", n, store_a, "2026-09-20", "500", a_c)
    ring("p1", p, store_a, "2026-10-03", "800", None)
    with at("2026-10-10"):
        member_transfer(member=m, to_store=store_b, consultant=b_c, by=None, note="搬家")
    ring("m3", m, store_b, "2026-10-12", "2000", b_c)
    ring("n3", n, store_b, "2026-10-15", "1500", None)  # the cross-store receipt
    ring("n4", n, store_a, "2026-10-20", "700", a_c)
    for store in (store_a, store_b):
        StoreDailySales.objects.bulk_create(
            StoreDailySales(store=store, date=D("2026-10-01") + timedelta(days=i), total_sales=M("1000"))
            for i in range(31)
        )
    m.refresh_from_db()
    return {"m": m, "n": n, "p": p, "receipts": receipts, "a_c": a_c, "b_c": b_c}


def test_it_moves_the_member_with_their_ledger_and_tier(world, store_a, store_b):
    m = world["m"]
    change = MemberOwnerChange.objects.get(member=m, reason=OwnerChangeReason.TRANSFER)

    assert (m.home_store, m.consultant) == (store_b, world["b_c"])
    assert (change.date, change.previous_store, change.store) == (T, store_a, store_b)
    assert m.purchases.count() == 3
    # 6,000 + 3,000 + 2,000 = 11,000 on 10-12: tier B, from the replayed ledger.
    assert m.tier == Tier.B
    assert list(TierChange.objects.filter(member=m).values_list("date", "from_tier", "to_tier")) == [
        (D("2026-10-12"), Tier.C, Tier.B)
    ]
    assert member_home_store_on(member=m, on=D("2026-10-09")) == store_a.pk
    assert member_home_store_on(member=m, on=T) == store_b.pk


def test_it_counts_sales_for_the_till_that_took_them(world, store_a, store_b):
    october = vip_sales_by_store(store_ids=[store_a.pk, store_b.pk], **OCTOBER)
    september = vip_sales_by_store(store_ids=None, **SEPTEMBER)

    assert october[store_a.pk] == (M("700.00"), M("800.00"))
    assert october[store_b.pk] == (M("3500.00"), M("0.00"))
    assert september == {store_a.pk: (M("3500.00"), M("0.00"))}


def test_it_gives_each_store_its_vip_share_of_its_till(world, store_a, store_b):
    a = store_actuals(store=store_a, **OCTOBER)[TargetMetric.VIP_SALES_SHARE]
    b = store_actuals(store=store_b, **OCTOBER)[TargetMetric.VIP_SALES_SHARE]

    assert (a.numerator, a.denominator, a.value) == (M("1500.00"), M("31000.00"), M("0.0484"))
    assert (b.numerator, b.denominator, b.value) == (M("3500.00"), M("31000.00"), M("0.1129"))


def figures(store, period):
    k = compute_kpis(store_ids=[store.pk], **period)
    return k, k.as_json()


def test_the_month_before_the_transfer_stays_with_the_old_store(world, store_a, store_b):
    m, n = world["m"], world["n"]
    k, f = figures(store_a, SEPTEMBER)

    assert (k.base, k.repurchased, k.churned, k.win_backs) == ({n.pk}, {n.pk}, set(), {m.pk})
    assert (f["upgrade_rate"]["numerator"], f["upgrade_rate"]["denominator"]) == (0, 2)
    assert f["tier_mix"]["C"]["count"] == 2 and f["new_members"] == 0
    assert (f["old_vip_sales"], f["new_vip_sales"]) == ("3500.00", "0.00")

    k, f = figures(store_b, SEPTEMBER)
    assert (k.base, k.win_backs, sum(len(ids) for ids in k.tier_mix.values())) == (set(), set(), 0)
    assert (f["old_vip_sales"], f["new_vip_sales"]) == ("0.00", "0.00")


def test_the_month_of_the_transfer_belongs_to_the_new_store(world, store_a, store_b):
    m, n, p = world["m"], world["n"], world["p"]
    k, f = figures(store_a, OCTOBER)

    assert (k.base, k.repurchased, k.churned, k.new_members) == ({n.pk}, {n.pk}, set(), {p.pk})
    assert (f["upgrade_rate"]["numerator"], f["upgrade_rate"]["denominator"]) == (0, 1)
    assert f["tier_mix"]["C"]["count"] == 2
    assert (f["old_vip_sales"], f["new_vip_sales"]) == ("700.00", "800.00")

    k, f = figures(store_b, OCTOBER)
    assert (k.base, k.repurchased, k.churned, k.upgraded) == ({m.pk}, {m.pk}, set(), {m.pk})
    assert (f["upgrade_rate"]["numerator"], f["upgrade_rate"]["denominator"]) == (1, 1)
    assert (f["tier_mix"]["B"]["count"], f["tier_mix"]["C"]["count"]) == (1, 0)
    assert (f["old_vip_sales"], f["new_vip_sales"]) == ("3500.00", "0.00")
    assert new_members_by_store(store_ids=None, **OCTOBER) == {store_a.pk: 1}


def test_the_chain_adds_up_whatever_the_attribution(world, store_a, store_b):
    chain = compute_kpis(store_ids=None, **OCTOBER).as_json()

    # 700 + 800 at A, 3,500 at B: the stores' tills add up to the chain's.
    assert (chain["old_vip_sales"], chain["new_vip_sales"]) == ("4200.00", "800.00")
    assert chain["repurchase_rate"]["denominator"] == 2  # m and n, each counted once


def test_the_follow_up_of_a_cross_store_receipt_goes_to_the_members_own_consultant(world, store_a):
    reason = TaskReason.objects.get(
        member=world["n"], kind=TaskKind.POST_PURCHASE, origin=f"purchase:{world['receipts']['n3'].pk}"
    )
    task = reason.task

    assert (task.store, task.assignee) == (store_a, world["a_c"])


def test_the_staff_rows_add_up_to_the_store_with_a_no_consultant_row(world, store_a, store_b):
    for store, person, mine, nobody, total in (
        (store_a, world["a_c"], M("700.00"), M("800.00"), M("1500.00")),
        (store_b, world["b_c"], M("2000.00"), M("1500.00"), M("3500.00")),
    ):
        rows = staff_table(store=store, people=[person], start=OCTOBER["start"], end=OCTOBER["end"], add_up=True)
        by_person = {row.staff.pk: row.sales for row in rows}

        assert by_person == {person.pk: mine, None: nobody}
        assert rows[-1].staff is NO_CONSULTANT and str(rows[-1].staff) == "无专属顾问"
        assert sum(by_person.values()) == total
        k = compute_kpis(store_ids=[store.pk], **OCTOBER)
        assert sum(by_person.values()) == k.old_vip_sales + k.new_vip_sales


def test_the_targets_table_lists_whoever_else_sold_at_the_store(world, store_a):
    # Someone since deactivated rang a receipt: the table names them, so it still adds up.
    gone = StaffFactory(username="a_gone", role=Role.CONSULTANT, store=store_a)
    with at("2026-10-21"):
        purchase_record(
            member=world["n"],
            store=store_a,
            receipt_no="g1",
            date=D("2026-10-21"),
            amount=M("300"),
            by=None,
            consultant=gone,
        )
    gone.is_active = False
    gone.save(update_fields=["is_active"])

    rows = staff_achievement(store=store_a, people=[world["a_c"]], year=2026, month=10, add_up=True, **OCTOBER)
    old = {row.staff.pk: row.get(TargetMetric.OLD_VIP_SALES).actual.value for row in rows}
    new = {row.staff.pk: row.get(TargetMetric.NEW_VIP_SALES).actual.value for row in rows}

    assert old == {world["a_c"].pk: M("700.00"), gone.pk: M("300.00"), None: M("0.00")}
    assert new == {world["a_c"].pk: M("0.00"), gone.pk: M("0.00"), None: M("800.00")}
    assert [row.listed for row in rows] == [True, False, False]
    k = compute_kpis(store_ids=[store_a.pk], **OCTOBER)
    assert (sum(old.values()), sum(new.values())) == (k.old_vip_sales, k.new_vip_sales)


def test_the_weekly_report_has_a_no_consultant_row(world, store_b):
    week = {"start": D("2026-10-12"), "end": D("2026-10-18")}
    sales = sales_by_consultant(store_id=store_b.pk, **week)
    snapshot = type(
        "S",
        (),
        {
            "figures": {
                "sales_by_consultant": sales_by_consultant_json(sales),
                "old_vip_sales": "0",
                "new_vip_sales": "0",
            }
        },
    )

    people = weekly_context(snapshot)["people"]

    assert [(p["name"], p["sales"]) for p in people] == [(str(world["b_c"]), "2000.00"), ("无专属顾问", "1500.00")]
