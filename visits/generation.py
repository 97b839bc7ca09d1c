"""The day's follow-up list (DOMAIN §7), generated for a store and a date with set-based queries.

Every rule answers "which tasks are due because of this day?", so generating every day in turn
(the duty catches up missed days) never misses one, and generating a day twice creates nothing:
each task's `origin` is unique per member and kind in the database.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Role, Staff, Store
from members.dates import next_occurrence
from members.models import ImportantDate, ImportantDateKind, Member, ProgramRules, Purchase, Tier

from .models import CONTACT_KINDS, FollowUpTask, GiftPlan, GiftPolicy, Occasion, TaskKind, TaskStatus, Visit


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


def _occurs_on(rows, target: date):
    """Filter (key, original date, lunar) rows to those whose occurrence is `target`."""
    for key, original, lunar in rows:
        if next_occurrence(original, lunar=lunar, on_or_after=target) == target:
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
    """Tasks and gift plans to create, skipping those already on file."""

    def __init__(self, store: Store):
        self.store = store
        self.assign = Assigner.for_store(store)
        self.tasks: list[FollowUpTask] = []
        self.plans: list[GiftPlan] = []
        self.policies = {(p.tier, p.occasion): p for p in GiftPolicy.objects.all()}

    def task(self, *, member_id: int, consultant_id: int | None, kind: str, due: date, origin: str, note: str = ""):
        self.tasks.append(
            FollowUpTask(
                store=self.store,
                member_id=member_id,
                assignee_id=self.assign(consultant_id),
                kind=kind,
                is_contact=kind in CONTACT_KINDS,
                due_date=due,
                scheduled_for=due,
                origin=origin,
                note=note[:200],
            )
        )

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

    def save(self) -> Counter:
        """Insert what is new. The unique constraints skip what is on file (and make a concurrent
        double run harmless); what was inserted is counted from the rows above the last id."""
        counts: Counter = Counter()
        last_task = FollowUpTask.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        FollowUpTask.objects.bulk_create(self.tasks, batch_size=1000, ignore_conflicts=True)
        counts.update(FollowUpTask.objects.filter(pk__gt=last_task, store=self.store).values_list("kind", flat=True))
        last_plan = GiftPlan.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        GiftPlan.objects.bulk_create(self.plans, batch_size=1000, ignore_conflicts=True)
        counts["gift_plans"] = GiftPlan.objects.filter(pk__gt=last_plan, store=self.store).count()
        return counts


def tasks_generate(*, store: Store, on: date, rules: ProgramRules | None = None) -> dict[str, int]:
    """Generate the follow-up tasks (and birthday/occasion gift plans) that day `on` brings."""
    rules = rules or ProgramRules.load()
    batch = Batch(store)
    _post_purchase(batch, on, rules)
    _care(batch, on, rules)
    _birthdays(batch, on, rules)
    _occasions(batch, on, rules)
    _win_back(batch, on, rules)
    counts = batch.save()
    return {key: counts.get(key, 0) for key in [*TaskKind.values, "gift_plans"] if key != TaskKind.MANUAL}


def _post_purchase(batch: Batch, on: date, rules: ProgramRules) -> None:
    # Purchases dated `on` are due on + 2. Recording a purchase creates its task at once; this
    # catches any that arrived another way (imports, a POS outage).
    purchases = Purchase.objects.filter(
        store=batch.store, member__home_store=batch.store, member__erased_at__isnull=True, date=on, amount__gt=0
    ).values_list("pk", "member_id", "member__consultant_id", "receipt_no")
    for pk, member_id, consultant_id, receipt_no in purchases:
        batch.task(
            member_id=member_id,
            consultant_id=consultant_id,
            kind=TaskKind.POST_PURCHASE,
            due=on + timedelta(days=rules.post_purchase_days),
            origin=f"purchase:{pk}",
            note=_("小票 %(receipt)s") % {"receipt": receipt_no},
        )


def _care(batch: Batch, on: date, rules: ProgramRules) -> None:
    """Members with no completed contact for their tier's cadence, and no open care task."""
    open_care = FollowUpTask.objects.filter(member_id=OuterRef("pk"), kind=TaskKind.CARE, status=TaskStatus.OPEN)
    due = Q(pk__in=[])
    for tier in Tier.values:
        cadence = rules.care_days(tier)
        # Contacted within the cadence: on or after the day (on − cadence + 1).
        recent = Visit.objects.filter(member_id=OuterRef("pk"), at__gte=_start_of(on - timedelta(days=cadence - 1)))
        due |= Q(tier=tier, joined_on__lte=on - timedelta(days=cadence)) & ~Exists(recent)
    members = store_members(batch.store).filter(due).exclude(Exists(open_care)).values_list("pk", "consultant_id")
    for member_id, consultant_id in members:
        batch.task(member_id=member_id, consultant_id=consultant_id, kind=TaskKind.CARE, due=on, origin=f"care:{on}")


