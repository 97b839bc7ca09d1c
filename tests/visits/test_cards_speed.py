"""The card engine at import scale (issue 14): `tasks_add` costs the same statements whatever the
number of reasons (plain rows, one COPY per table on PostgreSQL, lookups as arrays, never an IN
list of hundreds of ids), and an import's receipts, new by construction, are not looked up at all,
while everything it does stays what it was: one card per member and person, reasons joining it,
a replay adding nothing."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import Purchase
from tests.factories import MemberFactory, PurchaseFactory
from visits.cards import Reason, tasks_add
from visits.models import FollowUpTask, TaskKind, TaskReason, TaskStatus
from visits.services import purchases_followed

LONG_IN = re.compile(r"IN \((?:[^()]*,){100}")


def _statements(queries) -> list[str]:
    """The statements run; on SQLite, consecutive inserts or updates of one shape (Django splits a
    batch by the 999-parameter cap there) count once."""
    statements = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "sqlite":
        shapes = [s[:80] if s.startswith(("INSERT", "UPDATE")) else i for i, s in enumerate(statements)]
        statements = [s for i, s in enumerate(shapes) if i == 0 or s != shapes[i - 1]]
    return statements


def _scene(store, person, prefix: str, n: int) -> list[Reason]:
    """n members: a third with an open card on file (the new reason joins it and moves its due
    date earlier), every member a post-purchase reason, every other one a birthday preparation
    (a task of its own; half of them on file already, so skipped), and one reason twice."""
    today = timezone.localdate()
    members = [MemberFactory(card_no=f"{prefix}{i:04d}", home_store=store, consultant=person) for i in range(n)]
    tasks_add(
        store=store,
        reasons=[Reason(m.pk, person.pk, TaskKind.CARE, f"care:{prefix}", today + timedelta(9)) for m in members[::3]],
        on=today,
    )
    prep = [Reason(m.pk, person.pk, TaskKind.BIRTHDAY_PREP, f"b:{prefix}", today + timedelta(5)) for m in members[::2]]
    tasks_add(store=store, reasons=prep[::2], on=today)
    reasons = [
        Reason(m.pk, person.pk, TaskKind.POST_PURCHASE, f"p:{prefix}{i}", today + timedelta(2))
        for i, m in enumerate(members)
    ]
    return [*reasons, *prep, reasons[0]]


def _add(store, reasons) -> tuple[int, list[str], object]:
    with CaptureQueriesContext(connection) as queries:
        added = tasks_add(store=store, reasons=reasons, on=timezone.localdate())
    return len(_statements(queries)), [q["sql"] for q in queries.captured_queries], added


@pytest.mark.django_db
def test_adding_reasons_costs_the_same_statements_for_30_or_300_members(store_a, staff_a):
    person = staff_a.consultant
    n_small, _sql, small = _add(store_a, _scene(store_a, person, "S", 30))
    n_large, sql, large = _add(store_a, _scene(store_a, person, "L", 300))

    assert small == {TaskKind.POST_PURCHASE: 30, TaskKind.BIRTHDAY_PREP: 7}
    assert large == {TaskKind.POST_PURCHASE: 300, TaskKind.BIRTHDAY_PREP: 75}
    assert n_large == n_small
    if connection.vendor == "postgresql":
        assert not [s[:120] for s in sql if LONG_IN.search(s)]
    # What it made: one open card per member and person, the joined cards due on the new reason.
    today = timezone.localdate()
    cards = FollowUpTask.objects.filter(is_contact=True, status=TaskStatus.OPEN, member__card_no__startswith="L")
    assert cards.count() == 300
    assert set(cards.values_list("due_date", flat=True)) == {today + timedelta(2)}
    joined = cards.filter(kind=TaskKind.CARE)
    assert joined.count() == 100 and set(joined.values_list("scheduled_for", flat=True)) == {today + timedelta(2)}
    assert all(
        sorted(c.reasons.values_list("kind", flat=True)) == [TaskKind.CARE, TaskKind.POST_PURCHASE] for c in joined
    )
    assert FollowUpTask.objects.filter(kind=TaskKind.BIRTHDAY_PREP, member__card_no__startswith="L").count() == 150
    # Adding the same again adds nothing.
    assert tasks_add(store=store_a, reasons=_scene_again(store_a, "L"), on=today) == {}


def _scene_again(store, prefix: str) -> list[Reason]:
    return [
        Reason(r.member_id, None, r.kind, r.origin, r.due_date, r.note)
        for r in TaskReason.objects.filter(member__card_no__startswith=prefix)
    ]


def _receipts(store, person, n: int) -> list[Purchase]:
    today = timezone.localdate()
    members = [MemberFactory(card_no=f"R{i:04d}", home_store=store, consultant=person) for i in range(n)]
    return [PurchaseFactory(member=m, store=store, date=today, amount=Decimal("880.00")) for m in members]


# The lookup of reasons on file by (member, kind, origin): an array join on PostgreSQL, IN lists elsewhere.
ON_FILE_LOOKUP = re.compile(r'r\.origin = v\.origin|"visits_taskreason"\."origin" IN')


def _on_file_lookups(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if ON_FILE_LOOKUP.search(q["sql"])]


@pytest.mark.django_db
def test_an_imports_new_receipts_are_not_looked_up_and_make_the_same_cards(store_a, staff_a):
    receipts = _receipts(store_a, staff_a.consultant, 40)

    with CaptureQueriesContext(connection) as looked:
        purchases_followed(purchases=receipts[:20])
    with CaptureQueriesContext(connection) as trusted:
        purchases_followed(purchases=receipts[20:], new=True)

    assert len(_on_file_lookups(looked)) == 1
    assert not _on_file_lookups(trusted)
    cards = FollowUpTask.objects.filter(kind=TaskKind.POST_PURCHASE, status=TaskStatus.OPEN)
    assert cards.count() == 40
    assert {(c.member_id, c.origin, c.assignee_id) for c in cards} == {
        (p.member_id, f"purchase:{p.pk}", staff_a.consultant.pk) for p in receipts
    }
    # A replay (the receipts followed again) creates nothing new.
    purchases_followed(purchases=receipts)
    assert FollowUpTask.objects.count() == 40 and TaskReason.objects.count() == 40


@pytest.mark.django_db
def test_a_reason_on_file_after_all_is_refused_and_then_joined(store_a, staff_a):
    """`new=True` is the caller's word; were it wrong, the unique constraint refuses the duplicate
    and the second try looks everything up: nothing is doubled, the new reasons still go on."""
    receipts = _receipts(store_a, staff_a.consultant, 4)
    purchases_followed(purchases=receipts[:2])

    purchases_followed(purchases=receipts, new=True)

    assert TaskReason.objects.count() == 4
    assert FollowUpTask.objects.filter(status=TaskStatus.OPEN, is_contact=True).count() == 4
