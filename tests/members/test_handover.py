"""Hand-over and the owner history (DOMAIN §13 "Owner", issue 11 item 1).

The must-show: a consultant leaves with 65 members (10 A, 20 B, 35 C) and 12 open care cards on
them; the hand-over moves all 65 and the 12 cards, each member gets an owner-history row with the
note, and once the account is switched off the person holds no open task, today or after the next
daily generation.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, Role
from accounts.services import staff_deactivate
from members.models import Member, MemberOwnerChange, OwnerChangeReason, Tier
from members.ownership import _Row, can_hand_over, deal, members_assign, members_hand_over
from tests.factories import MemberFactory, StaffFactory
from visits.generation import tasks_generate
from visits.models import FollowUpTask, TaskKind, TaskReason, TaskStatus
from visits.services import task_create, task_reassign

NOTE = "王敏离职，会员交接"


def open_tasks(**filters):
    return FollowUpTask.objects.filter(status=TaskStatus.OPEN, **filters)


@pytest.fixture
def leaver(store_a):
    return StaffFactory(username="a_leaver", role=Role.CONSULTANT, store=store_a, display_name="王敏")


@pytest.fixture
def colleagues(store_a):
    return [
        StaffFactory(username=f"a_colleague{i}", role=Role.CONSULTANT, store=store_a, display_name=name)
        for i, name in enumerate(["李娜", "陈静", "赵雪"])
    ]


@pytest.fixture
def book(leaver, store_a):
    """The leaver's 65 members (10 A, 20 B, 35 C) and 12 open care cards on the first twelve."""
    tiers = [Tier.A] * 10 + [Tier.B] * 20 + [Tier.C] * 35
    members = [MemberFactory(home_store=store_a, consultant=leaver, tier=tier) for tier in tiers]
    today = timezone.localdate()
    for i, member in enumerate(members[:12]):
        task_create(member=member, kind=TaskKind.CARE, due_date=today - timedelta(days=i), origin=f"care:{i}")
    assert open_tasks(assignee=leaver).count() == 12
    return members


def test_it_hands_65_members_and_their_12_open_tasks_to_one_person(book, leaver, colleagues, staff_a):
    receiver = colleagues[0]

    result = members_hand_over(from_consultant=leaver, to=[receiver], spread=False, note=NOTE, by=staff_a.specialist)

    assert (result.members, result.tasks) == (65, 12)
    assert Member.objects.filter(consultant=receiver).count() == 65
    assert not Member.objects.filter(consultant=leaver).exists()
    assert not open_tasks(assignee=leaver).exists()
    assert open_tasks(assignee=receiver).count() == 12
    history = MemberOwnerChange.objects.filter(reason=OwnerChangeReason.HANDOVER)
    assert history.count() == 65
    assert set(history.values_list("member_id", flat=True)) == {m.pk for m in book}
    assert set(history.values_list("previous_consultant_id", "consultant_id", "note", "by_id")) == {
        (leaver.pk, receiver.pk, NOTE, staff_a.specialist.pk)
    }
    entry = AuditEntry.objects.get(action="member.handed_over")
    assert (entry.data["members"], entry.data["tasks"]) == (65, 12)


def test_it_spreads_evenly_with_a_fair_mix_of_tiers(book, leaver, colleagues, staff_a):
    result = members_hand_over(from_consultant=leaver, to=colleagues, spread=True, note=NOTE, by=staff_a.manager)

    counts = Counter(Member.objects.filter(consultant__in=colleagues).values_list("consultant_id", flat=True))
    # 65 = 22 + 22 + 21
    assert sorted(counts.values()) == [21, 22, 22]
    assert sorted(n for _person, n in result.shares) == [21, 22, 22]
    for tier in Tier.values:
        per_person = Counter(
            Member.objects.filter(consultant__in=colleagues, tier=tier).values_list("consultant_id", flat=True)
        )
        assert len(per_person) == 3
        assert max(per_person.values()) - min(per_person.values()) <= 1, tier
    # Each open task is with its member's new consultant.
    moved = open_tasks(member__in=book)
    assert moved.count() == 12
    assert all(t.assignee_id == t.member.consultant_id for t in moved.select_related("member"))


