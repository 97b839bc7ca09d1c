"""The daily list's core rules (DOMAIN §7, issue 9 items 1–7), one by one on small hand-made data.

Defaults: post-purchase +2 days, care A 30 / B 60 / C 90 days, lead 7 days, churn 180, win-back
30 days before lapsing, capacity 15 a day, 3 attempts before the VIP specialist.
"""

from datetime import date, datetime
from decimal import Decimal
from itertools import count
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction

from members.models import ImportantDateKind, Member, ProgramRules
from members.services import important_date_add, member_enroll, purchase_record
from tests.factories import MemberFactory, PurchaseFactory
from visits.cards import Reason, tasks_add
from visits.generation import tasks_generate
from visits.models import ClosedBy, FollowUpTask, GiftPlan, TaskKind, TaskReason, TaskStatus, Visit, VisitResult
from visits.selectors import follow_up_figures
from visits.services import (
    gift_plan_mark,
    task_complete,
    task_create,
    task_reassign,
    task_snooze,
    visit_record,
)

D = date.fromisoformat
_receipts = count(1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: str, hour: int = 12):
    return time_machine.travel(datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI), tick=False)


def bought(member, day: str, amount="1000.00"):
    """A receipt dated and recorded on `day` (bypassing the till's signal, like a POS backlog)."""
    with at(day):
        return PurchaseFactory(member=member, date=D(day), amount=Decimal(amount))


def till(member, day: str, amount="1000.00", receipt=None):
    """A receipt recorded at the till (purchase_record, with its signal)."""
    with at(day):
        return purchase_record(
            member=member,
            store=member.home_store,
            receipt_no=receipt or f"T{next(_receipts)}",
            date=D(day),
            amount=Decimal(amount),
            by=None,
        ).purchase


def cards(member=None, **filters):
    qs = FollowUpTask.objects.filter(is_contact=True, **filters)
    if member is not None:
        qs = qs.filter(member=member)
    return list(qs.order_by("pk"))


def kinds(task) -> list[str]:
    return sorted(task.reasons.values_list("kind", flat=True))


@pytest.fixture
def consultant(staff_a):
    return staff_a.consultant


@pytest.fixture
def member(store_a, consultant):
    # Joined recently: no care reason of its own unless a test wants one.
    return MemberFactory(home_store=store_a, consultant=consultant, name="王芳", joined_on=D("2026-03-01"))


# --- 1. One card per member ------------------------------------------------------------------


def test_a_new_reason_joins_the_open_card_with_the_earliest_due_date(store_a, member):
    # A receipt on 03-10 (due 03-12), then on 03-11 an invitation reminder due 03-11: one card,
    # both reasons, due on the earlier date.
    bought(member, "2026-03-10")
    tasks_generate(store=store_a, on=D("2026-03-10"))
    with at("2026-03-11"):
        task_create(member=member, kind=TaskKind.INVITATION, due_date=D("2026-03-11"), origin="inv:1")
    [card] = cards(member)
    assert kinds(card) == ["invitation", "post_purchase"]
    assert (card.due_date, card.scheduled_for, card.kind) == (D("2026-03-11"), D("2026-03-11"), "post_purchase")


def test_several_receipts_on_one_day_make_one_card(store_a, member):
    for _ in range(3):
        bought(member, "2026-03-10")
    counts = tasks_generate(store=store_a, on=D("2026-03-10"))
    assert counts["post_purchase"] == 3  # one reason per receipt…
    [card] = cards(member)  # …on one card
    assert kinds(card) == ["post_purchase"] * 3 and card.due_date == D("2026-03-12")


def test_preparation_and_complaint_revisit_stay_tasks_of_their_own(store_a, member):
    member.birthday = D("1990-03-17")
    member.save()
    bought(member, "2026-03-10")
    tasks_generate(store=store_a, on=D("2026-03-10"))
    with at("2026-03-10"):
        task_create(member=member, kind=TaskKind.COMPLAINT_REVISIT, due_date=D("2026-03-13"), origin="complaint:1:0")
    by_kind = sorted(FollowUpTask.objects.filter(member=member).values_list("kind", "is_contact"))
    assert by_kind == [("birthday_prep", False), ("complaint_revisit", False), ("post_purchase", True)]


