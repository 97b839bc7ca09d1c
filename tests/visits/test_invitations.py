"""Invitations (issue 9 item 10): the page opens on what is still to come; "bought" needs a
purchase in the window and is set by the purchase itself; the funnel and the campaign results
count "confirmed" the same way.

Dates are pinned to Thursday 12 March 2026, 10:00 in Shanghai.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from campaigns.models import CampaignMember
from campaigns.segments import Segment
from campaigns.selectors import campaign_results
from campaigns.services import campaign_launch, campaign_save
from members.services import purchase_record
from visits.models import Channel, FollowUpTask, Invitation, InvitationStatus, TaskKind, TaskStatus
from visits.selectors import InvitationFilters, invitation_funnel
from visits.services import invitation_advance, invitation_bought_window, task_complete

from ..factories import MemberFactory

pytestmark = pytest.mark.django_db

D = date.fromisoformat
M = Decimal


@pytest.fixture(autouse=True)
def pinned_today():
    with time_machine.travel("2026-03-12 10:00 +0800", tick=False):
        yield


def invitation(member, by, for_date, status=InvitationStatus.INVITED, purpose="新品"):
    return Invitation.objects.create(
        member=member, store=member.home_store, invited_by=by, for_date=D(for_date), purpose=purpose, status=status
    )


def buy(member, store, on, amount, receipt):
    return purchase_record(
        member=member, store=store, receipt_no=receipt, date=D(on), amount=M(amount), by=None
    ).purchase


# --- The page opens on upcoming invitations -----------------------------------------------------


def test_it_opens_on_upcoming_invitations_soonest_first(client, staff_a, member_a):
    for day in ("2026-03-20", "2026-03-10", "2026-03-12", "2026-03-14", "2026-02-01"):
        invitation(member_a, staff_a.consultant, day)
    client.force_login(staff_a.specialist)

    default = client.get(reverse("visits:invitations"))
    past = client.get(reverse("visits:invitations"), {"view": "past"})
    every = client.get(reverse("visits:invitations"), {"view": "all"})

    # Today counts as upcoming; next month's and last month's are not hidden by a month range.
    assert [i.for_date for i in default.context["page"]] == [D("2026-03-12"), D("2026-03-14"), D("2026-03-20")]
    assert [i.for_date for i in past.context["page"]] == [D("2026-03-10"), D("2026-02-01")]
    assert every.context["page"].paginator.count == 5
    html = default.content.decode()
    assert "view=past" in html and "view=all" in html  # the other views are one click away
    assert default.context["funnel_total"].invited == 3  # the funnel follows the view


def test_a_hand_edited_view_falls_back_to_upcoming(client, staff_a, member_a):
    invitation(member_a, staff_a.consultant, "2026-03-10")
    invitation(member_a, staff_a.consultant, "2026-03-13")
    client.force_login(staff_a.manager)

    response = client.get(reverse("visits:invitations"), {"view": "<script>"})

    assert response.status_code == 200
    assert [i.for_date for i in response.context["page"]] == [D("2026-03-13")]


# --- Bought needs a purchase in the window ------------------------------------------------------


def test_bought_is_refused_without_a_purchase_in_the_window(store_b, staff_a, member_a):
    # Invited for 03-10, so purchases dated 03-10..03-17 at store A make it bought. None of these do:
    # one the day before, one the day after the window, one at another store, a return.
    arrived = invitation(member_a, staff_a.consultant, "2026-03-10", InvitationStatus.ARRIVED)
    assert invitation_bought_window(arrived.for_date) == (D("2026-03-10"), D("2026-03-17"))
    buy(member_a, member_a.home_store, "2026-03-09", "900", "R1")
    buy(member_a, store_b, "2026-03-11", "900", "R2")
    buy(member_a, member_a.home_store, "2026-03-11", "-300", "R3")
    arrived.refresh_from_db()
    assert arrived.status == InvitationStatus.ARRIVED

    with pytest.raises(ValidationError, match="没有消费记录"):
        invitation_advance(invitation=arrived, status=InvitationStatus.BOUGHT, by=staff_a.consultant)

    arrived.refresh_from_db()
    assert arrived.status == InvitationStatus.ARRIVED


def test_bought_is_allowed_by_hand_once_a_purchase_is_on_file(staff_a, member_a):
    # The receipt came first (the member bought before the invitation was written down), so
    # nothing marked it; the consultant may now.
    buy(member_a, member_a.home_store, "2026-03-12", "1200", "R1")
    made = invitation(member_a, staff_a.consultant, "2026-03-12")

    invitation_advance(invitation=made, status=InvitationStatus.BOUGHT, by=staff_a.consultant)

    made.refresh_from_db()
    assert made.status == InvitationStatus.BOUGHT


def test_the_page_shows_why_bought_is_refused(client, staff_a, member_a):
    arrived = invitation(member_a, staff_a.consultant, "2026-03-12", InvitationStatus.ARRIVED)
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("visits:invitation_advance", args=[arrived.pk]), {"status": "bought"}, HTTP_HX_REQUEST="true"
    )

    assert "2026-03-12 至 2026-03-19 该会员在本店没有消费记录" in response.content.decode()
    assert Invitation.objects.get(pk=arrived.pk).status == InvitationStatus.ARRIVED


def test_a_recorded_purchase_marks_the_invitation_bought(staff_a, member_a):
    # Two open invitations cover 03-12 (03-08 and 03-11): the purchase is the later one's success.
    # A declined one stays declined; an invitation for a later day is not touched.
    older = invitation(member_a, staff_a.consultant, "2026-03-08", InvitationStatus.CONFIRMED)
    latest = invitation(member_a, staff_a.consultant, "2026-03-11", InvitationStatus.INVITED)
    declined = invitation(member_a, staff_a.consultant, "2026-03-12", InvitationStatus.DECLINED)
    later = invitation(member_a, staff_a.consultant, "2026-03-20", InvitationStatus.CONFIRMED)

    buy(member_a, member_a.home_store, "2026-03-12", "2600", "R1")

    statuses = dict(Invitation.objects.values_list("pk", "status"))
    assert statuses == {
        older.pk: InvitationStatus.CONFIRMED,
        latest.pk: InvitationStatus.BOUGHT,
        declined.pk: InvitationStatus.DECLINED,
        later.pk: InvitationStatus.CONFIRMED,
    }
    # A second purchase the same day marks the other one still open in its window.
    buy(member_a, member_a.home_store, "2026-03-12", "800", "R2")
    assert Invitation.objects.get(pk=older.pk).status == InvitationStatus.BOUGHT


def test_a_no_show_who_comes_back_and_buys_is_bought(staff_a, member_a):
    no_show = invitation(member_a, staff_a.consultant, "2026-03-10", InvitationStatus.NO_SHOW)

    buy(member_a, member_a.home_store, "2026-03-12", "500", "R1")

    assert Invitation.objects.get(pk=no_show.pk).status == InvitationStatus.BOUGHT


# --- One meaning of confirmed ---------------------------------------------------------------------


def test_the_funnel_and_the_campaign_agree_on_confirmed(store_a, staff_a):
    # Six members in one campaign's audience end at: invited (never contacted), confirmed,
    # no_show, arrived, bought, declined. Confirmed = reached "confirmed" or beyond = confirmed,
    # no_show, arrived, bought = 4; attended = arrived, bought = 2; invited = made = 5 (甲's only
    # planned), 6 once 甲 is reached. Both pages say the same.
    people = [
        MemberFactory(home_store=store_a, consultant=staff_a.consultant, marketing_consent=True, name=n)
        for n in "甲乙丙丁戊己"
    ]
    campaign = campaign_save(
        by=staff_a.specialist,
        stores=[store_a],
        segment=Segment(),
        name="春季私享会",
        type="private_viewing",
        start_date=D("2026-03-14"),
        end_date=D("2026-03-15"),
    )
    campaign_launch(campaign=campaign, by=staff_a.specialist)
    inv = {cm.member.name: cm.invitation for cm in CampaignMember.objects.select_related("member", "invitation")}
    steps = {
        "乙": ["confirmed"],
        "丙": ["confirmed", "no_show"],
        "丁": ["arrived"],
        "戊": ["confirmed", "arrived"],
        "己": ["declined"],
    }
    for name, path in steps.items():
        for step in path:
            invitation_advance(invitation=inv[name], status=step, by=staff_a.consultant)
    with time_machine.travel("2026-03-14 15:00 +0800", tick=False):
        buy(people[4], store_a, "2026-03-14", "6800", "R1")  # 戊 buys: arrived → bought

    results = campaign_results(campaign=campaign).total
    _rows, funnel = invitation_funnel(viewer=staff_a.manager, filters=InvitationFilters())

    assert Invitation.objects.get(pk=inv["戊"].pk).status == InvitationStatus.BOUGHT
    # Invited = an invitation made (DOMAIN §9): 甲's was only planned by the launch (still
    # "invited", its task not done), so 5 of the 6 in the audience; both pages say 5.
    assert (results.audience, results.invited, results.confirmed, results.attended) == (6, 5, 4, 2)
    assert (funnel.invited, funnel.confirmed, funnel.arrived, funnel.bought) == (5, 4, 2, 1)

    # The consultant calls 甲 from the invitation task and reaches them: now made, 6 on both.
    task = FollowUpTask.objects.get(member=people[0], kind=TaskKind.INVITATION, status=TaskStatus.OPEN)
    task_complete(task=task, by=staff_a.consultant, channel=Channel.PHONE, outcome="已邀约，考虑中")
    _rows, funnel = invitation_funnel(viewer=staff_a.manager, filters=InvitationFilters())
    assert campaign_results(campaign=campaign).total.invited == funnel.invited == 6


def test_the_bought_button_shows_only_with_a_purchase_in_the_window(client, staff_a, member_a):
    # member_a bought on 03-12, before these invitations were written down (so nothing marked
    # them): the one for 03-11 may be marked bought, the one for 03-13 (its window starts after
    # the purchase) may not.
    buy(member_a, member_a.home_store, "2026-03-12", "900", "R1")
    covered = invitation(member_a, staff_a.consultant, "2026-03-11", InvitationStatus.ARRIVED)
    later = invitation(member_a, staff_a.consultant, "2026-03-13", InvitationStatus.ARRIVED)
    client.force_login(staff_a.consultant)

    page = client.get(reverse("visits:invitations"), {"view": "all"})

    rows = {inv.pk: [value for value, _label in inv.next_statuses] for inv in page.context["page"]}
    assert rows[covered.pk] == [InvitationStatus.BOUGHT]
    assert rows[later.pk] == []


def test_the_invitations_page_reads_a_full_page_in_a_few_queries(
    client, staff_a, member_a, django_assert_max_num_queries
):
    for i in range(60):
        member = MemberFactory(home_store=member_a.home_store, consultant=staff_a.consultant)
        invitation(member, staff_a.consultant, f"2026-03-{12 + i % 15:02d}")
    client.force_login(staff_a.manager)

    with django_assert_max_num_queries(15):
        response = client.get(reverse("visits:invitations"))

    assert len(response.context["page"]) == 50


def test_an_invitation_made_by_hand_for_a_campaign_joins_it_at_launch(client, store_a, staff_a, member_a):
    # The form offers the store's coming campaigns as purposes; an invitation with that purpose on
    # one of its days is the member's invitation to it: the launch adds no second one.
    member_a.marketing_consent = True
    member_a.save(update_fields=["marketing_consent"])
    campaign = campaign_save(
        by=staff_a.specialist,
        stores=[store_a],
        segment=Segment(),
        name="春季私享会",
        type="private_viewing",
        start_date=D("2026-03-14"),
        end_date=D("2026-03-15"),
    )
    client.force_login(staff_a.consultant)

    form = client.get(reverse("visits:invitation_add", args=[member_a.pk])).content.decode()
    client.post(
        reverse("visits:invitation_add", args=[member_a.pk]), {"for_date": "2026-03-14", "purpose": "春季私享会"}
    )
    campaign_launch(campaign=campaign, by=staff_a.specialist)

    assert '<option value="春季私享会">' in form
    made = Invitation.objects.get()
    assert CampaignMember.objects.get(member=member_a).invitation == made
