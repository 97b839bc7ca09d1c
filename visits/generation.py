"""The day's follow-up list (DOMAIN §7), generated for a store and a date with set-based queries.

Every rule answers "which reasons does this day bring?", so generating every day in turn (the duty
catches up missed days) never misses one, and generating a day twice creates nothing: each
reason's `origin` is unique per member and kind in the database. The card engine (cards.py) joins
contact reasons into one card per member and person and applies the daily capacity.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import DecimalField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Role, Staff, Store
from duties.maintenance import tables_analyze_grown
from members.dates import _lunar_in_year, next_occurrence, to_lunar
from members.models import (
    ImportantDate,
    ImportantDateKind,
    Member,
    MemberRelation,
    ProgramRules,
    Purchase,
    RelationKind,
    Tier,
)
from members.selectors import ids_filter, rows_per_id

from .cards import Reason, cards_meet, tasks_add
from .models import (
    PURCHASE_MEETS,
    SALES_PUSH_KINDS,
    ClosedBy,
    FollowUpTask,
    GiftPlan,
    GiftPolicy,
    GiftStatus,
    Occasion,
    TaskKind,
    TaskReason,
    TaskStatus,
    Visit,
    VisitResult,
)


@dataclass
class Assigner:
    """Who gets a member's task: the consultant, else the VIP specialist, else the manager."""

    active_staff: set[int]
    fallback: int | None

    @classmethod
    def for_store(cls, store: Store) -> Assigner:
        staff = list(Staff.objects.filter(store=store, is_active=True).values_list("pk", "role").order_by("pk"))
        by_role = {role: pk for pk, role in reversed(staff)}
        fallback = by_role.get(Role.VIP_SPECIALIST) or by_role.get(Role.MANAGER)
        return cls(active_staff={pk for pk, _ in staff}, fallback=fallback)

    def __call__(self, consultant_id: int | None) -> int | None:
        return consultant_id if consultant_id in self.active_staff else self.fallback


def store_members(store: Store) -> QuerySet[Member]:
    return Member.objects.filter(home_store=store, erased_at__isnull=True)


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _solar_matches(field: str, target: date) -> Q:
    """Dates whose yearly (solar) occurrence is `target`; 29 February counts on the 28th in
    other years."""
    q = Q(**{f"{field}__month": target.month, f"{field}__day": target.day})
    if target.month == 2 and target.day == 28 and not calendar.isleap(target.year):
        q |= Q(**{f"{field}__month": 2, f"{field}__day": 29})
    return q


def _solar_hit(original: date, target: date) -> bool:
    """`_solar_matches` in Python: the yearly (solar) occurrence of `original` is `target`."""
    if original.month == target.month and original.day == target.day:
        return True
    return (
        target.month == 2
        and target.day == 28
        and not calendar.isleap(target.year)
        and (original.month, original.day) == (2, 29)
    )


class _LunarMonthDay(NamedTuple):
    month: int
    day: int


def _lunar_month_day(original: date) -> _LunarMonthDay | None:
    """`to_lunar`'s month and day (None outside the calendar). Not remembered: `to_lunar` is a
    bisection of the month table, cheaper than a cache entry, and a cache of every birthday would
    keep tens of thousands of objects for the garbage collector to walk."""
    lunar = to_lunar(original)
    return None if lunar is None else _LunarMonthDay(lunar.month, lunar.day)


@lru_cache(maxsize=10_000)
def _lunar_next(month_day: _LunarMonthDay, on_or_after: date) -> date | None:
    for year in (on_or_after.year - 1, on_or_after.year, on_or_after.year + 1):
        candidate = _lunar_in_year(month_day, year)
        if candidate is not None and candidate >= on_or_after:
            return candidate
    return None


def _occurrence(original: date, *, lunar: bool, on_or_after: date) -> date:
    """`next_occurrence`, the same answer, with the lunar calendar's arithmetic remembered: a lunar
    date's recurrence depends only on its lunar month and day (a leap month counts as the ordinary
    one), so a store's thousand lunar birthdays cost a few hundred conversions, not thousands."""
    if lunar:
        month_day = _lunar_month_day(original)
        if month_day is not None:
            found = _lunar_next(month_day, on_or_after)
            if found is not None:
                return found
    return next_occurrence(original, lunar=False, on_or_after=on_or_after)


def _occurs_on(rows, target: date):
    """Filter (key, original date, lunar) rows to those whose occurrence is `target`."""
    for key, original, lunar in rows:
        if _occurrence(original, lunar=lunar, on_or_after=target) == target:
            yield key, original


def _birthdays_on(store: Store, target: date) -> list[tuple[int, int | None, str]]:
    """(member, consultant, tier) of members whose birthday falls on `target`."""
    members = store_members(store).filter(birthday__isnull=False, joined_on__lte=target)
    solar = members.filter(_solar_matches("birthday", target), birthday_lunar=False)
    found = list(solar.values_list("pk", "consultant_id", "tier"))
    lunar = members.filter(birthday_lunar=True).values_list("pk", "birthday", "birthday_lunar")
    lunar_ids = [pk for pk, _ in _occurs_on(lunar, target)]
    if lunar_ids:
        found += list(Member.objects.filter(pk__in=lunar_ids).values_list("pk", "consultant_id", "tier"))
    return found