def test_the_database_refuses_a_second_open_card_for_a_member_and_person(store_a, member, consultant):
    def make(kind, origin, status=TaskStatus.OPEN):
        return FollowUpTask.objects.create(
            store=store_a,
            member=member,
            assignee=consultant,
            kind=kind,
            due_date=D("2026-03-10"),
            origin=origin,
            status=status,
            done_on=D("2026-03-10") if status == TaskStatus.DONE else None,
        )

    make(TaskKind.CARE, "care:1")
    make(TaskKind.CARE, "care:0", status=TaskStatus.DONE)  # a closed one is no second card
    make(TaskKind.BIRTHDAY_PREP, "birthday:1")  # nor a preparation task
    with pytest.raises(IntegrityError), transaction.atomic():
        make(TaskKind.POST_PURCHASE, "purchase:1")


def test_the_database_refuses_a_reason_twice(store_a, member, consultant):
    with at("2026-03-10"):
        task, _ = task_create(member=member, kind=TaskKind.MANUAL, due_date=D("2026-03-11"), origin="visit:1")
    with pytest.raises(IntegrityError), transaction.atomic():
        TaskReason.objects.create(task=task, member=member, kind="manual", origin="visit:1", due_date=D("2026-03-11"))


def test_a_reason_already_on_file_adds_nothing_even_after_its_card_closed(store_a, member, consultant):
    reason = Reason(member.pk, consultant.pk, TaskKind.CARE, "care:2026-03-10", D("2026-03-10"))
    assert tasks_add(store=store_a, reasons=[reason], on=D("2026-03-10")) == {"care": 1}
    FollowUpTask.objects.update(status=TaskStatus.DONE, done_on=D("2026-03-10"))
    assert tasks_add(store=store_a, reasons=[reason, reason], on=D("2026-03-11")) == {}
    assert FollowUpTask.objects.count() == 1


def test_two_people_may_each_have_a_card_for_the_member(store_a, member, staff_a):
    # The inviter's invitation reminder and the consultant's receipt follow-up: one card each.
    bought(member, "2026-03-10")
    tasks_generate(store=store_a, on=D("2026-03-10"))
    with at("2026-03-10"):
        task_create(
            member=member,
            kind=TaskKind.INVITATION,
            due_date=D("2026-03-11"),
            origin="inv:2",
            assignee=staff_a.specialist,
        )
    assert sorted((c.assignee.username, kinds(c)[0]) for c in cards(member)) == [
        ("a_consultant", "post_purchase"),
        ("a_specialist", "invitation"),
    ]


# --- 2. Any contact counts -------------------------------------------------------------------


def test_a_reached_visit_logged_anywhere_closes_every_card_it_meets(store_a, member, staff_a):
    # Care due 03-10 (an old member), a receipt follow-up due 03-10 (bought 03-08) and the
    # specialist's invitation reminder due 03-10: a call on 03-10 from the member page closes all.
    member.joined_on = D("2025-01-01")
    member.save()
    bought(member, "2026-03-08")
    tasks_generate(store=store_a, on=D("2026-03-08"))
    tasks_generate(store=store_a, on=D("2026-03-10"))  # care: C, 90 days without a contact
    with at("2026-03-10"):
        task_create(
            member=member,
            kind=TaskKind.INVITATION,
            due_date=D("2026-03-10"),
            origin="inv:3",
            assignee=staff_a.specialist,
        )
        visit = visit_record(member=member, by=staff_a.manager, channel="phone", outcome="聊了新品")
    assert cards(member, status=TaskStatus.OPEN) == []
    closed = cards(member, status=TaskStatus.DONE)
    assert len(closed) == 2
    assert {(c.done_on, c.closed_by, c.closed_by_visit_id) for c in closed} == {
        (D("2026-03-10"), ClosedBy.OTHER_CONTACT, visit.pk)
    }


