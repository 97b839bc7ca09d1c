"""Who owns a member (DOMAIN §13): the one place consultants change, with the owner history.

Every change of consultant (a single assignment, a hand-over, the unassigned list, a merge) goes
through `members_assign`: it checks the new owner, writes one `MemberOwnerChange` per member that
actually changes, audits once, and sends `members_reassigned` so that visits moves the members'
open tasks in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Role, Staff, Store
from accounts.services import audit_log, can_manage_staff, staff_deactivate
from accounts.signals import staff_deactivated

from .models import TIER_RANK, Member, MemberOwnerChange, OwnerChangeReason, ProgramRules
from .selectors import members_by_consultant
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
    moved: dict | None = None,
) -> list[int]:
    """Give the members to `consultant` (None: unassigned). Members already theirs are left alone.
    Returns the ids that changed owner. Receivers of `members_reassigned` add what they moved
    along to `moved` ({"tasks": n}), for the caller to report."""
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
    members_reassigned.send(
        sender=Member,
        member_ids=ids,
        consultant=consultant,
        by=by,
        # Who held each member before: visits moves the open tasks those people hold, not others'.
        previous={m.pk: m.consultant_id for m in changing},
        moved=moved if moved is not None else {},
    )
    return ids


# --- Hand-over (DOMAIN §13 "Owner") ------------------------------------------------------------


def can_hand_over(viewer, store: Store | None) -> bool:
    """The store's VIP specialist or manager hands over its consultants' members; HQ any store's."""
    if not getattr(viewer, "is_authenticated", False):
        return False
    if viewer.is_hq:
        return True
    return store is not None and viewer.store_id == store.pk and viewer.role in (Role.VIP_SPECIALIST, Role.MANAGER)


@dataclass(frozen=True)
class HandOver:
    """What a hand-over did: members and open tasks moved, each receiver's share, and whether the
    account was then switched off."""

    members: int
    tasks: int
    shares: list[tuple[Staff, int]]
    deactivated: bool


@transaction.atomic
def members_hand_over(
    *,
    from_consultant: Staff,
    to: Sequence[Staff],
    spread: bool,
    note: str,
    by: Staff | None,
    member_ids: Iterable[int] | None = None,
    deactivate: bool = False,
) -> HandOver:
    """Hand a consultant's members (all, or the chosen `member_ids`) over to one person, or spread
    evenly across `to` (someone leaves, moves or has too many). Each member gets an owner-history
    row with the note; open tasks move with the members (visits, through `members_reassigned`).
    With `deactivate`, the account is then switched off in the same transaction (a refusal, e.g.
    members left behind, undoes the whole hand-over)."""
    giver = Staff.objects.select_for_update(of=("self",)).select_related("store").get(pk=from_consultant.pk)
    if by is not None and not can_hand_over(by, giver.store):
        raise PermissionDenied
    note = (note or "").strip()
    receivers = _checked_receivers(giver, list(to), spread=spread, note=note)
    if deactivate and by is not None and not can_manage_staff(viewer=by, staff=giver):
        raise ValidationError({"deactivate": _("您无权停用该账号。")})
    rows = _members_to_hand_over(giver, member_ids)
    shares = deal(rows, receivers)
    moved: dict = {}
    for receiver in receivers:
        if shares[receiver.pk]:
            members_assign(
                member_ids=shares[receiver.pk],
                consultant=receiver,
                by=by,
                reason=OwnerChangeReason.HANDOVER,
                note=note,
                moved=moved,
            )
    tasks = moved.get("tasks", 0)
    audit_log(
        actor=by,
        action="member.handed_over",
        obj=giver,
        store=giver.store,
        members=len(rows),
        tasks=tasks,
        shares={str(pk): len(ids) for pk, ids in shares.items()},
        spread=spread,
        note=note[:200],
    )
    if deactivate:
        staff_deactivate(staff=giver, by=by, note=note)
    elif not giver.is_active:
        # An account switched off before hand-overs existed may still hold tasks on other people's
        # members: they go where a deactivation sends them, so no open task stays on a dead account.
        staff_deactivated.send(sender=Staff, staff=giver, by=by)
    return HandOver(
        members=len(rows),
        tasks=tasks,
        shares=[(r, len(shares[r.pk])) for r in receivers if shares[r.pk]],
        deactivated=deactivate,
    )


def _checked_receivers(giver: Staff, to: list[Staff], *, spread: bool, note: str) -> list[Staff]:
    """The receivers, fresh from the database, lightest load first; or a ValidationError naming
    every problem (DOMAIN §12: a clear error, nothing done)."""
    errors: dict[str, list[str]] = {}
    if giver.store_id is None:
        raise ValidationError({"to": _("%(name)s 不属于任何门店，没有可交接的会员。") % {"name": giver}})
    receivers = list(Staff.objects.filter(pk__in={s.pk for s in to}).select_related("store").order_by("pk"))
    if not receivers:
        errors.setdefault("to", []).append(_("请选择接收会员的员工。"))
    elif not spread and len(receivers) > 1:
        errors.setdefault("to", []).append(_("交给一人时只能选择一位接收人；要分给多人，请选择“平均分配”。"))
    for person in receivers:
        if person.pk == giver.pk:
            errors.setdefault("to", []).append(_("不能交接给 %(name)s 本人。") % {"name": person})
        elif person.store_id != giver.store_id:
            errors.setdefault("to", []).append(
                _("%(name)s 不是%(store)s的员工。") % {"name": person, "store": giver.store.name}
            )
        elif not person.is_active:
            errors.setdefault("to", []).append(_("%(name)s 已停用，不能接收会员。") % {"name": person})
    if not note:
        errors.setdefault("note", []).append(_("请填写交接说明（例如：离职、调店、会员过多）。"))
    if errors:
        raise ValidationError(errors)
    load = members_by_consultant(store_id=giver.store_id)
    return sorted(receivers, key=lambda s: (load.get(s.pk, 0), s.pk))