def test_it_deals_the_same_way_whatever_the_order_it_reads_them(store_a, colleagues):
    rows = [
        _Row(pk, tier, Decimal(spend))
        for pk, tier, spend in [(1, "C", 0), (2, "A", 900), (3, "A", 5000), (4, "B", 0), (5, "C", 80)]
    ]

    first = deal(rows, colleagues)
    again = deal(list(reversed(rows)), colleagues)

    assert first == again
    # Most valuable first: 3 (A ¥5000), 2 (A ¥900), 4 (B), 5 (C ¥80), 1 (C ¥0). Five members for
    # three people is one full round (odd): it runs backwards, the last one forwards from the
    # lightest, colleagues[0]: c2 3, c1 2, c0 4 | c0 5, c1 1.
    assert first == {colleagues[0].pk: [4, 5], colleagues[1].pk: [2, 1], colleagues[2].pk: [3]}


def test_it_gives_the_lighter_colleague_the_larger_share(store_a, staff_a, colleagues, leaver):
    busy, light = colleagues[:2]
    MemberFactory.create_batch(5, home_store=store_a, consultant=busy)
    MemberFactory.create_batch(3, home_store=store_a, consultant=leaver)

    members_hand_over(from_consultant=leaver, to=[busy, light], spread=True, note=NOTE, by=staff_a.manager)

    # Three members, two people: the one with fewer members gets two of them.
    assert Member.objects.filter(consultant=light).count() == 2
    assert Member.objects.filter(consultant=busy).count() == 5 + 1


def test_it_hands_over_only_the_chosen_members(book, leaver, colleagues, staff_a):
    chosen = [m.pk for m in book[:5]]

    result = members_hand_over(
        from_consultant=leaver, to=[colleagues[0]], spread=False, note=NOTE, by=staff_a.specialist, member_ids=chosen
    )

    assert (result.members, result.tasks) == (5, 5)
    assert set(Member.objects.filter(consultant=colleagues[0]).values_list("pk", flat=True)) == set(chosen)
    assert Member.objects.filter(consultant=leaver).count() == 60
    assert open_tasks(assignee=leaver).count() == 7


def test_a_card_joins_the_receivers_open_card_for_the_member(book, leaver, colleagues, staff_a):
    receiver = colleagues[0]
    member = book[0]
    own_card, _new = task_create(
        member=member,
        kind=TaskKind.MANUAL,
        due_date=timezone.localdate() + timedelta(days=3),
        origin="r",
        assignee=receiver,
    )
    leavers_card = open_tasks(member=member, assignee=leaver).get()

    members_hand_over(from_consultant=leaver, to=[receiver], spread=False, note=NOTE, by=staff_a.specialist)

    leavers_card.refresh_from_db()
    assert leavers_card.status == TaskStatus.CANCELLED
    card = open_tasks(member=member).get()
    assert card.pk == own_card.pk
    assert set(TaskReason.objects.filter(task=card).values_list("kind", flat=True)) == {TaskKind.CARE, TaskKind.MANUAL}
    assert card.due_date == leavers_card.due_date  # the earlier of the two


def test_tasks_held_by_others_stay(book, leaver, colleagues, staff_a):
    specialist = staff_a.specialist
    today = timezone.localdate()
    escalated, _new = task_create(
        member=book[20], kind=TaskKind.MANUAL, due_date=today, origin="escalated", assignee=specialist
    )
    revisit, _new = task_create(
        member=book[21], kind=TaskKind.COMPLAINT_REVISIT, due_date=today, origin="complaint:1:0", assignee=specialist
    )

    members_hand_over(from_consultant=leaver, to=[colleagues[0]], spread=False, note=NOTE, by=specialist)

    assert set(open_tasks(assignee=specialist).values_list("pk", flat=True)) == {escalated.pk, revisit.pk}


