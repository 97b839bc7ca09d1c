"""Issue 14: the daily rules read the store's members once a run (`_members`) and take from those
rows what each rule needs; receipts recorded since the day before come by the time they were
recorded. The same answers as the rules' own queries: whose receipts they are, who complains,
whose important dates and birthdays fall on the day."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import ImportantDateKind, Member, ProgramRules
from tests.factories import ImportantDateFactory, MemberFactory, PurchaseFactory
from visits.generation import (
    Batch,
    _batch_birthdays_on,
    _birthdays_on,
    _important_dates_on,
    _important_dates_on_days,
    _members,
    recorded_receipts,
    tasks_generate,
)
from visits.models import FollowUpTask, TaskKind, TaskReason, TaskStatus
from visits.services import task_create

D = date.fromisoformat
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _recorded(member, *, store, day: str, recorded: str, amount="1000.00", receipt=None):
    with time_machine.travel(datetime.fromisoformat(recorded).replace(hour=12, tzinfo=SHANGHAI), tick=False):
        kw = {"receipt_no": receipt} if receipt else {}
        return PurchaseFactory(member=member, store=store, date=D(day), amount=Decimal(amount), **kw)


def test_recorded_receipts_are_the_home_stores_whatever_the_till(store_a, store_b, staff_a):
    mine = MemberFactory(home_store=store_a, consultant=staff_a.consultant)
    theirs = MemberFactory(home_store=store_b)
    gone = MemberFactory(home_store=store_a)
    at_home = _recorded(mine, store=store_a, day="2026-03-09", recorded="2026-03-09")
    away = _recorded(mine, store=store_b, day="2026-03-10", recorded="2026-03-10")  # bought at B: A's call
    _recorded(theirs, store=store_a, day="2026-03-09", recorded="2026-03-09")  # B's member at A's till
    _recorded(mine, store=store_a, day="2026-03-08", recorded="2026-03-08")  # recorded the day before yesterday
    _recorded(mine, store=store_a, day="2026-03-09", recorded="2026-03-09", amount="-200.00")  # a return
    _recorded(mine, store=store_a, day="2026-01-02", recorded="2026-03-09")  # history brought in late
    _recorded(gone, store=store_a, day="2026-03-09", recorded="2026-03-09")
    Member.objects.filter(pk=gone.pk).update(erased_at=timezone.now())

    found = recorded_receipts(store=store_a, on=D("2026-03-10"))
    assert [(r.pk, r.member_id, r.consultant_id) for r in found] == [
        (away.pk, mine.pk, staff_a.consultant.pk),
        (at_home.pk, mine.pk, staff_a.consultant.pk),
    ]
    assert [r.member_id for r in recorded_receipts(store=store_b, on=D("2026-03-10"))] == [theirs.pk]


def test_the_run_read_finds_a_receipt_dated_a_month_back_under_short_cadences(store_a, store_b):
    """The run's read looks for a member's receipts only when their last positive purchase is
    recent enough for one (PostgreSQL): a receipt dated a month back (the oldest taken) is still
    found when the rules' cadences and lapse window look back less far than that."""
    on = D("2026-03-10")
    old = MemberFactory(home_store=store_a, joined_on=D("2025-01-01"))
    recent = MemberFactory(home_store=store_a, joined_on=D("2025-01-01"))
    refunded = MemberFactory(home_store=store_a, joined_on=D("2025-01-01"))
    _recorded(old, store=store_a, day="2026-02-08", recorded="2026-03-09")  # dated on − 30: taken
    _recorded(old, store=store_a, day="2026-02-07", recorded="2026-03-09")  # on − 31: history, not taken
    _recorded(recent, store=store_b, day="2026-03-09", recorded="2026-03-10")
    _recorded(recent, store=store_a, day="2026-03-01", recorded="2026-03-01")  # recorded long before
    _recorded(refunded, store=store_a, day="2026-03-09", recorded="2026-03-09", amount="-50.00")
    rules = ProgramRules.load()
    rules.care_days_a = rules.care_days_b = rules.care_days_c = 7
    rules.churn_days, rules.win_back_days = 14, 3
    members = _members(Batch(store_a, on=on, rules=rules), on)

    found = recorded_receipts(store=store_a, on=on, members=members)
    assert found == recorded_receipts(store=store_a, on=on)
    assert [(r.member_id, r.date) for r in found] == [(recent.pk, D("2026-03-09")), (old.pk, D("2026-02-08"))]


