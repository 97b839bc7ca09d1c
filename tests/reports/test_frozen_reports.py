"""Reports that hold over time (issue 12 items 1 and 5): the weekly table's sales per person are
restated like the month's figures; the monthly report's achievement is frozen with its snapshot;
e-mailed links carry the site's address (VIPCRM_SITE_URL). And the one rate type (item 7)."""

from datetime import date
from decimal import Decimal

import time_machine
from django.test import override_settings
from django.urls import reverse

from duties.models import OutboxEmail
from reports.commentary import achievement_for
from reports.models import TargetMetric
from reports.services import (
    annual_target_set,
    ledger_figures,
    snapshot_figures,
    snapshot_take,
    snapshots_restate,
    weekly_context,
    weekly_work,
)
from tests.factories import MemberFactory, PurchaseFactory

D = date.fromisoformat
M = Decimal


def at(moment: str):
    return time_machine.travel(f"{moment} +0800", tick=False)


# --- The weekly table's sales per person, restated ----------------------------------------------


def test_it_restates_the_weekly_sales_per_person_beside_the_frozen_ones(client, store_a, staff_a):
    """Week of Mon 2 March 2026. Frozen on 9 March: the consultant ¥1,000, nobody ¥0. A receipt
    of ¥300 dated 4 March naming the consultant, imported on 12 March: restated ¥1,300; the
    frozen figure stays ¥1,000 and the page shows both."""
    consultant = staff_a.consultant
    with at("2026-03-03 12:00"):
        member = MemberFactory(home_store=store_a, joined_on=D("2025-06-01"), consultant=consultant)
        PurchaseFactory(member=member, consultant=consultant, date=D("2026-03-03"), amount=M("1000"))
    with at("2026-03-09 08:00"):
        snapshot = snapshot_take(**_week(store_a), kind="weekly", extra=None)
        weekly_extra = weekly_work(store_a, D("2026-03-09"))
    assert weekly_extra["snapshot"] == snapshot.pk  # the duty finds the snapshot already taken
    assert snapshot.figures["sales_by_consultant"] == {str(consultant.pk): "1000.00"}
    with at("2026-03-12 12:00"):
        PurchaseFactory(member=member, consultant=consultant, date=D("2026-03-04"), amount=M("300"))
        assert snapshots_restate()["restated"] == 1
    snapshot.refresh_from_db()
    assert snapshot.figures["sales_by_consultant"] == {str(consultant.pk): "1000.00"}
    assert snapshot.restated_figures["sales_by_consultant"] == {str(consultant.pk): "1300.00"}
    assert snapshot.restated_figures == ledger_figures(snapshot_figures(**_week(store_a)))
    [row] = weekly_context(snapshot)["people"]
    assert (row["sales"], row["sales_restated"]) == ("1000.00", "1300.00")
    client.force_login(staff_a.manager)
    with at("2026-03-12 12:00"):
        page = client.get(reverse("reports:weekly"), {"week": "2026-03-02"})
    assert page.status_code == 200
    assert "重述数 ¥1,300.00" in page.content.decode()


def _week(store):
    return {"store": store, "start": D("2026-03-02"), "end": D("2026-03-08")}


def test_a_snapshot_frozen_before_per_person_sales_were_kept_is_not_restated_for_them(store_a, staff_a):
    """An older snapshot without `sales_by_consultant`: the ledger unchanged, nothing restated."""
    with at("2026-03-03 12:00"):
        member = MemberFactory(home_store=store_a, joined_on=D("2025-06-01"))
        PurchaseFactory(member=member, consultant=staff_a.consultant, date=D("2026-03-03"), amount=M("1000"))
    with at("2026-03-09 08:00"):
        snapshot = snapshot_take(**_week(store_a), kind="weekly")
    del snapshot.figures["sales_by_consultant"]
    snapshot.save(update_fields=["figures"])
    with at("2026-03-12 12:00"):
        # A sale and its return dated in the week touch it, and change none of its figures.
        sale = PurchaseFactory(member=member, consultant=staff_a.consultant, date=D("2026-03-05"), amount=M("500"))
        PurchaseFactory(
            member=member, consultant=staff_a.consultant, date=D("2026-03-05"), amount=M("-500"), original=sale
        )
        assert snapshots_restate() == {"checked": 1, "restated": 0}


# --- The monthly report's achievement, frozen ---------------------------------------------------


