"""Who owns a member (DOMAIN §13): the one place consultants change, with the owner history.

Every change of consultant (a single assignment, a hand-over, the unassigned list, a merge) goes
through `members_assign`: it checks the new owner, writes one `MemberOwnerChange` per member that
actually changes, audits once, and sends `members_reassigned` so that visits moves the members'
open tasks in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Staff
from accounts.services import audit_log

from .models import Member, MemberOwnerChange, OwnerChangeReason
from .signals import members_reassigned


def owner_error(consultant: Staff | None, store_id: int) -> str | None:
    """Why `consultant` cannot own a member of the store, or None."""
    if consultant is None:
        return None
    if consultant.store_id != store_id:
        return _("顾问必须属于会员的所属门店。")
    if not consultant.is_active:
        return _("%(name)s 已停用，不能接收会员。") % {"name": consultant}
    return None


@transaction.atomic
def members_assign(
    *,
    member_ids: Iterable[int],
    consultant: Staff | None,
    by: Staff | None,
    reason: str = OwnerChangeReason.ASSIGN,
    note: str = "",
    on: date | None = None,
) -> list[int]:
    """Give the members to `consultant` (None: unassigned). Members already theirs are left alone.
    Returns the ids that changed owner."""
    on = on or timezone.localdate()
    members = list(
        Member.objects.select_for_update(of=("self",))
        .select_related("home_store")
        .filter(pk__in=list(member_ids), erased_at__isnull=True)
        .order_by("pk")
    )
    for store_id in {m.home_store_id for m in members}:
        error = owner_error(consultant, store_id)
        if error:
            raise ValidationError({"consultant": error})
    new_id = consultant.pk if consultant else None
    changing = [m for m in members if m.consultant_id != new_id]
    if not changing:
        return []
    MemberOwnerChange.objects.bulk_create(
        MemberOwnerChange(
            member_id=m.pk,
            date=on,
            store_id=m.home_store_id,
            consultant_id=new_id,
            previous_store_id=m.home_store_id,
            previous_consultant_id=m.consultant_id,
            reason=reason,
            note=note[:200],
            by=by,
        )
        for m in changing
    )
    ids = [m.pk for m in changing]
    Member.objects.filter(pk__in=ids).update(consultant_id=new_id, updated_at=timezone.now())
    for store_id in sorted({m.home_store_id for m in changing}):
        in_store = [m for m in changing if m.home_store_id == store_id]
        audit_log(
            actor=by,
            action="member.reassigned",
            obj=in_store[0] if len(in_store) == 1 else None,
            store=in_store[0].home_store,
            members=[m.pk for m in in_store],
            previous=sorted({m.consultant_id for m in in_store if m.consultant_id}),
            consultant=new_id,
            reason=reason,
            note=note[:200],
        )
    members_reassigned.send(sender=Member, member_ids=ids, consultant=consultant, by=by)
    return ids
