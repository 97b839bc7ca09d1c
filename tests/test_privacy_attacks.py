"""Issue 10's findings 1, 4, 5 and 7, each written as the attack that found it, now failing.

1. Masked phones were recoverable by prefix searches (list page, API, admin).
4. Audit gaps: deleted accounts blanked the actor, commands recorded no one, the complaint timeline
   credited the manager, GET requests wrote entries (export, edit form, call: see test_export,
   test_member_form and visits/test_today for those three).
5. Erasure left the person in visit notes and free text, left tasks open, accepted new purchases.
7. The admin ignored the agreement gate and did not audit its phone search; agreements could be
   deleted or back-dated.
"""

from __future__ import annotations

import getpass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, ConfidentialityAgreement, Notification, Role, Staff
from accounts.services import agreement_record, audit_log
from complaints.models import Complaint, ComplaintEvent, Status
from complaints.services import complaint_register, complaint_transition, sla_check
from duties.models import OutboxEmail
from members.models import Purchase, TierChange
from members.services import member_erase, member_set_tier, purchase_record
from tests.factories import MemberFactory, PurchaseFactory, StaffFactory
from visits.models import FollowUpTask, GiftPlan, GiftStatus, Invitation, InvitationStatus, Occasion, TaskStatus, Visit
from visits.services import invitation_create, task_complete, task_create, visit_record

TARGET = "18910300920"  # shown to the attacker as 189****0920


@pytest.fixture
def unsigned(store_a):
    """A VIP specialist of store A with no confidentiality agreement: sees every member masked."""
    return StaffFactory(username="a_unsigned_vip", role=Role.VIP_SPECIALIST, store=store_a, signed=False)


@pytest.fixture
def target(store_a, staff_a):
    """The member whose number the attacker wants, among neighbours sharing long prefixes with it."""
    for phone in ("18910300921", "18910399999", "18910000000", "18900000920", "18810300920"):
        MemberFactory(home_store=store_a, phone=phone)
    return MemberFactory(home_store=store_a, consultant=staff_a.consultant, name="林小雨", phone=TARGET)


def found_on_list(client, query: str) -> list[int]:
    page = client.get(reverse("members:list"), {"q": query, "scope": "store"})
    assert page.status_code == 200
    return sorted(m.pk for m in page.context["page"].object_list)


def found_by_api(client, query: str) -> list[int]:
    response = client.get(reverse("api:members"), {"q": query})
    assert response.status_code == 200
    return sorted(row["id"] for row in response.json()["results"])


# --- Finding 1: prefix searches -----------------------------------------------------------------


@pytest.mark.parametrize("search", [found_on_list, found_by_api], ids=["member list", "API"])
def test_sixteen_prefix_searches_no_longer_narrow_a_masked_phone_down(client, unsigned, target, search):
    # The attack: 189****0920 is on the screen; search 5-digit prefixes, keep the one that still
    # finds the member, add a digit, repeat: the four hidden digits fell in 16 requests. Now a run
    # of 5–10 digits is never a phone prefix: every guess at every length finds what a garbage
    # search finds (nothing), whatever the digit, so no answer tells the right digit apart.
    client.force_login(unsigned)
    garbage = search(client, "zzzz-no-such")
    answers = {}
    for length in range(5, 11):
        for digit in "0123456789":
            guess = TARGET[: length - 1] + digit
            answers[guess] = search(client, guess)

    assert garbage == []
    assert all(found == garbage for found in answers.values()), {k: v for k, v in answers.items() if v}
    assert not AuditEntry.objects.filter(action="member.phone_search").exists()  # no exact number was asked


def test_the_last_four_digits_and_the_exact_number_still_find_the_member(client, unsigned, target):
    client.force_login(unsigned)

    by_last_four = found_on_list(client, "0920")
    by_number = found_by_api(client, "189 1030 0920")
    by_name = found_on_list(client, "小雨")

    assert target.pk in by_last_four
    assert by_number == [target.pk] and by_name == [target.pk]


