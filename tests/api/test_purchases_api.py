"""Purchases and returns in the staff API (/api/v1/purchases/, issue 13): scoped to the caller's
members, idempotent on (store, receipt no.) — 201 new, 200 the same receipt again, 409 another
receipt under that number — and a return names its original receipt and never returns more than
was bought. Written through members.services (purchase_record / purchase_return) as the pages are."""

import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from members import services
from members.models import Purchase
from tests.factories import PurchaseFactory

TODAY = timezone.localdate()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def card(member_a):
    member_a.card_no = "V0000001"
    member_a.joined_on = date(2024, 1, 1)
    member_a.save()
    return member_a


def receipt(**extra):
    return {"receipt_no": "R-1", "card_no": "V0000001", "date": str(TODAY), "amount": "1280.00"} | extra


def push(api, **extra):
    return api.post(reverse("api:purchases"), receipt(**extra), format="json")


def codes(response) -> dict[str, str]:
    return {e["field"]: e["code"] for e in response.json()["errors"]}


# --- Idempotence and the 409 -------------------------------------------------------------------


def test_the_same_receipt_twice_is_one_purchase_and_another_under_its_number_a_409(api, staff_a, card):
    api.force_authenticate(staff_a.consultant)

    first, again = push(api), push(api)
    conflict = push(api, amount="99.00")

    assert (first.status_code, again.status_code, conflict.status_code) == (201, 200, 409)
    assert again.json()["id"] == first.json()["id"]
    assert codes(conflict) == {"receipt_no": "receipt_conflict"}
    assert "R-1" in conflict.json()["detail"]
    assert Purchase.objects.get().amount == Decimal("1280.00")


def test_the_pos_answers_the_conflict_in_the_same_format(api, staff_a, card):
    from accounts.api_keys import api_key_create

    api.force_authenticate(staff_a.consultant)
    push(api)
    till = APIClient()
    till.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {api_key_create(store=card.home_store, name='1', by=staff_a.manager).key}"
    )

    response = till.post(reverse("api:pos_purchases"), receipt(amount="5.00"), format="json")

    assert response.status_code == 409 and codes(response) == {"receipt_no": "receipt_conflict"}


@pytest.mark.django_db(transaction=True)
def test_the_same_receipt_pushed_twice_at_once_is_one_purchase(monkeypatch, staff_a, card):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the race cannot happen there")
    barrier = threading.Barrier(2, timeout=10)
    clean = services._clean_purchase

    def clean_then_wait(purchase):
        clean(purchase)
        barrier.wait()  # both requests have passed the "already on file?" check

    monkeypatch.setattr(services, "_clean_purchase", clean_then_wait)
    statuses, errors = [], []

    def send():
        try:
            client = APIClient()
            client.force_authenticate(staff_a.consultant)
            statuses.append(push(client).status_code)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(statuses) == [200, 201]
    assert Purchase.objects.filter(receipt_no="R-1").count() == 1


# --- Returns -------------------------------------------------------------------------------------


