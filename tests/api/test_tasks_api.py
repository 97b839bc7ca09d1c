"""Follow-up tasks in the API (/api/v1/tasks/, issue 13 item 2): mine or the store's, and the
Today page's actions (complete, attempt, snooze, reassign) through the same form and services,
with the same effect as on the page; another store's task is a 404 everywhere, another
consultant's a 403 as on Today, and fields a client may not set are not read."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditEntry, Role
from members.models import ProgramRules
from tests.factories import MemberFactory, StaffFactory
from visits.models import ClosedBy, FollowUpTask, TaskKind, TaskStatus, Visit, VisitResult
from visits.services import task_create

REACHED = {"channel": "phone", "outcome": "已联系，满意", "satisfaction": 5}


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()  # the throttle counts per person in the cache


@pytest.fixture
def api():
    return APIClient()


def a_task(member, assignee, *, kind=TaskKind.CARE, due=None, origin="api"):
    due = due or timezone.localdate()
    return task_create(member=member, kind=kind, due_date=due, origin=origin, assignee=assignee)[0]


@pytest.fixture
def task(member_a, staff_a):
    return a_task(member_a, staff_a.consultant)


@pytest.fixture
def task_b(member_b, staff_b):
    return a_task(member_b, staff_b.consultant)


def url(name, task, action=""):
    return reverse(f"api:task-{action}" if action else f"api:{name}", args=[task.pk])


def state(task):
    """What a contact, a snooze or a hand-over changes on a task, and the visits logged on it."""
    task.refresh_from_db()
    visits = sorted(
        Visit.objects.filter(member=task.member).values_list("result", "channel", "outcome", "satisfaction")
    )
    return (
        task.status,
        task.closed_by,
        task.attempts,
        task.scheduled_for,
        task.due_date,
        task.assignee_id,
        visits,
    )


# --- Lists ---------------------------------------------------------------------------------------


def test_it_lists_my_tasks_by_default_earliest_due_first(api, staff_a, member_a, store_a, task_b):
    today = timezone.localdate()
    other = MemberFactory(home_store=store_a, consultant=staff_a.consultant)
    later = a_task(other, staff_a.consultant, due=today + timedelta(days=3))
    task = a_task(member_a, staff_a.consultant)
    a_task(MemberFactory(home_store=store_a), staff_a.specialist)
    api.force_authenticate(staff_a.consultant)

    body = api.get(reverse("api:tasks")).json()

    assert [row["id"] for row in body["results"]] == [task.pk, later.pk]
    row = body["results"][0]
    assert (row["store"], row["member"], row["assignee"], row["status"]) == ("SHA", member_a.pk, "a_consultant", "open")
    assert row["reasons"] == [{"kind": "care", "note": "", "due_date": today.isoformat()}]
    assert "count" not in body  # a cursor: no COUNT(*) over a large list


def test_store_leads_see_the_stores_tasks_and_a_consultant_may_not_ask(api, staff_a, store_a, task, task_b):
    specialists = a_task(MemberFactory(home_store=store_a), staff_a.specialist)
    api.force_authenticate(staff_a.manager)

    store = api.get(reverse("api:tasks"), {"scope": "store"}).json()["results"]
    mine = api.get(reverse("api:tasks")).json()["results"]
    api.force_authenticate(staff_a.consultant)
    refused = api.get(reverse("api:tasks"), {"scope": "store"})

    assert sorted(r["id"] for r in store) == sorted([task.pk, specialists.pk])  # not store B's
    assert mine == []
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "permission_denied"


def test_hq_sees_every_stores_tasks(api, hq, task, task_b):
    api.force_authenticate(hq)

    ids = [r["id"] for r in api.get(reverse("api:tasks"), {"scope": "store"}).json()["results"]]

    assert sorted(ids) == sorted([task.pk, task_b.pk])


def test_it_filters_by_kind_status_and_due_dates(api, staff_a, member_a, store_a, task):
    today = timezone.localdate()
    later = a_task(MemberFactory(home_store=store_a), staff_a.consultant, kind=TaskKind.BIRTHDAY_PREP, due=today)
    far = a_task(MemberFactory(home_store=store_a), staff_a.consultant, due=today + timedelta(days=20))
    FollowUpTask.objects.filter(pk=far.pk).update(status=TaskStatus.CANCELLED)
    api.force_authenticate(staff_a.consultant)

    def ids(**query):
        return sorted(r["id"] for r in api.get(reverse("api:tasks"), query).json()["results"])

    assert ids(kind="birthday_prep") == [later.pk]
    assert ids(status="cancelled") == [far.pk]
    assert ids(due_from=(today + timedelta(days=1)).isoformat()) == [far.pk]
    assert ids(due_to=today.isoformat(), kind="care") == [task.pk]


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ({"scope": "all"}, "scope", "invalid_choice"),
        ({"kind": "party"}, "kind", "invalid_choice"),
        ({"status": "late"}, "status", "invalid_choice"),
        ({"due_from": "2026-02-30"}, "due_from", "invalid"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, staff_a, query, field, code):
    api.force_authenticate(staff_a.manager)

    response = api.get(reverse("api:tasks"), query)

    assert response.status_code == 400
    assert (response.json()["errors"][0]["field"], response.json()["errors"][0]["code"]) == (field, code)


def test_the_list_runs_few_queries_with_many_tasks(api, staff_a, store_a, django_assert_max_num_queries):
    for member in MemberFactory.create_batch(60, home_store=store_a, consultant=staff_a.consultant):
        a_task(member, staff_a.consultant)
    api.force_authenticate(staff_a.manager)

    with django_assert_max_num_queries(2):  # the page of tasks (with store, member, assignee) and their reasons
        response = api.get(reverse("api:tasks"), {"scope": "store", "page_size": 200})

    assert len(response.json()["results"]) == 60


# --- Detail and who may work a task ---------------------------------------------------------------


def test_the_detail_is_for_whoever_may_work_the_task(api, staff_a, task):
    api.force_authenticate(staff_a.consultant)
    own = api.get(url("task", task))
    api.force_authenticate(staff_a.specialist)
    lead = api.get(url("task", task))

    assert own.status_code == 200 and own.json()["id"] == task.pk
    assert lead.status_code == 200


ACTIONS = [
    ("complete", REACHED),
    ("attempt", {"channel": "phone"}),
    ("snooze", {"days": 1}),
    ("reassign", {"assignee": "b_specialist"}),
]


@pytest.mark.parametrize(("action", "body"), [("", {}), *ACTIONS])
def test_another_stores_task_is_a_404_everywhere(api, staff_a, staff_b, task_b, action, body):
    api.force_authenticate(staff_a.manager)
    before = state(task_b)

    response = api.post(url("task", task_b, action), body, format="json") if action else api.get(url("task", task_b))

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    assert state(task_b) == before


def test_an_id_past_any_bigint_is_a_404(api, staff_a):
    api.force_authenticate(staff_a.manager)

    assert api.get(f"{reverse('api:tasks')}{2**70}/").status_code == 404
    assert api.post(f"{reverse('api:tasks')}{2**70}/snooze/", {"days": 1}, format="json").status_code == 404


@pytest.mark.parametrize(("action", "body"), [("", {}), *ACTIONS[:3]])
def test_another_consultant_cannot_see_or_work_the_task(api, staff_a, task, action, body):
    api.force_authenticate(StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=task.store))
    before = state(task)

    response = api.post(url("task", task, action), body, format="json") if action else api.get(url("task", task))

    assert response.status_code == 403
    assert state(task) == before


# --- Complete and attempt: the page's form and service, the page's effect -------------------------


def page_and_api(client, api, staff_a, store_a, page_name, page_data, action, body):
    """The same action on two like tasks, one through the page and one through the API."""
    on_page = a_task(MemberFactory(home_store=store_a, consultant=staff_a.consultant), staff_a.consultant)
    on_api = a_task(MemberFactory(home_store=store_a, consultant=staff_a.consultant), staff_a.consultant)
    client.force_login(staff_a.consultant)
    api.force_authenticate(staff_a.consultant)

    page = client.post(reverse(page_name, args=[on_page.pk]), page_data)
    response = api.post(url("task", on_api, action), body, format="json")

    assert page.status_code == 302
    return state(on_page), state(on_api), response


def test_complete_closes_the_card_as_the_page_does(client, api, staff_a, store_a):
    page, via_api, response = page_and_api(
        client,
        api,
        staff_a,
        store_a,
        "visits:task_complete",
        {"channel": "phone", "outcome": "已联系，满意", "satisfaction": 5},
        "complete",
        REACHED,
    )

    assert via_api == page
    assert via_api[:2] == (TaskStatus.DONE, ClosedBy.CONTACT)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["task"]["status"] == "done" and body["task"]["visit"] == body["visit"]["id"]
    assert (body["visit"]["result"], body["visit"]["outcome"], body["visit"]["task"]) == (
        "reached",
        "已联系，满意",
        body["task"]["id"],
    )
    assert body["closed_reasons"] == 1


def test_an_attempt_counts_and_brings_the_card_back_tomorrow_as_the_page_does(client, api, staff_a, store_a):
    page, via_api, response = page_and_api(
        client,
        api,
        staff_a,
        store_a,
        "visits:task_complete",
        {"channel": "phone", "outcome": "未接通"},
        "attempt",
        {"channel": "phone"},
    )

    tomorrow = timezone.localdate() + timedelta(days=1)
    assert via_api == page
    assert via_api[:4] == (TaskStatus.OPEN, "", 1, tomorrow)
    body = response.json()
    assert (body["task"]["attempts"], body["task"]["scheduled_for"]) == (1, tomorrow.isoformat())
    assert (body["visit"]["result"], body["visit"]["attempt_of"], body["closed_reasons"]) == (
        "no_answer",
        body["task"]["id"],
        0,
    )


def test_complete_with_a_not_reached_result_is_an_attempt_on_the_day_asked(api, staff_a, task):
    retry = timezone.localdate() + timedelta(days=4)
    api.force_authenticate(staff_a.consultant)

    response = api.post(
        url("task", task, "complete"),
        {"channel": "wechat", "result": "switched_off", "retry_on": retry.isoformat()},
        format="json",
    )

    assert response.status_code == 200, response.json()
    task.refresh_from_db()
    assert (task.status, task.attempts, task.scheduled_for) == (TaskStatus.OPEN, 1, retry)
    assert response.json()["visit"]["outcome"] == str(VisitResult.SWITCHED_OFF.label)  # as the page's chip


def test_the_last_attempt_hands_the_task_to_the_vip_specialist(api, staff_a, task):
    FollowUpTask.objects.filter(pk=task.pk).update(attempts=ProgramRules.load().attempts_before_escalation - 1)
    api.force_authenticate(staff_a.consultant)

    response = api.post(url("task", task, "attempt"), {"channel": "phone", "result": "declined"}, format="json")

    assert response.status_code == 200
    assert response.json()["task"]["assignee"] == "a_specialist"


def test_an_attempt_cannot_say_reached(api, staff_a, task):
    api.force_authenticate(staff_a.consultant)

    response = api.post(url("task", task, "attempt"), {"channel": "phone", "result": "reached"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "result",
        "code": "invalid_choice",
        "message": response.json()["errors"][0]["message"],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "phone"}, "outcome"),  # reached needs an outcome (the page's form says so)
        ({"outcome": "好"}, "channel"),
        ({"channel": "fax", "outcome": "好"}, "channel"),
        ({"channel": "phone", "outcome": "好", "satisfaction": 6}, "satisfaction"),
        ({"channel": "phone", "outcome": "x" * 141}, "outcome"),
        ({"channel": "phone", "outcome": "好", "next_follow_up": "2020-01-01"}, "next_follow_up"),  # the service
        ({"channel": "phone", "result": "no_answer", "retry_on": "2020-01-01"}, "retry_on"),
    ],
)
def test_a_bad_contact_is_a_400_naming_the_field_and_changes_nothing(api, staff_a, task, body, field):
    api.force_authenticate(staff_a.consultant)
    before = state(task)

    response = api.post(url("task", task, "complete"), body, format="json")

    assert response.status_code == 400, response.json()
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert response.json()["errors"][0]["message"]
    assert state(task) == before


def test_a_task_already_done_is_a_409(api, staff_a, task):
    api.force_authenticate(staff_a.consultant)
    api.post(url("task", task, "complete"), REACHED, format="json")

    again = api.post(url("task", task, "complete"), REACHED, format="json")
    attempt = api.post(url("task", task, "attempt"), {"channel": "phone"}, format="json")
    snooze = api.post(url("task", task, "snooze"), {"days": 1}, format="json")

    for response in (again, attempt, snooze):
        assert response.status_code == 409
        assert response.json()["errors"][0]["code"] == "not_open"
    assert Visit.objects.filter(member=task.member).count() == 1


def test_a_next_follow_up_becomes_a_manual_task_for_the_caller(api, staff_a, task):
    day = timezone.localdate() + timedelta(days=14)
    api.force_authenticate(staff_a.consultant)

    api.post(url("task", task, "complete"), REACHED | {"next_follow_up": day.isoformat()}, format="json")

    follow_up = FollowUpTask.objects.get(member=task.member, status=TaskStatus.OPEN)
    assert (follow_up.kind, follow_up.due_date, follow_up.assignee) == (TaskKind.MANUAL, day, staff_a.consultant)


# --- Snooze ---------------------------------------------------------------------------------------


def test_snooze_moves_the_working_date_as_the_page_does(client, api, staff_a, store_a):
    page, via_api, response = page_and_api(
        client, api, staff_a, store_a, "visits:task_snooze", {"days": 3}, "snooze", {"days": 3}
    )

    assert via_api == page
    today = timezone.localdate()
    assert (via_api[3], via_api[4]) == (today + timedelta(days=3), today)  # due date stays
    assert response.json()["scheduled_for"] == (today + timedelta(days=3)).isoformat()
    assert AuditEntry.objects.filter(action="task.snoozed").count() == 2


def test_snooze_to_a_date(api, staff_a, task):
    until = timezone.localdate() + timedelta(days=10)
    api.force_authenticate(staff_a.consultant)

    response = api.post(url("task", task, "snooze"), {"until": until.isoformat()}, format="json")

    assert response.status_code == 200
    task.refresh_from_db()
    assert task.scheduled_for == until


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "until"), ({"until": "2020-01-01"}, "until"), ({"until": "2099-01-01"}, "until"), ({"days": 2}, "days")],
)
def test_a_bad_snooze_is_a_400(api, staff_a, task, body, field):
    api.force_authenticate(staff_a.consultant)
    before = state(task)

    response = api.post(url("task", task, "snooze"), body, format="json")

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert state(task) == before


# --- Reassign -------------------------------------------------------------------------------------


def test_a_store_lead_reassigns_a_task(api, staff_a, task):
    api.force_authenticate(staff_a.manager)

    response = api.post(url("task", task, "reassign"), {"assignee": "a_specialist"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["assignee"] == "a_specialist"
    task.refresh_from_db()
    assert task.assignee == staff_a.specialist
    assert AuditEntry.objects.filter(action="task.reassigned", object_id=str(task.pk)).exists()


def test_a_consultant_may_not_reassign_even_their_own(api, staff_a, task):
    api.force_authenticate(staff_a.consultant)

    response = api.post(url("task", task, "reassign"), {"assignee": "a_specialist"}, format="json")

    assert response.status_code == 403
    task.refresh_from_db()
    assert task.assignee == staff_a.consultant


@pytest.mark.parametrize("assignee", ["b_consultant", "nobody", "hq"])
def test_only_the_stores_staff_can_take_a_task(api, staff_a, staff_b, hq, task, assignee):
    api.force_authenticate(staff_a.manager)

    response = api.post(url("task", task, "reassign"), {"assignee": assignee}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "assignee"
    task.refresh_from_db()
    assert task.assignee == staff_a.consultant


# --- Mass assignment ------------------------------------------------------------------------------


def test_fields_a_client_may_not_set_change_nothing(api, staff_a, staff_b, task):
    api.force_authenticate(staff_a.consultant)
    extra = {
        "store": "BJB",
        "store_id": staff_b.manager.store_id,
        "assignee": "b_consultant",
        "assignee_id": staff_b.consultant.pk,
        "status": "done",
        "member": 1,
        "id": 999,
        "due_date": "2020-01-01",
        "attempts": 7,
    }

    response = api.post(url("task", task, "snooze"), {"days": 1, **extra}, format="json")

    assert response.status_code == 200
    task.refresh_from_db()
    today = timezone.localdate()
    assert (task.store.code, task.assignee, task.status, task.due_date, task.attempts) == (
        "SHA",
        staff_a.consultant,
        TaskStatus.OPEN,
        today,
        0,
    )
    assert task.scheduled_for == today + timedelta(days=1)


def test_a_contact_body_cannot_name_the_visit_store_or_staff(api, staff_a, staff_b, task):
    api.force_authenticate(staff_a.consultant)

    response = api.post(
        url("task", task, "complete"),
        REACHED | {"store": "BJB", "staff": "b_manager", "member": 1, "at": "2020-01-01T00:00:00Z"},
        format="json",
    )

    assert response.status_code == 200
    visit = Visit.objects.get(member=task.member)
    assert (visit.store.code, visit.staff, visit.member_id) == ("SHA", staff_a.consultant, task.member_id)
    assert timezone.localdate(visit.at) == timezone.localdate()