def _important_dates_on(store: Store, target: date) -> list[tuple]:
    """(important date, member, consultant, tier, kind, label) of dates falling on `target`."""
    dates = ImportantDate.objects.filter(
        member__home_store=store, member__erased_at__isnull=True, member__joined_on__lte=target
    )
    fields = ("pk", "member_id", "member__consultant_id", "member__tier", "kind", "label")
    found = list(dates.filter(_solar_matches("date", target), lunar=False).values_list(*fields))
    lunar_ids = [pk for pk, _ in _occurs_on(dates.filter(lunar=True).values_list("pk", "date", "lunar"), target)]
    if lunar_ids:
        found += list(ImportantDate.objects.filter(pk__in=lunar_ids).values_list(*fields))
    return found


def occasion_of(kind: str) -> str:
    return Occasion.ANNIVERSARY if kind == ImportantDateKind.WEDDING_ANNIVERSARY else Occasion.FAMILY


class Batch:
    """Reasons and gift plans to add for one store as of day `on`, through the card engine."""

    def __init__(self, store: Store, *, on: date | None = None, rules: ProgramRules | None = None):
        self.store = store
        self.on = on or timezone.localdate()
        self.rules = rules  # loaded by the card engine only if the capacity is needed
        self.reasons: list[Reason] = []
        self.plans: list[GiftPlan] = []

    @cached_property
    def assign(self) -> Assigner:
        """Read on the first task: a batch made and never used (one per store, made eagerly by
        callers) costs no query."""
        return Assigner.for_store(self.store)

    @cached_property
    def policies(self) -> dict[tuple[str, str], GiftPolicy]:
        return {(p.tier, p.occasion): p for p in GiftPolicy.objects.all()}

    def task(
        self,
        *,
        member_id: int,
        consultant_id: int | None,
        kind: str,
        due: date,
        origin: str,
        note: str = "",
        assignee_id: int | None = None,
    ) -> None:
        assignee_id = assignee_id if assignee_id is not None else self.assign(consultant_id)
        self.reasons.append(Reason(member_id, assignee_id, kind, origin[:60], due, note[:200]))

    def gift(self, *, member_id: int, tier: str, occasion: str, on: date, label: str = ""):
        policy = self.policies.get((tier, occasion))
        self.plans.append(
            GiftPlan(
                store=self.store,
                member_id=member_id,
                occasion=occasion,
                occasion_date=on,
                label=label,
                tier=tier,
                gift=policy.gift if policy else "",
                budget=policy.budget if policy else 0,
            )
        )

    def save(self, *, new: bool = False) -> Counter:
        """Add the reasons (the card engine skips what is on file; `new`: the caller's word that
        none can be, see `tasks_add`) and the gift plans (the unique constraint skips what is on
        file, and makes a concurrent double run harmless; what was inserted is counted from the
        rows above the last id)."""
        counts = tasks_add(store=self.store, reasons=self.reasons, on=self.on, rules=self.rules, new=new)
        counts["gift_plans"] = 0
        if self.plans:
            last_plan = GiftPlan.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            GiftPlan.objects.bulk_create(self.plans, batch_size=1000, ignore_conflicts=True)
            counts["gift_plans"] = GiftPlan.objects.filter(pk__gt=last_plan, store=self.store).count()
        return counts


def tasks_generate(*, store: Store, on: date, rules: ProgramRules | None = None) -> dict[str, int]:
    """Generate the follow-up reasons (and birthday/occasion gift plans) that day `on` brings.
    Receipts recorded since the previous day close what a purchase meets first, so a buyer gets
    no care greeting; planned gifts follow their member's tier."""
    rules = rules or ProgramRules.load()
    batch = Batch(store, on=on, rules=rules)
    members = _members(batch, on)
    receipts = recorded_receipts(store=store, on=on, members=members)
    purchases_close(receipts=[(r.member_id, r.date, r.created_at) for r in receipts])
    sales_pushes_withdraw(store=store, members=members)
    gift_plans_follow_tier(store=store)
    _post_purchase(batch, on, rules, receipts)
    _care(batch, on, rules)
    _birthdays(batch, on, rules)
    _occasions(batch, on, rules)
    _relation_birthdays(batch, on, rules)
    _win_back(batch, on, rules)
    counts = batch.save()
    made = sum(counts.values())
    if made >= ANALYZE_AFTER_TASKS:
        # The first morning after go-live adds tasks by the thousand: the next store's run (and the
        # lists) would plan from statistics that saw none open. After the commit (the duty's
        # transaction holds no lock on the statistics), and only when the tables grew by half since
        # their statistics (once or a few times that morning, not once a store). A steady day adds
        # a few hundred: no query at all.
        transaction.on_commit(lambda: tables_analyze_grown(TASK_TABLES, added=made))
    return {key: counts.get(key, 0) for key in [*TaskKind.values, "gift_plans"] if key != TaskKind.MANUAL}


