"""The card engine (DOMAIN §7): every follow-up task is made here, and closed here when a contact
or a purchase meets it.

A *reason* is why a member should be contacted (a receipt, a birthday, a lapsing care clock…);
it is recorded once per (member, kind, origin) — a database constraint — so generating a day
twice adds nothing. Contact reasons go on the assignee's one open *card* for the member (a
partial unique constraint on open contact tasks): a new reason joins the open card, whose due
date becomes the earliest. Preparation tasks and complaint revisits stay tasks of their own.

Everything is set-based: a handful of queries whatever the number of members.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from operator import itemgetter

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, DecimalField, Max, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Store
from members.models import TIER_RANK, Member, ProgramRules, Purchase
from members.selectors import ids_filter, rows_per_id
from vipcrm.bulk import bulk_insert, bulk_insert_rows, bulk_set, bulk_set_rows

from .models import (
    CAPPED_KINDS,
    CONTACT_KINDS,
    SALES_PUSH_KINDS,
    ClosedBy,
    FollowUpTask,
    TaskKind,
    TaskReason,
    TaskStatus,
    Visit,
    VisitResult,
)

# Greetings on the day: a reached contact before their day does not greet.
GREETING_KINDS = frozenset({TaskKind.BIRTHDAY, TaskKind.OCCASION})

# SQLite caps the parameters of one statement; every `IN (...)` over ids goes in chunks this big.
CHUNK = 2000


@dataclass(frozen=True)
class Reason:
    """A reason to put on the list: for `member_id`, to be done by `assignee_id`, due `due`."""

    member_id: int
    assignee_id: int | None
    kind: str
    origin: str
    due: date
    note: str = ""


def chunks(values: Sequence) -> Iterator[Sequence]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


# --- Adding reasons --------------------------------------------------------------------------


def tasks_add(
    *, store: Store, reasons: Iterable[Reason], on: date, rules: ProgramRules | None = None, new: bool = False
) -> Counter:
    """Put `reasons` on the list as of day `on`: each contact reason joins its assignee's open card
    for the member or starts one; other kinds get a task each. Reasons already on file are
    skipped; sales pushes to a member with an open complaint are dropped. New care and win-back
    cards are spread by the daily capacity. Returns the number of reasons added per kind.

    Another transaction may write a card or a reason for the same member at the same moment (a
    visit logged while the duty runs): the database constraints refuse the second one, and this
    tries once more, reading what is now on file and joining it.

    `new=True` is the caller's word that no reason is on file because each names a row created in
    this very transaction (an import's receipts, `purchase:<id>` with ids just drawn): then nothing
    is looked up (issue 14). Should one be on file after all, its constraint refuses it and the
    second try looks everything up."""
    reasons = list(reasons)
    try:
        with transaction.atomic():
            return _tasks_add(store=store, reasons=reasons, on=on, rules=rules, new=new)
    except IntegrityError:
        with transaction.atomic():
            return _tasks_add(store=store, reasons=reasons, on=on, rules=rules, new=False)


def _tasks_add(*, store: Store, reasons: list[Reason], on: date, rules: ProgramRules | None, new: bool) -> Counter:
    fresh = _unique(reasons) if new else _not_on_file(reasons)
    if not fresh:
        return Counter()
    fresh = _without_sales_push_to_complaints(fresh)
    contact = sorted((r for r in fresh if r.kind in CONTACT_KINDS), key=lambda r: (r.due, r.kind, r.origin))
    cards = _open_cards({r.member_id for r in contact})
    joining: dict[int, list[Reason]] = defaultdict(list)
    starting: dict[tuple[int, int | None], list[Reason]] = defaultdict(list)
    for r in contact:
        card = cards.get((r.member_id, r.assignee_id))
        if card is not None:
            joining[card.pk].append(r)
        else:
            starting[(r.member_id, r.assignee_id)].append(r)
    new: list[tuple[NewTask, list[Reason]]] = [(NewTask.of(rs[0], True), rs) for rs in starting.values()]
    new += [(NewTask.of(r, False), [r]) for r in fresh if r.kind not in CONTACT_KINDS]
    capped = [(t, rs) for t, rs in new if t.assignee_id is not None and all(r.kind in CAPPED_KINDS for r in rs)]
    if capped:
        _spread(store, capped, on=on, rules=rules or ProgramRules.load())
    # Plain rows, one COPY per table on PostgreSQL (bulk_insert_rows): no model instance per task or
    # reason. A duplicate (a concurrent run) raises IntegrityError, as bulk_create. In member order
    # (stable: a card's reasons keep theirs), so the inserts and the deferred foreign-key checks
    # walk the member-first indexes in order (a fifth less time than in a receipt's random order).
    new.sort(key=lambda pair: pair[0].member_id)
    now = timezone.now()
    task_ids = bulk_insert_rows(FollowUpTask, TASK_COLUMNS, (t.row(store.pk, now) for t, _rs in new))
    spread = {id(t) for t, _rs in capped}
    rows = [
        (task_id, r.member_id, r.kind, r.origin, r.note, t.due_date if id(t) in spread else r.due, now)
        for task_id, (t, rs) in zip(task_ids, new, strict=True)
        for r in rs
    ]
    _join(cards, joining, rows, now=now)
    rows.sort(key=itemgetter(1))
    bulk_insert_rows(TaskReason, REASON_COLUMNS, rows)
    return Counter(row[2] for row in rows)


@dataclass(slots=True)
class NewTask:
    """A task about to be inserted: what the capacity spread reads and moves, without a model
    instance (an import makes 100,000)."""

    member_id: int
    assignee_id: int | None
    kind: str
    is_contact: bool
    due_date: date
    scheduled_for: date
    origin: str
    note: str

    @classmethod
    def of(cls, r: Reason, is_contact: bool) -> NewTask:
        return cls(r.member_id, r.assignee_id, r.kind, is_contact, r.due, r.due, r.origin, r.note)

    def row(self, store_id: int, now) -> tuple:
        return (
            store_id,
            self.member_id,
            self.assignee_id,
            self.kind,
            self.is_contact,
            self.due_date,
            self.scheduled_for,
            TaskStatus.OPEN.value,
            self.origin,
            self.note,
            0,
            "",
            now,
            now,
        )


# The columns a new task and a new reason are inserted with (every other one is NULL: visit,
# done_on, closed_by_visit); the values as the model's defaults and auto_now fields would give them.
TASK_COLUMNS = (
    "store_id",
    "member_id",
    "assignee_id",
    "kind",
    "is_contact",
    "due_date",
    "scheduled_for",
    "status",
    "origin",
    "note",
    "attempts",
    "closed_by",
    "created_at",
    "updated_at",
)
REASON_COLUMNS = ("task_id", "member_id", "kind", "origin", "note", "due_date", "created_at")


def _unique(reasons: list[Reason]) -> list[Reason]:
    """Each (member, kind, origin) once, at its first place in the list."""
    return list({(r.member_id, r.kind, r.origin): r for r in reversed(reasons)}.values())[::-1]


def _not_on_file(reasons: list[Reason]) -> list[Reason]:
    """The reasons not yet recorded (nor twice in the list itself). On PostgreSQL one statement
    whatever their number: the (member, kind, origin) triples as three arrays, each a probe of the
    reasons' unique index (a LATERAL subquery with a LIMIT: a loop the planner cannot turn into a
    hash of every reason of the chain, issue 14); elsewhere IN lists in chunks."""
    unique = _unique(reasons)
    on_file: set[tuple[int, str, str]] = set()
    if not unique:
        return []
    if connection.vendor == "postgresql":
        keys = sorted((r.member_id, r.kind, r.origin) for r in unique)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT v.member_id, v.kind, v.origin "
                "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[]) AS v(member_id, kind, origin) "
                "CROSS JOIN LATERAL (SELECT FROM visits_taskreason r WHERE r.member_id = v.member_id "
                "AND r.kind = v.kind AND r.origin = v.origin LIMIT 1) AS on_file",
                [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]],
            )
            on_file.update(cursor.fetchall())
        return [r for r in unique if (r.member_id, r.kind, r.origin) not in on_file]
    members = sorted({r.member_id for r in unique})
    origins = sorted({r.origin for r in unique})
    for member_chunk in chunks(members):
        for origin_chunk in chunks(origins):
            on_file.update(
                TaskReason.objects.filter(member_id__in=member_chunk, origin__in=origin_chunk).values_list(
                    "member_id", "kind", "origin"
                )
            )
    return [r for r in unique if (r.member_id, r.kind, r.origin) not in on_file]


def _without_sales_push_to_complaints(reasons: list[Reason]) -> list[Reason]:
    """No upgrade push, keep-tier or campaign invitation to a member with an open complaint."""
    pushed = sorted({r.member_id for r in reasons if r.kind in SALES_PUSH_KINDS})
    complaining: set[int] = set()
    for ids in _id_chunks(pushed) if pushed else ():
        complaining.update(
            ids_filter(Member.objects.filter(open_complaints__gt=0), "id", ids).values_list("pk", flat=True)
        )
    return [r for r in reasons if not (r.kind in SALES_PUSH_KINDS and r.member_id in complaining)]


@dataclass(slots=True)
class OpenCard:
    """What joining a reason reads of an open card on file (a row, not a model instance)."""

    pk: int
    member_id: int
    assignee_id: int | None
    due_date: date
    scheduled_for: date


def _open_cards(member_ids: set[int]) -> dict[tuple[int, int | None], OpenCard]:
    cards: dict[tuple[int, int | None], OpenCard] = {}
    for ids in _id_chunks(sorted(member_ids)) if member_ids else ():
        for row in (
            ids_filter(FollowUpTask.objects.filter(status=TaskStatus.OPEN, is_contact=True), "member_id", ids)
            .order_by()
            .values_list("pk", "member_id", "assignee_id", "due_date", "scheduled_for")
        ):
            card = OpenCard(*row)
            cards.setdefault((card.member_id, card.assignee_id), card)
    return cards


def _join(
    cards: dict[tuple[int, int | None], OpenCard], joining: dict[int, list[Reason]], rows: list[tuple], *, now
) -> None:
    """Add the joining reasons to their cards: the card's due date is its earliest reason's, and it
    shows no later than the earliest new reason is due (a snoozed card comes back for it)."""
    by_pk = {card.pk: card for card in cards.values()}
    changed = []
    for pk, rs in joining.items():
        card = by_pk[pk]
        first = min(r.due for r in rs)
        rows.extend((pk, r.member_id, r.kind, r.origin, r.note, r.due, now) for r in rs)
        if first < card.due_date or first < card.scheduled_for:
            changed.append(
                FollowUpTask(
                    pk=pk,
                    due_date=min(card.due_date, first),
                    scheduled_for=min(card.scheduled_for, first),
                    updated_at=timezone.now(),
                )
            )
    if changed:
        bulk_set(changed, ["due_date", "scheduled_for", "updated_at"])


# --- Capacity --------------------------------------------------------------------------------


def _spread(store: Store, capped: list[tuple[NewTask, list[Reason]]], *, on: date, rules: ProgramRules) -> None:
    """Care and win-back cards beyond `daily_care_capacity` per person and day go to the following
    days, highest value first: tier, then 12-month spend, then the longest without a reached
    contact. A spread card is due on the day it is given: the plan, not a snooze."""
    capacity = rules.daily_care_capacity
    assignees = sorted({t.assignee_id for t, _rs in capped})
    load: Counter = Counter()
    for row in (
        FollowUpTask.objects.filter(
            store=store,
            status=TaskStatus.OPEN,
            kind__in=CAPPED_KINDS,
            assignee_id__in=assignees,
            scheduled_for__gte=on,
        )
        .values("assignee_id", "scheduled_for")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        load[(row["assignee_id"], row["scheduled_for"])] = row["n"]
    value = member_value({t.member_id for t, _rs in capped}, on=on, rules=rules)
    first_free: dict[int, date] = {}  # per person: no room on any day before this one
    for task, _rs in sorted(capped, key=lambda pair: (value[pair[0].member_id], pair[0].member_id)):
        person = task.assignee_id
        day = max(on, task.due_date, first_free.get(person, on))
        while load[(person, day)] >= capacity:
            day += timedelta(days=1)
        load[(person, day)] += 1
        task.due_date = task.scheduled_for = day
        free = first_free.get(person, on)
        while load[(person, free)] >= capacity:
            free += timedelta(days=1)
        first_free[person] = free


def member_value(member_ids: set[int], *, on: date, rules: ProgramRules) -> dict[int, tuple]:
    """A sort key per member, most valuable first: tier A, B, C; then 12-month spend (highest
    first); then the earliest last reached contact (never contacted counts from joining)."""
    window_start = on - timedelta(days=rules.spend_window_days - 1)
    spend = (
        Purchase.objects.filter(member_id=OuterRef("pk"), date__gte=window_start, date__lte=on)
        .values("member_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    last_contact = (
        Visit.objects.filter(member_id=OuterRef("pk"), result=VisitResult.REACHED)
        .values("member_id")
        .annotate(last=Max("at"))
        .values("last")
    )
    rows = Member.objects.order_by().values_list(
        "pk",
        "tier",
        "joined_on",
        Coalesce(Subquery(spend, output_field=DecimalField()), Value(0), output_field=DecimalField()),
        Subquery(last_contact),
    )
    keys: dict[int, tuple] = {}
    # A probe per member (the store's members lie on nearly every page of the chain's table).
    for pk, tier, joined_on, total, last in rows_per_id(rows, "pk", sorted(member_ids)):
        since = timezone.localdate(last) if last else joined_on
        keys[pk] = (-TIER_RANK[tier], -total, since)
    return keys


# --- Meeting reasons -------------------------------------------------------------------------

Meets = Callable[["MeetCard", "MeetReason"], bool]


@dataclass(slots=True, eq=False)
class MeetCard:
    """An open card as meeting reads it (a row, not a model instance: an import meets ~30,000),
    with the closing fields `cards_meet` sets on it."""

    pk: int
    store_id: int
    member_id: int
    assignee_id: int | None
    kind: str
    origin: str
    note: str
    due_date: date
    scheduled_for: date
    status: str = TaskStatus.OPEN.value
    done_on: date | None = None
    closed_by: str = ""
    closed_by_visit: Visit | None = None
    updated_at: object = None

    @property
    def id(self) -> int:
        return self.pk


@dataclass(slots=True, eq=False)
class MeetReason:
    """A reason of an open card as meeting reads it; `pk` and `created_at` None for the stand-in
    reason of a card that has none on file (its own kind, origin and due date)."""

    pk: int | None
    task_id: int
    member_id: int
    kind: str
    origin: str
    note: str
    due_date: date
    created_at: object = None


def cards_meet(
    *,
    member_ids: Iterable[int],
    meets: Meets,
    day: date | Mapping[int, date],
    closed_by: Callable[[MeetCard], str],
    visit: Visit | None = None,
) -> list[MeetCard]:
    """Close the members' open contact cards that have a reason `meets` accepts, as done on `day`
    (one day for all, or a day per member; by `visit` when a contact did it). A card's reasons not
    met (a birthday greeting next week) move to a new open card for the same person. Returns the
    cards closed (rows with the fields written).

    Set-based whatever the number of members: the cards and their reasons are read in one query
    each (chunks on SQLite) as plain rows, and written in one statement each on PostgreSQL: the
    closing fields of every closed card, the name (kind, origin, note) only of the split ones."""
    closed: list[MeetCard] = []
    leftovers: list[tuple[MeetCard, list[MeetReason]]] = []
    now = timezone.now()
    for ids in _id_chunks(sorted(set(member_ids))):
        cards = [
            MeetCard(*row)
            for row in ids_filter(
                FollowUpTask.objects.filter(status=TaskStatus.OPEN, is_contact=True), "member_id", ids
            )
            .order_by("pk")
            .values_list(*CARD_FIELDS)
        ]
        reasons_of: dict[int, list[MeetReason]] = defaultdict(list)
        for task_ids in _id_chunks([card.pk for card in cards]):
            for row in (
                ids_filter(TaskReason.objects.all(), "task_id", task_ids).order_by("pk").values_list(*REASON_FIELDS)
            ):
                reasons_of[row[1]].append(MeetReason(*row))
        for card in cards:
            reasons = reasons_of.get(card.pk) or [
                MeetReason(None, card.pk, card.member_id, card.kind, card.origin, card.note, card.due_date)
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
                # Split: the closed card is named after its first met reason, the new one after
                # its first unmet reason (each reason is unique, so the two names are too).
                first = min(met, key=lambda r: (r.due_date, r.pk or 0))
                card.kind, card.origin, card.note = first.kind, first.origin, first.note
                leftovers.append((card, unmet))
    if closed:
        _close(closed, visit=visit, now=now)
        # Only a split card's name changes (the others keep theirs, read above).
        _rename([card for card, _unmet in leftovers])
    if leftovers:
        _continue(leftovers)
    return closed


# What meeting a card reads of it and of its reasons (MeetCard, MeetReason).
CARD_FIELDS = ("pk", "store_id", "member_id", "assignee_id", "kind", "origin", "note", "due_date", "scheduled_for")
REASON_FIELDS = ("pk", "task_id", "member_id", "kind", "origin", "note", "due_date", "created_at")
CLOSE_FIELDS = ("status", "done_on", "closed_by", "closed_by_visit_id", "due_date", "updated_at")


def _close(closed: list[MeetCard], *, visit: Visit | None, now) -> None:
    """Write the closing fields of the closed cards (one UPDATE from arrays on PostgreSQL, plain
    rows: an import closes 30,000 cards)."""
    visit_id = visit.pk if visit is not None else None
    bulk_set_rows(
        FollowUpTask,
        CLOSE_FIELDS,
        [(c.pk, c.status, c.done_on, c.closed_by, visit_id, c.due_date, now) for c in closed],
    )


def _rename(cards: list[MeetCard]) -> None:
    """Write the name (kind, origin, note) of the split cards."""
    if cards:
        bulk_set(
            [FollowUpTask(pk=c.pk, kind=c.kind, origin=c.origin, note=c.note) for c in cards],
            ["kind", "origin", "note"],
        )


def _id_chunks(ids: list[int]) -> Iterator[list[int]]:
    """All the ids at once on PostgreSQL (one array parameter), CHUNK at a time elsewhere."""
    if connection.vendor == "postgresql":
        yield ids
    else:
        yield from (list(c) for c in chunks(ids))


def _continue(leftovers: list[tuple[MeetCard, list[MeetReason]]]) -> None:
    """A new open card for each closed card's unmet reasons (its snooze kept if later)."""
    new = []
    for card, reasons in leftovers:
        first = min(reasons, key=lambda r: (r.due_date, r.pk))
        due = first.due_date
        new.append(
            FollowUpTask(
                store_id=card.store_id,
                member_id=card.member_id,
                assignee_id=card.assignee_id,
                kind=first.kind,
                is_contact=True,
                due_date=due,
                scheduled_for=max(due, card.scheduled_for),
                origin=first.origin,
                note=first.note,
            )
        )
    created = bulk_insert(new)
    moved = [
        TaskReason(pk=r.pk, task_id=task.pk)
        for task, (_card, reasons) in zip(created, leftovers, strict=True)
        for r in reasons
    ]
    bulk_set(moved, ["task"])


