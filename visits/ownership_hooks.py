"""Open tasks follow their members' owner (DOMAIN §13), and never stay on a dead account.

`members.ownership.members_assign` says which members changed consultant and who held them
before; the open tasks those previous holders had on them move to the new consultant through the
card engine (`card_move`: a card joins the new person's open card for the member). Tasks someone
else holds stay where they are: a card escalated to the VIP specialist, a complaint revisit owned
by the person responsible. When an account is switched off, whatever it still holds goes to the
store's VIP specialist, else its manager (`Assigner`'s fallback, which counts active staff only).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django.db.models import Count

from accounts.models import Staff, Store
from accounts.services import audit_log
from members.models import Member, MemberOwnerChange

from .cards import card_move, chunks
from .generation import Assigner
from .models import FollowUpTask, TaskKind, TaskStatus


def on_members_reassigned(
    sender,
    member_ids: Iterable[int],
    consultant: Staff | None,
    by: Staff | None = None,
    previous: dict[int, int | None] | None = None,
    moved: dict | None = None,
    **kwargs,
) -> None:
    """Move the members' open tasks held by their previous consultant to the new one (to the
    store's fallback when the members are left unassigned). A member who had no consultant, or a
    deactivated one, was covered by the fallback: the fallback's tasks on them move too, except
    complaint revisits, which stay with whoever answers for the complaint."""
    member_ids = sorted(set(member_ids))
    if previous is None:
        previous = _previous_owners(member_ids)
    stores: dict[int, int] = {}
    for ids in chunks(member_ids):
        stores.update(Member.objects.filter(pk__in=ids).values_list("pk", "home_store_id"))
    assigners = {pk: Assigner.for_store(Store(pk=pk)) for pk in sorted(set(stores.values()))}
    new_id = consultant.pk if consultant is not None else None

    def target(member_id: int) -> int | None:
        assign = assigners[stores[member_id]]
        return new_id if new_id in assign.active_staff else assign.fallback

    holders = {previous.get(pk) for pk in member_ids} | {a.fallback for a in assigners.values()}
    holders.discard(None)
    count = 0
    for ids in chunks(member_ids):
        tasks = (
            FollowUpTask.objects.select_for_update()
            .filter(member_id__in=ids, status=TaskStatus.OPEN, assignee_id__in=holders)
            .order_by("pk")
        )
        for task in tasks:
            member_id = task.member_id
            to = target(member_id)
            if task.assignee_id == to:
                continue
            if follows_owner(task, owner_id=previous.get(member_id), assign=assigners[stores[member_id]]):
                card_move(task=task, assignee_id=to)
                count += 1
    if count:
        store = Store(pk=next(iter(assigners))) if len(assigners) == 1 else None
        audit_log(
            actor=by,
            action="task.moved_with_members",
            store=store,
            members=len(member_ids),
            tasks=count,
            assignee=new_id,
        )
    if moved is not None:
        moved["tasks"] = moved.get("tasks", 0) + count


def follows_owner(task: FollowUpTask, *, owner_id: int | None, assign: Assigner) -> bool:
    """Whether an open task moves when its member changes owner: held by the owner, or by the
    store's fallback standing in for no owner or a deactivated one (`assign`: the store's), except
    a complaint revisit, which stays with whoever answers for the complaint."""
    if owner_id is not None and task.assignee_id == owner_id:
        return True
    return (
        owner_id not in assign.active_staff
        and task.assignee_id == assign.fallback
        and task.kind != TaskKind.COMPLAINT_REVISIT
    )


def _previous_owners(member_ids: list[int]) -> dict[int, int | None]:
    """Who held each member before their latest change of owner, from the owner history (for a
    sender that did not say)."""
    previous: dict[int, int | None] = {}
    for ids in chunks(member_ids):
        rows = MemberOwnerChange.objects.filter(member_id__in=ids).order_by("member_id", "date", "id")
        previous.update(rows.values_list("member_id", "previous_consultant_id"))
    return previous


def on_staff_deactivated(sender, staff: Staff, by: Staff | None = None, **kwargs) -> None:
    """Every open task the person still holds goes to the fallback of the task's store (the VIP
    specialist, else the manager: active staff only, so never the person switched off)."""
    tasks = list(
        FollowUpTask.objects.select_for_update().filter(assignee_id=staff.pk, status=TaskStatus.OPEN).order_by("pk")
    )
    assigners = {pk: Assigner.for_store(Store(pk=pk)) for pk in sorted({t.store_id for t in tasks})}
    moved: Counter = Counter()
    for task in tasks:
        fallback = assigners[task.store_id].fallback
        card_move(task=task, assignee_id=fallback if fallback != staff.pk else None)
        moved[task.store_id] += 1
    for store_id, count in sorted(moved.items()):
        audit_log(
            actor=by,
            action="task.moved_on_deactivation",
            obj=staff,
            store=Store(pk=store_id),
            tasks=count,
            assignee=assigners[store_id].fallback,
        )


def open_task_counts(*, staff_ids: Iterable[int]) -> dict[int, int]:
    """How many open tasks each person holds (the hand-over page shows everyone's load)."""
    rows = (
        FollowUpTask.objects.filter(assignee_id__in=list(staff_ids), status=TaskStatus.OPEN)
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["assignee_id"]: row["n"] for row in rows}


def open_tasks_moving_with(*, consultant: Staff) -> int:
    """The open tasks the consultant holds on their own members: what a hand-over moves along."""
    return FollowUpTask.objects.filter(
        assignee_id=consultant.pk, status=TaskStatus.OPEN, member__consultant_id=consultant.pk
    ).count()
