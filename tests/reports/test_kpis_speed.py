"""compute_kpis at chain scale (issue 14): on PostgreSQL its member figures and VIP sales come from
one statement (`_member_sets_sql`), elsewhere from the portable Python form (`_member_sets_python`).

Both are held here to a plain per-member reading of DOMAIN §6 written out below (`reference`), on a
seeded random ledger with what makes the rules subtle: returns, purchases at another store's till,
members joined in the period or after it, transfers after the period (the member still counts for
the store they left), several tier changes on one day (the later id wins), manual changes, review
downgrades and periods of one day, a week across two months, a quarter and a year. On PostgreSQL the
two forms are also compared with each other. And the number of queries does not grow with members.
"""

import random
from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import (
    TIER_RANK,
    Member,
    MemberOwnerChange,
    OwnerChangeReason,
    ProgramRules,
    Purchase,
    Tier,
    TierChange,
    TierChangeReason,
)
from members.selectors import members_home_on
from reports.kpis import Kpis, _member_sets_python, _member_sets_sql, _store_scope, compute_kpis, sales_months
from tests.factories import StoreFactory

D = date.fromisoformat
ZERO = Decimal("0.00")
PERIODS = [
    (D("2026-03-01"), D("2026-03-31")),  # a month
    (D("2026-03-15"), D("2026-03-15")),  # one day
    (D("2026-02-26"), D("2026-03-04")),  # a week across two months: one part for the sales
    (D("2026-01-01"), D("2026-03-31")),  # a quarter: three parts
    (D("2025-01-01"), D("2025-12-31")),  # a year
    (D("2026-02-10"), D("2026-04-20")),  # a range: months clipped to it
]
FIRST, LAST = D("2024-10-01"), D("2026-05-31")


def _day(rng: random.Random, lo: date = FIRST, hi: date = LAST) -> date:
    return lo + timedelta(days=rng.randrange((hi - lo).days + 1))


def build_ledger(stores, *, members: int, seed: int) -> None:
    """`members` random members over `stores`, with purchases, tier changes and transfers."""
    rng = random.Random(seed)
    start = Member.objects.count()
    people = Member.objects.bulk_create(
        Member(
            card_no=f"K{seed:02d}{start + i:06d}",
            name=f"会员{start + i}",
            phone=f"137{seed:02d}{start + i:06d}",
            gender="F",
            home_store=rng.choice(stores),
            joined_on=_day(rng),
        )
        for i in range(members)
    )
    purchases, changes, moves = [], [], []
    for m in people:
        for _ in range(rng.randrange(8)):
            # Mostly after joining; now and then a receipt dated before (an import's old receipt).
            if rng.random() < 0.1:
                day = _day(rng, m.joined_on - timedelta(days=20), m.joined_on - timedelta(days=1))
            else:
                day = _day(rng, m.joined_on)
            amount = Decimal(rng.choice([-300, -50, 80, 200, 999, 2500, 12000]))
            till = m.home_store if rng.random() < 0.8 else rng.choice(stores)
            purchases.append(
                Purchase(member=m, store=till, receipt_no=f"K{seed}-{len(purchases)}", date=day, amount=amount)
            )
        tier = Tier.C
        day = m.joined_on
        for _ in range(rng.randrange(5)):
            day = day + timedelta(days=rng.choice([0, 0, 3, 40, 120]))  # 0: several changes on one day
            to = rng.choice([t for t in Tier.values if t != tier])
            reason = rng.choice([TierChangeReason.PURCHASE, TierChangeReason.REVIEW, TierChangeReason.MANUAL])
            changes.append(TierChange(member=m, date=day, from_tier=tier, to_tier=to, reason=reason))
            tier = to
        if rng.random() < 0.15:
            # Transferred: home store until `day` was another one (DOMAIN §13).
            was = rng.choice([s for s in stores if s != m.home_store])
            moves.append(
                MemberOwnerChange(
                    member=m,
                    date=_day(rng, D("2025-06-01")),
                    store=m.home_store,
                    previous_store=was,
                    reason=OwnerChangeReason.TRANSFER,
                )
            )
    Purchase.objects.bulk_create(purchases)
    TierChange.objects.bulk_create(changes)
    MemberOwnerChange.objects.bulk_create(moves)


