"""Complaint pages and statistics."""

from datetime import date

import time_machine
from django.urls import reverse

from accounts.models import Role
from complaints.models import Complaint, Status
from complaints.selectors import complaint_stats
from tests.factories import StaffFactory

D = date.fromisoformat


def make(
    store,
    *,
    received,
    category="alteration",
    responded=None,
    carried=None,
    closed=None,
    status=Status.REGISTERED,
    staff=None,
    **kw,
):
    return Complaint.objects.create(
        store=store,
        channel="phone",
        category=category,
        description="x",
        received_at=f"{received}+08:00",
        first_response_at=f"{responded}+08:00" if responded else None,
        carried_out_at=f"{carried}+08:00" if carried else None,
        closed_at=f"{closed}+08:00" if closed else None,
        status=status,
        responsible_staff=staff,
        **{"walk_in_name": "顾客", **kw},
    )


def test_statistics_on_a_hand_made_month(store_a, store_b, staff_a, hq):
    # March 2026, store A. Response SLA 24 h, solution SLA 48 h.
    # 1 alteration: responded after 2 h, carried out after 30 h, closed after 50 h     → in both SLAs
    # 2 alteration: responded after 30 h (late), carried out after 60 h (late), open   → in neither
    # 3 service:    responded after 4 h, not carried out, rejected & closed after 10 h → response only
    # 4 service:    received 03-31, nothing yet                                        → in neither
    # (outside: store B in March, store A in February: not counted)
    make(
        store_a,
        received="2026-03-02 10:00",
        responded="2026-03-02 12:00",
        carried="2026-03-03 16:00",
        closed="2026-03-04 12:00",
        status=Status.CLOSED,
        staff=staff_a.consultant,
    )
    make(
        store_a,
        received="2026-03-05 10:00",
        responded="2026-03-06 16:00",
        carried="2026-03-07 22:00",
        status=Status.CARRIED_OUT,
        staff=staff_a.consultant,
    )
    make(
        store_a,
        received="2026-03-10 09:00",
        category="service_attitude",
        responded="2026-03-10 13:00",
        closed="2026-03-10 19:00",
        status=Status.CLOSED,
        staff=staff_a.specialist,
    )
    make(store_a, received="2026-03-31 20:00", category="service_attitude")
    make(store_b, received="2026-03-03 10:00")
    make(store_a, received="2026-02-27 10:00")

    total, groups = complaint_stats(viewer=staff_a.manager, start=D("2026-03-01"), end=D("2026-03-31"))
    # Received 4; closed 2 (#1, #3); mean response (2 + 30 + 4) / 3 = 12.0 h; mean close (50 + 10) / 2
    # = 30.0 h; response within SLA 2/4 = 0.5 (#1, #3); solution within SLA 1/4 = 0.25 (#1).
    assert (total.received, total.closed, total.mean_response_hours, total.mean_close_hours) == (4, 2, 12.0, 30.0)
    assert (total.response_sla_share, total.solution_sla_share) == (0.5, 0.25)
    by_category = {g.key: (g.received, g.closed, g.mean_response_hours) for g in groups}
    # alteration: responses 2 and 30 → 16.0; service: one response of 4 h.
    assert by_category == {"alteration": (2, 1, 16.0), "service_attitude": (2, 1, 4.0)}
    _, by_staff = complaint_stats(viewer=staff_a.manager, start=D("2026-03-01"), end=D("2026-03-31"), by="staff")
    assert {g.label: g.received for g in by_staff} == {"a_consultant": 2, "a_specialist": 1, "—": 1}
    # HQ sees both stores.
    hq_total, _ = complaint_stats(viewer=hq, start=D("2026-03-01"), end=D("2026-03-31"))
    assert hq_total.received == 5


def test_an_empty_period_gives_no_rates(staff_a):
    total, groups = complaint_stats(viewer=staff_a.manager, start=D("2026-03-01"), end=D("2026-03-31"))
    assert (total.received, total.response_sla_share, total.mean_response_hours, groups) == (0, None, None, [])


def test_a_consultant_registers_a_complaint_for_a_member_in_one_post(client, staff_a, member_a):
    client.force_login(staff_a.consultant)
    response = client.post(
        reverse("complaints:register"),
        {
            "member_ref": member_a.card_no,
            "channel": "in_store",
            "category": "product_quality",
            "severity": "low",
            "description": "新买的外套开线",
        },
    )
    complaint = Complaint.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("complaints:detail", args=[complaint.pk])
    assert (complaint.member, complaint.received_by, complaint.store) == (
        member_a,
        staff_a.consultant,
        member_a.home_store,
    )


def test_registering_another_stores_member_is_refused(client, staff_a, member_b):
    client.force_login(staff_a.consultant)
    response = client.post(
        reverse("complaints:register"),
        {
            "member_ref": member_b.card_no,
            "channel": "in_store",
            "category": "other",
            "severity": "low",
            "description": "x",
        },
    )
    assert response.status_code == 200 and "本店没有" in response.content.decode()
    assert not Complaint.objects.exists()


def test_a_transition_from_the_page_and_its_errors(client, staff_a, member_a):
    c = make(member_a.home_store, received="2026-03-02 10:00", member=member_a)
    client.force_login(staff_a.manager)
    url = reverse("complaints:transition", args=[c.pk])
    bad = client.post(url, {"to": "rejected", "rejection_reason": "超期"})
    assert bad.status_code == 200 and "这一步需要填写此项" in bad.content.decode()
    ok = client.post(url, {"to": "rejected", "rejection_reason": "超期", "customer_told": "已告知"})
    assert ok.status_code == 302
    c.refresh_from_db()
    assert c.status == Status.REJECTED


def test_a_consultant_sees_only_complaints_they_registered_or_work_on(client, store_a, staff_a, member_a):
    other = StaffFactory(username="a_other", role=Role.CONSULTANT, store=store_a)
    mine = make(store_a, received="2026-03-02 10:00", staff=staff_a.consultant)
    theirs = make(store_a, received="2026-03-02 11:00", staff=other)
    client.force_login(staff_a.consultant)
    assert client.get(reverse("complaints:detail", args=[mine.pk])).status_code == 200
    assert client.get(reverse("complaints:detail", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("complaints:transition", args=[mine.pk]), {"to": "accepted"}).status_code == 403


@time_machine.travel("2026-03-02 20:00 +0800", tick=False)
def test_the_board_shows_sla_countdowns_most_urgent_first(client, store_a, staff_a, django_assert_max_num_queries):
    for i in range(30):
        make(store_a, received=f"2026-03-0{1 + i % 2} {10 + i % 8}:00", staff=staff_a.consultant)
    late = make(store_a, received="2026-03-01 08:00", walk_in_name="最急")
    client.force_login(staff_a.specialist)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("complaints:board"))
    body = response.content.decode()
    assert body.index(f"#{late.pk} ") < body.index(f"#{late.pk - 1} ")
    assert "超时" in body and "剩" in body
