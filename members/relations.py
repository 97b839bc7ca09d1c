"""Family links and referrals (issue 11 item 6): services, selectors and the erasure receiver.

A `MemberRelation` reads from its `member`: (A, spouse, B) = B is A's spouse; (A, referred_by, B)
= B referred A. Between two members, the family kinds and friendship are kept from both sides (a
reverse row, parent ↔ child swapped), so each profile lists its own rows and each side's consultant
is reminded of the other's birthday. A referral is one row only: the referrer's profile reads it
the other way round ("推荐了 赵敏").
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import Staff
from accounts.services import audit_log

from .dates import lunar_label, to_lunar
from .models import Member, MemberRelation, RelationKind
from .selectors import can_edit_member, member_scope
from .validators import validate_past_date

# The kind the other member has: (A, parent, B) means (B, child, A). A referral has none.
RECIPROCAL = {
    RelationKind.SPOUSE: RelationKind.SPOUSE,
    RelationKind.SIBLING: RelationKind.SIBLING,
    RelationKind.FRIEND: RelationKind.FRIEND,
    RelationKind.PARENT: RelationKind.CHILD,
    RelationKind.CHILD: RelationKind.PARENT,
}

# Kinds a member has at most one of (a non-member counted too).
ONE_ONLY = {RelationKind.SPOUSE, RelationKind.REFERRED_BY}


def _check_birthday(errors: dict, birthday: date | None, lunar: bool) -> None:
    """The rules for a member's birthday (DOMAIN §12): not in the future, not before 1900."""
    if birthday is None:
        if lunar:
            errors["birthday"].append(_("勾选农历时请填写生日。"))
        return
    try:
        validate_past_date(birthday, label=_("生日"))
    except ValidationError as e:
        errors["birthday"].extend(e.messages)
        return
    if lunar and to_lunar(birthday) is None:
        errors["birthday"].append(_("%(date)s 超出农历换算范围。") % {"date": birthday})


def _check_member_link(errors: dict, *, member: Member, kind: str, relative: Member, by: Staff | None) -> None:
    if by is not None and not member_scope(viewer=by).filter(pk=relative.pk).exists():
        # Another store's member is "not found" for a store user, as everywhere (DOMAIN §11).
        errors["relative"].append(_("没有找到这位会员。"))
        return
    if relative.pk == member.pk:
        errors["relative"].append(_("不能与会员本人建立关系。"))
    elif relative.erased_at is not None:
        errors["relative"].append(_("该会员已删除个人信息，不能关联。"))
    elif MemberRelation.objects.filter(member=member, relative=relative, kind=kind).exists():
        errors["relative"].append(_("这层关系已登记。"))
    elif (
        kind == RelationKind.REFERRED_BY
        and MemberRelation.objects.filter(member=relative, relative=member, kind=kind).exists()
    ):
        errors["relative"].append(_("%(name)s 是由本会员推荐的，不能再登记为其推荐人。") % {"name": relative.name})
    elif kind == RelationKind.SPOUSE and relative.relations.filter(kind=kind).exists():
        errors["relative"].append(_("%(name)s 已登记了配偶。") % {"name": relative.name})


@transaction.atomic
def relation_add(
    *,
    member: Member,
    kind: str,
    by: Staff | None,
    relative: Member | None = None,
    name: str = "",
    birthday: date | None = None,
    birthday_lunar: bool = False,
    note: str = "",
) -> MemberRelation:
    """Link `member` to another member (`relative`) or record a relative who is not one (`name`,
    and a birthday for the greeting). `by` must be allowed to edit the member and, for a member
    link, to see the relative: a store user links only their own store's members, HQ any. A
    link between members in a kind both share is written from both sides. Errors come back as a
    dict of field → messages; nothing is written then."""
    errors: dict[str, list[str]] = defaultdict(list)
    name, note = (name or "").strip(), (note or "").strip()
    if by is not None and not can_edit_member(by, member):
        raise ValidationError(_("你不能修改这位会员的资料。"))
    if kind not in RelationKind.values:
        errors["kind"].append(_("请选择关系。"))
    elif kind in ONE_ONLY and member.relations.filter(kind=kind).exists():
        errors["kind"].append(_("已登记了%(kind)s。") % {"kind": RelationKind(kind).label})
    if relative is not None:
        if name or birthday or birthday_lunar:
            errors["name"].append(_("关联会员时无需填写姓名和生日：以该会员的资料为准。"))
        if kind in RelationKind.values:
            _check_member_link(errors, member=member, kind=kind, relative=relative, by=by)
    else:
        if not name:
            errors["name"].append(_("请选择一位会员，或填写非会员亲友的姓名。"))
        elif len(name) > 50:
            errors["name"].append(_("姓名最多 50 个字。"))
        elif member.relations.filter(relative__isnull=True, kind=kind, name__iexact=name).exists():
            errors["name"].append(_("%(name)s 已登记。") % {"name": name})
        _check_birthday(errors, birthday, birthday_lunar)
    if len(note) > 200:
        errors["note"].append(_("备注最多 200 个字。"))
    if errors:
        raise ValidationError(dict(errors))
    relation = MemberRelation.objects.create(
        member=member,
        kind=kind,
        relative=relative,
        name="" if relative else name,
        birthday=None if relative else birthday,
        birthday_lunar=False if relative else birthday_lunar,
        note=note,
        created_by=by,
    )
    reverse = None
    if relative is not None and kind in RECIPROCAL:
        reverse, _created = MemberRelation.objects.get_or_create(
            member=relative, relative=member, kind=RECIPROCAL[kind], defaults={"created_by": by, "note": note}
        )
    audit_log(
        actor=by,
        action="member.relation.added",
        obj=member,
        store=member.home_store,
        relation=relation.pk,
        kind=kind,
        relative=relative.pk if relative else None,
        reverse=reverse.pk if reverse else None,
    )
    return relation


