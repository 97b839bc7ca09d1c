"""`{% member_transfer_box member %}`: the member page's transfer button and pending request."""

from django import template

register = template.Library()


@register.inclusion_tag("members/_transfer_box.html", takes_context=True)
def member_transfer_box(context, member):
    """HQ may move the member at once; the home store's leads see a pending request (to agree on
    the transfers page). There is no "transfer out" button: the receiving store asks."""
    from members.transfers import pending_transfer_of

    viewer = context["request"].user
    leads = viewer.is_hq or viewer.is_store_lead
    return {
        "member": member,
        "pending": pending_transfer_of(member=member) if leads else None,
        "can_direct": viewer.is_hq and member.erased_at is None,
    }