def test_it_freezes_the_months_achievement_with_the_snapshot(store_a, staff_a):
    """March 2026: old VIP sales target ¥10,000; ¥4,000 sold by 31 March, so 40%. After the
    snapshot the target is raised to ¥20,000 and a ¥1,000 receipt dated 20 March arrives: the
    report still says ¥4,000 of ¥10,000, 40% (a snapshot taken before freezing would say 25%)."""
    manager, consultant = staff_a.manager, staff_a.consultant
    with at("2026-03-01 09:00"):
        annual_target_set(store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="120000", by=manager)
    with at("2026-03-10 12:00"):
        member = MemberFactory(home_store=store_a, joined_on=D("2025-06-01"), consultant=consultant)
        PurchaseFactory(member=member, consultant=consultant, date=D("2026-03-10"), amount=M("4000"))
    with at("2026-03-31 23:30"):
        snapshot = snapshot_take(store=store_a, kind="monthly", start=D("2026-03-01"), end=D("2026-03-31"))
    assert snapshot.figures["achievement"]["until"] == "2026-03-31"
    with at("2026-04-02 12:00"):
        annual_target_set(store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="240000", by=manager)
        PurchaseFactory(member=member, consultant=consultant, date=D("2026-03-20"), amount=M("1000"))
        snapshot.refresh_from_db()
        frozen = achievement_for(snapshot)
    old = next(a for a in frozen.store if a.metric == TargetMetric.OLD_VIP_SALES)
    assert (old.actual.value, old.target, old.percent) == (M("4000.00"), M("10000.00"), 40.0)
    people = {str(row.staff): row for row in frozen.people}
    assert people[str(consultant)].get(TargetMetric.OLD_VIP_SALES).actual.value == M("4000.00")
    assert "无专属顾问" in people
    # The same snapshot without the frozen part (one taken before achievement was frozen) is live.
    del snapshot.figures["achievement"]
    with at("2026-04-02 12:00"):
        live = achievement_for(snapshot)
    old = next(a for a in live.store if a.metric == TargetMetric.OLD_VIP_SALES)
    assert (old.actual.value, old.target, old.percent) == (M("5000.00"), M("20000.00"), 25.0)


def test_a_weekly_snapshot_freezes_no_achievement(store_a):
    with at("2026-03-09 08:00"):
        snapshot = snapshot_take(**_week(store_a), kind="weekly")
    assert "achievement" not in snapshot.figures and achievement_for(snapshot) is None


# --- Links in e-mails ---------------------------------------------------------------------------


@override_settings(VIPCRM_SITE_URL="https://crm.example.com/")
def test_the_weekly_email_links_the_report_at_the_sites_address(store_a, staff_a):
    with at("2026-03-09 08:00"):
        result = weekly_work(store_a, D("2026-03-09"))
    bodies = list(OutboxEmail.objects.filter(key__startswith="weekly:").values_list("body", flat=True))
    assert bodies and result["emails"] == len(bodies)
    link = f"https://crm.example.com{reverse('reports:snapshot', args=[result['snapshot']])}"
    assert all(link in body for body in bodies)


@override_settings(VIPCRM_SITE_URL="", CSRF_TRUSTED_ORIGINS=[])
def test_without_a_site_address_the_link_is_the_path(store_a, staff_a):
    with at("2026-03-09 08:00"):
        result = weekly_work(store_a, D("2026-03-09"))
    body = OutboxEmail.objects.filter(key__startswith="weekly:").values_list("body", flat=True).first()
    assert f": {reverse('reports:snapshot', args=[result['snapshot']])}" in body


# --- One rate type ------------------------------------------------------------------------------


def test_every_app_uses_the_one_rate_type():
    from campaigns.selectors import rate
    from reports import chain, dashboards, kpis
    from vipcrm.rates import Rate
    from visits.selectors import Rate as VisitsRate

    assert VisitsRate is Rate and dashboards.Rate is Rate and chain.Rate is Rate
    assert kpis.Rate is Rate
    # campaigns' JSON is the rate's, money as strings: ¥1,500 of a ¥6,000 goal is 25%.
    assert rate(M("1500.00"), M("6000.00")) == {"numerator": "1500.00", "denominator": "6000.00", "rate": 0.25}
    assert rate(3, 0) == Rate(3, 0).as_json() == {"numerator": 3, "denominator": 0, "rate": None}


def test_a_rate_knows_its_formula_and_adds_up_weighted():
    from vipcrm.rates import Rate

    churn = Rate(12, 240, "churn_rate")
    assert churn == Rate(12, 240)  # the key names the formula; it is not part of the figure
    assert (churn.rate, churn.percent, churn.label) == (0.05, 5.0, "流失率")
    assert churn.title == "流失率 = 期初活跃会员中期末不再活跃的人数 / 期初活跃会员数 = 12 / 240"
    assert Rate(0, 0, "churn_rate").title.endswith("分母为 0，无比率")
    assert Rate.figure("churn_rate", None).title == "流失率 = 期初活跃会员中期末不再活跃的人数 / 期初活跃会员数"
    # 1/4 (25%) + 3/4 (75%) = 4/8 = 50%, not 100%; the sum keeps the key.
    total = sum([Rate(1, 4, "satisfied"), Rate(3, 4, "satisfied")], Rate.zero())
    assert (total, total.percent, total.key) == (Rate(4, 8), 50.0, "satisfied")
