"""POS keys (issue 13 item 3): created and revoked by a store's manager or HQ, stored hashed, shown
once; a key reaches the /api/v1/pos/ endpoints only, for its own store, throttled and audited."""

import hashlib
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.decorators import api_view, authentication_classes
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory

from accounts.api_keys import ApiKeyAuthentication, api_key_create, api_key_revoke
from accounts.models import ApiKey, AuditEntry
from members import services
from members.models import Member, Purchase, PurchaseSource, Tier
from tests.factories import StaffFactory

TODAY = timezone.localdate()
pytestmark = pytest.mark.django_db
RECEIPT = {"receipt_no": "POS-1", "card_no": "V0000001", "date": str(TODAY), "amount": "1280.00"}


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()  # key ids repeat between tests on SQLite: no throttle history carried over
    yield
    cache.clear()


@pytest.fixture
def card(member_a):
    member_a.card_no = "V0000001"
    member_a.save()
    return member_a


@pytest.fixture
def key_a(staff_a):
    return api_key_create(store=staff_a.manager.store, name="1 号收银台", by=staff_a.manager)


@pytest.fixture
def key_b(staff_b):
    return api_key_create(store=staff_b.manager.store, name="北京收银台", by=staff_b.manager)


def till(created) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {created.key}")
    return api


def error_fields(response) -> dict[str, str]:
    """Field at fault → code, from the API's one error format (vipcrm.api.errors)."""
    return {error["field"]: error["code"] for error in response.json()["errors"]}


def push(api, **data):
    return api.post(reverse("api:pos_purchases"), RECEIPT | data, format="json")


# --- The key itself ------------------------------------------------------------------------------


def test_it_stores_the_hash_and_prefix_not_the_key(key_a):
    row = ApiKey.objects.get(pk=key_a.api_key.pk)
    prefix, secret = key_a.key.split(".", 1)

    assert row.prefix == prefix
    assert row.hashed_key == hashlib.sha256(key_a.key.encode()).hexdigest()
    assert len(secret) >= 43  # 32 random bytes, base64url
    stored = " ".join(str(v) for v in ApiKey.objects.filter(pk=row.pk).values().first().values())
    assert secret not in stored
    assert AuditEntry.objects.filter(action="api_key.created", data__api_key=prefix).exists()


def test_it_shows_the_key_once(client, staff_a):
    client.force_login(staff_a.manager)

    created = client.post(reverse("api_keys"), {"name": "2 号收银台"})
    later = client.get(reverse("api_keys"))

    row = ApiKey.objects.get(name="2 号收银台")
    key = created.context["created"].key
    assert created.status_code == 200
    assert row.store == staff_a.manager.store
    assert key.startswith(row.prefix + ".") and key in created.content.decode()
    assert f'data-copy="{key}"' in created.content.decode()
    assert "no-store" in created["Cache-Control"] or "no-cache" in created["Cache-Control"]
    assert row.prefix in later.content.decode() and key not in later.content.decode()


def test_it_lets_hq_create_a_key_for_any_store_and_a_manager_only_for_their_own(client, hq, staff_a, store_b):
    client.force_login(hq)
    client.post(reverse("api_keys"), {"name": "总部建", "store": store_b.pk})
    client.force_login(staff_a.manager)
    client.post(reverse("api_keys"), {"name": "店长建", "store": store_b.pk})  # `store` is not read

    assert ApiKey.objects.get(name="总部建").store == store_b
    assert ApiKey.objects.get(name="店长建").store == staff_a.manager.store


def test_it_lists_a_stores_keys_in_few_queries(client, staff_a, django_assert_max_num_queries):
    for n in range(60):
        api_key_create(store=staff_a.manager.store, name=f"收银台 {n}", by=staff_a.manager)
    client.force_login(staff_a.manager)

    with django_assert_max_num_queries(12):
        response = client.get(reverse("api_keys"))

    assert response.status_code == 200
    assert response.content.decode().count("收银台 ") >= 60


def test_it_refuses_a_revoked_key_at_once(client, staff_a, key_a, card):
    api = till(key_a)
    assert api.get(reverse("api:pos_lookup"), {"q": "V0000001"}).status_code == 200
    client.force_login(staff_a.manager)

    client.post(reverse("api_key_revoke", args=[key_a.api_key.pk]))
    response = api.get(reverse("api:pos_lookup"), {"q": "V0000001"})

    assert ApiKey.objects.get(pk=key_a.api_key.pk).revoked_by == staff_a.manager
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert push(api).status_code == 401
    assert not Purchase.objects.exists()


def test_it_answers_401_for_a_wrong_or_missing_key(key_a):
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_a.api_key.prefix}.not-the-secret")

    for api in (wrong, APIClient()):
        response = api.get(reverse("api:pos_lookup"), {"q": "V0000001"})
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"


def test_it_does_not_let_another_stores_manager_revoke_a_key(client, staff_b, key_a):
    client.force_login(staff_b.manager)

    assert client.post(reverse("api_key_revoke", args=[key_a.api_key.pk])).status_code == 404
    assert ApiKey.objects.get(pk=key_a.api_key.pk).revoked_at is None


