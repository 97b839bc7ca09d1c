"""The weekly report and the chain view in the API (/api/v1/reports/weekly/, /api/v1/reports/chain/,
issue 13 item 2): the same figures as their pages, scoped like them, and a bad query value a 400 in
the one error format, never a 500."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from reports.commentary import commentary_submit, report_comment_add
from reports.metrics import amount_plain
from reports.models import ReportSnapshot, TargetMetric
from reports.periods import KINDS
from reports.services import annual_target_set, snapshots_restate, weekly_work
from tests.factories import MemberFactory, PurchaseFactory
from tests.reports import test_chain
from visits.services import visit_record

D = date.fromisoformat
M = Decimal

# The chain view's worked quarter and its fixtures (tests/reports/test_chain.py).
ledger = test_chain.ledger
store_c = test_chain.store_c


@pytest.fixture
def api():
    return APIClient()


def at(moment: str):
    return time_machine.travel(f"{moment} +0800", tick=False)


def errors(response) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in response.json()["errors"]]


def rate(r) -> dict:
    return {"numerator": r.numerator, "denominator": r.denominator, "rate": r.rate, "percent": r.percent}


def money(value) -> str:
    return f"{Decimal(str(value)):.2f}"


# --- The weekly report ---------------------------------------------------------------------------


@pytest.fixture
def week(store_a, staff_a):
    """Week of Mon 2 March 2026 in store A. m1 (active since a December purchase) buys ¥1,000 on
    3 March naming the consultant; m2 joins on 4 March and buys ¥500; a phone visit to m1 with a
    suggestion. The Monday duty freezes it on 9 March, the specialist submits commentary and the
    manager comments; on 12 March a ¥300 receipt dated 4 March is imported and the week restated:
    old-VIP sales 1,000 frozen, 1,300 now; the consultant's sales the same."""
    consultant = staff_a.consultant
    with at("2026-03-05 12:00"):
        m1 = MemberFactory(home_store=store_a, name="甲一", joined_on=D("2025-06-01"), consultant=consultant)
        PurchaseFactory(member=m1, date=D("2025-12-01"), amount=M("800"))
        PurchaseFactory(member=m1, consultant=consultant, date=D("2026-03-03"), amount=M("1000"))
        m2 = MemberFactory(home_store=store_a, name="甲二", joined_on=D("2026-03-04"), consultant=consultant)
        PurchaseFactory(member=m2, consultant=consultant, date=D("2026-03-04"), amount=M("500"))
        visit_record(member=m1, by=consultant, channel="phone", outcome="已联系", suggestions="希望多些小码")
    with at("2026-03-09 08:00"):
        snapshot_pk = weekly_work(store_a, D("2026-03-09"))["snapshot"]
    with at("2026-03-10 09:00"):
        snapshot = ReportSnapshot.objects.get(pk=snapshot_pk)
        commentary_submit(snapshot=snapshot, by=staff_a.specialist, problems="客流少", next_actions="电话邀约")
        report_comment_add(snapshot=snapshot, by=staff_a.manager, text="收到")
    with at("2026-03-12 12:00"):
        PurchaseFactory(member=m1, consultant=consultant, date=D("2026-03-04"), amount=M("300"))
        assert snapshots_restate()["restated"] == 1
    snapshot.refresh_from_db()
    return snapshot


def weekly_api(api, user, moment="2026-03-12 12:00", **query):
    api.force_authenticate(user)
    with at(moment):
        return api.get(reverse("api:reports_weekly"), query)


def weekly_page(client, user, moment="2026-03-12 12:00", **query):
    client.force_login(user)
    with at(moment):
        response = client.get(reverse("reports:weekly"), query)
    assert response.status_code == 200
    return response.context["report"]


def the_page_as_json(report) -> dict:
    """What the weekly page shows, in the API's shape, read off the page's own report object."""
    active, churn, repurchase, upgrade, win_backs, downgrades, new_members = report.member_rows
    completion, on_time = report.rate_completion, report.rate_on_time
    s = report.satisfaction
    return {
        "members": {
            "active_at_start": active.count,
            "churn": rate(churn.rate),
            "repurchase": rate(repurchase.rate),
            "upgrade": rate(upgrade.rate),
            "win_backs": win_backs.count,
            "downgrades": downgrades.count,
            "new_members": new_members.count,
        },
        "tier_counts": [row.count for row in report.tier_rows],
        "sales": [money(report.old_vip_sales), money(report.new_vip_sales), money(report.vip_sales)],
        "follow_ups": {"completion": rate(completion), "on_time": rate(on_time)},
        "satisfaction": {"scored": s["scored"], "mean": s["mean"], "satisfied": rate(s["satisfied"])},
        "people": [(p["name"], money(p["sales"]), p["sales_restated"]) for p in report.weekly["people"]],
        "visits_by_channel": [str(label) for label, _n in report.weekly["visits_by_channel"]],
        "suggestions": [row.text for row in report.weekly["feedback"].suggestions],
    }


