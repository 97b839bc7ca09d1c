"""The Today page: the viewer's overdue, due-today and next-7-days tasks, and what is done from a
row (complete, snooze, reassign, call, copy a greeting).

Dates are pinned to Tuesday 10 March 2026, 09:00 in Shanghai.
"""

from datetime import date
from itertools import count

import pytest
import time_machine
from django.urls import reverse

from accounts.models import AuditEntry, Role
from visits.models import FollowUpTask, TaskKind, TaskStatus, Visit

from ..factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

D = date.fromisoformat
TODAY = D("2026-03-10")
HTMX = {"HTTP_HX_REQUEST": "true"}
_origins = count()


@pytest.fixture(autouse=True)
def pinned_today():
    with time_machine.travel("2026-03-10 09:00 +0800", tick=False):
        yield


def make_task(member, assignee, due, kind=TaskKind.CARE, status=TaskStatus.OPEN, **extra):
    if status == TaskStatus.DONE:
        extra.setdefault("done_on", due)
    return FollowUpTask.objects.create(
        store=member.home_store,
        member=member,
        assignee=assignee,
        kind=kind,
        due_date=D(due) if isinstance(due, str) else due,
        status=status,
        origin=f"test:{next(_origins)}",
        **extra,
    )


def today_page(client, **params):
    return client.get(reverse("visits:today"), params)


def names(tasks):
    return [(t.member.name, t.due_date.isoformat()) for t in tasks]


# --- What the list shows ---------------------------------------------------------------------


def test_it_lists_overdue_due_today_and_the_next_seven_days(client, store_a, staff_a, member_a):
    mine = staff_a.consultant
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    b = MemberFactory(home_store=store_a, consultant=mine, name="李娜")
    make_task(member_a, mine, "2026-03-08")  # overdue by 2 days
    make_task(b, mine, "2026-03-10", kind=TaskKind.BIRTHDAY)  # due today
    make_task(member_a, mine, "2026-03-17")  # today + 7: still in the week ahead
    make_task(member_a, mine, "2026-03-18")  # today + 8: not yet
    make_task(b, mine, "2026-03-10", status=TaskStatus.DONE)  # done today: counted, not listed
    make_task(b, mine, "2026-03-09", status=TaskStatus.CANCELLED)
    make_task(b, other, "2026-03-10")  # another consultant's
    client.force_login(mine)

    response = today_page(client)

    listing = response.context["listing"]
    assert names(listing.overdue) == [("张丽", "2026-03-08")]
    assert names(listing.due_today) == [("李娜", "2026-03-10")]
    assert names(listing.upcoming) == [("张丽", "2026-03-17")]
    assert listing.done_today == 1
    html = response.content.decode()
    assert "逾期 2 天" in html
    assert "生日祝福" in html


def test_it_shows_a_store_lead_the_whole_store_on_request(client, store_a, staff_a, member_a):
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    make_task(member_a, staff_a.consultant, "2026-03-10")
    make_task(member_a, other, "2026-03-11")
    make_task(member_a, staff_a.specialist, "2026-03-12")
    client.force_login(staff_a.specialist)

    mine = today_page(client).context["listing"]
    store = today_page(client, scope="store").context["listing"]

    assert mine.open_count == 1
    assert store.open_count == 3
    assert store.whole_store


def test_it_ignores_the_whole_store_switch_for_a_consultant(client, store_a, staff_a, member_a):
    make_task(member_a, staff_a.consultant, "2026-03-10")
    make_task(member_a, staff_a.specialist, "2026-03-10")
    client.force_login(staff_a.consultant)

    listing = today_page(client, scope="store").context["listing"]

    assert listing.open_count == 1
    assert not listing.whole_store