def _reverse_of(relation: MemberRelation) -> MemberRelation | None:
    if relation.relative_id is None or relation.kind not in RECIPROCAL:
        return None
    return MemberRelation.objects.filter(
        member_id=relation.relative_id, relative_id=relation.member_id, kind=RECIPROCAL[relation.kind]
    ).first()


@transaction.atomic
def relation_remove(*, relation: MemberRelation, by: Staff | None) -> None:
    """Remove a link (and its reverse row, if any). Audited on the member whose row it was."""
    member = relation.member
    reverse = _reverse_of(relation)
    audit_log(
        actor=by,
        action="member.relation.removed",
        obj=member,
        store=member.home_store,
        relation=relation.pk,
        kind=relation.kind,
        relative=relation.relative_id,
        reverse=reverse.pk if reverse else None,
    )
    if reverse is not None:
        reverse.delete()
    relation.delete()


# --- Reading ------------------------------------------------------------------------------------


# How a link reads from the other end: (A, parent, B) is, on B's page, "子女 A".
_SEEN_FROM_RELATIVE = {
    RelationKind.SPOUSE: RelationKind.SPOUSE,
    RelationKind.SIBLING: RelationKind.SIBLING,
    RelationKind.FRIEND: RelationKind.FRIEND,
    RelationKind.PARENT: RelationKind.CHILD,
    RelationKind.CHILD: RelationKind.PARENT,
}


@dataclass
class RelationRow:
    """One link as the member's page shows it."""

    relation: MemberRelation
    label: str  # "配偶 王强 (会员)", "由 李娜 推荐", "推荐了 赵敏", "子女 小明"
    kind: str
    kind_label: str
    name: str
    other: Member | None  # the other member, when they are one
    visible: bool  # the viewer may open the other member's page
    incoming: bool  # the row is the other member's (a referral they were given)
    birthday: date | None = None
    birthday_lunar: bool = False
    lunar_label: str = ""
    note: str = ""


def _label(kind: str, name: str, *, is_member: bool, incoming: bool) -> str:
    if kind == RelationKind.REFERRED_BY:
        if incoming:
            return _("推荐了 %(name)s") % {"name": name}
        return _("由 %(name)s 推荐") % {"name": name}
    text = f"{RelationKind(kind).label} {name}"
    return _("%(text)s (会员)") % {"text": text} if is_member else text


def member_relations(*, viewer: Staff, member: Member) -> list[RelationRow]:
    """The member's family links and referrals read from the member's side: its own rows, and the
    rows of other members that name it and have no reverse here (a referral given; a one-sided
    link). Another member outside the viewer's scope shows by name only, with no link, card or
    phone. Two queries whatever the number of links."""
    rows = list(
        MemberRelation.objects.filter(Q(member=member) | Q(relative=member))
        .select_related("member", "relative")
        .order_by("kind", "pk")
    )
    visible_ids = set(
        member_scope(viewer=viewer)
        .filter(pk__in={r.relative_id for r in rows if r.relative_id} | {r.member_id for r in rows})
        .values_list("pk", flat=True)
    )
    own_pairs = {(r.relative_id, r.kind) for r in rows if r.member_id == member.pk}
    found = []
    for r in rows:
        incoming = r.member_id != member.pk
        if incoming:
            seen_as = _SEEN_FROM_RELATIVE.get(r.kind, r.kind)
            if (r.member_id, seen_as) in own_pairs:
                continue  # the reverse row says it already
            other, kind = r.member, seen_as
        else:
            other, kind = r.relative, r.kind
        name = other.name if other is not None else r.name
        visible = other is not None and other.pk in visible_ids
        found.append(
            RelationRow(
                relation=r,
                label=_label(kind, name, is_member=other is not None, incoming=incoming),
                kind=kind,
                kind_label=str(RelationKind(kind).label),
                name=name,
                other=other,
                visible=visible,
                incoming=incoming,
                birthday=r.birthday if other is None else None,
                birthday_lunar=r.birthday_lunar if other is None else False,
                lunar_label=lunar_label(r.birthday) if other is None and r.birthday and r.birthday_lunar else "",
                note=r.note,
            )
        )
    order = {k: i for i, k in enumerate(RelationKind.values)}
    return sorted(found, key=lambda row: (order.get(row.kind, 99), row.incoming, row.relation.pk))


def relation_get(*, member: Member, pk: int) -> MemberRelation:
    """A link shown on the member's page (its own row or another member's row naming it)."""
    return MemberRelation.objects.select_related("member__home_store").get(Q(member=member) | Q(relative=member), pk=pk)


# --- Erasure (DOMAIN §11) -----------------------------------------------------------------------


def on_member_erased(sender, member: Member, by: Staff | None, traces: list, **kwargs) -> None:
    """An erased member's non-member relatives identify the family: their rows go (name, birthday,
    note), and their names join `traces`, so every app scrubbing its notes about the member (the
    greetings "子女 小明 生日" on its cards and gift plans) removes them too; members' receiver
    runs first, as members precedes the other apps. The links with other members go as well,
    both ways, so no profile says "由 已注销会员 推荐"."""
    own = MemberRelation.objects.filter(member=member, relative__isnull=True)
    for name in own.values_list("name", flat=True):
        if len(name.strip()) >= 2:  # a one-character name would blank every text it occurs in
            traces.append(re.compile(re.escape(name.strip()), re.IGNORECASE))
    linked = MemberRelation.objects.filter(Q(member=member) | Q(relative=member))
    removed = sorted(linked.values_list("pk", flat=True))
    if removed:
        linked.delete()
        audit_log(actor=by, action="member.relation.removed", obj=member, store=member.home_store, relations=removed)
