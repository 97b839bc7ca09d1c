"""A month lived day by day on `seed_demo` data (issue 9, "Must show").

Every day: the daily duty (through the duty runner, catching up like beat would), receipts at the
till, every few days an import of late receipts, the staff working their lists (most contacts
reached, some not answered, some cards snoozed), a contact logged from a member page; on the way a
new member whose birthday is next week and an upgrade before a gift's preparation day. After
EVERY day the rules of DOMAIN §7 are checked on the whole database.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from io import StringIO
from itertools import count
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Count, Max

from accounts.models import Role, Staff, Store
from duties.runs import duty_catch_up
from members.imports import import_commit
from members.models import Member, ProgramRules, Purchase, Tier
from members.services import member_enroll, purchase_record
from visits.models import (
    CAPPED_KINDS,
    FollowUpTask,
    GiftPlan,
    GiftPolicy,
    GiftStatus,
    TaskKind,
    TaskReason,
    TaskStatus,
    Visit,
    VisitResult,
)
from visits.selectors import follow_up_figures
from visits.services import DAILY_DUTY, daily_work, task_complete, task_snooze, visit_record

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = date(2026, 12, 1)
DAYS = 31
CAPACITY = 4  # small, so the demo's ~40 members per consultant fill it and it shows
pytestmark = pytest.mark.django_db(transaction=False)


def at(day: date, hour: int, minute: int = 0):
    moment = datetime.combine(day, time(hour, minute)).replace(tzinfo=SHANGHAI)
    return time_machine.travel(moment, tick=False)


class Month:
    """What the simulation did that the checks need to remember."""

    def __init__(self):
        self.rng = random.Random(20261201)
        self.receipts = count(1)
        self.snoozed: dict[int, date] = {}  # reason id → its due date when its card was snoozed
        self.unreached: list[int] = []  # the no-answer visits
        self.new_member: Member | None = None
        self.upgraded: tuple[int, date] | None = None  # gift plan, its preparation day


def _duty(day: date) -> None:
    for store in Store.objects.filter(is_active=True):
        runs = duty_catch_up(duty=DAILY_DUTY, store=store, through=day, work=daily_work)
        assert all(run.status == "done" for run in runs), [run.error for run in runs]


def _till(month: Month, day: date) -> None:
    members = list(Member.objects.filter(erased_at__isnull=True).order_by("pk").values_list("pk", flat=True))
    for member_id in month.rng.sample(members, 4):
        member = Member.objects.select_related("home_store").get(pk=member_id)
        amount = Decimal(month.rng.choice(["680.00", "1280.00", "2990.00", "12800.00"]))
        purchase_record(
            member=member,
            store=member.home_store,
            receipt_no=f"SIM-T{next(month.receipts)}",
            date=day,
            amount=amount,
            by=None,
        )


def _import(month: Month, day: date) -> None:
    """Two receipts of three days ago, brought in by an import (a POS backlog)."""
    store = Store.objects.order_by("pk").first()
    members = list(Member.objects.filter(home_store=store, erased_at__isnull=True).order_by("pk"))
    rows = [
        f"{m.card_no},SIM-I{next(month.receipts)},{day - timedelta(days=3)},{amount}"
        for m, amount in zip(month.rng.sample(members, 2), ("880.00", "4200.00"), strict=True)
    ]
    data = ("卡号,小票号,日期,金额\n" + "\n".join(rows) + "\n").encode()
    manager = Staff.objects.get(store=store, role=Role.MANAGER)
    preview = import_commit(kind="purchases", data=data, filename="pos.csv", store=store, by=manager)
    assert preview.committed, (preview.file_errors, preview.errors)


def _members_import(day: date) -> None:
    """Forty members of a consultant from an old card system, never contacted here: every one is
    due for care at once, and the capacity spreads them (three A members go first)."""
    store = Store.objects.order_by("pk").first()
    consultant = Staff.objects.filter(store=store, role=Role.CONSULTANT).order_by("pk").last()
    rows = [
        f"IMP{n:05d},导入会员{n},1370000{n:04d},2024-06-01,{consultant.username},{'A' if n < 3 else 'C'}"
        for n in range(40)
    ]
    data = ("卡号,姓名,手机,入会日期,顾问,等级\n" + "\n".join(rows) + "\n").encode()
    manager = Staff.objects.get(store=store, role=Role.MANAGER)
    preview = import_commit(kind="members", data=data, filename="old.csv", store=store, by=manager)
    assert preview.committed, (preview.file_errors, preview.errors)


def _work_the_lists(month: Month, day: date) -> None:
    """Each person works most of today's cards: 70% reached, 20% no answer, 10% snoozed."""
    cards = list(
        FollowUpTask.objects.filter(status=TaskStatus.OPEN, is_contact=True, scheduled_for__lte=day)
        .exclude(assignee=None)
        .select_related("member", "assignee")
        .order_by("pk")
    )
    for card in cards:
        card.refresh_from_db(fields=["status"])
        if card.status != TaskStatus.OPEN or month.rng.random() < 0.15:
            continue
        roll = month.rng.random()
        if roll < 0.7:
            task_complete(task=card, by=card.assignee, channel="phone", outcome="聊得很好", satisfaction=5)
        elif roll < 0.9:
            visit = task_complete(
                task=card, by=card.assignee, channel="phone", outcome="无人接听", result=VisitResult.NO_ANSWER
            )
            month.unreached.append(visit.pk)
            card.refresh_from_db()
            assert card.status == TaskStatus.OPEN and visit.attempt_of_id == card.pk
        else:
            for reason_id, due in card.reasons.values_list("pk", "due_date"):
                month.snoozed.setdefault(reason_id, due)
            task_snooze(task=card, until=day + timedelta(days=2), by=card.assignee)