# A store's run that adds this many reasons and gift plans refreshes the task tables' statistics.
ANALYZE_AFTER_TASKS = 1000
TASK_TABLES = ("visits_taskreason", "visits_followuptask", "visits_giftplan")  # reasons: what `made` counts


# A receipt more than this old when it is recorded (history brought in by an import) gets no
# "how is it?" call: it would only be noise on the list.
POST_PURCHASE_MAX_AGE_DAYS = 30


class Receipt(NamedTuple):
    pk: int
    member_id: int
    consultant_id: int | None
    receipt_no: str
    date: date
    created_at: datetime


def _recorded(on: date) -> QuerySet[Purchase]:
    """Receipts with amount > 0 recorded on `on` or the day before, dated within the last month."""
    return Purchase.objects.filter(
        amount__gt=0,
        created_at__gte=_start_of(on - timedelta(days=1)),
        created_at__lt=_start_of(on + timedelta(days=1)),
        date__gte=on - timedelta(days=POST_PURCHASE_MAX_AGE_DAYS),
        date__lte=on,
    )


def recorded_receipts(*, store: Store, on: date, members: dict[int, tuple] | None = None) -> list[Receipt]:
    """Receipts with amount > 0 for the store's members recorded (whatever the source: till, POS,
    import) on `on` or the day before, dated within the last month, latest first. The daily run
    covers every day, so none is missed; overlaps are skipped by the reasons' constraint.

    `members`: the store's member rows by id, as `_members` reads them. On PostgreSQL they carry
    the ids of each member's receipts (a probe of the purchases' (member, date) index beside the
    one for the last purchase), read here by primary key: the store's own rows, whatever the
    chain's size. Otherwise the receipts recorded in those two days come by the index on the time
    they were recorded (a few thousand for a whole chain) and are kept for the store's members:
    no join the planner could turn into a walk over each member's history."""
    if members is None:
        members = {row[0]: row for row in store_members(store).values_list("pk", "consultant_id")}
    fields = ("pk", "member_id", "receipt_no", "date", "created_at")
    if connection.vendor == "postgresql" and len(next(iter(members.values()), ())) > RECORDED:
        ids = [pk for row in members.values() if row[RECORDED] for pk in row[RECORDED]]
        rows = ids_filter(Purchase.objects.order_by("-date", "-id"), "id", ids).values_list(*fields)
    else:
        rows = _recorded(on).order_by("-date", "-id").values_list(*fields)
    return [
        Receipt(pk, member_id, members[member_id][1], receipt_no, day, created_at)
        for pk, member_id, receipt_no, day, created_at in rows
        if member_id in members
    ]


def post_purchase_due(purchase_date: date, today: date, rules: ProgramRules) -> date:
    """`post_purchase_days` after the purchase, or today if that is later (a late receipt)."""
    return max(purchase_date + timedelta(days=rules.post_purchase_days), today)


def purchases_close(*, receipts: list[tuple[int, date, datetime]]) -> int:
    """A purchase meets care, win-back, upgrade-push and keep-tier reasons: close the cards holding
    them that were on file when it was recorded, as reached on the purchase's day. `receipts` are
    (member, purchase date, recorded at); a member's latest counts."""
    latest: dict[int, tuple[datetime, date]] = {}
    for member_id, day, recorded_at in receipts:
        latest[member_id] = max((recorded_at, day), latest.get(member_id, (recorded_at, day)))
    if not latest:
        return 0

    def meets(card: FollowUpTask, reason) -> bool:
        recorded_at = latest[card.member_id][0]
        return reason.kind in PURCHASE_MEETS and (reason.created_at is None or reason.created_at <= recorded_at)

    # Every member at once, each card closed on its member's purchase day (issue 14).
    days = {member_id: day for member_id, (_at, day) in latest.items()}
    closed = cards_meet(member_ids=days, meets=meets, day=days, closed_by=lambda _card: ClosedBy.PURCHASE)
    return len(closed)


def sales_pushes_withdraw(*, store: Store, members: dict[int, tuple] | None = None) -> int:
    """A member with an open complaint gets the complaint's tasks only: open cards holding nothing
    but sales pushes (upgrade, keep tier, campaign invitation) for such members are cancelled.
    `members`: the store's member rows the day's run has read (`_members`), whose open complaints
    are known; the others on the store's cards (moved away since) are read."""
    others = set(TaskKind.values) - SALES_PUSH_KINDS
    open_cards = FollowUpTask.objects.filter(store=store, status=TaskStatus.OPEN, is_contact=True)
    # Store-sized reads first (the store's open cards by its index, then which of their members
    # complain, by primary key): joined in one statement, the planner walked the chain's open tasks.
    cards = list(open_cards.order_by().values_list("pk", "member_id"))
    known = members or {}
    on_cards = sorted({member_id for _pk, member_id in cards})
    complaining = {pk for pk in on_cards if pk in known and known[pk][OPEN_COMPLAINTS] > 0}
    unknown = [pk for pk in on_cards if pk not in known]
    chunk = (len(unknown) or 1) if connection.vendor == "postgresql" else 2000
    for i in range(0, len(unknown), chunk):
        complaint = Member.objects.filter(open_complaints__gt=0)
        complaining.update(ids_filter(complaint, "id", unknown[i : i + chunk]).values_list("pk", flat=True))
    task_ids = [pk for pk, member_id in cards if member_id in complaining]
    if not task_ids:
        return 0
    return (
        ids_filter(open_cards.filter(member__open_complaints__gt=0), "id", task_ids)
        .exclude(reasons__kind__in=others)
        .update(status=TaskStatus.CANCELLED, note=_("会员有未结投诉，暂停推销"), updated_at=timezone.now())
    )


