"""A member transferred to another store (DOMAIN §13): what is open in the old store is cancelled,
and what is due is made in the new one.

Connected in VisitsConfig.ready to members' `member_transferred`, sent inside the transfer's
transaction, so a failure here undoes the transfer.

- Open follow-up tasks in the old store are cancelled with a note naming the transfer. Their
  reasons (a receipt's follow-up, a birthday or occasion, a care or win-back clock, a chosen
  follow-up date, an upgrade push…) are put on the list again in the new store through the card
  engine, for the member's new consultant (or the new store's VIP specialist), due no earlier than
  the transfer day. A reason is unique per member, kind and origin, so the cancelled rows' origins
  are marked moved first; the new store's rows keep the original ones, and the daily run, which
  asks for the same origins, adds nothing twice.
- Birthday and occasion preparations inside the lead window are made at once in the new store
  (`preparations_for_members`); care and win-back that fall due later come with its daily run.
- Planned gifts (not yet prepared) move to the new store, which now prepares them; a gift already
  prepared or given stays with the store that holds it.
- Not carried over: campaign or store invitations (the old store's event: the invitation and its
  result stay in that campaign's history, and the member may still come) and complaint revisits
  (a complaint stays with the store where it was made, and so does its revisit).
"""

from __future__ import annotations

from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Staff, Store
from accounts.services import audit_log
from members.models import Member

from .cards import Reason, tasks_add
from .generation import Assigner, preparations_for_members
from .models import FollowUpTask, GiftPlan, GiftStatus, TaskKind, TaskReason, TaskStatus

# Reasons that belong to the old store and are not put on the new store's list.
STAYING_KINDS = frozenset({TaskKind.INVITATION, TaskKind.COMPLAINT_REVISIT})
ORIGIN_MAX = 60


def moved_origin(origin: str, task_pk: int) -> str:
    """The origin a cancelled row keeps: marked with its task, so the original is free again."""
    suffix = f"~moved{task_pk}"
    return origin[: ORIGIN_MAX - len(suffix)] + suffix


def on_member_transferred(
    sender, member: Member, from_store: Store, to_store: Store, on: date, by: Staff | None, **kwargs
) -> None:
    tasks = list(
        FollowUpTask.objects.select_for_update()
        .filter(member=member, status=TaskStatus.OPEN)
        .exclude(store=to_store)
        .exclude(kind=TaskKind.COMPLAINT_REVISIT)
        .prefetch_related("reasons")
    )
    assignee = Assigner.for_store(to_store)(member.consultant_id)
    carried: list[Reason] = []
    moved_reasons: list[TaskReason] = []
    note = _("会员已转至 %(store)s（%(date)s）") % {"store": to_store.name, "date": on.isoformat()}
    now = timezone.now()
    for task in tasks:
        reasons = list(task.reasons.all())
        kinds = [(r.kind, r.origin, r.due_date, r.note) for r in reasons] or [
            (task.kind, task.origin, task.due_date, task.note)
        ]
        carried += [
            Reason(member.pk, assignee, kind, origin, max(due, on), text)
            for kind, origin, due, text in kinds
            if kind not in STAYING_KINDS
        ]
        for r in reasons:
            r.origin = moved_origin(r.origin, task.pk)
            moved_reasons.append(r)
        task.origin = moved_origin(task.origin, task.pk)
        task.status = TaskStatus.CANCELLED
        task.note = note[:200]
        task.updated_at = now
    if tasks:
        FollowUpTask.objects.bulk_update(tasks, ["origin", "status", "note", "updated_at"], batch_size=500)
        TaskReason.objects.bulk_update(moved_reasons, ["origin"], batch_size=500)
    gifts = GiftPlan.objects.filter(member=member, store=from_store, status=GiftStatus.PLANNED).update(store=to_store)
    added = tasks_add(store=to_store, reasons=carried, on=on) if carried else {}
    prepared = preparations_for_members(member_ids=[member.pk], today=on)
    audit_log(
        actor=by,
        action="member.tasks.transferred",
        obj=member,
        store=to_store,
        from_store=from_store.code,
        cancelled=sorted(t.pk for t in tasks),
        carried=sum(added.values()) if added else 0,
        prepared=sum(prepared.values()),
        gift_plans_moved=gifts,
    )