def test_a_member_who_came_in_bought_and_was_logged_keeps_only_the_receipts_follow_up(store_a, member, staff_a):
    # The case: a birthday greeting today, an upgrade push and an earlier receipt's
    # follow-up were open (no care: she bought three days ago); she comes in on 03-10, buys
    # ¥12,800 and the visit is logged. Left: the new receipt's follow-up, due 03-12 (a call in two
    # days to ask how it wears).
    member.joined_on = D("2025-01-01")
    member.birthday = D("1988-03-10")
    member.save()
    bought(member, "2026-03-07")
    tasks_generate(store=store_a, on=D("2026-03-07"))
    with at("2026-03-10", 7):
        tasks_generate(store=store_a, on=D("2026-03-10"))
        task_create(member=member, kind=TaskKind.UPGRADE_PUSH, due_date=D("2026-03-10"), origin="upgrade:2026-03")
    assert sorted(TaskReason.objects.filter(task__status="open").values_list("kind", flat=True)) == [
        "birthday",
        "post_purchase",
        "upgrade_push",
    ]
    till(member, "2026-03-10", "12800")
    with at("2026-03-10", 16):
        visit_record(member=member, by=staff_a.consultant, channel="in_store", outcome="买了大衣")
    [card] = cards(member, status=TaskStatus.OPEN)
    assert (kinds(card), card.due_date) == (["post_purchase"], D("2026-03-12"))


def test_a_reached_contact_moves_a_later_greeting_to_a_new_card(store_a, member):
    # Care due today and a birthday greeting due 03-17 on one card: the call on 03-10 meets the
    # care, not the birthday, which goes on a new card due 03-17.
    member.joined_on = D("2025-01-01")
    member.save()
    with at("2026-03-10"):
        tasks_generate(store=store_a, on=D("2026-03-10"))
        task_create(member=member, kind=TaskKind.BIRTHDAY, due_date=D("2026-03-17"), origin="birthday:2026-03-17")
        [card] = cards(member)
        visit = task_complete(task=card, by=member.consultant, channel="wechat", outcome="问候")
    card.refresh_from_db()
    assert (card.status, card.closed_by, card.visit, kinds(card)) == ("done", ClosedBy.CONTACT, visit, ["care"])
    [later] = cards(member, status=TaskStatus.OPEN)
    assert (kinds(later), later.due_date, later.scheduled_for) == (["birthday"], D("2026-03-17"), D("2026-03-17"))


def test_a_purchase_closes_care_win_back_upgrade_and_keep_tier(store_a, member, staff_a):
    member.joined_on = D("2025-01-01")
    member.save()
    with at("2026-03-10"):
        tasks_generate(store=store_a, on=D("2026-03-10"))  # care
        task_create(member=member, kind=TaskKind.KEEP_TIER, due_date=D("2026-03-10"), origin="keep:2026-04")
        task_create(
            member=member, kind=TaskKind.MANUAL, due_date=D("2026-03-20"), origin="visit:9", assignee=staff_a.specialist
        )
    till(member, "2026-03-11", "2000")
    [done] = cards(member, status=TaskStatus.DONE)
    assert (kinds(done), done.done_on, done.closed_by) == (["care", "keep_tier"], D("2026-03-11"), ClosedBy.PURCHASE)
    # The specialist's manual follow-up stays; the receipt brings its own follow-up (03-13).
    open_ = {c.assignee.username: kinds(c) for c in cards(member, status=TaskStatus.OPEN)}
    assert open_ == {"a_specialist": ["manual"], "a_consultant": ["post_purchase"]}


def test_the_care_clock_counts_from_the_last_reached_contact_or_purchase(store_a, staff_a):
    # A (30 days). Bought 02-09 → on 03-10 that is 29 days ago (within); on 03-11, 30 → care.
    bought_a = MemberFactory(home_store=store_a, name="买过", tier="A", joined_on=D("2025-01-01"))
    bought(bought_a, "2026-02-09")
    # Called 02-09 but not reached: does not count → care on 03-10 already.
    missed = MemberFactory(home_store=store_a, name="未接通", tier="A", joined_on=D("2025-01-01"))
    Visit.objects.create(
        member=missed,
        store=store_a,
        channel="phone",
        outcome="无人接听",
        result=VisitResult.NO_ANSWER,
        at=datetime(2026, 2, 9, 15, tzinfo=SHANGHAI),
    )
    tasks_generate(store=store_a, on=D("2026-03-10"))
    assert list(TaskReason.objects.values_list("task__member__name", flat=True)) == ["未接通"]
    tasks_generate(store=store_a, on=D("2026-03-11"))
    assert sorted(TaskReason.objects.values_list("task__member__name", "due_date")) == [
        ("买过", D("2026-03-11")),
        ("未接通", D("2026-03-10")),
    ]


