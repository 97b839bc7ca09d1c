"""Invitations react to purchases: a receipt in an invitation's window marks it bought.

Connected in VisitsConfig.ready to members' `purchase_recorded`, beside the post-purchase task.
"""

from __future__ import annotations

from datetime import timedelta

from members.models import Purchase

from .models import Invitation, InvitationStatus
from .services import INVITATION_BOUGHT_DAYS, INVITATION_NEXT, invitation_advance

# The steps from which a purchase moves an invitation to "bought" (a refusal stays a refusal).
_CAN_BECOME_BOUGHT = [status for status, following in INVITATION_NEXT.items() if InvitationStatus.BOUGHT in following]


def on_purchase_mark_invitation_bought(sender, purchase: Purchase, **kwargs) -> None:
    """A receipt with a positive amount marks bought the member's invitation to that store whose
    window (invitation_bought_window) holds the receipt's date: the latest such invitation, so
    one purchase is one invitation's success, not several."""
    if purchase.amount <= 0:
        return
    invitation = (
        Invitation.objects.filter(
            member_id=purchase.member_id,
            store_id=purchase.store_id,
            status__in=_CAN_BECOME_BOUGHT,
            for_date__lte=purchase.date,
            for_date__gte=purchase.date - timedelta(days=INVITATION_BOUGHT_DAYS),
        )
        .order_by("-for_date", "-pk")
        .first()
    )
    if invitation is not None:
        invitation_advance(invitation=invitation, status=InvitationStatus.BOUGHT, by=None)
