"""The complaint workflow (DOMAIN §8): every transition per role, the approval gate, the revisit
task, SLA escalation once per breach, and the paused downgrade."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Notification, Role
from complaints.models import Complaint, ComplaintEvent, Status
from complaints.services import TRANSITIONS, complaint_register, complaint_transition, sla_check
from members.services import purchase_record, tiers_review
from tests.factories import StaffFactory
from visits.models import FollowUpTask
from visits.services import task_complete

S = Status
D = date.fromisoformat

# What each step needs to be valid, so that the table below tests permission and not input.
GOOD_INPUT = {
    S.REJECTED: {"rejection_reason": "超出退换期", "customer_told": "已电话说明"},
    S.INVESTIGATING: {"note": "重新调查"},
    S.SOLUTION_PROPOSED: {"solution": "免费修改"},
    S.CUSTOMER_CONFIRMED: {"confirmation_note": "顾客满意"},
}

# Who may make each step: lead = VIP specialist, manager, HQ; "assigned" = the responsible consultant.
LEADS = {"specialist", "manager", "hq"}
APPROVERS = {"manager", "hq"}
WITH_ASSIGNED = LEADS | {"assigned"}
EXPECTED = {
    (S.REGISTERED, S.ACCEPTED): LEADS,
    (S.REGISTERED, S.REJECTED): LEADS,
    (S.ACCEPTED, S.INVESTIGATING): WITH_ASSIGNED,
    (S.INVESTIGATING, S.SOLUTION_PROPOSED): WITH_ASSIGNED,
    (S.SOLUTION_PROPOSED, S.INVESTIGATING): APPROVERS,
    (S.SOLUTION_PROPOSED, S.APPROVED): APPROVERS,
    (S.SOLUTION_PROPOSED, S.CARRIED_OUT): WITH_ASSIGNED,
    (S.APPROVED, S.CARRIED_OUT): WITH_ASSIGNED,
    (S.CARRIED_OUT, S.CUSTOMER_CONFIRMED): WITH_ASSIGNED,
    (S.CUSTOMER_CONFIRMED, S.REVISITED): WITH_ASSIGNED,
    (S.REVISITED, S.CLOSED): LEADS,
    (S.REJECTED, S.CLOSED): LEADS,
    (S.CLOSED, S.INVESTIGATING): LEADS,
}
ACTORS = ["assigned", "consultant", "specialist", "manager", "outsider", "hq"]


def test_the_table_is_the_one_the_service_enforces():
    assert set(EXPECTED) == set(TRANSITIONS)


@pytest.fixture
def people(staff_a, staff_b, hq, store_a):
    assigned = StaffFactory(username="a_assigned", role=Role.CONSULTANT, store=store_a)
    return {
        "assigned": assigned,
        "consultant": staff_a.consultant,
        "specialist": staff_a.specialist,
        "manager": staff_a.manager,
        "outsider": staff_b.manager,
        "hq": hq,
    }


def complaint_in(status, *, store, member, people, **extra):
    c = Complaint.objects.create(
        store=store,
        member=member,
        channel="in_store",
        category="alteration",
        description="裤长改短了",
        received_by=people["consultant"],
        received_at="2026-03-01T10:00+08:00",
        status=status,
        responsible_staff=people["assigned"],
        solution="免费修改",
        **extra,
    )
    return c


@pytest.mark.parametrize("transition", sorted(EXPECTED), ids=lambda t: f"{t[0]}->{t[1]}")
@pytest.mark.parametrize("actor", ACTORS)
def test_each_role_may_make_exactly_its_steps(transition, actor, people, store_a, member_a):
    frm, to = transition
    c = complaint_in(frm, store=store_a, member=member_a, people=people)
    kwargs = dict(GOOD_INPUT.get(to, {}))
    if (frm, to) == (S.CLOSED, S.INVESTIGATING):
        kwargs = {"note": "顾客再次来电"}
    allowed = actor in EXPECTED[transition]
    if allowed:
        complaint_transition(complaint=c, to=to, by=people[actor], **kwargs)
        c.refresh_from_db()
        assert c.status == to
        event = c.events.get()
        assert (event.from_status, event.to_status, event.by) == (frm, to, people[actor])
    else:
        with pytest.raises(PermissionDenied):
            complaint_transition(complaint=c, to=to, by=people[actor], **kwargs)
        c.refresh_from_db()
        assert c.status == frm and not c.events.exists()


@pytest.mark.parametrize("frm", list(S))
@pytest.mark.parametrize("to", list(S))
def test_no_other_transition_exists(frm, to, people, store_a, member_a):
    if (frm, to) in EXPECTED:
        return
    c = complaint_in(frm, store=store_a, member=member_a, people=people)
    with pytest.raises(ValidationError):
        complaint_transition(complaint=c, to=to, by=people["hq"], **GOOD_INPUT.get(to, {}))
    c.refresh_from_db()
    assert c.status == frm


def test_a_rejection_needs_a_reason_and_what_the_customer_was_told(people, store_a, member_a):
    c = complaint_in(S.REGISTERED, store=store_a, member=member_a, people=people)
    with pytest.raises(ValidationError) as e:
        complaint_transition(complaint=c, to=S.REJECTED, by=people["manager"], rejection_reason="超期")
    assert "customer_told" in e.value.message_dict
    c.refresh_from_db()
    assert c.status == S.REGISTERED


@pytest.mark.parametrize(
    ("compensation", "severity", "gated"),
    [("500.00", "low", False), ("500.01", "low", True), (None, "high", True), (None, "medium", False)],
)
def test_a_manager_approves_compensation_above_the_limit_or_a_serious_complaint(
    compensation, severity, gated, people, store_a, member_a
):
    # Store limit 500.00 (the default): 500.00 needs no approval, 500.01 does; so does "high".
    c = complaint_in(
        S.SOLUTION_PROPOSED,
        store=store_a,
        member=member_a,
        people=people,
        severity=severity,
        compensation_amount=Decimal(compensation) if compensation else None,
    )
    if gated:
        with pytest.raises(ValidationError, match="审批"):
            complaint_transition(complaint=c, to=S.CARRIED_OUT, by=people["specialist"])
        complaint_transition(complaint=c, to=S.APPROVED, by=people["manager"])
        c.refresh_from_db()
        assert c.approved_by == people["manager"]
    complaint_transition(complaint=c, to=S.CARRIED_OUT, by=people["specialist"])
    c.refresh_from_db()
    assert c.status == S.CARRIED_OUT


def test_carrying_out_creates_a_revisit_task_three_days_later_whose_visit_records_satisfaction(
    people, store_a, member_a
):
    c = complaint_in(S.APPROVED, store=store_a, member=member_a, people=people)
    with time_machine.travel("2026-03-02 15:00 +0800", tick=False):
        complaint_transition(complaint=c, to=S.CARRIED_OUT, by=people["assigned"])
    task = FollowUpTask.objects.get(kind="complaint_revisit")
    assert (task.due_date, task.assignee, task.member) == (D("2026-03-05"), people["assigned"], member_a)
    with time_machine.travel("2026-03-05 11:00 +0800", tick=False):
        task_complete(task=task, by=people["assigned"], channel="phone", outcome="裤子合身了", satisfaction=4)
    c.refresh_from_db()
    assert c.status == S.REVISITED
    steps = list(c.events.values_list("from_status", "to_status"))
    assert steps[-2:] == [(S.CARRIED_OUT, S.CUSTOMER_CONFIRMED), (S.CUSTOMER_CONFIRMED, S.REVISITED)]
    assert c.events.last().data["satisfaction"] == 4
    complaint_transition(complaint=c, to=S.CLOSED, by=people["manager"])


def test_reopening_needs_a_reason_and_counts(people, store_a, member_a):
    c = complaint_in(S.CLOSED, store=store_a, member=member_a, people=people, closed_at="2026-03-05T10:00+08:00")
    with pytest.raises(ValidationError):
        complaint_transition(complaint=c, to=S.INVESTIGATING, by=people["manager"])
    complaint_transition(complaint=c, to=S.INVESTIGATING, by=people["manager"], note="顾客说又开线了")
    c.refresh_from_db()
    assert (c.status, c.reopened, c.closed_at) == (S.INVESTIGATING, 1, None)


def test_registering_validates_and_logs(people, store_a, member_a):
    with pytest.raises(ValidationError) as e:
        complaint_register(store=store_a, by=people["consultant"], channel="in_store", category="nope", description="")
    assert {"walk_in_name", "category", "description"} <= set(e.value.message_dict)
    assert not Complaint.objects.exists()
    c = complaint_register(
        store=store_a,
        by=people["consultant"],
        channel="phone",
        category="service_attitude",
        description="导购态度差",
        walk_in_name="路人甲",
        walk_in_phone="138 0000 1111",
    )
    assert (c.status, c.walk_in_phone) == (S.REGISTERED, "13800001111")
    assert list(c.events.values_list("from_status", "to_status")) == [("", S.REGISTERED)]


def test_an_open_complaint_marks_the_member_at_risk_until_closed(people, store_a, member_a):
    c = complaint_register(
        store=store_a, by=people["consultant"], channel="phone", category="other", description="x", member=member_a
    )
    member_a.refresh_from_db()
    assert member_a.open_complaints == 1
    complaint_transition(complaint=c, to=S.REJECTED, by=people["manager"], rejection_reason="r", customer_told="t")
    member_a.refresh_from_db()
    assert member_a.open_complaints == 0


def test_sla_breaches_are_escalated_once(people, store_a, member_a, django_capture_on_commit_callbacks):
    # Received 03-01 10:00. First response due 03-02 10:00 (24 h), solution by 03-03 10:00 (48 h).
    with time_machine.travel("2026-03-01 10:00 +0800", tick=False):
        c = complaint_register(
            store=store_a, by=people["consultant"], channel="phone", category="other", description="x", member=member_a
        )
    with time_machine.travel("2026-03-02 09:59 +0800", tick=False):
        assert sla_check(store=store_a)["response_breaches"] == 0
    with time_machine.travel("2026-03-02 10:01 +0800", tick=False), django_capture_on_commit_callbacks(execute=True):
        first = sla_check(store=store_a)  # the email goes once the escalation is committed
    with time_machine.travel("2026-03-02 11:01 +0800", tick=False):
        again = sla_check(store=store_a)
    assert (first["response_breaches"], again["response_breaches"]) == (1, 0)
    assert Notification.objects.filter(recipient=people["manager"]).count() == 1
    assert [m.to for m in mail.outbox] == [[people["manager"].email]]
    # Accepted late, still unsolved at 48 h: the solution breach is escalated, once.
    with time_machine.travel("2026-03-02 12:00 +0800", tick=False):
        complaint_transition(complaint=c, to=S.ACCEPTED, by=people["manager"])
    with time_machine.travel("2026-03-03 10:30 +0800", tick=False):
        assert sla_check(store=store_a)["solution_breaches"] == 1
        assert sla_check(store=store_a)["solution_breaches"] == 0
    assert Notification.objects.filter(recipient=people["manager"]).count() == 2
    escalations = ComplaintEvent.objects.filter(complaint=c, data__has_key="escalation")
    assert sorted(e.data["escalation"] for e in escalations) == ["response", "solution"]


def test_the_month_end_review_does_not_downgrade_a_member_with_an_open_complaint(people, store_a, member_a):
    member_a.joined_on = D("2024-01-01")
    member_a.save()
    with time_machine.travel("2024-01-10 12:00 +0800", tick=False):
        purchase_record(
            member=member_a, store=store_a, receipt_no="R1", date=D("2024-01-10"), amount=Decimal("12000"), by=None
        )
    with time_machine.travel("2025-01-20 12:00 +0800", tick=False):
        c = complaint_register(
            store=store_a, by=people["consultant"], channel="phone", category="other", description="x", member=member_a
        )
    with time_machine.travel("2025-01-31 23:30 +0800", tick=False):
        result = tiers_review(store=store_a, on=D("2025-01-31"))
    member_a.refresh_from_db()
    assert (result.downgrades, result.held, member_a.tier) == (0, 1, "B")
    # Closed in February: the February review downgrades, and a replay keeps January paused.
    with time_machine.travel("2025-02-10 12:00 +0800", tick=False):
        complaint_transition(complaint=c, to=S.REJECTED, by=people["manager"], rejection_reason="r", customer_told="t")
        from members.services import tiers_replay

        tiers_replay()
    member_a.refresh_from_db()
    assert member_a.tier == "B"
    with time_machine.travel("2025-02-28 23:30 +0800", tick=False):
        tiers_review(store=store_a, on=D("2025-02-28"))
    member_a.refresh_from_db()
    assert member_a.tier == "C"
    assert list(member_a.tier_changes.values_list("date", "to_tier", "reason")) == [
        (D("2024-01-10"), "B", "purchase"),
        (D("2025-02-28"), "C", "review"),
    ]


def test_the_hourly_duty_records_each_hour_once(people, store_a, member_a):
    from complaints.tasks import sla_duty_for
    from duties.models import DutyRun

    with time_machine.travel("2026-03-01 10:00 +0800", tick=False):
        complaint_register(
            store=store_a, by=people["consultant"], channel="phone", category="other", description="x", member=member_a
        )
    with time_machine.travel("2026-03-02 10:05 +0800", tick=False):
        assert sla_duty_for(store_a)["response_breaches"] == 1
        assert sla_duty_for(store_a)["response_breaches"] == 1  # the same hour: the recorded run
    with time_machine.travel("2026-03-02 11:05 +0800", tick=False):
        assert sla_duty_for(store_a)["response_breaches"] == 0
    assert list(DutyRun.objects.order_by("slot").values_list("duty", "date", "slot", "status")) == [
        ("complaint_sla", D("2026-03-02"), "10", "done"),
        ("complaint_sla", D("2026-03-02"), "11", "done"),
    ]
