"""The month-end review writes its downgrades with one UPDATE per chunk of members, the new tiers
as one id list per tier (issue 14): every member ends at the tier the review gave them, to B and
to C in the same statement, across chunks, and nobody else is touched; members with an open
complaint (at any tier) are held."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

import members.services as member_services
from members.models import Member, TierChange, TierHold
from members.services import tiers_review
from tests.factories import MemberFactory, PurchaseFactory

D = date.fromisoformat
ON = D("2026-03-31")


@pytest.mark.parametrize("chunk", [2000, 2, 1])
def test_the_review_writes_every_downgrade(store_a, store_b, monkeypatch, chunk):
    monkeypatch.setattr(member_services, "REVIEW_UPDATE_CHUNK", chunk)
    spend = {
        "a_to_b": ("A", "20000"),
        "a_to_c": ("A", "500"),
        "b_to_c": ("B", None),
        "b_stays": ("B", "15000"),
        "a_stays": ("A", "60000"),
        "a_to_b_2": ("A", "10000"),
        "b_to_c_2": ("B", "9999.99"),
        "c_stays": ("C", None),
    }
    members = {}
    for name, (tier, amount) in spend.items():
        members[name] = MemberFactory(home_store=store_a, joined_on=D("2024-01-01"), tier=tier)
        if amount:
            PurchaseFactory(member=members[name], store=store_a, date=D("2025-12-01"), amount=Decimal(amount))
    held = MemberFactory(home_store=store_a, joined_on=D("2024-01-01"), tier="A", open_complaints=1)
    held_c = MemberFactory(home_store=store_a, joined_on=D("2024-01-02"), tier="C", open_complaints=2)
    locked = MemberFactory(home_store=store_a, joined_on=D("2024-01-01"), tier="B", tier_locked=True)
    elsewhere = MemberFactory(home_store=store_b, joined_on=D("2024-01-01"), tier="A")
    with time_machine.travel("2026-04-01 10:00 +0800", tick=False):
        result = tiers_review(store=store_a, on=ON)

    expected = {
        "a_to_b": "B",
        "a_to_c": "C",
        "b_to_c": "C",
        "b_stays": "B",
        "a_stays": "A",
        "a_to_b_2": "B",
        "b_to_c_2": "C",
        "c_stays": "C",
    }
    tiers = dict(Member.objects.values_list("pk", "tier"))
    assert {name: tiers[m.pk] for name, m in members.items()} == expected
    assert (tiers[held.pk], tiers[locked.pk], tiers[elsewhere.pk]) == ("A", "B", "A")
    changes = {(c.member_id, c.from_tier, c.to_tier) for c in TierChange.objects.filter(date=ON, reason="review")}
    assert changes == {
        (members[name].pk, spend[name][0], tier) for name, tier in expected.items() if tier != spend[name][0]
    }
    assert result.downgrades == 5 and result.held == 2
    assert set(TierHold.objects.filter(date=ON).values_list("member_id", flat=True)) == {held.pk, held_c.pk}
