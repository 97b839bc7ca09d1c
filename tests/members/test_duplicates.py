"""Likely duplicate members (DOMAIN §13 "Duplicates", issue 11 item 5): the three kinds on
hand-made data, the viewer's scope (a store user never sees another store's member, in the list
or in the warning on entry), dismissed pairs, and a query count that does not grow with members."""

from datetime import date

import pytest
from django.urls import reverse

from accounts.models import AuditEntry
from members.duplicates import card_key, duplicate_pairs, entry_twins, one_typo_apart
from members.models import DuplicateDismissal, DuplicateKind, Member

from ..factories import MemberFactory

pytestmark = pytest.mark.django_db


def legacy_phone(member: Member, phone: str) -> Member:
    """A phone stored before normalisation (an old import, the admin): written past the services."""
    Member.objects.filter(pk=member.pk).update(phone=phone, phone_last4=phone[-4:])
    member.refresh_from_db()
    return member


def pairs_of(viewer) -> dict[tuple[int, int], list[str]]:
    return {(p.first_id, p.second_id): p.kinds for p in duplicate_pairs(viewer=viewer)}


@pytest.fixture
def twins(store_a, store_b):
    """Hand-made: in store A, one pair of each kind and lookalikes that are not pairs; in store B,
    a twin of a store A member by name and birthday (a cross-store pair only HQ sees)."""
    o = {}
    # phone: the same number stored as +86… before normalisation.
    o["phone_1"] = MemberFactory(home_store=store_a, name="周一", phone="13811112222", card_no="A100")
    o["phone_2"] = legacy_phone(MemberFactory(home_store=store_a, name="周壹", card_no="A200"), "+86 138 1111 2222")
    # name and birthday: same person, new card, new phone; the name typed with a space.
    o["nb_1"] = MemberFactory(home_store=store_a, name="陈静", birthday=date(1985, 4, 2), card_no="A300")
    o["nb_2"] = MemberFactory(home_store=store_a, name="陈 静", birthday=date(1985, 4, 2), card_no="A410")
    # same name, another birthday: two people.
    o["namesake"] = MemberFactory(home_store=store_a, name="陈静", birthday=date(1990, 1, 1), card_no="A520")
    # card: the same card typed with separators / lower case / leading zeros…
    o["card_1"] = MemberFactory(home_store=store_a, name="林晓", card_no="V0012345")
    o["card_2"] = MemberFactory(home_store=store_a, name="林小", card_no="v-12345")
    # … or one typo apart (two digits swapped) with the same name.
    o["typo_1"] = MemberFactory(home_store=store_a, name="黄蓉", card_no="V0067890")
    o["typo_2"] = MemberFactory(home_store=store_a, name="黄蓉", card_no="V0068790")
    # Consecutive cards of different people are not a pair.
    o["next_1"] = MemberFactory(home_store=store_a, name="甲", card_no="V0070001")
    o["next_2"] = MemberFactory(home_store=store_a, name="乙", card_no="V0070002")
    # Another store: the same name and birthday as nb_1.
    o["elsewhere"] = MemberFactory(home_store=store_b, name="陈静", birthday=date(1985, 4, 2), card_no="B100")
    return o


def pair(a: Member, b: Member) -> tuple[int, int]:
    return (min(a.pk, b.pk), max(a.pk, b.pk))


def test_it_finds_the_three_kinds_in_the_store(twins, staff_a):
    o = twins

    found = pairs_of(staff_a.specialist)

    assert found == {
        pair(o["phone_1"], o["phone_2"]): [DuplicateKind.PHONE],
        pair(o["nb_1"], o["nb_2"]): [DuplicateKind.NAME_BIRTHDAY],
        pair(o["card_1"], o["card_2"]): [DuplicateKind.CARD],
        pair(o["typo_1"], o["typo_2"]): [DuplicateKind.CARD],
    }


def test_it_never_pairs_a_store_user_with_another_stores_member(twins, staff_a, staff_b):
    o = twins
    store_b_ids = {o["elsewhere"].pk}

    seen_by_a = {pk for key in pairs_of(staff_a.manager) for pk in key}
    seen_by_b = pairs_of(staff_b.manager)

    assert not seen_by_a & store_b_ids
    assert seen_by_b == {}  # store B's member has its twin in store A only