def the_api_as_json(body: dict) -> dict:
    return {
        "members": body["members"],
        "tier_counts": [row["count"] for row in body["tier_mix"]],
        "sales": [body["sales"]["old_vip_sales"], body["sales"]["new_vip_sales"], body["sales"]["vip_sales"]],
        "follow_ups": body["follow_ups"],
        "satisfaction": body["satisfaction"],
        "people": [(p["name"], p["sales"], p["sales_restated"]) for p in body["people"]],
        "visits_by_channel": [row["label"] for row in body["visits_by_channel"]],
        "suggestions": [row["text"] for row in body["feedback"]["suggestions"]],
    }


def test_the_weekly_report_is_the_weekly_pages_frozen_and_restated_figures(api, client, store_a, staff_a, week):
    response = weekly_api(api, staff_a.manager, week="2026-03-04")  # any day of the week
    report = weekly_page(client, staff_a.manager, week="2026-03-02")

    assert response.status_code == 200, response.content
    body = response.json()
    assert the_api_as_json(body) == the_page_as_json(report)
    # Worked by hand: the frozen week.
    assert (body["store"], body["start"], body["end"]) == ("SHA", "2026-03-02", "2026-03-08")
    assert (body["frozen"], body["snapshot_id"], body["live_until"]) == (True, week.pk, None)
    assert body["members"]["active_at_start"] == 1
    assert body["members"]["repurchase"] == {"numerator": 1, "denominator": 1, "rate": 1.0, "percent": 100.0}
    assert body["members"]["new_members"] == 1
    assert body["sales"]["old_vip_sales"] == "1000.00" and body["sales"]["new_vip_sales"] == "500.00"
    [person] = body["people"]
    assert (person["name"], person["sales"], person["sales_restated"]) == (
        str(staff_a.consultant),
        "1500.00",
        "1800.00",
    )
    assert [(row["key"], row["count"]) for row in body["visits_by_channel"]] == [("phone", 1)]
    assert body["feedback"]["suggestions_count"] == 1 and body["feedback"]["suggestions"][0]["member"] != "甲一"
    # Restated: the ledger's figures now beside the frozen ones, and the page's table of them.
    restated = body["restatement"]
    assert restated["figures"]["old_vip_sales"] == "1300.00"
    assert restated["figures"]["members"]["repurchase"]["numerator"] == 1
    assert restated["rows"] == [{k: str(v) for k, v in row.items()} for row in week.restated_rows]
    assert any(row["now"] == "¥1300.00" for row in restated["rows"])
    # The commentary as submitted, with the thread.
    c = body["commentary"]
    assert (c["submitted"], c["acknowledged"], c["problems"], c["next_actions"]) == (True, False, "客流少", "电话邀约")
    assert c["submitted_by"] == str(staff_a.specialist)
    assert [(x["author"], x["text"]) for x in c["comments"]] == [(str(staff_a.manager), "收到")]


def test_a_live_week_is_the_pages_live_figures_up_to_today(api, client, store_a, staff_a, week):
    """The week of 9 March, read on Thursday 12 March: no snapshot, live up to today, no commentary."""
    response = weekly_api(api, staff_a.specialist, week="2026-03-09")
    report = weekly_page(client, staff_a.specialist, week="2026-03-09")

    body = response.json()
    assert response.status_code == 200, body
    assert the_api_as_json(body) == the_page_as_json(report)
    assert (body["frozen"], body["snapshot_id"], body["live_until"]) == (False, None, "2026-03-12")
    assert body["restatement"] is None and body["commentary"] is None


def test_hq_names_the_store_and_without_a_week_gets_last_week(api, store_a, hq, week):
    response = weekly_api(api, hq, moment="2026-03-12 12:00", store="sha")

    assert response.status_code == 200, response.content
    assert (response.json()["store"], response.json()["start"]) == ("SHA", "2026-03-02")
    assert errors(weekly_api(api, hq)) == [("store", "required")]


def test_another_stores_weekly_report_does_not_exist_for_a_store_lead(api, store_a, store_b, staff_a, staff_b, week):
    assert weekly_api(api, staff_b.manager, store="SHA").status_code == 404
    assert weekly_api(api, staff_a.specialist, store="NOPE").status_code == 404
    response = weekly_api(api, staff_a.manager, store="SHA")
    assert response.status_code == 200 and response.json()["store"] == "SHA"
    assert weekly_api(api, staff_b.manager).json()["store"] == "BJB"  # their own, without naming it