def test_it_records_last_use_at_most_once_a_minute(key_a, card):
    api = till(key_a)
    api.get(reverse("api:pos_lookup"), {"q": "V0000001"})
    first = ApiKey.objects.get(pk=key_a.api_key.pk).last_used_at
    api.get(reverse("api:pos_lookup"), {"q": "V0000001"})

    assert first is not None
    assert ApiKey.objects.get(pk=key_a.api_key.pk).last_used_at == first


# --- What a key may reach ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["api:members", "api:reports_monthly"])
def test_it_keeps_a_key_out_of_the_rest_of_the_api(key_a, card, name):
    response = till(key_a).get(reverse(name))

    assert response.status_code in (401, 403)  # 403 once the key class is in the default authentication
    assert "张丽" not in response.content.decode()


def test_it_answers_403_to_a_key_on_an_endpoint_for_people():
    @api_view(["GET"])
    @authentication_classes([ApiKeyAuthentication])
    def for_people(request):
        return Response({"ok": True})

    # The default permission (IsAuthenticated): a key is authenticated, but no person.
    key = _key_in_db()
    request = APIRequestFactory().get("/x/", HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert for_people(request).status_code == 403


def _key_in_db() -> str:
    from tests.factories import StoreFactory

    store = StoreFactory(code="ZZ")
    return api_key_create(store=store, name="t", by=StaffFactory(username="zz_hq", role="hq", store=None)).key


def test_it_keeps_staff_sessions_out_of_the_pos_endpoints(client, staff_a, card):
    client.force_login(staff_a.manager)

    response = client.get(reverse("api:pos_lookup"), {"q": "V0000001"})

    assert response.status_code == 401
    assert not AuditEntry.objects.filter(action="member.pos.lookup").exists()


@override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"pos_key": "3/min"}})
def test_it_throttles_per_key(key_a, key_b, card):
    api = till(key_a)
    statuses = [api.get(reverse("api:pos_lookup"), {"q": "V0000001"}).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert till(key_b).get(reverse("api:pos_lookup"), {"q": "V0000001"}).status_code == 200  # its own count


# --- Lookup --------------------------------------------------------------------------------------


def test_it_finds_a_member_by_exact_card_or_full_phone_and_audits_it(key_a, card):
    api = till(key_a)

    by_card = api.get(reverse("api:pos_lookup"), {"q": "V0000001"})
    by_phone = api.get(reverse("api:pos_lookup"), {"q": "138 1234 5678"})

    assert by_card.json() == {
        "card_no": "V0000001",
        "name": "张丽",
        "tier": "C",
        "masked_phone": "138****5678",
        "home_store": "SHA",
    }
    assert by_phone.json()["card_no"] == "V0000001"
    entries = AuditEntry.objects.filter(action="member.pos.lookup").order_by("pk")
    assert [(e.actor_id, e.data["api_key"], e.object_id) for e in entries] == [
        (None, key_a.api_key.prefix, str(card.pk)),
        (None, key_a.api_key.prefix, str(card.pk)),
    ]
    assert "13812345678" not in str(entries[1].data)


def test_it_finds_another_stores_member_with_name_tier_and_masked_phone_only(key_b, card):
    response = till(key_b).get(reverse("api:pos_lookup"), {"q": "13812345678"})

    assert response.status_code == 200
    assert set(response.json()) == {"card_no", "name", "tier", "masked_phone", "home_store"}
    assert "13812345678" not in response.content.decode()
    entry = AuditEntry.objects.get(action="member.pos.lookup")
    assert entry.store == key_b.api_key.store and entry.data["own_store"] is False


@pytest.mark.parametrize("text", ["张丽", "5678", "1381234", "V00000", ""])
def test_it_finds_nobody_by_a_name_a_prefix_or_last_four(key_b, card, text):
    response = till(key_b).get(reverse("api:pos_lookup"), {"q": text})

    assert response.status_code == 404
    assert "张丽" not in response.content.decode()
    assert AuditEntry.objects.filter(action="member.pos.lookup", data__api_key=key_b.api_key.prefix).exists()


# --- Receipts and returns ------------------------------------------------------------------------


def test_it_records_the_same_receipt_once(key_a, card):
    api = till(key_a)

    first = push(api)
    again = push(api)

    assert (first.status_code, again.status_code) == (201, 200), first.json()
    assert again.json()["id"] == first.json()["id"]
    purchase = Purchase.objects.get()
    assert (purchase.store, purchase.source, purchase.recorded_by) == (card.home_store, PurchaseSource.POS, None)
    assert AuditEntry.objects.filter(action="purchase.pos.pushed", data__api_key=key_a.api_key.prefix).count() == 2


def test_it_answers_409_for_another_receipt_under_the_same_number(key_a, card):
    api = till(key_a)
    push(api)

    response = push(api, amount="99.00")

    assert response.status_code == 409
    assert error_fields(response) == {"receipt_no": "receipt_conflict"}
    assert Purchase.objects.get().amount == 1280


def test_it_keeps_receipt_numbers_per_store(key_a, key_b, card):
    assert push(till(key_a)).status_code == 201
    # Store B's till serves store A's member (cross-store service): its own receipt, its own store.
    response = push(till(key_b), amount="500.00")

    assert response.status_code == 201
    assert response.json()["store"] == "BJB"
    assert Purchase.objects.count() == 2


def test_it_records_a_return_naming_its_original_receipt(key_a, card):
    api = till(key_a)
    push(api)

    response = api.post(
        reverse("api:pos_purchases"),
        {"receipt_no": "POS-2", "original_receipt_no": "POS-1", "date": str(TODAY), "amount": "-280.00"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["original_receipt_no"] == "POS-1"
    assert Purchase.objects.get(receipt_no="POS-2").original.receipt_no == "POS-1"


def test_it_refuses_a_return_of_a_receipt_from_another_store(key_a, key_b, card):
    push(till(key_a))

    response = till(key_b).post(
        reverse("api:pos_purchases"),
        {"receipt_no": "R-1", "original_receipt_no": "POS-1", "date": str(TODAY), "amount": "-1.00"},
        format="json",
    )

    assert response.status_code == 400
    assert "original_receipt_no" in error_fields(response)


def test_it_ignores_store_tier_and_consultant_in_a_body(key_a, card, store_b, staff_b):
    api = till(key_a)

    pushed = push(api, store=store_b.code, consultant=staff_b.consultant.username, tier="A", source="import")
    enrolled = api.post(
        reverse("api:pos_members"),
        {
            "card_no": "V0000009",
            "name": "王芳",
            "phone": "13900001111",
            "marketing_consent": False,
            "tier": "A",
            "home_store": store_b.pk,
            "store": store_b.code,
            "consultant": staff_b.consultant.pk,
            "id": 1,
        },
        format="json",
    )

    purchase = Purchase.objects.get()
    assert (purchase.store, purchase.consultant, purchase.source) == (card.home_store, card.consultant, "pos")
    assert pushed.status_code == 201 and enrolled.status_code == 201, enrolled.json()
    member = Member.objects.get(card_no="V0000009")
    assert (member.home_store, member.tier, member.consultant) == (key_a.api_key.store, Tier.C, None)


@pytest.mark.django_db(transaction=True)
def test_it_records_one_purchase_when_a_receipt_is_pushed_twice_at_once(monkeypatch, store_a, staff_a, member_a):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the race cannot happen there")
    member_a.card_no = "V0000001"
    member_a.save()
    created = api_key_create(store=store_a, name="并发", by=staff_a.manager)
    barrier = threading.Barrier(2, timeout=10)
    clean = services._clean_purchase

    def clean_then_wait(purchase):
        clean(purchase)
        barrier.wait()  # both requests have passed the "already on file?" check

    monkeypatch.setattr(services, "_clean_purchase", clean_then_wait)
    statuses, errors = [], []

    def send():
        try:
            statuses.append(push(till(created)).status_code)
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
    assert Purchase.objects.filter(receipt_no="POS-1").count() == 1


# --- Enrolment -----------------------------------------------------------------------------------


def test_it_enrols_a_member_with_their_consent(key_a):
    response = till(key_a).post(
        reverse("api:pos_members"),
        {"card_no": "V0000010", "name": "李娜", "phone": "139 0000 2222", "marketing_consent": True},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["masked_phone"] == "139****2222"
    member = Member.objects.get(card_no="V0000010")
    assert member.phone == "13900002222" and member.home_store == key_a.api_key.store
    assert member.marketing_consent and member.marketing_consent_at == TODAY
    assert AuditEntry.objects.filter(
        action="member.pos.enrolled", object_id=str(member.pk), data__api_key=key_a.api_key.prefix
    ).exists()


def test_it_needs_an_answer_on_consent_and_names_no_one_for_a_taken_phone(key_b, card):
    api = till(key_b)

    no_answer = api.post(
        reverse("api:pos_members"), {"card_no": "X1", "name": "某", "phone": "13900003333"}, format="json"
    )
    taken = api.post(
        reverse("api:pos_members"),
        {"card_no": "X2", "name": "某", "phone": "13812345678", "marketing_consent": False},
        format="json",
    )

    assert no_answer.status_code == 400 and error_fields(no_answer) == {"marketing_consent": "required"}
    assert taken.status_code == 400 and error_fields(taken) == {"phone": "invalid"}
    assert "张丽" not in taken.content.decode() and "V0000001" not in taken.content.decode()
    assert Member.objects.count() == 1


def test_it_revokes_only_once(staff_a, key_a):
    api_key_revoke(api_key=key_a.api_key, by=staff_a.manager)
    first = ApiKey.objects.get(pk=key_a.api_key.pk).revoked_at
    api_key_revoke(api_key=ApiKey.objects.get(pk=key_a.api_key.pk), by=staff_a.manager)

    assert ApiKey.objects.get(pk=key_a.api_key.pk).revoked_at == first
    assert AuditEntry.objects.filter(action="api_key.revoked").count() == 1
    assert first <= timezone.now() + timedelta(seconds=1)
