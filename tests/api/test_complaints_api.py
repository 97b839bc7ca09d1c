"""The complaints viewset (/api/v1/complaints/): scoped like the pages, registered and moved by the
same services with the same effect, errors in the one format, deaf to fields a client may not set
(issue 13 item 2)."""

import base64
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient

from accounts.models import AuditEntry, Role
from complaints.models import Complaint, ComplaintEvent, Status
from complaints.services import complaint_register, complaint_transition
from tests.api.test_schema import CHECKS, schema
from tests.factories import StaffFactory


@pytest.fixture
def api():
    return APIClient()


def register(store, by, **extra):
    fields = {"channel": "in_store", "category": "alteration", "description": "裤长改短了"} | extra
    if "member" not in fields:
        fields.setdefault("walk_in_name", "路过的顾客")
    return complaint_register(store=store, by=by, **fields)


def body(**extra):
    return {"channel": "phone", "category": "product_quality", "severity": "medium", "description": "外套开线"} | extra


# --- List and detail -----------------------------------------------------------------------------


def test_it_lists_the_callers_scope_only(api, staff_a, staff_b, hq, member_a, member_b, store_a, store_b):
    mine = register(store_a, staff_a.consultant, member=member_a)
    colleagues = register(store_a, staff_a.specialist)
    theirs = register(store_b, staff_b.consultant, member=member_b)

    def ids(user):
        api.force_authenticate(user)
        return {row["id"] for row in api.get(reverse("api:complaints")).json()["results"]}

    assert ids(staff_a.manager) == {mine.pk, colleagues.pk}
    assert ids(staff_a.consultant) == {mine.pk}  # what they registered or work on, as on the pages
    assert ids(hq) == {mine.pk, colleagues.pk, theirs.pk}


def test_it_filters_by_status_store_and_day(api, staff_a, staff_b, hq, store_a, store_b):
    now = timezone.now()
    old = register(store_a, staff_a.manager, received_at=now - timedelta(days=10))
    new = register(store_a, staff_a.manager)
    other = register(store_b, staff_b.manager)
    complaint_transition(complaint=new, to=Status.ACCEPTED, by=staff_a.manager)
    api.force_authenticate(hq)
    url = reverse("api:complaints")
    today = timezone.localdate().isoformat()

    def ids(**query):
        return [row["id"] for row in api.get(url, query).json()["results"]]

    assert ids(status="accepted") == [new.pk]
    assert ids(store="sha") == [new.pk, old.pk]
    assert ids(store="BJB") == [other.pk]
    assert ids(received_from=today) == [other.pk, new.pk]
    assert ids(received_to=(timezone.localdate() - timedelta(days=1)).isoformat()) == [old.pk]


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ({"status": "lost"}, "status", "invalid_choice"),
        ({"received_from": "2026-02-30"}, "received_from", "invalid"),
        ({"received_to": "0001-01-01"}, "received_to", "out_of_range"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, staff_a, query, field, code):
    api.force_authenticate(staff_a.manager)

    response = api.get(reverse("api:complaints"), query)

    assert response.status_code == 400
    assert (response.json()["errors"][0]["field"], response.json()["errors"][0]["code"]) == (field, code)


def test_the_list_runs_few_queries(api, staff_a, store_a, member_a, django_assert_max_num_queries):
    for _ in range(30):
        register(store_a, staff_a.manager, member=member_a)
    api.force_authenticate(staff_a.manager)

    with django_assert_max_num_queries(1):  # the page, with store, member and responsible staff joined
        response = api.get(reverse("api:complaints"), {"page_size": 100})

    assert len(response.json()["results"]) == 30


