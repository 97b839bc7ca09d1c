"""Task generation (DOMAIN §7) rule by rule on small hand-made data.

Defaults: post-purchase +2 days, care A 30 / B 60 / C 90 days, lead 7 days, churn 180, win-back
30 days before lapsing.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from accounts.models import Role
from members.models import ImportantDateKind, Member, Purchase
from members.services import purchase_record
from tests.factories import ImportantDateFactory, MemberFactory, PurchaseFactory, StaffFactory
from visits.generation import tasks_generate
from visits.models import FollowUpTask, GiftPlan, TaskKind, TaskReason, Visit
from visits.services import task_complete

D = date.fromisoformat
SHANGHAI = ZoneInfo("Asia/Shanghai")


def tasks(kind=None, **filters):
    """The reasons on file (a card may carry several): (member, kind, due date)."""
    qs = TaskReason.objects.filter(**filters)
    if kind:
        qs = qs.filter(kind=kind)
    return sorted(qs.values_list("task__member__name", "kind", "due_date"))


def bought(member, day: str, amount="1000.00"):
    """A receipt dated and recorded on `day` (at noon, store time)."""
    with time_machine.travel(datetime.fromisoformat(day).replace(hour=12, tzinfo=SHANGHAI), tick=False):
        return PurchaseFactory(member=member, date=D(day), amount=Decimal(amount))


def visit(member, day: str, staff=None):
    return Visit.objects.create(
        member=member,
        store=member.home_store,
        staff=staff,
        channel="phone",
        outcome="ok",
        at=datetime.fromisoformat(day).replace(hour=15, tzinfo=SHANGHAI),
    )


@pytest.fixture
def recent(store_a, staff_a):
    """Members who joined recently enough to need no care task, so a test sees only its rule."""

    def make(**kw):
        kw.setdefault("joined_on", D("2026-03-01"))
        kw.setdefault("consultant", staff_a.consultant)
        return MemberFactory(home_store=store_a, **kw)

    return make


def test_it_creates_a_post_purchase_task_due_two_days_later(store_a, recent):
    m = recent(name="甲")
    bought(m, "2026-03-10", "800")
    bought(m, "2026-03-10", "-100")  # a return: no task
    counts = tasks_generate(store=store_a, on=D("2026-03-10"))
    assert tasks(TaskKind.POST_PURCHASE) == [("甲", "post_purchase", D("2026-03-12"))]
    assert counts["post_purchase"] == 1


def test_recording_a_purchase_creates_its_task_at_once(store_a, recent):
    m = recent(name="乙")
    with time_machine.travel("2026-03-10 12:00 +0800", tick=False):
        purchase_record(member=m, store=store_a, receipt_no="R1", date=D("2026-03-10"), amount=Decimal("500"), by=None)
        # The duty later finds it on file and creates nothing more.
        assert tasks_generate(store=store_a, on=D("2026-03-10"))["post_purchase"] == 0
    assert tasks(TaskKind.POST_PURCHASE) == [("乙", "post_purchase", D("2026-03-12"))]


def test_it_assigns_to_the_consultant_else_the_specialist_else_the_manager(store_a, staff_a, recent):
    m1 = recent(name="有顾问")
    m2 = recent(name="无顾问", consultant=None)
    for m in (m1, m2):
        bought(m, "2026-03-10")
    tasks_generate(store=store_a, on=D("2026-03-10"))
    assignees = dict(FollowUpTask.objects.values_list("member__name", "assignee__username"))
    assert assignees == {"有顾问": "a_consultant", "无顾问": "a_specialist"}
    # Without a VIP specialist the manager takes it; a consultant who left is replaced too.
    staff_a.specialist.is_active = False
    staff_a.specialist.save()
    staff_a.consultant.is_active = False
    staff_a.consultant.save()
    bought(m1, "2026-03-11")
    tasks_generate(store=store_a, on=D("2026-03-11"))
    assert FollowUpTask.objects.get(due_date=D("2026-03-13")).assignee == staff_a.manager


def test_it_creates_care_tasks_by_tier_cadence(store_a, staff_a):
    on = D("2026-06-30")
    # Contacted 30 days ago (05-31): A's cadence (30) is up → care; B and C are not due.
    a_due = MemberFactory(home_store=store_a, name="A到期", tier="A", joined_on=D("2025-01-01"))
    visit(a_due, "2026-05-31")
    a_ok = MemberFactory(home_store=store_a, name="A未到", tier="A", joined_on=D("2025-01-01"))
    visit(a_ok, "2026-06-01")  # 29 days ago: within the cadence
    b_due = MemberFactory(home_store=store_a, name="B到期", tier="B", joined_on=D("2025-01-01"))
    visit(b_due, "2026-05-01")  # 60 days ago
    b_ok = MemberFactory(home_store=store_a, name="B未到", tier="B", joined_on=D("2025-01-01"))
    visit(b_ok, "2026-05-31")
    c_new = MemberFactory(home_store=store_a, name="C新会员", tier="C", joined_on=D("2026-04-02"))  # 89 days
    c_due = MemberFactory(home_store=store_a, name="C从未联系", tier="C", joined_on=D("2026-04-01"))  # 90 days
    tasks_generate(store=store_a, on=on)
    assert tasks(TaskKind.CARE) == [("A到期", "care", on), ("B到期", "care", on), ("C从未联系", "care", on)]
    del a_ok, b_ok, c_new, c_due


def test_it_does_not_create_a_second_care_task_while_one_is_open(store_a):
    MemberFactory(home_store=store_a, name="丙", tier="C", joined_on=D("2025-01-01"))
    tasks_generate(store=store_a, on=D("2026-06-01"))
    tasks_generate(store=store_a, on=D("2026-06-02"))
    assert tasks(TaskKind.CARE) == [("丙", "care", D("2026-06-01"))]


def test_generating_the_same_day_twice_creates_nothing_new(store_a, recent):
    m = recent(name="丁", birthday=D("1990-03-17"))
    bought(m, "2026-03-10")
    MemberFactory(home_store=store_a, joined_on=D("2025-01-01"))
    first = tasks_generate(store=store_a, on=D("2026-03-10"))
    again = tasks_generate(store=store_a, on=D("2026-03-10"))
    assert sum(first.values()) >= 3
    assert sum(again.values()) == 0
    assert TaskReason.objects.count() == sum(v for k, v in first.items() if k != "gift_plans")


def test_the_database_refuses_a_duplicate_task(store_a, recent):
    from django.db import IntegrityError

    m = recent()
    FollowUpTask.objects.create(
        store=store_a, member=m, kind="care", due_date=D("2026-03-10"), origin="care:2026-03-10"
    )
    with pytest.raises(IntegrityError):
        FollowUpTask.objects.create(
            store=store_a, member=m, kind="care", due_date=D("2026-03-10"), origin="care:2026-03-10"
        )


def test_it_prepares_a_birthday_a_week_ahead_with_the_gift_by_tier(store_a, recent):
    recent(name="生日A", tier="A", birthday=D("1990-03-17"))
    recent(name="生日C", tier="C", birthday=D("1985-03-17"))
    tasks_generate(store=store_a, on=D("2026-03-10"))
    assert tasks(TaskKind.BIRTHDAY_PREP) == [
        ("生日A", "birthday_prep", D("2026-03-10")),
        ("生日C", "birthday_prep", D("2026-03-10")),
    ]
    gifts = dict(GiftPlan.objects.values_list("member__name", "gift"))
    assert gifts == {"生日A": "定制生日礼盒", "生日C": "生日贺卡与小礼品"}
    assert set(GiftPlan.objects.values_list("occasion_date", flat=True)) == {D("2026-03-17")}
    tasks_generate(store=store_a, on=D("2026-03-17"))
    assert tasks(TaskKind.BIRTHDAY) == [("生日A", "birthday", D("2026-03-17")), ("生日C", "birthday", D("2026-03-17"))]


def test_it_follows_a_lunar_birthday(store_a, recent):
    # Born 1990-04-03 = 农历三月初八, which falls on 2026-04-24: prep on 04-17, greeting on 04-24.
    recent(name="农历", birthday=D("1990-04-03"), birthday_lunar=True)
    # The same solar date, celebrated on the solar calendar: 04-03.
    recent(name="公历", birthday=D("1990-04-03"))
    tasks_generate(store=store_a, on=D("2026-04-03"))
    tasks_generate(store=store_a, on=D("2026-04-17"))
    tasks_generate(store=store_a, on=D("2026-04-24"))
    assert tasks(TaskKind.BIRTHDAY) == [("公历", "birthday", D("2026-04-03")), ("农历", "birthday", D("2026-04-24"))]
    assert tasks(TaskKind.BIRTHDAY_PREP) == [("农历", "birthday_prep", D("2026-04-17"))]


def test_it_puts_a_29_february_birthday_on_the_28th(store_a, recent):
    recent(name="闰日", birthday=D("1992-02-29"), joined_on=D("2025-01-01"))
    tasks_generate(store=store_a, on=D("2026-02-21"))  # prep: 2026-02-28 is 7 days on
    tasks_generate(store=store_a, on=D("2026-02-28"))
    assert tasks(TaskKind.BIRTHDAY_PREP) == [("闰日", "birthday_prep", D("2026-02-21"))]
    assert tasks(TaskKind.BIRTHDAY) == [("闰日", "birthday", D("2026-02-28"))]
    # In a leap year it is on the 29th, and not on the 28th.
    tasks_generate(store=store_a, on=D("2028-02-28"))
    tasks_generate(store=store_a, on=D("2028-02-29"))
    assert tasks(TaskKind.BIRTHDAY)[-1] == ("闰日", "birthday", D("2028-02-29"))
    assert len(tasks(TaskKind.BIRTHDAY)) == 2


def test_it_remembers_occasions_with_a_prep_task_for_tiers_a_and_b(store_a, recent):
    a = recent(name="A客", tier="A")
    c = recent(name="C客", tier="C")
    ImportantDateFactory(member=a, kind=ImportantDateKind.WEDDING_ANNIVERSARY, date=D("2010-05-20"))
    ImportantDateFactory(member=c, kind=ImportantDateKind.SPOUSE_BIRTHDAY, date=D("1988-05-20"))
    tasks_generate(store=store_a, on=D("2026-05-13"))
    assert tasks(TaskKind.OCCASION) == []
    assert tasks(TaskKind.BIRTHDAY_PREP) == [("A客", "birthday_prep", D("2026-05-13"))]  # prep, A only
    assert list(GiftPlan.objects.values_list("member__name", "occasion", "gift")) == [
        ("A客", "anniversary", "鲜花与定制贺卡")
    ]
    tasks_generate(store=store_a, on=D("2026-05-20"))
    assert tasks(TaskKind.OCCASION, due_date=D("2026-05-20")) == [
        ("A客", "occasion", D("2026-05-20")),
        ("C客", "occasion", D("2026-05-20")),
    ]


def test_it_warns_thirty_days_before_a_member_lapses(store_a, recent):
    # Last positive purchase 2026-01-10: active through 2026-07-08 (180 days), lapses on 07-09;
    # the warning comes 30 days before, on 2026-06-09 (150 days after the purchase).
    m = recent(name="流失预警", joined_on=D("2025-06-01"))
    PurchaseFactory(member=m, date=D("2026-01-10"), amount=Decimal("2000"))
    PurchaseFactory(member=m, date=D("2026-02-01"), amount=Decimal("-500"))  # returns don't count
    tasks_generate(store=store_a, on=D("2026-06-08"))
    assert tasks(TaskKind.WIN_BACK) == []
    tasks_generate(store=store_a, on=D("2026-06-09"))
    assert tasks(TaskKind.WIN_BACK) == [("流失预警", "win_back", D("2026-06-09"))]
    # A member who never bought lapses 180 days after joining.
    recent(name="未消费", joined_on=D("2026-01-10"))
    tasks_generate(store=store_a, on=D("2026-06-09"))
    assert [t[0] for t in tasks(TaskKind.WIN_BACK)] == ["未消费", "流失预警"] or [
        t[0] for t in tasks(TaskKind.WIN_BACK)
    ] == ["流失预警", "未消费"]


def test_it_leaves_other_stores_alone(store_a, store_b, staff_b):
    MemberFactory(home_store=store_b, consultant=staff_b.consultant, joined_on=D("2025-01-01"))
    tasks_generate(store=store_a, on=D("2026-06-01"))
    assert FollowUpTask.objects.count() == 0


def test_completing_a_task_records_a_visit_and_schedules_the_next(store_a, staff_a, recent):
    m = recent(name="完成")
    bought(m, "2026-03-10")
    tasks_generate(store=store_a, on=D("2026-03-10"))
    task = FollowUpTask.objects.get(kind=TaskKind.POST_PURCHASE)
    with time_machine.travel("2026-03-12 10:00 +0800", tick=False):
        v = task_complete(
            task=task,
            by=staff_a.consultant,
            channel="wechat",
            outcome="很满意，下周来改裤长",
            satisfaction=5,
            next_follow_up=D("2026-03-19"),
        )
    task.refresh_from_db()
    assert task.status == "done" and task.visit == v and task.done_on == D("2026-03-12")
    assert (v.member, v.channel, v.satisfaction, v.staff) == (m, "wechat", 5, staff_a.consultant)
    manual = FollowUpTask.objects.get(kind=TaskKind.MANUAL)
    assert (manual.due_date, manual.assignee, manual.origin) == (D("2026-03-19"), staff_a.consultant, f"visit:{v.pk}")


def test_a_visit_resets_the_care_clock(store_a, staff_a):
    m = MemberFactory(home_store=store_a, name="关怀", tier="A", joined_on=D("2025-01-01"))
    tasks_generate(store=store_a, on=D("2026-06-01"))
    care = FollowUpTask.objects.get(kind=TaskKind.CARE)
    with time_machine.travel("2026-06-01 10:00 +0800", tick=False):
        task_complete(task=care, by=staff_a.consultant, channel="phone", outcome="问候")
    for day in range(2, 31):
        tasks_generate(store=store_a, on=D("2026-06-01") + timedelta(days=day - 1))
    assert FollowUpTask.objects.filter(kind=TaskKind.CARE).count() == 1  # next one due 07-01
    tasks_generate(store=store_a, on=D("2026-07-01"))
    assert FollowUpTask.objects.filter(kind=TaskKind.CARE, member=m).count() == 2


def test_generation_is_set_based(store_a, staff_a):
    """No query per member: 90 members take (about) as many queries as 30."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    StaffFactory(username="x", role=Role.CONSULTANT, store=store_a)

    def queries_for(n: int, day: str) -> int:
        for i in range(n):
            m = MemberFactory(
                home_store=store_a,
                tier="ABC"[i % 3],
                joined_on=D("2025-01-01"),
                birthday=D(day).replace(year=1990) + timedelta(days=7),
                birthday_lunar=False,
            )
            bought(m, day)
        with CaptureQueriesContext(connection) as ctx:
            counts = tasks_generate(store=store_a, on=D(day))
        assert counts["post_purchase"] == n and counts["birthday_prep"] == n
        return len(ctx.captured_queries)

    few = queries_for(30, "2026-06-01")
    FollowUpTask.objects.all().delete()
    GiftPlan.objects.all().delete()
    Purchase.objects.all().delete()
    Member.objects.all().delete()
    many = queries_for(90, "2026-06-01")
    # Three times the members, at most a query or two more: SQLite splits a bulk insert into
    # batches by its parameter limit (999), nothing else grows.
    assert many - few <= 2
    assert many <= 41  # 40 + the family birthdays of the day (members.relations)
