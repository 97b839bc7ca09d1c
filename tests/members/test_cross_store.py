"""Cross-store service (DOMAIN §13, issue 11 item 4): store B's staff serve store A's member.

The member (`member_a`, store A, consultant a_consultant, phone 13812345678) walks into store B.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from complaints.models import Complaint, Status
from complaints.services import complaint_transition
from members.cross_store import (
    LOOKUP_ACTION,
    BadToken,
    CrossStoreMember,
    cross_store_lookup,
    cross_store_token,
    member_find_elsewhere,
    member_from_token,
)
from members.models import Purchase, TierChange
from members.selectors import sales_by_consultant
from members.services import member_erase
from visits.models import FollowUpTask, TaskKind, TaskStatus, Visit
from visits.services import task_complete

from ..factories import MemberFactory, PurchaseFactory, StaffFactory


@pytest.fixture
def viewer(staff_b):
    return staff_b.consultant


# --- Finding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["CARD-A-001", "card-a-001", " CARD-A-001 ", "13812345678", "138 1234 5678", "+86 138-1234-5678", "8613812345678"],
)
def test_it_finds_another_stores_member_by_exact_card_or_full_phone(member_a, viewer, text):
    member_a.card_no = "CARD-A-001"
    member_a.save(update_fields=["card_no"])

    assert member_find_elsewhere(viewer=viewer, text=text) == member_a


@pytest.mark.parametrize(
    "text",
    ["5678", "1381234", "138123456", "138****5678", "张丽", "张", "CARD-A", "CARD-A-0011", "", "   "],
)
def test_it_finds_nothing_by_last_four_prefix_mask_or_name(member_a, viewer, text):
    member_a.card_no = "CARD-A-001"
    member_a.save(update_fields=["card_no"])

    assert member_find_elsewhere(viewer=viewer, text=text) is None


def test_it_audits_every_lookup_with_what_was_searched_and_whom_it_found(member_a, viewer):
    member_find_elsewhere(viewer=viewer, text="138 1234 5678")
    member_find_elsewhere(viewer=viewer, text="13900000000")  # nobody's: audited all the same

    found, empty = AuditEntry.objects.filter(action=LOOKUP_ACTION).order_by("pk")
    assert (found.actor, found.store, found.object_id) == (viewer, viewer.store, str(member_a.pk))
    assert found.data["searched"] == "138****5678"  # masked, as the pages show it
    assert found.data["member"] == member_a.pk
    assert found.data["home_store"] == "SHA"
    assert empty.data["member"] is None and empty.data["kind"] == "phone"


def test_it_leaves_own_store_members_to_the_normal_search(member_a, staff_a):
    found = cross_store_lookup(viewer=staff_a.consultant, text="13812345678")

    assert found.member is None and found.own == member_a
    assert member_find_elsewhere(viewer=staff_a.consultant, text="13812345678") is None


def test_it_never_finds_an_erased_member(member_a, viewer, staff_a):
    card = member_a.card_no
    member_erase(member=member_a, by=staff_a.manager)

    assert member_find_elsewhere(viewer=viewer, text=card) is None


def test_it_finds_nothing_for_hq_who_has_no_till(member_a, hq):
    assert member_find_elsewhere(viewer=hq, text="13812345678") is None


def test_the_view_model_holds_name_tier_and_masked_phone_only(member_a):
    shown = CrossStoreMember.of(member_a)

    assert (shown.name, shown.tier, shown.masked_phone, shown.home_store_name) == ("张丽", "C", "138****5678", "上海店")
    assert set(vars(shown)) == {"name", "tier", "tier_label", "masked_phone", "home_store_name", "card_no"}


# --- The pages --------------------------------------------------------------------------------


def _look_up(client, text):
    return client.post(reverse("members:elsewhere"), {"text": text})


def _token_of(response) -> str:
    return parse_qs(urlsplit(response["Location"]).query)["t"][0]


def test_it_opens_the_member_card_after_a_lookup(client, member_a, viewer):
    client.force_login(viewer)

    response = _look_up(client, "138-1234-5678")
    page = client.get(response["Location"])

    assert response.status_code == 302
    assert page.status_code == 200
    assert "张丽" in page.content.decode() and "138****5678" in page.content.decode()


def test_it_shows_no_contact_history_or_spend_even_with_a_signed_agreement(client, member_a, viewer, staff_a):
    assert viewer.has_signed_agreement
    member_a.address = "上海市静安区南京西路1号"
    member_a.notes = "喜欢真丝面料"
    member_a.email = "zhangli@example.com"
    member_a.save()
    PurchaseFactory(member=member_a, amount=Decimal("4321.00"), date=timezone.localdate(), receipt_no="RA-1")
    client.force_login(viewer)

    html = client.get(_look_up(client, "13812345678")["Location"]).content.decode()

    for secret in ("13812345678", "南京西路", "真丝", "zhangli@", "4321", "4,321", "RA-1"):
        assert secret not in html, secret
    # And the member's own page stays closed to another store.
    assert client.get(reverse("members:detail", args=[member_a.pk])).status_code == 404


def test_it_says_own_store_member_with_a_link(client, member_a, staff_a):
    client.force_login(staff_a.consultant)

    response = _look_up(client, "13812345678")

    assert response.status_code == 200
    assert "本店会员" in response.content.decode()
    assert reverse("members:detail", args=[member_a.pk]) in response.content.decode()


def test_it_says_nothing_was_found_for_a_last_four(client, member_a, viewer):
    client.force_login(viewer)

    response = _look_up(client, "5678")

    assert response.status_code == 200
    assert "没有找到" in response.content.decode()
    assert "张丽" not in response.content.decode()


def test_it_refuses_a_lookup_by_link(client, member_a, viewer):
    client.force_login(viewer)

    response = client.get(reverse("members:elsewhere"), {"text": "13812345678"})

    assert response.status_code == 200  # the empty form: a GET searches nothing
    assert not AuditEntry.objects.filter(action=LOOKUP_ACTION).exists()


# --- The token --------------------------------------------------------------------------------


def test_it_rejects_a_forged_token(client, member_a, viewer):
    client.force_login(viewer)

    response = client.get(reverse("members:elsewhere_member"), {"t": f"{member_a.pk}"})
    posted = client.post(reverse("members:elsewhere_receipt"), {"t": "x:y:z", "receipt-receipt_no": "B1"})

    assert response.status_code == 400 and posted.status_code == 400
    assert "已失效或无效" in response.content.decode()
    assert not Purchase.objects.exists()


def test_it_rejects_an_expired_token(client, member_a, viewer):
    # Issued 31 minutes ago (the session's own idle timeout would sign a traveller out first).
    with time_machine.travel(timezone.now() - timedelta(minutes=31)):
        token = cross_store_token(viewer=viewer, member=member_a)
    client.force_login(viewer)

    response = client.get(reverse("members:elsewhere_member"), {"t": token})

    assert response.status_code == 400


def test_it_rejects_a_token_issued_to_someone_else(client, member_a, viewer, staff_b):
    token = cross_store_token(viewer=staff_b.manager, member=member_a)
    client.force_login(viewer)

    response = client.get(reverse("members:elsewhere_member"), {"t": token})

    assert response.status_code == 400
    with pytest.raises(BadToken):
        member_from_token(viewer=viewer, token=token)


def test_a_token_does_not_serve_an_own_store_member(member_b, viewer):
    # However it was made: own-store members are served by the normal pages.
    with pytest.raises(BadToken):
        member_from_token(viewer=viewer, token=cross_store_token(viewer=viewer, member=member_b))


# --- Receipt ----------------------------------------------------------------------------------


def _receipt(client, token, **data):
    fields = {"receipt_no": "B-0001", "date": timezone.localdate().isoformat(), "amount": "12000", **data}
    return client.post(
        reverse("members:elsewhere_receipt"), {"t": token, **{f"receipt-{k}": v for k, v in fields.items()}}
    )


def test_a_receipt_counts_for_this_store_and_the_members_tier(client, member_a, viewer, staff_a, store_b):
    # member_a joined 2024-01-01 at C with no purchases. A ¥12,000 receipt today at store B:
    # 12-month spend 12,000 ≥ B minimum 10,000 → upgraded to B today (reason purchase).
    # Sales: store B's till, seller b_consultant 12,000; store A's till 0.
    client.force_login(viewer)
    token = _token_of(_look_up(client, member_a.card_no))

    response = _receipt(client, token, consultant=viewer.pk)

    assert response.status_code == 302
    purchase = Purchase.objects.get()
    assert (purchase.store, purchase.member, purchase.recorded_by) == (store_b, member_a, viewer)
    member_a.refresh_from_db()
    assert member_a.tier == "B" and member_a.home_store == staff_a.consultant.store  # still A's member
    assert TierChange.objects.filter(member=member_a, to_tier="B", reason="purchase").count() == 1
    today = timezone.localdate()
    assert sales_by_consultant(store_id=store_b.pk, start=today, end=today) == {viewer.pk: Decimal("12000.00")}
    assert sales_by_consultant(store_id=member_a.home_store_id, start=today, end=today) == {}
    page = client.get(response["Location"]).content.decode()
    assert "已登记消费 B-0001" in page and "会员等级已由" in page


def test_the_post_purchase_follow_up_goes_to_the_members_own_consultant(client, member_a, viewer, staff_a):
    client.force_login(viewer)
    token = _token_of(_look_up(client, member_a.card_no))

    _receipt(client, token, amount="800")

    task = FollowUpTask.objects.get(member=member_a)
    assert task.kind == TaskKind.POST_PURCHASE
    assert (task.store, task.assignee) == (staff_a.consultant.store, staff_a.consultant)


def test_without_a_consultant_the_follow_up_goes_to_the_home_stores_specialist(client, store_a, staff_a, viewer):
    member = MemberFactory(home_store=store_a, consultant=None, phone="13612345678")
    client.force_login(viewer)
    token = _token_of(_look_up(client, "13612345678"))

    _receipt(client, token, amount="800")

    task = FollowUpTask.objects.get(member=member)
    assert (task.store, task.assignee) == (store_a, staff_a.specialist)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"amount": "0"}, "amount", "金额不能为 0"),
        ({"date": (timezone.localdate() + timedelta(days=1)).isoformat()}, "date", "不能晚于今天"),
        ({"date": "2023-12-31"}, "date", "早于会员入会日期"),
    ],
)
def test_a_bad_receipt_gets_a_clear_error_and_keeps_what_was_typed(client, member_a, viewer, data, field, message):
    client.force_login(viewer)
    token = _token_of(_look_up(client, member_a.card_no))

    response = _receipt(client, token, items="真丝衬衫", **data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert "真丝衬衫" in response.content.decode() and 'value="B-0001"' in response.content.decode()
    assert not Purchase.objects.exists()


def test_the_same_receipt_twice_is_recorded_once(client, member_a, viewer):
    client.force_login(viewer)
    token = _token_of(_look_up(client, member_a.card_no))

    _receipt(client, token)
    again = _receipt(client, token)

    assert Purchase.objects.count() == 1
    assert "此前已登记" in client.get(again["Location"]).content.decode()


# --- Visit ------------------------------------------------------------------------------------


def test_a_visit_is_this_stores_and_its_follow_up_the_members_consultant(client, member_a, viewer, staff_a, store_b):
    client.force_login(viewer)
    token = _token_of(_look_up(client, member_a.card_no))
    later = timezone.localdate() + timedelta(days=5)

    response = client.post(
        reverse("members:elsewhere_visit"),
        {
            "t": token,
            "visit-channel": "in_store",
            "visit-result": "reached",
            "visit-outcome": "来店试穿新款",
            "visit-satisfaction": "5",
            "visit-next_follow_up": later.isoformat(),
        },
    )

    assert response.status_code == 302
    visit = Visit.objects.get()
    assert (visit.member, visit.store, visit.staff, visit.satisfaction) == (member_a, store_b, viewer, 5)
    task = FollowUpTask.objects.get(member=member_a, kind=TaskKind.MANUAL)
    assert (task.store, task.assignee, task.due_date) == (staff_a.consultant.store, staff_a.consultant, later)


def test_a_bad_visit_gets_a_clear_error(client, member_a, viewer):
    client.force_login(viewer)
    token = _token_of(_look_up(client, member_a.card_no))

    response = client.post(
        reverse("members:elsewhere_visit"),
        {"t": token, "visit-channel": "in_store", "visit-outcome": "来店", "visit-next_follow_up": "2000-01-01"},
    )

    assert response.status_code == 200
    assert "下次回访日期须晚于今天" in response.content.decode()
    assert not Visit.objects.exists()


# --- Complaint --------------------------------------------------------------------------------


def test_a_complaint_belongs_to_this_store_and_its_revisit_to_the_members_consultant(
    client, member_a, viewer, staff_a, staff_b, store_b
):
    client.force_login(viewer)
    token = _token_of(_look_up(client, member_a.card_no))

    response = client.post(
        reverse("members:elsewhere_complaint"),
        {
            "t": token,
            "complaint-channel": "in_store",
            "complaint-category": "alteration",
            "complaint-severity": "low",
            "complaint-description": "在A店改的裤长不对",
        },
    )

    complaint = Complaint.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("complaints:detail", args=[complaint.pk])
    detail = client.get(response["Location"])  # the receiver follows it up, without the member's page
    assert detail.status_code == 200
    assert reverse("members:detail", args=[member_a.pk]) not in detail.content.decode()
    assert (complaint.store, complaint.member, complaint.received_by) == (store_b, member_a, viewer)
    member_a.refresh_from_db()
    assert member_a.open_complaints == 1
    # Store B works it through to "carried out" ...
    lead = staff_b.manager
    complaint_transition(complaint=complaint, to=Status.ACCEPTED, by=lead)
    complaint_transition(complaint=complaint, to=Status.INVESTIGATING, by=lead, responsible_staff=viewer)
    complaint_transition(complaint=complaint, to=Status.SOLUTION_PROPOSED, by=viewer, solution="免费重改")
    complaint_transition(complaint=complaint, to=Status.CARRIED_OUT, by=viewer)
    # ... the revisit is store A's, with the member's own consultant, who records it there.
    task = FollowUpTask.objects.get(member=member_a, kind=TaskKind.COMPLAINT_REVISIT)
    assert (task.store, task.assignee) == (staff_a.consultant.store, staff_a.consultant)
    task_complete(task=task, by=staff_a.consultant, channel="phone", outcome="已满意", satisfaction=5)
    complaint.refresh_from_db()
    assert complaint.status == Status.REVISITED
    assert FollowUpTask.objects.get(pk=task.pk).status == TaskStatus.DONE


def test_a_bad_complaint_gets_a_clear_error_and_keeps_the_text(client, member_a, viewer):
    client.force_login(viewer)
    token = _token_of(_look_up(client, member_a.card_no))

    response = client.post(
        reverse("members:elsewhere_complaint"),
        {"t": token, "complaint-channel": "in_store", "complaint-description": "裤长不对"},
    )

    assert response.status_code == 200
    assert "裤长不对" in response.content.decode()
    assert not Complaint.objects.exists()


def test_the_member_card_reads_a_fixed_number_of_queries(
    client, member_a, viewer, store_b, django_assert_max_num_queries
):
    for n in range(20):  # many colleagues to choose the seller from
        StaffFactory(username=f"b_seller{n}", store=store_b)
    client.force_login(viewer)
    url = _look_up(client, member_a.card_no)["Location"]

    with django_assert_max_num_queries(8):
        assert client.get(url).status_code == 200
