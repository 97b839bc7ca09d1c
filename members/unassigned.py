"""Members without a consultant (issue 11 item 2): the list, a suggested owner for each, and the
assignment, which goes through `members.ownership.members_assign` like every change of owner.

Unassigned means: no consultant, or a consultant who can no longer serve the member (deactivated,
or now working at another store): nobody follows such a member up.

The suggested owner, among the active consultants of the member's home store (only they may own
the member, `members.ownership.owner_error`; a VIP specialist or manager sells too, but does not
take members this way):
1. whoever sold the member the most over the program's spend window (12 months): the receipts
   naming them, at any till, returns netted; ties go to the lighter load, then the login name;
2. otherwise the lightest load: the fewest members of the store, counting the suggestions made
   above on the same page, so that accepting a whole page spreads it rather than piling it on one
   person; ties go to the login name.

Set-based: a page of members is one query, its suggestions two more (the sales of the page's
members grouped by seller, and the consultants with their loads), whatever the page's length.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Role, Staff, Store

from .models import Member, OwnerChangeReason, ProgramRules, Purchase
from .ownership import members_assign
from .selectors import member_scope, spend_12m

SOLD = "sold"
LOAD = "load"


def unassigned_q() -> Q:
    """Members nobody serves: no consultant, a deactivated one, or one now at another store."""
    return (
        Q(consultant__isnull=True)
        | Q(consultant__is_active=False)
        | Q(consultant__store__isnull=True)
        | ~Q(consultant__store_id=F("home_store_id"))
    )


def unassigned_store(*, viewer: Staff, store_id: str | int | None) -> Store:
    """The store whose list the viewer works on: their own; HQ picks one (the first by code when
    none is asked for). Another store asked for by a store user, or no such store: 404."""
    if not viewer.is_hq:
        if viewer.store_id is None or (store_id not in (None, "") and str(store_id) != str(viewer.store_id)):
            raise Http404
        return viewer.store
    stores = Store.objects.order_by("code")
    try:
        store = stores.get(pk=store_id) if store_id not in (None, "") else stores.first()
    except (Store.DoesNotExist, ValueError):
        store = None
    if store is None:
        raise Http404
    return store


def unassigned_members(*, viewer: Staff, store: Store, today: date | None = None) -> QuerySet[Member]:
    """The store's unassigned members as the viewer may see them, A first, then by 12-month spend
    (`spend_12m`), then card number."""
    if not (viewer.is_hq or viewer.store_id == store.pk):
        return Member.objects.none()
    today = today or timezone.localdate()
    window = ProgramRules.load().spend_window_days
    return (
        Member.objects.filter(home_store=store, erased_at__isnull=True)
        .filter(unassigned_q())
        .select_related("consultant")
        .annotate(spend_12m=spend_12m(on=today, window_days=window))
        .order_by("tier", F("spend_12m").desc(), "card_no")
    )


def store_consultants(store: Store) -> list[Staff]:
    """The store's active consultants with `load`: how many of the store's members each owns."""
    return list(
        Staff.objects.filter(store=store, is_active=True, role=Role.CONSULTANT)
        .annotate(load=Count("members", filter=Q(members__home_store=store, members__erased_at__isnull=True)))
        .order_by("username")
    )


@dataclass(frozen=True)
class Suggestion:
    consultant: Staff
    why: str  # SOLD or LOAD
    sold: Decimal | None = None  # what they sold the member in the window (SOLD)
    load: int = 0  # how many members they had before this suggestion (LOAD)


def suggest_owners(
    members: Sequence[Member], *, store: Store, consultants: list[Staff], today: date | None = None
) -> dict[int, Suggestion]:
    """A suggested owner for each of `members` (in their order), from `consultants`
    (`store_consultants`): module docstring. One query, whatever the number of members."""
    if not consultants or not members:
        return {}
    today = today or timezone.localdate()
    window = ProgramRules.load().spend_window_days
    by_pk = {s.pk: s for s in consultants}
    load = {s.pk: s.load for s in consultants}
    sales: dict[int, dict[int, Decimal]] = defaultdict(dict)
    rows = (
        Purchase.objects.filter(
            member_id__in=[m.pk for m in members],
            consultant_id__in=list(by_pk),
            date__gt=today - timedelta(days=window),
            date__lte=today,
        )
        .order_by()
        .values("member_id", "consultant_id")
        .annotate(total=Sum("amount"))
    )
    for row in rows:
        if row["total"] > 0:
            sales[row["member_id"]][row["consultant_id"]] = row["total"]
    suggestions: dict[int, Suggestion] = {}
    for m in members:
        sold = sales.get(m.pk)
        if sold:
            pk = min(sold, key=lambda pk: (-sold[pk], load[pk], by_pk[pk].username))
            suggestions[m.pk] = Suggestion(by_pk[pk], SOLD, sold=sold[pk], load=load[pk])
        else:
            pk = min(load, key=lambda pk: (load[pk], by_pk[pk].username))
            suggestions[m.pk] = Suggestion(by_pk[pk], LOAD, load=load[pk])
        load[pk] += 1
    return suggestions


@transaction.atomic
def unassigned_assign(*, by: Staff, store: Store, plan: dict[int, int], note: str = "") -> tuple[int, int]:
    """Give each member of `plan` ({member id: consultant id}) to that consultant, a group per
    consultant through `members_assign`. Every member must be one of the store's members (404
    otherwise: another store's member is not there to assign), every consultant one of its active
    consultants. A member someone has assigned meanwhile is left alone. Returns (members given an
    owner, members skipped)."""
    if not plan:
        return 0, 0
    in_store = member_scope(viewer=by).filter(home_store=store, erased_at__isnull=True, pk__in=list(plan))
    if in_store.count() != len(plan):
        raise Http404
    wanted = set(plan.values())
    staff = {s.pk: s for s in Staff.objects.filter(store=store, is_active=True, role=Role.CONSULTANT, pk__in=wanted)}
    if wanted - set(staff):
        raise ValidationError(_("只能分配给本店在职的形象顾问。"))
    still = set(in_store.filter(unassigned_q()).values_list("pk", flat=True))
    groups: dict[int, list[int]] = defaultdict(list)
    for member_id, staff_id in sorted(plan.items()):
        if member_id in still:
            groups[staff_id].append(member_id)
    changed = 0
    for staff_id, member_ids in sorted(groups.items()):
        changed += len(
            members_assign(
                member_ids=member_ids, consultant=staff[staff_id], by=by, reason=OwnerChangeReason.ASSIGN, note=note
            )
        )
    return changed, len(plan) - len(still)


def as_plan(pairs: Iterable[tuple[str, str]]) -> dict[int, int]:
    """{member id: consultant id} from form values; anything not a number is a 404 (a forged form)."""
    try:
        return {int(member_id): int(staff_id) for member_id, staff_id in pairs}
    except (TypeError, ValueError):
        raise Http404 from None