def gift_plans_follow_tier(*, store: Store | None = None, member_ids: list[int] | None = None) -> int:
    """A planned gift (not yet prepared) follows its member's current tier: the gift and budget of
    GiftPolicy for that tier. The plans are read through their own index (the store's or the
    members'), each with its member's tier by primary key, and only the plans that moved are
    updated, by id. Joined to the members in one statement, statistics that had not yet seen the
    plans let the planner hash every member of the chain for a store's few hundred (issue 14)."""
    plans = GiftPlan.objects.filter(status=GiftStatus.PLANNED, occasion__in=Occasion.values)
    if store is not None:
        plans = plans.filter(store=store)
    if member_ids is not None:
        plans = ids_filter(plans, "member_id", list(member_ids))
    member_tier = Subquery(Member.objects.filter(pk=OuterRef("member_id")).values("tier")[:1])
    known = set(Tier.values)
    moved = [
        pk
        for pk, tier, now in plans.order_by().annotate(now=member_tier).values_list("pk", "tier", "now")
        if now in known and now != tier
    ]
    if not moved:
        return 0
    # The member's tier and that tier's policy for the occasion (none: no gift), as they are now.
    tier_of_member = Member.objects.filter(pk=OuterRef(OuterRef("member_id"))).values("tier")[:1]
    policy = GiftPolicy.objects.filter(tier=Subquery(tier_of_member), occasion=OuterRef("occasion"))
    return ids_filter(GiftPlan.objects.filter(status=GiftStatus.PLANNED), "id", moved).update(
        tier=member_tier,
        gift=Coalesce(Subquery(policy.values("gift")[:1]), Value("")),
        budget=Coalesce(Subquery(policy.values("budget")[:1]), Value(0), output_field=DecimalField()),
    )


def _post_purchase(batch: Batch, on: date, rules: ProgramRules, receipts: list[Receipt]) -> None:
    """A follow-up for every receipt recorded since the last run, whatever its source; several on
    one day join one card. The note's wording is translated once, not once a receipt (tens of
    microseconds each)."""
    note = _("小票 %(receipt)s")
    for purchase in receipts:
        batch.task(
            member_id=purchase.member_id,
            consultant_id=purchase.consultant_id,
            kind=TaskKind.POST_PURCHASE,
            due=post_purchase_due(purchase.date, on, rules),
            origin=f"purchase:{purchase.pk}",
            note=note % {"receipt": purchase.receipt_no},
        )


def _members(batch: Batch, on: date) -> dict[int, tuple]:
    """The store's members, by id: (member, consultant, tier, joined, birthday, lunar, last positive
    purchase, the local day of the last reached contact), in the members' order (latest joined
    first), touches through today (a day caught up late heeds the contacts and receipts since) and
    back to `_touch_horizon` (an older one counts as none: the same answers). One read for the
    day's rules: which receipts are the store's, care, win-back and birthdays; two correlated
    probes per member (the purchases' (member, date) and the visits' (member, at) indexes), never
    the chain's rows. The rules decide in Python what their cadences, windows and dates make of
    it. Then the member's open complaints and (PostgreSQL, `_with_recorded`) the ids of their
    receipts `recorded_receipts` takes (None when none, and on SQLite). The contact comes as a day,
    not a time: the rules compare it with days, and a date costs no time-zone conversion in Python."""
    if getattr(batch, "_members_on", None) != on:
        upto = max(on, timezone.localdate())
        bought_from, reached_from = _touch_horizon(on, batch.rules or ProgramRules.load())
        last_bought = Subquery(
            Purchase.objects.filter(member_id=OuterRef("pk"), amount__gt=0, date__gte=bought_from, date__lte=upto)
            .order_by("-date")
            .values("date")[:1]
        )
        last_reached = Subquery(
            Visit.objects.filter(
                member_id=OuterRef("pk"),
                result=VisitResult.REACHED,
                at__gte=reached_from,
                at__lt=_start_of(upto + timedelta(days=1)),
            )
            .order_by("-at")
            .annotate(day=TruncDate("at"))
            .values("day")[:1]
        )
        rows = (
            store_members(batch.store)
            .annotate(last_bought=last_bought, last_reached=last_reached)
            .values_list(
                "pk",
                "consultant_id",
                "tier",
                "joined_on",
                "birthday",
                "birthday_lunar",
                "last_bought",
                "last_reached",
                "open_complaints",
            )
        )
        rows = _with_recorded(rows, on) if connection.vendor == "postgresql" else ((*row, None) for row in rows)
        batch._members = {row[0]: row for row in rows}
        batch._members_on = on
    return batch._members