def _home_on(member: Member, moves: list[MemberOwnerChange], on: date) -> int:
    later = sorted((mv for mv in moves if mv.member_id == member.pk and mv.date > on), key=lambda mv: (mv.date, mv.pk))
    return later[0].previous_store_id if later else member.home_store_id


def reference(*, store_ids, start: date, end: date, churn: int) -> dict:
    """DOMAIN §6 member by member, straight from the definitions (no shortcut of compute_kpis)."""
    before = start - timedelta(days=1)
    moves = list(MemberOwnerChange.objects.filter(reason=OwnerChangeReason.TRANSFER).exclude(previous_store=None))
    members = [m for m in Member.objects.all() if store_ids is None or _home_on(m, moves, end) in store_ids]
    purchases = list(Purchase.objects.all())
    changes = sorted(TierChange.objects.all(), key=lambda c: (c.date, c.pk))
    k = Kpis(start=start, end=end, store=None)

    def active(m, on):
        if m.joined_on > on:
            return False
        days = [p.date for p in purchases if p.member_id == m.pk and p.amount > 0 and p.date <= on]
        latest = max([m.joined_on, *days])
        return on - timedelta(days=churn - 1) <= latest <= on

    def tier(m, on):
        mine = [c.to_tier for c in changes if c.member_id == m.pk and c.date <= on]
        return mine[-1] if mine else Tier.C

    for m in members:
        period_changes = [c for c in changes if c.member_id == m.pk and start <= c.date <= end]
        downs = [
            c
            for c in period_changes
            if c.reason == TierChangeReason.REVIEW and TIER_RANK[c.to_tier] < TIER_RANK[c.from_tier]
        ]
        k.downgrades += len(downs)
        if downs:
            k.downgraded.add(m.pk)
        if m.joined_on > end:
            continue
        bought = any(p.member_id == m.pk and p.amount > 0 and start <= p.date <= end for p in purchases)
        joined_before = m.joined_on <= before
        if active(m, before):
            k.base.add(m.pk)
            if not active(m, end):
                k.churned.add(m.pk)
            if bought:
                k.repurchased.add(m.pk)
        elif joined_before and bought:
            k.win_backs.add(m.pk)
        if joined_before and tier(m, before) in (Tier.B, Tier.C):
            k.upgrade_base.add(m.pk)
            if any(c.is_upgrade for c in period_changes):
                k.upgraded.add(m.pk)
        if m.joined_on >= start:
            k.new_members.add(m.pk)
        k.tier_mix[tier(m, end)].add(m.pk)
    joined = dict(Member.objects.values_list("pk", "joined_on"))
    for part in sales_months(start, end):
        for p in purchases:
            at_till = store_ids is None or p.store_id in store_ids
            if at_till and part.start <= p.date <= part.end and joined[p.member_id] <= part.end:
                if joined[p.member_id] >= part.start:
                    k.new_vip_sales += p.amount
                else:
                    k.old_vip_sales += p.amount
    return _member_figures(k)


def _member_figures(k: Kpis) -> dict:
    found = asdict(k)
    for key in ("follow_ups", "satisfaction", "complaints", "store"):
        found.pop(key)
    return found


@pytest.fixture
def chain(db):
    stores = [StoreFactory(code=f"K{i}") for i in range(3)]
    build_ledger(stores, members=70, seed=14)
    # A receipt from before joining, in the month before: in a quarter it belongs to January's
    # sales, where the member had not joined yet (out of both), not to the quarter's "new".
    early = Member.objects.create(
        card_no="K-early", name="早", phone="13600000000", home_store=stores[0], joined_on=D("2026-02-05")
    )
    Purchase.objects.create(member=early, store=stores[0], receipt_no="K-early", date=D("2026-01-25"), amount=700)
    return stores


