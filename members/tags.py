"""Member tags (“婚礼季”, “偏好真丝”): one vocabulary for the whole chain, used by segments and
searches in every store.

Who: the VIP specialist, the manager and HQ see the tags with their member counts and add new ones;
renaming, merging and deleting change every store's members and campaign segments at once, so they
are left to managers and HQ, who see how many members (in all stores) a change touches first.
Consultants put existing tags on members (the member form) and manage none.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from accounts.models import Role, Staff
from accounts.services import audit_log
from vipcrm.params import CONTROL

from .models import Member, MemberTag

TAG_NAME_MAX = MemberTag._meta.get_field("name").max_length


def can_create_tags(viewer: Staff) -> bool:
    return viewer.role in (Role.VIP_SPECIALIST, Role.MANAGER, Role.HQ)


def can_edit_tags(viewer: Staff) -> bool:
    """Rename, merge and delete: chain-wide changes, so managers and HQ only."""
    return viewer.role in (Role.MANAGER, Role.HQ)


def tag_list() -> QuerySet[MemberTag]:
    """Every tag with its member count (all stores), in one query."""
    return MemberTag.objects.annotate(member_total=Count("members", distinct=True)).order_by("name")


def tag_name_clean(name: str, *, exclude: MemberTag | None = None) -> str:
    """The name as stored: trimmed, inner runs of spaces made one; refused when empty, too long,
    holding control characters or already taken (ignoring case: “VIP” and “vip” are one tag)."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": _("请填写标签名。")})
    if CONTROL.search(name):
        raise ValidationError({"name": _("标签名不能包含控制字符。")})
    if len(name) > TAG_NAME_MAX:
        raise ValidationError({"name": _("标签名不能超过 %(max)s 个字。") % {"max": TAG_NAME_MAX}})
    taken = MemberTag.objects.filter(name__iexact=name).exclude(pk=exclude.pk if exclude else None).first()
    if taken is not None:
        raise ValidationError({"name": _("已有标签“%(name)s”。") % {"name": taken.name}})
    return name


@transaction.atomic
def tag_create(*, name: str, by: Staff) -> MemberTag:
    if not can_create_tags(by):
        raise PermissionDenied
    tag = MemberTag.objects.create(name=tag_name_clean(name))
    audit_log(actor=by, action="tag.created", obj=tag, store=by.store, name=tag.name)
    return tag


@transaction.atomic
def tag_rename(*, tag: MemberTag, name: str, by: Staff) -> MemberTag:
    """Rename a tag everywhere (its members keep it under the new name)."""
    if not can_edit_tags(by):
        raise PermissionDenied
    new_name = tag_name_clean(name, exclude=tag)
    if new_name == tag.name:
        return tag
    old_name, tag.name = tag.name, new_name
    tag.save(update_fields=["name"])
    audit_log(actor=by, action="tag.renamed", obj=tag, store=by.store, old=old_name, new=new_name)
    return tag


@transaction.atomic
def tag_merge_into(*, tag: MemberTag, target: MemberTag, by: Staff) -> int:
    """Fold `tag` into `target`: each of its members gets `target` (those who had both keep one),
    then `tag` goes. Returns how many members carried `tag`."""
    if not can_edit_tags(by):
        raise PermissionDenied
    if tag.pk == target.pk:
        raise ValidationError({"target": _("不能合并到同一个标签。")})
    through = Member.tags.through
    member_ids = list(through.objects.filter(membertag_id=tag.pk).values_list("member_id", flat=True))
    through.objects.bulk_create(
        [through(member_id=member_id, membertag_id=target.pk) for member_id in member_ids], ignore_conflicts=True
    )
    audit_log(
        actor=by,
        action="tag.merged",
        obj=target,
        store=by.store,
        merged=tag.name,
        merged_id=tag.pk,
        into=target.name,
        members=len(member_ids),
    )
    tag.delete()
    return len(member_ids)


@transaction.atomic
def tag_delete(*, tag: MemberTag, by: Staff) -> int:
    """Delete a tag: it comes off every member who had it. Returns how many that was."""
    if not can_edit_tags(by):
        raise PermissionDenied
    count = tag.members.count()
    audit_log(actor=by, action="tag.deleted", obj=tag, store=by.store, name=tag.name, members=count)
    tag.delete()
    return count
