"""Issue 14 item 3: the duties' reads and writes at chain size, with the same results.

- A large replay (read unlocked, then lock and rewrite only the members that differ, in chunks)
  leaves exactly the history a small, lock-first replay leaves, and a second run writes nothing.
- `ids_filter` selects the same rows as `__in` (one array parameter on PostgreSQL).
- `rows_per_id` gives what a filter on each id gives (one LATERAL probe per id on PostgreSQL).
- The daily care rule skips members holding an open care reason, whatever the chunking.
- `tables_analyze` runs on PostgreSQL only, also narrowed to some columns of a table.
"""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.db.models import Count

import members.services as member_services
from duties.maintenance import tables_analyze
from members.models import Member, Purchase, TierChange, TierHold
from members.selectors import ids_filter, rows_per_id
from members.services import member_set_tier, tiers_replay
from members.tiers import month_end
from tests.factories import MemberFactory

D = date.fromisoformat


def _ledger(store, rng: random.Random, members: int) -> list[Member]:
    people = []
    for i in range(members):
        m = MemberFactory(home_store=store, joined_on=D("2024-01-01"))
        people.append(m)
        day = D("2024-01-02")
        n = 0
        while day < D("2025-12-20"):
            day += timedelta(days=rng.randint(5, 60))
            amount = Decimal(rng.choice([800, 2500, 6000, 15000, 30000]))
            n += 1
            Purchase.objects.create(member=m, store=store, receipt_no=f"S{i}-{n}", date=day, amount=amount)
            if rng.random() < 0.2:
                Purchase.objects.create(
                    member=m, store=store, receipt_no=f"S{i}-{n}r", date=day + timedelta(days=2), amount=-amount / 2
                )
    return people


def _history() -> list[tuple]:
    return sorted(TierChange.objects.values_list("member_id", "date", "from_tier", "to_tier", "reason"))


def test_a_large_replay_leaves_the_history_a_lock_first_replay_leaves(store_a, monkeypatch):
    people = _ledger(store_a, random.Random(14), members=25)
    # Inputs the replay keeps, and a hold it heeds.
    with time_machine.travel("2025-03-10 12:00 +0800", tick=False):
        member_set_tier(member=people[0], tier="A", by=None, lock=False)
    TierHold.objects.create(member=people[1], date=month_end(D("2025-06-01")), reason="open complaint")
    with time_machine.travel("2026-01-15 12:00 +0800", tick=False):
        tiers_replay()
        expected, tiers = _history(), dict(Member.objects.values_list("pk", "tier"))

        TierChange.objects.exclude(reason__in=["manual", "import"]).delete()
        Member.objects.update(tier="C")
        # Every run takes the large path, in chunks of 7 members.
        monkeypatch.setattr(member_services, "REPLAY_LOCK_FIRST", 0)
        monkeypatch.setattr(member_services, "REPLAY_CHUNK", 7)
        monkeypatch.setattr(member_services, "REPLAY_CHUNK_SQLITE", 7)
        stats = tiers_replay()
        assert stats.members == 25 and stats.changed_members > 0
        assert _history() == expected
        assert dict(Member.objects.values_list("pk", "tier")) == tiers

        again = tiers_replay()
    assert (again.members, again.changed_members, again.created, again.deleted) == (25, 0, 0, 0)
    assert _history() == expected


def test_a_large_replay_of_one_store_leaves_the_other_alone(store_a, store_b, monkeypatch):
    _ledger(store_a, random.Random(1), members=4)
    others = _ledger(store_b, random.Random(2), members=3)
    monkeypatch.setattr(member_services, "REPLAY_LOCK_FIRST", 0)
    with time_machine.travel("2026-01-15 12:00 +0800", tick=False):
        stats = tiers_replay(store=store_a)
    assert stats.members == 4
    assert not TierChange.objects.filter(member__in=others).exists()
    assert TierChange.objects.filter(member__home_store=store_a).exists()


