"""Campaign definitions (DOMAIN §7, §9; issue 12 item 2), figures worked out by hand: invited is an
invitation actually made, the same on the campaign and the invitations page; no credit for
purchases before the launch; a lunar "birthday month" is the coming one (January in December is
next January)."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from campaigns.segments import Segment, segment_members
from campaigns.selectors import attribution_window, campaign_results
from campaigns.services import campaign_extend, campaign_launch, campaign_save
from members.models import Member
from members.selectors import lunar_birthday_ids_in_month
from tests.factories import MemberFactory, PurchaseFactory
from visits.models import Channel, FollowUpTask, TaskKind, TaskStatus
from visits.selectors import InvitationFilters, invitation_funnel
from visits.services import invitation_advance, task_complete

D = date.fromisoformat
M = Decimal


def at(day: str):
    return time_machine.travel(f"{day} 10:00 +0800", tick=False)


def member(store, consultant, name, **kw):
    kw.setdefault("marketing_consent", True)
    kw.setdefault("joined_on", D("2025-01-01"))
    return MemberFactory(home_store=store, consultant=consultant, name=name, **kw)


@pytest.fixture
def late_launch(store_a, staff_a):
    """Campaign 03-10..03-12, 7 attribution days (to 03-19), goal 5 invitees, launched late on
    03-11 with 甲 and 乙; 丙 gives consent and joins by an extension on 03-12.

    Purchases at store A:
      甲 03-10 5,000 (the first day, but before the launch: no credit); 03-11 2,000 (credited)
      乙 03-09 1,000 (before the campaign: no credit)
      丙 03-11   800 (before they joined the audience on 03-12: no credit); 03-13 1,200 (credited)
    Sales = 2,000 + 1,200 = 3,200; buyers 甲, 丙 = 2. (Crediting from the start date would give
    5,000 + 2,000 + 800 + 1,200 = 9,000.)

    Invitations: 甲 confirms (made); 乙's task is done by a reached call (made); 丙's is only
    planned (still "invited", task open). Audience 3, invited 2, goal 2 / 5 = 0.4 (not 3 / 5).
    """
    c = staff_a.consultant
    people = {name: member(store_a, c, name) for name in ("甲", "乙")}
    people["丙"] = member(store_a, c, "丙", marketing_consent=False)
    campaign = campaign_save(
        by=staff_a.specialist,
        stores=[store_a],
        segment=Segment(),
        name="春季私享会",
        type="private_viewing",
        start_date=D("2026-03-10"),
        end_date=D("2026-03-12"),
        budget=M("3000"),
        goal_invitees=5,
        goal_attendance=3,
        goal_sales=M("50000"),
    )
    with at("2026-03-11"):
        assert campaign_launch(campaign=campaign, by=staff_a.specialist) == 2
    with at("2026-03-12"):
        Member.objects.filter(pk=people["丙"].pk).update(marketing_consent=True)
        assert campaign_extend(campaign=campaign, by=staff_a.specialist) == 1
    for name, day, amount in (
        ("甲", "2026-03-10", "5000"),
        ("甲", "2026-03-11", "2000"),
        ("乙", "2026-03-09", "1000"),
        ("丙", "2026-03-11", "800"),
        ("丙", "2026-03-13", "1200"),
    ):
        PurchaseFactory(member=people[name], store=store_a, date=D(day), amount=M(amount))
    inv = {cm.member.name: cm.invitation for cm in campaign.audience.select_related("member", "invitation")}
    with at("2026-03-12"):
        invitation_advance(invitation=inv["甲"], status="confirmed", by=c)
        task = FollowUpTask.objects.get(member=people["乙"], kind=TaskKind.INVITATION, status=TaskStatus.OPEN)
        task_complete(task=task, by=c, channel=Channel.PHONE, outcome="已邀约，会考虑")
    campaign.refresh_from_db()
    return campaign


def test_no_credit_for_purchases_before_the_launch(late_launch):
    results = campaign_results(campaign=late_launch, with_rows=True)

    assert attribution_window(late_launch) == (D("2026-03-11"), D("2026-03-19"))
    assert {cm.member.name: amount for cm, amount in results.rows} == {"甲": M("2000"), "乙": M("0"), "丙": M("1200")}
    assert (results.total.buyers, results.total.sales) == (2, M("3200"))
    assert results.as_json()["window"] == {"start": "2026-03-11", "end": "2026-03-19"}


def test_invited_counts_invitations_made_on_both_pages(late_launch, staff_a):
    results = campaign_results(campaign=late_launch)
    _rows, funnel = invitation_funnel(viewer=staff_a.manager, filters=InvitationFilters())

    assert (results.total.audience, results.total.invited, results.total.confirmed) == (3, 2, 1)
    assert results.goals()["invitees"] == {"numerator": 2, "denominator": 5, "rate": 0.4}
    assert (funnel.invited, funnel.confirmed) == (2, 1)


# --- The lunar birthday month is the coming one -----------------------------------------------------


@pytest.fixture
def birthdays(store_a, staff_a):
    """Evaluated on 2026-12-10, birthday month January = January 2027:

    name    born (solar)  celebrates        occurrences
    腊月生  1990-01-10    lunar 腊月十四    2026-02-01, 2027-01-21  → in January 2027: yes
    冬月生  1989-12-17    lunar 冬月二十    2026-01-08, 2026-12-28, 2027-12-17 → January 2027: no
    元月生  1990-01-05    solar             every 01-05             → yes
    Reading this year's lunar dates (January 2026) got both lunar members wrong: 冬月生 in,
    腊月生 out. December 2026 holds 冬月生 (12-28), not 腊月生.
    """
    c = staff_a.consultant
    return [
        member(store_a, c, "腊月生", birthday=D("1990-01-10"), birthday_lunar=True),
        member(store_a, c, "冬月生", birthday=D("1989-12-17"), birthday_lunar=True),
        member(store_a, c, "元月生", birthday=D("1990-01-05")),
    ]


def test_the_segments_january_in_december_is_next_january(store_a, birthdays):
    on = D("2026-12-10")
    january = segment_members(Segment(birthday_month=1), stores=[store_a], on=on)
    december = segment_members(Segment(birthday_month=12), stores=[store_a], on=on)

    assert sorted(m.name for m in january) == ["元月生", "腊月生"]
    assert [m.name for m in december] == ["冬月生"]
    lunar = Member.objects.filter(pk__in=[m.pk for m in birthdays])
    assert lunar_birthday_ids_in_month(lunar, month=1, on=on) == [birthdays[0].pk]
    assert lunar_birthday_ids_in_month(lunar, month=1, year=2026) == [birthdays[1].pk]  # an explicit year


def test_the_member_lists_january_in_december_is_next_january(client, staff_a, birthdays):
    with at("2026-12-10"):
        client.force_login(staff_a.specialist)
        page = client.get(reverse("members:list"), {"birthday_month": 1, "scope": "store"})

    assert sorted(m.name for m in page.context["page"]) == ["元月生", "腊月生"]


def test_the_results_page_shows_invited_of_the_audience(client, staff_a, late_launch):
    with at("2026-03-20"):
        client.force_login(staff_a.manager)
        page = client.get(reverse("campaigns:results", args=[late_launch.pk]))
    assert page.context["figures"]["total"]["invited"] == 2
    assert "名单 3" in page.content.decode()
