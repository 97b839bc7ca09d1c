"""Issue 14, the daily duty's reads: each shortcut gives the answer of the computation it replaced.

- the probes for a member's last purchase and last reached contact stop at the earliest day the
  care and win-back rules compare them with (`_touch_horizon`): the same reasons as unbounded probes;
- the receipts recorded these two days come with the member rows (PostgreSQL): the same receipts
  as the read of the chain's two days kept for the store's members;
- birthdays are looked up by (lunar) month and day: the same rows, in the same order, as the
  rule's own query (`_birthdays_on`), 29 February and lunar dates included;
- a date's lunar date comes from a table of the calendar's months (`members.dates.to_lunar`): the
  library's own answer (`LunarDate.from_solar_date`), and the rule's month and day are its.
"""

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine
from lunardate import LunarDate

from members.dates import _lunar_months, to_lunar
from tests.factories import MemberFactory, PurchaseFactory
from visits import generation
from visits.generation import (
    Batch,
    _batch_birthdays_on,
    _birthdays_on,
    _care,
    _lunar_month_day,
    _members,
    _win_back,
    recorded_receipts,
)
from visits.models import Channel, Visit, VisitResult

D = date.fromisoformat
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _visit(member, staff, *, day: date, reached: bool = True) -> None:
    Visit.objects.create(
        member=member,
        store=member.home_store,
        staff=staff,
        channel=Channel.PHONE,
        at=datetime.combine(day, datetime.min.time()).replace(hour=10, tzinfo=SHANGHAI),
        result=VisitResult.REACHED if reached else VisitResult.NO_ANSWER,
        outcome="ok",
    )


def _reasons(batch: Batch) -> list[tuple]:
    return sorted((r.member_id, r.assignee_id, r.kind, r.origin, r.due, r.note) for r in batch.reasons)


def test_bounded_touch_probes_make_the_reasons_unbounded_ones_make(store_a, staff_a, monkeypatch):
    on = D("2026-03-10")
    rng = random.Random(14)
    ages = [0, 1, 28, 29, 30, 31, 58, 59, 60, 61, 88, 89, 90, 91, 149, 150, 151, 178, 179, 180, 181, 200, 400, 800]
    for i in range(90):
        joined = on - timedelta(days=rng.choice([*ages, 3, 500, 1000]))
        member = MemberFactory(
            home_store=store_a, consultant=staff_a.consultant, joined_on=joined, tier=rng.choice("ABC")
        )
        for _ in range(rng.randrange(0, 3)):
            day = on - timedelta(days=rng.choice(ages))
            amount = Decimal("-100.00") if rng.random() < 0.2 else Decimal("900.00")
            PurchaseFactory(member=member, date=day, amount=amount)
        for _ in range(rng.randrange(0, 3)):
            _visit(member, staff_a.consultant, day=on - timedelta(days=rng.choice(ages)), reached=rng.random() < 0.7)
        if i % 10 == 0:  # a touch after the day (a day caught up late heeds it)
            PurchaseFactory(member=member, date=on + timedelta(days=1))
    rules = generation.ProgramRules.load()

    def decide() -> list[tuple]:
        batch = Batch(store_a, on=on, rules=rules)
        _care(batch, on, rules)
        _win_back(batch, on, rules)
        return _reasons(batch)

    with time_machine.travel(datetime(2026, 3, 12, 12, tzinfo=SHANGHAI), tick=False):
        bounded = decide()
        monkeypatch.setattr(
            generation, "_touch_horizon", lambda on, rules: (date(1900, 1, 1), datetime(1900, 1, 1, tzinfo=SHANGHAI))
        )
        unbounded = decide()
    assert bounded == unbounded
    kinds = {kind for _m, _a, kind, *_ in bounded}
    assert kinds == {"care", "win_back"}, kinds


def test_receipts_with_the_member_rows_are_the_chains_two_days_kept_for_the_store(store_a, store_b, staff_a):
    on = D("2026-03-10")
    mine = [MemberFactory(home_store=store_a, consultant=staff_a.consultant) for _ in range(4)]
    theirs = MemberFactory(home_store=store_b)
    for recorded, day, amount in [
        ("2026-03-10", "2026-03-10", "1000.00"),
        ("2026-03-09", "2026-03-09", "500.00"),
        ("2026-03-09", "2026-02-08", "500.00"),  # dated 30 days back: still a call
        ("2026-03-09", "2026-02-07", "500.00"),  # older: history
        ("2026-03-08", "2026-03-08", "500.00"),  # recorded the day before yesterday
        ("2026-03-10", "2026-03-10", "-200.00"),  # a return
        ("2026-03-11", "2026-03-10", "700.00"),  # recorded after the day
    ]:
        for member in [*mine, theirs]:
            with time_machine.travel(D(recorded).isoformat() + "T23:30:00+08:00", tick=False):
                PurchaseFactory(member=member, store=store_b, date=D(day), amount=Decimal(amount))
    batch = Batch(store_a, on=on)
    members = _members(batch, on)
    with_rows = recorded_receipts(store=store_a, on=on, members=members)
    chain = recorded_receipts(store=store_a, on=on)
    assert with_rows == chain
    assert len(chain) == 3 * len(mine)


def test_birthdays_by_month_and_day_are_the_rules_own(store_a, store_b):
    rng = random.Random(29)
    births = [D("1988-02-29"), D("1992-02-28"), D("1990-03-01"), D("1979-02-13"), D("1966-12-31"), D("2000-01-01")]
    for i in range(160):
        born = rng.choice(births) if i % 4 == 0 else date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
        MemberFactory(
            home_store=store_a if i % 7 else store_b,
            birthday=None if i % 11 == 0 else born,
            birthday_lunar=rng.random() < 0.4,
            joined_on=D("2026-01-01") + timedelta(days=rng.randrange(0, 120)),
            tier=rng.choice("ABC"),
        )
    on = D("2026-01-01")
    batch = Batch(store_a, on=on)
    for offset in range(0, 430, 3):
        day = on + timedelta(days=offset)
        assert _batch_birthdays_on(batch, on, day) == _birthdays_on(store_a, day), day
    for day in (D("2027-02-28"), D("2028-02-28"), D("2028-02-29"), D("2026-02-17"), D("2027-02-06")):
        assert _batch_birthdays_on(batch, on, day) == _birthdays_on(store_a, day), day


def test_the_lunar_month_table_gives_to_lunar_s_month_and_day():
    starts, _months, end = _lunar_months()
    days = {date.fromordinal(start + shift) for start in starts for shift in (-1, 0, 1, 27, 28, 29, 30)}
    days |= {date(1899, 12, 31), date(1900, 1, 30), date(1900, 1, 31), date.fromordinal(end - 1)}
    days |= {date.fromordinal(end), date(2100, 6, 1), date(1850, 1, 1), date(2200, 1, 1)}
    rng = random.Random(7)
    days |= {date(1895, 1, 1) + timedelta(days=rng.randrange(0, 365 * 210)) for _ in range(3000)}
    for day in sorted(days):
        try:
            lunar = LunarDate.from_solar_date(day.year, day.month, day.day)
        except ValueError:
            lunar = None
        table = to_lunar(day)
        assert (None if table is None else repr(table)) == (None if lunar is None else repr(lunar)), day
        expected = None if lunar is None else (lunar.month, lunar.day)
        found = _lunar_month_day(day)
        assert (None if found is None else tuple(found)) == expected, day
