"""Create and edit a member through the pages: bad input gets a clear error and saves nothing
(DOMAIN §12); contact details stay masked for whoever may not see them (DOMAIN §11)."""

import json
import re
from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, Role
from members.models import Member, Tier, TierChange, TierChangeReason

from ..factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


def member_data(**overrides):
    data = {
        "name": "李娜",
        "card_no": "V9000001",
        "phone": "139 0000 1111",
        "gender": "F",
        "birthday": "1988-03-15",
        "joined_on": "2024-05-01",
        "top_size": "M",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def errors_of(response, field):
    return response.context["form"].errors.get(field, [])


# --- Create ----------------------------------------------------------------------------------


def test_it_creates_a_member_served_by_the_consultant_who_opened_the_card(client, staff_a, store_a):
    client.force_login(staff_a.consultant)

    response = client.post(reverse("members:create"), member_data())

    member = Member.objects.get(card_no="V9000001")
    assert response.status_code == 302
    assert response["Location"] == reverse("members:detail", args=[member.pk])
    assert member.phone == "13900001111"  # normalised
    assert member.home_store == store_a
    assert member.consultant == staff_a.consultant
    assert member.opened_by == staff_a.consultant
    assert member.tier == Tier.C


def test_it_preselects_the_consultant_on_the_create_form(client, staff_a):
    client.force_login(staff_a.consultant)

    form = client.get(reverse("members:create")).context["form"]

    assert form["consultant"].value() == staff_a.consultant.pk
    assert "tier" not in form.fields  # only managers and HQ set an initial tier
    assert "store" not in form.fields  # a store's staff open cards in their store


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("12345", "不是有效的手机号"),
        ("1381234567", "不是有效的手机号"),  # ten digits
        ("+1 555", "不是有效的国际号码"),
        ("", "该字段是必填项"),
    ],
)
def test_it_refuses_a_bad_phone_and_saves_nothing(client, staff_a, phone, message):
    client.force_login(staff_a.consultant)
    before = Member.objects.count()

    response = client.post(reverse("members:create"), member_data(phone=phone))

    assert response.status_code == 200
    assert any(message in error for error in errors_of(response, "phone")), errors_of(response, "phone")
    assert message in response.content.decode()
    assert Member.objects.count() == before


def test_it_names_the_member_who_already_has_the_phone(client, staff_a, member_a):
    client.force_login(staff_a.specialist)
    before = Member.objects.count()

    response = client.post(reverse("members:create"), member_data(phone="138-1234-5678"))

    assert response.status_code == 200
    [error] = errors_of(response, "phone")
    assert "张丽" in error and member_a.card_no in error
    assert "张丽" in response.content.decode()
    assert Member.objects.count() == before


def test_it_does_not_name_another_stores_member_who_has_the_phone(client, staff_a, member_b):
    client.force_login(staff_a.specialist)

    response = client.post(reverse("members:create"), member_data(phone=member_b.phone))

    [error] = errors_of(response, "phone")
    assert member_b.card_no in error and "BJB" in error
    assert member_b.name not in error


def test_it_refuses_a_birthday_in_the_future_and_saves_nothing(client, staff_a):
    client.force_login(staff_a.consultant)
    tomorrow = timezone.localdate() + timedelta(days=1)

    response = client.post(reverse("members:create"), member_data(birthday=tomorrow.isoformat()))

    assert response.status_code == 200
    [error] = errors_of(response, "birthday")
    assert "生日不能晚于今天" in error
    assert not Member.objects.exists()


def test_it_refuses_dates_before_1900(client, staff_a):
    client.force_login(staff_a.consultant)

    response = client.post(reverse("members:create"), member_data(birthday="1899-12-31", joined_on="1899-01-01"))

    assert "生日不能早于 1900 年" in errors_of(response, "birthday")[0]
    assert "入会日期不能早于 1900 年" in errors_of(response, "joined_on")[0]
    assert not Member.objects.exists()


def test_it_shows_the_services_errors_on_the_form(client, staff_a, member_a):
    # The card number is checked by the service: its message lands on the field.
    client.force_login(staff_a.consultant)

    response = client.post(reverse("members:create"), member_data(card_no=member_a.card_no))

    assert response.status_code == 200
    assert errors_of(response, "card_no") == [f"卡号 {member_a.card_no} 已被使用。"]
    assert Member.objects.count() == 1


