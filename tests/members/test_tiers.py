"""The tier engine (DOMAIN §5) as pure functions on small hand-made ledgers.

Rules throughout: A ≥ 50,000, B ≥ 10,000, window 365 days, so spend(D) counts [D − 364, D].
"""

from datetime import date
from decimal import Decimal

import pytest

from members.tiers import (
    Change,
    InputChange,
    TierRules,
    is_month_end,
    missing_to_next_tier,
    month_ends,
    replay,
    spend,
    tier_for,
)

RULES = TierRules(a_min=Decimal("50000"), b_min=Decimal("10000"), window_days=365)
JOINED = date(2024, 1, 1)


def D(s: str) -> date:
    return date.fromisoformat(s)


def M(s: str) -> Decimal:
    return Decimal(s)


def keys(changes: list[Change]) -> list[tuple]:
    return [(c.date.isoformat(), c.from_tier, c.to_tier, c.reason) for c in changes]


def test_it_maps_spend_to_tiers_at_the_thresholds():
    assert tier_for(M("9999.99"), RULES) == "C"
    assert tier_for(M("10000.00"), RULES) == "B"
    assert tier_for(M("49999.99"), RULES) == "B"
    assert tier_for(M("50000.00"), RULES) == "A"


def test_it_counts_spend_in_a_closed_365_day_window():
    ledger = [(D("2024-03-01"), M("100")), (D("2024-03-02"), M("10"))]
    # 2025-02-28 − 364 days = 2024-03-01: both purchases are inside.
    assert spend(ledger, D("2025-02-28"), 365) == M("110")
    # One day later the 2024-03-01 purchase drops out.
    assert spend(ledger, D("2025-03-01"), 365) == M("10")


def test_it_lists_month_ends():
    assert list(month_ends(D("2024-01-15"), D("2024-03-31"))) == [D("2024-01-31"), D("2024-02-29"), D("2024-03-31")]
    assert is_month_end(D("2023-02-28")) and not is_month_end(D("2024-02-28"))


def test_it_upgrades_on_the_purchase_day():
    # 4,000 on 03-01 (spend 4,000: C), 7,000 on 03-05 (spend 11,000: B).
    changes = replay(
        joined_on=JOINED,
        purchases=[(D("2024-03-01"), M("4000")), (D("2024-03-05"), M("7000"))],
        rules=RULES,
        through=D("2024-03-20"),
    )
    assert keys(changes) == [("2024-03-05", "C", "B", "purchase")]


def test_it_jumps_straight_to_a_when_one_purchase_qualifies():
    changes = replay(joined_on=JOINED, purchases=[(D("2024-02-10"), M("52000"))], rules=RULES, through=D("2024-02-20"))
    assert keys(changes) == [("2024-02-10", "C", "A", "purchase")]


def test_it_makes_one_change_for_several_purchases_on_one_day():
    changes = replay(
        joined_on=JOINED,
        purchases=[(D("2024-02-10"), M("8000")), (D("2024-02-10"), M("45000"))],
        rules=RULES,
        through=D("2024-02-10"),
    )
    assert keys(changes) == [("2024-02-10", "C", "A", "purchase")]


def test_it_does_not_downgrade_before_month_end():
    # 12,000 on 2024-01-10 → B. It leaves the window on 2025-01-10 (2025-01-10 − 364 = 2024-01-11),
    # but downgrades wait for the month end: through 2025-01-30 the member is still B.
    ledger = [(D("2024-01-10"), M("12000"))]
    changes = replay(joined_on=JOINED, purchases=ledger, rules=RULES, through=D("2025-01-30"))
    assert keys(changes) == [("2024-01-10", "C", "B", "purchase")]


def test_it_downgrades_at_month_end():
    ledger = [(D("2024-01-10"), M("12000"))]
    changes = replay(joined_on=JOINED, purchases=ledger, rules=RULES, through=D("2025-01-31"))
    assert keys(changes) == [
        ("2024-01-10", "C", "B", "purchase"),
        ("2025-01-31", "B", "C", "review"),
    ]


def test_it_downgrades_to_the_tier_the_spend_gives_not_one_step():
    # A on 2024-01-10 with 60,000; 12,000 more on 2024-06-01. At 2025-01-31 only the 12,000 counts: B.
    ledger = [(D("2024-01-10"), M("60000")), (D("2024-06-01"), M("12000"))]
    changes = replay(joined_on=JOINED, purchases=ledger, rules=RULES, through=D("2025-01-31"))
    assert keys(changes) == [("2024-01-10", "C", "A", "purchase"), ("2025-01-31", "A", "B", "review")]
    # At 2025-05-31 the window starts 2024-06-01, so the 12,000 still counts (B); at 2025-06-30 it
    # starts 2024-07-01 and nothing counts: C.
    changes = replay(joined_on=JOINED, purchases=ledger, rules=RULES, through=D("2025-06-30"))
    assert keys(changes)[-1] == ("2025-06-30", "B", "C", "review")


