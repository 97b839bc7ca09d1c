"""The tier engine (DOMAIN §5) as pure functions over one member's ledger.

Everything here is plain Python over dates and Decimals, so the rules can be tested on hand-made
ledgers; `members.services` loads ledgers in bulk, calls `replay` and writes the differences.
"""

from __future__ import annotations

import calendar
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from .models import TIER_RANK, Tier, TierChangeReason

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class TierRules:
    a_min: Decimal
    b_min: Decimal
    window_days: int

    @classmethod
    def from_program(cls, rules) -> TierRules:
        return cls(a_min=rules.tier_a_min, b_min=rules.tier_b_min, window_days=rules.spend_window_days)


@dataclass(frozen=True)
class Change:
    """One tier change as the engine computes it. `input_id` is set for kept manual/import changes."""

    date: date
    from_tier: str
    to_tier: str
    reason: str
    input_id: int | None = None

    def key(self) -> tuple:
        return (self.date, self.from_tier, self.to_tier, self.reason)


@dataclass(frozen=True)
class InputChange:
    """A manual or import change: the engine keeps it and recomputes around it."""

    id: int
    date: date
    to_tier: str
    reason: str


def tier_for(spend: Decimal, rules: TierRules) -> str:
    if spend >= rules.a_min:
        return Tier.A
    if spend >= rules.b_min:
        return Tier.B
    return Tier.C


def spend(purchases: Iterable[tuple[date, Decimal]], on: date, window_days: int) -> Decimal:
    """Sum of amounts (returns negative) dated in [on − window + 1, on]."""
    start = on - timedelta(days=window_days - 1)
    return sum((amount for d, amount in purchases if start <= d <= on), ZERO)


@lru_cache(maxsize=4096)
def month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def is_month_end(d: date) -> bool:
    return d == month_end(d)


def month_ends(start: date, end: date) -> Iterator[date]:
    """Every month's last day E with start ≤ E ≤ end."""
    e = month_end(start)
    while e <= end:
        yield e
        e = month_end(e + timedelta(days=1))


def replay(
    *,
    joined_on: date,
    purchases: Sequence[tuple[date, Decimal]],
    inputs: Sequence[InputChange] = (),
    rules: TierRules,
    through: date,
    reviews_through: date | None = None,
    holds: frozenset[date] | set[date] = frozenset(),
) -> list[Change]:
    """Recompute a member's tier history from scratch.

    - The member starts at C on `joined_on`; manual/import inputs set the tier on their date,
      before that day's purchases.
    - After each day's purchases (dated ≤ `through`), an upgrade if the 12-month spend qualifies
      for a higher tier.
    - At each month's last day E ≤ `reviews_through` (after that day's purchases), a downgrade
      if the spend qualifies only for a lower tier. Reviews are skipped cheaply while at C.

    - `holds` are month ends whose review left the member alone (an open complaint then).

    `purchases` need not be sorted. Returns the changes in order.
    """
    if reviews_through is None:
        reviews_through = through
    reviews_through = min(reviews_through, through)

    # The hot loop of every replay (a chain replays a million purchases): tiers as ranks (C 0,
    # B 1, A 2), the spend thresholds and the window's length in locals, month ends cached.
    day_totals: dict[date, Decimal] = {}
    for d, amount in purchases:
        if d <= through:
            day_totals[d] = day_totals.get(d, ZERO) + amount
    inputs_by_day: dict[date, list[InputChange]] = {}
    if inputs:
        for change in sorted(inputs, key=lambda c: (c.date, c.id)):
            inputs_by_day.setdefault(change.date, []).append(change)
        days = sorted(set(day_totals) | set(inputs_by_day))
    else:
        days = sorted(day_totals)

    a_min, b_min = rules.a_min, rules.b_min
    span = timedelta(days=rules.window_days - 1)
    one_day = timedelta(days=1)
    window: deque[tuple[date, Decimal]] = deque()
    window_sum = ZERO
    rank = 0  # C
    changes: list[Change] = []
    append = changes.append

    def review(e: date) -> None:
        """The month-end review at `e`: a downgrade if the spend qualifies only for a lower tier."""
        nonlocal rank, window_sum
        if e in holds:
            return
        start = e - span
        while window and window[0][0] < start:
            window_sum -= window.popleft()[1]
        target = 2 if window_sum >= a_min else 1 if window_sum >= b_min else 0
        if target < rank:
            append(Change(e, _TIERS[rank], _TIERS[target], _REVIEW))
            rank = target

    next_review = month_end(joined_on)
    for d in days:
        # Month ends strictly before this day, while a downgrade is possible.
        while next_review < d and next_review <= reviews_through:
            if rank == 0:
                next_review = month_end(d)
                break
            review(next_review)
            next_review = month_end(next_review + one_day)

        if inputs_by_day:
            for change in inputs_by_day.get(d, ()):
                append(Change(d, _TIERS[rank], change.to_tier, change.reason, input_id=change.id))
                rank = TIER_RANK[change.to_tier]

        total = day_totals.get(d)
        if total is not None:
            window.append((d, total))
            window_sum += total
            start = d - span
            while window[0][0] < start:
                window_sum -= window.popleft()[1]
            target = 2 if window_sum >= a_min else 1 if window_sum >= b_min else 0
            if target > rank:
                append(Change(d, _TIERS[rank], _TIERS[target], _PURCHASE))
                rank = target

        if d == next_review and d <= reviews_through:
            review(d)
            next_review = month_end(d + one_day)

    while rank != 0 and next_review <= reviews_through:
        review(next_review)
        next_review = month_end(next_review + one_day)
    return changes


# Ranks to tiers, and the reasons, as `replay` writes them.
_TIERS = (Tier.C, Tier.B, Tier.A)
_REVIEW = TierChangeReason.REVIEW
_PURCHASE = TierChangeReason.PURCHASE


def final_tier(changes: Sequence[Change]) -> str:
    return changes[-1].to_tier if changes else Tier.C


def missing_to_next_tier(current_spend: Decimal, tier: str, rules: TierRules) -> tuple[str | None, Decimal]:
    """The next tier above `tier` and how much more 12-month spend it needs (0 if already there)."""
    if tier == Tier.A:
        return None, ZERO
    nxt, minimum = (Tier.A, rules.a_min) if tier == Tier.B else (Tier.B, rules.b_min)
    return nxt, max(minimum - current_spend, ZERO)
