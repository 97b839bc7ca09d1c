"""The campaign pages (issue 5 item 5): list and calendar, plan, preview, launch, results, summary.

Who may open which page is in tests/test_permissions.py; here, what the pages do.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from accounts.models import Role
from campaigns.models import Campaign, CampaignMember
from campaigns.segments import Segment
from campaigns.services import campaign_archive, campaign_launch, campaign_save, campaign_summary_save
from tests.factories import MemberFactory, PurchaseFactory, StaffFactory, StoreFactory
from visits.models import Invitation
from visits.services import invitation_advance

D = date.fromisoformat
M = Decimal


def at(day: str):
    return time_machine.travel(f"{day} 10:00 +0800", tick=False)


def member(store, consultant=None, **kw):
    kw.setdefault("marketing_consent", True)
    kw.setdefault("joined_on", D("2025-01-01"))
    return MemberFactory(home_store=store, consultant=consultant, **kw)


def plan_data(**overrides):
    return {
        "name": "春季私享会",
        "type": "private_viewing",
        "start_date": "2026-03-10",
        "end_date": "2026-03-12",
        "attribution_days": "7",
        "budget": "3000",
        "goal_invitees": "5",
        "goal_attendance": "3",
        "goal_sales": "50000",
    } | overrides


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


def advance(campaign, steps: dict[str, list[str]], by):
    invitations = {
        cm.member.name: cm.invitation
        for cm in CampaignMember.objects.filter(campaign=campaign).select_related("member", "invitation")
    }
    for name, statuses in steps.items():
        for status in statuses:
            invitation_advance(invitation=invitations[name], status=status, by=by)


# --- Create and edit -------------------------------------------------------------------------


def test_it_shows_a_bad_date_range_and_saves_nothing(client, staff_a):
    client.force_login(staff_a.specialist)

    with at("2026-03-01"):
        response = client.post(
            reverse("campaigns:create"), plan_data(start_date="2026-03-12", end_date="2026-03-10", tiers=["A"])
        )

    assert response.status_code == 200
    assert response.context["form"].errors["end_date"] == ["结束日期须不早于开始日期。"]
    assert "结束日期须不早于开始日期。" in response.content.decode()
    assert not Campaign.objects.exists()


def test_it_creates_a_draft_for_the_planners_own_store_with_its_segment(client, store_a, store_b, staff_a):
    client.force_login(staff_a.specialist)

    with at("2026-03-01"):
        # A store's specialist cannot pick stores: a `stores` sent by hand is ignored.
        response = client.post(
            reverse("campaigns:create"),
            plan_data(stores=[store_b.pk], tiers=["A", "B"], spend_min="10000", birthday_month="5"),
        )

    campaign = Campaign.objects.get()
    assert response["Location"] == reverse("campaigns:preview", args=[campaign.pk])
    assert list(campaign.stores.all()) == [store_a]
    assert (campaign.status, campaign.created_by) == ("draft", staff_a.specialist)
    assert Segment.from_json(campaign.segment) == Segment(tiers=["A", "B"], spend_min=M("10000"), birthday_month=5)


def test_it_lets_hq_plan_across_stores_and_asks_for_one(client, hq, store_a, store_b):
    client.force_login(hq)

    with at("2026-03-01"):
        none_picked = client.post(reverse("campaigns:create"), plan_data())
        both = client.post(reverse("campaigns:create"), plan_data(stores=[store_a.pk, store_b.pk]))

    assert none_picked.context["form"].errors["stores"] == ["请至少选择一家门店。"]
    assert both.status_code == 302
    assert set(Campaign.objects.get().stores.all()) == {store_a, store_b}


def test_it_says_marketing_consent_is_always_required_on_the_form(client, staff_a):
    client.force_login(staff_a.specialist)

    page = client.get(reverse("campaigns:create")).content.decode()

    assert "名单只包含已同意营销的会员，这一条件始终生效" in page


def test_it_keeps_stores_and_segment_read_only_once_launched(client, plan, store_a, staff_a):
    member(store_a, staff_a.consultant, tier="A")
    campaign = plan(Segment(tiers=["A"]))
    client.force_login(staff_a.manager)
    with at("2026-03-01"):
        campaign_launch(campaign=campaign, by=staff_a.specialist)
        page = client.get(reverse("campaigns:edit", args=[campaign.pk]))
        # Sent anyway (a hand-made request): disabled fields keep their values; the plan changes.
        response = client.post(
            reverse("campaigns:edit", args=[campaign.pk]), plan_data(name="春季私享会（加场）", tiers=["C"])
        )

    assert page.context["form"].fields["tiers"].disabled
    assert "名单已冻结" in page.content.decode()
    assert response["Location"] == reverse("campaigns:results", args=[campaign.pk])
    campaign.refresh_from_db()
    assert (campaign.name, campaign.segment["tiers"]) == ("春季私享会（加场）", ["A"])


def test_it_does_not_let_a_store_edit_an_hq_campaign_across_stores(client, hq, store_a, store_b, staff_a):
    campaign = campaign_save(
        by=hq,
        stores=[store_a, store_b],
        segment=Segment(),
        name="全国周年庆",
        type="holiday",
        start_date=D("2026-03-10"),
        end_date=D("2026-03-12"),
    )
    client.force_login(staff_a.manager)

    assert client.get(reverse("campaigns:results", args=[campaign.pk])).status_code == 200
    assert client.get(reverse("campaigns:edit", args=[campaign.pk])).status_code == 403
    assert client.post(reverse("campaigns:launch", args=[campaign.pk])).status_code == 403


# --- Preview and launch ----------------------------------------------------------------------


def test_it_previews_a_count_that_leaves_out_members_without_consent(client, plan, store_a, store_b, staff_a):
    for n in range(3):
        member(store_a, staff_a.consultant, name=f"同意{n}", phone=f"1380000000{n}")
    member(store_a, staff_a.consultant, name="未同意甲", marketing_consent=False)
    member(store_a, None, name="未同意乙", marketing_consent=False)
    member(store_b, None, name="别店")
    campaign = plan()
    client.force_login(staff_a.specialist)

    with at("2026-03-01"):
        response = client.get(reverse("campaigns:preview", args=[campaign.pk]))

    page = response.content.decode()
    assert response.context["count"] == 3
    assert sorted(m.name for m in response.context["sample"]) == ["同意0", "同意1", "同意2"]
    assert "未同意" not in page and "别店" not in page
    assert "138****0000" in page and "13800000000" not in page  # phones masked
    assert "发布并邀约 3 位会员" in page


def test_it_previews_the_edit_forms_conditions_before_they_are_saved(client, plan, store_a, staff_a):
    member(store_a, staff_a.consultant, tier="A")
    member(store_a, staff_a.consultant, tier="C")
    member(store_a, staff_a.consultant, tier="A", marketing_consent=False)
    campaign = plan()  # saved: every tier
    client.force_login(staff_a.specialist)
    url = reverse("campaigns:preview", args=[campaign.pk])

    with at("2026-03-01"):
        live = client.get(url, {"live": "1", "tiers": ["A"]}, headers={"HX-Request": "true"})
        wrong = client.get(url, {"live": "1", "spend_min": "500", "spend_max": "100"}, headers={"HX-Request": "true"})

    assert live.context["count"] == 1
    assert "未保存" in live.content.decode()
    assert "<html" not in live.content.decode()  # a partial for the edit page
    assert "消费上限须不低于下限。" in wrong.content.decode()
    assert Segment.from_json(Campaign.objects.get().segment).tiers == []  # nothing saved


def test_it_launches_from_the_page(client, plan, store_a, staff_a):
    member(store_a, staff_a.consultant, name="甲")
    member(store_a, None, name="乙")
    member(store_a, staff_a.consultant, name="丙", marketing_consent=False)
    campaign = plan()
    client.force_login(staff_a.specialist)

    with at("2026-03-01"):
        response = client.post(reverse("campaigns:launch", args=[campaign.pk]), follow=True)

    assert response.redirect_chain == [(reverse("campaigns:results", args=[campaign.pk]), 302)]
    assert "已邀约 2 位会员" in response.content.decode()
    assert set(CampaignMember.objects.values_list("member__name", flat=True)) == {"甲", "乙"}
    campaign.refresh_from_db()
    assert campaign.status == "launched"
    with at("2026-03-02"):
        frozen = client.get(reverse("campaigns:preview", args=[campaign.pk])).content.decode()
    assert "已发布：名单已冻结，共 2 位会员。" in frozen and "发布并邀约" not in frozen


def test_it_extends_a_launched_campaign_from_the_results_page_without_inviting_anyone_twice(
    client, plan, store_a, staff_a
):
    member(store_a, staff_a.consultant, name="甲")
    campaign = plan()
    client.force_login(staff_a.specialist)
    with at("2026-03-01"):
        client.post(reverse("campaigns:launch", args=[campaign.pk]))
        page = client.get(reverse("campaigns:results", args=[campaign.pk])).content.decode()
        member(store_a, staff_a.consultant, name="乙")
        added = client.post(reverse("campaigns:launch", args=[campaign.pk]), follow=True)
        again = client.post(reverse("campaigns:launch", args=[campaign.pk]), follow=True)

    assert "补充邀约" in page
    assert added.redirect_chain == [(reverse("campaigns:results", args=[campaign.pk]), 302)]
    assert "已补充邀约 1 位会员。" in added.content.decode()
    assert "没有新的会员符合人群条件" in again.content.decode()
    assert sorted(CampaignMember.objects.values_list("member__name", flat=True)) == ["乙", "甲"]
    assert Invitation.objects.count() == 2


def test_it_shows_the_services_error_when_launch_is_refused(client, plan, store_a, staff_a):
    member(store_a, staff_a.consultant, marketing_consent=False)
    campaign = plan()
    client.force_login(staff_a.manager)

    with at("2026-03-01"):
        response = client.post(reverse("campaigns:launch", args=[campaign.pk]), follow=True)

    assert response.redirect_chain == [(reverse("campaigns:preview", args=[campaign.pk]), 302)]
    assert "人群条件没有选出任何会员（只包含同意营销的会员）。" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "draft" and not CampaignMember.objects.exists()


# --- Results ---------------------------------------------------------------------------------


@pytest.fixture
def small_campaign(plan, store_a, store_b, staff_a):
    """The worked example of test_campaigns, with two consultants.

    Campaign 03-10..03-12, attribution 7 days: purchases dated 03-10..03-19 count.
      甲 (consultant): 20,000 on 03-11, −2,000 on 03-19 → 18,000; confirmed → arrived → bought
      乙 (consultant): 5,000 on 03-20, one day outside → 0; confirmed
      丙 (other):      3,000 on 03-09, the day before → 0; declined
      丁 (other):      8,000 on 03-15 at another store → 0; arrived
    Invited 4, confirmed 3, attended 2 (甲, 丁) → attendance 2/4 = 50%; buyers 1; sales 18,000;
    per invitee 18,000 / 4 = 4,500; cost per buyer 3,000 / 1 = 3,000; goals: invitees 4/5 = 80%,
    attendance 2/3 = 66.7%, sales 18,000/50,000 = 36%.
    Consultant: 2 invited, 1 attended (50%), sales 18,000; other: 2 invited, 1 attended, 0.
    """
    other = StaffFactory(username="a_consultant2", display_name="李顾问", role=Role.CONSULTANT, store=store_a)
    people = {
        "甲": member(store_a, staff_a.consultant, name="甲", tier="A"),
        "乙": member(store_a, staff_a.consultant, name="乙", tier="B"),
        "丙": member(store_a, other, name="丙"),
        "丁": member(store_a, other, name="丁"),
    }
    campaign = plan()
    with at("2026-03-01"):
        campaign_launch(campaign=campaign, by=staff_a.specialist)
    PurchaseFactory(member=people["甲"], date=D("2026-03-11"), amount=M("20000"))
    PurchaseFactory(member=people["甲"], date=D("2026-03-19"), amount=M("-2000"))
    PurchaseFactory(member=people["乙"], date=D("2026-03-20"), amount=M("5000"))
    PurchaseFactory(member=people["丙"], date=D("2026-03-09"), amount=M("3000"))
    PurchaseFactory(member=people["丁"], store=store_b, date=D("2026-03-15"), amount=M("8000"))
    # After the receipts: "bought" needs a purchase in the invitation's window.
    steps = {"甲": ["confirmed", "arrived", "bought"], "乙": ["confirmed"], "丙": ["declined"], "丁": ["arrived"]}
    advance(campaign, steps, staff_a.specialist)
    campaign.other = other
    campaign.people = people
    return campaign


def test_it_shows_the_results_of_a_small_campaign(client, small_campaign, staff_a):
    client.force_login(staff_a.manager)

    with at("2026-03-16"):
        response = client.get(reverse("campaigns:results", args=[small_campaign.pk]))

    figures = response.context["figures"]
    total = figures["total"]
    assert (total["invited"], total["confirmed"], total["attended"], total["buyers"]) == (4, 3, 2, 1)
    assert (total["sales"], total["sales_per_invitee"], total["cost_per_buyer"]) == ("18000.00", "4500.00", "3000.00")
    assert total["attendance_rate"]["percent"] == 50.0
    assert [g["percent"] for g in figures["goals"].values()] == [80.0, 66.7, 36.0]
    assert [(line["label"], line["invited"], line["sales"]) for line in figures["by_consultant"]] == [
        ("a_consultant", 2, "18000.00"),
        ("李顾问", 2, "0.00"),
    ]
    assert {cm.member.name: amount for cm, amount in response.context["rows"]} == {
        "甲": M("18000"),
        "乙": M("0"),
        "丙": M("0"),
        "丁": M("0"),
    }
    page = response.content.decode()
    assert "业绩归因期：2026-03-10 至 2026-03-19（含结束后 7 天）" in page
    assert "2/4" in page  # attendance with its numerator and denominator
    # Money with thousands separators (the money filter), although the Chinese locale groups none.
    assert "¥18,000.00" in page and "¥50,000.00" in page and "¥3,000.00" in page
    assert 'style="width: 66.7%"' in page  # the attendance goal's bar
    assert reverse("members:detail", args=[small_campaign.people["甲"].pk]) in page
    assert "已成交" in page and "已婉拒" in page


def test_it_shows_a_consultant_only_their_own_invitees_and_line(client, small_campaign, staff_a):
    client.force_login(staff_a.consultant)

    with at("2026-03-16"):
        response = client.get(reverse("campaigns:results", args=[small_campaign.pk]))

    figures = response.context["figures"]
    assert figures["total"]["invited"] == 4 and figures["total"]["sales"] == "18000.00"  # the totals remain
    assert [(line["label"], line["invited"], line["attended"]) for line in figures["by_consultant"]] == [
        ("a_consultant", 2, 1)
    ]
    assert {cm.member.name for cm, _amount in response.context["rows"]} == {"甲", "乙"}
    page = response.content.decode()
    assert "李顾问" not in page
    assert reverse("members:detail", args=[small_campaign.people["丙"].pk]) not in page


# --- Summary and archive ---------------------------------------------------------------------


def test_it_saves_the_managers_summary_after_the_end_and_archives_it(client, small_campaign, staff_a):
    client.force_login(staff_a.manager)
    url = reverse("campaigns:summary", args=[small_campaign.pk])
    words = {"findings": "到场率过半", "problems": "邀约偏晚", "solutions": "提前两周邀约"}

    with at("2026-03-11"):
        early = client.post(url, words)
    with at("2026-03-13"):
        saved = client.post(url, words)
        too_soon = client.post(reverse("campaigns:archive", args=[small_campaign.pk]), follow=True)
    with at("2026-03-20"):
        archived = client.post(reverse("campaigns:archive", args=[small_campaign.pk]), follow=True)

    assert "活动结束后才能写总结。" in early.content.decode()
    assert saved["Location"] == url
    assert "归因期（至 2026-03-19）结束后才能归档。" in too_soon.content.decode()
    assert "活动已归档" in archived.content.decode()
    small_campaign.refresh_from_db()
    assert small_campaign.status == "archived"
    assert small_campaign.summary_figures["total"]["sales"] == "18000.00"


def test_it_refuses_changes_to_an_archived_campaign_and_shows_its_frozen_figures(client, small_campaign, staff_a):
    with at("2026-03-13"):
        campaign_summary_save(
            campaign=small_campaign, by=staff_a.manager, findings="到场率过半", problems="", solutions=""
        )
    with at("2026-03-20"):
        campaign_archive(campaign=small_campaign, by=staff_a.manager)
    # A back-dated purchase inside the window after archiving: live results change, the summary not.
    PurchaseFactory(member=small_campaign.people["乙"], date=D("2026-03-12"), amount=M("7000"))
    client.force_login(staff_a.manager)

    with at("2026-03-21"):
        summary = client.post(
            reverse("campaigns:summary", args=[small_campaign.pk]), {"findings": "改", "problems": "", "solutions": ""}
        )
        edit = client.post(reverse("campaigns:edit", args=[small_campaign.pk]), plan_data(name="改名"))
        launch = client.post(reverse("campaigns:launch", args=[small_campaign.pk]), follow=True)
        page = client.get(reverse("campaigns:summary", args=[small_campaign.pk]))
        printable = client.get(reverse("campaigns:summary", args=[small_campaign.pk]), {"print": "1"})
        live = client.get(reverse("campaigns:results", args=[small_campaign.pk]))

    assert "活动已归档，不能再修改。" in summary.content.decode()
    assert "活动已归档，不能再修改。" in edit.content.decode()
    assert "只有草稿状态的活动可以发布。" in launch.content.decode()
    small_campaign.refresh_from_db()
    assert (small_campaign.name, small_campaign.findings) == ("春季私享会", "到场率过半")
    # Frozen: 18,000 as archived, not the 25,000 the ledger gives now.
    assert live.context["figures"]["total"]["sales"] == "25000.00"
    for response in (page, printable):
        assert response.context["figures"]["total"]["sales"] == "18000.00"
        assert "¥18,000.00" in response.content.decode() and "¥25,000.00" not in response.content.decode()
    assert "<form" not in page.content.decode().split("店长总结")[1]  # read-only
    assert "<nav" not in printable.content.decode()  # a sheet for paper
    # A consultant reads the frozen totals; the frozen lines name consultants, so they are not shown.
    client.force_login(staff_a.consultant)
    theirs = client.get(reverse("campaigns:summary", args=[small_campaign.pk])).content.decode()
    assert "¥18,000.00" in theirs and "李顾问" not in theirs


# --- List and calendar -----------------------------------------------------------------------


def test_it_lists_the_viewers_campaigns_by_status(client, plan, store_a, store_b, staff_a, staff_b):
    member(store_a, staff_a.consultant)
    draft = plan(name="草稿活动", start_date=D("2026-04-01"), end_date=D("2026-04-02"))
    past = plan(name="已过活动")
    campaign_save(
        by=staff_b.manager,
        stores=[store_b],
        segment=Segment(),
        name="别店活动",
        type="holiday",
        start_date=D("2026-03-10"),
        end_date=D("2026-03-12"),
    )
    with at("2026-03-01"):
        campaign_launch(campaign=past, by=staff_a.specialist)
    client.force_login(staff_a.consultant)

    with at("2026-03-15"):
        every = client.get(reverse("campaigns:list"))
        ended = client.get(reverse("campaigns:list"), {"status": "ended"})
        drafts = client.get(reverse("campaigns:list"), {"status": "draft"})

    assert [c.name for c in every.context["page"]] == ["草稿活动", "已过活动"]
    # Launched and past its last day: ended, though no summary has moved it to `ended` yet.
    assert [(c.name, c.phase[1]) for c in ended.context["page"]] == [("已过活动", "已结束")]
    assert [c.pk for c in drafts.context["page"]] == [draft.pk]
    assert "别店活动" not in every.content.decode()


def test_it_draws_each_campaign_as_bars_across_its_days_in_the_month(client, plan, staff_a):
    across = plan(name="月末到月初", start_date=D("2026-03-27"), end_date=D("2026-04-02"))
    plan(name="四月活动", start_date=D("2026-04-10"), end_date=D("2026-04-11"))
    client.force_login(staff_a.consultant)

    with at("2026-03-01"):
        response = client.get(reverse("campaigns:calendar"), {"month": "2026-03"})
        fallback = client.get(reverse("campaigns:calendar"), {"month": "三月"})

    weeks = response.context["weeks"]
    # March 2026 begins on a Sunday: six Monday-to-Sunday rows, 23 Feb to 5 April.
    assert (weeks[0]["days"][0], weeks[-1]["days"][-1]) == (D("2026-02-23"), D("2026-04-05"))
    bars = [(b.campaign.name, b.column, b.span, b.starts, b.ends) for week in weeks for b in week["bars"]]
    # Fri 27 – Sun 29 March, then Mon 30 March – Thu 2 April.
    assert bars == [("月末到月初", 5, 3, True, False), ("月末到月初", 1, 4, False, True)]
    assert [c.pk for c in response.context["campaigns"]] == [across.pk]
    assert 'style="grid-column: 5 / span 3"' in response.content.decode()
    assert fallback.context["first"] == D("2026-03-01")  # not a month: this month


# --- Query counts ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "consultant"])
def test_it_bounds_the_results_pages_queries(client, plan, store_a, staff_a, django_assert_max_num_queries, role):
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    people = [member(store_a, staff_a.consultant if i % 2 else other) for i in range(100)]
    for i, person in enumerate(people[:40]):
        PurchaseFactory(member=person, date=D("2026-03-11"), amount=M("1000") + i)
    campaign = plan()
    with at("2026-03-01"):
        assert campaign_launch(campaign=campaign, by=staff_a.specialist) == 100
    client.force_login(getattr(staff_a, role))

    with at("2026-03-16"), django_assert_max_num_queries(10):
        response = client.get(reverse("campaigns:results", args=[campaign.pk]))

    # 100 in the audience; no invitation made yet (no task done, no status moved): invited 0.
    assert (response.context["figures"]["total"]["audience"], response.context["figures"]["total"]["invited"]) == (
        100,
        0,
    )
    assert len(response.context["rows"]) == (100 if role == "manager" else 50)


def test_it_bounds_the_list_and_calendar_queries(client, staff_a, store_a, django_assert_max_num_queries):
    StoreFactory(code="HZC", name="杭州店")
    for n in range(40):
        campaign_save(
            by=staff_a.specialist,
            stores=[store_a],
            segment=Segment(),
            name=f"活动{n}",
            type="store_event",
            start_date=D("2026-03-01"),
            end_date=D("2026-03-03"),
        )
    client.force_login(staff_a.manager)

    with at("2026-03-02"), django_assert_max_num_queries(9):
        listed = client.get(reverse("campaigns:list"))
    with at("2026-03-02"), django_assert_max_num_queries(9):
        month = client.get(reverse("campaigns:calendar"))

    assert len(listed.context["page"]) == 30
    assert len(month.context["campaigns"]) == 40
