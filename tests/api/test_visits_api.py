"""Visits and invitations in the API (/api/v1/visits/, /api/v1/invitations/, issue 13 item 2):
recorded through the member page's forms and services, with the page's effect; listed through
the pages' selectors; another store's object (or member) is a 404 everywhere; status changes only
through `advance`, which refuses what the funnel does not allow with a 409."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from tests.factories import MemberFactory, PurchaseFactory, StaffFactory
from visits.models import FollowUpTask, Invitation, InvitationStatus, TaskKind, TaskStatus, Visit
from visits.services import invitation_create, visit_record


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


def a_visit(member, by, **extra):
    return visit_record(member=member, by=by, channel="phone", outcome="已联系，满意", **extra)


def in_days(n):
    return (timezone.localdate() + timedelta(days=n)).isoformat()


def an_invitation(member, by, days=2):
    return invitation_create(
        member=member, by=by, for_date=timezone.localdate() + timedelta(days=days), purpose="新品到店试穿"
    )


# --- Visits: lists --------------------------------------------------------------------------------


def test_a_members_visits_newest_first(api, staff_a, member_a, store_a):
    older = a_visit(member_a, staff_a.consultant, at=timezone.now() - timedelta(days=2))
    newer = a_visit(member_a, staff_a.specialist)
    a_visit(MemberFactory(home_store=store_a), staff_a.consultant)
    api.force_authenticate(staff_a.consultant)

    rows = api.get(reverse("api:visits"), {"member": member_a.pk}).json()["results"]

    assert [r["id"] for r in rows] == [newer.pk, older.pk]
    assert (rows[0]["store"], rows[0]["member"], rows[0]["staff"], rows[0]["result"]) == (
        "SHA",
        member_a.pk,
        "a_specialist",
        "reached",
    )


def test_without_a_member_it_lists_the_stores_members_recent_visits(api, staff_a, staff_b, member_a, member_b):
    own = a_visit(member_a, staff_a.consultant)
    a_visit(member_b, staff_b.consultant)
    api.force_authenticate(staff_a.consultant)

    rows = api.get(reverse("api:visits")).json()["results"]

    assert [r["id"] for r in rows] == [own.pk]


def test_another_stores_visits_are_a_404(api, staff_a, staff_b, member_b):
    theirs = a_visit(member_b, staff_b.consultant)
    api.force_authenticate(staff_a.manager)

    assert api.get(reverse("api:visits"), {"member": member_b.pk}).status_code == 404
    assert api.get(reverse("api:visit", args=[theirs.pk])).status_code == 404
    assert api.get(f"{reverse('api:visits')}{2**70}/").status_code == 404
    assert api.get(reverse("api:visits"), {"member": 2**70}).status_code == 400
    assert api.get(reverse("api:visits"), {"member": "1.5"}).status_code == 400


def test_the_visit_list_runs_few_queries(api, staff_a, store_a, django_assert_max_num_queries):
    for member in MemberFactory.create_batch(30, home_store=store_a):
        a_visit(member, staff_a.consultant)
    api.force_authenticate(staff_a.manager)

    with django_assert_max_num_queries(1):  # the page, with store, member, staff and task joined
        response = api.get(reverse("api:visits"), {"page_size": 200})

    assert len(response.json()["results"]) == 30


# --- Visits: record -------------------------------------------------------------------------------


def test_it_records_a_visit_as_the_member_page_does(client, api, staff_a, store_a):
    on_page = MemberFactory(home_store=store_a, consultant=staff_a.consultant)
    on_api = MemberFactory(home_store=store_a, consultant=staff_a.consultant)
    fields = {"channel": "wechat", "outcome": "已预约到店", "satisfaction": 4, "next_follow_up": in_days(10)}
    client.force_login(staff_a.consultant)
    api.force_authenticate(staff_a.consultant)

    page = client.post(reverse("visits:visit_add", args=[on_page.pk]), fields)
    response = api.post(reverse("api:visits"), fields | {"member": on_api.pk}, format="json")

    assert page.status_code == 302
    assert response.status_code == 201, response.json()

    def recorded(member):
        visit = Visit.objects.get(member=member)
        follow_up = FollowUpTask.objects.get(member=member, kind=TaskKind.MANUAL)
        fields = (visit.channel, visit.outcome, visit.satisfaction, visit.result, visit.staff, visit.store)
        return fields, (follow_up.due_date, follow_up.assignee)

    assert recorded(on_api) == recorded(on_page)
    assert response.json()["staff"] == "a_consultant"
    assert response.json()["id"] == Visit.objects.get(member=on_api).pk


def test_an_unreached_visit_is_an_attempt_on_the_persons_card(api, staff_a, member_a):
    task, _ = FollowUpTask.objects.get_or_create(
        member=member_a,
        kind=TaskKind.CARE,
        origin="api",
        defaults={"store": member_a.home_store, "assignee": staff_a.consultant, "due_date": timezone.localdate()},
    )
    api.force_authenticate(staff_a.consultant)

    response = api.post(
        reverse("api:visits"),
        {"member": member_a.pk, "channel": "phone", "result": "no_answer", "outcome": "未接通"},
        format="json",
    )

    assert response.status_code == 201
    task.refresh_from_db()
    assert (task.status, task.attempts) == (TaskStatus.OPEN, 1)
    assert response.json()["attempt_of"] == task.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "phone"}, "outcome"),
        ({"channel": "fax", "outcome": "好"}, "channel"),
        ({"channel": "phone", "outcome": "好", "satisfaction": 0}, "satisfaction"),
        ({"channel": "phone", "outcome": "好", "purpose": "x" * 101}, "purpose"),
        ({"channel": "phone", "outcome": "好", "at": "2099-01-01T10:00:00+08:00"}, "at"),  # the page's form
        ({"channel": "phone", "outcome": "好", "at": "1890-01-01T10:00:00+08:00"}, "at"),
        ({"channel": "phone", "outcome": "好", "next_follow_up": "2020-01-01"}, "next_follow_up"),
        ({"channel": "phone", "outcome": "好", "result": "maybe"}, "result"),
    ],
)
def test_a_bad_visit_is_a_400_naming_the_field(api, staff_a, member_a, body, field):
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:visits"), body | {"member": member_a.pk}, format="json")

    assert response.status_code == 400, response.json()
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert response.json()["errors"][0]["message"]
    assert not Visit.objects.exists()


def test_a_visit_for_another_stores_member_is_a_404(api, staff_a, member_b):
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:visits"), {"member": member_b.pk, "channel": "phone", "outcome": "好"})

    assert response.status_code == 404
    assert not Visit.objects.exists()


def test_a_visit_body_cannot_name_the_store_staff_or_id(api, staff_a, staff_b, member_a):
    api.force_authenticate(staff_a.consultant)

    response = api.post(
        reverse("api:visits"),
        {
            "member": member_a.pk,
            "channel": "phone",
            "outcome": "好",
            "store": "BJB",
            "store_id": staff_b.manager.store_id,
            "staff": "b_manager",
            "staff_id": staff_b.manager.pk,
            "id": 999,
            "task": 1,
        },
        format="json",
    )

    assert response.status_code == 201
    visit = Visit.objects.get()
    assert (visit.store.code, visit.staff, visit.attempt_of) == ("SHA", staff_a.consultant, None)
    assert visit.pk != 999


# --- Invitations: lists and detail ----------------------------------------------------------------


def test_a_consultant_lists_their_own_invitations_and_a_manager_the_stores(api, staff_a, member_a, member_b, staff_b):
    own = an_invitation(member_a, staff_a.consultant)
    specialists = an_invitation(member_a, staff_a.specialist, days=5)
    an_invitation(member_b, staff_b.consultant)
    api.force_authenticate(staff_a.consultant)
    consultants = api.get(reverse("api:invitations")).json()["results"]
    api.force_authenticate(staff_a.manager)
    managers = api.get(reverse("api:invitations")).json()["results"]

    assert [r["id"] for r in consultants] == [own.pk]
    assert [r["id"] for r in managers] == [own.pk, specialists.pk]  # soonest first
    assert (managers[0]["store"], managers[0]["invited_by"], managers[0]["status"]) == (
        "SHA",
        "a_consultant",
        "invited",
    )
    assert managers[0]["next_statuses"] == ["confirmed", "arrived", "declined"]  # no receipt: not "bought"


def test_it_filters_invitations_as_the_page_does(api, staff_a, member_a):
    soon = an_invitation(member_a, staff_a.consultant, days=1)
    later = an_invitation(member_a, staff_a.consultant, days=9)
    past = Invitation.objects.create(
        member=member_a,
        store=member_a.home_store,
        invited_by=staff_a.consultant,
        for_date=timezone.localdate() - timedelta(days=3),
        purpose="老客回店",
        status=InvitationStatus.NO_SHOW,
    )
    api.force_authenticate(staff_a.manager)

    def ids(**query):
        return [r["id"] for r in api.get(reverse("api:invitations"), query).json()["results"]]

    assert ids() == [past.pk, soon.pk, later.pk]
    assert ids(view="upcoming") == [soon.pk, later.pk]
    assert ids(view="past") == [past.pk]
    assert ids(status="no_show") == [past.pk]
    assert ids(start=in_days(2)) == [later.pk]
    assert ids(consultant=staff_a.specialist.pk) == []
    assert ids(store="SHA", end=in_days(1)) == [past.pk, soon.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"view": "soon"}, "view"),
        ({"status": "x"}, "status"),
        ({"store": "ZZZ"}, "store"),
        ({"consultant": "1.5"}, "consultant"),
    ],
)
def test_a_bad_invitation_filter_is_a_400(api, staff_a, query, field):
    api.force_authenticate(staff_a.manager)

    response = api.get(reverse("api:invitations"), query)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_invitations_are_paged_by_a_cursor_in_the_views_order(api, staff_a, member_a):
    made = [an_invitation(member_a, staff_a.consultant, days=n) for n in range(1, 6)]
    api.force_authenticate(staff_a.consultant)

    first = api.get(reverse("api:invitations"), {"view": "upcoming", "page_size": 2}).json()
    rest = [first]
    while rest[-1]["next"]:
        rest.append(api.get(rest[-1]["next"]).json())

    assert [r["id"] for page in rest for r in page["results"]] == [i.pk for i in made]


def test_the_invitation_list_runs_few_queries(api, staff_a, store_a, django_assert_max_num_queries):
    for member in MemberFactory.create_batch(30, home_store=store_a):
        an_invitation(member, staff_a.consultant)
    api.force_authenticate(staff_a.manager)

    with django_assert_max_num_queries(2):  # the page, and the receipts that allow "bought"
        response = api.get(reverse("api:invitations"), {"page_size": 200})

    assert len(response.json()["results"]) == 30


def test_the_invitation_detail(api, staff_a, staff_b, member_a, member_b):
    invitation = an_invitation(member_a, staff_a.consultant)
    theirs = an_invitation(member_b, staff_b.consultant)
    other_consultant = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=member_a.home_store)

    api.force_authenticate(staff_a.consultant)
    own = api.get(reverse("api:invitation", args=[invitation.pk]))
    outside = api.get(reverse("api:invitation", args=[theirs.pk]))
    api.force_authenticate(other_consultant)
    not_theirs = api.get(reverse("api:invitation", args=[invitation.pk]))

    assert own.status_code == 200 and own.json()["purpose"] == "新品到店试穿"
    assert outside.status_code == 404
    assert not_theirs.status_code == 403


# --- Invitations: create and advance --------------------------------------------------------------


def test_it_invites_a_member_as_the_page_does(client, api, staff_a, store_a):
    on_page = MemberFactory(home_store=store_a, consultant=staff_a.consultant)
    on_api = MemberFactory(home_store=store_a, consultant=staff_a.consultant)
    fields = {"for_date": in_days(3), "purpose": "私享会"}
    client.force_login(staff_a.consultant)
    api.force_authenticate(staff_a.consultant)

    page = client.post(reverse("visits:invitation_add", args=[on_page.pk]), fields)
    response = api.post(reverse("api:invitations"), fields | {"member": on_api.pk}, format="json")

    assert page.status_code == 302
    assert response.status_code == 201, response.json()

    def made(member):
        invitation = Invitation.objects.get(member=member)
        task = FollowUpTask.objects.get(member=member, kind=TaskKind.INVITATION)
        return (invitation.store, invitation.invited_by, invitation.for_date, invitation.status), (
            task.assignee,
            task.due_date,
        )

    assert made(on_api) == made(on_page)
    assert response.json()["status"] == "invited"


def test_an_invitation_body_cannot_set_the_status_store_or_inviter(api, staff_a, staff_b, member_a):
    api.force_authenticate(staff_a.consultant)

    response = api.post(
        reverse("api:invitations"),
        {
            "member": member_a.pk,
            "for_date": in_days(3),
            "purpose": "私享会",
            "status": "bought",
            "store": "BJB",
            "invited_by": "b_manager",
            "id": 999,
        },
        format="json",
    )

    assert response.status_code == 201
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.store.code, invitation.invited_by) == ("invited", "SHA", staff_a.consultant)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"for_date": "2020-01-01", "purpose": "私享会"}, "for_date"),  # the service
        ({"for_date": "2020-02-30", "purpose": "私享会"}, "for_date"),
        ({"purpose": "私享会"}, "for_date"),
        ({"for_date": "2099-01-01", "purpose": "   "}, "purpose"),
        ({"for_date": "2099-01-01", "purpose": "x" * 101}, "purpose"),
    ],
)
def test_a_bad_invitation_is_a_400(api, staff_a, member_a, body, field):
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:invitations"), body | {"member": member_a.pk}, format="json")

    assert response.status_code == 400, response.json()
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not Invitation.objects.exists()


def test_an_invitation_for_another_stores_member_is_a_404(api, staff_a, member_b):
    api.force_authenticate(staff_a.manager)

    response = api.post(reverse("api:invitations"), {"member": member_b.pk, "for_date": in_days(3), "purpose": "会"})

    assert response.status_code == 404
    assert not Invitation.objects.exists()


def test_advance_moves_the_invitation_along_the_funnel(api, staff_a, member_a):
    invitation = an_invitation(member_a, staff_a.consultant)
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:invitation-advance", args=[invitation.pk]), {"status": "confirmed"})

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "confirmed"
    assert response.json()["next_statuses"] == ["arrived", "declined", "no_show"]
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.CONFIRMED


def test_a_step_the_funnel_refuses_is_a_409_with_the_services_message(api, staff_a, member_a):
    invitation = an_invitation(member_a, staff_a.consultant)
    Invitation.objects.filter(pk=invitation.pk).update(status=InvitationStatus.DECLINED)
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:invitation-advance", args=[invitation.pk]), {"status": "arrived"})

    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert (error["field"], error["code"]) == (None, "invalid_transition")
    assert "已婉拒" in error["message"] and "已到店" in error["message"]


def test_bought_needs_a_receipt_in_the_window(api, staff_a, member_a):
    invitation = an_invitation(member_a, staff_a.consultant, days=0)
    api.force_authenticate(staff_a.consultant)
    url = reverse("api:invitation-advance", args=[invitation.pk])

    refused = api.post(url, {"status": "bought"})
    PurchaseFactory(member=member_a, store=member_a.home_store, date=timezone.localdate(), amount=Decimal("800"))
    offered = api.get(reverse("api:invitation", args=[invitation.pk])).json()["next_statuses"]
    bought = api.post(url, {"status": "bought"})

    assert (refused.status_code, refused.json()["errors"][0]["code"]) == (409, "no_purchase")
    assert "bought" in offered
    assert bought.status_code == 200 and bought.json()["status"] == "bought"


def test_advance_is_for_the_inviter_and_the_store_leads_in_the_store(api, staff_a, staff_b, member_a):
    invitation = an_invitation(member_a, staff_a.consultant)
    url = reverse("api:invitation-advance", args=[invitation.pk])

    api.force_authenticate(StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=member_a.home_store))
    other_consultant = api.post(url, {"status": "confirmed"})
    api.force_authenticate(staff_b.manager)
    outsider = api.post(url, {"status": "confirmed"})
    api.force_authenticate(staff_a.manager)
    bad = api.post(url, {"status": "lost"})

    assert other_consultant.status_code == 403
    assert outsider.status_code == 404
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (400, "status")
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.INVITED
