"""The member page and what is done from it: purchases and returns, important dates, the
consultant and the tier.

Dates are pinned with time-machine to 25 November 2026 (store-local) so that next occurrences
and 12-month windows can be worked out by hand in the comments.
"""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from accounts.models import AuditEntry, Role
from members.models import ImportantDate, Member, ProgramRules, Purchase, Tier, TierChange, TierChangeReason
from members.ownership import members_assign
from members.relations import relation_add
from members.services import purchase_record

from ..factories import ImportantDateFactory, MemberFactory, PurchaseFactory, StaffFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def pinned_today():
    with time_machine.travel(datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False):
        yield


def detail(client, member):
    return client.get(reverse("members:detail", args=[member.pk]))


# --- The member page -------------------------------------------------------------------------


def test_it_shows_the_next_occurrence_of_a_lunar_birthday(client, staff_a, member_a):
    # Born 1990-03-12, which was 农历二月十六. 二月十六 fell on 2026-04-03 (already past on
    # 2026-11-25), so the next one is 二月十六 of 2027 = 2027-03-23, 118 days away.
    member_a.birthday = date(1990, 3, 12)
    member_a.birthday_lunar = True
    member_a.save()
    client.force_login(staff_a.consultant)

    html = detail(client, member_a).content.decode()

    assert "农历二月十六" in html
    assert "2027-03-23" in html
    assert "118 天后" in html


def test_it_shows_a_solar_birthday_and_important_dates_in_order(client, staff_a, member_a):
    member_a.birthday = date(1985, 12, 1)  # next: 2026-12-01, in 6 days
    member_a.save()
    ImportantDateFactory(member=member_a, kind="wedding_anniversary", date=date(2012, 2, 29))  # → 2027-02-28
    ImportantDateFactory(member=member_a, kind="child_birthday", date=date(2015, 1, 10), label="女儿")  # → 2027-01-10
    client.force_login(staff_a.consultant)

    response = detail(client, member_a)

    occasions = [(o.label, o.next_on) for o in response.context["occasions"]]
    assert occasions == [
        ("生日", date(2026, 12, 1)),
        ("子女生日", date(2027, 1, 10)),
        ("结婚纪念日", date(2027, 2, 28)),  # 29 February falls on 28 February in other years
    ]
    html = response.content.decode()
    assert "6 天后" in html and "女儿" in html


def test_it_shows_the_spend_and_what_is_missing_to_the_next_tier(client, staff_a, member_a):
    # 12-month window on 2026-11-25: 2025-11-26 … 2026-11-25. The 2025-11-25 purchase is one day
    # outside it. Spend = 5,000 + 2,500 − 500 = 7,000; B needs 10,000 → 3,000 missing.
    member_a.joined_on = date(2025, 1, 1)
    member_a.save()
    PurchaseFactory(member=member_a, date=date(2025, 11, 25), amount=Decimal("9000.00"))
    PurchaseFactory(member=member_a, date=date(2025, 11, 26), amount=Decimal("5000.00"))
    PurchaseFactory(member=member_a, date=date(2026, 6, 1), amount=Decimal("2500.00"))
    PurchaseFactory(member=member_a, date=date(2026, 6, 2), amount=Decimal("-500.00"))
    client.force_login(staff_a.consultant)

    html = detail(client, member_a).content.decode()

    assert "¥7,000.00" in html  # grouped by the money filter, although zh-hans groups no thousands
    assert "距 B 级 还差" in html and "¥3,000.00" in html


def test_it_shows_the_tier_history_and_the_lock(client, staff_a, member_a):
    member_a.joined_on = date(2026, 1, 1)
    member_a.save()
    purchase_record(
        member=member_a,
        store=member_a.home_store,
        receipt_no="H1",
        date=date(2026, 3, 8),
        amount=Decimal("12000"),
        by=None,
    )
    TierChange.objects.create(
        member=member_a,
        date=date(2026, 5, 1),
        from_tier=Tier.B,
        to_tier=Tier.A,
        reason=TierChangeReason.MANUAL,
        by=staff_a.manager,
        note="老客户转介绍",
    )
    Member.objects.filter(pk=member_a.pk).update(tier=Tier.A, tier_locked=True)
    client.force_login(staff_a.consultant)

    response = detail(client, member_a)

    html = response.content.decode()
    assert [(c.date, c.to_tier, c.reason) for c in response.context["tier_history"]] == [
        (date(2026, 5, 1), Tier.A, TierChangeReason.MANUAL),
        (date(2026, 3, 8), Tier.B, TierChangeReason.PURCHASE),
    ]
    assert "消费升级" in html and "手动调整" in html and "老客户转介绍" in html
    assert "等级已锁定" in html
    assert "已是最高等级" in html


