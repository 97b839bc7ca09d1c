"""Dashboards: the store's (month against target, tier mix, a 12-month trend read from the monthly
snapshots, a staff table), the consultant's own, and HQ's stores side by side.

The trend must come from the snapshots, not the ledger: its query count does not grow with the
purchases, a later change to the ledger leaves it as it was, and a month without a snapshot is a
gap rather than a recomputation.
"""

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from complaints.services import complaint_register
from reports.kpis import compute_kpis
from reports.models import ReportSnapshot, TargetMetric
from reports.services import annual_target_set, daily_sales_record, snapshot_take, staff_allocation_set
from tests.factories import MemberFactory, PurchaseFactory, StaffFactory
from visits.models import FollowUpTask, Visit

D = date.fromisoformat
M = Decimal
NOW = "2026-03-31 23:30 +0800"
MONTH_ENDS = [
    D(day)
    for day in (
        "2025-04-30",
        "2025-05-31",
        "2025-06-30",
        "2025-07-31",
        "2025-08-31",
        "2025-09-30",
        "2025-10-31",
        "2025-11-30",
        "2025-12-31",
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
    )
]


def at(moment: str = NOW):
    return time_machine.travel(moment, tick=False)


def month_snapshots(store):
    """The monthly snapshots the month-end duty would have taken over the last twelve months."""
    with at():
        for end in MONTH_ENDS:
            snapshot_take(store=store, kind="monthly", start=end.replace(day=1), end=end)


@pytest.fixture
def other_consultant(store_a):
    return StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a, display_name="李顾问")


@pytest.fixture
def ledger(store_a, staff_a, other_consultant):
    """Twelve members who bought at different times: each month some are active, some lapse, some
    come back, so every month's rates differ."""
    c = staff_a.consultant
    members = []
    for n in range(12):
        consultant = c if n % 2 else other_consultant
        m = MemberFactory(home_store=store_a, name=f"会员{n:02d}", joined_on=D("2024-06-01"), consultant=consultant)
        for k in range(n % 4 + 1):
            day = D("2024-07-01") + timedelta(days=47 * (n + 3 * k))
            PurchaseFactory(member=m, date=day, amount=M("1500"), consultant=consultant)
        members.append(m)
    return members


def rates_of(trend) -> list[tuple]:
    return [
        (
            p.month,
            p.snapshot_id,
            *(None if r is None else (r.numerator, r.denominator) for r in (p.churn, p.repurchase, p.upgrade)),
        )
        for p in trend
    ]


def dashboard(client, user, **params):
    client.force_login(user)
    with at():
        return client.get(reverse("reports:dashboard"), params)


# --- The trend reads snapshots ---------------------------------------------------------------------


def test_it_draws_the_12_month_trend_from_the_monthly_snapshots(client, staff_a, store_a, ledger):
    month_snapshots(store_a)

    board = dashboard(client, staff_a.manager).context["board"]

    assert [p.month for p in board.trend] == [d.strftime("%Y-%m") for d in MONTH_ENDS]
    march = ReportSnapshot.objects.get(store=store_a, period_start=D("2026-03-01"))
    assert board.trend[-1].snapshot_id == march.pk
    assert (board.trend[-1].churn.numerator, board.trend[-1].churn.denominator) == (
        march.figures["churn_rate"]["numerator"],
        march.figures["churn_rate"]["denominator"],
    )
    chart = board.trend_chart
    assert [d["label"] for d in chart["datasets"]] == ["升级率", "流失率", "返单率"]
    assert chart["datasets"][1]["titles"][-1].startswith(
        "流失率 = 期初活跃会员中期末不再活跃的人数 / 期初活跃会员数 = "
    )


def test_it_keeps_the_trend_when_the_ledger_changes_after_the_snapshots(client, staff_a, store_a, ledger):
    month_snapshots(store_a)
    before = rates_of(dashboard(client, staff_a.manager).context["board"].trend)
    january = {"start": D("2026-01-01"), "end": D("2026-01-31"), "store_ids": [store_a.pk]}
    live_before = compute_kpis(**january).as_json()["repurchase_rate"]

    # Back-dated purchases by everyone in January: live, January's repurchase rate changes.
    for m in ledger:
        PurchaseFactory(member=m, date=D("2026-01-15"), amount=M("800"))
    assert compute_kpis(**january).as_json()["repurchase_rate"] != live_before

    after = rates_of(dashboard(client, staff_a.manager).context["board"].trend)
    assert after == before