def test_hq_sees_cross_store_pairs_too(twins, hq):
    o = twins

    found = pairs_of(hq)

    assert found[pair(o["nb_1"], o["elsewhere"])] == [DuplicateKind.NAME_BIRTHDAY]
    assert found[pair(o["nb_2"], o["elsewhere"])] == [DuplicateKind.NAME_BIRTHDAY]
    assert len(found) == 6


def test_it_lists_a_pair_once_with_every_kind_it_matches(store_a, staff_a):
    a = MemberFactory(home_store=store_a, name="吴敏", birthday=date(1980, 1, 1), card_no="C0001", phone="13700001111")
    b = legacy_phone(
        MemberFactory(home_store=store_a, name="吴敏", birthday=date(1980, 1, 1), card_no="c-0001"), "008613700001111"
    )

    assert pairs_of(staff_a.manager) == {
        pair(a, b): [DuplicateKind.PHONE, DuplicateKind.NAME_BIRTHDAY, DuplicateKind.CARD]
    }


def test_dismissed_and_erased_members_are_not_listed(twins, staff_a):
    o = twins
    DuplicateDismissal.objects.create(
        first_id=min(o["nb_1"].pk, o["nb_2"].pk), second_id=max(o["nb_1"].pk, o["nb_2"].pk)
    )
    Member.objects.filter(pk=o["typo_2"].pk).update(erased_at="2026-01-01T00:00:00Z")

    found = pairs_of(staff_a.manager)

    assert pair(o["nb_1"], o["nb_2"]) not in found
    assert pair(o["typo_1"], o["typo_2"]) not in found
    assert len(found) == 2


def test_card_keys_and_typos():
    assert card_key(" v-00 12345 ") == card_key("V12345") == "V12345"
    assert one_typo_apart("V12345", "V12354")  # swapped neighbours
    assert one_typo_apart("V12345", "V12845")  # one substituted
    assert one_typo_apart("V12345", "V123456")  # one extra
    assert not one_typo_apart("V12345", "V21354")
    assert not one_typo_apart("V12345", "V12345")


# --- The pages -----------------------------------------------------------------------------------


def test_the_list_shows_pairs_with_masked_phones_and_buttons_for_managers(client, twins, staff_a):
    client.force_login(staff_a.manager)

    response = client.get(reverse("members:duplicates"))

    body = response.content.decode()
    assert response.status_code == 200
    assert "手机号相同" in body and "姓名和生日相同" in body and "卡号相近" in body
    assert "13811112222" not in body and "138****2222" in body
    assert twins["elsewhere"].card_no not in body
    assert "不是同一人" in body and reverse("members:merge", args=pair(twins["card_1"], twins["card_2"])) in body


def test_specialists_see_the_list_without_merge_buttons(client, twins, staff_a):
    client.force_login(staff_a.specialist)

    body = client.get(reverse("members:duplicates")).content.decode()

    assert "卡号相近" in body
    assert "合并…" not in body and "不是同一人" not in body


def test_a_manager_dismisses_a_pair_and_it_is_gone(client, twins, staff_a):
    o = twins
    client.force_login(staff_a.manager)
    low, high = pair(o["nb_1"], o["nb_2"])

    response = client.post(reverse("members:duplicate_dismiss", args=[high, low]))

    assert response.status_code == 302
    assert DuplicateDismissal.objects.filter(first_id=low, second_id=high).exists()
    assert AuditEntry.objects.filter(action="member.duplicate.dismissed", data__members=[low, high]).exists()
    assert (low, high) not in pairs_of(staff_a.manager)