def _member_page_contact(month: Month, day: date) -> None:
    """A contact logged on a member page (no card opened): it closes what it meets."""
    member_ids = list(
        FollowUpTask.objects.filter(status=TaskStatus.OPEN, is_contact=True)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()
    )
    if not member_ids:
        return
    member = Member.objects.get(pk=month.rng.choice(member_ids))
    by = Staff.objects.get(store=member.home_store, role=Role.VIP_SPECIALIST)
    visit_record(member=member, by=by, channel="in_store", outcome="到店试穿")
    still = FollowUpTask.objects.filter(member=member, status=TaskStatus.OPEN, is_contact=True)
    # Only dated reasons for a later day survive a reached contact.
    assert not TaskReason.objects.filter(task__in=still, due_date__lte=day).exists()


def _new_member_with_birthday_next_week(month: Month, day: date) -> None:
    store = Store.objects.order_by("pk").first()
    consultant = Staff.objects.filter(store=store, role=Role.CONSULTANT).order_by("pk").first()
    birthday = (day + timedelta(days=6)).replace(year=1990)
    month.new_member = member_enroll(
        store=store,
        by=consultant,
        card_no="SIM0000001",
        name="新来的",
        phone="13912345678",
        birthday=birthday,
        joined_on=day,
    )
    prep = FollowUpTask.objects.get(member=month.new_member, kind=TaskKind.BIRTHDAY_PREP)
    assert (prep.due_date, prep.status) == (day, TaskStatus.OPEN)
    assert GiftPlan.objects.filter(member=month.new_member, occasion_date=day + timedelta(days=6)).exists()