def test_deactivation_waits_for_the_hand_over_then_leaves_no_open_task(book, leaver, colleagues, staff_a, store_a):
    # The leaver also holds a card on a colleague's member (a task passed to them).
    other_member = MemberFactory(home_store=store_a, consultant=colleagues[1])
    passed, _new = task_create(
        member=other_member, kind=TaskKind.MANUAL, due_date=timezone.localdate(), origin="passed", assignee=leaver
    )
    with pytest.raises(ValidationError) as refused:
        staff_deactivate(staff=leaver, by=staff_a.manager)
    assert refused.value.code == "owns_members"

    result = members_hand_over(
        from_consultant=leaver, to=colleagues[:2], spread=True, note=NOTE, by=staff_a.manager, deactivate=True
    )

    leaver.refresh_from_db()
    assert result.deactivated and not leaver.is_active
    assert not open_tasks(assignee=leaver).exists()
    passed.refresh_from_db()
    assert passed.assignee_id == staff_a.specialist.pk  # the store's fallback


def test_the_next_daily_generation_gives_a_deactivated_person_nothing(book, leaver, colleagues, staff_a, store_a):
    members_hand_over(
        from_consultant=leaver, to=[colleagues[0]], spread=False, note=NOTE, by=staff_a.manager, deactivate=True
    )
    # An account switched off before hand-overs existed, still named on a member.
    ghost = StaffFactory(username="a_ghost", role=Role.CONSULTANT, store=store_a, is_active=False)
    MemberFactory(home_store=store_a, consultant=ghost, tier=Tier.A)

    counts = tasks_generate(store=store_a, on=timezone.localdate())

    assert sum(v for k, v in counts.items() if k != "gift_plans") > 0  # members joined 2024: care is due
    assert not open_tasks(assignee__is_active=False).exists()
    assert not open_tasks(assignee__in=[leaver, ghost]).exists()


def test_task_reassign_refuses_a_deactivated_person(book, leaver, colleagues, staff_a):
    members_hand_over(
        from_consultant=leaver, to=[colleagues[0]], spread=False, note=NOTE, by=staff_a.manager, deactivate=True
    )
    task = open_tasks(assignee=colleagues[0]).first()
    leaver.refresh_from_db()

    with pytest.raises(ValidationError):
        task_reassign(task=task, assignee=leaver, by=staff_a.manager)


def test_a_hand_over_from_an_account_already_switched_off_empties_it(store_a, staff_a, colleagues):
    ghost = StaffFactory(username="a_ghost", role=Role.CONSULTANT, store=store_a)
    own = MemberFactory(home_store=store_a, consultant=ghost)
    elsewhere = MemberFactory(home_store=store_a, consultant=colleagues[1])
    today = timezone.localdate()
    task_create(member=own, kind=TaskKind.CARE, due_date=today, origin="care:own")
    stray, _new = task_create(member=elsewhere, kind=TaskKind.MANUAL, due_date=today, origin="stray", assignee=ghost)
    type(ghost).objects.filter(pk=ghost.pk).update(is_active=False)
    ghost.refresh_from_db()

    result = members_hand_over(from_consultant=ghost, to=[colleagues[0]], spread=False, note=NOTE, by=staff_a.manager)

    assert (result.members, result.tasks) == (1, 1)
    assert not open_tasks(assignee=ghost).exists()
    stray.refresh_from_db()
    assert stray.assignee_id == staff_a.specialist.pk


def test_unassigning_sends_the_tasks_to_the_fallback_and_assigning_brings_them_back(store_a, staff_a, colleagues):
    consultant = colleagues[0]
    member = MemberFactory(home_store=store_a, consultant=consultant)
    today = timezone.localdate()
    card, _new = task_create(member=member, kind=TaskKind.CARE, due_date=today, origin="care:1")
    revisit, _new = task_create(
        member=member,
        kind=TaskKind.COMPLAINT_REVISIT,
        due_date=today,
        origin="complaint:9:0",
        assignee=staff_a.specialist,
    )

    members_assign(member_ids=[member.pk], consultant=None, by=staff_a.manager)
    card.refresh_from_db()
    assert card.assignee_id == staff_a.specialist.pk

    members_assign(member_ids=[member.pk], consultant=colleagues[1], by=staff_a.manager)
    card.refresh_from_db()
    revisit.refresh_from_db()
    assert card.assignee_id == colleagues[1].pk  # the fallback was only covering
    assert revisit.assignee_id == staff_a.specialist.pk  # the complaint's own