OPEN_COMPLAINTS = 8  # the columns of a `_members` row
RECORDED = 9


def _with_recorded(members: QuerySet, on: date) -> list[tuple]:
    """The `_members` rows (PostgreSQL), each with the ids of the member's receipts recorded these
    two days that `recorded_receipts` takes, NULL when none: a third probe of the index the first
    walked (its pages just read), so finding the store's receipts costs the store's rows, not the
    chain's two days. Only for a member whose last positive purchase (the first probe's answer,
    computed once in the inner query) is recent enough for one: such a receipt, dated within
    `POST_PURCHASE_MAX_AGE_DAYS`, is itself a positive purchase that recent (`_touch_horizon`
    reaches back that far): the month's buyers are probed, not every member. A row holding no list
    is one the garbage collector stops watching (5,000 lists a store it would walk again and
    again)."""
    sql, params = members.query.sql_with_params()
    probe = _recorded(on).filter(member_id=RawSQL('"m"."pk"', ())).order_by().values("pk")
    probe_sql, probe_params = probe.query.sql_with_params()
    # Both statements come from the ORM, every value is a parameter; then the members' order.
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "m".*, CASE WHEN "m"."last_bought" >= %s THEN NULLIF(ARRAY({probe_sql}), %s) END '  # noqa: S608
            f'FROM ({sql}) "m" ORDER BY "m"."joined_on" DESC, "m"."pk" DESC',
            [on - timedelta(days=POST_PURCHASE_MAX_AGE_DAYS), *probe_params, [], *params],
        )
        return cursor.fetchall()


def _touch_horizon(on: date, rules: ProgramRules) -> tuple[date, datetime]:
    """How far back a member's last positive purchase and last reached contact can still change
    what the care and win-back rules decide on `on`: the earliest day either rule compares them
    with (a care cadence's first day, the win-back window's first day), and for the purchase the
    oldest date of a receipt the run takes (`_with_recorded` looks for those of recent buyers). A
    touch before it counts as none, the same answer (older than every day the rules compare it
    with), and the probes stop there: most members' history is never read, only the recent few
    rows of those who have any."""
    care_since = min(on - timedelta(days=rules.care_days(tier) - 1) for tier in Tier.values)
    lapse_from = on - timedelta(days=rules.churn_days - 1)
    receipts_from = on - timedelta(days=POST_PURCHASE_MAX_AGE_DAYS)
    return min(care_since, lapse_from, receipts_from), _start_of(care_since)


def _activity(batch: Batch, on: date) -> list[tuple]:
    """(member, consultant, tier, joined, last positive purchase, day of the last reached contact)
    of the store's members with a tier, for the care and win-back rules (read once a run)."""
    members = _members(batch, on)
    if getattr(batch, "_activity_of", None) is not members:
        tiers = set(Tier.values)
        batch._activity = [
            (pk, consultant_id, tier, joined_on, last_bought, last_reached)
            for pk, consultant_id, tier, joined_on, _born, _lunar, last_bought, last_reached, _o, _r in members.values()
            if tier in tiers
        ]
        batch._activity_of = members
    return batch._activity


def _care(batch: Batch, on: date, rules: ProgramRules) -> None:
    """Members with neither a reached contact nor a purchase for their tier's cadence, and no open
    care reason. The capacity spreads them (tasks_add).

    Two store-sized reads, not one anti-join: the members due, then which of them hold an open care
    reason (their reasons by the (member, kind) index). However the statistics stand after a bulk
    load, no plan can turn the open-care check into a loop over the chain's tasks."""
    # Per tier: (joined by, contacted or bought on or after the day on − cadence + 1).
    cadences = {}
    for tier in Tier.values:
        cadence = rules.care_days(tier)
        since = on - timedelta(days=cadence - 1)
        cadences[tier] = (on - timedelta(days=cadence), since)
    members = []
    for member_id, consultant_id, tier, joined_on, last_bought, last_reached in _activity(batch, on):
        joined_by, since = cadences[tier]
        if joined_on > joined_by:
            continue
        if (last_reached is None or last_reached < since) and (last_bought is None or last_bought < since):
            members.append((member_id, consultant_id))
    open_care = _holding_open_care(sorted(pk for pk, _consultant in members)) if members else set()
    for member_id, consultant_id in members:
        if member_id not in open_care:
            batch.task(
                member_id=member_id, consultant_id=consultant_id, kind=TaskKind.CARE, due=on, origin=f"care:{on}"
            )


def _holding_open_care(ids: list[int]) -> set[int]:
    """Which of the members (sorted ids) hold a care reason on an open task: a probe per member of
    the reasons' (member, kind, origin) index, then the task by its key (`rows_per_id`), a loop no
    plan turns into a scan of the chain's reasons or open tasks, whatever the statistics say after
    a bulk load (issue 14). A reason is always on a task of its own member (the card engine's
    invariant)."""
    reasons = TaskReason.objects.filter(kind=TaskKind.CARE, task__status=TaskStatus.OPEN).order_by()
    return {member_id for (member_id,) in rows_per_id(reasons.values_list("member_id"), "member_id", ids)}