def test_it_lets_a_manager_enroll_at_a_higher_tier(client, staff_a):
    client.force_login(staff_a.manager)

    client.post(reverse("members:create"), member_data(tier=Tier.B))

    member = Member.objects.get(card_no="V9000001")
    assert member.tier == Tier.B
    change = TierChange.objects.get(member=member)
    assert (change.to_tier, change.reason, change.by) == (Tier.B, TierChangeReason.MANUAL, staff_a.manager)


def test_it_ignores_a_tier_sent_by_a_consultant(client, staff_a):
    client.force_login(staff_a.consultant)

    client.post(reverse("members:create"), member_data(tier=Tier.A))

    assert Member.objects.get(card_no="V9000001").tier == Tier.C


def test_it_makes_hq_choose_the_store(client, hq, store_a, staff_a):
    client.force_login(hq)

    missing = client.post(reverse("members:create"), member_data())
    chosen = client.post(reverse("members:create"), member_data(store=store_a.pk, consultant=staff_a.consultant.pk))

    assert missing.status_code == 200 and errors_of(missing, "store")
    assert chosen.status_code == 302
    member = Member.objects.get()
    assert (member.home_store, member.consultant) == (store_a, staff_a.consultant)


def test_it_offers_only_the_viewers_store_staff_as_consultants(client, staff_a, staff_b):
    client.force_login(staff_a.specialist)

    form = client.get(reverse("members:create")).context["form"]

    choices = set(form.fields["consultant"].queryset)
    assert staff_a.consultant in choices
    assert staff_b.consultant not in choices


def test_it_refuses_a_consultant_of_another_store(client, staff_a, staff_b):
    client.force_login(staff_a.specialist)

    response = client.post(reverse("members:create"), member_data(consultant=staff_b.consultant.pk))

    assert response.status_code == 200
    assert errors_of(response, "consultant")
    assert not Member.objects.exists()


# --- Edit ------------------------------------------------------------------------------------


def edit_data(member, **overrides):
    data = {
        "name": member.name,
        "card_no": member.card_no,
        "phone": member.phone,
        "gender": member.gender,
        "joined_on": member.joined_on.isoformat(),
    }
    data.update(overrides)
    return data


def test_it_lets_the_consultant_edit_their_own_member(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("members:edit", args=[member_a.pk]),
        edit_data(member_a, style_preferences="简约通勤", top_size="S", birthday="1990-08-08", birthday_lunar="on"),
    )

    assert response.status_code == 302
    member_a.refresh_from_db()
    assert (member_a.style_preferences, member_a.top_size, member_a.birthday) == ("简约通勤", "S", date(1990, 8, 8))
    assert member_a.birthday_lunar
    assert AuditEntry.objects.filter(action="member.edited", object_id=str(member_a.pk)).exists()


def test_it_refuses_a_duplicate_phone_on_edit_and_saves_nothing(client, staff_a, member_a, store_a):
    other = MemberFactory(home_store=store_a, name="赵敏", phone="13700001234")
    client.force_login(staff_a.manager)

    response = client.post(
        reverse("members:edit", args=[member_a.pk]), edit_data(member_a, phone=other.phone, name="新名字")
    )

    assert response.status_code == 200
    assert "赵敏" in errors_of(response, "phone")[0]
    member_a.refresh_from_db()
    assert (member_a.phone, member_a.name) == ("13812345678", "张丽")


def test_it_keeps_contact_fields_off_the_form_for_staff_without_an_agreement(client, store_a, member_a):
    specialist = StaffFactory(username="a_new_specialist", role=Role.VIP_SPECIALIST, store=store_a, signed=False)
    client.force_login(specialist)

    page = client.get(reverse("members:edit", args=[member_a.pk]))
    saved = client.post(
        reverse("members:edit", args=[member_a.pk]),
        {"name": "张丽", "card_no": member_a.card_no, "joined_on": "2024-01-01", "notes": "喜欢真丝"},
    )

    assert "phone" not in page.context["form"].fields
    assert "13812345678" not in page.content.decode()
    assert saved.status_code == 302
    member_a.refresh_from_db()
    assert (member_a.notes, member_a.phone) == ("喜欢真丝", "13812345678")