def _upgrade_before_preparation(month: Month, day: date) -> None:
    """A C member with a planned birthday gift after the preparation window buys enough for B."""
    lead = ProgramRules.load().lead_days
    plan = (
        GiftPlan.objects.filter(
            status=GiftStatus.PLANNED,
            occasion="birthday",
            member__tier=Tier.C,
            member__tier_locked=False,
            member__open_complaints=0,
            occasion_date__gt=day + timedelta(days=lead),
            occasion_date__lte=START + timedelta(days=DAYS - 1),
        )
        .select_related("member__home_store")
        .order_by("occasion_date", "pk")
        .first()
    )
    assert plan is not None, "the demo plans next month's gifts"
    purchase_record(
        member=plan.member,
        store=plan.member.home_store,
        receipt_no=f"SIM-U{next(month.receipts)}",
        date=day,
        amount=Decimal("30000.00"),
        by=None,
    )
    plan.member.refresh_from_db()
    assert plan.member.tier in (Tier.B, Tier.A)
    month.upgraded = (plan.pk, plan.occasion_date - timedelta(days=lead))


# --- The checks ------------------------------------------------------------------------------


def _check_one_card(day: date) -> None:
    doubles = (
        FollowUpTask.objects.filter(status=TaskStatus.OPEN, is_contact=True)
        .values("member_id", "assignee_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not doubles.exists(), (day, list(doubles))


def _last_touch(rules: ProgramRules) -> dict[int, date]:
    """Each member's last reached contact or positive purchase (store dates)."""
    last: dict[int, date] = {}
    for member_id, moment in (
        Visit.objects.filter(result=VisitResult.REACHED).values_list("member_id").annotate(m=Max("at"))
    ):
        last[member_id] = moment.astimezone(SHANGHAI).date()
    for member_id, day in Purchase.objects.filter(amount__gt=0).values_list("member_id").annotate(d=Max("date")):
        last[member_id] = max(day, last.get(member_id, day))
    return last


def _check_care_cadence(day: date, rules: ProgramRules, last: dict[int, date]) -> None:
    """No open care or win-back reason for a member touched (reached or bought) within the cadence
    before it was made: it is made only after a full cadence without a touch, and any touch since
    closes it. (The shortest cadence is used: a tier may have changed since.)"""
    shortest = min(rules.care_days(tier) for tier in Tier.values)
    for member_id, created in TaskReason.objects.filter(
        kind__in=CAPPED_KINDS, task__status=TaskStatus.OPEN
    ).values_list("member_id", "created_at"):
        touched = last.get(member_id)
        made = created.astimezone(SHANGHAI).date()
        assert touched is None or touched <= made - timedelta(days=shortest), (day, member_id, touched, made)


def _check_capacity_and_a_members(day: date, rules: ProgramRules, last: dict[int, date]) -> None:
    # Care/win-back-only cards planned by the capacity (never snoozed or attempted): at most
    # CAPACITY per person and day.
    spread = Counter()
    for card in (
        FollowUpTask.objects.filter(status=TaskStatus.OPEN, kind__in=CAPPED_KINDS, attempts=0)
        .exclude(reasons__kind__in=set(TaskKind.values) - CAPPED_KINDS)
        .values("assignee_id", "scheduled_for", "due_date")
    ):
        if card["scheduled_for"] == card["due_date"] and card["scheduled_for"] >= day:
            spread[(card["assignee_id"], card["scheduled_for"])] += 1
    assert max(spread.values(), default=0) <= CAPACITY, (day, spread.most_common(3))
    # Every A member is contacted within its cadence: touched within 30 days, or on a list with a
    # card that was never pushed back by the capacity.
    cadence = rules.care_days(Tier.A)
    open_cards = set(
        FollowUpTask.objects.filter(status=TaskStatus.OPEN, is_contact=True).values_list("member_id", flat=True)
    )
    for member_id, joined, created in Member.objects.filter(tier=Tier.A, erased_at__isnull=True).values_list(
        "pk", "joined_on", "created_at"
    ):
        if joined > day - timedelta(days=cadence) or created.astimezone(SHANGHAI).date() == day:
            continue  # not due yet, or imported today: the next morning's run lists it
        touched = last.get(member_id)
        assert (touched and touched > day - timedelta(days=cadence)) or member_id in open_cards, (day, member_id)
    for due, created in TaskReason.objects.filter(kind=TaskKind.CARE, task__member__tier=Tier.A).values_list(
        "due_date", "created_at"
    ):
        made = created.astimezone(SHANGHAI).date()
        if made >= START:
            assert due == made, (day, "an A member's care was pushed back by the capacity")


def _check_no_answer_never_completes(month: Month) -> None:
    assert not FollowUpTask.objects.filter(closed_by_visit_id__in=month.unreached).exists()
    assert not FollowUpTask.objects.filter(visit_id__in=month.unreached).exists()
    assert not FollowUpTask.objects.filter(status=TaskStatus.DONE, closed_by="", created_at__date__gte=START).exists()


def _check_snoozes_keep_lateness(month: Month) -> None:
    for reason_id, task_due, due in TaskReason.objects.filter(pk__in=month.snoozed).values_list(
        "pk", "task__due_date", "due_date"
    ):
        assert due == month.snoozed[reason_id]  # its first due date stays
        assert task_due <= due  # and its card is due no later: the lateness is kept


def _check_every_receipt_followed_once(day: date) -> None:
    receipts = set(Purchase.objects.filter(amount__gt=0, receipt_no__startswith="SIM-").values_list("pk", flat=True))
    follow_ups = Counter(
        int(origin.split(":")[1])
        for origin in TaskReason.objects.filter(
            kind=TaskKind.POST_PURCHASE, origin__startswith="purchase:"
        ).values_list("origin", flat=True)
    )
    assert {pk: follow_ups[pk] for pk in receipts} == dict.fromkeys(receipts, 1), day
    # Joined into a contact card, not a task of its own per receipt.
    assert not TaskReason.objects.filter(kind=TaskKind.POST_PURCHASE, task__is_contact=False).exists()


def _check_gift_follows_tier(month: Month, day: date) -> None:
    if month.upgraded is None:
        return
    plan = GiftPlan.objects.select_related("member").get(pk=month.upgraded[0])
    if plan.status == GiftStatus.PLANNED:
        policy = GiftPolicy.objects.get(tier=plan.member.tier, occasion=plan.occasion)
        assert (plan.tier, plan.gift) == (plan.member.tier, policy.gift), day


def test_a_month_on_the_demo_store_keeps_every_rule_every_day():
    rules = ProgramRules.load()
    rules.daily_care_capacity = CAPACITY
    rules.save()
    with at(START - timedelta(days=1), 20):
        call_command("seed_demo", stdout=StringIO())  # the default demo: 300 members a store
    month = Month()
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        with at(day, 6, 30):
            _duty(day)
            # The morning's list, before anyone works it: the capacity holds.
            _check_capacity_and_a_members(day, rules, _last_touch(rules))
        with at(day, 11):
            _till(month, day)
            if offset % 5 == 2:
                _import(month, day)
            if offset == 2:
                _new_member_with_birthday_next_week(month, day)
            if offset == 1:
                _upgrade_before_preparation(month, day)
            if offset == 9:
                _members_import(day)
        with at(day, 15):
            _work_the_lists(month, day)
            _member_page_contact(month, day)
        with at(day, 21):
            last = _last_touch(rules)
            _check_one_card(day)
            _check_care_cadence(day, rules, last)
            _check_capacity_and_a_members(day, rules, last)
            _check_no_answer_never_completes(month)
            _check_snoozes_keep_lateness(month)
            _check_every_receipt_followed_once(day)
            _check_gift_follows_tier(month, day)
    # The month in figures: completion counts reached contacts only, on time within the due date.
    figures = follow_up_figures(store_ids=None, start=START, end=START + timedelta(days=DAYS - 1))
    assert 0 < figures["on_time"] <= figures["done"] < figures["due"]
    assert month.unreached and month.snoozed and month.new_member is not None