def test_it_shows_hq_the_store_it_picks(client, store_a, store_b, staff_a, staff_b, member_a, member_b, hq):
    make_task(member_a, staff_a.consultant, "2026-03-10")
    make_task(member_b, staff_b.consultant, "2026-03-10")
    make_task(member_b, staff_b.consultant, "2026-03-11")
    client.force_login(hq)

    first = today_page(client).context["listing"]  # stores by code: BJB before SHA
    picked = today_page(client, store=store_a.pk).context["listing"]

    assert (first.store, first.open_count) == (store_b, 2)
    assert (picked.store, picked.open_count) == (store_a, 1)


def test_it_keeps_its_query_count_bounded_with_300_tasks(client, store_a, staff_a, django_assert_max_num_queries):
    members = MemberFactory.create_batch(100, home_store=store_a, consultant=staff_a.consultant)
    FollowUpTask.objects.bulk_create(
        FollowUpTask(
            store=store_a,
            member=members[i % 100],
            assignee=staff_a.consultant,
            kind=TaskKind.values[i % len(TaskKind.values)],
            due_date=D("2026-03-03") if i < 100 else TODAY if i < 200 else D("2026-03-15"),
            origin=f"bulk:{i}",
        )
        for i in range(300)
    )
    client.force_login(staff_a.consultant)

    # Session, user, agreement, the tasks (with member, assignee and store joined in), today's
    # done count, the user's store in the navbar: the same handful for 3 tasks or 3,000.
    with django_assert_max_num_queries(8):
        response = today_page(client)

    assert response.context["listing"].open_count == 300
    assert response.content.decode().count('class="list-group-item task-row') == 300

    client.force_login(staff_a.specialist)
    with django_assert_max_num_queries(8):
        assert today_page(client, scope="store").context["listing"].open_count == 300


# --- Greeting and call -----------------------------------------------------------------------


def test_it_offers_a_greeting_fitting_the_task(client, staff_a, member_a):
    make_task(member_a, staff_a.consultant, "2026-03-10", kind=TaskKind.BIRTHDAY)
    make_task(member_a, staff_a.consultant, "2026-03-11", kind=TaskKind.POST_PURCHASE)
    client.force_login(staff_a.consultant)

    listing = today_page(client).context["listing"]

    birthday, post_purchase = listing.due_today[0], listing.upcoming[0]
    assert "张丽" in birthday.greeting and "生日快乐" in birthday.greeting
    assert "感谢您选购" in post_purchase.greeting
    assert birthday.greeting != post_purchase.greeting


def test_it_links_a_call_only_for_those_who_may_see_the_number(client, store_a, staff_a, member_a):
    make_task(member_a, staff_a.consultant, "2026-03-10")
    call_url = reverse("visits:call", args=[member_a.pk])

    client.force_login(staff_a.consultant)
    html = today_page(client).content.decode()
    assert call_url in html
    assert "13812345678" not in html  # the number itself is never on the page

    unsigned = StaffFactory(username="a_new", role=Role.CONSULTANT, store=store_a, signed=False)
    member_a.consultant = unsigned
    member_a.save()
    FollowUpTask.objects.update(assignee=unsigned)
    client.force_login(unsigned)
    assert call_url not in today_page(client).content.decode()


