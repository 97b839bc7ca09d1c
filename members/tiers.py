"""The tier engine (DOMAIN §5) as pure functions over one member's ledger.

Everything here is plain Python, so the rules can be tested on hand-made ledgers: `replay` over
dates and Decimals, `replay_days` (its engine) over day numbers and whole cents, which
`members.services` reads in bulk for a chain's million purchases before it writes the differences.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
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

    `purchases` need not be sorted. Returns the changes in order. The work is `replay_days`'s, on
    day numbers and whole amounts (exact: Decimals scaled by a power of ten).
    """
    if reviews_through is None:
        reviews_through = through
    scale = money_scale(amount for _d, amount in purchases)
    day_totals: dict[int, int] = {}
    for d, amount in purchases:
        if d <= through:
            day = d.toordinal()
            day_totals[day] = day_totals.get(day, 0) + int(amount * scale)
    days = sorted(day_totals)
    a_min, b_min = thresholds(rules, scale)
    changes = replay_days(
        joined_on.toordinal(),
        days,
        [day_totals[day] for day in days],
        a_min=a_min,
        b_min=b_min,
        span=rules.window_days - 1,
        reviews_through=min(reviews_through, through).toordinal(),
        holds={d.toordinal() for d in holds},
        inputs=[(c.id, c.date.toordinal(), c.to_tier, c.reason) for c in inputs],
    )
    return [Change(date.fromordinal(c[0]), c[1], c[2], c[3], input_id=c[4] if len(c) == 5 else None) for c in changes]


def money_scale(amounts: Iterable[Decimal | int]) -> int:
    """The power of ten (100 for money) that makes every amount a whole number."""
    scale = 100
    for amount in amounts:
        while (amount * scale) % 1:
            scale *= 10
    return scale


def thresholds(rules: TierRules, scale: int) -> tuple[int, int]:
    """The A and B minimums in units of 1/`scale`, rounded up: for a whole spend s,
    s ≥ min·scale ⇔ s ≥ ⌈min·scale⌉, so comparisons stay exact."""
    return (
        int((rules.a_min * scale).to_integral_value(rounding=ROUND_CEILING)),
        int((rules.b_min * scale).to_integral_value(rounding=ROUND_CEILING)),
    )


class _MonthEnds(dict):
    """Day number → the day number of its month's last day, filled in on first use."""

    def __missing__(self, day: int) -> int:
        value = self[day] = month_end(date.fromordinal(day)).toordinal()
        return value


MONTH_ENDS = _MonthEnds()


def replay_days(
    joined: int,
    days: Sequence[int],
    totals: Sequence[int],
    *,
    a_min: int,
    b_min: int,
    span: int,
    reviews_through: int,
    holds: frozenset[int] | set[int] = frozenset(),
    inputs: Sequence[tuple[int, int, str, str]] = (),
) -> list[tuple]:
    """`replay` on plain integers: the hot loop of every replay (a chain replays a million purchases).

    Dates are day numbers (`date.toordinal()`), amounts whole units (cents): `days` the member's
    purchase days ≤ through, ascending (a day repeats for each of its purchases, or comes once
    with the day's sum), `totals` the amounts; `a_min`/`b_min` the
    thresholds in the same units (see `thresholds`), `span` the window's length − 1 in days,
    `reviews_through` already at most through; `inputs` (id, day, to tier, reason).

    Returns the changes in order: (day, from tier, to tier, reason) for purchase and review
    changes, (day, from tier, to tier, reason, input id) for kept inputs.
    """
    month_ends = MONTH_ENDS
    tiers = _TIER_LETTERS
    changes: list[tuple] = []
    append = changes.append
    rank = 0  # C; B 1, A 2
    n = len(days)
    first = 0  # the window is days[first:i]
    i = 0
    window_sum = 0
    next_review = month_ends[joined]
    by_day: dict[int, list[tuple]] | None = None
    steps = days
    if inputs:
        by_day = {}
        for change in sorted(inputs, key=lambda c: (c[1], c[0])):
            by_day.setdefault(change[1], []).append(change)
        steps = sorted(set(days) | set(by_day))

    # One step past every day and every review: the month ends left after the last purchase are
    # reviewed by the loop's first part (nothing else in the loop applies to that step).
    beyond = max(reviews_through, steps[-1] if steps else reviews_through) + 1
    for d in (*steps, beyond):
        # Month ends strictly before this day, while a downgrade is possible.
        while next_review < d and next_review <= reviews_through:
            if rank == 0:
                next_review = month_ends[d]
                break
            if next_review not in holds:  # the review at next_review (as below)
                start = next_review - span
                while first < i and days[first] < start:
                    window_sum -= totals[first]
                    first += 1
                target = 2 if window_sum >= a_min else 1 if window_sum >= b_min else 0
                if target < rank:
                    append((next_review, tiers[rank], tiers[target], _REVIEW))
                    rank = target
            next_review = month_ends[next_review + 1]

        if by_day is not None and d in by_day:
            for input_id, _day, to_tier, reason in by_day[d]:
                append((d, tiers[rank], to_tier, reason, input_id))
                rank = TIER_RANK[to_tier]

        if i < n and days[i] == d:
            window_sum += totals[i]
            i += 1
            while i < n and days[i] == d:  # several purchases that day
                window_sum += totals[i]
                i += 1
            start = d - span
            while days[first] < start:
                window_sum -= totals[first]
                first += 1
            target = 2 if window_sum >= a_min else 1 if window_sum >= b_min else 0
            if target > rank:
                append((d, tiers[rank], tiers[target], _PURCHASE))
                rank = target

        if d == next_review and d <= reviews_through:
            if d not in holds:
                start = d - span
                while first < i and days[first] < start:
                    window_sum -= totals[first]
                    first += 1
                target = 2 if window_sum >= a_min else 1 if window_sum >= b_min else 0
                if target < rank:
                    append((d, tiers[rank], tiers[target], _REVIEW))
                    rank = target
            next_review = month_ends[d + 1]
    return changes


# Ranks to tiers, and the reasons, as `replay` writes them (plain strings: they go to the database as they are).
_TIER_LETTERS = (str(Tier.C), str(Tier.B), str(Tier.A))
_REVIEW = str(TierChangeReason.REVIEW)
_PURCHASE = str(TierChangeReason.PURCHASE)


def final_tier(changes: Sequence[Change]) -> str:
    return changes[-1].to_tier if changes else Tier.C


def missing_to_next_tier(current_spend: Decimal, tier: str, rules: TierRules) -> tuple[str | None, Decimal]:
    """The next tier above `tier` and how much more 12-month spend it needs (0 if already there)."""
    if tier == Tier.A:
        return None, ZERO
    nxt, minimum = (Tier.A, rules.a_min) if tier == Tier.B else (Tier.B, rules.b_min)
    return nxt, max(minimum - current_spend, ZERO)