def test_a_consultant_gets_403_and_a_stranger_401(api, staff_a):
    response = weekly_api(api, staff_a.consultant)
    assert response.status_code == 403 and errors(response) == [(None, "permission_denied")]
    api.force_authenticate(None)
    assert api.get(reverse("api:reports_weekly")).status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        {"week": "2026-13-45"},
        {"week": "next week"},
        {"week": "2026-04-06"},  # not begun
        {"week": "1999-12-27"},
        {"week": "9999-12-31"},
        {"week": "²⁰²⁶-03-02"},
    ],
)
def test_a_bad_week_is_a_400_naming_it(api, staff_a, query):
    response = weekly_api(api, staff_a.manager, **query)

    assert response.status_code == 400, response.content
    assert errors(response) == [("week", "invalid")]


def test_a_bad_store_is_a_400_naming_it(api, staff_a):
    response = weekly_api(api, staff_a.manager, store="S" * 30)
    assert response.status_code == 400 and errors(response)[0][0] == "store"


# --- The chain view ------------------------------------------------------------------------------


def chain_api(api, user, **query):
    api.force_authenticate(user)
    with test_chain.at():
        return api.get(reverse("api:reports_chain"), query)


def line_of_page(line) -> dict:
    """A line of the chain page (reports.chain.Line) in the API's shape."""
    return {
        "rank": line.rank,
        "label": line.label,
        "base": line.base,
        "churn": rate(line.churn.rate),
        "repurchase": rate(line.repurchase.rate),
        "upgrade": rate(line.upgrade.rate),
        "win_backs": line.win_backs,
        "downgraded": line.downgraded,
        "new_members": line.new_members,
        "tiers": {t: (n, rate(line.tier_share(t))) for t, n in line.tiers.items()},
        "sales": [money(line.old_vip_sales), money(line.new_vip_sales)],
        "achievement": [
            (a.metric, None if a.target is None else amount_plain(a.metric, a.target), a.percent)
            for a in line.achievements
        ],
        "on_time": rate(line.on_time_cell.rate),
        "satisfied": rate(line.satisfied_cell.rate),
        "complaints": (line.received, line.closed, rate(line.response_sla.rate), rate(line.solution_sla.rate)),
    }


def line_of_api(row: dict) -> dict:
    return {
        "rank": row["rank"],
        "label": row["label"],
        "base": row["base"],
        "churn": row["churn"],
        "repurchase": row["repurchase"],
        "upgrade": row["upgrade"],
        "win_backs": row["win_backs"],
        "downgraded": row["downgraded"],
        "new_members": row["new_members"],
        "tiers": {t["tier"]: (t["count"], t["share"]) for t in row["tier_mix"]},
        "sales": [row["old_vip_sales"], row["new_vip_sales"]],
        "achievement": [(a["metric"], a["target"], a["percent"]) for a in row["achievement"]],
        "on_time": row["follow_ups"]["on_time_rate"],
        "satisfied": row["satisfaction"]["satisfied"],
        "complaints": (
            row["complaints"]["received"],
            row["complaints"]["closed"],
            row["complaints"]["response_within_sla"],
            row["complaints"]["solution_within_sla"],
        ),
    }


@pytest.fixture
def targets(store_a, hq, ledger):
    with test_chain.at():
        annual_target_set(store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="120000", by=hq)


@pytest.mark.parametrize("sort", ["name", "-churn", "old_vip_sales_pct"])
def test_the_chain_is_the_chain_pages_figures_for_a_quarter(api, client, store_a, hq, ledger, targets, sort):
    query = {"period": "quarter", "quarter": "2026-Q1", "sort": sort}
    response = chain_api(api, hq, **query)
    page = test_chain.chain_page(client, hq, **query)
    regions = test_chain.chain_page(client, hq, **query, by="region")

    assert response.status_code == 200, response.content
    body = response.json()
    assert [line_of_api(row) for row in body["stores"]] == [line_of_page(line) for line in page.context["lines"]]
    assert [line_of_api(row) for row in body["regions"]] == [line_of_page(line) for line in regions.context["lines"]]
    total = page.context["figures"].total
    assert {**line_of_api(body["total"]), "rank": 0} == {**line_of_page(total), "rank": 0}
    assert body["period"] == {"kind": "quarter", "start": "2026-01-01", "end": "2026-03-31", "label": "2026年第1季度"}
    assert (body["until"], body["live"], body["sort"]) == ("2026-03-31", False, sort)