def test_it_audits_a_call_and_redirects_to_the_dialer(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    response = client.post(reverse("visits:call", args=[member_a.pk]))

    assert response.status_code == 302
    assert response["Location"] == "tel:13812345678"
    entry = AuditEntry.objects.get(action="member.phone.viewed")
    assert (entry.actor, entry.object_id, entry.data) == (staff_a.consultant, str(member_a.pk), {"via": "call"})


def test_it_refuses_a_call_without_a_signed_agreement(client, store_a, member_a):
    unsigned = StaffFactory(username="a_new", role=Role.CONSULTANT, store=store_a, signed=False)
    member_a.consultant = unsigned
    member_a.save()
    client.force_login(unsigned)

    response = client.post(reverse("visits:call", args=[member_a.pk]))

    assert response.status_code == 403
    assert not AuditEntry.objects.exists()


def test_a_call_link_followed_from_elsewhere_dials_nothing_and_writes_nothing(client, staff_a, member_a):
    # The attack (finding 4): <img src=".../members/1/call/"> on another site made the victim's
    # browser write a phone-view entry in their name. A GET is now refused before anything runs.
    client.force_login(staff_a.consultant)

    response = client.get(reverse("visits:call", args=[member_a.pk]))

    assert response.status_code == 405
    assert "13812345678" not in response.content.decode()
    assert not AuditEntry.objects.exists()


# --- Completing a task -----------------------------------------------------------------------


def test_it_opens_the_inline_form_in_place(client, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = client.get(reverse("visits:task_complete", args=[task.pk]), **HTMX)

    assert [t.name for t in response.templates][0] == "visits/_task_complete_form.html"
    html = response.content.decode()
    assert f'id="task-{task.pk}"' in html
    assert "已联系，满意" in html and "未接通" in html and "已预约到店" in html
    assert "<html" not in html


def test_it_completes_a_task_with_htmx_recording_a_visit_and_the_next_follow_up(client, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10", kind=TaskKind.POST_PURCHASE)
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("visits:task_complete", args=[task.pk]),
        {"channel": "wechat", "outcome": "已预约到店", "satisfaction": "5", "next_follow_up": "2026-03-20"},
        **HTMX,
    )

    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "visits/_task_row.html"
    html = response.content.decode()
    assert "已完成" in html and "已预约到店" in html and "3月20日" in html
    task.refresh_from_db()
    assert (task.status, task.done_on) == (TaskStatus.DONE, TODAY)
    visit = task.visit
    assert (visit.channel, visit.outcome, visit.satisfaction, visit.staff) == (
        "wechat",
        "已预约到店",
        5,
        staff_a.consultant,
    )
    follow_up = FollowUpTask.objects.get(kind=TaskKind.MANUAL)
    assert (follow_up.due_date, follow_up.assignee, follow_up.origin) == (
        D("2026-03-20"),
        staff_a.consultant,
        f"visit:{visit.pk}",
    )


def test_it_adds_typed_text_to_a_quick_outcome(client, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(staff_a.consultant)

    client.post(
        reverse("visits:task_complete", args=[task.pk]),
        {"channel": "phone", "outcome": "未接通", "outcome_text": "晚上再打"},
        **HTMX,
    )

    assert Visit.objects.get().outcome == "未接通；晚上再打"


def test_it_asks_for_an_outcome_and_keeps_the_task_open(client, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = client.post(reverse("visits:task_complete", args=[task.pk]), {"channel": "phone"}, **HTMX)

    assert [t.name for t in response.templates][0] == "visits/_task_complete_form.html"
    assert "请选择或填写回访结果。" in response.content.decode()
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    assert not Visit.objects.exists()


def test_it_shows_the_services_refusal_of_a_next_date_in_the_past(client, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("visits:task_complete", args=[task.pk]),
        {"channel": "phone", "outcome": "未接通", "next_follow_up": "2026-03-10"},
        **HTMX,
    )

    assert "下次回访日期须晚于今天。" in response.content.decode()
    assert not Visit.objects.exists()


def test_it_completes_without_javascript_and_goes_back_to_today(client, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("visits:task_complete", args=[task.pk]), {"channel": "phone", "outcome": "已联系，满意"}
    )

    assert response["Location"] == reverse("visits:today")
    assert FollowUpTask.objects.get(pk=task.pk).status == TaskStatus.DONE


def test_it_does_not_let_a_consultant_complete_another_consultants_task(client, store_a, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    client.force_login(other)

    response = client.post(
        reverse("visits:task_complete", args=[task.pk]), {"channel": "phone", "outcome": "已联系，满意"}, **HTMX
    )

    assert response.status_code == 403
    assert FollowUpTask.objects.get(pk=task.pk).status == TaskStatus.OPEN
    assert not Visit.objects.exists()


def test_it_lets_a_store_lead_complete_any_task_of_the_store(client, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(staff_a.specialist)

    response = client.post(
        reverse("visits:task_complete", args=[task.pk]), {"channel": "in_store", "outcome": "已联系，满意"}, **HTMX
    )

    assert response.status_code == 200
    assert Visit.objects.get().staff == staff_a.specialist


def test_it_hides_another_stores_task_behind_a_404(client, staff_a, staff_b, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(staff_b.manager)

    response = client.post(
        reverse("visits:task_complete", args=[task.pk]), {"channel": "phone", "outcome": "已联系，满意"}, **HTMX
    )

    assert response.status_code == 404
    assert not Visit.objects.exists()


# --- Snooze and reassign ---------------------------------------------------------------------


def test_it_snoozes_a_task_to_tomorrow_or_a_picked_date(client, staff_a, member_a):
    first = make_task(member_a, staff_a.consultant, "2026-03-08")
    second = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(staff_a.consultant)

    tomorrow = client.post(reverse("visits:task_snooze", args=[first.pk]), {"days": "1"}, **HTMX)
    picked = client.post(reverse("visits:task_snooze", args=[second.pk]), {"until": "2026-03-20"}, **HTMX)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.due_date, first.snoozed_from) == (D("2026-03-11"), D("2026-03-08"))
    assert (second.due_date, second.snoozed_from) == (D("2026-03-20"), D("2026-03-10"))
    assert "已推迟到 2026-03-11" in tomorrow.content.decode()
    assert "已推迟到 2026-03-20" in picked.content.decode()
    assert AuditEntry.objects.filter(action="task.snoozed").count() == 2


def test_it_shows_why_a_snooze_was_refused(client, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = client.post(reverse("visits:task_snooze", args=[task.pk]), {"until": "2026-03-09"}, **HTMX)

    assert "推迟到的日期须在明天到 90 天之内。" in response.content.decode()
    assert FollowUpTask.objects.get(pk=task.pk).due_date == TODAY


def test_it_does_not_let_a_consultant_snooze_another_consultants_task(client, store_a, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a))

    response = client.post(reverse("visits:task_snooze", args=[task.pk]), {"days": "3"}, **HTMX)

    assert response.status_code == 403
    assert FollowUpTask.objects.get(pk=task.pk).due_date == TODAY


def test_it_lets_a_store_lead_reassign_a_task(client, store_a, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    client.force_login(staff_a.specialist)

    form = client.get(reverse("visits:task_reassign", args=[task.pk]), **HTMX)
    response = client.post(reverse("visits:task_reassign", args=[task.pk]), {"assignee": other.pk}, **HTMX)

    assert [t.name for t in form.templates][0] == "visits/_task_reassign_form.html"
    assert FollowUpTask.objects.get(pk=task.pk).assignee == other
    assert "已转派给 a_consultant2" in response.content.decode()
    assert AuditEntry.objects.filter(action="task.reassigned").count() == 1


def test_it_does_not_let_a_consultant_reassign(client, staff_a, member_a):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = client.post(reverse("visits:task_reassign", args=[task.pk]), {"assignee": staff_a.specialist.pk})

    assert response.status_code == 403
    assert FollowUpTask.objects.get(pk=task.pk).assignee == staff_a.consultant


def test_it_does_not_reassign_to_another_stores_staff(client, staff_a, staff_b, member_a, hq):
    task = make_task(member_a, staff_a.consultant, "2026-03-10")
    client.force_login(hq)

    response = client.post(reverse("visits:task_reassign", args=[task.pk]), {"assignee": staff_b.consultant.pk}, **HTMX)

    assert response.status_code == 200
    assert "assignee" in response.context["form"].errors
    assert FollowUpTask.objects.get(pk=task.pk).assignee == staff_a.consultant


def test_it_puts_today_first_after_sign_in(client, staff_a):
    client.force_login(staff_a.consultant)

    assert client.get(reverse("home"))["Location"] == reverse("visits:today")