def test_it_leaves_a_month_without_a_snapshot_as_a_gap(client, staff_a, store_a, ledger):
    month_snapshots(store_a)
    ReportSnapshot.objects.filter(store=store_a, period_start=D("2025-10-01")).delete()

    board = dashboard(client, staff_a.manager).context["board"]

    gap = next(p for p in board.trend if p.month == "2025-10")
    assert gap.snapshot_id is None and gap.churn is None
    assert board.trend_chart["datasets"][1]["data"][6] is None


def test_it_keeps_the_dashboards_queries_independent_of_the_ledger_size(
    client, staff_a, store_a, ledger, django_assert_max_num_queries
):
    month_snapshots(store_a)
    client.force_login(staff_a.manager)

    def count() -> int:
        with at(), CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("reports:dashboard")).status_code == 200
        return len(queries)

    few = count()
    for n in range(60):
        m = MemberFactory(home_store=store_a, joined_on=D("2025-01-01"), consultant=staff_a.consultant)
        for k in range(5):
            PurchaseFactory(member=m, date=D("2025-04-01") + timedelta(days=70 * k + n), amount=M("300"))
    many = count()

    assert few == many
    with at(), django_assert_max_num_queries(32):
        client.get(reverse("reports:dashboard"))


# --- The store dashboard -------------------------------------------------------------------------


@pytest.fixture
def march_targets(store_a, staff_a):
    """March targets: old-VIP sales 12,000 / 12 = 1,000; new members 24 / 12 = 2; follow-up
    completion 0.8; 600 of the old-VIP target to the consultant."""
    m = staff_a.manager
    with at():
        annual_target_set(store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="12000", by=m)
        annual_target_set(store=store_a, year=2026, metric=TargetMetric.NEW_MEMBERS, amount="24", by=m)
        annual_target_set(store=store_a, year=2026, metric=TargetMetric.FOLLOW_UP_COMPLETION, amount="0.8", by=m)
        old = store_a.targets.get(metric=TargetMetric.OLD_VIP_SALES).months.get(month=3)
        staff_allocation_set(monthly=old, allocations={staff_a.consultant.pk: "600"}, by=m)


@pytest.fixture
def march_work(store_a, staff_a, other_consultant):
    """March so far: the consultant sold 450 to an old member (and served her task, done on time,
    scored 5); the other consultant sold 900 and has a complaint to answer. Store totals entered for
    those two days only: 1,000 on 03-10 and 2,000 on 03-12."""
    c = staff_a.consultant
    mine = MemberFactory(home_store=store_a, name="王女士", joined_on=D("2025-05-01"), consultant=c)
    theirs = MemberFactory(home_store=store_a, name="赵女士", joined_on=D("2025-05-01"), consultant=other_consultant)
    PurchaseFactory(member=mine, date=D("2026-03-10"), amount=M("450"), consultant=c)
    PurchaseFactory(member=theirs, date=D("2026-03-12"), amount=M("900"), consultant=other_consultant)
    FollowUpTask.objects.create(
        store=store_a,
        member=mine,
        kind="care",
        origin="m1",
        due_date=D("2026-03-12"),
        status="done",
        done_on=D("2026-03-11"),
        assignee=c,
    )
    Visit.objects.create(
        member=mine, store=store_a, staff=c, channel="wechat", outcome="ok", satisfaction=5, at="2026-03-11T10:00+08:00"
    )
    with at("2026-03-20 10:00 +0800"):
        complaint = complaint_register(
            store=store_a, by=c, channel="in_store", category="service_attitude", description="等待太久", member=theirs
        )
    complaint.responsible_staff = other_consultant
    complaint.save(update_fields=["responsible_staff"])
    with at():
        daily_sales_record(store=store_a, day=D("2026-03-10"), total_sales="1000", by=staff_a.manager)
        daily_sales_record(store=store_a, day=D("2026-03-12"), total_sales="2000", by=staff_a.manager)
    return {"mine": mine, "theirs": theirs}


