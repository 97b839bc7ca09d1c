"""Transfers between stores (DOMAIN §13): asked by the receiving store, agreed by the sending store,
or done at once by HQ; the open tasks are cancelled in the old store and made again in the new one.

`member_a` is store A's (consultant a_consultant); store B (北京店) asks for them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from members.models import MemberOwnerChange, OwnerChangeReason, TransferRequest, TransferStatus
from members.services import purchase_record
from members.signals import member_transferred
from members.transfers import transfer_cancel, transfer_decide, transfer_request, transfer_token
from tests.factories import MemberFactory
from visits.generation import preparations_for_members
from visits.models import FollowUpTask, GiftPlan, Invitation, InvitationStatus, TaskKind, TaskReason, TaskStatus
from visits.services import invitation_create, task_create


def ask(member, staff_b, **kwargs):
    return transfer_request(
        member=member,
        to_store=staff_b.manager.store,
        to_consultant=kwargs.pop("to_consultant", staff_b.consultant),
        reason=kwargs.pop("reason", "会员搬家到北京"),
        by=kwargs.pop("by", staff_b.specialist),
    )


# --- The service -----------------------------------------------------------------------------------


def test_it_moves_the_member_when_the_sending_store_agrees(member_a, staff_a, staff_b, store_a, store_b):
    sent = []
    member_transferred.connect(lambda sender, **kw: sent.append(kw), weak=False, dispatch_uid="test.transfer")
    try:
        request = ask(member_a, staff_b)
        assert request.status == TransferStatus.PENDING
        member_a.refresh_from_db()
        assert member_a.home_store == store_a  # nothing moves before the agreement

        transfer_decide(request=request, agree=True, by=staff_a.manager, note="会员本人确认")
    finally:
        member_transferred.disconnect(dispatch_uid="test.transfer")

    today = timezone.localdate()
    member_a.refresh_from_db()
    request.refresh_from_db()
    change = MemberOwnerChange.objects.get(member=member_a)
    assert (member_a.home_store, member_a.consultant) == (store_b, staff_b.consultant)
    assert (request.status, request.effective_on, request.decided_by) == (TransferStatus.DONE, today, staff_a.manager)
    assert (change.reason, change.date, change.previous_store, change.store) == (
        OwnerChangeReason.TRANSFER,
        today,
        store_a,
        store_b,
    )
    assert (change.previous_consultant, change.consultant) == (staff_a.consultant, staff_b.consultant)
    assert [(s["from_store"], s["to_store"], s["on"]) for s in sent] == [(store_a, store_b, today)]
    logged = AuditEntry.objects.filter(action="member.transferred", object_id=str(member_a.pk))
    assert {e.store_id for e in logged} == {store_a.pk, store_b.pk}
    assert AuditEntry.objects.filter(action="member.transfer.requested").exists()
    assert AuditEntry.objects.filter(action="member.transfer.agreed").exists()


def test_it_keeps_the_members_history_purchases_and_tier(member_a, staff_a, staff_b):
    today = timezone.localdate()
    purchase_record(
        member=member_a, store=member_a.home_store, receipt_no="R1", date=today, amount=Decimal("12000"), by=None
    )
    member_a.refresh_from_db()
    assert member_a.tier == "B"

    transfer_decide(request=ask(member_a, staff_b), agree=True, by=staff_a.specialist)

    member_a.refresh_from_db()
    assert member_a.tier == "B" and member_a.purchases.count() == 1 and member_a.tier_changes.count() == 1


def test_it_allows_one_pending_request_per_member(member_a, staff_b):
    ask(member_a, staff_b)

    with pytest.raises(ValidationError, match="已有待处理的转店申请"):
        ask(member_a, staff_b, by=staff_b.manager)
    assert TransferRequest.objects.count() == 1


def test_only_the_receiving_stores_leads_ask(member_a, staff_a, staff_b, store_b):
    for person in (staff_b.consultant, staff_a.specialist, staff_a.manager):
        with pytest.raises(PermissionDenied):
            ask(member_a, staff_b, by=person)
    with pytest.raises(ValidationError, match="转店原因"):
        ask(member_a, staff_b, reason=" ")
    assert not TransferRequest.objects.exists()


def test_the_new_consultant_must_work_in_the_new_store(member_a, staff_a, staff_b):
    with pytest.raises(ValidationError, match="顾问必须属于"):
        ask(member_a, staff_b, to_consultant=staff_a.consultant)


def test_only_the_sending_stores_leads_decide_and_a_refusal_says_why(member_a, staff_a, staff_b):
    request = ask(member_a, staff_b)
    for person in (staff_b.manager, staff_a.consultant):
        with pytest.raises(PermissionDenied):
            transfer_decide(request=request, agree=True, by=person)
    with pytest.raises(ValidationError):
        transfer_decide(request=request, agree=False, by=staff_a.manager)

    transfer_decide(request=request, agree=False, by=staff_a.manager, note="会员未确认")

    request.refresh_from_db()
    member_a.refresh_from_db()
    assert (request.status, request.decision_note) == (TransferStatus.DECLINED, "会员未确认")
    assert member_a.home_store == staff_a.manager.store and not MemberOwnerChange.objects.exists()


def test_the_receiving_store_withdraws_its_request(member_a, staff_a, staff_b):
    request = ask(member_a, staff_b)
    with pytest.raises(PermissionDenied):
        transfer_cancel(request=request, by=staff_a.manager)

    transfer_cancel(request=request, by=staff_b.manager)

    request.refresh_from_db()
    assert request.status == TransferStatus.CANCELLED
    ask(member_a, staff_b)  # a new request may follow


def test_hq_moves_a_member_at_once(member_a, staff_b, hq, store_b):
    request = transfer_request(member=member_a, to_store=store_b, to_consultant=None, reason="总部调整", by=hq)

    member_a.refresh_from_db()
    assert request.status == TransferStatus.DONE
    assert (member_a.home_store, member_a.consultant) == (store_b, None)


# --- The open tasks ------------------------------------------------------------------------------


@pytest.fixture
def busy_member(member_a, staff_a):
    """member_a with, in store A: one contact card holding a receipt's follow-up, a care reason due
    two days ago and an invitation to the store; and a birthday in three days (its preparation and
    planned gift)."""
    today = timezone.localdate()
    birthday = today + timedelta(days=3)
    member_a.birthday = birthday.replace(year=1990)
    member_a.save(update_fields=["birthday"])
    purchase_record(
        member=member_a, store=member_a.home_store, receipt_no="R9", date=today, amount=Decimal("800"), by=None
    )
    task_create(member=member_a, kind=TaskKind.CARE, due_date=today - timedelta(days=2), origin="care:test")
    invitation_create(member=member_a, by=staff_a.consultant, for_date=today + timedelta(days=2), purpose="新品试穿")
    preparations_for_members(member_ids=[member_a.pk], today=today)
    return member_a


def test_it_cancels_the_old_stores_tasks_and_makes_them_in_the_new_one(busy_member, staff_a, staff_b, store_a, store_b):
    today = timezone.localdate()
    before = set(
        FollowUpTask.objects.filter(member=busy_member, status=TaskStatus.OPEN, store=store_a).values_list(
            "pk", flat=True
        )
    )
    assert len(before) == 2  # the contact card (care, post-purchase, invitation) and the birthday preparation
    transfer_decide(request=ask(busy_member, staff_b), agree=True, by=staff_a.manager)

    old = FollowUpTask.objects.filter(pk__in=before)
    assert set(old.values_list("status", flat=True)) == {TaskStatus.CANCELLED}
    assert all("北京店" in note for note in old.values_list("note", flat=True))
    assert not FollowUpTask.objects.filter(member=busy_member, status=TaskStatus.OPEN, store=store_a).exists()
    new = FollowUpTask.objects.filter(member=busy_member, status=TaskStatus.OPEN)
    assert set(new.values_list("store", "assignee")) == {(store_b.pk, staff_b.consultant.pk)}
    open_reasons = TaskReason.objects.filter(task__in=new)
    kinds = sorted(open_reasons.values_list("kind", flat=True))
    # The invitation was to store A's floor: it stays there, off the new store's list.
    assert kinds == sorted([TaskKind.CARE, TaskKind.POST_PURCHASE, TaskKind.BIRTHDAY_PREP])
    assert open_reasons.get(kind=TaskKind.CARE).due_date == today  # overdue in A, due today in B
    assert open_reasons.get(kind=TaskKind.BIRTHDAY_PREP).origin == f"birthday:{today + timedelta(days=3)}"
    # The planned gift moved with the member; no second plan.
    assert list(GiftPlan.objects.filter(member=busy_member).values_list("store", flat=True)) == [store_b.pk]
    invitation = Invitation.objects.get(member=busy_member)
    assert (invitation.store, invitation.status) == (store_a, InvitationStatus.INVITED)


def test_the_daily_run_adds_nothing_twice_after_a_transfer(busy_member, staff_a, staff_b, store_b):
    from visits.generation import tasks_generate

    transfer_decide(request=ask(busy_member, staff_b), agree=True, by=staff_a.manager)
    open_before = FollowUpTask.objects.filter(member=busy_member, status=TaskStatus.OPEN).count()

    tasks_generate(store=store_b, on=timezone.localdate())

    assert FollowUpTask.objects.filter(member=busy_member, status=TaskStatus.OPEN).count() == open_before


# --- The pages -----------------------------------------------------------------------------------


def test_the_receiving_store_finds_the_member_and_asks(client, member_a, staff_b, store_a):
    client.force_login(staff_b.specialist)

    found = client.post(reverse("members:transfer_find"), {"text": member_a.phone})
    page = client.get(found["Location"])
    sent = client.post(
        reverse("members:transfer_request"),
        {"token": page.context["token"], "to_consultant": staff_b.consultant.pk, "reason": "搬家"},
    )

    assert found.status_code == 302
    body = page.content.decode()
    assert member_a.name in body and "138****5678" in body and member_a.phone not in body
    assert sent.status_code == 302
    request = TransferRequest.objects.get(member=member_a)
    assert (request.from_store, request.to_store, request.requested_by) == (
        store_a,
        staff_b.specialist.store,
        staff_b.specialist,
    )
    assert AuditEntry.objects.filter(action="member.cross_store.lookup").exists()


def test_a_token_serves_only_the_person_it_was_given_to(client, member_a, staff_b):
    token = transfer_token(viewer=staff_b.manager, member=member_a)
    client.force_login(staff_b.specialist)

    assert client.get(reverse("members:transfer_request"), {"token": token}).status_code == 404


def test_the_sending_store_agrees_from_the_list(client, member_a, staff_a, staff_b, store_b):
    request = ask(member_a, staff_b)
    client.force_login(staff_a.specialist)

    listed = client.get(reverse("members:transfers"))
    agreed = client.post(reverse("members:transfer_decide", args=[request.pk]), {"decision": "agree"})

    assert "同意转出" in listed.content.decode()
    assert agreed.status_code == 302
    member_a.refresh_from_db()
    assert member_a.home_store == store_b
    # store A no longer sees the member's page
    assert client.get(reverse("members:detail", args=[member_a.pk])).status_code == 404


def test_the_member_page_offers_hq_the_transfer_and_shows_a_pending_request(client, member_a, staff_a, staff_b, hq):
    ask(member_a, staff_b)
    client.force_login(hq)
    as_hq = client.get(reverse("members:detail", args=[member_a.pk])).content.decode()
    client.force_login(staff_a.manager)
    as_lead = client.get(reverse("members:detail", args=[member_a.pk])).content.decode()

    assert reverse("members:transfer_direct", args=[member_a.pk]) in as_hq
    assert reverse("members:transfer_direct", args=[member_a.pk]) not in as_lead
    assert "待处理：申请转至 北京店" in as_lead


def test_hq_transfers_from_the_member_page(client, member_a, hq, staff_b, store_b):
    client.force_login(hq)

    response = client.post(
        reverse("members:transfer_direct", args=[member_a.pk]),
        {"to_store": store_b.pk, "to_consultant": staff_b.consultant.pk, "reason": "总部调整"},
    )

    assert response.status_code == 302
    member_a.refresh_from_db()
    assert (member_a.home_store, member_a.consultant) == (store_b, staff_b.consultant)


def test_hq_gets_a_clear_error_for_a_consultant_of_another_store(client, member_a, hq, staff_a, store_b):
    client.force_login(hq)

    response = client.post(
        reverse("members:transfer_direct", args=[member_a.pk]),
        {"to_store": store_b.pk, "to_consultant": staff_a.consultant.pk, "reason": "总部调整"},
    )

    assert response.status_code == 200 and "顾问必须属于" in response.content.decode()
    member_a.refresh_from_db()
    assert member_a.home_store == staff_a.consultant.store


def test_the_list_reads_a_fixed_number_of_queries(client, staff_a, staff_b, store_a, django_assert_max_num_queries):
    for i in range(30):
        member = MemberFactory(home_store=store_a, consultant=staff_a.consultant)
        request = ask(member, staff_b)
        if i % 3 == 0:
            transfer_decide(request=request, agree=False, by=staff_a.manager, note="未确认")
    client.force_login(staff_a.manager)

    with django_assert_max_num_queries(8):
        response = client.get(reverse("members:transfers"))

    rows = response.context["page"].object_list
    assert len(rows) == 30
    assert [r.status for r in rows[:20]] == [TransferStatus.PENDING] * 20  # pending first