def test_win_back_skips_a_member_reached_within_the_cadence(store_a, member):
    # Last purchase 2026-01-10 → lapses 07-09, warned from 06-09. A reached call on 06-01 (C:
    # within 90 days) means no win-back on 06-09…
    bought(member, "2026-01-10")
    Visit.objects.create(
        member=member, store=store_a, channel="phone", outcome="ok", at=datetime(2026, 6, 1, 15, tzinfo=SHANGHAI)
    )
    tasks_generate(store=store_a, on=D("2026-06-09"))
    assert not TaskReason.objects.filter(kind=TaskKind.WIN_BACK).exists()
    # …a member with no such contact gets it, once per lapse however many days are run.
    other = MemberFactory(home_store=store_a, name="沉默", joined_on=D("2026-01-01"))
    bought(other, "2026-01-10")
    for day in ("2026-06-09", "2026-06-10", "2026-06-20"):
        tasks_generate(store=store_a, on=D(day))
    assert list(TaskReason.objects.filter(kind=TaskKind.WIN_BACK).values_list("task__member__name", "origin")) == [
        ("沉默", "win_back:2026-01-10")
    ]


# --- 3. Attempts -----------------------------------------------------------------------------


def test_no_answer_is_an_attempt_and_three_go_to_the_vip_specialist(store_a, member, staff_a):
    member.joined_on = D("2025-01-01")
    member.save()
    tasks_generate(store=store_a, on=D("2026-03-10"))
    [card] = cards(member)
    with at("2026-03-10"):
        task_complete(
            task=card, by=staff_a.consultant, channel="phone", outcome="无人接听", result=VisitResult.NO_ANSWER
        )
    card.refresh_from_db()
    # Still open, one attempt, back tomorrow; the due date (the measure) stays.
    assert (card.status, card.attempts, card.due_date, card.scheduled_for) == (
        "open",
        1,
        D("2026-03-10"),
        D("2026-03-11"),
    )
    with at("2026-03-11"):
        task_complete(
            task=card,
            by=staff_a.consultant,
            channel="phone",
            outcome="关机",
            result=VisitResult.SWITCHED_OFF,
            retry_on=D("2026-03-14"),
        )
    card.refresh_from_db()
    assert (card.attempts, card.scheduled_for, card.assignee) == (2, D("2026-03-14"), staff_a.consultant)
    with at("2026-03-14"):
        task_complete(task=card, by=staff_a.consultant, channel="sms", outcome="拒绝", result=VisitResult.DECLINED)
    card.refresh_from_db()
    assert (card.status, card.attempts, card.assignee) == ("open", 3, staff_a.specialist)
    assert list(card.attempt_visits.values_list("result", flat=True).order_by("at")) == [
        "no_answer",
        "switched_off",
        "declined",
    ]
    # Three attempts, nothing reached: due in March 1, completed 0.
    assert follow_up_figures(store_ids=[store_a.pk], start=D("2026-03-01"), end=D("2026-03-31")) == {
        "due": 1,
        "done": 0,
        "on_time": 0,
    }


def test_an_unreached_visit_from_the_member_page_is_an_attempt_on_the_persons_card(store_a, member, consultant):
    member.joined_on = D("2025-01-01")
    member.save()
    tasks_generate(store=store_a, on=D("2026-03-10"))
    with at("2026-03-10", 16):
        visit = visit_record(member=member, by=consultant, channel="phone", outcome="占线", result="no_answer")
    [card] = cards(member)
    assert (card.status, card.attempts, visit.attempt_of) == ("open", 1, card)


# --- 4. Snooze keeps lateness ----------------------------------------------------------------


def test_a_snooze_moves_the_working_date_only(store_a, member, consultant):
    # Due 03-10, snoozed on 03-12 to 03-20, reached on 03-20: due in March, done, not on time.
    member.joined_on = D("2025-01-01")
    member.save()
    tasks_generate(store=store_a, on=D("2026-03-10"))
    [card] = cards(member)
    with at("2026-03-12"):
        task_snooze(task=card, until=D("2026-03-20"), by=consultant)
    card.refresh_from_db()
    assert (card.due_date, card.scheduled_for, card.snoozed) == (D("2026-03-10"), D("2026-03-20"), True)
    with at("2026-03-20"):
        task_complete(task=card, by=consultant, channel="phone", outcome="ok")
    assert follow_up_figures(store_ids=[store_a.pk], start=D("2026-03-01"), end=D("2026-03-31")) == {
        "due": 1,
        "done": 1,
        "on_time": 0,
    }
    # The week of 03-16 (when it was snoozed to) does not count it: its due date was 03-10.
    assert follow_up_figures(store_ids=[store_a.pk], start=D("2026-03-16"), end=D("2026-03-22"))["due"] == 0