def test_the_chain_has_the_worked_quarter_and_its_csv_figures(api, client, store_a, hq, ledger, targets):
    body = chain_api(api, hq, period="quarter", quarter="2026-Q1").json()
    csv_text = test_chain.chain_page(client, hq, period="quarter", quarter="2026-Q1", format="csv").content
    rows = {row[1]: row for row in csv.reader(io.StringIO(csv_text.decode("utf-8-sig")))}

    sha = next(row for row in body["stores"] if row["store"] == "SHA")
    assert (sha["base"], sha["churned"], sha["repurchased"], sha["upgraded"], sha["upgrade_base"]) == (2, 1, 1, 1, 3)
    assert sha["churn"] == {"numerator": 1, "denominator": 2, "rate": 0.5, "percent": 50.0}
    assert [(t["tier"], t["count"]) for t in sha["tier_mix"]] == [("A", 0), ("B", 1), ("C", 3)]
    assert (sha["old_vip_sales"], sha["new_vip_sales"], sha["vip_sales"]) == ("1300.00", "500.00", "1800.00")
    old = next(a for a in sha["achievement"] if a["metric"] == "old_vip_sales")
    assert (old["target"], old["actual"]["value"], old["percent"]) == ("30000.00", "1300.00", 4.3)
    assert (sha["region"], sha["stores"]) == ("华东", ["SHA"])
    east = next(row for row in body["regions"] if row["region"] == "华东")
    assert (east["base"], east["churned"], east["repurchased"], sorted(east["stores"])) == (3, 1, 2, ["SHA", "SHC"])
    assert (body["total"]["base"], body["total"]["store"], body["total"]["region"]) == (4, None, None)
    csv_row = rows[sha["label"]]
    assert csv_row[2:5] == [str(sha["base"]), str(sha["churned"]), f"{sha['churn']['percent']}%"]


@pytest.mark.parametrize("role", ["consultant", "specialist", "manager"])
def test_the_chain_is_hqs_only(api, staff_a, role):
    response = chain_api(api, getattr(staff_a, role))
    assert response.status_code == 403 and errors(response) == [(None, "permission_denied")]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"period": "decade"}, "period"),
        ({"quarter": "2026-Q9"}, "period"),
        ({"period": "month", "month": "2026-00"}, "period"),
        ({"period": "year", "year": "１９９９"}, "period"),
        ({"period": "year", "year": "2027"}, "period"),  # not begun
        ({"period": "week", "week": "9999-12-31"}, "period"),
        ({"period": "mid_month", "month": "9999-12"}, "period"),
        ({"period": "range", "start": "2026-03-01", "end": "2026-02-01"}, "period"),
        ({"period": "range", "start": "2020-01-01", "end": "2026-02-01"}, "period"),  # longer than three years
        ({"period": "range", "start": "2026-03-01"}, "period"),
        ({"sort": "colour"}, "sort"),
    ],
)
def test_a_bad_chain_query_is_a_400_naming_it(api, hq, query, field):
    response = chain_api(api, hq, **query)

    assert response.status_code == 400, response.content
    assert [f for f, _code in errors(response)] == [field]


def test_the_chain_answers_every_period_kind_the_page_does(api, hq, ledger):
    for query in (
        {},
        {"period": "month", "month": "2026-02"},
        {"period": "year", "year": "2026"},
        {"period": "week", "week": "2026-03-11"},
        {"period": "mid_month", "month": "2026-04", "until": "2026-04-10"},
        {"period": "range", "start": "2026-02-15", "end": "2026-04-15"},
    ):
        response = chain_api(api, hq, **query)
        assert response.status_code == 200, (query, response.content)
    assert response.json()["live"] is False and response.json()["period"]["kind"] == "range"
    assert chain_api(api, hq, period="month").json()["live"] is True  # April, read on the 15th


NASTY = ["", "0", "-1", "x", "2026-02-30", "0001-01-01", "9999-12-31", "9999-12", "0000-00", "２０２６", "2026-Q0"]


def test_no_query_value_makes_a_server_error(api, hq, store_a, ledger):
    """What schemathesis does not send as HQ (its runs are a store's staff): odd values in every
    parameter of both endpoints, with each period kind."""
    fields = ("month", "quarter", "year", "week", "until", "start", "end")
    for value in NASTY:
        queries = [{"period": value}, {"sort": value}, dict.fromkeys(fields, value)]
        queries += [{"period": kind, **dict.fromkeys(fields, value)} for kind in KINDS]
        for query in queries:
            response = chain_api(api, hq, **query)
            assert response.status_code in (200, 400), (query, response.content)
        response = weekly_api(api, hq, store="SHA", week=value)
        assert response.status_code in (200, 400), (value, response.content)
