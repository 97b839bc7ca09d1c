"""The chain view's figures cache (issue 14; reports/chain.py, "The figures cache"): HQ's landing
page serves figures kept in Django's cache with the time they were worked out ("数据截至 HH:MM"),
refreshes them in the background once they are older than VIPCRM_CHAIN_FRESH_SECONDS (one refresh
however many look), and works them out again at once on HQ's 刷新 button.

The worked quarter of tests/reports/test_chain.py (its `ledger`), on 2026-04-15 at 10:00."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reports import chain as chain_module
from reports import tasks
from reports.chain import chain_figures, chain_figures_cached, chain_figures_compute
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory
from tests.reports import test_chain
from tests.reports.test_chain import Q1, D, at, by_code

# The worked quarter's fixtures.
ledger = test_chain.ledger
store_c = test_chain.store_c

QUARTER = {"period": "quarter", "quarter": "2026-Q1"}
TODAY = D("2026-04-15")
LATER = "2026-04-15 10:11 +0800"  # 11 minutes on: older than the 10 fresh ones


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def queued(monkeypatch):
    """The refreshes queued (not run: CELERY_TASK_ALWAYS_EAGER would run them in place)."""
    sent: list[tuple] = []
    monkeypatch.setattr(tasks.chain_refresh, "delay", lambda *args: sent.append(args))
    return sent


def page(client, user, moment: str | None = None, **query):
    client.force_login(user)
    with at(*([moment] if moment else [])):
        return client.get(reverse("reports:chain"), {**QUARTER, **query})


def refresh(client, user, **query):
    client.force_login(user)
    with at():
        return client.post(reverse("reports:chain_refresh") + "?" + "&".join(f"{k}={v}" for k, v in query.items()))


def a_line(response):
    return by_code(response.context["figures"].stores)["SHA"]


def late_purchase(store_a):
    """¥5,000 at A's till on 03-31 from a member of A who joined in 2025 (old-VIP sales),
    recorded after the figures were kept."""
    member = MemberFactory(home_store=store_a, joined_on=D("2025-01-01"))
    PurchaseFactory(member=member, store=store_a, date=D("2026-03-31"), amount=Decimal("5000"))


# --- Served from the cache ---------------------------------------------------------------------------


def test_a_kept_view_reads_no_figures_and_says_as_of_when(client, hq, store_a, store_b, ledger):
    """The first view works the figures out and keeps them; the next reads none of them: its
    queries are the session and the user's only (and the same for the CSV)."""
    first = page(client, hq)
    assert first.status_code == 200
    with at(), CaptureQueriesContext(connection) as queries:
        second = client.get(reverse("reports:chain"), QUARTER)
    assert second.status_code == 200
    assert len(queries) <= 3, [q["sql"][:80] for q in queries.captured_queries]
    assert not any("members_purchase" in q["sql"] for q in queries.captured_queries)
    text = second.content.decode()
    assert "数据截至 10:00" in text
    assert reverse("reports:chain_refresh") in text and "csrfmiddlewaretoken" in text
    with at(), CaptureQueriesContext(connection) as queries:
        csv = client.get(reverse("reports:chain"), {**QUARTER, "format": "csv"})
    assert csv["Content-Type"].startswith("text/csv") and len(queries) <= 3


def test_kept_figures_equal_those_worked_out_now(client, hq, store_a, store_b, store_c, ledger):
    with at():
        kept = chain_figures_compute(period=Q1, today=TODAY).chain
        served = chain_figures_cached(period=Q1, today=TODAY)
        now = chain_figures(period=Q1, today=TODAY)
    assert served.chain is not kept  # read back from the cache, not the same object
    assert served.chain == now
    assert not served.stale and not served.refreshing
    a = by_code(served.chain.stores)["SHA"]
    assert (a.base, a.churned, a.repurchased, a.old_vip_sales) == (2, 1, 1, Decimal("1300.00"))