def test_another_stores_complaint_is_a_404_everywhere(api, staff_a, staff_b, member_b, store_b):
    theirs = register(store_b, staff_b.consultant, member=member_b)
    api.force_authenticate(staff_a.manager)

    assert api.get(reverse("api:complaint", args=[theirs.pk])).status_code == 404
    assert api.get(reverse("api:complaint-timeline", args=[theirs.pk])).status_code == 404
    response = api.post(reverse("api:complaint-transition", args=[theirs.pk]), {"to": "accepted"}, format="json")
    assert response.status_code == 404
    assert api.get(f"{reverse('api:complaints')}{2**70}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.REGISTERED


def test_another_consultants_complaint_is_a_404_for_a_consultant(api, staff_a, store_a):
    colleagues = register(store_a, staff_a.specialist)
    api.force_authenticate(staff_a.consultant)

    assert api.get(reverse("api:complaint", args=[colleagues.pk])).status_code == 404


def test_the_detail_shows_what_the_page_shows_and_the_steps_allowed(api, staff_a, store_a, member_a):
    complaint = register(store_a, staff_a.consultant, member=member_a, walk_in_phone="13700001111")
    api.force_authenticate(staff_a.manager)

    detail = api.get(reverse("api:complaint", args=[complaint.pk])).json()
    api.force_authenticate(staff_a.consultant)
    as_consultant = api.get(reverse("api:complaint", args=[complaint.pk])).json()

    assert (detail["store"], detail["status"], detail["member"], detail["card_no"]) == (
        "SHA",
        "registered",
        member_a.pk,
        member_a.card_no,
    )
    assert detail["customer_name"] == member_a.name and detail["received_by"] == "a_consultant"
    assert detail["walk_in_phone"] == "137****1111"
    assert sorted(detail["allowed_transitions"]) == ["accepted", "rejected"]
    assert as_consultant["allowed_transitions"] == []  # a consultant does not accept complaints


# --- Register ------------------------------------------------------------------------------------


def test_it_registers_as_the_page_does(api, client, staff_a, member_a):
    """The same input through the page and through the API gives the same complaint."""
    client.force_login(staff_a.consultant)
    page = client.post(reverse("complaints:register"), body(member_ref=member_a.card_no))
    api.force_authenticate(staff_a.consultant)
    response = api.post(reverse("api:complaints"), body(member_ref=member_a.card_no), format="json")

    assert page.status_code == 302 and response.status_code == 201, response.json()
    by_page, by_api = Complaint.objects.order_by("pk")
    fields = ("store", "member", "channel", "category", "severity", "description", "received_by", "status")
    assert [getattr(by_api, f) for f in fields] == [getattr(by_page, f) for f in fields]
    assert list(by_api.events.values_list("from_status", "to_status")) == [("", "registered")]
    member_a.refresh_from_db()
    assert member_a.open_complaints == 2
    assert response.json()["id"] == by_api.pk and response.json()["status"] == "registered"


def test_it_registers_in_the_callers_store_whatever_the_body_says(api, staff_a, staff_b, store_a):
    api.force_authenticate(staff_a.consultant)

    response = api.post(
        reverse("api:complaints"),
        body(
            walk_in_name="路人",
            store="BJB",
            status="closed",
            id=999,
            received_by=staff_b.manager.pk,
            responsible_staff=staff_b.manager.username,
            first_response_at="2020-01-01T00:00:00Z",
        ),
        format="json",
    )

    assert response.status_code == 201, response.json()
    complaint = Complaint.objects.get()
    assert (complaint.store, complaint.status, complaint.received_by) == (store_a, "registered", staff_a.consultant)
    assert complaint.pk != 999 and complaint.responsible_staff is None and complaint.first_response_at is None


def test_a_member_found_by_full_phone_is_audited_and_a_prefix_finds_nobody(api, staff_a, member_a):
    api.force_authenticate(staff_a.consultant)

    by_prefix = api.post(reverse("api:complaints"), body(member_ref=member_a.phone[:8]), format="json")
    by_number = api.post(reverse("api:complaints"), body(member_ref="138 1234 5678"), format="json")

    assert by_prefix.status_code == 400 and by_prefix.json()["errors"][0]["field"] == "member_ref"
    assert by_number.status_code == 201 and Complaint.objects.get().member == member_a
    entry = AuditEntry.objects.get(action="member.phone_search")
    assert (entry.actor, entry.data["members"], entry.data["via"]) == (staff_a.consultant, [member_a.pk], "complaint")


def test_a_full_number_that_finds_nobody_is_still_audited(api, staff_a, member_b):
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:complaints"), body(member_ref=member_b.phone), format="json")

    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "member_ref"
    assert AuditEntry.objects.get(action="member.phone_search").data["members"] == []
    assert not Complaint.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field", "code"),
    [
        ({}, "walk_in_name", "invalid"),  # neither a member nor a walk-in's name
        ({"walk_in_name": "路人", "channel": "fax"}, "channel", "invalid_choice"),
        ({"walk_in_name": "路人", "walk_in_phone": "12"}, "walk_in_phone", "invalid"),
        ({"walk_in_name": "路人", "description": "  "}, "description", "blank"),
    ],
)
def test_registration_errors_name_the_field(api, staff_a, extra, field, code):
    api.force_authenticate(staff_a.manager)

    response = api.post(reverse("api:complaints"), body(**extra), format="json")

    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [(field, code)]
    assert not Complaint.objects.exists()


