"""The replay on integers (issue 14: `rebuild_tiers` from scratch ≤ 15 s at 1M purchases) gives
exactly the history of the engine it replaced.

- `replay` (day numbers and cents inside) equals a reference copy of the former engine (dates,
  Decimals, a deque window) on thousands of random ledgers: returns, several purchases a day,
  manual/import inputs, holds, reviews through a day before `through`, purchases after it.
- `replay_days` takes a day once per purchase as well as once with the day's sum.
- Thresholds stay exact in cents, also for a minimum with more decimals than money has.
- `tiers_replay` in small chunks, read unlocked then locked (and locking first once many change),
  writes per member exactly what `replay` computes, then nothing on a second run; its tier-change
  read is ordered by member first (ordered by date, PostgreSQL once filtered a whole chunk's ids
  per row of the (date, reason) index: minutes at 1M purchases).
- Purchases filed out of date order are replayed in date order (PostgreSQL reads them through a
  sorted subquery, checked here with the indexes out of play).
- Members whose purchases together stay under B are not replayed from their purchases (PostgreSQL
  leaves them out of its read) unless they have an input change, with the same history; a sparse
  chunk of ids is read as a range and an array.
"""

import random
import re
from collections import deque
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

import members.services as member_services
from members.models import TIER_RANK, Member, Purchase, TierChange, TierHold
from members.services import member_set_tier, tiers_replay
from members.tiers import (
    Change,
    InputChange,
    TierRules,
    money_scale,
    month_end,
    replay,
    replay_days,
    thresholds,
)
from tests.factories import MemberFactory

D = date.fromisoformat
RULES = TierRules(a_min=Decimal("50000"), b_min=Decimal("10000"), window_days=365)


def reference_replay(*, joined_on, purchases, inputs=(), rules, through, reviews_through=None, holds=frozenset()):
    """The engine as it was before integers (members/tiers.py until issue 14), kept as the oracle."""
    zero = Decimal("0.00")
    tiers = ("C", "B", "A")
    if reviews_through is None:
        reviews_through = through
    reviews_through = min(reviews_through, through)
    day_totals = {}
    for d, amount in purchases:
        if d <= through:
            day_totals[d] = day_totals.get(d, zero) + amount
    inputs_by_day = {}
    for change in sorted(inputs, key=lambda c: (c.date, c.id)):
        inputs_by_day.setdefault(change.date, []).append(change)
    days = sorted(set(day_totals) | set(inputs_by_day))
    span = timedelta(days=rules.window_days - 1)
    window = deque()
    state = {"sum": zero, "rank": 0}
    changes = []

    def review(e):
        if e in holds:
            return
        while window and window[0][0] < e - span:
            state["sum"] -= window.popleft()[1]
        s = state["sum"]
        target = 2 if s >= rules.a_min else 1 if s >= rules.b_min else 0
        if target < state["rank"]:
            changes.append(Change(e, tiers[state["rank"]], tiers[target], "review"))
            state["rank"] = target

    next_review = month_end(joined_on)
    for d in days:
        while next_review < d and next_review <= reviews_through:
            if state["rank"] == 0:
                next_review = month_end(d)
                break
            review(next_review)
            next_review = month_end(next_review + timedelta(days=1))
        for change in inputs_by_day.get(d, ()):
            changes.append(Change(d, tiers[state["rank"]], change.to_tier, change.reason, input_id=change.id))
            state["rank"] = TIER_RANK[change.to_tier]
        if d in day_totals:
            window.append((d, day_totals[d]))
            state["sum"] += day_totals[d]
            while window[0][0] < d - span:
                state["sum"] -= window.popleft()[1]
            s = state["sum"]
            target = 2 if s >= rules.a_min else 1 if s >= rules.b_min else 0
            if target > state["rank"]:
                changes.append(Change(d, tiers[state["rank"]], tiers[target], "purchase"))
                state["rank"] = target
        if d == next_review and d <= reviews_through:
            review(d)
            next_review = month_end(d + timedelta(days=1))
    while state["rank"] != 0 and next_review <= reviews_through:
        review(next_review)
        next_review = month_end(next_review + timedelta(days=1))
    return changes


AMOUNTS = ["800", "2500", "6000", "9999.99", "10000", "15000", "30000", "49999.99", "50000.01"]


