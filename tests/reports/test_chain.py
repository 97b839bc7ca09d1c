"""HQ's chain view (issue 12 item 4): the stores side by side for any period, by store and by
region, sorted by any column, each member figure drilling down to its members.

The ledger, for the first quarter of 2026 (S⁻ = 2025-12-31, E = 2026-03-31, churn window 180 days):

Store A (华东):
- a1 joined 2025-06, bought 2025-12-01 (active at S⁻); buys ¥1,000 at A on 02-10 and is upgraded
  C→B that day: in the base, repurchased, upgraded.
- a2 joined 2025-06, last bought 2025-07-15: active at S⁻ (within 180 days), not at E: churned.
- a3 joins 2026-02-05 and buys ¥500 at A that day (new in February), ¥300 on 03-10 (old in
  March: DOMAIN §6 sums the months, so the quarter has 500 new and 300 old, not 800 new).
- a4 joined 2024, last bought 2024-03: lapsed; buys ¥2,000 at B's till on 03-20: a win-back for A
  (member figures by home store), old-VIP sales for B (sales by till).
  A: base 2, churn 1/2, repurchase 1/2, upgrade 1/3 (a1, a2, a4 at B/C on S⁻), win-backs 1,
  new members 1, tiers at E B 1 / C 3; old-VIP sales 1,000 + 300 = 1,300, new 500.
Store B (华北): b1 joined 2025-01, bought 2025-11-11: base 1, not churned, no repurchase.
  Sales: old 2,000 (a4's receipt), new 0.
Store C (华东): c1 joined 2025-01, bought 2025-10-01 and ¥100 on 01-15: base 1, repurchase 1/1.
Regions: 华东 = A + C: base 3, churn 1/3, repurchase 2/3; 华北 = B. Chain old-VIP sales 1,300 + 2,000 + 100.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.models import TierChange
from reports.chain import chain_figures
from reports.kpis import compute_kpis
from reports.models import TargetMetric
from reports.periods import Period
from reports.services import annual_target_set
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory
from visits.models import FollowUpTask

D = date.fromisoformat
M = Decimal
TODAY = "2026-04-15 10:00 +0800"
Q1 = Period.quarter(2026, 1)


def at(moment: str = TODAY):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def store_c(db):
    return StoreFactory(code="SHC", name="杭州店", region="华东")


@pytest.fixture
def ledger(store_a, store_b, store_c):
    store_a.region, store_b.region = "华东", "华北"
    store_a.save(update_fields=["region"])
    store_b.save(update_fields=["region"])
    a1 = MemberFactory(home_store=store_a, name="甲一", joined_on=D("2025-06-01"))
    PurchaseFactory(member=a1, date=D("2025-12-01"), amount=M("800"))
    PurchaseFactory(member=a1, date=D("2026-02-10"), amount=M("1000"))
    TierChange.objects.create(member=a1, date=D("2026-02-10"), from_tier="C", to_tier="B", reason="purchase")
    a2 = MemberFactory(home_store=store_a, name="甲二", joined_on=D("2025-06-01"))
    PurchaseFactory(member=a2, date=D("2025-07-15"), amount=M("700"))
    a3 = MemberFactory(home_store=store_a, name="甲三", joined_on=D("2026-02-05"))
    PurchaseFactory(member=a3, date=D("2026-02-05"), amount=M("500"))
    PurchaseFactory(member=a3, date=D("2026-03-10"), amount=M("300"))
    a4 = MemberFactory(home_store=store_a, name="甲四", joined_on=D("2024-01-01"))
    PurchaseFactory(member=a4, date=D("2024-03-01"), amount=M("600"))
    PurchaseFactory(member=a4, store=store_b, date=D("2026-03-20"), amount=M("2000"))
    b1 = MemberFactory(home_store=store_b, name="乙一", joined_on=D("2025-01-01"))
    PurchaseFactory(member=b1, date=D("2025-11-11"), amount=M("900"))
    c1 = MemberFactory(home_store=store_c, name="丙一", joined_on=D("2025-01-01"))
    PurchaseFactory(member=c1, date=D("2025-10-01"), amount=M("400"))
    PurchaseFactory(member=c1, date=D("2026-01-15"), amount=M("100"))
    return {m.name: m for m in (a1, a2, a3, a4, b1, c1)}


def chain_page(client, user, **query):
    client.force_login(user)
    with at():
        return client.get(reverse("reports:chain"), query)


def by_code(lines):
    return {line.store.code: line for line in lines}


# --- The figures -----------------------------------------------------------------------------------


def test_it_gives_each_store_its_figures_worked_out_by_hand(store_a, store_b, ledger):
    with at():
        chain = chain_figures(period=Q1, today=D("2026-04-15"))

    a, b = by_code(chain.stores)["SHA"], by_code(chain.stores)["BJB"]
    assert (a.base, a.churned, a.repurchased, a.upgraded, a.upgrade_base) == (2, 1, 1, 1, 3)
    assert (a.win_backs, a.new_members, a.downgraded) == (1, 1, 0)
    assert a.tiers == {"A": 0, "B": 1, "C": 3}
    assert (a.old_vip_sales, a.new_vip_sales) == (M("1300.00"), M("500.00"))
    assert (b.base, b.churned, b.repurchased, b.win_backs) == (1, 0, 0, 0)
    assert (b.old_vip_sales, b.new_vip_sales) == (M("2000.00"), M("0.00"))
    assert a.churn.percent == 50.0 and a.upgrade.rate.numerator == 1 and a.upgrade.rate.denominator == 3
    assert not chain.live


def test_it_equals_each_stores_own_recomputation_and_the_sum_of_its_months(store_a, store_b, store_c, ledger):
    """Member figures: the quarter's compute_kpis for the store alone; sales: the three months'
    compute_kpis added up (DOMAIN §6)."""
    with at():
        chain = chain_figures(period=Q1, today=D("2026-04-15"))
        for store in (store_a, store_b, store_c):
            line = by_code(chain.stores)[store.code]
            own = compute_kpis(start=Q1.start, end=Q1.end, store_ids=[store.pk])
            for attr in ("base", "churned", "repurchased", "win_backs", "upgrade_base", "upgraded", "new_members"):
                assert getattr(line, attr) == len(getattr(own, attr)), (store.code, attr)
            assert line.tiers == {t: len(ids) for t, ids in own.tier_mix.items()}
            months = [compute_kpis(start=m.start, end=m.end, store_ids=[store.pk]) for m in Q1.months()]
            assert line.old_vip_sales == sum((k.old_vip_sales for k in months), M("0"))
            assert line.new_vip_sales == sum((k.new_vip_sales for k in months), M("0"))


def test_it_totals_the_regions_and_the_chain_by_adding_numerators_and_denominators(store_a, store_b, store_c, ledger):
    with at():
        chain = chain_figures(period=Q1, today=D("2026-04-15"))

    regions = {line.label: line for line in chain.regions}
    assert list(regions) == ["华东", "华北"]
    east = regions["华东"]
    assert (east.base, east.churned, east.repurchased) == (3, 1, 2)
    assert east.repurchase.percent == 66.7
    assert sorted(east.store_ids) == sorted([store_a.pk, store_c.pk])
    assert regions["华北"].base == 1
    total = chain.total
    assert (total.base, total.churned, total.repurchased) == (4, 1, 2)
    assert total.old_vip_sales == M("3400.00") and total.new_vip_sales == M("500.00")
    assert total.old_vip_sales == sum((line.old_vip_sales for line in chain.regions), M("0"))


def test_it_measures_achievement_against_the_quarters_targets_and_weights_rate_targets(
    store_a, store_b, store_c, ledger, hq
):
    """A's old-VIP target 12,000 a year is 1,000 a month: Q1 3,000, achieved 1,300 = 43.3%.
    Completion targets A 0.8 (1 task due), B 0.6 (3 tasks due): the chain's target is weighted by
    the tasks, (0.8 × 1 + 0.6 × 3) / 4 = 0.65, not 1.4 nor 0.7."""
    with at():
        annual_target_set(store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="12000", by=hq)
        annual_target_set(store=store_a, year=2026, metric=TargetMetric.FOLLOW_UP_COMPLETION, amount="0.8", by=hq)
        annual_target_set(store=store_b, year=2026, metric=TargetMetric.FOLLOW_UP_COMPLETION, amount="0.6", by=hq)
    FollowUpTask.objects.create(
        store=store_a,
        member=ledger["甲一"],
        kind="care",
        origin="t",
        due_date=D("2026-02-01"),
        scheduled_for=D("2026-02-01"),
    )
    for n in range(3):
        FollowUpTask.objects.create(
            store=store_b,
            member=ledger["乙一"],
            kind="care",
            origin=f"t{n}",
            due_date=D("2026-03-01"),
            scheduled_for=D("2026-03-01"),
            status="done",
            done_on=D("2026-03-01"),
        )
    with at():
        chain = chain_figures(period=Q1, today=D("2026-04-15"))

    a = by_code(chain.stores)["SHA"]
    old = a.achievement(TargetMetric.OLD_VIP_SALES)
    assert (old.target, old.percent) == (M("3000"), 43.3)
    completion = chain.total.achievement(TargetMetric.FOLLOW_UP_COMPLETION)
    assert completion.target == M("0.6500")
    assert (completion.actual.numerator, completion.actual.denominator) == (3, 4)


def test_it_reads_a_running_period_up_to_today(store_a, ledger):
    with at("2026-03-15 10:00 +0800"):
        chain = chain_figures(period=Q1, today=D("2026-03-15"))

    assert chain.live and chain.until == D("2026-03-15")
    a = by_code(chain.stores)["SHA"]
    assert (a.old_vip_sales, a.new_vip_sales) == (M("1300.00"), M("500.00"))


# --- The page --------------------------------------------------------------------------------------


def test_it_shows_hq_the_quarter_with_every_rate_and_its_parts(client, hq, store_a, store_b, ledger):
    response = chain_page(client, hq, period="quarter", quarter="2026-Q1")

    assert response.status_code == 200
    page = response.content.decode()
    assert "2026年第1季度" in page
    drill = reverse("reports:chain_members") + "?period=quarter&amp;quarter=2026-Q1&amp;store=%d&amp;figure=churned"
    assert drill % store_a.pk in page
    assert "¥1,300" in page or "1,300" in page


def test_it_sorts_by_any_column_and_ranks_the_lines(client, hq, store_a, store_b, store_c, ledger):
    # Churn: A 50%, B 0%, C 0%; descending puts A first, ranked 1, and B and C share rank 2.
    lines = chain_page(client, hq, quarter="2026-Q1", sort="-churn").context["lines"]
    assert [line.store.code for line in lines] == ["SHA", "BJB", "SHC"]
    assert [line.rank for line in lines] == [1, 2, 2]

    lines = chain_page(client, hq, quarter="2026-Q1", sort="old_vip_sales").context["lines"]
    assert [line.store.code for line in lines] == ["SHC", "SHA", "BJB"]  # 100, 1,300, 2,000

    # A column without a value anywhere (no targets): every line, none ranked, in name order.
    lines = chain_page(client, hq, quarter="2026-Q1", sort="-old_vip_sales_pct").context["lines"]
    assert [line.rank for line in lines] == [0, 0, 0]

    # An unknown column is the default order, not an error.
    response = chain_page(client, hq, quarter="2026-Q1", sort="-nonsense")
    assert response.status_code == 200
    assert [line.store.code for line in response.context["lines"]] == ["BJB", "SHA", "SHC"]


def test_it_groups_by_region_with_the_same_chain_total(client, hq, store_a, store_b, store_c, ledger):
    by_store = chain_page(client, hq, quarter="2026-Q1").context["figures"].total
    response = chain_page(client, hq, quarter="2026-Q1", by="region", sort="-base")

    lines = response.context["lines"]
    assert [(line.label, line.base) for line in lines] == [("华东", 3), ("华北", 1)]
    assert response.context["figures"].total.base == by_store.base == 4
    assert "region=%E5%8D%8E%E4%B8%9C" in response.content.decode()  # 华东's drill-downs


def test_it_drills_down_to_the_members_behind_a_figure(client, hq, store_a, store_b, store_c, ledger):
    client.force_login(hq)
    url = reverse("reports:chain_members")

    def names(**query) -> list[str]:
        with at():
            response = client.get(url, {"period": "quarter", "quarter": "2026-Q1", **query})
        assert response.status_code == 200
        return sorted(m.name for m in response.context["page"])

    assert names(store=store_a.pk, figure="churned") == ["甲二"]
    assert names(store=store_a.pk, figure="base") == ["甲一", "甲二"]
    assert names(store=store_a.pk, figure="win_backs") == ["甲四"]
    assert names(store=store_b.pk, figure="win_backs") == []
    assert names(region="华东", figure="repurchased") == ["丙一", "甲一"]
    assert names(figure="base") == ["丙一", "乙一", "甲一", "甲二"]
    assert names(store=store_a.pk, figure="tier_B") == ["甲一"]
    with at():
        assert client.get(url, {"quarter": "2026-Q1", "figure": "nonsense"}).status_code == 404
        assert client.get(url, {"quarter": "2026-Q1", "figure": "base", "store": 999999}).status_code == 404
        assert client.get(url, {"quarter": "2026-Q9", "figure": "base"}).status_code == 400


def test_it_answers_a_bad_period_with_a_400_and_a_message(client, hq, store_a):
    for query, message in (
        ({"quarter": "2026-Q7"}, "季度格式应为 YYYY-Qn"),
        ({"period": "range", "start": "2026-03-01", "end": "2026-01-01"}, "早于开始日期"),
        ({"period": "weekly"}, "期间应为"),
        ({"month": "2099-01"}, "还没开始"),
    ):
        response = chain_page(client, hq, **query)
        assert response.status_code == 400, query
        assert message in response.content.decode(), query


def test_it_is_for_hq_only(client, hq, staff_a, store_a):
    for user in (staff_a.consultant, staff_a.specialist, staff_a.manager):
        client.force_login(user)
        assert client.get(reverse("reports:chain")).status_code == 403
        assert client.get(reverse("reports:chain_members"), {"figure": "base"}).status_code == 403


def test_it_lands_hq_on_the_chain_view_and_keeps_the_old_address(client, hq, staff_a, store_a):
    client.force_login(hq)
    assert client.get("/")["Location"] == reverse("reports:chain")
    assert (
        client.get(reverse("reports:hq"), {"month": "2026-03"})["Location"]
        == reverse("reports:chain") + "?month=2026-03"
    )
    client.force_login(staff_a.consultant)
    assert client.get("/")["Location"] == reverse("visits:today")


def test_it_downloads_the_table_as_csv(client, hq, store_a, store_b, ledger):
    response = chain_page(client, hq, quarter="2026-Q1", sort="-churn", format="csv")

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode().lstrip("\ufeff"))))
    assert rows[0][:5] == ["排名", "门店", "期初活跃会员", "流失", "流失率"]
    assert rows[1][:5] == ["1", "SHA 上海店", "2", "1", "50.0%"]
    assert rows[-1][1] == "全部门店"


def test_it_keeps_its_queries_independent_of_the_number_of_members(
    client, hq, store_a, store_b, store_c, ledger, django_assert_max_num_queries
):
    """A quarter for five stores, the figures worked out (none kept: the figures cache is
    emptied first, tests/reports/test_chain_cache.py): 25 queries at most. A fixed 19 (session
    and user, the stores, one compute_kpis over all stores, the home stores, entered totals,
    follow-ups by store, satisfaction by store, complaints by store and the program rules they
    load, targets) and 2 per month (old / new VIP sales: compute_kpis's total and ours per
    store); none per store (tests/reports/test_rooms.py: six stores as many as two).
    Sixty more members with purchases, tasks and tier changes change nothing."""
    stores = [store_a, store_b, store_c, StoreFactory(code="GZD"), StoreFactory(code="SZE")]
    client.force_login(hq)

    def count() -> int:
        cache.clear()
        with at(), CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("reports:chain"), {"quarter": "2026-Q1"}).status_code == 200
        return len(queries)

    count()  # the first request creates the session and the program rules' row
    before = count()
    for n in range(60):
        m = MemberFactory(home_store=stores[n % 5], joined_on=D("2025-03-01"))
        PurchaseFactory(member=m, date=D("2026-02-01"), amount=M("100"))
        TierChange.objects.create(member=m, date=D("2026-02-01"), from_tier="C", to_tier="B", reason="purchase")
        FollowUpTask.objects.create(
            store=m.home_store,
            member=m,
            kind="care",
            origin="q",
            due_date=D("2026-02-03"),
            scheduled_for=D("2026-02-03"),
        )
    assert count() == before
    cache.clear()
    with at(), django_assert_max_num_queries(25):
        client.get(reverse("reports:chain"), {"quarter": "2026-Q1"})


def test_it_lists_a_figures_members_in_constant_queries(client, hq, store_a, ledger, django_assert_max_num_queries):
    """The drill-down: the store, one compute_kpis for it (with its three months of sales), the
    page's count and rows with their consultants; 100 more members in the base change nothing."""
    client.force_login(hq)
    query = {"quarter": "2026-Q1", "figure": "base", "store": store_a.pk}

    def count() -> int:
        with at(), CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("reports:chain_members"), query)
        assert response.status_code == 200
        return len(queries)

    count()
    before = count()
    for _n in range(100):
        m = MemberFactory(home_store=store_a, joined_on=D("2025-03-01"))
        PurchaseFactory(member=m, date=D("2025-12-01"), amount=M("100"))
    assert count() == before
    with at(), django_assert_max_num_queries(20):
        response = client.get(reverse("reports:chain_members"), query)
    assert response.context["page"].paginator.count == 102
    assert "****" in response.content.decode()  # phones masked