def test_another_stores_member_cannot_be_named_by_card(api, staff_a, member_b):
    api.force_authenticate(staff_a.manager)

    response = api.post(reverse("api:complaints"), body(member_ref=member_b.card_no), format="json")

    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "member_ref"
    assert member_b.card_no in response.json()["errors"][0]["message"]  # only what was typed, no name
    assert member_b.name not in response.content.decode()


def test_hq_names_the_store(api, hq, store_b, member_b):
    api.force_authenticate(hq)

    without = api.post(reverse("api:complaints"), body(member_ref=member_b.card_no), format="json")
    unknown = api.post(reverse("api:complaints"), body(member_ref=member_b.card_no, store="XXX"), format="json")
    named = api.post(reverse("api:complaints"), body(member_ref=member_b.card_no, store="bjb"), format="json")

    assert without.status_code == 400 and without.json()["errors"][0]["field"] == "store"
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["code"] == "not_found"
    assert named.status_code == 201 and named.json()["store"] == "BJB"
    assert Complaint.objects.get().member == member_b


# --- Transitions and the timeline --------------------------------------------------------------


def test_a_transition_does_what_the_page_does(api, client, staff_a, store_a, member_a):
    by_page, by_api = (register(store_a, staff_a.consultant, member=member_a) for _ in range(2))
    client.force_login(staff_a.manager)
    client.post(reverse("complaints:transition", args=[by_page.pk]), {"to": "accepted", "note": "收到"})
    api.force_authenticate(staff_a.manager)

    response = api.post(
        reverse("api:complaint-transition", args=[by_api.pk]), {"to": "accepted", "note": "收到"}, format="json"
    )

    assert response.status_code == 200, response.json()
    by_page.refresh_from_db()
    by_api.refresh_from_db()
    assert (by_api.status, by_api.first_response_at is not None) == (by_page.status, True)
    last = by_api.events.last()
    assert (last.from_status, last.to_status, last.by, last.note) == ("registered", "accepted", staff_a.manager, "收到")
    assert response.json()["status"] == "accepted"
    assert sorted(response.json()["allowed_transitions"]) == ["investigating"]


