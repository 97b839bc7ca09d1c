"""The store board, visits on the member page, invitations with their funnel, the gift list and the
duty-run record: figures on small hand-made data, worked out in the comments.

Dates are pinned to Thursday 12 March 2026, 10:00 in Shanghai; "this week" is 9–15 March.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from duties.models import DutyRun, DutyRunStatus
from visits.models import (
    FollowUpTask,
    GiftPlan,
    GiftPolicy,
    GiftStatus,
    Invitation,
    InvitationStatus,
    Occasion,
    TaskKind,
    TaskStatus,
    Visit,
)
from visits.selectors import InvitationFilters, Rate, invitation_funnel, store_board

from ..factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

D = date.fromisoformat
SHANGHAI = ZoneInfo("Asia/Shanghai")
HTMX = {"HTTP_HX_REQUEST": "true"}
_origins = count()


@pytest.fixture(autouse=True)
def pinned_today():
    with time_machine.travel("2026-03-12 10:00 +0800", tick=False):
        yield


@pytest.fixture
def other(store_a):
    """A second consultant of store A."""
    return StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a, display_name="小周")


def task(member, assignee, due, status=TaskStatus.OPEN, done_on=None):
    return FollowUpTask.objects.create(
        store=member.home_store,
        member=member,
        assignee=assignee,
        kind=TaskKind.CARE,
        due_date=D(due),
        status=status,
        done_on=D(done_on) if done_on else None,
        origin=f"test:{next(_origins)}",
    )


# --- Store board -----------------------------------------------------------------------------


@pytest.fixture
def week_of_tasks(staff_a, member_a, member_b, other):
    mine = staff_a.consultant
    task(member_a, mine, "2026-03-09", TaskStatus.DONE, "2026-03-09")  # t1 done on the day: on time
    task(member_a, mine, "2026-03-10", TaskStatus.DONE, "2026-03-11")  # t2 done a day late
    # One open card per member and person: the open ones are for members of their own.
    task(member_a, mine, "2026-03-11")  # t3 open, past due on the 12th: overdue
    task(MemberFactory(home_store=member_a.home_store), mine, "2026-03-13")  # t4 open, not due yet
    task(member_a, mine, "2026-03-10", TaskStatus.CANCELLED)  # t5 cancelled: left out
    task(MemberFactory(home_store=member_a.home_store), mine, "2026-03-16")  # t6 next week: outside
    task(member_a, mine, "2026-03-08", TaskStatus.DONE, "2026-03-09")  # t7 last week, done on the 9th
    task(member_a, other, "2026-03-12", TaskStatus.DONE, "2026-03-12")  # t8 on time
    task(member_b, None, "2026-03-12")  # another store's: never on store A's board


def test_it_counts_the_week_per_person(client, staff_a, week_of_tasks):
    # This week, 9–15 March:
    #   a_consultant: due t1 t2 t3 t4 = 4; done t1 t2 = 2; on time t1 = 1; overdue open t3 = 1
    #                 → completion 2/4 = 50%, on time 1/4 = 25%
    #   小周:         due t8 = 1; done 1; on time 1; overdue 0 → 100%, 100%
    #   total:        due 5, done 3, on time 2, overdue 1 → 3/5 = 60%, 2/5 = 40%
    client.force_login(staff_a.specialist)

    response = client.get(reverse("visits:board"))

    rows = {str(r.assignee): r for r in response.context["rows"]}
    mine, theirs = rows["a_consultant"], rows["小周"]
    assert (mine.due, mine.done, mine.on_time, mine.overdue_open) == (4, 2, 1, 1)
    assert (mine.completion, mine.on_time_rate) == (Rate(2, 4), Rate(1, 4))
    assert (theirs.due, theirs.done, theirs.on_time, theirs.overdue_open) == (1, 1, 1, 0)
    total = response.context["total"]
    assert (total.due, total.done, total.on_time, total.overdue_open) == (5, 3, 2, 1)
    assert (total.completion.percent, total.on_time_rate.percent) == (60.0, 40.0)
    html = response.content.decode()
    assert "50%" in html and "2/4" in html and "25%" in html and "1/4" in html


def test_it_counts_a_past_week_as_of_its_last_day(client, staff_a, week_of_tasks):
    # Last week, 2–8 March: only t7, due the 8th and done the 9th, after the week ended: due 1,
    # done by the 8th 0, on time 0 → 0/1; it is done now, so not overdue either.
    client.force_login(staff_a.manager)

    response = client.get(reverse("visits:board"), {"start": "2026-03-02", "end": "2026-03-08"})

    (row,) = response.context["rows"]
    assert (row.due, row.done, row.on_time, row.overdue_open) == (1, 0, 0, 0)
    assert row.completion == Rate(0, 1)


def test_it_counts_in_one_aggregate_query(staff_a, week_of_tasks, django_assert_num_queries):
    # One GROUP BY over the period's tasks, one for the people's names: not a query per person.
    with django_assert_num_queries(2):
        rows, _total = store_board(viewer=staff_a.manager, start=D("2026-03-09"), end=D("2026-03-15"))
    assert len(rows) == 2


def test_it_gives_no_rate_when_nothing_was_due(client, staff_a):
    client.force_login(staff_a.manager)

    response = client.get(reverse("visits:board"), {"start": "2026-01-05", "end": "2026-01-11"})

    assert response.context["total"].completion.value is None
    assert "这段时间没有到期的回访任务" in response.content.decode()


def test_it_shows_hq_every_store_or_the_one_picked(client, store_a, hq, week_of_tasks):
    client.force_login(hq)

    everywhere = client.get(reverse("visits:board")).context["total"]
    store_a_only = client.get(reverse("visits:board"), {"store": store_a.pk}).context["total"]

    assert everywhere.due == 6  # store A's 5 and store B's t9
    assert store_a_only.due == 5


def test_it_falls_back_to_this_week_on_a_backwards_range(client, staff_a):
    client.force_login(staff_a.manager)

    response = client.get(reverse("visits:board"), {"start": "2026-03-15", "end": "2026-03-09"})

    assert (response.context["start"], response.context["end"]) == (D("2026-03-09"), D("2026-03-15"))
    assert "结束日期不能早于开始日期。" in response.content.decode()


# --- Visits on the member page ---------------------------------------------------------------


def visit(member, staff, day, outcome="已联系，满意"):
    return Visit.objects.create(
        member=member,
        store=member.home_store,
        staff=staff,
        channel="phone",
        outcome=outcome,
        at=datetime.fromisoformat(day).replace(hour=15, tzinfo=SHANGHAI),
    )


def test_it_lists_a_members_visits_newest_first_twenty_a_page(client, staff_a, member_a, member_b):
    for day in range(1, 26):
        visit(member_a, staff_a.consultant, f"2026-02-{day:02d}", outcome=f"第{day}次")
    visit(member_b, None, "2026-03-01")
    client.force_login(staff_a.consultant)

    first = client.get(reverse("visits:member_visits", args=[member_a.pk]), **HTMX)
    second = client.get(reverse("visits:member_visits", args=[member_a.pk]), {"page": 2}, **HTMX)

    assert [v.outcome for v in first.context["page"]][:2] == ["第25次", "第24次"]
    assert len(first.context["page"]) == 20
    assert [v.outcome for v in second.context["page"]] == ["第5次", "第4次", "第3次", "第2次", "第1次"]
    assert [t.name for t in first.templates][0] == "visits/_member_visits.html"


def test_it_loads_the_visits_card_into_the_member_page(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    html = client.get(reverse("members:detail", args=[member_a.pk])).content.decode()

    assert f'hx-get="{reverse("visits:member_visits", args=[member_a.pk])}"' in html
    assert reverse("visits:visit_add", args=[member_a.pk]) in html


def test_it_records_a_visit_without_a_task_and_plans_the_next(client, store_a, member_a, other):
    # Any consultant of the store may record a contact with its members.
    client.force_login(other)

    response = client.post(
        reverse("visits:visit_add", args=[member_a.pk]),
        {"channel": "in_store", "outcome": "试穿新款，已购一件", "satisfaction": "4", "next_follow_up": "2026-03-14"},
    )

    assert response["Location"] == reverse("members:detail", args=[member_a.pk])
    saved = Visit.objects.get()
    assert (saved.member, saved.staff, saved.channel, saved.satisfaction) == (member_a, other, "in_store", 4)
    follow_up = FollowUpTask.objects.get()
    assert (follow_up.kind, follow_up.due_date, follow_up.assignee) == (TaskKind.MANUAL, D("2026-03-14"), other)


def test_it_does_not_record_a_visit_for_another_stores_member(client, staff_b, member_a):
    client.force_login(staff_b.consultant)

    response = client.post(reverse("visits:visit_add", args=[member_a.pk]), {"channel": "sms", "outcome": "x"})

    assert response.status_code == 404
    assert not Visit.objects.exists()


# --- Invitations -----------------------------------------------------------------------------


def invitation(member, by, status, for_date="2026-03-14"):
    return Invitation.objects.create(
        member=member, store=member.home_store, invited_by=by, for_date=D(for_date), purpose="新品", status=status
    )


@pytest.fixture
def invitations(staff_a, member_a, member_b, other):
    mine = staff_a.consultant
    for status in ("invited", "confirmed", "no_show", "arrived", "bought", "bought", "declined"):
        invitation(member_a, mine, status)
    invitation(member_a, other, "invited")
    invitation(member_a, other, "arrived")  # a walk-in: arrived without confirming
    invitation(member_a, mine, "bought", for_date="2026-02-20")  # last month: outside the default range
    invitation(member_b, None, "bought")  # another store's
    return mine


def test_it_shows_the_funnel_overall_and_per_consultant(client, staff_a, invitations):
    # March, store A:
    #   a_consultant: invited 7; confirmed = confirmed, no_show, arrived, bought ×2 = 5;
    #                 arrived = arrived, bought ×2 = 3; bought 2
    #   小周:         invited 2; confirmed 1 (the walk-in counts as confirmed); arrived 1; bought 0
    #   total:        9 → 6 (6/9 = 66.7%) → 4 (4/6 = 66.7%) → 2 (2/4 = 50%); invited to bought 2/9 = 22.2%
    client.force_login(staff_a.specialist)

    response = client.get(reverse("visits:invitations"))

    rows = {str(r.invited_by): r for r in response.context["funnel_rows"]}
    assert [(r.invited, r.confirmed, r.arrived, r.bought) for r in (rows["a_consultant"], rows["小周"])] == [
        (7, 5, 3, 2),
        (2, 1, 1, 0),
    ]
    total = response.context["funnel_total"]
    assert (total.confirm_rate, total.arrive_rate, total.buy_rate, total.overall_rate) == (
        Rate(6, 9),
        Rate(4, 6),
        Rate(2, 4),
        Rate(2, 9),
    )
    assert rows["小周"].buy_rate.value == 0.0
    html = response.content.decode()
    assert "66.7%" in html and "6/9" in html and "22.2%" in html
    assert response.context["page"].paginator.count == 9


def test_it_counts_the_funnel_in_one_aggregate_query(staff_a, invitations, django_assert_num_queries):
    # One GROUP BY over the invitations, one for the inviters' names: not a query per person.
    with django_assert_num_queries(2):
        rows, total = invitation_funnel(viewer=staff_a.manager, filters=InvitationFilters())
    assert (len(rows), total.invited) == (2, 10)  # March's 9 and February's 1: no date filter here


def test_it_filters_the_list_by_status_but_keeps_the_whole_funnel(client, staff_a, invitations, other):
    client.force_login(staff_a.manager)

    response = client.get(
        reverse("visits:invitations"),
        {"start": "2026-03-01", "end": "2026-03-31", "status": "bought", "consultant": staff_a.consultant.pk},
    )

    assert [i.status for i in response.context["page"]] == ["bought", "bought"]
    assert response.context["funnel_total"].invited == 7


def test_it_shows_a_consultant_only_their_own_invitations(client, other, invitations):
    client.force_login(other)

    response = client.get(reverse("visits:invitations"))

    assert response.context["page"].paginator.count == 2
    assert response.context["funnel_total"].invited == 2


def test_it_creates_an_invitation_with_a_reminder_task(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("visits:invitation_add", args=[member_a.pk]), {"for_date": "2026-03-15", "purpose": "VIP 私享会"}
    )

    assert response.status_code == 302
    created = Invitation.objects.get()
    assert (created.invited_by, created.for_date, created.status) == (staff_a.consultant, D("2026-03-15"), "invited")
    reminder = FollowUpTask.objects.get(kind=TaskKind.INVITATION)
    assert reminder.due_date == D("2026-03-14")


def test_it_refuses_an_invitation_in_the_past(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("visits:invitation_add", args=[member_a.pk]), {"for_date": "2026-03-01", "purpose": "新品"}
    )

    assert response.status_code == 200
    assert "邀约日期不能早于今天。" in response.content.decode()
    assert not Invitation.objects.exists()


def test_it_advances_an_invitation_and_shows_a_refused_step(client, staff_a, member_a):
    invited = invitation(member_a, staff_a.consultant, "invited")
    bought = invitation(member_a, staff_a.consultant, "bought")
    client.force_login(staff_a.consultant)

    moved = client.post(reverse("visits:invitation_advance", args=[invited.pk]), {"status": "confirmed"}, **HTMX)
    refused = client.post(reverse("visits:invitation_advance", args=[bought.pk]), {"status": "confirmed"}, **HTMX)

    assert Invitation.objects.get(pk=invited.pk).status == InvitationStatus.CONFIRMED
    assert "已确认" in moved.content.decode()
    assert "邀约不能从“已成交”变为“已确认”。" in refused.content.decode()
    assert Invitation.objects.get(pk=bought.pk).status == InvitationStatus.BOUGHT


def test_it_does_not_let_a_consultant_advance_anothers_invitation(client, staff_a, member_a, other):
    theirs = invitation(member_a, staff_a.consultant, "invited")
    client.force_login(other)

    response = client.post(reverse("visits:invitation_advance", args=[theirs.pk]), {"status": "confirmed"})

    assert response.status_code == 403
    assert Invitation.objects.get(pk=theirs.pk).status == InvitationStatus.INVITED


def test_it_keeps_the_invitation_list_query_count_bounded(client, staff_a, member_a, django_assert_max_num_queries):
    for n in range(120):
        invitation(member_a, staff_a.consultant, "invited", for_date=f"2026-03-{n % 28 + 1:02d}")
    client.force_login(staff_a.manager)

    with django_assert_max_num_queries(12):
        response = client.get(reverse("visits:invitations"))

    assert len(response.context["page"]) == 50


# --- Gifts -----------------------------------------------------------------------------------


def plan(member, on, status=GiftStatus.PLANNED, occasion=Occasion.BIRTHDAY, gift="丝巾", budget="300.00"):
    return GiftPlan.objects.create(
        member=member,
        store=member.home_store,
        occasion=occasion,
        occasion_date=D(on),
        tier=member.tier,
        gift=gift,
        budget=Decimal(budget),
        status=status,
    )


def test_it_lists_next_months_gifts_by_default(client, staff_a, member_a, member_b):
    april = plan(member_a, "2026-04-08")
    plan(member_a, "2026-03-30", occasion=Occasion.ANNIVERSARY)  # this month
    plan(member_b, "2026-04-09")  # another store's
    client.force_login(staff_a.consultant)

    response = client.get(reverse("visits:gifts"))

    assert response.context["month"] == D("2026-04-01")
    assert response.context["plans"] == [april]
    html = response.content.decode()
    assert "2026年4月礼品" in html and "丝巾" in html


def test_it_marks_a_gift_prepared_then_delivered(client, staff_a, member_a):
    gift = plan(member_a, "2026-04-08")
    client.force_login(staff_a.consultant)

    prepared = client.post(reverse("visits:gift_mark", args=[gift.pk]), {"status": "prepared"}, **HTMX)
    delivered = client.post(reverse("visits:gift_mark", args=[gift.pk]), {"status": "delivered"}, **HTMX)

    assert "已备好" in prepared.content.decode()
    assert "已送达" in delivered.content.decode()
    gift.refresh_from_db()
    assert (gift.status, gift.status_by) == (GiftStatus.DELIVERED, staff_a.consultant)


def test_it_shows_why_a_gift_cannot_skip_a_step(client, staff_a, member_a):
    gift = plan(member_a, "2026-04-08")
    client.force_login(staff_a.consultant)

    response = client.post(reverse("visits:gift_mark", args=[gift.pk]), {"status": "delivered"}, **HTMX)

    assert "礼品不能从“已计划”变为“已送达”。" in response.content.decode()
    assert GiftPlan.objects.get(pk=gift.pk).status == GiftStatus.PLANNED


def test_it_generates_the_months_plans_with_the_gift_by_tier(client, staff_a, member_a):
    # The migration seeds default policies; these replace them so the figures are the test's own.
    for tier, gift, budget in (("A", "羊绒围巾", "800.00"), ("C", "护手霜", "80.00")):
        GiftPolicy.objects.update_or_create(
            tier=tier, occasion=Occasion.BIRTHDAY, defaults={"gift": gift, "budget": Decimal(budget)}
        )
    MemberFactory(home_store=member_a.home_store, name="王敏", tier="A", birthday=D("1988-04-21"))
    member_a.birthday = D("1990-04-03")
    member_a.save()
    MemberFactory(home_store=member_a.home_store, name="五月", birthday=D("1990-05-03"))  # not April
    client.force_login(staff_a.specialist)

    response = client.post(reverse("visits:gifts_generate"), {"month": "2026-04"})
    again = client.post(reverse("visits:gifts_generate"), {"month": "2026-04"})

    assert response["Location"] == reverse("visits:gifts") + "?month=2026-04"
    plans = GiftPlan.objects.order_by("occasion_date")
    assert [(p.member.name, p.occasion_date, p.gift, p.budget) for p in plans] == [
        ("张丽", D("2026-04-03"), "护手霜", Decimal("80.00")),
        ("王敏", D("2026-04-21"), "羊绒围巾", Decimal("800.00")),
    ]
    assert again.status_code == 302 and GiftPlan.objects.count() == 2


def test_it_does_not_let_a_consultant_generate_plans(client, staff_a, member_a):
    member_a.birthday = D("1990-04-03")
    member_a.save()
    client.force_login(staff_a.consultant)

    response = client.post(reverse("visits:gifts_generate"), {"month": "2026-04"})

    assert response.status_code == 403
    assert not GiftPlan.objects.exists()


def test_it_prints_a_clean_table_with_a_signature_column(client, staff_a, member_a):
    plan(member_a, "2026-04-08", gift="丝巾", budget="300.00")
    client.force_login(staff_a.manager)

    response = client.get(reverse("visits:gifts"), {"month": "2026-04", "print": "1"})

    html = response.content.decode()
    assert [t.name for t in response.templates][0] == "visits/gifts_print.html"
    assert "navbar" not in html
    assert "签收" in html and "张丽" in html and member_a.card_no in html and "300.00" in html


# --- Duty runs -------------------------------------------------------------------------------


def run(store, day, status=DutyRunStatus.DONE, **extra):
    return DutyRun.objects.create(
        duty="daily", store=store, date=D(day), status=status, started_at=timezone.now(), **extra
    )


def test_it_shows_a_manager_their_stores_runs(client, store_a, store_b, staff_a):
    run(store_a, "2026-03-12", counts={"care": 3, "birthday": 1})
    run(store_a, "2026-03-11", DutyRunStatus.FAILED, error="Traceback: boom", attempts=2)
    run(store_b, "2026-03-12")
    client.force_login(staff_a.manager)

    response = client.get(reverse("reports:duty_runs"))

    assert [(r.store, r.date) for r in response.context["page"]] == [
        (store_a, D("2026-03-12")),
        (store_a, D("2026-03-11")),
    ]
    html = response.content.decode()
    assert "care 3" in html and "Traceback: boom" in html and "<details" in html


def test_it_shows_hq_every_stores_runs_or_one(client, store_a, store_b, hq):
    run(store_a, "2026-03-12")
    run(store_b, "2026-03-12")
    client.force_login(hq)

    assert client.get(reverse("reports:duty_runs")).context["page"].paginator.count == 2
    assert client.get(reverse("reports:duty_runs"), {"store": store_b.pk}).context["page"].paginator.count == 1


def test_it_filters_the_duty_runs_by_duty_and_shows_an_hourly_slot(client, store_a, staff_a):
    run(store_a, "2026-03-12")
    run(store_a, "2026-03-12", slot="09")
    DutyRun.objects.filter(slot="09").update(duty="complaint_sla")
    client.force_login(staff_a.manager)

    response = client.get(reverse("reports:duty_runs"), {"duty": "complaint_sla"})

    assert [(r.duty, r.slot) for r in response.context["page"]] == [("complaint_sla", "09")]
    assert "09:00" in response.content.decode()
    assert ("daily", "每日回访任务与晨报") in response.context["form"].fields["duty"].choices


def test_it_pages_the_duty_runs(client, store_a, staff_a):
    first = D("2026-01-01")
    for n in range(60):
        run(store_a, (first + timedelta(days=n)).isoformat())
    client.force_login(staff_a.manager)

    response = client.get(reverse("reports:duty_runs"), {"page": 2})

    assert len(response.context["page"]) == 10