@dataclass(frozen=True)
class _Row:
    pk: int
    tier: str
    spend: Decimal


def _members_to_hand_over(giver: Staff, member_ids: Iterable[int] | None) -> list[_Row]:
    """The giver's members (or the chosen ones, all of which must still be theirs), with what the
    fair deal sorts them by: tier, then 12-month spend."""
    rules = ProgramRules.load()
    start = timezone.localdate() - timedelta(days=rules.spend_window_days - 1)
    qs = Member.objects.filter(consultant=giver, erased_at__isnull=True)
    wanted = None if member_ids is None else {int(pk) for pk in member_ids}
    if wanted is not None:
        qs = qs.filter(pk__in=wanted)
    spend = Coalesce(
        Sum("purchases__amount", filter=Q(purchases__date__gte=start)),
        Value(Decimal(0)),
        output_field=DecimalField(),
    )
    rows = [_Row(pk, tier, total) for pk, tier, total in qs.values_list("pk", "tier", spend).order_by("pk")]
    if wanted is not None and len(rows) != len(wanted):
        raise ValidationError(
            {
                "members": _("所选会员中有 %(count)s 位已不属于 %(name)s，请刷新后重选。")
                % {
                    "count": len(wanted) - len(rows),
                    "name": giver,
                }
            }
        )
    if not rows:
        raise ValidationError({"members": _("%(name)s 名下没有可交接的会员。") % {"name": giver}})
    return rows


def deal(rows: Sequence[_Row], receivers: Sequence[Staff]) -> dict[int, list[int]]:
    """Deal the members out like cards, most valuable first (tier, 12-month spend, then the oldest
    card), in snake order (1-2-3, 3-2-1, …): everyone gets a count within one of the others and a
    fair mix of tiers and spend; the last, partial round runs from the lightest load (receivers
    come lightest first), so any extra member goes to whoever has fewest. Deterministic: the same
    members and people give the same deal."""
    order = sorted(rows, key=lambda r: (-TIER_RANK[r.tier], -r.spend, r.pk))
    shares: dict[int, list[int]] = {r.pk: [] for r in receivers}
    n = len(receivers)
    flip = (len(order) // n) % 2
    for i, row in enumerate(order):
        turn, seat = divmod(i, n)
        person = receivers[seat if (turn + flip) % 2 == 0 else n - 1 - seat]
        shares[person.pk].append(row.pk)
    return shares


# --- Reads --------------------------------------------------------------------------------------


def member_owner_history(*, member: Member) -> QuerySet[MemberOwnerChange]:
    """The member's owner history, newest first, with the names it shows joined in (one query)."""
    return member.owner_history.select_related(
        "store", "previous_store", "consultant", "previous_consultant", "by"
    ).order_by("-date", "-id")


def handover_candidates(*, viewer: Staff) -> QuerySet[Staff]:
    """Whose members the viewer may hand over: the staff of their store (HQ: every store's) who
    are active or still own members, each with `owned`, their number of members."""
    qs = Staff.objects.exclude(role=Role.HQ).filter(store__isnull=False)
    if not viewer.is_hq:
        qs = qs.filter(store_id=viewer.store_id)
    return (
        qs.annotate(owned=Count("members", filter=Q(members__erased_at__isnull=True)))
        .filter(Q(is_active=True) | Q(owned__gt=0))
        .select_related("store")
        .order_by("store__code", "-is_active", "username")
    )


def handover_receivers(*, giver: Staff) -> QuerySet[Staff]:
    """Who may receive the giver's members: the active staff of the giver's store, with `owned`."""
    return (
        Staff.objects.filter(store_id=giver.store_id, is_active=True)
        .exclude(pk=giver.pk)
        .exclude(role=Role.HQ)
        .annotate(owned=Count("members", filter=Q(members__erased_at__isnull=True)))
        .order_by("owned", "username")
    )


def owned_by_tier(*, consultant: Staff) -> dict[str, int]:
    """The consultant's members per tier ({"A": 3, …})."""
    rows = (
        Member.objects.filter(consultant=consultant, erased_at__isnull=True)
        .values("tier")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["tier"]: row["n"] for row in rows}


def ownership_figures(*, viewer: Staff) -> dict[str, int]:
    """The hub's counts in the viewer's scope: members without a consultant, members whose
    consultant is switched off (a hand-over is due), transfer requests waiting."""
    from .models import TransferRequest, TransferStatus

    members = Member.objects.filter(erased_at__isnull=True)
    transfers = TransferRequest.objects.filter(status=TransferStatus.PENDING)
    if not viewer.is_hq:
        members = members.filter(home_store_id=viewer.store_id)
        transfers = transfers.filter(Q(from_store_id=viewer.store_id) | Q(to_store_id=viewer.store_id))
    figures = members.aggregate(
        unassigned=Count("pk", filter=Q(consultant__isnull=True)),
        orphaned=Count("pk", filter=Q(consultant__is_active=False)),
    )
    figures["transfers"] = transfers.count()
    return figures
