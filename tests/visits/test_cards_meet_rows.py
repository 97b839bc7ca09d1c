"""cards_meet reads cards and reasons as rows and writes only what changes (issue 14): the same
cards close, split and move as with the model-instance version it replaced, kept here as the
reference."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from members.selectors import ids_filter
from tests.factories import MemberFactory
from vipcrm.bulk import bulk_insert, bulk_set
from visits.cards import Reason, cards_meet, tasks_add
from visits.generation import purchases_close
from visits.models import PURCHASE_MEETS, ClosedBy, FollowUpTask, TaskKind, TaskReason, TaskStatus

D = date.fromisoformat
TZ = ZoneInfo("Asia/Shanghai")


def _reference_cards_meet(*, member_ids, meets, day, closed_by, visit=None):
    """cards_meet as it was: model instances read and all nine fields written on every card."""
    closed, leftovers = [], []
    now = timezone.now()
    cards = list(
        ids_filter(
            FollowUpTask.objects.filter(status=TaskStatus.OPEN, is_contact=True), "member_id", sorted(set(member_ids))
        ).order_by("pk")
    )
    reasons_of = defaultdict(list)
    for r in ids_filter(TaskReason.objects.all(), "task_id", [c.pk for c in cards]).order_by("pk"):
        reasons_of[r.task_id].append(r)
    for card in cards:
        reasons = reasons_of.get(card.pk) or [
            TaskReason(
                task=card,
                member_id=card.member_id,
                kind=card.kind,
                origin=card.origin,
                note=card.note,
                due_date=card.due_date,
            )
        ]
        met = [r for r in reasons if meets(card, r)]
        if not met:
            continue
        card.status = TaskStatus.DONE
        card.done_on = day[card.member_id] if isinstance(day, Mapping) else day
        card.closed_by = closed_by(card)
        card.closed_by_visit = visit
        card.due_date = min(r.due_date for r in met)
        card.updated_at = now
        closed.append(card)
        unmet = [r for r in reasons if r not in met and r.pk]
        if unmet:
            first = min(met, key=lambda r: (r.due_date, r.pk or 0))
            card.kind, card.origin, card.note = first.kind, first.origin, first.note
            leftovers.append((card, unmet))
    if closed:
        bulk_set(
            closed,
            ["status", "done_on", "closed_by", "closed_by_visit", "due_date", "kind", "origin", "note", "updated_at"],
        )
    if leftovers:
        new = []
        for card, reasons in leftovers:
            first = min(reasons, key=lambda r: (r.due_date, r.pk))
            new.append(
                FollowUpTask(
                    store_id=card.store_id,
                    member_id=card.member_id,
                    assignee_id=card.assignee_id,
                    kind=first.kind,
                    is_contact=True,
                    due_date=first.due_date,
                    scheduled_for=max(first.due_date, card.scheduled_for),
                    origin=first.origin,
                    note=first.note,
                )
            )
        moved = []
        for task, (_card, reasons) in zip(bulk_insert(new), leftovers, strict=True):
            for r in reasons:
                r.task = task
                moved.append(r)
        bulk_set(moved, ["task"])
    return closed


def _state():
    """Every task and reason by natural key (ids of the new cards differ from run to run)."""
    key_of = {}
    tasks = {}
    for t in FollowUpTask.objects.values():
        key = (t["member_id"], t["kind"], t["origin"])
        key_of[t["id"]] = key
        tasks[key] = {k: v for k, v in t.items() if k not in ("id", "created_at")}
    reasons = {
        (r.member_id, r.kind, r.origin): (key_of[r.task_id], r.due_date, r.note) for r in TaskReason.objects.all()
    }
    return tasks, reasons


def _both(run_new, run_old):
    """The state after each version, from the same start (the first run rolled back)."""
    with transaction.atomic():
        old_closed = run_old()
        old = _state()
        transaction.set_rollback(True)
    new_closed = run_new()
    return old, old_closed, _state(), new_closed


@pytest.fixture
def cards_on_file(store_a, staff_a):
    """Members with care, win-back, birthday, manual and keep-tier cards for two people, a card
    whose reasons are met in part (a greeting next week: split), and a card without reasons."""
    consultant, specialist = staff_a.consultant, staff_a.specialist
    members = [MemberFactory(home_store=store_a, consultant=consultant, joined_on=D("2025-01-01")) for _ in range(6)]
    on = D("2026-03-10")
    with time_machine.travel(datetime(2026, 3, 10, 9, tzinfo=TZ), tick=False):
        reasons = []
        for i, m in enumerate(members):
            reasons.append(Reason(m.pk, consultant.pk, TaskKind.CARE, f"care:{i}", on - timedelta(days=i), "关怀"))
            if i % 2:
                reasons.append(Reason(m.pk, consultant.pk, TaskKind.BIRTHDAY, "birthday:2026", on + timedelta(days=7)))
            if i % 3 == 0:
                reasons.append(Reason(m.pk, specialist.pk, TaskKind.WIN_BACK, f"wb:{i}", on + timedelta(days=i)))
            if i == 4:
                reasons.append(Reason(m.pk, specialist.pk, TaskKind.MANUAL, "visit:1", on))
            if i == 5:
                reasons.append(Reason(m.pk, consultant.pk, TaskKind.KEEP_TIER, "keep:2026-04", on - timedelta(days=3)))
        tasks_add(store=store_a, reasons=reasons, on=on)
        # A card without reasons on file (as cards were before reasons existed).
        bare = FollowUpTask.objects.create(
            store=store_a,
            member=members[2],
            assignee=specialist,
            kind=TaskKind.CARE,
            due_date=on,
            origin="care:bare",
            note="无理由",
        )
        assert not bare.reasons.exists()
    return members


@pytest.mark.django_db(transaction=False)
def test_a_purchase_closes_and_splits_the_same_cards_as_before(cards_on_file):
    members = cards_on_file
    days = {m.pk: D("2026-03-11") + timedelta(days=i % 2) for i, m in enumerate(members)}
    recorded = datetime(2026, 3, 11, 12, tzinfo=TZ)

    def meets(card, reason):
        return reason.kind in PURCHASE_MEETS and (reason.created_at is None or reason.created_at <= recorded)

    def run(fn):
        return lambda: fn(member_ids=days, meets=meets, day=days, closed_by=lambda _card: ClosedBy.PURCHASE)

    with time_machine.travel(datetime(2026, 3, 11, 12, tzinfo=TZ), tick=False):
        old, old_closed, new, new_closed = _both(run(cards_meet), run(_reference_cards_meet))
    assert new == old
    assert sorted(c.pk for c in new_closed) == sorted(c.pk for c in old_closed)
    assert len(new_closed) >= 6
    assert any(t["status"] == TaskStatus.OPEN and t["kind"] == TaskKind.BIRTHDAY for t in new[0].values())  # split


@pytest.mark.django_db(transaction=False)
def test_a_contact_closes_the_same_cards_as_before(cards_on_file, staff_a):
    members = cards_on_file
    own = FollowUpTask.objects.filter(member=members[3], assignee=staff_a.consultant).get().pk
    day = D("2026-03-10")

    def meets(card, reason):
        if card.pk == own:
            return not (reason.kind == TaskKind.BIRTHDAY and reason.due_date > day)
        return reason.kind in PURCHASE_MEETS or reason.due_date <= day

    def closed_by(card):
        return ClosedBy.CONTACT if card.pk == own else ClosedBy.OTHER_CONTACT

    def run(fn):
        return lambda: fn(member_ids=[members[3].pk, members[4].pk], meets=meets, day=day, closed_by=closed_by)

    with time_machine.travel(datetime(2026, 3, 10, 15, tzinfo=TZ), tick=False):
        old, old_closed, new, new_closed = _both(run(cards_meet), run(_reference_cards_meet))
    assert new == old
    assert sorted(c.pk for c in new_closed) == sorted(c.pk for c in old_closed)


@pytest.mark.django_db(transaction=False)
def test_purchases_close_counts_the_cards_it_closed(cards_on_file):
    members = cards_on_file
    at = datetime(2026, 3, 11, 12, tzinfo=TZ)
    with time_machine.travel(at, tick=False):
        n = purchases_close(receipts=[(m.pk, D("2026-03-11"), at) for m in members])
    assert n == FollowUpTask.objects.filter(status=TaskStatus.DONE, closed_by=ClosedBy.PURCHASE).count() > 0
