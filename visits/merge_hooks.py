"""Two profiles of one person merged (members.merging, `members_merging` signal): the merged
profile's visits, tasks, invitations and gift plans become the survivor's.

The rules kept while moving:
- a reason (member, kind, origin) is on file once: the merged profile's copy of a reason the
  survivor already has is dropped;
- one open contact card per member and person: the merged profile's open cards go to the
  survivor's owner (its consultant, else the store's fallback) and join the survivor's open card
  for that person if there is one (`card_move`'s rule: reasons moved, earliest dates kept);
- a task (member, kind, origin) once: a merged task named like one of the survivor's keeps its
  history under the origin suffixed with "~m<merged id>" (cancelled if still open: the
  survivor's task stands for it);
- one gift plan per member, occasion and date: the one further along (delivered, prepared) stays.
Open work of a merged profile from another store (an HQ merge) moves to the survivor's store.
"""

from __future__ import annotations

from django.utils import timezone

from accounts.models import Staff
from members.models import Member

from .cards import card_join
from .generation import Assigner
from .models import FollowUpTask, GiftPlan, GiftStatus, Invitation, TaskReason, TaskStatus, Visit
from .ownership_hooks import follows_owner

# Every relation to Member this receiver moves (members.merging's test checks none is missing).
HANDLED = {
    ("visits.Visit", "member"): "moved",
    ("visits.FollowUpTask", "member"): "moved; open cards joined to the survivor's owner's card",
    ("visits.TaskReason", "member"): "moved; a reason the survivor already has is dropped",
    ("visits.Invitation", "member"): "moved",
    ("visits.GiftPlan", "member"): "moved; the same occasion and date kept once",
}
GIFT_PROGRESS = {GiftStatus.DECLINED: 0, GiftStatus.PLANNED: 1, GiftStatus.PREPARED: 2, GiftStatus.DELIVERED: 3}


def on_members_merging(sender, survivor: Member, merged: Member, by: Staff | None = None, moved=None, **kwargs):
    moved = moved if moved is not None else {}

    def add(what: str, n: int) -> None:
        if n:
            moved[what] = moved.get(what, 0) + n

    add("visits", Visit.objects.filter(member=merged).update(member=survivor))
    _tasks_follow(survivor, merged, add)
    add("invitations", Invitation.objects.filter(member=merged).update(member=survivor))
    _gift_plans_follow(survivor, merged, add)


def _new_assignee(survivor: Member, merged: Member):
    """Who gets one of the merged profile's open tasks: the survivor's owner for what the merged
    profile's owner (or the fallback standing in for none) held; others keep theirs, unless the
    profile was another store's, whose staff cannot open the survivor."""
    here = Assigner.for_store(survivor.home_store)
    owner = here(survivor.consultant_id)
    if merged.home_store_id != survivor.home_store_id:
        return lambda task: owner

    def to(task: FollowUpTask) -> int | None:
        return owner if follows_owner(task, owner_id=merged.consultant_id, assign=here) else task.assignee_id

    return to


def _tasks_follow(survivor: Member, merged: Member, add) -> None:
    have = set(TaskReason.objects.filter(member=survivor).values_list("kind", "origin"))
    twins = [
        pk
        for pk, kind, origin in TaskReason.objects.filter(member=merged).values_list("pk", "kind", "origin")
        if (kind, origin) in have
    ]
    TaskReason.objects.filter(pk__in=twins).delete()
    now = timezone.now()
    to = _new_assignee(survivor, merged)
    cards = {
        c.assignee_id: c for c in FollowUpTask.objects.filter(member=survivor, status=TaskStatus.OPEN, is_contact=True)
    }
    open_tasks = list(FollowUpTask.objects.select_for_update().filter(member=merged, status=TaskStatus.OPEN))
    # Cards already with their new person first, so that no card takes a person another still has.
    open_tasks.sort(key=lambda t: (t.assignee_id != to(t), t.pk))
    for task in open_tasks:
        assignee = to(task)
        target = cards.get(assignee) if task.is_contact else None
        if target is not None and target.pk != task.pk:
            card_join(task, target)
        else:
            task.assignee_id = assignee
            task.store_id = survivor.home_store_id
            if task.is_contact:
                cards[assignee] = task
        task.updated_at = now
        task.save(update_fields=["status", "note", "assignee", "store", "updated_at"])
    named = set(FollowUpTask.objects.filter(member=survivor).values_list("kind", "origin"))
    for task in FollowUpTask.objects.filter(member=merged).order_by("pk"):
        if (task.kind, task.origin) in named:
            task.origin = f"{task.origin[:50]}~m{merged.pk}"
            if task.status == TaskStatus.OPEN:
                task.status = TaskStatus.CANCELLED
            task.save(update_fields=["origin", "status", "updated_at"])
    add("task_reasons", TaskReason.objects.filter(member=merged).update(member=survivor))
    add("tasks", FollowUpTask.objects.filter(member=merged).update(member=survivor))


def _gift_plans_follow(survivor: Member, merged: Member, add) -> None:
    mine = {(g.occasion, g.occasion_date): g for g in GiftPlan.objects.filter(member=survivor)}
    dropped = []
    for plan in GiftPlan.objects.filter(member=merged):
        other = mine.get((plan.occasion, plan.occasion_date))
        if other is None:
            continue
        if GIFT_PROGRESS[plan.status] > GIFT_PROGRESS[other.status]:
            dropped.append(other.pk)
        else:
            dropped.append(plan.pk)
    GiftPlan.objects.filter(pk__in=dropped).delete()
    GiftPlan.objects.filter(member=merged, status=GiftStatus.PLANNED).update(store=survivor.home_store)
    add("gift_plans", GiftPlan.objects.filter(member=merged).update(member=survivor))