def test_investigation_takes_a_responsible_person_of_the_store_by_username(api, staff_a, staff_b, store_a):
    complaint = register(store_a, staff_a.manager)
    complaint_transition(complaint=complaint, to=Status.ACCEPTED, by=staff_a.manager)
    api.force_authenticate(staff_a.manager)
    url = reverse("api:complaint-transition", args=[complaint.pk])

    outsider = api.post(url, {"to": "investigating", "responsible_staff": staff_b.consultant.username}, format="json")
    nobody = api.post(url, {"to": "investigating"}, format="json")
    assigned = api.post(url, {"to": "investigating", "responsible_staff": "a_consultant"}, format="json")

    assert outsider.status_code == 400 and outsider.json()["errors"][0]["field"] == "responsible_staff"
    assert nobody.status_code == 400 and nobody.json()["errors"][0]["field"] == "responsible_staff"
    assert assigned.status_code == 200, assigned.json()
    complaint.refresh_from_db()
    assert (complaint.status, complaint.responsible_staff) == ("investigating", staff_a.consultant)


def test_a_rejection_without_its_fields_is_a_400_naming_them(api, staff_a, store_a):
    complaint = register(store_a, staff_a.manager)
    api.force_authenticate(staff_a.manager)

    response = api.post(reverse("api:complaint-transition", args=[complaint.pk]), {"to": "rejected"}, format="json")

    assert response.status_code == 400
    assert sorted(e["field"] for e in response.json()["errors"]) == ["customer_told", "rejection_reason"]
    complaint.refresh_from_db()
    assert complaint.status == "registered"


def test_a_step_that_does_not_exist_from_here_is_a_409_with_the_message(api, staff_a, store_a):
    complaint = register(store_a, staff_a.manager)
    api.force_authenticate(staff_a.manager)

    response = api.post(reverse("api:complaint-transition", args=[complaint.pk]), {"to": "closed"}, format="json")

    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert (error["field"], error["code"]) == (None, "invalid_transition")
    assert "已登记" in error["message"] and "已结案" in error["message"]


def test_carrying_out_before_approval_is_a_409_until_the_manager_approves(api, staff_a, store_a):
    complaint = register(store_a, staff_a.manager, severity="high")
    for to, extra in (
        (Status.ACCEPTED, {}),
        (Status.INVESTIGATING, {"responsible_department": "售后"}),
        (Status.SOLUTION_PROPOSED, {"solution": "免费修改", "compensation_amount": Decimal("100")}),
    ):
        complaint_transition(complaint=complaint, to=to, by=staff_a.manager, **extra)
    url = reverse("api:complaint-transition", args=[complaint.pk])
    api.force_authenticate(staff_a.specialist)

    early = api.post(url, {"to": "carried_out"}, format="json")
    refused = api.post(url, {"to": "approved"}, format="json")  # a specialist does not approve
    api.force_authenticate(staff_a.manager)
    approved = api.post(url, {"to": "approved"}, format="json")
    api.force_authenticate(staff_a.specialist)
    carried = api.post(url, {"to": "carried_out"}, format="json")

    assert early.status_code == 409 and early.json()["errors"][0]["code"] == "approval_required"
    assert refused.status_code == 403
    assert approved.status_code == 200 and carried.status_code == 200
    complaint.refresh_from_db()
    assert (complaint.status, complaint.approved_by) == ("carried_out", staff_a.manager)


def test_a_consultant_may_not_accept(api, staff_a, store_a):
    complaint = register(store_a, staff_a.consultant)
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:complaint-transition", args=[complaint.pk]), {"to": "accepted"}, format="json")

    assert response.status_code == 403 and response.json()["errors"][0]["message"]
    complaint.refresh_from_db()
    assert complaint.status == "registered"


def test_a_transition_sets_only_what_its_step_takes(api, staff_a, staff_b, store_a):
    complaint = register(store_a, staff_a.manager)
    api.force_authenticate(staff_a.manager)

    response = api.post(
        reverse("api:complaint-transition", args=[complaint.pk]),
        {
            "to": "accepted",
            "status": "closed",
            "store": "BJB",
            "solution": "不该写入",
            "compensation_amount": "9999",
            "approved_by": staff_b.manager.pk,
            "severity": "high",
        },
        format="json",
    )

    assert response.status_code == 200
    complaint.refresh_from_db()
    assert (complaint.status, complaint.store.code, complaint.solution, complaint.compensation_amount) == (
        "accepted",
        "SHA",
        "",
        None,
    )
    assert (complaint.approved_by, complaint.severity) == (None, "low")


