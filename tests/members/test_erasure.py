"""A member's erasure request (DOMAIN §11): the person goes, the anonymous totals stay."""

from datetime import date
from decimal import Decimal

from django.urls import reverse

from accounts.models import AuditEntry
from reports.kpis import compute_kpis
from tests.factories import ImportantDateFactory, PurchaseFactory


def test_a_manager_erases_a_member_and_the_totals_stay(client, staff_a, member_a):
    member_a.birthday = date(1990, 5, 20)
    member_a.address = "上海市静安区"
    member_a.marketing_consent = True
    member_a.save()
    ImportantDateFactory(member=member_a)
    PurchaseFactory(member=member_a, date=date(2026, 3, 5), amount=Decimal("2500"))
    before = compute_kpis(start=date(2026, 3, 1), end=date(2026, 3, 31), store_ids=[member_a.home_store_id])
    client.force_login(staff_a.manager)
    url = reverse("members:erase", args=[member_a.pk])
    assert client.post(url, {"confirm": "wrong"}).status_code == 200  # not confirmed: nothing happens
    member_a.refresh_from_db()
    assert member_a.erased_at is None
    assert client.post(url, {"confirm": member_a.card_no}).status_code == 302
    member_a.refresh_from_db()
    assert (member_a.name, member_a.birthday, member_a.address, member_a.marketing_consent) == (
        "已注销会员",
        None,
        "",
        False,
    )
    assert member_a.phone.startswith("erased-") and member_a.phone_last4 == ""
    assert not member_a.important_dates.exists()
    assert member_a.purchases.count() == 1  # the ledger stays
    after = compute_kpis(start=date(2026, 3, 1), end=date(2026, 3, 31), store_ids=[member_a.home_store_id])
    assert after.as_json()["old_vip_sales"] == before.as_json()["old_vip_sales"] == "2500.00"
    assert AuditEntry.objects.filter(action="member.erased", object_id=str(member_a.pk)).exists()
    # Gone from the list and the search, no contact details on the page, and not editable.
    assert "已注销会员" not in client.get(reverse("members:list")).content.decode()
    page = client.get(reverse("members:detail", args=[member_a.pk])).content.decode()
    assert "5678" not in page and "上海市静安区" not in page
    assert client.get(reverse("members:edit", args=[member_a.pk])).status_code == 403


def test_only_managers_and_hq_erase(client, staff_a, member_a):
    for person in (staff_a.consultant, staff_a.specialist):
        client.force_login(person)
        assert (
            client.post(reverse("members:erase", args=[member_a.pk]), {"confirm": member_a.card_no}).status_code == 403
        )
    member_a.refresh_from_db()
    assert member_a.erased_at is None