def card_move(*, task: FollowUpTask, assignee_id: int) -> FollowUpTask:
    """Give an open task to another person. A contact card joins that person's open card for the
    member if there is one (this one is then cancelled, its reasons moved): one card per member
    and person. Returns the task that now carries the reasons."""
    target = None
    if task.is_contact:
        target = (
            FollowUpTask.objects.select_for_update()
            .filter(member_id=task.member_id, assignee_id=assignee_id, status=TaskStatus.OPEN, is_contact=True)
            .exclude(pk=task.pk)
            .first()
        )
    if target is None:
        task.assignee_id = assignee_id
        task.save(update_fields=["assignee", "updated_at"])
        return task
    card_join(task, target)
    task.save(update_fields=["status", "note", "updated_at"])
    return target


def card_join(task: FollowUpTask, target: FollowUpTask) -> None:
    """Join `task` into `target`, the same person's open card for the member: the reasons move, the
    earliest dates and the most attempts are kept and `target` is saved; `task` is marked cancelled
    (pointing at `target`) for the caller to save with whatever else it changes."""
    task.reasons.update(task=target)
    target.due_date = min(target.due_date, task.due_date)
    target.scheduled_for = min(target.scheduled_for, task.scheduled_for)
    target.attempts = max(target.attempts, task.attempts)
    target.save(update_fields=["due_date", "scheduled_for", "attempts", "updated_at"])
    task.status = TaskStatus.CANCELLED
    task.note = f"→ #{target.pk}"


def closed_by_other(own_pk: int | None = None) -> Callable[[FollowUpTask], str]:
    return lambda card: ClosedBy.CONTACT if card.pk == own_pk else ClosedBy.OTHER_CONTACT