def test_a_receipt_recorded_yesterday_makes_one_call_with_its_receipt_number(store_a, staff_a):
    member = MemberFactory(home_store=store_a, consultant=staff_a.consultant, joined_on=D("2026-03-01"))
    _recorded(member, store=store_a, day="2026-03-09", recorded="2026-03-09", receipt="SHA-0042")
    tasks_generate(store=store_a, on=D("2026-03-10"))
    [reason] = TaskReason.objects.filter(kind=TaskKind.POST_PURCHASE)
    assert (reason.member_id, reason.task.assignee_id, reason.due_date) == (
        member.pk,
        staff_a.consultant.pk,
        D("2026-03-11"),
    )
    assert "SHA-0042" in reason.note


def test_birthdays_and_important_dates_from_the_run_read_match_the_rules_own_queries(store_a, store_b, staff_a):
    on, prep = D("2026-03-10"), D("2026-03-17")
    people = [
        MemberFactory(home_store=store_a, birthday=D("1990-03-10"), joined_on=D("2025-01-01")),
        MemberFactory(home_store=store_a, birthday=D("1985-03-17"), joined_on=D("2025-01-01"), tier="A"),
        MemberFactory(home_store=store_a, birthday=D("1980-03-10"), joined_on=D("2026-03-15")),  # joins later
        MemberFactory(home_store=store_a, birthday=D("1979-02-13"), birthday_lunar=True, joined_on=D("2025-01-01")),
        MemberFactory(home_store=store_b, birthday=D("1990-03-10"), joined_on=D("2025-01-01")),
    ]
    for member in people:
        ImportantDateFactory(member=member, kind=ImportantDateKind.WEDDING_ANNIVERSARY, date=D("2010-03-10"))
        ImportantDateFactory(member=member, kind=ImportantDateKind.OTHER, date=D("2015-03-17"), label="开业")
        ImportantDateFactory(member=member, kind=ImportantDateKind.OTHER, date=D("1979-02-20"), lunar=True)
    batch = Batch(store_a, on=on)
    found = _important_dates_on_days(batch, on, (on, prep))
    for day in (on, prep):
        assert _batch_birthdays_on(batch, on, day) == _birthdays_on(store_a, day)
        assert sorted(found[day]) == sorted(_important_dates_on(store_a, day))
    assert len(found[on]) == 3 and len(found[prep]) == 4


def test_a_complaint_withdraws_the_sales_push_of_a_member_who_moved_away(store_a, store_b, staff_a):
    # The card stays with store A; the member's home is now B: not among A's member rows, so who
    # complains is read for them.
    member = MemberFactory(home_store=store_a, consultant=staff_a.consultant, joined_on=D("2026-03-01"))
    with time_machine.travel(datetime(2026, 3, 9, 12, tzinfo=SHANGHAI), tick=False):
        task_create(member=member, kind=TaskKind.UPGRADE_PUSH, due_date=D("2026-03-10"), origin="upgrade:2026-03")
    Member.objects.filter(pk=member.pk).update(home_store=store_b, open_complaints=1)
    tasks_generate(store=store_a, on=D("2026-03-10"))
    assert FollowUpTask.objects.get(member=member).status == TaskStatus.CANCELLED


def test_a_steady_day_reads_no_statistics(store_a, staff_a):
    """The statistics are refreshed only after a run that adds 1,000+ reasons: a small day does not
    even ask whether they are stale."""
    MemberFactory(home_store=store_a, consultant=staff_a.consultant, joined_on=D("2025-01-01"))
    with CaptureQueriesContext(connection) as captured:
        tasks_generate(store=store_a, on=D("2026-03-10"))
    sqls = " ".join(q["sql"] for q in captured.captured_queries)
    assert "pg_class" not in sqls and "ANALYZE" not in sqls
