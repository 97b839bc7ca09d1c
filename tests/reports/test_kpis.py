"""DOMAIN §6 KPIs on a small hand-made ledger, every formula with its numbers worked out.

Period P = March 2026: S = 03-01, E = 03-31, S⁻ = 02-28. Churn window 180 days, so active(m, S⁻)
needs the latest activity ≥ 2025-09-02 (02-28 − 179) and active(m, E) ≥ 2025-10-03 (03-31 − 179).

member  joined      purchases (amount > 0 unless noted)           tier at S⁻  notes
m1      2025-01-01  2025-12-01 1,000; 2026-03-05 500; 03-06 −100   C          base, repurchased
m2      2025-01-01  2025-09-10 800                                C          base, lapses 03-09: churned
m3      2025-01-01  2025-09-05 700; 2026-03-20 800                C          base, lapses 03-04, back 03-20
m4      2024-06-01  2025-06-01 900; 2026-03-10 2,000              C          inactive at S⁻: a win-back
m5      2026-03-15  2026-03-15 12,000                             —          new member, upgraded to B
m6      2025-01-01  2025-11-01 9,000; 2026-03-08 2,000            C          base, repurchased, → B on 03-08
m7      2024-01-01  2025-12-15 60,000                             A          base, not in the upgrade base
m9      2024-01-01  2025-03-20 15,000                             B          inactive; downgraded 03-31
other store: one member, excluded everywhere.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from complaints.models import Complaint
from members.services import tiers_replay, tiers_review
from reports.kpis import compute_kpis
from tests.factories import MemberFactory, PurchaseFactory
from visits.models import FollowUpTask, Visit

D = date.fromisoformat
M = Decimal
MARCH = {"start": D("2026-03-01"), "end": D("2026-03-31")}


@pytest.fixture
def ledger(store_a, store_b, staff_a):
    people = {}
    spec = {
        "m1": ("2025-01-01", [("2025-12-01", "1000"), ("2026-03-05", "500"), ("2026-03-06", "-100")]),
        "m2": ("2025-01-01", [("2025-09-10", "800")]),
        "m3": ("2025-01-01", [("2025-09-05", "700"), ("2026-03-20", "800")]),
        "m4": ("2024-06-01", [("2025-06-01", "900"), ("2026-03-10", "2000")]),
        "m5": ("2026-03-15", [("2026-03-15", "12000")]),
        "m6": ("2025-01-01", [("2025-11-01", "9000"), ("2026-03-08", "2000")]),
        "m7": ("2024-01-01", [("2025-12-15", "60000")]),
        "m9": ("2024-01-01", [("2025-03-20", "15000")]),
    }
    for name, (joined, purchases) in spec.items():
        m = MemberFactory(home_store=store_a, name=name, joined_on=D(joined), consultant=staff_a.consultant)
        for day, amount in purchases:
            PurchaseFactory(member=m, date=D(day), amount=M(amount))
        people[name] = m
    other = MemberFactory(home_store=store_b, joined_on=D("2025-01-01"))
    PurchaseFactory(member=other, date=D("2026-03-03"), amount=M("5000"))
    with time_machine.travel("2026-03-31 23:30 +0800", tick=False):
        tiers_replay()  # history through the 02-28 review
        tiers_review(store=store_a, on=D("2026-03-31"))  # the month-end review: m9 B → C
    return people


def test_the_member_figures_of_a_month(store_a, ledger):
    k = compute_kpis(store_ids=[store_a.pk], store_label="SHA", **MARCH)
    ids = {m.pk: name for name, m in ledger.items()}

    def names(members):
        return sorted(ids[pk] for pk in members)

    data = k.as_json()
    # base = {m1, m2, m3, m6, m7}; m2 alone is not active at E: churn 1/5.
    assert names(k.base) == ["m1", "m2", "m3", "m6", "m7"]
    assert names(k.churned) == ["m2"]
    assert data["churn_rate"] == {"numerator": 1, "denominator": 5, "rate": 0.2}
    # m3 lapsed on 03-04 and came back on 03-20: still in the base, not churned, and repurchased.
    assert names(k.repurchased) == ["m1", "m3", "m6"]
    assert data["repurchase_rate"] == {"numerator": 3, "denominator": 5, "rate": 0.6}
    assert names(k.win_backs) == ["m4"] and data["win_backs"] == 1
    # Upgrade base: joined ≤ S⁻ at B or C then = m1, m2, m3, m4, m6, m9; upgraded in March: m6.
    assert names(k.upgrade_base) == ["m1", "m2", "m3", "m4", "m6", "m9"]
    assert data["upgrade_rate"] == {"numerator": 1, "denominator": 6, "rate": 0.1667}
    assert data["downgrades"] == 1 and names(k.downgraded) == ["m9"]
    assert data["new_members"] == 1 and names(k.new_members) == ["m5"]
    # Tier mix at E over the 8 members joined by then: A m7; B m5, m6; C the other five.
    assert data["tier_mix"] == {
        "A": {"count": 1, "share": 0.125},
        "B": {"count": 2, "share": 0.25},
        "C": {"count": 5, "share": 0.625},
    }
    # Old VIP sales: m1 500 − 100, m3 800, m4 2,000, m6 2,000 = 5,200; new: m5 12,000.
    assert (data["old_vip_sales"], data["new_vip_sales"]) == ("5200.00", "12000.00")


def test_follow_ups_satisfaction_and_complaints(store_a, staff_a, member_a):
    # Tasks due in March: t1 done on time, t2 done late (by E), t3 open, t4 cancelled (excluded),
    # t5 done after E. Completion = done by E / due = 2/4; on time = 1/4.
    for i, (due, status, done) in enumerate(
        [
            ("03-10", "done", "03-09"),
            ("03-10", "done", "03-12"),
            ("03-20", "open", None),
            ("03-25", "cancelled", None),
            ("03-31", "done", "04-02"),
            ("04-01", "open", None),
        ]
    ):
        FollowUpTask.objects.create(
            store=store_a,
            member=member_a,
            kind="care",
            origin=f"t{i}",
            due_date=D(f"2026-{due}"),
            status=status,
            done_on=D(f"2026-{done}") if done else None,
        )
    # Visits in March scored 5, 4 and 2 (and one unscored): mean 3.67, satisfied (≥ 4) 2/3.
    for day, score in [("03-02", 5), ("03-15", 4), ("03-31", 2), ("03-20", None), ("04-01", 1)]:
        Visit.objects.create(
            member=member_a,
            store=store_a,
            channel="phone",
            outcome="ok",
            satisfaction=score,
            at=f"2026-{day}T12:00+08:00",
        )
    # One complaint received in March, first response after 2 h: 1 received, 1/1 within SLA.
    Complaint.objects.create(
        store=store_a,
        member=member_a,
        channel="phone",
        category="other",
        description="x",
        received_at="2026-03-03T10:00+08:00",
        first_response_at="2026-03-03T12:00+08:00",
        status="accepted",
    )
    data = compute_kpis(store_ids=[store_a.pk], **MARCH).as_json()
    assert data["follow_up_completion"] == {"numerator": 2, "denominator": 4, "rate": 0.5}
    assert data["follow_up_on_time"] == {"numerator": 1, "denominator": 4, "rate": 0.25}
    assert data["satisfaction"] == {
        "scored": 3,
        "mean": 3.67,
        "satisfied": {"numerator": 2, "denominator": 3, "rate": 0.6667},
    }
    assert data["complaints"]["received"] == 1
    assert data["complaints"]["mean_hours_to_first_response"] == 2.0
    assert data["complaints"]["response_within_sla"]["rate"] == 1.0


def test_a_zero_denominator_gives_no_rate(store_a):
    data = compute_kpis(store_ids=[store_a.pk], **MARCH).as_json()
    for key in ("churn_rate", "repurchase_rate", "upgrade_rate", "follow_up_completion"):
        assert data[key] == {"numerator": 0, "denominator": 0, "rate": None}
    assert data["tier_mix"]["A"] == {"count": 0, "share": None}
    assert data["satisfaction"]["mean"] is None


def test_month_to_date_and_all_stores(store_a, ledger):
    # Month to date, to 03-09: active(m, 03-09) needs the latest activity ≥ 2025-09-11 (03-09 − 179),
    # so m2 (09-10) has lapsed, and so has m3 (09-05), not back until 03-20: churn 2/5.
    k = compute_kpis(store_ids=[store_a.pk], start=D("2026-03-01"), end=D("2026-03-09"))
    assert k.as_json()["churn_rate"] == {"numerator": 2, "denominator": 5, "rate": 0.4}
    # All stores: the other store's member (joined 2025-01-01, first purchase 03-03) was not active
    # at S⁻, so it is a second win-back.
    everyone = compute_kpis(store_ids=None, **MARCH).as_json()
    assert (everyone["win_backs"], everyone["new_members"], everyone["repurchase_rate"]["denominator"]) == (2, 1, 5)


def test_it_is_set_based(store_a, ledger, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        compute_kpis(store_ids=[store_a.pk], **MARCH)


def test_report_kpis_prints_the_json_object(store_a, ledger):
    import json
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("report_kpis", "--month", "2026-03", "--store", "SHA", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["period"] == {"start": "2026-03-01", "end": "2026-03-31"} and data["store"] == "SHA"
    assert data["churn_rate"]["rate"] == 0.2 and data["new_vip_sales"] == "12000.00"
    out = StringIO()
    call_command("report_kpis", "--month", "2026-03", "--until", "2026-03-09", "--json", stdout=out)
    assert json.loads(out.getvalue())["period"]["end"] == "2026-03-09"


def test_the_monthly_api_returns_the_commands_object(client, store_a, staff_a, staff_b, hq, ledger):
    import json
    from io import StringIO

    from django.core.management import call_command
    from django.urls import reverse

    out = StringIO()
    call_command("report_kpis", "--month", "2026-03", "--store", "SHA", "--json", stdout=out)
    url = reverse("api:reports_monthly")
    client.force_login(staff_a.manager)
    response = client.get(url, {"month": "2026-03", "store": "SHA"})
    assert response.status_code == 200 and response.json() == json.loads(out.getvalue())
    assert client.get(url, {"month": "2026-13"}).status_code == 400
    client.force_login(staff_b.manager)
    assert client.get(url, {"month": "2026-03", "store": "SHA"}).status_code == 404
    client.force_login(staff_a.consultant)
    assert client.get(url, {"month": "2026-03"}).status_code == 403
    client.force_login(hq)
    assert client.get(url, {"month": "2026-03"}).json()["store"] is None