def random_ledger(rng: random.Random) -> dict:
    joined = D("2023-01-01") + timedelta(days=rng.randint(0, 500))
    through = D("2025-12-31") - timedelta(days=rng.randint(0, 200))
    purchases = []
    for _ in range(rng.randint(0, 14)):
        day = joined + timedelta(days=rng.randint(0, 1100))
        amount = Decimal(rng.choice(AMOUNTS))
        purchases.append((day, amount))
        if rng.random() < 0.2:  # a return, part or whole, days later
            purchases.append((day + timedelta(days=rng.choice([0, 2, 40])), -(amount / rng.choice([1, 2, 4]))))
        if rng.random() < 0.1:  # another receipt the same day
            purchases.append((day, Decimal(rng.choice(AMOUNTS))))
    inputs = [
        InputChange(
            100 + k, joined + timedelta(days=rng.randint(0, 1000)), rng.choice("ABC"), rng.choice(["manual", "import"])
        )
        for k in range(rng.choice([0, 0, 0, 1, 2]))
    ]
    holds = {month_end(joined + timedelta(days=rng.randint(0, 1000))) for _ in range(rng.choice([0, 0, 1, 3]))}
    return {
        "joined_on": joined,
        "purchases": purchases,
        "inputs": inputs,
        "through": through,
        "reviews_through": through - timedelta(days=rng.choice([0, 1, 40])),
        "holds": holds,
    }


def keys(changes) -> list[tuple]:
    return [(c.date, c.from_tier, c.to_tier, c.reason, c.input_id) for c in changes]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_integer_replay_equals_the_former_engine_on_random_ledgers(seed):
    rng = random.Random(seed)
    seen = set()
    for _ in range(3000):
        ledger = random_ledger(rng)
        expected = keys(reference_replay(rules=RULES, **ledger))
        assert keys(replay(rules=RULES, **ledger)) == expected, ledger
        seen.update(c[3] for c in expected)
    assert seen == {"purchase", "review", "manual", "import"}


def test_replay_days_takes_a_day_per_purchase_or_per_day():
    rng = random.Random(14)
    for _ in range(2000):
        ledger = random_ledger(rng)
        ledger["inputs"] = []
        expected = keys(reference_replay(rules=RULES, **ledger))
        scale = money_scale(a for _, a in ledger["purchases"])  # a quarter returned: 1/10,000ths
        rows = sorted((d.toordinal(), int(a * scale)) for d, a in ledger["purchases"] if d <= ledger["through"])
        a_min, b_min = thresholds(RULES, scale)
        got = replay_days(
            ledger["joined_on"].toordinal(),
            [d for d, _ in rows],
            [c for _, c in rows],
            a_min=a_min,
            b_min=b_min,
            span=RULES.window_days - 1,
            reviews_through=min(ledger["reviews_through"], ledger["through"]).toordinal(),
            holds={h.toordinal() for h in ledger["holds"]},
        )
        assert [(date.fromordinal(c[0]), *c[1:], None) for c in got] == expected


def test_thresholds_stay_exact_in_cents():
    assert thresholds(RULES, 100) == (5_000_000, 1_000_000)
    odd = TierRules(a_min=Decimal("50000.005"), b_min=Decimal("10000.001"), window_days=365)
    assert thresholds(odd, 100) == (5_000_001, 1_000_001)  # s ≥ 1,000,000.1 ⇔ s ≥ 1,000,001
    joined = D("2024-01-01")
    just_under = [(D("2024-03-01"), Decimal("10000.00"))]
    assert replay(joined_on=joined, purchases=just_under, rules=odd, through=D("2024-03-31")) == []
    assert [
        c.to_tier for c in replay(joined_on=joined, purchases=just_under, rules=RULES, through=D("2024-03-31"))
    ] == ["B"]
    # Amounts with more decimals than money are scaled further, never rounded.
    assert money_scale([Decimal("1.5"), Decimal("2.25")]) == 100
    assert money_scale([Decimal("0.001")]) == 1000
    fine = [(D("2024-03-01"), Decimal("9999.995")), (D("2024-03-02"), Decimal("0.004"))]
    assert replay(joined_on=joined, purchases=fine, rules=RULES, through=D("2024-03-31")) == []
    fine.append((D("2024-03-03"), Decimal("0.001")))
    assert [c.date for c in replay(joined_on=joined, purchases=fine, rules=RULES, through=D("2024-03-31"))] == [
        D("2024-03-03")
    ]


