"""A purchase import costs the same number of queries whatever its size (issue 14): the receipts go
in by COPY or large batches, the cards they meet close for all members and days at once, the
follow-ups are made per store, and the members are replayed once."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.imports import PURCHASES, import_commit
from members.models import Purchase
from visits.cards import Reason, tasks_add
from visits.models import ClosedBy, FollowUpTask, TaskKind, TaskStatus

from ..factories import MemberFactory

HEADER = "receipt_no,card_no,store,date,amount,consultant,items"


def _members(store, consultant, prefix: str, n: int) -> list:
    today = timezone.localdate()
    members = [
        MemberFactory(
            card_no=f"{prefix}{i:04d}", home_store=store, consultant=consultant, joined_on=today - timedelta(400)
        )
        for i in range(n)
    ]
    # Each has an open care card, half of them also a greeting next week that stays open (a split).
    reasons = [Reason(m.pk, consultant.pk, TaskKind.CARE, f"care:{prefix}", today - timedelta(5)) for m in members]
    reasons += [
        Reason(m.pk, consultant.pk, TaskKind.BIRTHDAY, f"birthday:{prefix}", today + timedelta(7)) for m in members[::2]
    ]
    tasks_add(store=store, reasons=reasons, on=today - timedelta(5))
    return members


def _file(members, store, consultant, prefix: str, per_member: int) -> bytes:
    today = timezone.localdate()
    lines = [HEADER]
    for i, m in enumerate(members):
        for j in range(per_member):
            day = today - timedelta(days=(i + j) % 40)  # some older than a month: no follow-up for those
            lines.append(
                f"{prefix}{i:04d}-{j},{m.card_no},{store.code},{day.isoformat()},{1000 + i}.00,{consultant.username},"
            )
    return ("\r\n".join(lines) + "\r\n").encode()


def _import(data: bytes, by) -> tuple[int, object]:
    """The import's statement count. SQLite caps a statement at 999 parameters, so Django splits a
    batch insert or update there into consecutive statements of a few dozen rows: those count once
    (on PostgreSQL every statement counts; the rows go by COPY or one statement)."""
    with CaptureQueriesContext(connection) as queries:
        result = import_commit(kind=PURCHASES, data=data, by=by)
    assert result.committed, result.error_lines()
    statements = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "sqlite":
        shapes = [s[:80] if s.startswith(("INSERT", "UPDATE")) else i for i, s in enumerate(statements)]
        statements = [s for i, s in enumerate(shapes) if i == 0 or s != shapes[i - 1]]
    return len(statements), result


@pytest.mark.django_db
def test_importing_500_receipts_costs_the_queries_of_50(store_a, staff_a):
    consultant, by = staff_a.consultant, staff_a.manager
    small = _members(store_a, consultant, "S", 25)
    large = _members(store_a, consultant, "L", 250)

    n_small, small_result = _import(_file(small, store_a, consultant, "S", 2), by)
    n_large, large_result = _import(_file(large, store_a, consultant, "L", 2), by)

    assert small_result.counts["new"] == 50 and large_result.counts["new"] == 500
    assert Purchase.objects.count() == 550
    assert n_large == n_small
    # What the import did is the same at both sizes: every care card met and closed on its member's
    # latest purchase day, every greeting moved to an open card of its own.
    for members in (small, large):
        ids = [m.pk for m in members]
        cards = FollowUpTask.objects.filter(member_id__in=ids, kind=TaskKind.CARE)
        assert cards.count() == len(members)
        assert set(cards.values_list("status", "closed_by")) == {(TaskStatus.DONE, ClosedBy.PURCHASE)}
        greetings = FollowUpTask.objects.filter(member_id__in=ids, kind=TaskKind.BIRTHDAY, status=TaskStatus.OPEN)
        assert greetings.count() == len(members[::2])
        assert all(t.reasons.filter(kind=TaskKind.BIRTHDAY).count() == 1 for t in greetings)