@pytest.mark.parametrize(
    ("to", "spread", "note", "field"),
    [
        (lambda s: [], False, NOTE, "to"),
        (lambda s: [s.leaver], False, NOTE, "to"),
        (lambda s: [s.inactive], False, NOTE, "to"),
        (lambda s: [s.elsewhere], False, NOTE, "to"),
        (lambda s: s.colleagues[:2], False, NOTE, "to"),
        (lambda s: s.colleagues[:1], False, "   ", "note"),
    ],
    ids=["nobody", "same person", "inactive", "another store", "two without spread", "no note"],
)
def test_it_refuses_bad_input_and_changes_nothing(
    book, leaver, colleagues, staff_a, staff_b, store_a, to, spread, note, field
):
    inactive = StaffFactory(username="a_gone", role=Role.CONSULTANT, store=store_a, is_active=False)
    people = SimpleNamespace(leaver=leaver, inactive=inactive, elsewhere=staff_b.consultant, colleagues=colleagues)

    with pytest.raises(ValidationError) as error:
        members_hand_over(from_consultant=leaver, to=to(people), spread=spread, note=note, by=staff_a.manager)

    assert field in error.value.message_dict
    assert Member.objects.filter(consultant=leaver).count() == 65
    assert not MemberOwnerChange.objects.exists()
    assert open_tasks(assignee=leaver).count() == 12


def test_it_refuses_members_no_longer_the_givers(book, leaver, colleagues, staff_a, member_a):
    with pytest.raises(ValidationError) as error:
        members_hand_over(
            from_consultant=leaver,
            to=[colleagues[0]],
            spread=False,
            note=NOTE,
            by=staff_a.manager,
            member_ids=[book[0].pk, member_a.pk],
        )
    assert "members" in error.value.message_dict
    assert not MemberOwnerChange.objects.exists()


def test_deactivating_after_a_partial_hand_over_is_refused_and_undoes_it(book, leaver, colleagues, staff_a):
    with pytest.raises(ValidationError) as error:
        members_hand_over(
            from_consultant=leaver,
            to=[colleagues[0]],
            spread=False,
            note=NOTE,
            by=staff_a.manager,
            member_ids=[m.pk for m in book[:10]],
            deactivate=True,
        )

    assert error.value.code == "owns_members"
    leaver.refresh_from_db()
    assert leaver.is_active
    assert Member.objects.filter(consultant=leaver).count() == 65
    assert open_tasks(assignee=leaver).count() == 12
    assert not MemberOwnerChange.objects.exists()


def test_a_specialist_may_hand_over_but_not_deactivate(book, leaver, colleagues, staff_a):
    with pytest.raises(ValidationError) as error:
        members_hand_over(
            from_consultant=leaver, to=[colleagues[0]], spread=False, note=NOTE, by=staff_a.specialist, deactivate=True
        )
    assert "deactivate" in error.value.message_dict
    assert Member.objects.filter(consultant=leaver).count() == 65


def test_another_store_may_not_hand_over(book, leaver, colleagues, staff_a, staff_b, hq, store_a):
    assert can_hand_over(staff_a.specialist, store_a) and can_hand_over(hq, store_a)
    assert not can_hand_over(staff_b.manager, store_a) and not can_hand_over(staff_a.consultant, store_a)
    with pytest.raises(PermissionDenied):
        members_hand_over(from_consultant=leaver, to=[colleagues[0]], spread=False, note=NOTE, by=staff_b.manager)
    assert Member.objects.filter(consultant=leaver).count() == 65


# --- Pages -----------------------------------------------------------------------------------