def test_it_lowers_spend_with_a_return_and_downgrades_at_the_review():
    # 12,000 on 03-01 → B. A return of 3,000 on 03-10 leaves 9,000: no change that day,
    # the review on 03-31 downgrades to C.
    ledger = [(D("2024-03-01"), M("12000")), (D("2024-03-10"), M("-3000"))]
    assert keys(replay(joined_on=JOINED, purchases=ledger, rules=RULES, through=D("2024-03-30"))) == [
        ("2024-03-01", "C", "B", "purchase")
    ]
    assert keys(replay(joined_on=JOINED, purchases=ledger, rules=RULES, through=D("2024-03-31"))) == [
        ("2024-03-01", "C", "B", "purchase"),
        ("2024-03-31", "B", "C", "review"),
    ]


def test_it_reviews_after_the_month_ends_purchases():
    # B from a year ago would lapse at 2025-03-31, but 10,500 bought that same day keeps it.
    ledger = [(D("2024-03-15"), M("11000")), (D("2025-03-31"), M("10500"))]
    changes = replay(joined_on=JOINED, purchases=ledger, rules=RULES, through=D("2025-04-15"))
    assert keys(changes) == [("2024-03-15", "C", "B", "purchase")]


def test_it_applies_reviews_only_up_to_reviews_through():
    ledger = [(D("2024-01-10"), M("12000"))]
    changes = replay(
        joined_on=JOINED, purchases=ledger, rules=RULES, through=D("2025-01-31"), reviews_through=D("2025-01-30")
    )
    assert keys(changes) == [("2024-01-10", "C", "B", "purchase")]


def test_it_keeps_manual_inputs_and_recomputes_around_them():
    # Manager sets A on 2024-02-01 with no spend; the 02-29 review brings the member down to C,
    # because only a lock keeps a manual tier. A later 15,000 purchase upgrades to B.
    manual = InputChange(id=7, date=D("2024-02-01"), to_tier="A", reason="manual")
    changes = replay(
        joined_on=JOINED,
        purchases=[(D("2024-04-02"), M("15000"))],
        inputs=[manual],
        rules=RULES,
        through=D("2024-04-30"),
    )
    assert keys(changes) == [
        ("2024-02-01", "C", "A", "manual"),
        ("2024-02-29", "A", "C", "review"),
        ("2024-04-02", "C", "B", "purchase"),
    ]
    assert changes[0].input_id == 7


def test_it_ignores_purchases_after_through():
    changes = replay(joined_on=JOINED, purchases=[(D("2024-05-01"), M("20000"))], rules=RULES, through=D("2024-04-30"))
    assert changes == []


def test_it_gives_the_same_history_when_replayed_twice():
    ledger = [(D("2024-01-05"), M("30000")), (D("2024-02-01"), M("25000")), (D("2024-02-03"), M("-6000"))]
    first = replay(joined_on=JOINED, purchases=ledger, rules=RULES, through=D("2026-01-01"))
    second = replay(joined_on=JOINED, purchases=list(reversed(ledger)), rules=RULES, through=D("2026-01-01"))
    assert first == second
    # 30,000 → B; 55,000 → A on 02-01; the return leaves 49,000 so the 02-29 review gives B;
    # 2024-12-31 (window from 2024-01-02) still 49,000: B; 2025-01-31 (window from 2024-02-02) only
    # the −6,000 return counts: C.
    assert keys(first) == [
        ("2024-01-05", "C", "B", "purchase"),
        ("2024-02-01", "B", "A", "purchase"),
        ("2024-02-29", "A", "B", "review"),
        ("2025-01-31", "B", "C", "review"),
    ]


@pytest.mark.parametrize(
    "tier, spent, expected",
    [
        ("C", "4000", ("B", "6000.00")),
        ("B", "42000", ("A", "8000.00")),
        ("A", "90000", (None, "0.00")),
        ("B", "55000", ("A", "0.00")),
    ],
)
def test_it_says_how_much_is_missing_to_the_next_tier(tier, spent, expected):
    nxt, missing = missing_to_next_tier(M(spent), tier, RULES)
    assert (nxt, missing) == (expected[0], M(expected[1]))