def test_it_shows_buttons_only_to_those_allowed(client, staff_a, member_a):
    buttons = {
        "edit": reverse("members:edit", args=[member_a.pk]),
        "assign": reverse("members:assign", args=[member_a.pk]),
        "tier": reverse("members:tier", args=[member_a.pk]),
        "purchase": reverse("members:purchase_add", args=[member_a.pk]),
    }
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=member_a.home_store)
    expected = {
        staff_a.consultant: {"edit", "purchase"},
        other: {"purchase"},
        staff_a.specialist: {"edit", "assign", "purchase"},
        staff_a.manager: {"edit", "assign", "tier", "purchase"},
    }
    for user, shown in expected.items():
        client.force_login(user)
        html = detail(client, member_a).content.decode()
        assert {name for name, url in buttons.items() if f'href="{url}"' in html} == shown, user


def test_it_renders_the_member_page_in_a_bounded_number_of_queries(
    client, staff_a, member_a, django_assert_max_num_queries
):
    ProgramRules.load()
    for i in range(30):
        PurchaseFactory(member=member_a, consultant=staff_a.consultant, date=date(2026, 1, 1 + i), amount=100)
    ImportantDateFactory.create_batch(5, member=member_a)
    for _ in range(3):  # owner history: away and back, three times
        members_assign(member_ids=[member_a.pk], consultant=None, by=staff_a.manager)
        members_assign(member_ids=[member_a.pk], consultant=staff_a.consultant, by=staff_a.manager)
    for n in range(5):
        relation_add(member=member_a, kind="child", by=staff_a.manager, name=f"孩子{n}")
    client.force_login(staff_a.manager)

    # Session, user, member, agreement, program rules, 12-month spend, important dates, purchase
    # count and page, tier history, the navbar's store and unread notifications (12); the owner
    # history, family links and which relatives the viewer may open, merges into this member and a
    # pending transfer (17), whatever the number of rows.
    with django_assert_max_num_queries(17):
        response = detail(client, member_a)

    assert response.status_code == 200
    assert len(response.context["purchases"]) == 20


# --- Purchases and returns -------------------------------------------------------------------


def purchase_url(member):
    return reverse("members:purchase_add", args=[member.pk])


def test_it_defaults_the_purchase_form_to_today_and_the_members_consultant(client, staff_a, member_a):
    client.force_login(staff_a.specialist)

    form = client.get(purchase_url(member_a)).context["form"]

    assert form["date"].value() == TODAY
    assert form["consultant"].value() == staff_a.consultant.pk


def test_it_records_a_purchase_and_a_return_and_the_tier_follows(client, staff_a, member_a):
    # 12,000 today → 12-month spend 12,000 ≥ B (10,000): upgraded to B. The same-day return of
    # 3,000 leaves 9,000 for the day: replayed, the upgrade never happened, back to C.
    client.force_login(staff_a.consultant)

    bought = client.post(
        purchase_url(member_a),
        {
            "kind": "purchase",
            "receipt_no": "R-1001",
            "date": "2026-11-25",
            "amount": "12000",
            "consultant": staff_a.consultant.pk,
            "items": "羊绒大衣",
        },
    )
    member_a.refresh_from_db()
    tier_after_purchase = member_a.tier
    original = Purchase.objects.get(receipt_no="R-1001")
    returned = client.post(
        purchase_url(member_a),
        {
            "kind": "return",
            "receipt_no": "R-1002",
            "date": "2026-11-25",
            "amount": "3000",
            "original": original.pk,
            "consultant": staff_a.consultant.pk,
        },
    )

    assert bought.status_code == 302 and returned.status_code == 302
    assert tier_after_purchase == Tier.B
    ret = Purchase.objects.get(receipt_no="R-1002")
    assert (ret.amount, ret.original, ret.recorded_by) == (Decimal("-3000.00"), original, staff_a.consultant)
    assert (original.amount, original.items, original.consultant) == (
        Decimal("12000.00"),
        "羊绒大衣",
        staff_a.consultant,
    )
    member_a.refresh_from_db()
    assert member_a.tier == Tier.C
    assert not member_a.tier_changes.exists()
    messages = [str(m) for m in client.get(reverse("members:list")).context["messages"]]
    assert any("退货 R-1002" in m for m in messages)


