"""Merging two profiles of one person (DOMAIN §13, issue 11 item 5): every related record is kept,
the tier is a replay of the joined ledger, the field choices are applied, the merge is audited and
explained on the member page, the old card still finds the person, and only a manager of the
store (or HQ) may merge."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from campaigns.merge_hooks import HANDLED as CAMPAIGNS_HANDLED
from campaigns.models import CampaignMember
from campaigns.segments import Segment
from campaigns.services import campaign_save
from complaints.merge_hooks import HANDLED as COMPLAINTS_HANDLED
from complaints.services import complaint_register
from members.merging import MERGE_HANDLED, members_merge
from members.models import (
    Member,
    MemberMerge,
    MemberOwnerChange,
    MemberRelation,
    MemberTag,
    OwnerChangeReason,
    RelationKind,
    Tier,
    TierChange,
    TierChangeReason,
    TierHold,
    TransferRequest,
    TransferStatus,
)
from members.selectors import MemberFilters, member_list
from members.services import tiers_replay
from visits.merge_hooks import HANDLED as VISITS_HANDLED
from visits.models import FollowUpTask, GiftPlan, Occasion, TaskKind, TaskReason, TaskStatus, Visit
from visits.services import invitation_create, task_create

from ..factories import ImportantDateFactory, MemberFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def reverse_relations():
    """Every (model, field) pointing at Member, hidden ones (related_name="+") and the tags'
    through table included."""
    return [
        f
        for f in Member._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one)
    ]


def key(rel) -> tuple[str, str]:
    return (rel.related_model._meta.label, rel.field.name)


def test_every_relation_to_member_is_handled_by_the_merge():
    """A new foreign key to Member fails here until the merge (or a receiver of members_merging,
    declaring it in HANDLED) moves its rows."""
    handled = {**MERGE_HANDLED, **VISITS_HANDLED, **COMPLAINTS_HANDLED, **CAMPAIGNS_HANDLED}

    assert {key(rel) for rel in reverse_relations()} == set(handled)


@pytest.fixture
def pair(store_a, staff_a):
    """Two profiles of 林晓 in store A, each with rows in every table that names a member."""
    consultant, specialist = staff_a.consultant, staff_a.specialist
    survivor = MemberFactory(
        home_store=store_a,
        consultant=consultant,
        name="林晓",
        card_no="V0012345",
        phone="13800001111",
        joined_on=date(2023, 1, 1),
    )
    merged = MemberFactory(
        home_store=store_a,
        consultant=None,
        name="林 晓",
        card_no="V0012354",
        phone="13900002222",
        birthday=date(1990, 5, 6),
        notes="喜欢真丝",
        joined_on=date(2023, 6, 1),
    )
    other = MemberFactory(home_store=store_a, name="林先生")
    # The ledger: C and C apart, ¥6,000 + ¥5,000 = ¥11,000 together in the 365-day window (B ≥ ¥10,000).
    PurchaseFactory(member=survivor, date=TODAY - timedelta(days=60), amount=Decimal("6000.00"))
    PurchaseFactory(member=merged, date=TODAY - timedelta(days=30), amount=Decimal("5000.00"))
    # An old purchase of the merged profile, out of the window: counted in no tier.
    PurchaseFactory(member=merged, date=date(2023, 7, 1), amount=Decimal("800.00"))
    tiers_replay(member_ids=[survivor.pk, merged.pk])
    hold_day = date(2023, 8, 31)
    TierHold.objects.create(member=merged, date=hold_day, reason="投诉未结")
    ImportantDateFactory(member=survivor, kind="spouse_birthday", date=date(1988, 2, 2))
    ImportantDateFactory(member=merged, kind="wedding_anniversary", date=date(2015, 10, 1))
    silk, vip = MemberTag.objects.create(name="偏好真丝"), MemberTag.objects.create(name="婚礼季")
    survivor.tags.add(silk)
    merged.tags.add(silk, vip)
    for m in (survivor, merged):
        MemberOwnerChange.objects.create(
            member=m, date=m.joined_on, store=store_a, consultant=m.consultant, reason=OwnerChangeReason.ENROL
        )
    MemberRelation.objects.create(member=merged, kind=RelationKind.SPOUSE, relative=other)
    MemberRelation.objects.create(member=other, kind=RelationKind.REFERRED_BY, relative=merged)
    MemberRelation.objects.create(member=merged, kind=RelationKind.PARENT, name="林母", birthday=date(1960, 1, 1))
    # A link between the two profiles: a self-link once merged, dropped.
    MemberRelation.objects.create(member=merged, kind=RelationKind.FRIEND, relative=survivor)
    TransferRequest.objects.create(
        member=merged, from_store=store_a, to_store=staff_a_other_store(), reason="搬家", status=TransferStatus.DECLINED
    )
    for m in (survivor, merged):
        Visit.objects.create(
            member=m, store=store_a, staff=consultant, channel="phone", at=timezone.now(), outcome="已联系"
        )
    # Both have an open card with the consultant: the merged one joins the survivor's.
    task_create(member=survivor, kind=TaskKind.CARE, due_date=TODAY, origin="care:s", assignee=consultant)
    yesterday = TODAY - timedelta(days=1)
    task_create(member=merged, kind=TaskKind.MANUAL, due_date=yesterday, origin="m:1", assignee=consultant)
    task_create(member=merged, kind=TaskKind.BIRTHDAY_PREP, due_date=TODAY, origin="prep:1", assignee=specialist)
    invitation_create(member=merged, by=consultant, for_date=TODAY + timedelta(days=3), purpose="新品到店")
    GiftPlan.objects.create(
        member=merged,
        store=store_a,
        occasion=Occasion.BIRTHDAY,
        occasion_date=date(TODAY.year + 1, 5, 6),
        tier="C",
        gift="丝巾",
    )
    complaint_register(
        store=store_a, by=consultant, channel="in_store", category="alteration", description="裤长", member=merged
    )
    campaign = campaign_save(
        by=specialist,
        stores=[store_a],
        segment=Segment(),
        name="私享会",
        type="private_viewing",
        start_date=TODAY + timedelta(days=7),
        end_date=TODAY + timedelta(days=9),
    )
    CampaignMember.objects.create(campaign=campaign, member=merged, store=store_a, tier="C")
    return survivor, merged, other


def staff_a_other_store():
    from ..factories import StoreFactory

    return StoreFactory(code="GZC", name="广州店")


# Rows the merge does not keep one for one, by design: the dismissals of the merged profile, the
# merge record and owner row it adds, the derived tier changes it replays, the link between the two.
NOT_ONE_FOR_ONE = {
    ("members.DuplicateDismissal", "first"),
    ("members.DuplicateDismissal", "second"),
    ("members.MemberMerge", "survivor"),
    ("members.MemberOwnerChange", "member"),
    ("members.TierChange", "member"),
    ("members.MemberRelation", "member"),
    ("members.MemberRelation", "relative"),
    ("members.Member_tags", "member"),
}


def counts(members) -> dict[tuple[str, str], int]:
    ids = [m.pk for m in members]
    return {
        key(rel): rel.related_model._base_manager.filter(**{f"{rel.field.name}__in": ids}).count()
        for rel in reverse_relations()
    }


def test_a_merge_keeps_every_related_record(pair, staff_a):
    survivor, merged, other = pair
    before = counts([survivor, merged])

    merge = members_merge(survivor=survivor, merged=merged, choices={}, by=staff_a.manager)

    after = counts([survivor])
    for rel, n in before.items():
        if rel not in NOT_ONE_FOR_ONE:
            assert after[rel] == n, rel
    assert not Member.objects.filter(pk=merged.pk).exists()
    # Each table that had rows had something to move (the fixture is not empty anywhere).
    assert {rel for rel, n in before.items() if n} >= set(VISITS_HANDLED) | set(COMPLAINTS_HANDLED)
    assert merge.moved == {
        "purchases": 2,
        "tier_holds": 1,
        "important_dates": 1,
        "tags": 1,
        "owner_history": 1,
        "relations": 3,  # spouse, referral, the parent by name; the link between the two dropped
        "transfer_requests": 1,
        "visits": 1,
        "tasks": 2,
        "task_reasons": 3,  # the manual follow-up, the invitation's reminder, the gift preparation
        "invitations": 1,
        "gift_plans": 1,
        "complaints": 1,
        "campaigns": 1,
    }


def test_the_rows_that_are_not_one_for_one(pair, staff_a):
    survivor, merged, other = pair

    members_merge(survivor=survivor, merged=merged, choices={}, by=staff_a.manager)

    assert set(survivor.tags.values_list("name", flat=True)) == {"偏好真丝", "婚礼季"}  # the union
    assert set(MemberRelation.objects.filter(member=survivor).values_list("kind", "relative", "name")) == {
        (RelationKind.SPOUSE, other.pk, ""),
        (RelationKind.PARENT, None, "林母"),
    }
    assert MemberRelation.objects.filter(member=other, relative=survivor, kind=RelationKind.REFERRED_BY).exists()
    assert not MemberRelation.objects.filter(member=survivor, relative=survivor).exists()
    history = list(survivor.owner_history.values_list("reason", flat=True))
    assert history == [OwnerChangeReason.ENROL, OwnerChangeReason.ENROL, OwnerChangeReason.MERGE]
    # Open complaint moved: the survivor now holds it (tier kept at reviews, no sales pushes).
    survivor.refresh_from_db()
    assert survivor.open_complaints == 1


def test_the_open_cards_join_one_card_per_person(pair, staff_a):
    survivor, merged, _other = pair

    members_merge(survivor=survivor, merged=merged, choices={}, by=staff_a.manager)

    open_cards = FollowUpTask.objects.filter(member=survivor, status=TaskStatus.OPEN, is_contact=True)
    assert open_cards.count() == 1
    card = open_cards.get()
    assert card.assignee == staff_a.consultant
    origins = sorted(card.reasons.values_list("kind", flat=True))
    assert origins == [TaskKind.CARE, TaskKind.INVITATION, TaskKind.MANUAL]
    assert card.due_date == TODAY - timedelta(days=1)  # the earliest reason's
    prep = FollowUpTask.objects.get(member=survivor, kind=TaskKind.BIRTHDAY_PREP)
    # The specialist stood in for the merged profile's missing consultant: the survivor's takes over.
    assert prep.status == TaskStatus.OPEN and prep.assignee == staff_a.consultant
    assert TaskReason.objects.filter(member=survivor).count() == 4


def test_the_merged_tier_is_a_replay_of_the_joined_ledger(pair, staff_a):
    survivor, merged, _other = pair
    # Apart: ¥6,000 and ¥5,000 in the window, both C (B needs ¥10,000).
    assert (survivor.tier, merged.tier) == (Tier.C, Tier.C)

    members_merge(survivor=survivor, merged=merged, choices={"joined_on": "merged"}, by=staff_a.manager)

    # Together: ¥6,000 (60 days ago) + ¥5,000 (30 days ago) = ¥11,000 ≥ ¥10,000 → B on the day of
    # the second purchase; the ¥800 of 2023 is long out of the window. No month end since has the
    # spend below ¥10,000, so B stays.
    survivor.refresh_from_db()
    assert survivor.tier == Tier.B
    changes = list(survivor.tier_changes.values_list("date", "from_tier", "to_tier", "reason"))
    assert changes == [(TODAY - timedelta(days=30), Tier.C, Tier.B, TierChangeReason.PURCHASE)]
    # The same as replaying the joined ledger from scratch.
    TierChange.objects.filter(member=survivor).delete()
    Member.objects.filter(pk=survivor.pk).update(tier=Tier.C)
    tiers_replay(member_ids=[survivor.pk])
    assert list(survivor.tier_changes.values_list("date", "from_tier", "to_tier", "reason")) == changes


def test_manual_tier_changes_of_the_merged_profile_come_along(pair, staff_a):
    survivor, merged, _other = pair
    # Up to 10 days ago but in this month: a month end between would review the A down to B.
    manual_on = max(TODAY - timedelta(days=10), TODAY.replace(day=1))
    TierChange.objects.create(member=merged, date=manual_on, from_tier="C", to_tier="A", reason=TierChangeReason.MANUAL)

    members_merge(survivor=survivor, merged=merged, choices={}, by=staff_a.manager)

    survivor.refresh_from_db()
    # B by purchase 30 days ago, then the manager's A (an input every replay keeps).
    assert list(survivor.tier_changes.values_list("to_tier", "reason")) == [
        (Tier.B, TierChangeReason.PURCHASE),
        (Tier.A, TierChangeReason.MANUAL),
    ]
    assert survivor.tier == Tier.A


def test_field_choices_are_applied_and_the_merge_is_recorded_and_audited(pair, staff_a):
    survivor, merged, _other = pair

    merge = members_merge(
        survivor=survivor,
        merged=merged,
        choices={"phone": "merged", "birthday": "merged", "notes": "merged", "joined_on": "merged"},
        by=staff_a.manager,
    )

    survivor.refresh_from_db()
    assert survivor.name == "林晓"  # kept
    assert survivor.card_no == "V0012345"
    assert survivor.phone == "13900002222" and survivor.phone_last4 == "2222"
    assert survivor.birthday == date(1990, 5, 6)
    assert survivor.notes == "喜欢真丝"
    assert survivor.joined_on == date(2023, 6, 1)  # later than the survivor's, before any purchase
    assert survivor.consultant == staff_a.consultant
    assert merge.merged_card_no == "V0012354"
    assert merge.merged_profile["phone"] == "13900002222" and merge.merged_profile["name"] == "林 晓"
    assert merge.choices["phone"] == "merged" and merge.choices["name"] == "survivor"
    entry = AuditEntry.objects.get(action="member.merged")
    assert entry.object_id == str(survivor.pk)
    assert entry.data["merged_card"] == "V0012354"
    assert entry.data["moved"]["purchases"] == 2


def test_a_join_date_after_the_earliest_purchase_is_refused(pair, staff_a):
    survivor, merged, _other = pair
    PurchaseFactory(member=survivor, date=date(2023, 2, 1), amount=Decimal("100.00"))

    # The merged profile joined 2023-06-01; the survivor bought on 2023-02-01.
    with pytest.raises(ValidationError) as refused:
        members_merge(survivor=survivor, merged=merged, choices={"joined_on": "merged"}, by=staff_a.manager)

    assert "joined_on" in refused.value.message_dict
    assert Member.objects.filter(pk=merged.pk).exists()


def test_the_merged_card_still_finds_the_person(pair, staff_a):
    survivor, merged, _other = pair
    members_merge(survivor=survivor, merged=merged, choices={"joined_on": "merged"}, by=staff_a.manager)

    found = member_list(viewer=staff_a.consultant, filters=MemberFilters(query="v0012354"))

    assert list(found) == [survivor]


def test_a_phone_stored_before_normalisation_merges_into_the_normal_form(store_a, staff_a):
    survivor = MemberFactory(home_store=store_a, phone="13700001111")
    merged = MemberFactory(home_store=store_a)
    Member.objects.filter(pk=merged.pk).update(phone="+86 137 0000 1111")

    members_merge(survivor=survivor, merged=merged, choices={"phone": "merged"}, by=staff_a.manager)

    survivor.refresh_from_db()
    assert survivor.phone == "13700001111"


# --- Who may merge -------------------------------------------------------------------------------


def test_only_a_manager_of_the_store_or_hq_merges(pair, staff_a, staff_b, hq, store_b):
    survivor, merged, _other = pair
    for who in (staff_a.consultant, staff_a.specialist, staff_b.manager):
        with pytest.raises(PermissionDenied):
            members_merge(survivor=survivor, merged=merged, choices={}, by=who)
    elsewhere = MemberFactory(home_store=store_b)
    with pytest.raises(PermissionDenied):
        members_merge(survivor=survivor, merged=elsewhere, choices={}, by=staff_a.manager)
    with pytest.raises(ValidationError):
        members_merge(survivor=survivor, merged=survivor, choices={}, by=hq)


def test_hq_merges_across_stores_and_the_open_work_moves_to_the_survivors_store(store_a, store_b, staff_a, staff_b, hq):
    survivor = MemberFactory(home_store=store_a, consultant=staff_a.consultant)
    merged = MemberFactory(home_store=store_b, consultant=staff_b.consultant)
    task_create(member=merged, kind=TaskKind.CARE, due_date=TODAY, origin="care:b")

    members_merge(survivor=survivor, merged=merged, choices={}, by=hq)

    task = FollowUpTask.objects.get(member=survivor, origin="care:b")
    assert task.store == store_a and task.assignee == staff_a.consultant


def test_an_erased_member_is_not_merged(store_a, staff_a):
    survivor, merged = MemberFactory(home_store=store_a), MemberFactory(home_store=store_a)
    Member.objects.filter(pk=merged.pk).update(erased_at=timezone.now())
    merged.refresh_from_db()

    with pytest.raises(ValidationError):
        members_merge(survivor=survivor, merged=merged, choices={}, by=staff_a.manager)


# --- The pages -----------------------------------------------------------------------------------


def test_the_merge_page_shows_both_sides_and_merges_on_confirmation(client, pair, staff_a):
    survivor, merged, _other = pair
    client.force_login(staff_a.manager)
    url = reverse("members:merge", args=[survivor.pk, merged.pk])

    page = client.get(url)
    unconfirmed = client.post(url, {"joined_on": "merged"})
    kept = Member.objects.filter(pk=merged.pk).exists()
    done = client.post(url, {"joined_on": "merged", "notes": "merged", "confirm": "on"})

    body = page.content.decode()
    assert page.status_code == 200
    assert "13800001111" in body and "13900002222" in body  # a manager who signed sees whole numbers
    assert "消费记录：2" in body and "投诉：1" in body
    assert AuditEntry.objects.filter(action="member.phone.viewed", data__via="merge").count() == 2
    assert unconfirmed.status_code == 200 and kept
    assert "请勾选确认后再合并" in unconfirmed.content.decode()
    assert done.status_code == 302 and done["Location"] == reverse("members:detail", args=[survivor.pk])
    survivor.refresh_from_db()
    assert survivor.notes == "喜欢真丝"
    detail = client.get(done["Location"]).content.decode()
    assert "合并记录" in detail and "V0012354" in detail and "消费记录 2" in detail


def test_the_merge_page_masks_phones_without_an_agreement(client, pair, staff_a):
    survivor, merged, _other = pair
    staff_a.manager.agreements.all().delete()
    client.force_login(staff_a.manager)

    body = client.get(reverse("members:merge", args=[survivor.pk, merged.pk])).content.decode()

    assert "13800001111" not in body and "138****1111" in body


@pytest.mark.parametrize("role", ["consultant", "specialist"])
def test_consultants_and_specialists_cannot_open_the_merge_page(client, pair, staff_a, role):
    survivor, merged, _other = pair
    client.force_login(getattr(staff_a, role))

    response = client.post(reverse("members:merge", args=[survivor.pk, merged.pk]), {"confirm": "on"})

    assert response.status_code == 403
    assert MemberMerge.objects.count() == 0


def test_another_stores_manager_gets_a_404(client, pair, staff_b):
    survivor, merged, _other = pair
    client.force_login(staff_b.manager)

    response = client.post(reverse("members:merge", args=[survivor.pk, merged.pk]), {"confirm": "on"})

    assert response.status_code == 404
    assert Member.objects.filter(pk=merged.pk).exists()


def test_erasing_the_survivor_forgets_the_merged_profile(pair, staff_a):
    from members.services import member_erase

    survivor, merged, _other = pair
    members_merge(survivor=survivor, merged=merged, choices={"joined_on": "merged"}, by=staff_a.manager)

    member_erase(member=survivor, by=staff_a.manager)

    merge = MemberMerge.objects.get()
    assert merge.merged_profile == {"card_no": "V0012354", "erased": True}


def test_what_both_profiles_have_is_kept_once(store_a, staff_a):
    """The same birthday greeting reason, the same gift plan, the same campaign place on both: one
    stays (the gift further along), and nothing breaks a uniqueness rule."""
    birthday = date(1990, 5, 6)
    survivor = MemberFactory(home_store=store_a, consultant=staff_a.consultant, birthday=birthday)
    merged = MemberFactory(home_store=store_a, consultant=staff_a.consultant, birthday=birthday)
    for m in (survivor, merged):
        task_create(member=m, kind=TaskKind.BIRTHDAY, due_date=TODAY, origin="birthday:2026")
    next_birthday = date(TODAY.year + 1, 5, 6)
    plans = {
        m.pk: GiftPlan.objects.create(
            member=m, store=store_a, occasion=Occasion.BIRTHDAY, occasion_date=next_birthday, tier="C", gift="丝巾"
        )
        for m in (survivor, merged)
    }
    GiftPlan.objects.filter(pk=plans[merged.pk].pk).update(status="prepared")
    campaign = campaign_save(
        by=staff_a.specialist,
        stores=[store_a],
        segment=Segment(),
        name="生日月",
        type="birthday_month",
        start_date=TODAY + timedelta(days=7),
        end_date=TODAY + timedelta(days=9),
    )
    invitation = invitation_create(
        member=merged, by=staff_a.consultant, for_date=TODAY + timedelta(days=8), purpose="生日月"
    )
    CampaignMember.objects.create(campaign=campaign, member=survivor, store=store_a, tier="C")
    CampaignMember.objects.create(campaign=campaign, member=merged, store=store_a, tier="C", invitation=invitation)

    members_merge(survivor=survivor, merged=merged, choices={}, by=staff_a.manager)

    assert TaskReason.objects.filter(member=survivor, kind=TaskKind.BIRTHDAY).count() == 1
    assert FollowUpTask.objects.filter(member=survivor, status=TaskStatus.OPEN, is_contact=True).count() == 1
    gift = GiftPlan.objects.get(member=survivor)
    assert gift.pk == plans[merged.pk].pk and gift.status == "prepared"  # the one further along
    place = CampaignMember.objects.get(campaign=campaign)
    assert place.member == survivor and place.invitation == invitation
