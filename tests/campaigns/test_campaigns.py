"""Campaigns (DOMAIN §9): segments, frozen audiences, invitations, results, archived summaries."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from campaigns.models import CampaignMember
from campaigns.segments import Segment, segment_members
from campaigns.selectors import campaign_results
from campaigns.services import (
    campaign_archive,
    campaign_extend,
    campaign_launch,
    campaign_preview,
    campaign_save,
    campaign_summary_save,
)
from members.models import MemberTag
from tests.factories import MemberFactory, PurchaseFactory
from visits.models import FollowUpTask, Invitation
from visits.services import invitation_advance

D = date.fromisoformat
M = Decimal


def at(day: str):
    return time_machine.travel(f"{day} 10:00 +0800", tick=False)


@pytest.fixture
def plan(store_a, staff_a):
    def make(segment=None, **fields):
        values = {
            "name": "春季私享会",
            "type": "private_viewing",
            "start_date": D("2026-03-10"),
            "end_date": D("2026-03-12"),
            "budget": M("3000"),
            "goal_invitees": 5,
            "goal_attendance": 3,
            "goal_sales": M("50000"),
        } | fields
        return campaign_save(by=staff_a.specialist, stores=[store_a], segment=segment or Segment(), **values)

    return make


def member(store, consultant=None, **kw):
    kw.setdefault("marketing_consent", True)
    kw.setdefault("joined_on", D("2025-01-01"))
    return MemberFactory(home_store=store, consultant=consultant, **kw)


def test_the_audience_never_holds_a_member_without_consent_or_from_another_store(
    plan, store_a, store_b, staff_a, staff_b
):
    yes = member(store_a, staff_a.consultant, name="同意")
    member(store_a, staff_a.consultant, name="未同意", marketing_consent=False)
    member(store_b, staff_b.consultant, name="别店")
    member(store_a, name="已删除", erased_at="2026-01-01T00:00+08:00")
    campaign = plan()
    with at("2026-03-01"):
        assert campaign_preview(campaign=campaign)[0] == 1
        assert campaign_launch(campaign=campaign, by=staff_a.specialist) == 1
    assert list(CampaignMember.objects.values_list("member__name", flat=True)) == [yes.name]


def test_a_store_cannot_plan_for_another_store(store_b, staff_a):
    with pytest.raises(ValidationError):
        campaign_save(
            by=staff_a.manager,
            stores=[store_b],
            segment=Segment(),
            name="x",
            type="holiday",
            start_date=D("2026-03-10"),
            end_date=D("2026-03-12"),
        )


def test_launching_freezes_the_audience_and_invites_through_the_consultant(plan, store_a, staff_a):
    a = member(store_a, staff_a.consultant, name="甲", tier="A")
    member(store_a, None, name="乙", tier="B")  # no consultant: the VIP specialist invites
    member(store_a, staff_a.consultant, name="丙", tier="C")
    campaign = plan(Segment(tiers=["A", "B"]))
    with at("2026-03-01"):
        campaign_launch(campaign=campaign, by=staff_a.specialist)
    frozen = dict(CampaignMember.objects.values_list("member__name", "consultant__username"))
    assert frozen == {"甲": "a_consultant", "乙": "a_specialist"}
    assert Invitation.objects.filter(purpose="春季私享会").count() == 2
    tasks = FollowUpTask.objects.filter(kind="invitation").order_by("member__name")
    assert [(t.member.name, t.assignee.username, t.due_date) for t in tasks] == [
        ("乙", "a_specialist", D("2026-03-07")),
        ("甲", "a_consultant", D("2026-03-07")),
    ]
    # Later changes to members change nothing in the launched audience.
    a.marketing_consent = False
    a.tier = "C"
    a.save()
    member(store_a, staff_a.consultant, name="新A", tier="A")
    assert set(CampaignMember.objects.values_list("member__name", flat=True)) == {"甲", "乙"}
    assert CampaignMember.objects.get(member=a).tier == "A"
    with pytest.raises(ValidationError):
        campaign_launch(campaign=campaign, by=staff_a.specialist)  # once only
    with pytest.raises(ValidationError):
        campaign_save(by=staff_a.specialist, stores=[store_a], segment=Segment(tiers=["C"]), campaign=campaign)


def test_segments_filter_by_spend_last_purchase_birthday_month_consultant_and_tags(store_a, staff_a):
    vip = MemberTag.objects.create(name="婚礼季")
    m1 = member(store_a, staff_a.consultant, name="一", birthday=D("1990-05-03"))
    m1.tags.add(vip)
    PurchaseFactory(member=m1, date=D("2026-02-01"), amount=M("12000"))
    m2 = member(store_a, None, name="二", birthday=D("1990-06-03"))
    PurchaseFactory(member=m2, date=D("2025-06-01"), amount=M("3000"))
    on = D("2026-03-01")

    def names(**kw):
        return sorted(segment_members(Segment(**kw), stores=[store_a], on=on).values_list("name", flat=True))

    assert names(spend_min=M("10000")) == ["一"]
    assert names(spend_max=M("5000")) == ["二"]  # 3,000 on 2025-06-01 is inside the 12 months
    assert names(last_purchase_to=D("2025-12-31")) == ["二"]
    assert names(birthday_month=5) == ["一"]
    assert names(consultant_id=staff_a.consultant.pk) == ["一"]
    assert names(tag_ids=[vip.pk], spend_min=M("12000")) == ["一"]


def test_results_and_attribution_on_hand_made_data(plan, store_a, store_b, staff_a):
    # Campaign 03-10..03-12, attribution 7 days: purchases dated 03-10..03-19 count.
    #   甲: 20,000 on 03-11, a return of −2,000 on 03-19 (last day) → 18,000; arrived and bought
    #   乙: 5,000 on 03-20 (one day outside) → 0; confirmed only
    #   丙: 3,000 on 03-09 (the day before) → 0; declined
    #   丁: 8,000 on 03-15 at another store → 0 (only the campaign's stores count); arrived
    # Invited 4, confirmed 2 (甲 bought, 乙 confirmed) + 丁 arrived = 3, attended 2 (甲, 丁),
    # buyers 1, sales 18,000; attendance 2/4 = 0.5; sales per invitee 4,500; cost per buyer
    # 3,000 / 1 = 3,000; goals: invitees 4/5 = 0.8, attendance 2/3 = 0.6667, sales 18,000/50,000 = 0.36.
    names = ["甲", "乙", "丙", "丁"]
    people = {n: member(store_a, staff_a.consultant, name=n) for n in names}
    campaign = plan()
    with at("2026-03-01"):
        campaign_launch(campaign=campaign, by=staff_a.specialist)
    inv = {cm.member.name: cm.invitation for cm in CampaignMember.objects.select_related("member", "invitation")}
    # The receipts first: "bought" needs a purchase in the invitation's window.
    PurchaseFactory(member=people["甲"], date=D("2026-03-11"), amount=M("20000"))
    PurchaseFactory(member=people["甲"], date=D("2026-03-19"), amount=M("-2000"))
    PurchaseFactory(member=people["乙"], date=D("2026-03-20"), amount=M("5000"))
    PurchaseFactory(member=people["丙"], date=D("2026-03-09"), amount=M("3000"))
    PurchaseFactory(member=people["丁"], store=store_b, date=D("2026-03-15"), amount=M("8000"))
    for name, steps in {
        "甲": ["confirmed", "arrived", "bought"],
        "乙": ["confirmed"],
        "丙": ["declined"],
        "丁": ["arrived"],
    }.items():
        for step in steps:
            invitation_advance(invitation=inv[name], status=step, by=staff_a.consultant)

    results = campaign_results(campaign=campaign, with_rows=True)
    t = results.total
    assert (t.invited, t.confirmed, t.attended, t.buyers, t.sales) == (4, 3, 2, 1, M("18000"))
    data = results.as_json()
    assert data["total"]["attendance_rate"] == {"numerator": 2, "denominator": 4, "rate": 0.5}
    assert data["total"]["sales_per_invitee"] == "4500.00"
    assert data["total"]["cost_per_buyer"] == "3000.00"
    assert data["window"] == {"start": "2026-03-10", "end": "2026-03-19"}
    assert [g["rate"] for g in data["goals"].values()] == [0.8, 0.6667, 0.36]
    assert {cm.member.name: amount for cm, amount in results.rows} == {
        "甲": M("18000"),
        "乙": M("0"),
        "丙": M("0"),
        "丁": M("0"),
    }
    assert [(f.label, f.invited, f.sales) for f in results.by_consultant] == [("a_consultant", 4, M("18000"))]


def test_an_archived_summary_cannot_be_changed(plan, store_a, staff_a):
    member(store_a, staff_a.consultant)
    campaign = plan()
    with at("2026-03-01"):
        campaign_launch(campaign=campaign, by=staff_a.specialist)
        with pytest.raises(ValidationError, match="结束后"):
            campaign_summary_save(campaign=campaign, by=staff_a.manager, findings="x", problems="", solutions="")
    with at("2026-03-13"):
        campaign_summary_save(
            campaign=campaign, by=staff_a.manager, findings="到场率高", problems="邀约晚", solutions="提前两周邀约"
        )
        with pytest.raises(ValidationError, match="归因期"):
            campaign_archive(campaign=campaign, by=staff_a.manager)
    with at("2026-03-20"):
        archived = campaign_archive(campaign=campaign, by=staff_a.manager)
    # One member in the audience; nobody contacted them nor moved their invitation: invited 0 of 1.
    total = archived.summary_figures["total"]
    assert archived.status == "archived" and (total["audience"], total["invited"]) == (1, 0)
    with at("2026-03-21"):
        with pytest.raises(ValidationError, match="已归档"):
            campaign_summary_save(campaign=archived, by=staff_a.manager, findings="改", problems="", solutions="")
        with pytest.raises(ValidationError, match="已归档"):
            campaign_save(by=staff_a.manager, stores=[store_a], segment=Segment(), campaign=archived, name="改名")
        with pytest.raises(ValidationError, match="已归档"):
            campaign_archive(campaign=archived, by=staff_a.manager)
    archived.refresh_from_db()
    assert (archived.findings, archived.name) == ("到场率高", "春季私享会")


def test_launch_is_set_based(plan, store_a, staff_a, django_assert_max_num_queries):
    for i in range(80):
        member(store_a, staff_a.consultant if i % 2 else None)
    campaign = plan()
    with at("2026-03-01"), django_assert_max_num_queries(25):
        assert campaign_launch(campaign=campaign, by=staff_a.specialist) == 80


def test_launch_keeps_invitations_made_by_hand_and_extending_never_invites_twice(plan, store_a, staff_a):
    # Before the launch a consultant invited 甲 by hand to the campaign (same purpose, one of its
    # days) and 乙 declined such an invitation. The launch links both to their own invitation
    # (no second invitation, no second task) and invites only 丙. Later 丁 joins; extending adds
    # 丁 only, and 乙, who declined, is never asked again. A second extension adds nobody.
    names = ["甲", "乙", "丙"]
    people = {n: member(store_a, staff_a.consultant, name=n) for n in names}
    campaign = plan()
    with at("2026-03-01"):
        by_hand = {
            "甲": Invitation.objects.create(
                member=people["甲"],
                store=store_a,
                invited_by=staff_a.consultant,
                for_date=D("2026-03-11"),
                purpose="春季私享会",
            ),
            "乙": Invitation.objects.create(
                member=people["乙"],
                store=store_a,
                invited_by=staff_a.consultant,
                for_date=D("2026-03-10"),
                purpose="春季私享会",
                status="declined",
            ),
        }
        # Another purpose, or a day outside the campaign, is another invitation: not this one.
        Invitation.objects.create(
            member=people["丙"], store=store_a, invited_by=staff_a.consultant, for_date=D("2026-03-11"), purpose="新品"
        )

        assert campaign_launch(campaign=campaign, by=staff_a.specialist) == 3

        audience = {cm.member.name: cm.invitation_id for cm in CampaignMember.objects.select_related("member")}
        assert audience["甲"] == by_hand["甲"].pk and audience["乙"] == by_hand["乙"].pk
        assert Invitation.objects.filter(purpose="春季私享会").count() == 3  # 甲's, 乙's and 丙's new one
        assert FollowUpTask.objects.filter(kind="invitation").count() == 1  # 丙's only

        people["丁"] = member(store_a, staff_a.consultant, name="丁")
        assert campaign_extend(campaign=campaign, by=staff_a.specialist) == 1
        assert campaign_extend(campaign=campaign, by=staff_a.specialist) == 0

    assert sorted(CampaignMember.objects.values_list("member__name", flat=True)) == ["丁", "丙", "乙", "甲"]
    per_member = Invitation.objects.filter(purpose="春季私享会").values_list("member__name", flat=True)
    assert sorted(per_member) == ["丁", "丙", "乙", "甲"]  # one invitation each
    assert Invitation.objects.get(member=people["乙"]).status == "declined"


def test_extending_needs_a_launched_campaign_that_has_not_ended(plan, store_a, staff_a):
    member(store_a, staff_a.consultant)
    campaign = plan()
    with at("2026-03-01"), pytest.raises(ValidationError, match="补充邀约"):
        campaign_extend(campaign=campaign, by=staff_a.specialist)  # still a draft
    with at("2026-03-01"):
        campaign_launch(campaign=campaign, by=staff_a.specialist)
    with at("2026-03-13"), pytest.raises(ValidationError, match="补充邀约"):
        campaign_extend(campaign=campaign, by=staff_a.specialist)  # ended on the 12th


def test_a_member_with_an_open_complaint_is_invited_only_once_it_is_closed(plan, store_a, staff_a):
    # No sales push to a member with an open complaint (DOMAIN §7): the launch leaves 乙 out; once
    # the complaint is closed, extending the campaign invites 乙.
    member(store_a, staff_a.consultant, name="甲")
    complaining = member(store_a, staff_a.consultant, name="乙", open_complaints=1)
    campaign = plan()
    with at("2026-03-01"):
        assert campaign_launch(campaign=campaign, by=staff_a.specialist) == 1
        complaining.open_complaints = 0
        complaining.save(update_fields=["open_complaints"])
        assert campaign_extend(campaign=campaign, by=staff_a.specialist) == 1
    assert sorted(CampaignMember.objects.values_list("member__name", flat=True)) == ["乙", "甲"]