def test_it_names_the_receipt_already_on_file(client, staff_a, member_a):
    PurchaseFactory(member=member_a, receipt_no="R-2001", date=date(2026, 11, 1), amount=Decimal("800.00"))
    client.force_login(staff_a.consultant)

    response = client.post(
        purchase_url(member_a), {"kind": "purchase", "receipt_no": "R-2001", "date": "2026-11-20", "amount": "999"}
    )

    assert response.status_code == 200
    [error] = response.context["form"].errors["receipt_no"]
    assert "R-2001" in error and "已登记" in error and "800.00" in error
    assert "R-2001" in response.content.decode()
    assert Purchase.objects.count() == 1


def test_it_does_not_record_the_same_receipt_twice(client, staff_a, member_a):
    client.force_login(staff_a.consultant)
    data = {"kind": "purchase", "receipt_no": "R-3001", "date": "2026-11-20", "amount": "500"}

    client.post(purchase_url(member_a), data)
    again = client.post(purchase_url(member_a), data, follow=True)

    assert Purchase.objects.filter(receipt_no="R-3001").count() == 1
    assert "此前已登记" in again.content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"amount": "0"}, "amount", ""),
        ({"amount": "-50"}, "amount", ""),
        ({"date": "2026-11-26"}, "date", "消费日期不能晚于今天"),
        ({"date": "2023-12-31"}, "date", "早于会员入会日期"),  # member_a joined 2024-01-01
        ({"kind": "return", "amount": "2000", "original": "ORIGINAL"}, "amount", "退货总额超过原小票金额"),
        ({"kind": "purchase", "original": "ORIGINAL"}, "original", "只有退货"),
    ],
)
def test_it_explains_a_bad_purchase_and_records_nothing(client, staff_a, member_a, data, field, message):
    original = PurchaseFactory(member=member_a, receipt_no="R-0001", date=date(2026, 10, 1), amount=Decimal("1500"))
    client.force_login(staff_a.consultant)
    posted = {"kind": "purchase", "receipt_no": "R-4001", "date": "2026-11-20", "amount": "100", **data}
    if posted.get("original") == "ORIGINAL":
        posted["original"] = original.pk

    response = client.post(purchase_url(member_a), posted)

    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert any(message in e for e in errors), errors
    assert Purchase.objects.count() == 1


def test_it_offers_only_the_members_own_purchases_as_the_original(client, staff_a, member_a, store_a):
    own = PurchaseFactory(member=member_a, amount=Decimal("1000"))
    own_return = PurchaseFactory(member=member_a, amount=Decimal("-100"), original=own)
    someone_elses = PurchaseFactory(member=MemberFactory(home_store=store_a), amount=Decimal("1000"))
    client.force_login(staff_a.consultant)

    choices = set(client.get(purchase_url(member_a)).context["form"].fields["original"].queryset)

    assert choices == {own}
    assert own_return not in choices and someone_elses not in choices


def test_it_lets_hq_record_a_purchase_in_the_members_store(client, hq, member_a, staff_a, store_a):
    client.force_login(hq)

    form = client.get(purchase_url(member_a)).context["form"]
    client.post(
        purchase_url(member_a), {"kind": "purchase", "receipt_no": "HQ-1", "date": "2026-11-20", "amount": "10"}
    )

    assert set(form.fields["consultant"].queryset) == {staff_a.consultant, staff_a.specialist, staff_a.manager}
    assert Purchase.objects.get(receipt_no="HQ-1").store == store_a