def test_opening_the_edit_form_shows_the_phone_masked_and_writes_no_audit_entry(client, staff_a, member_a):
    # The attack (finding 4): the edit form showed the full number and so wrote a phone-view entry
    # on GET, which a link on another site could trigger in the victim's name.
    client.force_login(staff_a.consultant)

    page = client.get(reverse("members:edit", args=[member_a.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "13812345678" not in html and "138****5678" in html
    assert not AuditEntry.objects.exists()


def test_an_empty_phone_on_the_edit_form_keeps_the_number_and_a_typed_one_replaces_it(client, staff_a, member_a):
    client.force_login(staff_a.consultant)
    url = reverse("members:edit", args=[member_a.pk])

    kept = client.post(url, edit_data(member_a, phone="", notes="喜欢真丝"))
    member_a.refresh_from_db()
    phone_after_empty = member_a.phone
    changed = client.post(url, edit_data(member_a, phone="139 1111 2222", notes="喜欢真丝"))
    member_a.refresh_from_db()

    assert (kept.status_code, changed.status_code) == (302, 302)
    assert phone_after_empty == "13812345678"
    assert member_a.phone == "13911112222"
    edits = [e.data["fields"] for e in AuditEntry.objects.filter(action="member.edited").order_by("pk")]
    assert edits == [["notes"], ["phone"]]


# --- Masking and the reveal button -----------------------------------------------------------


def test_it_masks_the_phone_for_staff_without_a_signed_agreement(client, store_a, member_a):
    consultant = StaffFactory(username="a_unsigned", role=Role.CONSULTANT, store=store_a, signed=False)
    member_a.consultant = consultant
    member_a.save()
    client.force_login(consultant)

    page = client.get(reverse("members:detail", args=[member_a.pk]))
    reveal = client.post(reverse("members:reveal_phone", args=[member_a.pk]))

    html = page.content.decode()
    assert "138****5678" in html
    assert "13812345678" not in html
    assert "显示完整号码" not in html
    assert reveal.status_code == 403
    assert not AuditEntry.objects.filter(action="member.phone.viewed").exists()


def test_it_reveals_the_phone_and_writes_an_audit_entry(client, staff_a, member_a, store_a):
    client.force_login(staff_a.consultant)

    page = client.get(reverse("members:detail", args=[member_a.pk]))
    response = client.post(reverse("members:reveal_phone", args=[member_a.pk]), headers={"HX-Request": "true"})

    assert "138****5678" in page.content.decode() and "显示完整号码" in page.content.decode()
    assert response.status_code == 200
    assert "13812345678" in response.content.decode()
    assert "<html" not in response.content.decode()  # only the fragment htmx swaps in
    entry = AuditEntry.objects.get(action="member.phone.viewed")
    assert (entry.actor, entry.store, entry.object_type, entry.object_id) == (
        staff_a.consultant,
        store_a,
        "member",
        str(member_a.pk),
    )


def test_it_shows_the_full_phone_on_the_page_when_revealed_without_htmx(client, staff_a, member_a):
    client.force_login(staff_a.manager)

    response = client.post(reverse("members:reveal_phone", args=[member_a.pk]))

    assert response.status_code == 200
    assert "13812345678" in response.content.decode()
    assert AuditEntry.objects.filter(action="member.phone.viewed").count() == 1


def test_it_does_not_reveal_another_consultants_member(client, store_a, member_a):
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    client.force_login(other)

    page = client.get(reverse("members:detail", args=[member_a.pk]))
    reveal = client.post(reverse("members:reveal_phone", args=[member_a.pk]))

    assert "显示完整号码" not in page.content.decode()
    assert reveal.status_code == 403


def test_it_sends_the_csrf_token_htmx_needs_with_every_page(staff_a, member_a):
    # htmx posts from the page with the token from <body hx-headers>; with CSRF checks on, as in
    # production, the reveal works only if that token is right.
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_a.consultant)
    page = client.get(reverse("members:detail", args=[member_a.pk])).content.decode()
    token = json.loads(re.search(r"hx-headers='([^']+)'", page).group(1))["X-CSRFToken"]

    refused = client.post(reverse("members:reveal_phone", args=[member_a.pk]), headers={"HX-Request": "true"})
    revealed = client.post(
        reverse("members:reveal_phone", args=[member_a.pk]), headers={"HX-Request": "true", "X-CSRFToken": token}
    )

    assert refused.status_code == 403
    assert revealed.status_code == 200 and "13812345678" in revealed.content.decode()