def _birthday_prep(batch: Batch, *, member_id: int, consultant_id: int | None, tier: str, day: date, due: date):
    batch.task(
        member_id=member_id,
        consultant_id=consultant_id,
        kind=TaskKind.BIRTHDAY_PREP,
        due=due,
        origin=f"birthday:{day}",
        note=_("生日 %(date)s") % {"date": day},
    )
    batch.gift(member_id=member_id, tier=tier, occasion=Occasion.BIRTHDAY, on=day)


def _occasion_prep(batch: Batch, *, row: tuple, day: date, due: date) -> None:
    pk, member_id, consultant_id, tier, kind, label = row
    what = label or str(dict(ImportantDateKind.choices).get(kind, kind))
    _prep(
        batch,
        member_id=member_id,
        consultant_id=consultant_id,
        tier=tier,
        what=what,
        occasion=occasion_of(kind),
        origin=f"occasion-prep:{pk}:{day}",
        day=day,
        due=due,
    )


def _prep(
    batch: Batch,
    *,
    member_id: int,
    consultant_id: int | None,
    tier: str,
    what: str,
    occasion: str,
    origin: str,
    day: date,
    due: date,
) -> None:
    """An occasion's (or a relative's birthday's) preparation task and gift plan: tiers A and B only."""
    if tier not in (Tier.A, Tier.B):
        return
    batch.task(
        member_id=member_id,
        consultant_id=consultant_id,
        kind=TaskKind.BIRTHDAY_PREP,
        due=due,
        origin=origin,
        note=_("准备：%(what)s %(date)s") % {"what": what, "date": day},
    )
    batch.gift(member_id=member_id, tier=tier, occasion=occasion, on=day, label=what[:100])


class _BirthdayIndex(NamedTuple):
    """The store's members with a birthday, as (position, member, consultant, tier, joined,
    birthday) rows in the members' order: solar ones by month and day, lunar ones by their lunar
    month and day (None: a date the calendar cannot place)."""

    solar: dict[tuple[int, int], list[tuple]]
    lunar: dict[_LunarMonthDay | None, list[tuple]]


def _birthday_index(batch: Batch, on: date) -> _BirthdayIndex:
    members = _members(batch, on)
    if getattr(batch, "_birthdays_of", None) is not members:
        solar: dict[tuple[int, int], list[tuple]] = {}
        lunar: dict[_LunarMonthDay | None, list[tuple]] = {}
        rows = enumerate(members.values())  # unpacked whole: a starred rest would be a list a row
        for position, (pk, consultant, tier, joined_on, born, is_lunar, _b, _r, _o, _rec) in rows:
            if born is None:
                continue
            row = (position, pk, consultant, tier, joined_on, born)
            if is_lunar:
                lunar.setdefault(_lunar_month_day(born), []).append(row)
            else:
                solar.setdefault((born.month, born.day), []).append(row)
        batch._birthday_index = _BirthdayIndex(solar, lunar)
        batch._birthdays_of = members
    return batch._birthday_index


def _batch_birthdays_on(batch: Batch, on: date, target: date) -> list[tuple[int, int | None, str]]:
    """`_birthdays_on`, the same rows in the same order (solar, then lunar), from the store's
    member rows the day's run has read, sorted out once a run by (lunar) month and day: a day
    looks at the members whose date can fall on it, and a lunar month and day is placed once."""
    index = _birthday_index(batch, on)
    solar = list(index.solar.get((target.month, target.day), ()))
    if target.month == 2 and target.day == 28 and not calendar.isleap(target.year):
        solar = sorted(solar + index.solar.get((2, 29), []))  # 29 February counts on the 28th
    lunar = []
    for month_day, rows in index.lunar.items():
        found = None if month_day is None else _lunar_next(month_day, target)
        if found is not None:
            if found == target:
                lunar += rows
        else:  # `_occurrence`: a lunar date the calendar cannot place recurs as a solar one
            lunar += [row for row in rows if next_occurrence(row[5], lunar=False, on_or_after=target) == target]
    lunar.sort()
    return [(pk, consultant, tier) for _p, pk, consultant, tier, joined_on, _b in solar + lunar if joined_on <= target]


def _birthdays(batch: Batch, on: date, rules: ProgramRules) -> None:
    prep_day = on + timedelta(days=rules.lead_days)
    for member_id, consultant_id, tier in _batch_birthdays_on(batch, on, prep_day):
        _birthday_prep(batch, member_id=member_id, consultant_id=consultant_id, tier=tier, day=prep_day, due=on)
    for member_id, consultant_id, _tier in _batch_birthdays_on(batch, on, on):
        batch.task(
            member_id=member_id, consultant_id=consultant_id, kind=TaskKind.BIRTHDAY, due=on, origin=f"birthday:{on}"
        )


