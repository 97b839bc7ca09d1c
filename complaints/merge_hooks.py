"""Two profiles of one person merged (members.merging, `members_merging` signal): the merged
profile's complaints become the survivor's, and the survivor's count of open complaints (which
holds its tier at the month-end review and stops sales pushes) is counted again."""

from __future__ import annotations

from accounts.models import Staff
from members.models import Member

from .models import Complaint
from .services import member_open_complaints_recount

# Every relation to Member this receiver moves (members.merging's test checks none is missing).
HANDLED = {("complaints.Complaint", "member"): "moved; open count recomputed"}


def on_members_merging(sender, survivor: Member, merged: Member, by: Staff | None = None, moved=None, **kwargs):
    count = Complaint.objects.filter(member=merged).update(member=survivor)
    if count and moved is not None:
        moved["complaints"] = moved.get("complaints", 0) + count
    member_open_complaints_recount(member_id=survivor.pk)
