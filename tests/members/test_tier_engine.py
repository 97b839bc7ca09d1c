"""The tier engine persisted: purchases, the month-end review, locks and the full replay."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from members.models import Member, Purchase, TierChange, TierReview
from members.services import member_set_tier, purchase_record, tiers_replay, tiers_review
from members.tiers import month_ends
from tests.factories import MemberFactory, PurchaseFactory

D = date.fromisoformat


def at(day: str):
    """Travel to noon store time on `day`."""
    return time_machine.travel(f"{day} 12:00 +0800", tick=False)


def history(member: Member) -> list[tuple]:
    return list(
        TierChange.objects.filter(member=member)
        .order_by("date", "id")
        .values_list("date", "from_tier", "to_tier", "reason")
    )


def buy(member, day: str, amount: str, receipt: str, **kw):
    with at(day):
        return purchase_record(
            member=member,
            store=member.home_store,
            receipt_no=receipt,
            date=D(day),
            amount=Decimal(amount),
            by=None,
            **kw,
        )


@pytest.fixture
def member(store_a):
    return MemberFactory(home_store=store_a, joined_on=D("2024-01-01"))


def test_it_upgrades_on_the_day_a_purchase_is_recorded(member):
    buy(member, "2024-03-01", "4000", "R1")
    buy(member, "2024-03-05", "7000", "R2")
    member.refresh_from_db()
    assert member.tier == "B"
    assert history(member) == [(D("2024-03-05"), "C", "B", "purchase")]


def test_it_returns_the_same_purchase_when_a_receipt_is_sent_twice(member):
    first = buy(member, "2024-03-01", "4000", "R1")
    again = buy(member, "2024-03-01", "4000", "R1")
    assert first.created and not again.created
    assert again.purchase.pk == first.purchase.pk
    assert Purchase.objects.count() == 1


def test_it_refuses_the_same_receipt_with_other_content(member):
    buy(member, "2024-03-01", "4000", "R1")
    with pytest.raises(ValidationError) as e:
        buy(member, "2024-03-01", "4500", "R1")
    assert "R1" in str(e.value) and "4000" in str(e.value)


def test_it_refuses_a_return_larger_than_what_is_left_of_the_original(member):
    original = buy(member, "2024-03-01", "4000", "R1").purchase
    buy(member, "2024-03-02", "-3000", "R2", original=original)
    with pytest.raises(ValidationError):
        buy(member, "2024-03-03", "-1500", "R3", original=original)
    assert Purchase.objects.count() == 2


def test_it_does_not_downgrade_before_the_review_and_does_at_it(member, store_a):
    buy(member, "2024-01-10", "12000", "R1")
    # On 2025-01-31 the purchase has left the window, but until the review runs the member stays B.
    with at("2025-01-31"):
        tiers_replay(member_ids=[member.pk])
        member.refresh_from_db()
        assert member.tier == "B"
        result = tiers_review(store=store_a, on=D("2025-01-31"))
    assert result.downgrades == 1 and not result.already_done
    member.refresh_from_db()
    assert member.tier == "C"
    assert history(member)[-1] == (D("2025-01-31"), "B", "C", "review")


def test_it_reviews_once_per_store_and_date(member, store_a):
    buy(member, "2024-01-10", "12000", "R1")
    with at("2025-01-31"):
        tiers_review(store=store_a, on=D("2025-01-31"))
        again = tiers_review(store=store_a, on=D("2025-01-31"))
    assert again.already_done and again.downgrades == 1
    assert TierReview.objects.filter(store=store_a).count() == 1
    assert TierChange.objects.filter(reason="review").count() == 1


def test_it_reviews_only_on_a_past_month_end(store_a):
    with at("2025-01-20"), pytest.raises(ValidationError, match="月末"):
        tiers_review(store=store_a, on=D("2025-01-15"))
    with at("2025-01-20"), pytest.raises(ValidationError):
        tiers_review(store=store_a, on=D("2025-01-31"))


def test_it_respects_a_lock(member, staff_a):
    with at("2024-02-01"):
        member_set_tier(member=member, tier="B", by=staff_a.manager, lock=True)
    buy(member, "2024-02-10", "60000", "R1")
    member.refresh_from_db()
    assert member.tier == "B"  # no upgrade while locked
    with at("2025-06-30"):
        tiers_review(store=member.home_store, on=D("2025-06-30"))
        tiers_replay()
    member.refresh_from_db()
    assert member.tier == "B"  # no downgrade either
    assert history(member) == [(D("2024-02-01"), "C", "B", "manual")]


def test_it_hands_an_unlocked_member_back_to_the_engine(member, staff_a):
    with at("2024-02-01"):
        member_set_tier(member=member, tier="B", by=staff_a.manager, lock=True)
    buy(member, "2024-02-10", "60000", "R1")
    with at("2024-02-15"):
        member_set_tier(member=member, tier="B", by=staff_a.manager, lock=False)
    member.refresh_from_db()
    # The replay now sees the 60,000 purchase: A on its day.
    assert member.tier == "A"
    assert history(member) == [(D("2024-02-01"), "C", "B", "manual"), (D("2024-02-10"), "B", "A", "purchase")]


def test_it_rewrites_history_for_a_back_dated_return(member):
    original = buy(member, "2024-03-01", "12000", "R1").purchase
    with at("2024-06-10"):
        tiers_replay()
    assert history(member) == [(D("2024-03-01"), "C", "B", "purchase")]
    # A return dated 2024-03-20, entered in June: spend 8,000 from then on, so the 03-31 review
    # downgrades to C.
    with at("2024-06-10"):
        purchase_record(
            member=member,
            store=member.home_store,
            receipt_no="R2",
            date=D("2024-03-20"),
            amount=Decimal("-4000"),
            by=None,
            original=original,
        )
    member.refresh_from_db()
    assert member.tier == "C"
    assert history(member) == [(D("2024-03-01"), "C", "B", "purchase"), (D("2024-03-31"), "B", "C", "review")]


def test_the_review_leaves_other_stores_alone(member, store_a, store_b):
    other = MemberFactory(home_store=store_b, joined_on=D("2024-01-01"))
    buy(member, "2024-01-10", "12000", "R1")
    buy(other, "2024-01-10", "12000", "R1")
    with at("2025-01-31"):
        tiers_review(store=store_a, on=D("2025-01-31"))
    other.refresh_from_db()
    assert other.tier == "B"


def test_the_review_runs_a_bounded_number_of_queries(store_a, django_assert_max_num_queries):
    with at("2024-01-10"):
        for i in range(60):
            m = MemberFactory(home_store=store_a, joined_on=D("2024-01-01"))
            PurchaseFactory(member=m, date=D("2024-01-10"), amount=Decimal("60000") if i % 2 else Decimal("12000"))
        tiers_replay()
    # A fixed number whatever the member count: the review row, rules, members with later history,
    # holds (open complaints) read and written, the candidates with their spend, the writes.
    with at("2025-01-31"), django_assert_max_num_queries(14):
        result = tiers_review(store=store_a, on=D("2025-01-31"))
    assert result.downgrades == 60


def test_a_review_run_late_applies_in_its_place(member, store_a):
    # The 2025-01-31 review was missed; a purchase on 2025-02-10 upgrades the member again.
    buy(member, "2024-01-10", "12000", "R1")
    buy(member, "2025-02-10", "11000", "R2")
    with at("2025-02-12"):
        # Replays before the late review already apply past month ends (they are history)...
        assert history(member)[1:] == [(D("2025-01-31"), "B", "C", "review"), (D("2025-02-10"), "C", "B", "purchase")]
        result = tiers_review(store=store_a, on=D("2025-01-31"))
    # ...so the late review finds nothing more to do and changes nothing.
    assert result.downgrades == 0
    member.refresh_from_db()
    assert member.tier == "B"


def _random_ledger(store, rng: random.Random, members: int = 12) -> list[tuple]:
    rows = []
    for i in range(members):
        m = MemberFactory(home_store=store, joined_on=D("2024-01-01"))
        day = D("2024-01-02")
        n = 0
        while day < D("2025-12-20"):
            day += timedelta(days=rng.randint(5, 70))
            amount = Decimal(rng.choice([800, 2500, 6000, 15000, 30000]))
            n += 1
            rows.append((day, m, amount, f"M{i}-{n}"))
            if rng.random() < 0.2:
                rows.append((day + timedelta(days=2), m, -amount / 2, f"M{i}-{n}r"))
    rows.sort(key=lambda r: r[0])
    return rows


def test_recording_day_by_day_gives_the_same_history_as_a_replay(store_a):
    """Purchases recorded as they happen, with each month-end review run on its day, leave the
    history a full replay from scratch computes, and a second replay writes nothing."""
    rows = [r for r in _random_ledger(store_a, random.Random(20241124)) if r[0] <= D("2025-12-31")]
    reviews = list(month_ends(D("2024-01-01"), D("2025-12-31")))
    for day, m, amount, receipt in rows:
        while reviews and reviews[0] < day:
            with at(reviews[0].isoformat()):
                tiers_review(store=store_a, on=reviews[0])
            reviews.pop(0)
        with at(day.isoformat()):
            purchase_record(member=m, store=store_a, receipt_no=receipt, date=day, amount=amount, by=None)
    for e in reviews:
        with at(e.isoformat()):
            tiers_review(store=store_a, on=e)
    incremental = sorted(TierChange.objects.values_list("member_id", "date", "from_tier", "to_tier", "reason"))
    tiers_now = dict(Member.objects.values_list("pk", "tier"))
    assert any(r[4] == "review" for r in incremental) and any(r[4] == "purchase" for r in incremental)

    TierChange.objects.all().delete()
    Member.objects.update(tier="C")
    with at("2025-12-31"):
        call_command("rebuild_tiers", stdout=open("/dev/null", "w"))  # noqa: SIM115
        stats = tiers_replay()
    assert sorted(TierChange.objects.values_list("member_id", "date", "from_tier", "to_tier", "reason")) == incremental
    assert dict(Member.objects.values_list("pk", "tier")) == tiers_now
    assert stats.created == 0 and stats.deleted == 0 and stats.changed_members == 0


def test_rebuild_tiers_twice_gives_the_same_history(store_a):
    rng = random.Random(7)
    for day, m, amount, receipt in _random_ledger(store_a, rng, members=20):
        Purchase.objects.create(member=m, store=store_a, receipt_no=receipt, date=day, amount=amount)
    with at("2026-01-15"):
        call_command("rebuild_tiers", stdout=open("/dev/null", "w"))  # noqa: SIM115
        first = list(
            TierChange.objects.order_by("id").values_list("id", "member_id", "date", "from_tier", "to_tier", "reason")
        )
        call_command("rebuild_tiers", stdout=open("/dev/null", "w"))  # noqa: SIM115
        second = list(
            TierChange.objects.order_by("id").values_list("id", "member_id", "date", "from_tier", "to_tier", "reason")
        )
    assert first and first == second


def test_rebuild_tiers_is_set_based(store_a, django_assert_max_num_queries):
    for day, m, amount, receipt in _random_ledger(store_a, random.Random(3), members=40):
        Purchase.objects.create(member=m, store=store_a, receipt_no=receipt, date=day, amount=amount)
    with at("2026-01-15"), django_assert_max_num_queries(15):
        tiers_replay()


def test_review_tiers_command_refuses_a_mid_month_date(store_a):
    with pytest.raises(CommandError, match="月末"):
        call_command("review_tiers", "--date", "2024-05-15", "--store", store_a.code)
    with pytest.raises(CommandError, match="No store"):
        call_command("review_tiers", "--date", "2024-05-31", "--store", "NOPE")