def test_it_shows_the_month_against_target(client, staff_a, store_a, march_targets, march_work):
    response = dashboard(client, staff_a.manager)
    board = response.context["board"]
    a = {row.metric: row for row in board.achievement}

    # Old-VIP sales 450 + 900 = 1,350 against 1,000: 135%. VIP share on the two entered days:
    # 1,350 / 3,000 = 45%, no target.
    assert (a["old_vip_sales"].actual.value, a["old_vip_sales"].target, a["old_vip_sales"].percent) == (
        M("1350.00"),
        M("1000.00"),
        135.0,
    )
    assert a["vip_sales_share"].actual.value == M("0.45") and a["vip_sales_share"].target is None
    assert (a["follow_up_completion"].actual.numerator, a["follow_up_completion"].actual.denominator) == (1, 1)
    page = response.content.decode()
    assert 'class="progress-bar bg-success" style="width: 100.0%"' in page
    assert "老VIP销售额达成率 = 实际 / 目标 = ¥1,350.00 / ¥1,000.00" in page


def test_it_shows_the_tier_mix_and_the_charts_data(client, staff_a, store_a, ledger):
    month_snapshots(store_a)
    page = dashboard(client, staff_a.manager).content.decode()

    assert 'id="tier-chart"' in page and 'id="trend-chart"' in page
    assert 'data-chart="trend-chart"' in page
    assert "/static/vendor/chart/chart.umd.js" in page and "/static/js/charts.js" in page


def test_it_shows_each_rates_formula_and_denominator_on_hover(client, staff_a, store_a, ledger):
    response = dashboard(client, staff_a.manager)
    f = response.context["board"].figures

    churn = f["churn_rate"]
    assert (
        f"流失率 = 期初活跃会员中期末不再活跃的人数 / 期初活跃会员数 = {churn['numerator']} / {churn['denominator']}"
        in response.content.decode()
    )


def test_it_shows_a_row_per_person(client, staff_a, store_a, other_consultant, march_targets, march_work):
    board = dashboard(client, staff_a.manager).context["board"]
    rows = {row.staff.pk: row for row in board.staff}

    mine = rows[staff_a.consultant.pk]
    assert (mine.members, mine.due, mine.done, mine.on_time) == (1, 1, 1, 1)
    assert (mine.satisfaction_mean, mine.scored) == (5.0, 1)
    assert (mine.sales, mine.sales_target, mine.sales_percent) == (M("450.00"), M("600"), 75.0)
    theirs = rows[other_consultant.pk]
    assert (theirs.sales, theirs.sales_target, theirs.complaints) == (M("900.00"), None, 1)
    assert {staff_a.specialist.pk, staff_a.manager.pk} <= set(rows)


# --- The consultant's own dashboard --------------------------------------------------------------


def test_it_shows_a_consultant_only_their_own_figures(
    client, staff_a, store_a, other_consultant, march_targets, march_work
):
    month_snapshots(store_a)
    response = dashboard(client, staff_a.consultant)
    board = response.context["board"]
    page = response.content.decode()

    assert response.templates[0].name == "reports/dashboard_mine.html"
    assert (board.row.sales, board.row.sales_target, board.row.done, board.members) == (M("450.00"), M("600"), 1, 1)
    assert "¥450.00" in page and "¥900.00" not in page and "李顾问" not in page
    assert "¥1,350.00" not in page  # the store's total is not a consultant's figure
    old = next(a for a in board.achievement if a.metric == "old_vip_sales")
    assert old.percent == 75.0  # 450 / 600


def test_it_counts_a_consultants_members_in_the_latest_monthly_report(client, staff_a, store_a, ledger):
    month_snapshots(store_a)
    march = ReportSnapshot.objects.get(store=store_a, period_start=D("2026-03-01"))
    mine = {m.pk for m in ledger if m.consultant_id == staff_a.consultant.pk}

    board = dashboard(client, staff_a.consultant).context["board"]

    counts = {item.figure: item.count for item in board.mine_in_report}
    assert board.snapshot == march
    assert counts["churned"] == len(mine & set(march.figures["members"]["churned"]))
    assert counts["repurchased"] == len(mine & set(march.figures["members"]["repurchased"]))


def test_it_hides_another_stores_dashboard(client, staff_a, staff_b, store_a, hq):
    assert dashboard(client, staff_b.manager, store=store_a.pk).status_code == 404
    assert dashboard(client, staff_a.consultant, store=staff_b.manager.store_id).status_code == 404
    assert dashboard(client, hq, store=store_a.pk).context["board"].store == store_a
    assert dashboard(client, hq)["Location"] == reverse("reports:chain")


def test_it_vendors_the_chart_library():
    vendor = Path(settings.BASE_DIR) / "static" / "vendor" / "chart"
    script = (vendor / "chart.umd.js").read_text()

    assert script.startswith("/*!\n * Chart.js v4.") and "sourceMappingURL" not in script
    assert (vendor / "LICENSE").exists()