# --- 5. Capacity and priority ----------------------------------------------------------------


def test_care_beyond_the_capacity_is_spread_highest_value_first(store_a, consultant):
    rules = ProgramRules.load()
    rules.daily_care_capacity = 2
    rules.save()
    old = D("2025-01-01")

    def make(name, tier, spend=None):
        m = MemberFactory(home_store=store_a, consultant=consultant, name=name, tier=tier, joined_on=old)
        if spend:
            # Bought 200 days ago: counts in the 12-month spend, not within any cadence.
            PurchaseFactory(member=m, date=D("2025-08-22"), amount=Decimal(spend))
        return m

    make("C甲", "C")
    make("A低", "A", "50000")
    make("B", "B", "20000")
    make("A高", "A", "90000")
    c_reached = make("C乙", "C")
    # C乙 was reached (long ago, outside the cadence) on 2025-06-01; C甲 never: C甲 waited longer.
    Visit.objects.create(
        member=c_reached, store=store_a, channel="phone", outcome="ok", at=datetime(2025, 6, 1, tzinfo=SHANGHAI)
    )
    tasks_generate(store=store_a, on=D("2026-03-10"))
    # Two a day: A高, A低 on 03-10; B, C甲 on 03-11; C乙 on 03-12. Spread care is due on its day.
    plan = sorted(FollowUpTask.objects.values_list("scheduled_for", "due_date", "member__name"))
    assert plan == [
        (D("2026-03-10"), D("2026-03-10"), "A低"),
        (D("2026-03-10"), D("2026-03-10"), "A高"),
        (D("2026-03-11"), D("2026-03-11"), "B"),
        (D("2026-03-11"), D("2026-03-11"), "C甲"),
        (D("2026-03-12"), D("2026-03-12"), "C乙"),
    ]
    # The next day's new care fills what is left: 03-11 is full, so 03-12 has one place left.
    make("A新", "A", "60000")
    tasks_generate(store=store_a, on=D("2026-03-11"))
    assert FollowUpTask.objects.get(member__name="A新").scheduled_for == D("2026-03-12")


def test_birthdays_and_receipts_are_never_capped(store_a, consultant):
    rules = ProgramRules.load()
    rules.daily_care_capacity = 1
    rules.save()
    for i in range(3):
        m = MemberFactory(
            home_store=store_a, consultant=consultant, joined_on=D("2026-03-01"), birthday=D(f"199{i}-03-10")
        )
        bought(m, "2026-03-08")
    tasks_generate(store=store_a, on=D("2026-03-08"))
    tasks_generate(store=store_a, on=D("2026-03-10"))
    assert sorted(FollowUpTask.objects.values_list("scheduled_for", flat=True)) == [D("2026-03-10")] * 3
    assert TaskReason.objects.filter(kind=TaskKind.BIRTHDAY).count() == 3


# --- 6. Late receipts, new members and dates, gifts --------------------------------------------


def test_a_late_receipt_is_followed_up_due_today(store_a, member):
    # Dated 03-01, recorded on 03-10 (a POS backlog): due 03-03 would be past → due 03-10.
    with at("2026-03-10", 9):
        PurchaseFactory(member=member, date=D("2026-03-01"), amount=Decimal("800"))
    tasks_generate(store=store_a, on=D("2026-03-10"))
    assert list(TaskReason.objects.values_list("kind", "due_date")) == [("post_purchase", D("2026-03-10"))]
    # Recorded after the run: the next day's run follows it, due that day.
    with at("2026-03-10", 18):
        PurchaseFactory(member=member, date=D("2026-03-09"), amount=Decimal("300"))
    tasks_generate(store=store_a, on=D("2026-03-11"))
    assert sorted(TaskReason.objects.values_list("due_date", flat=True)) == [D("2026-03-10"), D("2026-03-11")]
    assert len(cards(member)) == 1


def test_a_receipt_imported_is_followed_up_at_once(store_a, staff_a, member):
    from members.imports import import_commit

    data = f"卡号,小票号,日期,金额\n{member.card_no},IMP-1,2026-03-09,1200.00\n".encode()
    with at("2026-03-10"):
        preview = import_commit(kind="purchases", data=data, filename="p.csv", store=store_a, by=staff_a.manager)
    assert preview.committed, (preview.file_errors, preview.errors)
    assert list(TaskReason.objects.values_list("kind", "due_date")) == [("post_purchase", D("2026-03-11"))]