def _birthdays(batch: Batch, on: date, rules: ProgramRules) -> None:
    prep_day = on + timedelta(days=rules.lead_days)
    for member_id, consultant_id, tier in _birthdays_on(batch.store, prep_day):
        batch.task(
            member_id=member_id,
            consultant_id=consultant_id,
            kind=TaskKind.BIRTHDAY_PREP,
            due=on,
            origin=f"birthday:{prep_day}",
            note=_("生日 %(date)s") % {"date": prep_day},
        )
        batch.gift(member_id=member_id, tier=tier, occasion=Occasion.BIRTHDAY, on=prep_day)
    for member_id, consultant_id, _tier in _birthdays_on(batch.store, on):
        batch.task(
            member_id=member_id, consultant_id=consultant_id, kind=TaskKind.BIRTHDAY, due=on, origin=f"birthday:{on}"
        )


def _occasions(batch: Batch, on: date, rules: ProgramRules) -> None:
    prep_day = on + timedelta(days=rules.lead_days)
    labels = dict(ImportantDateKind.choices)
    for pk, member_id, consultant_id, tier, kind, label in _important_dates_on(batch.store, prep_day):
        if tier not in (Tier.A, Tier.B):
            continue
        what = label or str(labels.get(kind, kind))
        batch.task(
            member_id=member_id,
            consultant_id=consultant_id,
            kind=TaskKind.OCCASION,
            due=on,
            origin=f"occasion-prep:{pk}:{prep_day}",
            note=_("准备：%(what)s %(date)s") % {"what": what, "date": prep_day},
        )
        batch.gift(member_id=member_id, tier=tier, occasion=occasion_of(kind), on=prep_day, label=what)
    for pk, member_id, consultant_id, _tier, kind, label in _important_dates_on(batch.store, on):
        what = label or str(labels.get(kind, kind))
        batch.task(
            member_id=member_id,
            consultant_id=consultant_id,
            kind=TaskKind.OCCASION,
            due=on,
            origin=f"occasion:{pk}:{on}",
            note=what,
        )


def _win_back(batch: Batch, on: date, rules: ProgramRules) -> None:
    """Members `win_back_days` from lapsing: their last activity (join or positive purchase) was
    exactly churn − win_back days ago, so they turn inactive in win_back days."""
    last_activity_day = on - timedelta(days=rules.churn_days - rules.win_back_days)
    last_purchase = Max("purchases__date", filter=Q(purchases__amount__gt=0, purchases__date__lte=on))
    members = (
        store_members(batch.store)
        .filter(joined_on__lte=on)
        .annotate(last_activity=Greatest(F("joined_on"), Coalesce(last_purchase, F("joined_on"))))
        .filter(last_activity=last_activity_day)
        .values_list("pk", "consultant_id")
    )
    lapse_day = last_activity_day + timedelta(days=rules.churn_days)
    for member_id, consultant_id in members:
        batch.task(
            member_id=member_id,
            consultant_id=consultant_id,
            kind=TaskKind.WIN_BACK,
            due=on,
            origin=f"win_back:{last_activity_day}",
            note=_("%(date)s 将流失") % {"date": lapse_day},
        )