def test_an_exact_number_search_is_audited_with_who_and_whom(client, unsigned, target):
    client.force_login(unsigned)

    found_on_list(client, "+86 189-1030-0920")
    found_by_api(client, "18912345678")  # a number nobody has: a guess, audited too

    hit, miss = AuditEntry.objects.filter(action="member.phone_search").order_by("pk")
    assert (hit.actor, hit.data["members"], hit.data["via"]) == (unsigned, [target.pk], "list")
    assert (miss.actor, miss.data["members"], miss.data["via"]) == (unsigned, [], "api")
    assert TARGET not in str(hit.data)  # the log shows the number masked, like the pages


def test_a_search_link_on_another_site_cannot_write_an_exact_search_in_someones_name(client, unsigned, target):
    # A search is a GET (bookmarkable, typed live), so a link on another site could make the
    # victim's browser run an audited exact-number search. Browsers say where a request came from.
    client.force_login(unsigned)
    elsewhere = {"Sec-Fetch-Site": "cross-site"}

    page = client.get(reverse("members:list"), {"q": TARGET, "scope": "store"}, headers=elsewhere)
    api = client.get(reverse("api:members"), {"q": TARGET}, headers=elsewhere)
    by_name = client.get(reverse("members:list"), {"q": "小雨", "scope": "store"}, headers=elsewhere)
    own_page = client.get(reverse("members:list"), {"q": TARGET}, headers={"Sec-Fetch-Site": "same-origin"})

    assert list(page.context["page"].object_list) == [] and api.json()["results"] == []
    assert [m.pk for m in by_name.context["page"].object_list] == [target.pk]  # nothing audited: allowed
    assert [m.pk for m in own_page.context["page"].object_list] == [target.pk]
    assert AuditEntry.objects.filter(action="member.phone_search").count() == 1  # the same-origin one


def test_the_complaint_register_finds_a_member_by_full_number_only_and_audits_it(client, unsigned, target):
    client.force_login(unsigned)
    url = reverse("complaints:register")
    form = {"channel": "in_store", "category": "alteration", "severity": "low", "description": "改短"}

    by_prefix = client.post(url, {**form, "member_ref": TARGET[:8]})
    by_number = client.post(url, {**form, "member_ref": "189 1030 0920"})

    assert by_prefix.status_code == 200 and "member_ref" in by_prefix.context["form"].errors
    assert by_number.status_code == 302
    entry = AuditEntry.objects.get(action="member.phone_search")
    assert (entry.actor, entry.data["members"], entry.data["via"]) == (unsigned, [target.pk], "complaint")


def test_the_enrolment_form_naming_a_numbers_owner_is_an_audited_lookup(client, unsigned, target):
    # Typing a full number into the new-member form tells whose it is: an exact lookup, audited.
    client.force_login(unsigned)
    form = {"name": "试探", "card_no": "V9999999", "gender": "F", "joined_on": "2025-01-01"}

    taken = client.post(reverse("members:create"), {**form, "phone": TARGET})
    by_prefix = client.post(reverse("members:create"), {**form, "phone": TARGET[:8]})

    assert taken.status_code == 200 and target.card_no in taken.content.decode()
    assert by_prefix.status_code == 200 and target.card_no not in by_prefix.content.decode()
    entry = AuditEntry.objects.get(action="member.phone_search")
    assert (entry.actor, entry.data["members"], entry.data["via"]) == (unsigned, [target.pk], "member_form")


# --- Finding 7: the admin -----------------------------------------------------------------------


@pytest.fixture
def root_unsigned(db):
    """A superuser (HQ) with no agreement on file."""
    return StaffFactory(
        username="root_unsigned", role=Role.HQ, store=None, is_staff=True, is_superuser=True, signed=False
    )


def test_a_superuser_without_an_agreement_sees_only_masked_contact_details_in_the_admin(client, root_unsigned, target):
    target.address = "上海市静安区南京西路1266号"
    target.email = "linxiaoyu@example.com"
    target.save()
    client.force_login(root_unsigned)

    listing = client.get(reverse("admin:members_member_changelist")).content.decode()
    change = client.get(reverse("admin:members_member_change", args=[target.pk])).content.decode()

    for html in (listing, change):
        assert TARGET not in html and "189****0920" in html
    assert "南京西路1266号" not in change and "linxiaoyu@example.com" not in change
    assert not AuditEntry.objects.exists()  # opening a member wrote an entry on a GET; nothing to audit now