def _ledgers(store, rng: random.Random, members: int) -> list[Member]:
    people = []
    for i in range(members):
        m = MemberFactory(home_store=store, joined_on=D("2024-01-01") + timedelta(days=rng.randint(0, 200)))
        people.append(m)
        day, n = m.joined_on, 0
        while day < D("2025-12-20"):
            day += timedelta(days=rng.randint(3, 70))
            for _ in range(rng.choice([1, 1, 1, 2])):  # sometimes two receipts a day
                n += 1
                amount = Decimal(rng.choice(AMOUNTS))
                Purchase.objects.create(member=m, store=store, receipt_no=f"R{i}-{n}", date=day, amount=amount)
                if rng.random() < 0.15:
                    n += 1
                    Purchase.objects.create(
                        member=m, store=store, receipt_no=f"R{i}-{n}", date=day + timedelta(days=1), amount=-amount / 2
                    )
    return people


def _expected(member: Member, today: date) -> list[tuple]:
    """What `replay` computes for the member from what is on file (reviews through yesterday)."""
    inputs = [
        InputChange(c.pk, c.date, c.to_tier, c.reason)
        for c in TierChange.objects.filter(member=member, reason__in=["manual", "import"])
    ]
    changes = replay(
        joined_on=member.joined_on,
        purchases=list(Purchase.objects.filter(member=member).values_list("date", "amount")),
        inputs=inputs,
        rules=RULES,
        through=today,
        reviews_through=today - timedelta(days=1),
        holds=set(TierHold.objects.filter(member=member).values_list("date", flat=True)),
    )
    return [(c.date, c.from_tier, c.to_tier, c.reason) for c in changes]


def _history(member: Member) -> list[tuple]:
    return list(
        TierChange.objects.filter(member=member)
        .order_by("date", "id")
        .values_list("date", "from_tier", "to_tier", "reason")
    )


@pytest.mark.parametrize("lock_first_share", [4, 10**6])
def test_a_chunked_rebuild_writes_what_replay_computes(store_a, monkeypatch, lock_first_share):
    people = _ledgers(store_a, random.Random(140), members=12)
    with time_machine.travel("2025-03-10 12:00 +0800", tick=False):
        member_set_tier(member=people[0], tier="A", by=None, lock=False)
    TierHold.objects.create(member=people[1], date=month_end(D("2025-06-01")), reason="open complaint")
    monkeypatch.setattr(member_services, "REPLAY_LOCK_FIRST", 0)
    monkeypatch.setattr(member_services, "REPLAY_CHUNK", 5)
    monkeypatch.setattr(member_services, "REPLAY_CHUNK_SQLITE", 5)
    # 4: a chunk with a quarter changed makes the next ones lock first; 10**6: never.
    monkeypatch.setattr(member_services, "REPLAY_LOCK_FIRST_SHARE", lock_first_share)
    today = D("2026-01-15")
    on_file = TierChange.objects.count()  # the manual change and the replay it made for people[0]
    with time_machine.travel("2026-01-15 12:00 +0800", tick=False), CaptureQueriesContext(connection) as queries:
        stats = tiers_replay()
    assert stats.members == 12 and stats.changed_members > 0 and stats.deleted == 0
    for m in people:
        m.refresh_from_db()
        expected = _expected(m, today)
        assert _history(m) == expected
        assert m.tier == (expected[-1][2] if expected else "C")
    assert TierChange.objects.count() - on_file == stats.created - stats.deleted
    # Tier changes are read by member first, never in date order across a chunk.
    reads = [q["sql"] for q in queries.captured_queries if re.search(r'FROM "?members_tierchange"? WHERE', q["sql"])]
    # (The ORM's SQL names the column by its place: member_id is the second.)
    by_member = re.compile(r'ORDER BY ("?(members_tierchange"?\."?)?member_id|2 ASC)')
    assert reads and all(by_member.search(sql) for sql in reads)

    with time_machine.travel("2026-01-15 12:00 +0800", tick=False):
        again = tiers_replay()
    assert (again.members, again.changed_members, again.created, again.deleted) == (12, 0, 0, 0)


