"""A relative's birthday reminds the member's consultant, with the relation named (issue 11 item 6)."""

from datetime import date

import pytest

from members.dates import next_occurrence
from members.models import ImportantDateKind, RelationKind, Tier
from members.relations import relation_add
from members.services import member_erase
from tests.factories import ImportantDateFactory, MemberFactory
from visits.generation import tasks_generate
from visits.models import FollowUpTask, GiftPlan, Occasion, TaskKind, TaskReason, TaskStatus

D = date.fromisoformat


@pytest.fixture
def wife(store_a, staff_a):
    return MemberFactory(home_store=store_a, consultant=staff_a.consultant, name="张丽", phone="13812345678")


@pytest.fixture
def husband(store_a, staff_a):
    """A member of the same store with another consultant (the specialist serves him)."""
    return MemberFactory(
        home_store=store_a, consultant=staff_a.specialist, name="王强", phone="13700001111", birthday=D("1985-12-10")
    )


def greetings(**filters):
    """(member, assignee, note, due) of the occasion reasons on file."""
    rows = TaskReason.objects.filter(kind=TaskKind.OCCASION, **filters)
    return sorted(rows.values_list("member__name", "task__assignee__username", "note", "due_date"))


def test_a_spouses_birthday_reminds_the_members_consultant(store_a, wife, husband):
    relation_add(member=wife, kind=RelationKind.SPOUSE, relative=husband, by=None)

    tasks_generate(store=store_a, on=D("2026-12-09"))
    assert greetings() == []  # not the day yet
    tasks_generate(store=store_a, on=D("2026-12-10"))

    # His birthday: her consultant greets him through her (the relation named); his own consultant
    # has his birthday greeting as usual.
    assert greetings() == [("张丽", "a_consultant", "配偶 王强 生日", D("2026-12-10"))]
    assert TaskReason.objects.filter(kind=TaskKind.BIRTHDAY, member=husband, task__assignee__username="a_specialist")


def test_a_non_member_childs_lunar_birthday_comes_on_its_lunar_day(store_a, wife):
    relation_add(
        member=wife, kind=RelationKind.CHILD, name="小明", birthday=D("2016-02-15"), birthday_lunar=True, by=None
    )
    day = next_occurrence(D("2016-02-15"), lunar=True, on_or_after=D("2026-01-01"))
    assert day != D("2026-02-15")  # the lunar occurrence, not the solar one

    tasks_generate(store=store_a, on=D("2026-02-15"))
    tasks_generate(store=store_a, on=day)

    assert greetings() == [("张丽", "a_consultant", "子女 小明 生日", day)]


def test_generating_a_day_twice_makes_nothing_new(store_a, wife, husband):
    relation_add(member=wife, kind=RelationKind.SPOUSE, relative=husband, by=None)
    relation_add(member=wife, kind=RelationKind.PARENT, name="李秀兰", birthday=D("1960-12-10"), by=None)

    first = tasks_generate(store=store_a, on=D("2026-12-10"))
    again = tasks_generate(store=store_a, on=D("2026-12-10"))

    assert first["occasion"] == 2  # her husband's birthday and her mother's, both on her card
    assert again["occasion"] == 0
    assert TaskReason.objects.filter(origin__startswith="relation:").count() == 2


def test_one_card_per_member_when_her_own_birthday_is_the_same_day(store_a, wife):
    wife.birthday = D("1988-12-10")
    wife.save()
    relation_add(member=wife, kind=RelationKind.CHILD, name="小明", birthday=D("2016-12-10"), by=None)

    tasks_generate(store=store_a, on=D("2026-12-10"))

    card = FollowUpTask.objects.get(member=wife, status=TaskStatus.OPEN, is_contact=True)
    kinds = sorted(card.reasons.values_list("kind", "note"))
    assert (TaskKind.BIRTHDAY, "") in kinds and (TaskKind.OCCASION, "子女 小明 生日") in kinds


def test_tier_a_and_b_prepare_a_gift_a_week_before(store_a, wife):
    wife.tier = Tier.A
    wife.save()
    relation_add(member=wife, kind=RelationKind.CHILD, name="小明", birthday=D("2016-12-10"), by=None)

    tasks_generate(store=store_a, on=D("2026-12-03"))  # lead 7 days

    prep = TaskReason.objects.get(kind=TaskKind.BIRTHDAY_PREP, member=wife)
    assert (prep.note, prep.due_date) == ("准备：子女 小明 生日 2026-12-10", D("2026-12-03"))
    plan = GiftPlan.objects.get(member=wife)
    assert (plan.occasion, plan.occasion_date, plan.label) == (Occasion.FAMILY, D("2026-12-10"), "子女 小明 生日")


def test_the_wedding_anniversary_names_the_spouse(store_a, wife, husband):
    relation_add(member=wife, kind=RelationKind.SPOUSE, relative=husband, by=None)
    ImportantDateFactory(member=wife, kind=ImportantDateKind.WEDDING_ANNIVERSARY, date=D("2012-10-01"))

    tasks_generate(store=store_a, on=D("2026-10-01"))

    assert greetings(origin__startswith="occasion:") == [
        ("张丽", "a_consultant", "结婚纪念日（配偶 王强）", D("2026-10-01"))
    ]


def test_erasing_the_member_scrubs_the_relatives_name_from_her_cards(store_a, staff_a, wife):
    relation_add(member=wife, kind=RelationKind.CHILD, name="王小明", birthday=D("2016-12-10"), by=None)
    tasks_generate(store=store_a, on=D("2026-12-10"))
    assert greetings()[0][2] == "子女 王小明 生日"

    member_erase(member=wife, by=staff_a.manager)

    assert not TaskReason.objects.filter(note__contains="王小明").exists()
    assert not FollowUpTask.objects.filter(note__contains="王小明").exists()


def test_erasing_the_spouse_takes_his_name_off_her_greeting(store_a, staff_a, wife, husband):
    relation_add(member=wife, kind=RelationKind.SPOUSE, relative=husband, by=None)
    tasks_generate(store=store_a, on=D("2026-12-10"))
    assert [note for *_, note, _due in greetings(member=wife)] == ["配偶 王强 生日"]

    member_erase(member=husband, by=staff_a.manager)

    notes = list(TaskReason.objects.filter(member=wife).values_list("note", flat=True))
    notes += list(FollowUpTask.objects.filter(member=wife).values_list("note", flat=True))
    assert notes and not any("王强" in note for note in notes)
