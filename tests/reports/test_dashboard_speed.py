"""The dashboards at chain scale (issue 14): the store dashboard and HQ's chain view (HQ's landing)
run the same number of queries for 2 stores as for 6, and for 10 members as for 100 (with their
purchases, tier changes, transfers and tasks). The timed figures are `make bench`'s; this pins the
shape that keeps them flat."""

from datetime import date, timedelta
from decimal import Decimal

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.models import Member, MemberOwnerChange, OwnerChangeReason, TierChange
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory
from visits.models import FollowUpTask

D = date.fromisoformat
NOW = "2026-03-20 10:00 +0800"


def at():
    return time_machine.travel(NOW, tick=False)


def add_members(stores, n: int) -> None:
    for i in range(n):
        store = stores[i % len(stores)]
        m = MemberFactory(home_store=store, joined_on=D("2025-01-01") + timedelta(days=i))
        for k in range(3):
            PurchaseFactory(member=m, date=D("2025-10-01") + timedelta(days=40 * k + i % 30), amount=Decimal("500"))
        TierChange.objects.create(member=m, date=D("2026-03-02"), from_tier="C", to_tier="B", reason="purchase")
        FollowUpTask.objects.create(
            store=store, member=m, kind="care", origin="q", due_date=D("2026-03-10"), scheduled_for=D("2026-03-10")
        )
        if i % 7 == 0 and len(stores) > 1:
            # Transferred after the period: still counted for the store it left.
            Member.objects.filter(pk=m.pk).update(home_store=stores[(i + 1) % len(stores)])
            MemberOwnerChange.objects.create(
                member=m,
                date=D("2026-04-01"),
                reason=OwnerChangeReason.TRANSFER,
                store=stores[(i + 1) % len(stores)],
                previous_store=store,
            )


def queries(client, url: str) -> int:
    with at(), CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_store_dashboard_costs_the_same_for_more_stores_and_members(client, store_a, staff_a):
    client.force_login(staff_a.manager)
    url = reverse("reports:dashboard")
    queries(client, url)  # the session, the program rules' row
    add_members([store_a, StoreFactory(code="SPB")], 10)
    few = queries(client, url)
    more = [StoreFactory(code=f"SP{c}") for c in "CDEF"]
    add_members([store_a, *more], 100)
    assert queries(client, url) == few


def test_the_consultants_dashboard_costs_the_same_for_more_stores_and_members(client, store_a, staff_a):
    client.force_login(staff_a.consultant)
    url = reverse("reports:dashboard")
    queries(client, url)
    add_members([store_a, StoreFactory(code="SPB")], 10)
    few = queries(client, url)
    more = [StoreFactory(code=f"SP{c}") for c in "CDEF"]
    add_members([store_a, *more], 100)
    Member.objects.filter(home_store=store_a).update(consultant=staff_a.consultant)
    assert queries(client, url) == few


def test_the_chain_view_costs_the_same_for_more_stores_and_members(client, hq, store_a, store_b):
    client.force_login(hq)
    url = reverse("reports:chain")
    queries(client, url)
    add_members([store_a, store_b], 10)
    few = queries(client, url)
    assert few <= 25
    more = [StoreFactory(code=f"SQ{c}") for c in "CDEF"]
    add_members([store_a, store_b, *more], 100)
    assert queries(client, url) == few
