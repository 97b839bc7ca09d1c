"""The purchase file check reads the usual row by a fast path (issue 14): values met before and
good are taken from the memos without the per-cell calls. Each row's outcome must be what the row
gets when checked alone (every value new, through the _Context methods)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from members.imports import PURCHASES, import_preview

from ..factories import MemberFactory

HEADER = "receipt_no,card_no,store,date,amount,consultant,items"


def days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)


def outcome(preview, row: int) -> tuple:
    """What the check made of one row: its errors, or the row it would write."""
    errors = sorted((e.column, e.message) for e in preview.errors if e.row == row)
    rows = [
        (r.receipt_no, r.card_no, r.member_id, r.store.pk, r.date, r.amount, r.consultant, r.items, r.action)
        for r in preview.rows_ok
        if r.row == row
    ]
    return errors, rows


@pytest.fixture
def buyers(store_a, store_b):
    return [
        MemberFactory(card_no="C001", home_store=store_a, joined_on=days_ago(200)),
        MemberFactory(card_no="C002", home_store=store_b, joined_on=days_ago(3)),
    ]


def test_every_row_reads_as_it_does_alone(store_a, store_b, staff_a, staff_b, buyers):
    d, old = days_ago(5).isoformat(), days_ago(10).isoformat()
    c, other = staff_a.consultant.username, staff_b.consultant.username
    too_long = "X" * 41
    cells = [
        f"{{n}},C001,SHA,{d},100,{c},上衣 x1",
        f"{{n}},C001,sha,{d},100,{c.upper()},",
        f"{{n}},C001,SHA,{d},0,{c},",  # zero: an error, memoised
        f"{{n}},C001,SHA,{d},abc,,",  # bad amount, memoised
        f"{{n}},C002,BJB,{old},100,{other},",  # before joining
        f"{{n}},C001,SHA,{d},100,{other},",  # consultant of another store
        f"{{n}},C001,NOPE,{d},100,{c},",  # unknown store
        f"{{n}},NOPE,SHA,{d},100,,",  # unknown card
        f"{{n}},,SHA,{d},100,,",  # no card
        "{n},C001,SHA,,,,",  # no date nor amount
        "{n},C001,SHA,31/02/2026,100,,",  # bad date, memoised
        f"{{n}},C001,SHA, {d} , 1,280.00 ,{c},",  # more cells than the header
        f'{{n}},C001,SHA,{d},"¥1,280.00",nobody,',  # unknown consultant
        f"{too_long},C001,SHA,{d},100,,",  # receipt no. too long
        f"{{n}},C001,SHA,{d},-50.5,'{c},退货",  # guarded text
        f"{{n}},C002, bjb ,{d},100,,",
    ]
    lines = [line.replace("{n}", f"R{i}") for i, line in enumerate(cells * 3)]
    whole = import_preview(kind=PURCHASES, data=("\n".join([HEADER, *lines]) + "\n").encode(), viewer=None)
    for i, line in enumerate(lines):
        alone = import_preview(kind=PURCHASES, data=f"{HEADER}\n{line}\n".encode(), viewer=None)
        assert outcome(whole, i + 2) == outcome(alone, 2), line
    assert whole.rows_ok and whole.errors