def test_a_return_names_its_original_receipt(api, staff_a, card):
    api.force_authenticate(staff_a.consultant)
    push(api)

    response = api.post(
        reverse("api:purchases"),
        {"receipt_no": "R-2", "original_receipt_no": "R-1", "date": str(TODAY), "amount": "-280.00"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["original_receipt_no"], body["is_return"], body["card_no"]) == ("R-1", True, "V0000001")
    assert Purchase.objects.get(receipt_no="R-2").original == Purchase.objects.get(receipt_no="R-1")


def test_a_return_of_more_than_was_bought_is_refused(api, staff_a, card):
    api.force_authenticate(staff_a.consultant)
    push(api)
    body = {"original_receipt_no": "R-1", "date": str(TODAY)}
    first = api.post(reverse("api:purchases"), body | {"receipt_no": "R-2", "amount": "-1000.00"}, format="json")

    too_much = api.post(reverse("api:purchases"), body | {"receipt_no": "R-3", "amount": "-280.01"}, format="json")

    assert first.status_code == 201
    assert too_much.status_code == 400 and codes(too_much) == {"amount": "invalid"}
    assert not Purchase.objects.filter(receipt_no="R-3").exists()


def test_a_return_without_its_original_or_of_another_members_receipt_is_refused(api, staff_a, card, store_a):
    other = PurchaseFactory(member__home_store=store_a, store=store_a, receipt_no="R-OTHER", date=TODAY)
    api.force_authenticate(staff_a.manager)

    bare = push(api, receipt_no="R-9", amount="-100.00")
    not_hers = push(api, receipt_no="R-9", amount="-100.00", original_receipt_no=other.receipt_no)

    assert bare.status_code == 400 and codes(bare) == {"original_receipt_no": "required"}
    assert not_hers.status_code == 400 and "original_receipt_no" in codes(not_hers)
    assert not Purchase.objects.filter(receipt_no="R-9").exists()


def test_a_return_of_another_stores_receipt_is_refused(api, staff_a, member_b):
    PurchaseFactory(member=member_b, receipt_no="B-1", date=TODAY)
    api.force_authenticate(staff_a.manager)

    response = api.post(
        reverse("api:purchases"),
        {"receipt_no": "R-9", "original_receipt_no": "B-1", "date": str(TODAY), "amount": "-1.00"},
        format="json",
    )

    assert response.status_code == 400 and "original_receipt_no" in codes(response)
    assert "王芳" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_returns_of_one_receipt_at_once_cannot_return_more_than_was_bought(monkeypatch, staff_a, card):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the race cannot happen there")
    sale = PurchaseFactory(member=card, receipt_no="R-1", amount=Decimal("1000.00"), date=TODAY)
    clean = services._clean_purchase

    def clean_slowly(purchase):
        clean(purchase)
        time.sleep(0.5)  # without the lock on the original, the other return passes its check meanwhile

    monkeypatch.setattr(services, "_clean_purchase", clean_slowly)
    start = threading.Barrier(2, timeout=10)
    statuses, errors = [], []

    def send(receipt_no):
        try:
            client = APIClient()
            client.force_authenticate(staff_a.consultant)
            start.wait()
            body = {"receipt_no": receipt_no, "original_receipt_no": "R-1", "date": str(TODAY), "amount": "-600.00"}
            statuses.append(client.post(reverse("api:purchases"), body, format="json").status_code)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(f"RET-{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(statuses) == [201, 400]
    assert Purchase.objects.filter(original=sale).count() == 1


# --- Scope and mass assignment -------------------------------------------------------------------


def test_the_list_is_the_callers_members_and_filters(api, staff_a, card, member_b):
    old = PurchaseFactory(member=card, receipt_no="OLD", date=date(2024, 6, 1))
    new = PurchaseFactory(member=card, receipt_no="NEW", date=TODAY - timedelta(days=1))
    back = PurchaseFactory(member=card, receipt_no="BACK", date=TODAY, amount=Decimal("-100"), original=new)
    PurchaseFactory(member=member_b, receipt_no="B-1")
    api.force_authenticate(staff_a.consultant)
    url = reverse("api:purchases")

    def ids(query):
        response = api.get(url, query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids({}) == [back.pk, new.pk, old.pk]
    assert ids({"date_from": str(TODAY - timedelta(days=3)), "date_to": str(TODAY)}) == [back.pk, new.pk]
    assert ids({"receipt_no": "OLD"}) == [old.pk]
    assert ids({"kind": "return"}) == [back.pk]
    assert ids({"member": card.pk, "kind": "purchase"}) == [new.pk, old.pk]
    assert ids({"member": member_b.pk}) == []
    assert api.get(url, {"kind": "gift"}).status_code == 400


def test_another_stores_purchase_is_a_404(api, staff_a, member_b, card):
    theirs = PurchaseFactory(member=member_b)
    mine = PurchaseFactory(member=card)
    api.force_authenticate(staff_a.manager)

    assert api.get(reverse("api:purchase", args=[theirs.pk])).status_code == 404
    assert api.get(f"{reverse('api:purchases')}{2**70}/").status_code == 404
    assert api.get(reverse("api:purchase", args=[mine.pk])).json()["receipt_no"] == mine.receipt_no


def test_store_tier_source_and_another_stores_consultant_change_nothing(api, staff_a, staff_b, card):
    api.force_authenticate(staff_a.manager)

    other_store = push(api, store="BJB")
    other_consultant = push(api, consultant=staff_b.consultant.username)
    ignored = push(api, tier="A", source="import", recorded_by=staff_b.manager.pk, id=999, member=1)

    assert other_store.status_code == 400 and "store" in codes(other_store)
    assert other_consultant.status_code == 400 and "consultant" in codes(other_consultant)
    assert ignored.status_code == 201, ignored.json()
    purchase = Purchase.objects.get()
    card.refresh_from_db()
    assert (purchase.store, purchase.source, purchase.recorded_by, purchase.member) == (
        card.home_store,
        "pos",
        staff_a.manager,
        card,
    )
    assert purchase.pk != 999 and card.tier == "C" and purchase.consultant == card.consultant


def test_a_store_cannot_push_for_another_stores_member(api, staff_b, card):
    api.force_authenticate(staff_b.manager)

    response = push(api)

    assert response.status_code == 400 and "card_no" in codes(response)
    assert "张丽" not in response.content.decode()
    assert not Purchase.objects.exists()


def test_hq_names_the_store(api, hq, card):
    api.force_authenticate(hq)

    assert push(api).status_code == 400
    assert push(api, store="NOPE").status_code == 400
    assert push(api, store="sha").status_code == 201