def test_kept_figures_survive_the_file_cache_production_uses(tmp_path, settings, hq, store_a, store_b, ledger):
    """The default cache is a file cache shared by the web workers and Celery: the figures
    pickle to it and back unchanged."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    }
    with at():
        chain_figures_compute(period=Q1, today=TODAY)
        served = chain_figures_cached(period=Q1, today=TODAY)
        now = chain_figures(period=Q1, today=TODAY)
    assert list(tmp_path.iterdir())
    assert served.chain == now


def test_the_drill_down_stays_live(client, hq, store_a, store_b, ledger):
    page(client, hq)
    late_purchase(store_a)
    client.force_login(hq)
    with at():
        response = client.get(reverse("reports:chain_members"), {**QUARTER, "figure": "win_backs", "store": store_a.pk})
    assert response.context["page"].paginator.count == 2  # a4 and the new member


# --- Stale: served, refreshed once in the background ------------------------------------------------


def test_a_stale_entry_is_served_and_one_refresh_is_queued_however_many_look(
    client, hq, store_a, store_b, ledger, queued
):
    page(client, hq)
    late_purchase(store_a)
    assert page(client, hq).context["figures"] == page(client, hq).context["figures"]  # fresh: as kept
    assert queued == []

    stale = page(client, hq, LATER)
    assert a_line(stale).old_vip_sales == Decimal("1300.00")  # the kept figures, at once
    assert "数据截至 10:00" in stale.content.decode()
    assert "正在后台更新" in stale.content.decode()
    for _n in range(7):  # seven more HQ users
        page(client, hq, LATER)
    assert queued == [("quarter", "2026-01-01", "2026-03-31", "2026-04-15", "zh-hans")]

    # The worker's part: the entry worked out again, the lock let go.
    with at(LATER):
        tasks.chain_refresh.run(*queued[0])
    fresh = page(client, hq, LATER)
    assert a_line(fresh).old_vip_sales == Decimal("6300.00")
    assert "数据截至 10:11" in fresh.content.decode()
    assert "正在后台更新" not in fresh.content.decode()
    assert len(queued) == 1


def test_with_celery_in_place_a_stale_view_refreshes_the_entry_for_the_next(client, hq, store_a, store_b, ledger):
    """The test settings run .delay() in place (CELERY_TASK_ALWAYS_EAGER), as a worker would run it."""
    page(client, hq)
    late_purchase(store_a)
    assert a_line(page(client, hq, LATER)).old_vip_sales == Decimal("1300.00")
    after = page(client, hq, LATER)
    assert a_line(after).old_vip_sales == Decimal("6300.00")
    assert "数据截至 10:11" in after.content.decode()


def test_a_refresh_that_cannot_be_queued_still_serves_and_is_tried_again(
    client, hq, store_a, store_b, ledger, monkeypatch
):
    def broker_down(*args):
        raise OSError("broker down")

    page(client, hq)
    monkeypatch.setattr(tasks.chain_refresh, "delay", broker_down)
    assert page(client, hq, LATER).status_code == 200
    sent = []
    monkeypatch.setattr(tasks.chain_refresh, "delay", lambda *args: sent.append(args))
    page(client, hq, LATER)
    assert len(sent) == 1  # the lock was let go when queueing failed


def test_fresh_seconds_is_a_setting(client, hq, store_a, ledger, queued, settings):
    settings.VIPCRM_CHAIN_FRESH_SECONDS = 3600
    page(client, hq)
    page(client, hq, LATER)
    assert queued == []


def test_a_running_periods_first_view_of_a_day_serves_yesterdays_and_refreshes(
    client, hq, store_a, store_b, ledger, queued
):
    """The month running on 04-15: no figures to 04-15 kept yet, those to 04-14 are (worked out
    the evening before): served at once, saying so, and today's queued."""
    april = {"period": "month", "month": "2026-04"}
    page(client, hq, "2026-04-14 21:30 +0800", **april)
    PurchaseFactory(member=ledger["甲一"], store=store_a, date=D("2026-04-15"), amount=Decimal("250"))

    morning = page(client, hq, "2026-04-15 09:00 +0800", **april)
    assert morning.context["figures"].until == D("2026-04-14")
    assert a_line(morning).old_vip_sales == Decimal("0.00")
    text = morning.content.decode()
    assert "数据截至 2026-04-14 21:30" in text and "正在后台更新" in text
    assert "进行中，计至今天" not in text  # to yesterday
    assert queued == [("month", "2026-04-01", "2026-04-30", "2026-04-15", "zh-hans")]

    with at("2026-04-15 09:00 +0800"):
        tasks.chain_refresh.run(*queued[0])
    later = page(client, hq, "2026-04-15 09:01 +0800", **april)
    assert later.context["figures"].until == D("2026-04-15")
    assert a_line(later).old_vip_sales == Decimal("250.00")
    assert "数据截至 09:00" in later.content.decode() and "进行中，计至今天" in later.content.decode()