@pytest.mark.parametrize("start,end", PERIODS)
def test_the_figures_are_domain_6_member_by_member(chain, start, end):
    churn = ProgramRules.load().churn_days
    a, b, _c = (s.pk for s in chain)
    for store_ids in ([a], [b, a], None, []):
        k = compute_kpis(start=start, end=end, store_ids=store_ids)
        assert _member_figures(k) == reference(store_ids=store_ids, start=start, end=end, churn=churn), store_ids


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL form is PostgreSQL's")
@pytest.mark.parametrize("start,end", PERIODS)
def test_the_sql_form_equals_the_portable_form(chain, start, end):
    churn = ProgramRules.load().churn_days
    for store_ids in ([chain[0].pk], [chain[1].pk, chain[2].pk], None):
        in_sql, in_python = Kpis(start=start, end=end, store=None), Kpis(start=start, end=end, store=None)
        _member_sets_sql(in_sql, store_ids=store_ids, churn=churn)
        _member_sets_python(in_python, store_ids=store_ids, churn=churn)
        assert asdict(in_sql) == asdict(in_python), store_ids
        assert in_sql.base and in_sql.tier_mix[Tier.C]  # the ledger exercises the figures


def test_the_stores_scope_is_their_members_on_the_day(chain):
    """`_store_scope` (the stores' own members UNION ALL those who left them later, issue 14) is
    `members_home_on` exactly, each member once, on days before, between and after the transfers."""
    moves = MemberOwnerChange.objects.filter(reason=OwnerChangeReason.TRANSFER)
    assert moves.exists()
    days = sorted({FIRST, LAST, *(d for mv in moves for d in (mv.date - timedelta(days=1), mv.date))})
    a, b, c = (s.pk for s in chain)
    for on in days:
        for store_ids in ([a], [b, a], [c]):
            with connection.cursor() as cursor:
                cursor.execute(*_store_scope(store_ids=store_ids, on=on))
                found = cursor.fetchall()
            expected = set(members_home_on(store_ids=store_ids, on=on).values_list("pk", "joined_on"))
            assert len(found) == len(set(found)) and set(found) == expected, (on, store_ids)


def _queries(**kwargs) -> int:
    with CaptureQueriesContext(connection) as captured:
        compute_kpis(**kwargs)
    return len(captured)


@pytest.mark.parametrize("start,end", [PERIODS[0], PERIODS[3]])
def test_the_number_of_queries_does_not_grow_with_members(chain, start, end):
    one, every = {"store_ids": [chain[0].pk]}, {"store_ids": None}
    ProgramRules.load()  # the first load creates the rules' row
    small = (_queries(start=start, end=end, **one), _queries(start=start, end=end, **every))
    build_ledger(chain, members=300, seed=15)
    assert (_queries(start=start, end=end, **one), _queries(start=start, end=end, **every)) == small
    # PostgreSQL: the rules, one statement for the members and the sales, follow-ups, satisfaction,
    # complaints (with their rules), whatever the period. The portable form: the rules, the members,
    # their purchases, their tier changes, the same four, and one sales read per month of a quarter.
    parts = len(sales_months(start, end))
    assert small == ((5, 5) if connection.vendor == "postgresql" else (7 + (parts > 1) * parts,) * 2)


def test_a_stores_vip_sales_split_its_own_and_other_members_receipts(db):
    # The store's tills take their own members' joining day from the statement's scope and look up
    # other stores' members (and anyone not in the scope) one by one: both split by the same rule.
    here, there = StoreFactory(code="KH"), StoreFactory(code="KT")
    start, end = D("2026-03-01"), D("2026-03-31")
    receipts = [  # (home store, joined on, amount): old before March, new in it, out after it
        (here, D("2025-06-01"), 100),
        (here, D("2026-03-10"), 200),
        (there, D("2025-06-01"), 400),
        (there, D("2026-03-02"), 800),
        (there, D("2026-04-02"), 1600),
    ]
    for i, (home, joined_on, amount) in enumerate(receipts):
        member = Member.objects.create(
            card_no=f"KS{i}", name=f"店{i}", phone=f"1360000010{i}", home_store=home, joined_on=joined_on
        )
        Purchase.objects.create(member=member, store=here, receipt_no=f"KS{i}", date=D("2026-03-20"), amount=amount)
    k = compute_kpis(start=start, end=end, store_ids=[here.pk])
    assert (k.old_vip_sales, k.new_vip_sales) == (Decimal("500.00"), Decimal("1000.00"))
    assert compute_kpis(start=start, end=end, store_ids=[there.pk]).old_vip_sales == ZERO