def test_the_timeline_lists_the_steps_and_escalations_oldest_first(api, staff_a, store_a):
    complaint = register(store_a, staff_a.consultant)
    complaint_transition(complaint=complaint, to=Status.ACCEPTED, by=staff_a.manager, note="已联系顾客")
    ComplaintEvent.objects.create(
        complaint=complaint, from_status="accepted", to_status="accepted", at=timezone.now(), note="超时升级"
    )
    api.force_authenticate(staff_a.consultant)

    events = api.get(reverse("api:complaint-timeline", args=[complaint.pk])).json()

    assert [(e["from_status"], e["to_status"], e["by"], e["escalation"]) for e in events] == [
        ("", "registered", "a_consultant", False),
        ("registered", "accepted", "a_manager", False),
        ("accepted", "accepted", None, True),
    ]
    assert events[1]["note"] == "已联系顾客"


def test_a_pos_key_is_refused(api, staff_a, store_a):
    from accounts.api_keys import api_key_create

    key = api_key_create(store=store_a, name="till", by=staff_a.manager).key
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert api.get(reverse("api:complaints")).status_code == 403


def test_the_responsible_consultant_moves_their_complaint(api, staff_a, store_a):
    assigned = StaffFactory(username="a_assigned", role=Role.CONSULTANT, store=store_a)
    complaint = register(store_a, staff_a.manager)
    complaint_transition(complaint=complaint, to=Status.ACCEPTED, by=staff_a.manager)
    complaint_transition(complaint=complaint, to=Status.INVESTIGATING, by=staff_a.manager, responsible_staff=assigned)
    api.force_authenticate(assigned)

    response = api.post(
        reverse("api:complaint-transition", args=[complaint.pk]),
        {"to": "solution_proposed", "solution": "免费修改", "compensation_gift": "丝巾"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    complaint.refresh_from_db()
    assert (complaint.status, complaint.solution, complaint.compensation_gift) == (
        "solution_proposed",
        "免费修改",
        "丝巾",
    )


# --- Schema: generated requests to these resources, answered as documented ---------------------


@pytest.fixture
def manager_auth(staff_a, staff_b, member_a, member_b, store_a, store_b):
    """Store A's manager by Basic auth, with a complaint, a gift plan and a campaign in each store."""
    from campaigns.segments import Segment
    from campaigns.services import campaign_save
    from visits.models import GiftPlan

    today = timezone.localdate()
    for store, staff, member in ((store_a, staff_a, member_a), (store_b, staff_b, member_b)):
        register(store, staff.consultant, member=member)
        GiftPlan.objects.create(
            member=member, store=store, occasion="birthday", occasion_date=today, tier="C", gift="丝巾", budget=1
        )
        campaign_save(
            by=staff.manager,
            stores=[store],
            segment=Segment(),
            name="私享会",
            type="private_viewing",
            start_date=today + timedelta(days=7),
            end_date=today + timedelta(days=9),
        )
    cache.clear()  # the throttle counts per person in the cache
    for signal in (request_started, request_finished):  # as tests/api/test_schema.py: one connection
        signal.disconnect(close_old_connections)
    yield {"Authorization": f"Basic {base64.b64encode(b'a_manager:pw').decode()}"}
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.include(path_regex=r"^/api/v1/(complaints|campaigns|gift-plans|program)/").parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_these_endpoints_keep_to_the_schema_and_never_show_another_store(case, manager_auth):
    response = case.call_and_validate(headers=manager_auth, checks=CHECKS)
    if response.headers.get("Content-Type", "").startswith("application/json"):
        assert "BJB" not in response.text  # store B's complaint, gift plan and campaign stay unseen