def test_enrolling_a_member_with_a_birthday_next_week_prepares_at_once(store_a, staff_a):
    with at("2026-03-10"):
        member = member_enroll(
            store=store_a,
            by=staff_a.consultant,
            card_no="V9000001",
            name="新会员",
            phone="13900009999",
            birthday=D("1991-03-15"),
            joined_on=D("2026-03-10"),
        )
    prep = FollowUpTask.objects.get(member=member)
    assert (prep.kind, prep.due_date, prep.origin) == ("birthday_prep", D("2026-03-10"), "birthday:2026-03-15")
    plan = GiftPlan.objects.get(member=member)
    assert (plan.occasion_date, plan.tier, plan.gift) == (D("2026-03-15"), "C", "生日贺卡与小礼品")


def test_enrolling_a_member_on_their_birthday_greets_today(store_a, staff_a):
    # The morning's run is over: the enrolment itself puts today's greeting (and the preparation)
    # on the consultant's list.
    with at("2026-03-10", 15):
        member = member_enroll(
            store=store_a,
            by=staff_a.consultant,
            card_no="V9000002",
            name="寿星",
            phone="13900008888",
            birthday=D("1991-03-10"),
            joined_on=D("2026-03-10"),
        )
    [card] = cards(member)
    assert (kinds(card), card.due_date, card.assignee) == (["birthday"], D("2026-03-10"), staff_a.consultant)
    assert FollowUpTask.objects.filter(member=member, kind=TaskKind.BIRTHDAY_PREP).exists()


def test_adding_an_anniversary_inside_the_lead_window_prepares_at_once(store_a, member, consultant):
    member.tier = "A"
    member.save()
    with at("2026-05-15"):
        important_date_add(
            member=member, by=consultant, kind=ImportantDateKind.WEDDING_ANNIVERSARY, date=D("2010-05-20")
        )
        important_date_add(member=member, by=consultant, kind=ImportantDateKind.CHILD_BIRTHDAY, date=D("2015-06-20"))
    # Only the one within 7 days (05-20); the June one comes with the daily run on 06-13.
    assert list(FollowUpTask.objects.values_list("kind", "due_date", "note")) == [
        ("birthday_prep", D("2026-05-15"), "准备：结婚纪念日 2026-05-20")
    ]
    assert list(GiftPlan.objects.values_list("occasion", "occasion_date")) == [("anniversary", D("2026-05-20"))]


def test_a_gift_plan_follows_an_upgrade_until_it_is_prepared(store_a, member, consultant):
    member.birthday = D("1990-03-20")
    member.save()
    tasks_generate(store=store_a, on=D("2026-03-13"))  # plans the C gift for 03-20
    plan = GiftPlan.objects.get(member=member)
    assert (plan.tier, plan.gift) == ("C", "生日贺卡与小礼品")
    till(member, "2026-03-14", "12000")  # → B at once
    plan.refresh_from_db()
    assert (plan.tier, plan.gift) == ("B", "品牌丝巾")
    with at("2026-03-15"):
        gift_plan_mark(plan=plan, status="prepared", by=consultant)
    # Prepared: it stays as it is, and the preparation task is done.
    assert FollowUpTask.objects.get(kind=TaskKind.BIRTHDAY_PREP).closed_by == ClosedBy.GIFT
    till(member, "2026-03-16", "45000")  # → A
    plan.refresh_from_db()
    assert (plan.tier, plan.gift) == ("B", "品牌丝巾")


# --- 7. Keep tier and no sales push over a complaint -------------------------------------------


def test_no_sales_push_to_a_member_with_an_open_complaint(store_a, member, staff_a):
    member.open_complaints = 1
    member.save()
    with at("2026-03-10"):
        for kind in (TaskKind.UPGRADE_PUSH, TaskKind.KEEP_TIER, TaskKind.INVITATION):
            assert task_create(member=member, kind=kind, due_date=D("2026-03-11"), origin=f"{kind}:1") == (None, False)
        task, created = task_create(
            member=member, kind=TaskKind.COMPLAINT_REVISIT, due_date=D("2026-03-13"), origin="complaint:5:0"
        )
    assert created and list(FollowUpTask.objects.values_list("kind", flat=True)) == ["complaint_revisit"]