# --- Important dates -------------------------------------------------------------------------


def test_it_adds_an_important_date_from_the_member_page(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("members:date_add", args=[member_a.pk]),
        {"date-kind": "wedding_anniversary", "date-date": "2015-05-20", "date-lunar": "on", "date-label": ""},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    important = ImportantDate.objects.get(member=member_a)
    assert (important.kind, important.date, important.lunar) == ("wedding_anniversary", date(2015, 5, 20), True)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="occasions"')
    assert "结婚纪念日" in html and "农历四月初三" in html  # 2015-05-20 was 农历四月初三
    assert AuditEntry.objects.filter(action="member.date.added").count() == 1


def test_it_refuses_an_important_date_in_the_future(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("members:date_add", args=[member_a.pk]), {"date-kind": "other", "date-date": "2027-01-01"}
    )

    assert response.status_code == 200
    form = response.context["date_form"]
    assert "日期不能晚于今天" in form.errors["date"][0]
    assert not ImportantDate.objects.exists()


def test_it_asks_what_an_other_date_is(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("members:date_add", args=[member_a.pk]),
        {"date-kind": "other", "date-date": "2020-01-01"},
        headers={"HX-Request": "true"},
    )

    assert "写明是什么日子" in response.content.decode()
    assert not ImportantDate.objects.exists()


def test_it_deletes_an_important_date(client, staff_a, member_a):
    important = ImportantDateFactory(member=member_a)
    client.force_login(staff_a.specialist)

    response = client.post(reverse("members:date_delete", args=[member_a.pk, important.pk]))

    assert response.status_code == 302
    assert not ImportantDate.objects.exists()
    assert AuditEntry.objects.filter(action="member.date.deleted").count() == 1


def test_it_does_not_delete_another_members_date_through_this_member(client, staff_a, member_a, store_a):
    elsewhere = ImportantDateFactory(member=MemberFactory(home_store=store_a))
    client.force_login(staff_a.manager)

    response = client.post(reverse("members:date_delete", args=[member_a.pk, elsewhere.pk]))

    assert response.status_code == 404
    assert ImportantDate.objects.filter(pk=elsewhere.pk).exists()


# --- Consultant and tier ---------------------------------------------------------------------


def test_it_reassigns_the_consultant(client, staff_a, member_a, store_a):
    new = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    client.force_login(staff_a.specialist)

    response = client.post(reverse("members:assign", args=[member_a.pk]), {"consultant": new.pk})

    assert response.status_code == 302
    member_a.refresh_from_db()
    assert member_a.consultant == new
    assert AuditEntry.objects.filter(action="member.reassigned").count() == 1


def test_it_offers_no_consultant_of_another_store(client, staff_a, staff_b, member_a):
    client.force_login(staff_a.manager)

    response = client.post(reverse("members:assign", args=[member_a.pk]), {"consultant": staff_b.consultant.pk})

    assert response.status_code == 200
    assert response.context["form"].errors["consultant"]
    member_a.refresh_from_db()
    assert member_a.consultant == staff_a.consultant


def test_it_lets_a_manager_set_and_lock_a_tier(client, staff_a, member_a):
    client.force_login(staff_a.manager)

    response = client.post(reverse("members:tier", args=[member_a.pk]), {"tier": "A", "lock": "on", "note": "集团VIP"})

    assert response.status_code == 302
    member_a.refresh_from_db()
    assert (member_a.tier, member_a.tier_locked) == (Tier.A, True)
    change = member_a.tier_changes.get()
    assert (change.reason, change.by, change.note) == (TierChangeReason.MANUAL, staff_a.manager, "集团VIP")


def test_it_keeps_an_unlocked_manual_tier_until_the_next_review(client, staff_a, member_a):
    # Set to A unlocked on 2026-11-25 with no spend: the manual change is kept, and the month-end
    # review of 2026-11-30 has not happened yet, so the member is A until then.
    client.force_login(staff_a.manager)

    client.post(reverse("members:tier", args=[member_a.pk]), {"tier": "A", "note": ""})

    member_a.refresh_from_db()
    assert (member_a.tier, member_a.tier_locked) == (Tier.A, False)