def test_the_list_costs_the_same_queries_with_many_members(
    client, twins, store_a, staff_a, django_assert_max_num_queries
):
    Member.objects.bulk_create(
        Member(
            card_no=f"Z{n:06d}",
            name=f"客{n % 150}",  # namesakes everywhere, cards sequential: none of them a pair …
            phone=f"136{n:08d}",
            phone_last4=f"{n:08d}"[-4:],
            home_store=store_a,
            joined_on=date(2024, 1, 1),
            birthday=date(1970, 1, 1 + n % 28) if n % 3 else None,
        )
        for n in range(600)
    )
    client.force_login(staff_a.manager)

    with django_assert_max_num_queries(12):
        response = client.get(reverse("members:duplicates"))

    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 30  # … except name+birthday ones, many


# --- On entry ------------------------------------------------------------------------------------


def enrol_data(**overrides):
    data = {
        "name": "陈静",
        "card_no": "A900",
        "phone": "13600009999",
        "gender": "F",
        "birthday": "1985-04-02",
        "joined_on": "2025-01-01",
    }
    data.update(overrides)
    return data


def test_enrolling_a_likely_twin_warns_naming_it_and_saves_on_confirmation(client, twins, staff_a):
    client.force_login(staff_a.specialist)

    warned = client.post(reverse("members:create"), enrol_data())
    saved = client.post(reverse("members:create"), enrol_data(confirm_duplicate="on"))

    body = warned.content.decode()
    assert warned.status_code == 200
    assert "这位会员可能已经建档" in body
    assert reverse("members:detail", args=[twins["nb_1"].pk]) in body
    assert twins["nb_1"].card_no in body
    # The store B twin is mentioned without any of its data.
    assert "另一门店已有一位会员" in body and twins["elsewhere"].card_no not in body
    assert saved.status_code == 302
    assert Member.objects.filter(card_no="A900").exists()


def test_the_warning_never_names_another_stores_member(client, twins, store_a, staff_b):
    legacy = legacy_phone(MemberFactory(home_store=store_a, name="老会员", card_no="A777"), "+8613922224444")
    client.force_login(staff_b.manager)

    response = client.post(reverse("members:create"), enrol_data(card_no="B900", name="新人", phone="13922224444"))

    body = response.content.decode()
    assert "另一门店已有一位会员：手机号相同" in body
    assert legacy.name not in body and legacy.card_no not in body
    assert reverse("members:detail", args=[legacy.pk]) not in body


def test_a_phone_in_another_spelling_is_a_warning_on_entry(client, twins, staff_a):
    legacy = legacy_phone(MemberFactory(home_store=twins["phone_1"].home_store, name="老会员"), "+8613922223333")
    client.force_login(staff_a.manager)

    response = client.post(reverse("members:create"), enrol_data(name="新人", birthday="", phone="139 2222 3333"))

    body = response.content.decode()
    assert "手机号相同" in body and reverse("members:detail", args=[legacy.pk]) in body


def test_a_store_user_sees_no_twin_data_of_another_store(twins, staff_b):
    found = entry_twins(viewer=staff_b.consultant, name="陈静", birthday=date(1985, 4, 2), phone="", card_no="")

    # Its own store's member by name; store A's two only as "another store has one", once.
    assert [(t.kind, t.member) for t in found] == [
        (DuplicateKind.NAME_BIRTHDAY, twins["elsewhere"]),
        (DuplicateKind.NAME_BIRTHDAY, None),
    ]

    found = entry_twins(viewer=staff_b.consultant, name="黄蓉", birthday=None, phone="", card_no="V0067809")

    assert [(t.kind, t.member) for t in found] == [(DuplicateKind.CARD, None)]


def test_editing_only_asks_when_what_identifies_the_profile_changes(client, twins, staff_a):
    nb_1 = twins["nb_1"]
    client.force_login(staff_a.manager)
    data = {
        "name": nb_1.name,
        "card_no": nb_1.card_no,
        "gender": "F",
        "birthday": "1985-04-02",
        "joined_on": nb_1.joined_on.isoformat(),
        "notes": "喜欢真丝",
    }

    notes_only = client.post(reverse("members:edit", args=[nb_1.pk]), data)
    renamed = client.post(reverse("members:edit", args=[twins["namesake"].pk]), {**data, "card_no": "A520"})

    assert notes_only.status_code == 302
    assert renamed.status_code == 200 and "这位会员可能已经建档" in renamed.content.decode()