def test_purchases_recorded_out_of_date_order_are_replayed_in_date_order(store_a, monkeypatch):
    """Back-dated receipts and imports file purchases out of date order: the ledger read puts each
    member's days in order itself (PostgreSQL: a sorted subquery feeds the arrays)."""
    rng = random.Random(41)
    people = [MemberFactory(home_store=store_a, joined_on=D("2024-01-01")) for _ in range(4)]
    rows = [
        (m, D("2024-01-02") + timedelta(days=rng.randint(0, 700)), Decimal(rng.choice(AMOUNTS)))
        for m in people
        for _ in range(14)
    ]
    rng.shuffle(rows)
    for n, (m, day, amount) in enumerate(rows):
        Purchase.objects.create(member=m, store=store_a, receipt_no=f"O{n}", date=day, amount=amount)
    monkeypatch.setattr(member_services, "REPLAY_LOCK_FIRST", 0)
    if connection.vendor == "postgresql":  # a table scan: no index hands them over in order by chance
        with connection.cursor() as cursor:
            for scan in ("indexscan", "indexonlyscan", "bitmapscan"):
                cursor.execute(f"SET LOCAL enable_{scan} = off")
    with time_machine.travel("2026-01-15 12:00 +0800", tick=False):
        stats = tiers_replay()
    expected = {m: _expected(m, D("2026-01-15")) for m in people}
    assert stats.changed_members > 0 and any(c[3] == "review" for changes in expected.values() for c in changes)
    for m in people:
        m.refresh_from_db()
        assert _history(m) == expected[m]
        assert m.tier == (expected[m][-1][2] if expected[m] else "C")


def test_a_rebuild_rewrites_only_what_differs(store_a, monkeypatch):
    people = _ledgers(store_a, random.Random(7), members=6)
    monkeypatch.setattr(member_services, "REPLAY_LOCK_FIRST", 0)
    with time_machine.travel("2026-01-15 12:00 +0800", tick=False):
        tiers_replay()
        target = next(m for m in people if TierChange.objects.filter(member=m).count() >= 2)
        kept = TierChange.objects.filter(member=target).order_by("date", "id").first()
        TierChange.objects.filter(member=target).exclude(pk=kept.pk).update(to_tier="C")  # history gone wrong
        wrong = TierChange.objects.filter(member=target).count() - 1
        stats = tiers_replay()
    assert (stats.changed_members, stats.deleted, stats.created) == (1, wrong, wrong)
    assert TierChange.objects.filter(pk=kept.pk).exists()
    assert _history(target) == _expected(target, D("2026-01-15"))


def test_members_under_b_all_along_keep_the_same_history(store_a, monkeypatch):
    monkeypatch.setattr(member_services, "REPLAY_LOCK_FIRST", 0)
    small, returned, with_input, stale = (
        MemberFactory(home_store=store_a, joined_on=D("2024-01-05")) for _ in range(4)
    )
    for n, (m, day, amount) in enumerate(
        [
            (small, "2024-02-01", "4000"),
            (small, "2024-03-01", "5999.99"),  # 9,999.99 together: under B
            (returned, "2024-02-01", "12000"),  # B for a while, then returned: 0 together
            (returned, "2024-04-01", "-12000"),
            (with_input, "2024-02-01", "3000"),
            (stale, "2024-02-01", "500"),
        ]
    ):
        Purchase.objects.create(member=m, store=store_a, receipt_no=f"U{n}", date=D(day), amount=Decimal(amount))
    with time_machine.travel("2024-06-10 12:00 +0800", tick=False):
        member_set_tier(member=with_input, tier="A", by=None, lock=False)
    # A history on file that the replay must remove: a B the purchases never earned.
    TierChange.objects.create(member=stale, date=D("2024-02-01"), from_tier="C", to_tier="B", reason="purchase")
    Member.objects.filter(pk=stale.pk).update(tier="B")
    with time_machine.travel("2026-01-15 12:00 +0800", tick=False):
        stats = tiers_replay()
        again = tiers_replay(member_ids=[small.pk, returned.pk, with_input.pk, stale.pk])
    assert stats.deleted == 1 and (again.changed_members, again.created, again.deleted) == (0, 0, 0)
    for m in (small, returned, with_input, stale):
        m.refresh_from_db()
        expected = _expected(m, D("2026-01-15"))
        assert _history(m) == expected
        assert m.tier == (expected[-1][2] if expected else "C")
    assert _history(small) == [] and _history(stale) == []
    assert [c[2] for c in _history(returned)] == ["B", "C"]
    assert [(c[2], c[3]) for c in _history(with_input)][0] == ("A", "manual")


def test_a_sparse_chunk_is_read_as_a_range_and_an_array():
    dense = list(range(100, 200))
    assert member_services._pg_member_filter("m", dense) == ("m BETWEEN %s AND %s", [100, 199])
    sparse = list(range(100, 300, 2))  # a range twice the chunk: one other id per own
    array = "m = ANY((SELECT %s::bigint[])::bigint[])"  # a value the planner does not estimate id by id
    assert member_services._pg_member_filter("m", sparse)[0] == f"m BETWEEN %s AND %s AND {array}"
    scattered = list(range(100, 10_000, 50))
    assert member_services._pg_member_filter("m", scattered) == (array, ["{" + ",".join(map(str, scattered)) + "}"])
