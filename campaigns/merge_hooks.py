"""Two profiles of one person merged (members.merging, `members_merging` signal): the merged
profile's places in campaign audiences become the survivor's. A campaign both profiles were in
keeps the survivor's place, with the merged profile's invitation if the survivor had none."""

from __future__ import annotations

from accounts.models import Staff
from members.models import Member

from .models import CampaignMember

# Every relation to Member this receiver moves (members.merging's test checks none is missing).
HANDLED = {("campaigns.CampaignMember", "member"): "moved; one place per campaign"}


def on_members_merging(sender, survivor: Member, merged: Member, by: Staff | None = None, moved=None, **kwargs):
    mine = {row.campaign_id: row for row in CampaignMember.objects.filter(member=survivor)}
    for row in CampaignMember.objects.filter(member=merged, campaign_id__in=list(mine)):
        kept = mine[row.campaign_id]
        invitation_id = row.invitation_id
        row.delete()
        if kept.invitation_id is None and invitation_id is not None:
            kept.invitation_id = invitation_id
            kept.save(update_fields=["invitation"])
    count = CampaignMember.objects.filter(member=merged).update(member=survivor)
    if count and moved is not None:
        moved["campaigns"] = moved.get("campaigns", 0) + count