def _important_dates_on_days(batch: Batch, on: date, days: tuple[date, ...]) -> dict[date, list[tuple]]:
    """`_important_dates_on` for each of `days`, the same rows in the same order (solar, then
    lunar), from one query: the solar matches of every day and the lunar dates of the store's
    members (their ids as one array on PostgreSQL: the member rows are read once a run, `_members`),
    checked here."""
    members = _members(batch, on)
    wanted = Q(lunar=True)
    for day in days:
        wanted |= Q(lunar=False) & _solar_matches("date", day)
    dates = ImportantDate.objects.filter(wanted)
    if connection.vendor == "postgresql":
        dates = ids_filter(dates, "member_id", list(members))
    else:
        dates = dates.filter(member__home_store=batch.store, member__erased_at__isnull=True)
    rows = []
    for pk, member_id, kind, label, original, lunar in dates.order_by("date", "pk").values_list(
        "pk", "member_id", "kind", "label", "date", "lunar"
    ):
        if member_id not in members:  # erased since the run read the members (SQLite's join)
            continue
        _pk, consultant_id, tier, joined_on, *_rest = members[member_id]
        rows.append(((pk, member_id, consultant_id, tier, kind, label), original, lunar, joined_on))
    found: dict[date, list[tuple]] = {}
    for day in days:
        solar = [r for r, original, lunar, joined in rows if not lunar and joined <= day and _solar_hit(original, day)]
        lunar = [
            r
            for r, original, lunar, joined in rows
            if lunar and joined <= day and _occurrence(original, lunar=True, on_or_after=day) == day
        ]
        found[day] = solar + lunar
    return found


def _occasions(batch: Batch, on: date, rules: ProgramRules) -> None:
    prep_day = on + timedelta(days=rules.lead_days)
    labels = dict(ImportantDateKind.choices)
    found = _important_dates_on_days(batch, on, (on, prep_day))
    named = _with_partner(found[prep_day] + found[on])  # both days' spouses in one read
    for row in named[: len(found[prep_day])]:
        _occasion_prep(batch, row=row, day=prep_day, due=on)
    for pk, member_id, consultant_id, _tier, kind, label in named[len(found[prep_day]) :]:
        what = label or str(labels.get(kind, kind))
        batch.task(
            member_id=member_id,
            consultant_id=consultant_id,
            kind=TaskKind.OCCASION,
            due=on,
            origin=f"occasion:{pk}:{on}",
            note=what,
        )


# --- Family links (issue 11 item 6) --------------------------------------------------------------


def _with_partner(rows: list[tuple]) -> list[tuple]:
    """Important-date rows with the spouse named in a wedding anniversary's label ("结婚纪念日（配偶
    王强）"), when the member has one on file, so the greeting says whose day it is."""
    anniversaries = {row[1] for row in rows if row[4] == ImportantDateKind.WEDDING_ANNIVERSARY}
    if not anniversaries:
        return rows
    spouses = {
        member_id: relative_name or name
        for member_id, relative_name, name in MemberRelation.objects.filter(
            member_id__in=anniversaries, kind=RelationKind.SPOUSE
        ).values_list("member_id", "relative__name", "name")
    }
    labels = dict(ImportantDateKind.choices)
    named = []
    for pk, member_id, consultant_id, tier, kind, label in rows:
        if kind == ImportantDateKind.WEDDING_ANNIVERSARY and member_id in spouses:
            what = label or str(labels[kind])
            label = (_("%(what)s（配偶 %(name)s）") % {"what": what, "name": spouses[member_id]})[:100]
        named.append((pk, member_id, consultant_id, tier, kind, label))
    return named


def _relation_birthdays_on(store: Store, days: tuple[date, ...]) -> dict[date, list[tuple]]:
    """For each of `days`, (relation, member, consultant, tier, what) of relatives whose birthday
    falls on it: a relative who is not a member (solar or lunar), and a spouse who is a member
    (their own birthday, as on their profile). `what` names the relation and the person ("配偶
    王强 生日"). One query for all the days: the solar matches and every lunar one, checked here."""
    relatives = Q(relative__isnull=True, birthday__isnull=False)
    spouses = Q(
        kind=RelationKind.SPOUSE,
        relative__isnull=False,
        relative__erased_at__isnull=True,
        relative__birthday__isnull=False,
    )
    wanted = (relatives & Q(birthday_lunar=True)) | (spouses & Q(relative__birthday_lunar=True))
    for day in days:
        wanted |= relatives & Q(birthday_lunar=False) & _solar_matches("birthday", day)
        wanted |= spouses & Q(relative__birthday_lunar=False) & _solar_matches("relative__birthday", day)
    rows = (
        MemberRelation.objects.filter(member__home_store=store, member__erased_at__isnull=True)
        .filter(wanted)
        .values_list(
            "pk",
            "member_id",
            "member__consultant_id",
            "member__tier",
            "member__joined_on",
            "kind",
            "name",
            "birthday",
            "birthday_lunar",
            "relative__name",
            "relative__birthday",
            "relative__birthday_lunar",
        )
    )
    kinds = dict(RelationKind.choices)
    birthday = _("%(kind)s %(name)s 生日")  # translated once, not once a relative
    found: dict[date, list[tuple]] = {day: [] for day in days}
    for pk, member_id, consultant_id, tier, joined_on, kind, name, born, lunar, *member_relative in rows:
        relative_name, relative_born, relative_lunar = member_relative
        if relative_name is not None:  # a spouse who is a member: their own birthday
            name, born, lunar = relative_name, relative_born, relative_lunar
        what = birthday % {"kind": kinds[kind], "name": name}
        for day in days:
            if joined_on <= day and _occurrence(born, lunar=lunar, on_or_after=day) == day:
                found[day].append((pk, member_id, consultant_id, tier, what))
    return found