def test_the_page_hands_over_and_reports_what_moved(client, book, leaver, colleagues, staff_a):
    client.force_login(staff_a.manager)
    url = reverse("members:handover")

    response = client.post(
        f"{url}?from={leaver.pk}",
        {"from": leaver.pk, "to": [colleagues[0].pk], "mode": "one", "note": NOTE, "deactivate": "on"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("members:ownership")
    assert "65 位会员、12 个待办已交接给 李娜。" in response.content.decode()
    leaver.refresh_from_db()
    assert not leaver.is_active
    assert Member.objects.filter(consultant=colleagues[0]).count() == 65


def test_the_page_shows_errors_and_keeps_the_input(client, book, leaver, colleagues, staff_a):
    client.force_login(staff_a.specialist)

    response = client.post(
        reverse("members:handover"),
        {"from": leaver.pk, "to": [colleagues[0].pk, colleagues[1].pk], "mode": "one", "note": NOTE},
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "交给一人时只能选择一位接收人" in page
    assert NOTE in page
    assert Member.objects.filter(consultant=leaver).count() == 65


def test_the_page_shows_load_and_tiers_in_a_constant_number_of_queries(
    client, book, leaver, colleagues, staff_a, django_assert_max_num_queries
):
    client.force_login(staff_a.manager)
    url = f"{reverse('members:handover')}?from={leaver.pk}"

    client.get(reverse("members:ownership"))  # the session's first request reads more
    with django_assert_max_num_queries(11):
        response = client.get(url)

    page = response.content.decode()
    assert "A 级 10" in page and "B 级 20" in page and "C 级 35" in page
    assert "李娜" in page and "0 个待办" in page
    assert page.count('name="members"') == 65


def test_the_hub_lists_everyone_with_load(client, book, leaver, staff_a, django_assert_max_num_queries):
    client.force_login(staff_a.specialist)

    client.get(reverse("members:handover"))  # the session's first request reads more
    with django_assert_max_num_queries(8):
        response = client.get(reverse("members:ownership"))

    page = response.content.decode()
    assert f"?from={leaver.pk}" in page
    assert reverse("members:handover") in page


def test_the_hub_counts_members_whose_consultant_is_switched_off(client, store_a, staff_a, staff_b):
    ghost = StaffFactory(username="a_ghost", role=Role.CONSULTANT, store=store_a, is_active=False)
    MemberFactory.create_batch(2, home_store=store_a, consultant=ghost)
    MemberFactory(home_store=store_a, consultant=None)
    client.force_login(staff_a.manager)

    page = client.get(reverse("members:ownership")).content.decode()

    assert "2 位待交接" in page
    assert f"?from={ghost.pk}" in page
    client.force_login(staff_b.manager)
    assert "待交接" not in client.get(reverse("members:ownership")).content.decode()


def test_an_outsider_cannot_open_another_stores_person(client, leaver, staff_b):
    client.force_login(staff_b.manager)

    assert client.get(reverse("members:handover"), {"from": leaver.pk}).status_code == 404
    assert client.get(reverse("members:handover"), {"from": "x"}).status_code == 404


def test_the_member_page_shows_the_owner_history_in_constant_queries(client, store_a, staff_a, colleagues):
    member = MemberFactory(home_store=store_a, consultant=colleagues[0])
    client.force_login(staff_a.manager)
    url = reverse("members:detail", args=[member.pk])
    members_assign(member_ids=[member.pk], consultant=colleagues[1], by=staff_a.manager, note="会员要求")
    client.get(url)  # the session's first request reads more
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for receiver in [colleagues[2], colleagues[0], colleagues[1]]:
        members_hand_over(
            from_consultant=Member.objects.get(pk=member.pk).consultant,
            to=[receiver],
            spread=False,
            note=NOTE,
            by=staff_a.manager,
        )

    with CaptureQueriesContext(connection) as four:
        response = client.get(url)

    assert len(four) == len(one)
    page = response.content.decode()
    assert "归属记录" in page and page.count(NOTE) == 3 and "会员要求" in page
    assert "交接" in page and "陈静" in page