def test_the_admin_search_learns_nothing_from_prefixes_and_audits_the_exact_number(client, root_unsigned, target):
    client.force_login(root_unsigned)
    url = reverse("admin:members_member_changelist")

    def found(query):
        return sorted(m.pk for m in client.get(url, {"q": query}).context["cl"].result_list)

    prefixes = {TARGET[:n]: found(TARGET[:n]) for n in range(5, 11)}
    exact = found(TARGET)

    assert all(result == [] for result in prefixes.values()), prefixes
    assert exact == [target.pk]
    entry = AuditEntry.objects.get(action="member.phone_search")
    assert (entry.actor, entry.data["members"], entry.data["via"]) == (root_unsigned, [target.pk], "admin")


def test_the_admin_never_sends_the_stored_phone_and_keeps_it_when_left_empty(admin_client, target):
    url = reverse("admin:members_member_change", args=[target.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields if name != "tags"}
    data.update({"important_dates-TOTAL_FORMS": "0", "important_dates-INITIAL_FORMS": "0", "name": "林小雨改"})

    response = admin_client.post(url, data)

    assert form["phone"].value() == ""
    assert response.status_code == 302
    target.refresh_from_db()
    assert (target.name, target.phone) == ("林小雨改", TARGET)


@pytest.fixture
def admin_client(client, db):
    root = StaffFactory(username="root", role=Role.HQ, store=None, is_staff=True, is_superuser=True)
    client.force_login(root)
    return client


def test_an_agreement_cannot_be_deleted_or_edited_in_the_admin(admin_client, staff_a):
    agreement = staff_a.consultant.agreements.get()
    change_url = reverse("admin:accounts_confidentialityagreement_change", args=[agreement.pk])

    deleted = admin_client.post(
        reverse("admin:accounts_confidentialityagreement_delete", args=[agreement.pk]), {"post": "yes"}
    )
    edited = admin_client.post(
        change_url, {"staff": staff_a.consultant.pk, "version": "1.0", "signed_on": "2020-01-01"}
    )

    assert deleted.status_code == 403
    assert edited.status_code == 403
    agreement.refresh_from_db()
    assert agreement.signed_on == date(2024, 1, 1)


def test_an_agreement_cannot_be_back_dated_in_the_admin(admin_client, staff_a):
    response = admin_client.post(
        reverse("admin:accounts_confidentialityagreement_add"),
        {"staff": staff_a.consultant.pk, "version": "2.0", "signed_on": "2023-06-01"},  # before v1.0's 2024-01-01
    )

    assert response.status_code == 200
    assert "signed_on" in response.context["adminform"].form.errors
    assert staff_a.consultant.agreements.count() == 1


def test_the_admin_adds_a_new_version_through_the_service(admin_client, staff_a):
    today = timezone.localdate()

    response = admin_client.post(
        reverse("admin:accounts_confidentialityagreement_add"),
        {"staff": staff_a.consultant.pk, "version": "2.0", "signed_on": today.isoformat()},
    )

    assert response.status_code == 302
    new = staff_a.consultant.agreements.get(version="2.0")
    assert (new.signed_on, new.recorded_by.username) == (today, "root")
    assert AuditEntry.objects.get(action="agreement.recorded").object_id == str(new.pk)


def test_agreements_are_append_only_in_the_model_and_the_service_too(staff_a):
    agreement = staff_a.consultant.agreements.get()
    today = timezone.localdate()

    with pytest.raises(ValidationError):
        agreement_record(staff=staff_a.consultant, signed_on=date(2023, 12, 31), version="2.0", by=None)
    with pytest.raises(ValidationError):
        agreement_record(staff=staff_a.consultant, signed_on=today + timedelta(days=1), version="2.0", by=None)
    agreement.signed_on = date(2020, 1, 1)
    with pytest.raises(ValidationError):
        agreement.save()
    with pytest.raises(ValidationError):
        ConfidentialityAgreement.objects.get(pk=agreement.pk).delete()
    assert ConfidentialityAgreement.objects.get(pk=agreement.pk).signed_on == date(2024, 1, 1)
    newer = agreement_record(staff=staff_a.consultant, signed_on=today, version="2.0", by=None)
    assert staff_a.consultant.agreements.count() == 2 and newer.signed_on == today


# --- Finding 4: audit gaps ----------------------------------------------------------------------


def test_deleting_a_staff_account_keeps_their_name_on_their_audit_entries(client, store_a, target):
    leaver = StaffFactory(username="a_leaver", role=Role.VIP_SPECIALIST, store=store_a, display_name="周离职")
    client.force_login(leaver)
    client.post(reverse("members:reveal_phone", args=[target.pk]))
    client.logout()

    Staff.objects.get(username="a_leaver").delete()

    entry = AuditEntry.objects.get(action="member.phone.viewed")
    assert entry.actor is None
    assert (entry.actor_name, entry.actor_username) == ("周离职", "a_leaver")
    assert "周离职" in str(entry)


def test_the_data_migration_names_the_actor_of_entries_written_before_it(staff_a):
    from importlib import import_module

    from django.apps import apps

    entry = audit_log(actor=staff_a.manager, action="member.exported", count=0)
    AuditEntry.objects.filter(pk=entry.pk).update(actor_name="", actor_username="")  # as before the migration

    import_module("accounts.migrations.0003_audit_actor_name").fill_actor_names(apps, None)

    entry.refresh_from_db()
    assert (entry.actor_name, entry.actor_username) == (str(staff_a.manager), "a_manager")


def test_a_command_without_a_user_records_the_command_and_the_os_user(db):
    call_command("program_rules", "--set", "churn_days=200", stdout=open("/dev/null", "w"))  # noqa: SIM115

    entry = AuditEntry.objects.get(action="program_rules.changed")
    assert entry.actor is None
    assert entry.data["via"] == "command:program_rules"
    assert entry.data["os_user"] == getpass.getuser()


def test_web_work_records_no_command(client, staff_a, target):
    client.force_login(staff_a.manager)
    client.post(reverse("members:reveal_phone", args=[target.pk]))

    assert "os_user" not in AuditEntry.objects.get(action="member.phone.viewed").data


def test_the_complaint_timeline_credits_whoever_did_the_revisit_not_the_manager(client, staff_a, store_a, target):
    # The attack: a colleague completes the revisit task; the steps it makes used to be credited to
    # the store's manager (who had done nothing), because the colleague's role could not make them.
    responsible = StaffFactory(username="a_responsible", role=Role.CONSULTANT, store=store_a)
    colleague = StaffFactory(username="a_colleague", role=Role.CONSULTANT, store=store_a, display_name="吴同事")
    complaint = complaint_register(
        store=store_a,
        by=staff_a.consultant,
        channel="in_store",
        category="alteration",
        description="裤长",
        member=target,
    )
    for to, extra in (
        (Status.ACCEPTED, {}),
        (Status.INVESTIGATING, {"responsible_staff": responsible}),
        (Status.SOLUTION_PROPOSED, {"solution": "免费修改"}),
        (Status.CARRIED_OUT, {}),
    ):
        complaint_transition(complaint=complaint, to=to, by=staff_a.specialist, **extra)
    task = FollowUpTask.objects.get(member=target, kind="complaint_revisit", status=TaskStatus.OPEN)
    FollowUpTask.objects.filter(pk=task.pk).update(assignee=colleague)
    task.refresh_from_db()

    task_complete(task=task, by=colleague, channel="phone", outcome="顾客满意", satisfaction=5)

    events = ComplaintEvent.objects.filter(complaint=complaint).order_by("pk")
    last_two = [(e.to_status, e.by) for e in events][-2:]
    assert last_two == [(Status.CUSTOMER_CONFIRMED, colleague), (Status.REVISITED, colleague)]
    assert events.last().data["task"] == task.pk
    client.force_login(staff_a.manager)
    timeline = client.get(reverse("complaints:detail", args=[complaint.pk])).context["events"]
    assert [e.by for e in timeline][-2:] == [colleague, colleague]


# --- Finding 5: erasure -------------------------------------------------------------------------


@pytest.fixture
def erased(staff_a, store_a, target):
    """The target with everything staff write about a person, then erased by the manager."""
    consultant, manager = staff_a.consultant, staff_a.manager
    today = timezone.localdate()
    said = f"林小雨说电话 {TARGET} 或 189-1030-0920 都行，189****0920 是她本人，卡号 {target.card_no}"
    visit_record(member=target, by=consultant, channel="phone", outcome=said[:200], notes=said, purpose="林小雨回访")
    done, _ = task_create(member=target, kind="care", due_date=today, origin="t2", note="林小雨关怀")
    FollowUpTask.objects.filter(pk=done.pk).update(status=TaskStatus.DONE, done_on=today)
    task_create(member=target, kind="manual", due_date=today + timedelta(days=3), origin="t1", note=said[:200])
    invitation_create(member=target, by=consultant, for_date=today + timedelta(days=5), purpose="林小雨试穿")
    GiftPlan.objects.create(
        member=target, store=store_a, occasion=Occasion.BIRTHDAY, occasion_date=today + timedelta(days=9),
        tier="C", gift="丝巾", label="林小雨生日",
    )  # fmt: skip
    GiftPlan.objects.create(
        member=target, store=store_a, occasion=Occasion.BIRTHDAY, occasion_date=today - timedelta(days=300),
        tier="C", gift="围巾", status=GiftStatus.DELIVERED,
    )  # fmt: skip
    complaint = complaint_register(
        store=store_a, by=consultant, channel="phone", category="alteration", description=said, member=target
    )
    complaint_transition(complaint=complaint, to=Status.ACCEPTED, by=manager, note=f"已致电 {TARGET}")
    Complaint.objects.filter(pk=complaint.pk).update(status=Status.REGISTERED)  # unanswered: escalated below
    sla_check(store=store_a, now=timezone.now() + timedelta(days=30))  # a notice and an e-mail naming her
    assert "林小雨" in OutboxEmail.objects.get(key__startswith=f"complaint-sla:{complaint.pk}:response").body
    member_set_tier(member=target, tier="B", by=manager, lock=True, note="林小雨是老顾客")
    PurchaseFactory(member=target, receipt_no="R-BEFORE", items="刻字：林小雨")
    member_erase(member=target, by=manager)
    target.refresh_from_db()
    return target


TRACES = ("林小雨", TARGET, "189-1030-0920", "189****0920")


def assert_no_trace(*texts: str) -> None:
    for text in texts:
        for trace in TRACES:
            assert trace not in text, (trace, text)


def test_an_erased_members_visit_notes_hold_no_name_or_phone(client, erased, unsigned):
    visit = Visit.objects.get(member=erased)

    assert_no_trace(visit.notes, visit.outcome, visit.purpose)
    assert erased.card_no not in visit.notes
    assert "[已删除]" in visit.notes
    client.force_login(unsigned)  # the page that showed them to staff without an agreement
    page = client.get(reverse("visits:member_visits", args=[erased.pk])).content.decode()
    assert_no_trace(page)


def test_an_erased_members_free_text_is_scrubbed_everywhere(erased):
    texts = [
        *FollowUpTask.objects.filter(member=erased).values_list("note", flat=True),
        *Invitation.objects.filter(member=erased).values_list("purpose", flat=True),
        *GiftPlan.objects.filter(member=erased).values_list("label", flat=True),
        *ComplaintEvent.objects.filter(complaint__member=erased).values_list("note", flat=True),
        *erased.complaints.values_list("description", flat=True),
        *Notification.objects.values_list("text", flat=True),
        *OutboxEmail.objects.values_list("body", flat=True),
        *OutboxEmail.objects.values_list("subject", flat=True),
        *TierChange.objects.filter(member=erased).values_list("note", flat=True),
        *Purchase.objects.filter(member=erased).values_list("items", flat=True),
    ]

    assert_no_trace(*texts)


def test_an_erased_members_open_work_is_closed_and_history_kept(erased):
    tasks = dict(FollowUpTask.objects.filter(member=erased).values_list("origin", "status"))
    gifts = sorted(GiftPlan.objects.filter(member=erased).values_list("gift", "status"))

    assert tasks["t1"] == TaskStatus.CANCELLED and tasks["t2"] == TaskStatus.DONE
    assert not FollowUpTask.objects.filter(member=erased, status=TaskStatus.OPEN).exists()
    assert gifts == [("丝巾", GiftStatus.DECLINED), ("围巾", GiftStatus.DELIVERED)]
    assert set(Invitation.objects.filter(member=erased).values_list("status", flat=True)) == {InvitationStatus.DECLINED}
    entry = AuditEntry.objects.get(action="member.tasks.cancelled")
    assert entry.object_id == str(erased.pk) and len(entry.data["tasks"]) >= 1


def test_a_purchase_for_an_erased_member_is_refused_on_the_form(client, erased, staff_a):
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("members:purchase_add", args=[erased.pk]),
        {"kind": "purchase", "receipt_no": "R-AFTER", "date": timezone.localdate().isoformat(), "amount": "1280"},
    )

    assert response.status_code == 200
    assert "该会员已被删除，不能再记录消费" in response.content.decode()
    assert not Purchase.objects.filter(receipt_no="R-AFTER").exists()
    assert not FollowUpTask.objects.filter(member=erased, status=TaskStatus.OPEN).exists()