def test_ids_filter_selects_what_in_selects(store_a):
    people = [MemberFactory(home_store=store_a) for _ in range(5)]
    wanted = [people[0].pk, people[3].pk, 10**9]
    found = ids_filter(Member.objects.all(), "id", wanted)
    assert sorted(found.values_list("pk", flat=True)) == sorted(
        Member.objects.filter(pk__in=wanted).values_list("pk", flat=True)
    )
    assert ids_filter(Member.objects.all(), "id", []).count() == 0


def test_rows_per_id_gives_what_a_filter_on_each_id_gives(store_a):
    people = [MemberFactory(home_store=store_a) for _ in range(6)]
    for person in people[:3]:
        Purchase.objects.create(
            member=person, store=store_a, receipt_no=f"R{person.pk}", date=D("2026-01-05"), amount=Decimal("10")
        )
    wanted = sorted([people[0].pk, people[2].pk, people[4].pk, 10**9])
    rows = Member.objects.values_list("pk", "tier", Count("purchases"))
    expected = sorted(tuple(row) for row in rows.filter(pk__in=wanted).order_by())
    assert sorted(rows_per_id(rows, "pk", wanted)) == expected
    # Several rows per id (an id with none gives none), and in chunks off PostgreSQL.
    bought = Purchase.objects.values_list("member_id", "receipt_no")
    assert sorted(rows_per_id(bought, "member_id", wanted, chunk=1)) == sorted(bought.filter(member_id__in=wanted))
    assert rows_per_id(rows, "pk", []) == []


@pytest.mark.django_db
def test_tables_analyze_runs_on_postgresql_only():
    assert tables_analyze() is (connection.vendor == "postgresql")
    assert tables_analyze(("members_member",), columns={"members_member": ("tier",)}) is (
        connection.vendor == "postgresql"
    )


def test_a_daily_run_that_makes_many_tasks_refreshes_the_statistics(
    store_a, monkeypatch, django_capture_on_commit_callbacks
):
    import visits.generation as generation
    import visits.tasks as visit_tasks

    analyzed = []
    monkeypatch.setattr(generation, "tables_analyze_grown", lambda tables, added: analyzed.append((tables, added)))
    MemberFactory.create_batch(3, home_store=store_a, joined_on=D("2024-01-01"))
    today = D("2025-06-02")

    with time_machine.travel(today, tick=False):
        monkeypatch.setattr(generation, "ANALYZE_AFTER_TASKS", 4)
        with django_capture_on_commit_callbacks(execute=True):
            visit_tasks.daily_duty(store_a.pk, (today - timedelta(days=1)).isoformat())  # three care tasks
        assert analyzed == []  # a day's handful of tasks: autovacuum's business
        monkeypatch.setattr(generation, "ANALYZE_AFTER_TASKS", 3)
        with django_capture_on_commit_callbacks(execute=True):
            visit_tasks.daily_duty(store_a.pk, today.isoformat())  # today makes none: nothing new to sample
        assert analyzed == []

    MemberFactory.create_batch(3, home_store=store_a, joined_on=D("2024-01-01"))
    with time_machine.travel(today + timedelta(days=1), tick=False), django_capture_on_commit_callbacks(execute=True):
        counts = visit_tasks.daily_duty(store_a.pk, (today + timedelta(days=1)).isoformat())

    made = sum(n for key, n in counts[(today + timedelta(days=1)).isoformat()].items() if key != "digests")
    assert made >= 3 and analyzed == [(generation.TASK_TABLES, made)]


def test_a_replay_that_moves_many_tiers_refreshes_the_statistics(store_a, monkeypatch):
    analyzed = []
    monkeypatch.setattr(member_services, "tables_analyze", lambda tables, columns: analyzed.append((tables, columns)))
    monkeypatch.setattr(member_services, "REPLAY_ANALYZE_AFTER", 2)
    people = _ledger(store_a, random.Random(3), 3)

    tiers_replay(member_ids=[people[0].pk])  # one member: autovacuum's business
    assert analyzed == []
    stats = tiers_replay()

    assert stats.changed_members >= 2
    assert analyzed == [(("members_member", "members_tierchange"), {"members_member": ("tier",)})]
