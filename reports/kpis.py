"""The KPIs of DOMAIN §6, exactly, for a store (or all stores) and any period.

For a period P = [S, E] and S⁻ = S − 1 day:
- active(m, D): m joined on or before D, and the later of its join date and its last purchase with
  amount > 0 dated ≤ D lies in [D − churn_days + 1, D].
- tier(m, D): the tier after all changes dated ≤ D (C before any).
- base = {m : active(m, S⁻)}, by the member's home store.

Store attribution (DOMAIN §6, §13): a member's figures belong to their home store on E (a member
transferred after E still counts for the store they left); the old/new VIP sales belong to the
store whose till took the receipt, whoever's member bought.

Set-based: a handful of queries whatever the number of members (members with their purchase
figures, tier history, tasks, visits, complaints), then plain Python over the rows. Each figure
keeps the members behind it, so a report can link every number to its people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from complaints.selectors import complaint_figures
from members.models import TIER_RANK, ProgramRules, Tier, TierChangeReason
from members.selectors import KpiMemberRow, kpi_ledger, tier_changes_through, vip_sales_by_store
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
    churn = rules.churn_days
    before = start - timedelta(days=1)
    k = Kpis(start=start, end=end, store=store_label)

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

    k.follow_ups = follow_up_figures(store_ids=store_ids, start=start, end=end)
    k.satisfaction = satisfaction_figures(store_ids=store_ids, start=start, end=end)
    total, by_category = complaint_figures(store_ids=store_ids, start=start, end=end)
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
