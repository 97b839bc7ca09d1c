"""Report pages: monthly and weekly reports from their snapshot (frozen) or live, the drill-down to
the members behind each figure (scoped to the viewer), the targets page and the daily sales page.

The hand-made month is March 2026 in store A (churn window 180 days: active at S⁻ = 02-28 needs
activity on or after 2025-09-02, active at E = 03-31 on or after 2025-10-03):

member      consultant        joined      purchases                      in March
stays       consultant        2025-01-01  2025-12-01 1,000; 03-05 500    base, repurchased
lapses      consultant        2025-01-01  2025-09-10 800                 base, churned
drifts      other consultant  2025-01-01  2025-09-15 600                 base, churned
newcomer    consultant        2026-03-10  —                              new member
store B: one member who lapses too, never listed for store A.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from accounts.models import Role
from reports.models import AnnualTarget, StaffTarget, StoreDailySales, TargetMetric
from reports.services import annual_target_set, snapshot_take, weekly_work
from tests.factories import MemberFactory, PurchaseFactory, StaffFactory

D = date.fromisoformat
M = Decimal
EARLY_APRIL = "2026-04-02 10:00 +0800"
END_OF_MARCH = "2026-03-31 23:30 +0800"


def at(moment: str):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def other_consultant(store_a):
    return StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a, display_name="李顾问")


@pytest.fixture
def march(store_a, store_b, staff_a, staff_b, other_consultant):
    c = staff_a.consultant

    def member(name, joined, consultant, purchases=(), store=store_a, phone=None):
        m = MemberFactory(
            home_store=store,
            name=name,
            joined_on=D(joined),
            consultant=consultant,
            **({"phone": phone} if phone else {}),
        )
        for day, amount in purchases:
            PurchaseFactory(member=m, date=D(day), amount=M(amount), consultant=consultant)
        return m

    return {
        "stays": member("留存", "2025-01-01", c, [("2025-12-01", "1000"), ("2026-03-05", "500")]),
        "lapses": member("流失甲", "2025-01-01", c, [("2025-09-10", "800")], phone="13800001111"),
        "drifts": member("流失乙", "2025-01-01", other_consultant, [("2025-09-15", "600")]),
        "newcomer": member("新人", "2026-03-10", c),
        "elsewhere": member("外店", "2025-01-01", staff_b.consultant, [("2025-09-10", "800")], store=store_b),
    }


def march_snapshot(store):
    with at(END_OF_MARCH):
        return snapshot_take(store=store, kind="monthly", start=D("2026-03-01"), end=D("2026-03-31"))


def names(response) -> set[str]:
    return {m.name for m in response.context["page"]}


# --- Monthly report: frozen or live ----------------------------------------------------------------


def test_it_renders_the_monthly_report_from_its_snapshot(client, staff_a, store_a, march):
    snapshot = march_snapshot(store_a)
    # A back-dated purchase after the snapshot: live, "lapses" would no longer have churned.
    PurchaseFactory(member=march["lapses"], date=D("2026-03-20"), amount=M("300"))
    client.force_login(staff_a.manager)

    with at(EARLY_APRIL):
        response = client.get(reverse("reports:monthly"), {"month": "2026-03"})

    page = response.content.decode()
    report = response.context["report"]
    assert response.status_code == 200
    assert report.frozen and "已存档" in page and "实时" not in page
    assert report.rate("churn_rate").numerator == 2 and report.rate("churn_rate").denominator == 3
    assert f"snapshot={snapshot.pk}&amp;figure=churned" in page
    # The formula and its numbers on hover.
    assert "流失率 = 期初活跃会员中期末不再活跃的人数 / 期初活跃会员数 = 2 / 3" in page


def test_it_renders_a_month_without_a_snapshot_live(client, staff_a, store_a, march):
    PurchaseFactory(member=march["lapses"], date=D("2026-03-20"), amount=M("300"))
    client.force_login(staff_a.manager)

    with at(EARLY_APRIL):
        response = client.get(reverse("reports:monthly"), {"month": "2026-03"})

    page = response.content.decode()
    report = response.context["report"]
    assert not report.frozen and "实时" in page and "已存档" not in page
    assert report.rate("churn_rate").numerator == 1  # only "drifts" now
    assert "month=2026-03&amp;figure=churned" in page


def test_it_labels_the_current_month_as_live_to_date(client, staff_a, store_a, march):
    client.force_login(staff_a.manager)

    with at("2026-03-20 12:00 +0800"):
        response = client.get(reverse("reports:monthly"))

    assert response.context["report"].live_until == D("2026-03-20")
    assert "截至 2026-03-20" in response.content.decode()


def test_it_explains_a_bad_or_future_month(client, staff_a, march):
    client.force_login(staff_a.manager)

    with at(EARLY_APRIL):
        bad = client.get(reverse("reports:monthly"), {"month": "2026-13"})
        future = client.get(reverse("reports:monthly"), {"month": "2026-05"})

    assert bad.status_code == 400 and "YYYY-MM" in bad.content.decode()
    assert future.status_code == 400 and "还没开始" in future.content.decode()


def test_it_keeps_the_monthly_reports_queries_bounded(client, staff_a, store_a, march, django_assert_max_num_queries):
    for n in range(40):
        m = MemberFactory(home_store=store_a, joined_on=D("2025-01-01"), consultant=staff_a.consultant)
        PurchaseFactory(member=m, date=D("2026-03-01") if n % 2 else D("2025-08-01"), amount=M("100"))
    client.force_login(staff_a.manager)

    with at(EARLY_APRIL):
        with django_assert_max_num_queries(22):  # live: compute_kpis, store totals, session, user
            live = client.get(reverse("reports:monthly"), {"month": "2026-03"})
        march_snapshot(store_a)
        with django_assert_max_num_queries(10):  # frozen: the snapshot, store totals, session, user
            frozen = client.get(reverse("reports:monthly"), {"month": "2026-03"})

    assert live.status_code == frozen.status_code == 200


def test_it_shows_hq_any_stores_report_and_hides_it_from_another_store(client, staff_b, hq, store_a, march):
    march_snapshot(store_a)

    with at(EARLY_APRIL):
        client.force_login(hq)
        seen = client.get(reverse("reports:monthly"), {"month": "2026-03", "store": store_a.pk})
        client.force_login(staff_b.manager)
        hidden = client.get(reverse("reports:monthly"), {"month": "2026-03", "store": store_a.pk})

    assert seen.status_code == 200 and seen.context["report"].store == store_a
    assert hidden.status_code == 404


# --- Weekly report ---------------------------------------------------------------------------------


def test_it_renders_the_weekly_report_from_its_snapshot_or_live(client, staff_a, store_a, march):
    # Week Mon 03-02 – Sun 03-08: "stays" bought 500 on 03-05.
    client.force_login(staff_a.manager)
    with at("2026-03-09 07:00 +0800"):
        live = client.get(reverse("reports:weekly"))
        weekly_work(store_a, D("2026-03-09"))
        PurchaseFactory(member=march["stays"], date=D("2026-03-06"), amount=M("700"))
        frozen = client.get(reverse("reports:weekly"), {"week": "2026-03-04"})  # any day of the week

    assert live.context["report"].start == D("2026-03-02") and not live.context["report"].frozen
    assert live.context["report"].old_vip_sales == M("500.00")
    assert frozen.context["report"].frozen and frozen.context["report"].old_vip_sales == M("500.00")
    assert "¥500.00" in frozen.content.decode() and "已存档" in frozen.content.decode()


# --- Drill-down ------------------------------------------------------------------------------------


def test_it_lists_exactly_the_members_behind_a_figure(client, staff_a, store_a, march):
    snapshot = march_snapshot(store_a)
    client.force_login(staff_a.manager)

    churned = client.get(reverse("reports:members"), {"snapshot": snapshot.pk, "figure": "churned"})
    base = client.get(reverse("reports:members"), {"snapshot": snapshot.pk, "figure": "base"})
    new = client.get(reverse("reports:members"), {"snapshot": snapshot.pk, "figure": "new_members"})

    assert names(churned) == {"流失甲", "流失乙"}
    assert names(base) == {"留存", "流失甲", "流失乙"}
    assert names(new) == {"新人"}
    page = churned.content.decode()
    assert "138****1111" in page and "13800001111" not in page  # phones masked
    assert reverse("members:detail", args=[march["lapses"].pk]) in page


def test_it_lists_the_members_of_a_live_figure(client, staff_a, store_a, march):
    PurchaseFactory(member=march["lapses"], date=D("2026-03-20"), amount=M("300"))
    client.force_login(staff_a.manager)

    with at(EARLY_APRIL):
        response = client.get(reverse("reports:members"), {"month": "2026-03", "figure": "churned"})

    assert names(response) == {"流失乙"}


def test_it_shows_a_consultant_only_their_own_members(client, staff_a, other_consultant, store_a, march):
    snapshot = march_snapshot(store_a)

    client.force_login(staff_a.consultant)
    mine = client.get(reverse("reports:members"), {"snapshot": snapshot.pk, "figure": "churned"})
    client.force_login(other_consultant)
    theirs = client.get(reverse("reports:members"), {"snapshot": snapshot.pk, "figure": "churned"})

    assert names(mine) == {"流失甲"} and names(theirs) == {"流失乙"}
    assert "只显示我的会员" in mine.content.decode()


def test_it_hides_another_stores_figures(client, staff_b, hq, store_a, march):
    snapshot = march_snapshot(store_a)

    client.force_login(staff_b.manager)
    by_snapshot = client.get(reverse("reports:members"), {"snapshot": snapshot.pk, "figure": "churned"})
    with at(EARLY_APRIL):
        by_store = client.get(
            reverse("reports:members"), {"month": "2026-03", "store": store_a.pk, "figure": "churned"}
        )
    client.force_login(hq)
    for_hq = client.get(reverse("reports:members"), {"snapshot": snapshot.pk, "figure": "churned"})

    assert by_snapshot.status_code == by_store.status_code == 404
    assert names(for_hq) == {"流失甲", "流失乙"}


def test_it_answers_an_unknown_figure_with_404(client, staff_a, store_a, march):
    snapshot = march_snapshot(store_a)
    client.force_login(staff_a.manager)

    response = client.get(reverse("reports:members"), {"snapshot": snapshot.pk, "figure": "old_vip_sales"})

    assert response.status_code == 404


# --- Targets page ----------------------------------------------------------------------------------


def test_it_sets_an_annual_target_from_the_page(client, staff_a, store_a):
    client.force_login(staff_a.manager)

    with at(END_OF_MARCH):
        response = client.post(
            reverse("reports:target_annual"),
            {"metric": "new_vip_sales", "year": "2026", "month": "3", "amount": "240,000"},
        )
        page = client.get(response["Location"])

    annual = AnnualTarget.objects.get()
    assert response.status_code == 302 and (annual.store, annual.amount) == (store_a, M("240000"))
    assert "¥20,000" in page.content.decode()  # March's share, shown in the month table


def test_it_shows_the_page_again_with_the_reason_when_a_target_is_refused(client, staff_a, store_a):
    client.force_login(staff_a.manager)

    with at(END_OF_MARCH):
        response = client.post(
            reverse("reports:target_annual"), {"metric": "vip_sales_share", "year": "2026", "amount": "35"}
        )

    page = response.content.decode()
    assert response.status_code == 400
    assert "没有保存" in page and "0.35" in page
    assert 'value="35"' in page  # what was typed is still there
    assert not AnnualTarget.objects.exists()


def test_it_refuses_over_allocation_from_the_page_and_keeps_what_was_typed(client, staff_a, store_a):
    with at(END_OF_MARCH):
        annual = annual_target_set(
            store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="120000", by=staff_a.manager
        )
        march_target = annual.months.get(month=3)
        client.force_login(staff_a.manager)
        response = client.post(
            reverse("reports:target_allocation", args=[march_target.pk]),
            {f"staff_{staff_a.consultant.pk}": "8000", f"staff_{staff_a.specialist.pk}": "3000"},
        )

    assert response.status_code == 400
    assert "超过3月目标" in response.content.decode() and 'value="8000"' in response.content.decode()
    assert not StaffTarget.objects.exists()


def test_it_saves_weights_from_the_page(client, staff_a, store_a):
    with at(END_OF_MARCH):
        annual = annual_target_set(
            store=store_a, year=2026, metric=TargetMetric.NEW_MEMBERS, amount="130", by=staff_a.manager
        )
        client.force_login(staff_a.manager)
        response = client.post(reverse("reports:target_weights", args=[annual.pk]), {"w12": "2", "month": "3"})

    assert response.status_code == 302
    assert annual.months.get(month=12).amount == 20 and annual.months.get(month=1).amount == 10


def test_it_shows_the_targets_read_only_to_a_consultant(client, staff_a, store_a):
    with at(END_OF_MARCH):
        annual_target_set(store=store_a, year=2026, metric=TargetMetric.NEW_MEMBERS, amount="12", by=staff_a.manager)
        client.force_login(staff_a.consultant)
        page = client.get(reverse("reports:targets")).content.decode()

    assert "新开卡数" in page and 'name="amount"' not in page and "保存" not in page


# --- Daily sales page ------------------------------------------------------------------------------


def test_it_enters_and_corrects_the_months_daily_sales(client, staff_a, store_a):
    client.force_login(staff_a.manager)

    with at(END_OF_MARCH):
        first = client.post(
            reverse("reports:daily_sales"),
            {"month": "2026-03", "sales_2026-03-01": "8000", "sales_2026-03-02": "9,500.50", "sales_2026-03-03": ""},
        )
        corrected = client.post(reverse("reports:daily_sales"), {"month": "2026-03", "sales_2026-03-01": "8100"})
        page = client.get(reverse("reports:daily_sales"), {"month": "2026-03"}).content.decode()

    assert first.status_code == corrected.status_code == 302
    assert dict(StoreDailySales.objects.values_list("date", "total_sales")) == {
        D("2026-03-01"): M("8100.00"),
        D("2026-03-02"): M("9500.50"),
    }
    assert "¥17,600.50" in page and "已录入 2 天" in page


def test_it_saves_no_days_sales_when_one_is_refused(client, staff_a, store_a):
    client.force_login(staff_a.manager)

    with at("2026-03-20 12:00 +0800"):
        response = client.post(
            reverse("reports:daily_sales"),
            {"month": "2026-03", "sales_2026-03-01": "8000", "sales_2026-03-02": "-5", "sales_2026-03-25": "100"},
        )

    page = response.content.decode()
    assert response.status_code == 400
    assert "销售总额不能为负数" in page and "还没到" in page
    assert not StoreDailySales.objects.exists()