def test_a_pos_push_for_an_erased_member_gets_409_with_the_reason(client, erased, staff_a):
    client.force_login(staff_a.specialist)
    push = {"receipt_no": "R-POS", "card_no": erased.card_no, "date": timezone.localdate().isoformat(), "amount": "999"}

    response = client.post(reverse("api:purchases"), push, content_type="application/json")
    retry_of_an_earlier_receipt = client.post(
        reverse("api:purchases"),
        {"receipt_no": "R-BEFORE", "card_no": erased.card_no, "date": "2024-06-01", "amount": "1000.00"},
        content_type="application/json",
    )

    assert response.status_code == 409
    assert response.json()["detail"] == "该会员已被删除，不能再记录消费。"
    assert not Purchase.objects.filter(receipt_no="R-POS").exists()
    assert retry_of_an_earlier_receipt.status_code == 200  # a POS retry of what was on file still answers


def test_the_service_refuses_even_with_a_stale_member_instance(staff_a, target):
    stale = type(target).objects.get(pk=target.pk)
    member_erase(member=target, by=staff_a.manager)

    with pytest.raises(ValidationError) as refused:
        purchase_record(
            member=stale, store=stale.home_store, receipt_no="R-STALE", date=timezone.localdate(),
            amount=Decimal("100"), by=staff_a.consultant,
        )  # fmt: skip

    assert refused.value.code == "erased"


def test_sla_escalations_written_after_erasure_do_not_name_the_person(staff_a, store_a, erased):
    # The member's name is gone from the record, so later notifications cannot bring it back.
    Complaint.objects.filter(member=erased).update(solution_escalated_at=None, response_escalated_at=None)
    sla_check(store=store_a, now=timezone.now() + timedelta(days=60))

    assert_no_trace(*Notification.objects.values_list("text", flat=True))


def test_scrubbing_a_text_full_of_the_name_still_fits_its_column(staff_a, target):
    # "[已删除]" is longer than a three-character name: a 200-character outcome made of the name
    # would not fit varchar(200) any more (PostgreSQL refuses; the erasure would fail).
    visit_record(member=target, by=staff_a.consultant, channel="phone", outcome="林小雨" * 66)

    member_erase(member=target, by=staff_a.manager)

    outcome = Visit.objects.get(member=target).outcome
    assert len(outcome) <= 200 and "林小雨" not in outcome