# --- HQ's refresh button -----------------------------------------------------------------------------


def test_hqs_refresh_works_the_figures_out_now_and_goes_back(client, hq, store_a, store_b, ledger, queued):
    assert a_line(page(client, hq)).old_vip_sales == Decimal("1300.00")
    late_purchase(store_a)
    assert a_line(page(client, hq)).old_vip_sales == Decimal("1300.00")  # kept

    response = refresh(client, hq, **QUARTER, by="region", sort="-churn")
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:chain") + "?period=quarter&quarter=2026-Q1&by=region&sort=-churn"
    after = page(client, hq)
    assert a_line(after).old_vip_sales == Decimal("6300.00")
    assert "6,300" in after.content.decode()  # the table rendered again, not the one kept
    assert queued == []


def test_refresh_is_a_post_for_hq_only(client, hq, staff_a, store_a):
    client.force_login(hq)
    assert client.get(reverse("reports:chain_refresh")).status_code == 405
    for user in (staff_a.manager, staff_a.consultant):
        assert refresh(client, user, **QUARTER).status_code == 403
        assert page(client, user).status_code == 403
    assert refresh(client, hq, quarter="2026-Q9").status_code == 400


def test_the_refresh_button_posts_with_the_csrf_token(hq, store_a, ledger):
    client = Client(enforce_csrf_checks=True)
    client.force_login(hq)
    url = reverse("reports:chain_refresh") + "?period=quarter&quarter=2026-Q1"
    with at():
        token = str(client.get(reverse("reports:chain"), QUARTER).context["csrf_token"])
        assert client.post(url).status_code == 403  # no token
        assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 302


# --- The key ----------------------------------------------------------------------------------------


def test_each_period_day_and_language_has_its_own_entry(client, hq, store_a, ledger):
    """A running period's figures run to today: tomorrow's are a new entry. A few labels are
    translated when the figures are worked out: each language has its own."""
    keys = {
        chain_module.cache_key(period=Q1, until=D("2026-03-31")),
        chain_module.cache_key(period=Q1, until=D("2026-03-30")),
        chain_module.cache_key(period=Q1.previous(), until=D("2025-12-31")),
        chain_module.cache_key(period=Q1, until=D("2026-03-31"), language="en"),
    }
    assert len(keys) == 4
    page(client, hq)
    client.force_login(hq)
    with at(), CaptureQueriesContext(connection) as queries:
        client.get(reverse("reports:chain"), QUARTER, headers={"accept-language": "en"})
    assert any("members_purchase" in q["sql"] for q in queries.captured_queries)  # worked out for English


# --- The computing path ------------------------------------------------------------------------------


def test_working_the_figures_out_costs_the_same_for_more_stores_and_members(
    store_a, store_b, store_c, ledger, django_assert_max_num_queries
):
    """Without the cache: the open stores, one compute_kpis over the chain (with its program
    rules, ledger, tier changes, and totals of follow-ups, satisfaction and complaints), the home
    stores, the VIP sales by store, entered totals, follow-ups, satisfaction and complaints by
    store (with the program rules), targets: 17 for a month, 2 more per further month (the old /
    new VIP sales month by month: compute_kpis's and ours); none per store or member."""

    def count(period) -> int:
        with at(), CaptureQueriesContext(connection) as queries:
            chain_figures(period=period, today=TODAY)
        return len(queries)

    month = Q1.months()[-1]
    count(month)  # the first creates the program rules' row
    few, few_quarter = count(month), count(Q1)
    for n in range(4):
        store = StoreFactory(code=f"SX{n}")
        member = MemberFactory(home_store=store, joined_on=D("2025-03-01"))
        PurchaseFactory(member=member, store=store, date=D("2026-02-01"))
    assert (count(month), count(Q1)) == (few, few_quarter)
    with at(), django_assert_max_num_queries(17):
        chain_figures(period=month, today=TODAY)
