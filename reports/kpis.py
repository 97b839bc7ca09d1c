"""The KPIs of DOMAIN §6, exactly, for a store (or all stores) and any period.

For a period P = [S, E] and S⁻ = S − 1 day:
- active(m, D): m joined on or before D, and the later of its join date and its last purchase with
  amount > 0 dated ≤ D lies in [D − churn_days + 1, D].
- tier(m, D): the tier after all changes dated ≤ D (C before any).
- base = {m : active(m, S⁻)}, by the member's home store.

Store attribution (DOMAIN §6, §13): a member's figures belong to their home store on E (a member
transferred after E still counts for the store they left); the old/new VIP sales belong to the
store whose till took the receipt, whoever's member bought.

Set-based: a handful of queries whatever the number of members. On PostgreSQL the member figures
and the VIP sales are one statement that classifies the members in SQL and returns each figure as
an array of member ids (`_member_sets_sql`, issue 14); elsewhere the members with their purchase
figures and tier history are read and classified in Python (`_member_sets_python`, the portable
form the tests hold it equal to). Then tasks, visits and complaints. Each figure keeps the members
behind it, so a report can link every number to its people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection

from complaints.selectors import complaint_figures
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
from members.selectors import KpiMemberRow, kpi_ledger, members_home_on, tier_changes_through, vip_sales_by_store
from vipcrm.rates import Rate, ratio
from visits.selectors import follow_up_figures, satisfaction_figures

from .periods import Period, parse_month

ZERO = Decimal("0.00")

__all__ = ["Kpis", "compute_kpis", "is_active", "parse_month", "ratio", "Rate", "sales_months", "vip_sales_split"]


def sales_months(start: date, end: date) -> list[Period]:
    """The parts DOMAIN §6 computes old / new VIP sales over: for a period spanning several months
    (a quarter, a year, a range, a year to date) its months, each clipped to the period, whose
    figures are summed, so that a quarter equals its three months; a month, a month to date or a
    Monday–Sunday week is one part (a week's "new" is joined in that week)."""
    period = Period.range(start, end)
    months = period.months()
    if len(months) > 1 and period.days > 7:
        return months
    return [period]


def vip_sales_split(*, store_ids: list[int] | None, start: date, end: date) -> dict[int, tuple[Decimal, Decimal]]:
    """(old-VIP sales, new-VIP sales) per store whose till took the receipt in [start, end], summed
    month by month (`sales_months`): one query per month."""
    found: dict[int, tuple[Decimal, Decimal]] = {}
    for part in sales_months(start, end):
        for store_id, (old, new) in vip_sales_by_store(store_ids=store_ids, start=part.start, end=part.end).items():
            was_old, was_new = found.get(store_id, (ZERO, ZERO))
            found[store_id] = (was_old + old, was_new + new)
    return found


def is_active(row: KpiMemberRow, on: date, last_purchase: date | None, churn_days: int) -> bool:
    if row.joined_on > on:
        return False
    latest = max(row.joined_on, last_purchase) if last_purchase else row.joined_on
    return on - timedelta(days=churn_days - 1) <= latest <= on


@dataclass
class Kpis:
    start: date
    end: date
    store: str | None
    base: set[int] = field(default_factory=set)
    churned: set[int] = field(default_factory=set)
    repurchased: set[int] = field(default_factory=set)
    win_backs: set[int] = field(default_factory=set)
    upgrade_base: set[int] = field(default_factory=set)
    upgraded: set[int] = field(default_factory=set)
    downgraded: set[int] = field(default_factory=set)
    downgrades: int = 0
    new_members: set[int] = field(default_factory=set)
    tier_mix: dict[str, set[int]] = field(default_factory=lambda: {t: set() for t in Tier.values})
    old_vip_sales: Decimal = ZERO
    new_vip_sales: Decimal = ZERO
    follow_ups: dict = field(default_factory=dict)
    satisfaction: dict = field(default_factory=dict)
    complaints: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        """The object `report_kpis --json` prints and the monthly API returns."""
        members_at_end = sum(len(ids) for ids in self.tier_mix.values())
        due = self.follow_ups.get("due", 0)
        scored = self.satisfaction.get("scored", 0)
        mean = self.satisfaction.get("mean")
        return {
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "store": self.store,
            "churn_rate": ratio(len(self.churned), len(self.base)),
            "repurchase_rate": ratio(len(self.repurchased), len(self.base)),
            "upgrade_rate": ratio(len(self.upgraded), len(self.upgrade_base)),
            "active_at_start": len(self.base),
            "win_backs": len(self.win_backs),
            "downgrades": self.downgrades,
            "new_members": len(self.new_members),
            "tier_mix": {
                tier: {"count": len(ids), "share": round(len(ids) / members_at_end, 4) if members_at_end else None}
                for tier, ids in self.tier_mix.items()
            },
            "old_vip_sales": str(self.old_vip_sales),
            "new_vip_sales": str(self.new_vip_sales),
            "follow_up_completion": ratio(self.follow_ups.get("done", 0), due),
            "follow_up_on_time": ratio(self.follow_ups.get("on_time", 0), due),
            "satisfaction": {
                "scored": scored,
                "mean": round(float(mean), 2) if mean is not None else None,
                "satisfied": ratio(self.satisfaction.get("satisfied", 0), scored),
            },
            "complaints": self.complaints,
        }

    def members_behind(self, figure: str) -> set[int]:
        """The members a figure counts, for the drill-down links."""
        if figure.startswith("tier_"):
            return self.tier_mix[figure.removeprefix("tier_")]
        return getattr(self, figure)


def _tiers_at(changes, on: date) -> dict[int, str]:
    tiers: dict[int, str] = {}
    for member_id, day, _from, to, _reason in changes:
        if day <= on:
            tiers[member_id] = to
    return tiers


def compute_kpis(
    *,
    start: date,
    end: date,
    store_ids: list[int] | None = None,
    store_label: str | None = None,
    rules: ProgramRules | None = None,
) -> Kpis:
    """All DOMAIN §6 figures for [start, end] over the stores (all when None)."""
    if end < start:
        raise ValueError("the period ends before it starts")
    rules = rules or ProgramRules.load()
    k = Kpis(start=start, end=end, store=store_label)
    if connection.vendor == "postgresql":
        _member_sets_sql(k, store_ids=store_ids, churn=rules.churn_days)
    else:
        _member_sets_python(k, store_ids=store_ids, churn=rules.churn_days)
    _service_figures(k, store_ids=store_ids, rules=rules)
    return k


def _member_sets_python(k: Kpis, *, store_ids: list[int] | None, churn: int) -> None:
    """The member figures and the VIP sales in Python, from the members' purchase figures and tier
    history (SQLite: the portable form of `_member_sets_sql`)."""
    start, end = k.start, k.end
    before = start - timedelta(days=1)
    # Purchases before the churn window of the day before the period cannot change who is active.
    ledger = kpi_ledger(store_ids=store_ids, start=start, end=end, since=before - timedelta(days=churn - 1))
    rows = ledger.rows
    k.old_vip_sales, k.new_vip_sales = ledger.old_vip_sales, ledger.new_vip_sales
    if len(sales_months(start, end)) > 1:
        # DOMAIN §6: a quarter's (a year's, a range's) old / new VIP sales are its months' summed:
        # a member who joined in October is new in October's sales and old in November's.
        split = vip_sales_split(store_ids=store_ids, start=start, end=end).values()
        k.old_vip_sales = sum((old for old, _new in split), ZERO)
        k.new_vip_sales = sum((new for _old, new in split), ZERO)
    changes = tier_changes_through(store_ids=store_ids, through=end)
    tier_before = _tiers_at(changes, before)
    tier_end = _tiers_at(changes, end)
    upgraded_in_period: set[int] = set()
    for member_id, day, from_tier, to_tier, reason in changes:
        if start <= day <= end:
            if TIER_RANK[to_tier] > TIER_RANK[from_tier]:
                upgraded_in_period.add(member_id)
            elif reason == TierChangeReason.REVIEW and TIER_RANK[to_tier] < TIER_RANK[from_tier]:
                k.downgrades += 1
                k.downgraded.add(member_id)

    for row in rows:
        joined_before = row.joined_on <= before
        active_before = is_active(row, before, row.last_before, churn)
        if active_before:
            k.base.add(row.pk)
            if not is_active(row, end, row.last_by_end, churn):
                k.churned.add(row.pk)
            if row.bought_in_period:
                k.repurchased.add(row.pk)
        elif joined_before and row.bought_in_period:
            k.win_backs.add(row.pk)
        if joined_before and tier_before.get(row.pk, Tier.C) in (Tier.B, Tier.C):
            k.upgrade_base.add(row.pk)
            if row.pk in upgraded_in_period:
                k.upgraded.add(row.pk)
        if row.joined_on >= start:
            k.new_members.add(row.pk)
        k.tier_mix[tier_end.get(row.pk, Tier.C)].add(row.pk)


def _rank_sql(column: str) -> str:
    """A tier column's rank (TIER_RANK) as SQL."""
    whens = " ".join(f"WHEN '{tier}' THEN {rank}" for tier, rank in TIER_RANK.items())
    return f"(CASE {column} {whens} END)"


# The member figures in one statement (PostgreSQL, issue 14): the members in scope (home store on
# E), their purchase figures from the churn window of S⁻ on (an older purchase cannot make anyone
# active on S⁻ or E), their tier on S⁻ and on E (the last change on or before the day: the largest
# [date, id], no sort per member) and the period's tier moves, classified in SQL; each figure comes
# back as one array of member ids, so Python builds sets and never sees a row per member. With them,
# the old / new VIP sales of the stores' tills, each receipt split by the start of its part of the
# period (`sales_months`). The same rules as `_member_sets_python`, which the tests hold it equal to.
_MEMBER_SETS_SQL = """
WITH scope (id, joined_on) AS {materialized} ({scope}),
bought AS (
    SELECT p.member_id,
           MAX(p.date) FILTER (WHERE p.date <= %(before)s) AS last_before,
           MAX(p.date) AS last_by_end
      FROM {purchase} p
     WHERE p.amount > 0 AND p.date >= %(since)s AND p.date <= %(end)s {purchase_scope}
     GROUP BY p.member_id
),
tiers AS (
    SELECT c.member_id,
           (MAX(ARRAY[c.date - %(end)s, c.id, {to_rank}]) FILTER (WHERE c.date <= %(before)s))[3] AS before,
           (MAX(ARRAY[c.date - %(end)s, c.id, {to_rank}]))[3] AS at_end,
           BOOL_OR(c.date >= %(start)s AND {to_rank} > {from_rank}) AS upgraded,
           COUNT(*) FILTER (
               WHERE c.date >= %(start)s AND c.reason = %(review)s AND {to_rank} < {from_rank}
           ) AS downgrades
      FROM {tierchange} c
     WHERE c.date <= %(end)s {tier_scope}
     GROUP BY c.member_id
),
member AS (
    SELECT s.id, s.joined_on,
           s.joined_on <= %(end)s AS counted,
           s.joined_on <= %(before)s AS joined_before,
           s.joined_on <= %(before)s
               AND GREATEST(s.joined_on, b.last_before) BETWEEN %(before_from)s AND %(before)s AS active_before,
           GREATEST(s.joined_on, b.last_by_end) BETWEEN %(end_from)s AND %(end)s AS active_end,
           COALESCE(b.last_by_end >= %(start)s, FALSE) AS in_period,  -- its last purchase by E is in P
           COALESCE(t.before, %(first_rank)s) AS rank_before,
           COALESCE(t.at_end, %(first_rank)s) AS rank_end,
           COALESCE(t.upgraded, FALSE) AS upgraded,
           COALESCE(t.downgrades, 0) AS downgrades
      FROM scope s
      LEFT JOIN bought b ON b.member_id = s.id
      LEFT JOIN tiers t ON t.member_id = s.id
    OFFSET 0  -- a member's figures computed once, not again in each figure's filter that reads them
),
receipt AS {receipt_materialized} (
    SELECT p.amount, {joined_on} AS joined_on,
           CASE WHEN %(by_month)s THEN p.date - (EXTRACT(DAY FROM p.date)::int - 1) END AS month
      FROM {purchase} p {till_join}
     WHERE p.date >= %(start)s AND p.date <= %(end)s {till_scope}
),
part AS (  -- the receipt's part of the period: its month clipped to the period, or the period
    SELECT amount, joined_on,
           GREATEST(month, %(start)s) AS part_start,  -- GREATEST and LEAST skip a NULL month
           LEAST((month + INTERVAL '1 month')::date - 1, %(end)s) AS part_end
      FROM receipt
),
till AS (
    SELECT SUM(amount) FILTER (WHERE joined_on < part_start) AS old,
           SUM(amount) FILTER (WHERE joined_on >= part_start) AS new
      FROM part
     WHERE joined_on <= part_end
)
SELECT ARRAY_AGG(id) FILTER (WHERE counted AND active_before),
       ARRAY_AGG(id) FILTER (WHERE counted AND active_before AND NOT active_end),
       ARRAY_AGG(id) FILTER (WHERE counted AND active_before AND in_period),
       ARRAY_AGG(id) FILTER (WHERE counted AND NOT active_before AND joined_before AND in_period),
       ARRAY_AGG(id) FILTER (WHERE counted AND joined_before AND rank_before = ANY(%(upgradable)s)),
       ARRAY_AGG(id) FILTER (WHERE counted AND joined_before AND rank_before = ANY(%(upgradable)s) AND upgraded),
       ARRAY_AGG(id) FILTER (WHERE counted AND joined_on >= %(start)s),
       ARRAY_AGG(id) FILTER (WHERE downgrades > 0),
       COALESCE(SUM(downgrades), 0),
       (SELECT old FROM till),
       (SELECT new FROM till),
       {tier_mix}
  FROM member
"""


def _store_scope(*, store_ids: list[int], on: date) -> tuple[str, list]:
    """The SQL and parameters of (id, joined_on) of `members_home_on(store_ids, on)` as the stores'
    own members UNION ALL the few who left them after `on` (issue 14). Its one OR over both is a
    bitmap that reads the heap page of each of the stores' members: the members are interleaved by
    id, so nearly every page of the chain's member table. The stores' own part alone is an
    index-only read of the home-store / joined-on index (member_store_joined_idx carries the id and
    joined_on). The same set: `members_home_on` requires the home store of a member who stayed, and
    a member who left one of the stores after `on` has a transfer after `on` from it (the test holds
    them equal). `members_home_on` is built and compiled once for both parts (an ORM union of two
    querysets filtered from it compiles it twice)."""
    home, home_params = (
        members_home_on(store_ids=store_ids, on=on)
        .values_list("id", "joined_on", "home_store_id")
        .order_by()
        .query.sql_with_params()
    )
    transferred_out, out_params = (
        MemberOwnerChange.objects.filter(
            reason=OwnerChangeReason.TRANSFER, date__gt=on, previous_store_id__in=store_ids
        )
        .values("member_id")
        .order_by()
        .query.sql_with_params()
    )
    stores = ", ".join(["%s"] * len(store_ids))
    sql = (
        f"SELECT id, joined_on FROM ({home}) own WHERE home_store_id IN ({stores})"  # noqa: S608
        f" UNION ALL SELECT id, joined_on FROM ({home}) away"
        f" WHERE id IN ({transferred_out}) AND home_store_id NOT IN ({stores})"
    )
    return sql, [*home_params, *store_ids, *home_params, *out_params, *store_ids]


def _member_sets_sql(k: Kpis, *, store_ids: list[int] | None, churn: int) -> None:
    """`_member_sets_python` and the VIP sales in one PostgreSQL statement (`_MEMBER_SETS_SQL`)."""
    if store_ids == []:
        return  # no store: no member and no till (and no IN () to compile)
    start, end = k.start, k.end
    before = start - timedelta(days=1)
    member_table = Member._meta.db_table
    if store_ids is None:
        # Every member: the purchases and tier changes are aggregated by a plain scan, no join, and
        # the members are read once (not materialized).
        scope, scope_params = Member.objects.values_list("pk", "joined_on").order_by().query.sql_with_params()
        parts = {"materialized": "NOT MATERIALIZED", "purchase_scope": "", "tier_scope": "", "till_scope": ""}
        parts |= {
            "joined_on": "m.joined_on",
            "till_join": f"JOIN {member_table} m ON m.id = p.member_id",
            "receipt_materialized": "NOT MATERIALIZED",
        }
    else:
        scope, scope_params = _store_scope(store_ids=store_ids, on=end)
        parts = {
            "materialized": "MATERIALIZED",
            # The scope's ids as one array: an index read of each member's purchases and tier changes.
            # In order: the index sorts an array's keys first, one generic comparison at a time,
            # where a sort of the ids is a quick one and leaves the index a check that they are.
            "purchase_scope": "AND p.member_id = ANY(ARRAY(SELECT id FROM scope ORDER BY id))",
            "tier_scope": "AND c.member_id = ANY(ARRAY(SELECT id FROM scope ORDER BY id))",
            "till_scope": "AND p.store_id = ANY(%(stores)s)",
            # The tills' receipts (from the store/date index) take their member's joining day from the
            # scope (a join of the store's own members, no probe of the chain's member index) and
            # only the few other members' receipts look it up by primary key (COALESCE evaluates the
            # subquery only for them): the planner would rather hash every member of the chain.
            "joined_on": (
                "COALESCE(own.joined_on,"  # noqa: S608
                f" (SELECT m.joined_on FROM {member_table} m WHERE m.id = p.member_id))"
            ),
            "till_join": "LEFT JOIN scope own ON own.id = p.member_id",
            "receipt_materialized": "MATERIALIZED",  # so that each receipt looks its member up once
        }
    # The scope's positional parameters, named to go with the statement's.
    pieces = scope.split("%s")
    scope = "".join(f"{piece}%(scope_{i})s" for i, piece in enumerate(pieces[:-1])) + pieces[-1]
    ranks = list(TIER_RANK.items())
    sql = _MEMBER_SETS_SQL.format(
        scope=scope,
        purchase=Purchase._meta.db_table,
        tierchange=TierChange._meta.db_table,
        to_rank=_rank_sql("c.to_tier"),
        from_rank=_rank_sql("c.from_tier"),
        tier_mix=", ".join(f"ARRAY_AGG(id) FILTER (WHERE counted AND rank_end = {rank})" for _tier, rank in ranks),
        **parts,
    )
    params = {
        "start": start,
        "end": end,
        "before": before,
        "since": before - timedelta(days=churn - 1),
        "before_from": before - timedelta(days=churn - 1),
        "end_from": end - timedelta(days=churn - 1),
        "review": TierChangeReason.REVIEW.value,
        "first_rank": TIER_RANK[Tier.C],
        "upgradable": [TIER_RANK[Tier.B], TIER_RANK[Tier.C]],
        "by_month": len(sales_months(start, end)) > 1,
        "stores": list(store_ids or []),
        **{f"scope_{i}": value for i, value in enumerate(scope_params)},
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    base, churned, repurchased, win_backs, upgrade_base, upgraded, new_members, downgraded = found[:8]
    k.base, k.churned, k.repurchased = set(base or ()), set(churned or ()), set(repurchased or ())
    k.win_backs, k.upgrade_base, k.upgraded = set(win_backs or ()), set(upgrade_base or ()), set(upgraded or ())
    k.new_members, k.downgraded, k.downgrades = set(new_members or ()), set(downgraded or ()), int(found[8])
    k.old_vip_sales, k.new_vip_sales = found[9] or ZERO, found[10] or ZERO
    mix = {tier: ids for (tier, _rank), ids in zip(ranks, found[11:], strict=True)}
    k.tier_mix = {tier: set(mix[tier] or ()) for tier in Tier.values}


def _service_figures(k: Kpis, *, store_ids: list[int] | None, rules: ProgramRules) -> None:
    """Follow-ups, satisfaction and complaints (DOMAIN §6, §8) of the stores in the period."""
    start, end = k.start, k.end
    k.follow_ups = follow_up_figures(store_ids=store_ids, start=start, end=end)
    k.satisfaction = satisfaction_figures(store_ids=store_ids, start=start, end=end)
    total, by_category = complaint_figures(store_ids=store_ids, start=start, end=end, rules=rules)
    k.complaints = {
        "received": total.received,
        "closed": total.closed,
        "mean_hours_to_first_response": total.mean_response_hours,
        "mean_hours_to_close": total.mean_close_hours,
        "response_within_sla": ratio(total.responded_in_sla, total.received),
        # DOMAIN §8: a rejected complaint owes no solution: out of the solution SLA's denominator.
        "solution_within_sla": ratio(total.solved_in_sla, total.solution_due),
        "by_category": {f.key: {"received": f.received, "closed": f.closed} for f in by_category},
    }
    return k