def _relation_birthdays(batch: Batch, on: date, rules: ProgramRules) -> None:
    """A relative's birthday greets through the member's consultant: the greeting on the day (an
    `occasion` reason joining the member's one card) and, for tiers A and B, the gift prepared
    `lead_days` before, as for the member's important dates. Origins are per link and date."""
    prep_day = on + timedelta(days=rules.lead_days)
    found = _relation_birthdays_on(batch.store, (on, prep_day))
    for pk, member_id, consultant_id, tier, what in found[prep_day]:
        _prep(
            batch,
            member_id=member_id,
            consultant_id=consultant_id,
            tier=tier,
            what=what,
            occasion=Occasion.FAMILY,
            origin=f"relation-prep:{pk}:{prep_day}",
            day=prep_day,
            due=on,
        )
    for pk, member_id, consultant_id, _tier, what in found[on]:
        batch.task(
            member_id=member_id,
            consultant_id=consultant_id,
            kind=TaskKind.OCCASION,
            due=on,
            origin=f"relation:{pk}:{on}",
            note=what,
        )


def preparations_for_members(*, member_ids: list[int], today: date) -> dict[str, int]:
    """A member just enrolled, or a date just added: a birthday or occasion inside the lead window
    (today … today + lead) missed its preparation day, so its preparation task (due today) and
    gift plan are made now, and today's greeting if it is today. Later ones come with the daily
    run as usual."""
    rules = ProgramRules.load()
    end = today + timedelta(days=rules.lead_days)
    members = Member.objects.filter(pk__in=member_ids, erased_at__isnull=True).select_related("home_store")
    batches: dict[int, Batch] = {}
    fields = ("pk", "member_id", "member__consultant_id", "member__tier", "kind", "label")
    dates = list(ImportantDate.objects.filter(member_id__in=member_ids).values_list(*fields, "date", "lunar"))
    for member in members:
        batch = batches.setdefault(member.home_store_id, Batch(member.home_store, on=today, rules=rules))
        if member.birthday:
            day = next_occurrence(member.birthday, lunar=member.birthday_lunar, on_or_after=today)
            if day <= end:
                _birthday_prep(
                    batch, member_id=member.pk, consultant_id=member.consultant_id, tier=member.tier, day=day, due=today
                )
            if day == today and member.joined_on <= today:  # this morning's run could not know
                batch.task(
                    member_id=member.pk,
                    consultant_id=member.consultant_id,
                    kind=TaskKind.BIRTHDAY,
                    due=today,
                    origin=f"birthday:{today}",
                )
        labels = dict(ImportantDateKind.choices)
        for *row, original, lunar in dates:
            day = next_occurrence(original, lunar=lunar, on_or_after=today)
            if row[1] != member.pk or day > end:
                continue
            _occasion_prep(batch, row=tuple(row), day=day, due=today)
            if day == today and member.joined_on <= today:
                pk, _member_id, consultant_id, _tier, kind, label = row
                batch.task(
                    member_id=member.pk,
                    consultant_id=consultant_id,
                    kind=TaskKind.OCCASION,
                    due=today,
                    origin=f"occasion:{pk}:{today}",
                    note=label or str(labels.get(kind, kind)),
                )
    counts: Counter = Counter()
    for batch in batches.values():
        counts.update(batch.save())
    return dict(counts)


def _win_back(batch: Batch, on: date, rules: ProgramRules) -> None:
    """Members who lapse within `win_back_days` (their last activity, join or positive purchase,
    lies in [on − churn + 1, on − churn + win_back]) and had no reached contact within their
    tier's cadence: one win-back per lapse (its origin is the last activity day)."""
    first = on - timedelta(days=rules.churn_days - 1)
    last = on - timedelta(days=rules.churn_days - rules.win_back_days)
    # No reached contact within the tier's cadence: on or after the day on − cadence + 1.
    since = {tier: on - timedelta(days=rules.care_days(tier) - 1) for tier in Tier.values}
    members = []
    for member_id, consultant_id, tier, joined_on, last_bought, last_reached in _activity(batch, on):
        if joined_on > on:
            continue
        last_activity = max(joined_on, last_bought or joined_on)
        if not first <= last_activity <= last:
            continue
        if last_reached is None or last_reached < since[tier]:
            members.append((member_id, consultant_id, last_activity))
    note = _("%(date)s 将流失")  # translated once, not once a member
    for member_id, consultant_id, last_activity in members:
        batch.task(
            member_id=member_id,
            consultant_id=consultant_id,
            kind=TaskKind.WIN_BACK,
            due=on,
            origin=f"win_back:{last_activity}",
            note=note % {"date": last_activity + timedelta(days=rules.churn_days)},
        )