def test_open_sales_pushes_are_withdrawn_when_a_complaint_opens(store_a, member, staff_a):
    # An upgrade push alone on a card: cancelled by the next run once a complaint is open. A
    # card that also holds a chosen follow-up stays (the consultant still calls about that).
    other = MemberFactory(home_store=store_a, consultant=member.consultant, joined_on=D("2026-03-01"))
    with at("2026-03-09"):
        task_create(member=member, kind=TaskKind.UPGRADE_PUSH, due_date=D("2026-03-10"), origin="upgrade:2026-03")
        task_create(member=other, kind=TaskKind.KEEP_TIER, due_date=D("2026-03-10"), origin="keep:2026-03")
        task_create(member=other, kind=TaskKind.MANUAL, due_date=D("2026-03-12"), origin="visit:1")
    Member.objects.filter(pk__in=[member.pk, other.pk]).update(open_complaints=1)
    tasks_generate(store=store_a, on=D("2026-03-10"))
    assert cards(member)[0].status == TaskStatus.CANCELLED
    [card] = cards(other)
    assert (card.status, kinds(card)) == (TaskStatus.OPEN, ["keep_tier", "manual"])


def test_reassigning_a_card_joins_the_other_persons_card(store_a, member, staff_a):
    bought(member, "2026-03-08")
    tasks_generate(store=store_a, on=D("2026-03-08"))
    with at("2026-03-09"):
        task_create(
            member=member, kind=TaskKind.MANUAL, due_date=D("2026-03-09"), origin="visit:7", assignee=staff_a.specialist
        )
        mine = FollowUpTask.objects.get(assignee=staff_a.consultant)
        kept = task_reassign(task=mine, assignee=staff_a.specialist, by=staff_a.manager)
    mine.refresh_from_db()
    assert mine.status == "cancelled" and kept.assignee == staff_a.specialist
    assert (kinds(kept), kept.due_date) == (["manual", "post_purchase"], D("2026-03-09"))


def test_hq_sets_the_capacity_and_the_attempts_in_the_program_rules_admin(client, db):
    from django.urls import reverse

    from accounts.models import Role
    from tests.factories import StaffFactory

    admin_client = client
    admin_client.force_login(StaffFactory(username="root", role=Role.HQ, store=None, is_staff=True, is_superuser=True))
    rules = ProgramRules.load()
    page = admin_client.get(reverse("admin:members_programrules_change", args=[1]))
    assert 'name="daily_care_capacity"' in page.content.decode()
    data = {f.name: getattr(rules, f.name) for f in ProgramRules._meta.fields if f.name not in ("id", "updated_at")}
    data.update(daily_care_capacity=20, attempts_before_escalation=2)
    response = admin_client.post(reverse("admin:members_programrules_change", args=[1]), data)
    assert response.status_code == 302
    rules.refresh_from_db()
    assert (rules.daily_care_capacity, rules.attempts_before_escalation) == (20, 2)


def test_the_member_page_records_a_no_answer_as_an_attempt(client, store_a, member, consultant):
    from django.urls import reverse

    member.joined_on = D("2025-01-01")
    member.save()
    tasks_generate(store=store_a, on=D("2026-03-10"))
    client.force_login(consultant)
    with at("2026-03-10", 16):
        page = client.get(reverse("visits:visit_add", args=[member.pk]))
        assert 'name="result"' in page.content.decode()
        response = client.post(
            reverse("visits:visit_add", args=[member.pk]),
            {"channel": "phone", "result": "no_answer", "outcome": "无人接听"},
        )
    assert response.status_code == 302
    [card] = cards(member)
    assert (card.status, card.attempts, card.scheduled_for, card.due_date) == (
        "open",
        1,
        D("2026-03-11"),
        D("2026-03-10"),
    )


def test_a_day_caught_up_late_gives_no_care_to_a_member_who_bought_since(store_a, member):
    # The duty missed 03-08 and catches it up on 03-10: she was due for care on 03-08 (C, never
    # contacted since joining in 2025) but bought on 03-09, so the late run gives her none.
    member.joined_on = D("2025-01-01")
    member.save()
    bought(member, "2026-03-09")
    with at("2026-03-10", 6):
        tasks_generate(store=store_a, on=D("2026-03-08"))
    assert not TaskReason.objects.filter(kind=TaskKind.CARE).exists()
