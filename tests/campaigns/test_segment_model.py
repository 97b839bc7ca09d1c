"""Issue 14: a segment's purchase conditions read only the purchases that can decide them (those
dated from the last-purchase date or the spend window on, of the members that pass the other
conditions), and the preview counts and samples the selection in one run of its sums. The members
selected and the preview must be exactly what the straightforward computation gives: every
purchase of every member, in Python, on a random ledger (on SQLite and on PostgreSQL)."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from campaigns.segments import Segment, segment_members
from campaigns.selectors import segment_preview
from members.models import Member, MemberTag, ProgramRules, Purchase
from members.selectors import lunar_birthday_ids_in_month
from tests.factories import MemberFactory, StaffFactory

D = date.fromisoformat
ON = D("2026-03-01")


def _ledger(rng: random.Random, stores, consultants, tags) -> None:
    for i in range(70):
        store = rng.choice(stores)
        m = MemberFactory(
            home_store=store,
            # Names repeat (the pk breaks ties); plain letters sort alike in Python and any collation.
            name=rng.choice(["an", "bo", "chen", "ding"]) + str(rng.randint(0, 9)),
            tier=rng.choice("ABC"),
            marketing_consent=rng.random() < 0.8,
            joined_on=ON + timedelta(days=rng.randint(-900, 20)),  # a few join after the day
            consultant=rng.choice([None, *[c for c in consultants if c.store_id == store.pk]]),
            birthday=rng.choice([None, D("1990-01-01") + timedelta(days=rng.randint(0, 364))]),
            birthday_lunar=rng.random() < 0.2,
        )
        if rng.random() < 0.05:
            Member.objects.filter(pk=m.pk).update(erased_at="2026-01-01T00:00:00Z")
        m.tags.set(rng.sample(tags, rng.randint(0, 2)))
        for n in range(rng.choice([0, 0, 1, 2, 4, 8, 15])):
            day = ON + timedelta(days=rng.randint(-800, 30))  # a few dated after the day
            amount = Decimal(rng.choice([300, 1200, 4800, 9000, 20000]))
            Purchase.objects.create(member=m, store=store, receipt_no=f"R{i}-{n}", date=day, amount=amount)
            if rng.random() < 0.25:  # a return, sometimes across a boundary of the window
                back = day + timedelta(days=rng.randint(0, 40))
                Purchase.objects.create(
                    member=m, store=store, receipt_no=f"R{i}-{n}r", date=back, amount=-amount / rng.choice([1, 2])
                )


def _expected(segment: Segment, stores, window: int) -> list[int]:
    """Every member and every purchase, in Python: the ids selected, A first, then by name."""
    store_ids = {s.pk for s in stores}
    chosen = []
    for m in Member.objects.order_by("pk"):
        if m.home_store_id not in store_ids or not m.marketing_consent or m.erased_at or m.joined_on > ON:
            continue
        if segment.tiers and m.tier not in segment.tiers:
            continue
        if segment.consultant_id and m.consultant_id != segment.consultant_id:
            continue
        if segment.tag_ids and not set(m.tags.values_list("pk", flat=True)) & set(segment.tag_ids):
            continue
        if segment.birthday_month:
            # A lunar birthday's month moves from year to year: members.selectors works it out.
            lunar = lunar_birthday_ids_in_month(Member.objects.all(), on=ON, month=segment.birthday_month)
            solar = m.birthday and not m.birthday_lunar and m.birthday.month == segment.birthday_month
            if not (solar or m.pk in lunar):
                continue
        purchases = list(Purchase.objects.filter(member=m).values_list("date", "amount"))
        last = max((d for d, a in purchases if a > 0), default=None)
        if segment.last_purchase_from and not (last and last >= segment.last_purchase_from):
            continue
        if segment.last_purchase_to and not (last and last <= segment.last_purchase_to):
            continue
        in_window = [a for d, a in purchases if ON - timedelta(days=window) < d <= ON]
        spend = sum(in_window) if in_window else None
        if segment.spend_min is not None and not (spend is not None and spend >= segment.spend_min):
            continue
        if segment.spend_max is not None and not (spend is None or spend <= segment.spend_max):
            continue
        chosen.append(m)
    return [m.pk for m in sorted(chosen, key=lambda m: (m.tier, m.name, m.pk))]


def _segments(rng: random.Random, consultants, tags) -> list[Segment]:
    days = [None, ON - timedelta(days=400), ON - timedelta(days=120), ON - timedelta(days=20), ON + timedelta(days=5)]
    sums = [None, Decimal("0"), Decimal("1000"), Decimal("9000"), Decimal("30000")]
    found = [
        Segment(),
        Segment(last_purchase_from=ON - timedelta(days=90)),  # from before the window's start…
        Segment(last_purchase_from=ON - timedelta(days=500), spend_min=Decimal("5000")),  # …and from after
        Segment(last_purchase_to=ON - timedelta(days=200)),
        Segment(spend_max=Decimal("5000")),
        Segment(spend_min=Decimal("0")),  # a member without a purchase in the window has no sum
        Segment(spend_min=Decimal("-100000")),
    ]
    for _ in range(40):
        low, high = rng.choice(days), rng.choice(days)
        if low and high and low > high:
            low, high = high, low
        smin, smax = rng.choice(sums), rng.choice(sums)
        if smin is not None and smax is not None and smin > smax:
            smin, smax = smax, smin
        found.append(
            Segment(
                tiers=rng.sample(["A", "B", "C"], rng.randint(0, 2)),
                last_purchase_from=low,
                last_purchase_to=high,
                spend_min=smin,
                spend_max=smax,
                consultant_id=rng.choice([None, None, None, *[c.pk for c in consultants]]),
                tag_ids=rng.choice([[], [], [tags[0].pk], [t.pk for t in tags]]),
                birthday_month=rng.choice([None, None, None, rng.randint(1, 12)]),
            )
        )
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [14, 2026])
def test_segments_select_what_every_purchase_read_in_python_selects(store_a, store_b, seed):
    rng = random.Random(seed)
    consultants = [StaffFactory(store=store_a), StaffFactory(store=store_b)]
    tags = [MemberTag.objects.create(name="婚礼季"), MemberTag.objects.create(name="老客")]
    _ledger(rng, [store_a, store_b], consultants, tags)
    window = ProgramRules.load().spend_window_days
    both, one = [store_a, store_b], [store_a]
    for i, segment in enumerate(_segments(rng, consultants, tags)):
        stores = one if i % 3 == 0 else both
        expected = _expected(segment, stores, window)

        selected = segment_members(segment, stores=stores, on=ON)
        assert sorted(selected.values_list("pk", flat=True)) == sorted(expected), segment
        count, sample = segment_preview(segment=segment, stores=stores, on=ON, sample=10)
        assert count == len(expected), segment
        assert [m.pk for m in sample] == expected[:10], segment
        assert segment_preview(segment=segment, stores=stores, on=ON, sample=0) == (len(expected), [])
