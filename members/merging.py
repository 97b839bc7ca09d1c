"""Merging two profiles of one person (DOMAIN §13 "Duplicates").

`members_merge` keeps `survivor`, takes each profile field from the side chosen, moves every row
of `merged` to the survivor (this app's here, other apps' through the `members_merging` signal,
each resolving its own uniqueness rules), replays the tier from the joined ledger, records a
`MemberMerge` (what the merged profile was, the choices, how many records moved) and an audit
entry, then deletes `merged`. Its card number stays searchable through the `MemberMerge`.

`MERGE_HANDLED` names every relation to Member this module deals with; other apps' receivers
declare theirs (`HANDLED` in their merge_hooks). A test compares the union with the model's
relations, so a new foreign key to Member cannot be forgotten by the merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from accounts.models import Staff
from accounts.services import audit_log

from .models import (
    ImportantDate,
    Member,
    MemberMerge,
    MemberOwnerChange,
    MemberRelation,
    OwnerChangeReason,
    Purchase,
    TierChange,
    TierHold,
    TransferRequest,
    TransferStatus,
)
from .services import INPUT_REASONS, phone_owner_error, tiers_replay
from .signals import member_dates_changed, members_merging
from .validators import normalize_phone

SURVIVOR, MERGED = "survivor", "merged"

# The choices of the merge page: each a group of fields taken together from one side.
MERGE_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "phone": ("phone",),
    "birthday": ("birthday", "birthday_lunar"),
    "gender": ("gender",),
    "address": ("address",),
    "email": ("email",),
    "wechat": ("wechat",),
    "sizes": ("top_size", "bottom_size", "shoe_size"),
    "style_preferences": ("style_preferences",),
    "notes": ("notes",),
    "marketing_consent": ("marketing_consent", "marketing_consent_at"),
    "joined_on": ("joined_on",),
    "consultant": ("consultant",),
}
MERGE_FIELD_LABELS = {
    "name": gettext_lazy("姓名"),
    "phone": gettext_lazy("手机"),
    "birthday": gettext_lazy("生日"),
    "gender": gettext_lazy("性别"),
    "address": gettext_lazy("地址"),
    "email": gettext_lazy("邮箱"),
    "wechat": gettext_lazy("微信"),
    "sizes": gettext_lazy("尺码"),
    "style_preferences": gettext_lazy("风格偏好"),
    "notes": gettext_lazy("备注"),
    "marketing_consent": gettext_lazy("营销同意"),
    "joined_on": gettext_lazy("入会日期"),
    "consultant": gettext_lazy("专属顾问"),
}
# The merged profile as kept in MemberMerge.merged_profile (and scrubbed if the survivor is erased).
PROFILE_SNAPSHOT = (
    "card_no",
    "name",
    "phone",
    "gender",
    "birthday",
    "birthday_lunar",
    "address",
    "email",
    "wechat",
    "marketing_consent",
    "marketing_consent_at",
    "joined_on",
    "tier",
    "tier_locked",
    "top_size",
    "bottom_size",
    "shoe_size",
    "style_preferences",
    "notes",
)

# Every relation to Member (model label, field name) and what the merge does with it here.
MERGE_HANDLED = {
    ("members.Purchase", "member"): "moved",
    ("members.TierChange", "member"): "manual/import moved, derived replayed",
    ("members.TierHold", "member"): "moved (a hold on a date the survivor has is dropped)",
    ("members.ImportantDate", "member"): "moved (the same kind and date already on file is dropped)",
    ("members.Member_tags", "member"): "union",
    ("members.MemberOwnerChange", "member"): "moved; transfers kept in the merge record",
    ("members.MemberRelation", "member"): "moved (self-links and duplicates dropped)",
    ("members.MemberRelation", "relative"): "moved (self-links and duplicates dropped)",
    ("members.TransferRequest", "member"): "moved (a second pending one is cancelled)",
    ("members.MemberMerge", "survivor"): "moved: earlier merges into `merged` now point at the survivor",
    ("members.DuplicateDismissal", "first"): "dropped with the merged member",
    ("members.DuplicateDismissal", "second"): "dropped with the merged member",
}


def can_merge(viewer: Staff, *members: Member) -> bool:
    """A manager merges members of their own store; HQ any (across stores too)."""
    if viewer.is_hq:
        return True
    return viewer.is_manager and all(m.home_store_id == viewer.store_id for m in members)


def _value(member: Member, name: str):
    value = getattr(member, name)
    return value.isoformat() if isinstance(value, date) else value


def merged_profile(member: Member) -> dict:
    profile = {name: _value(member, name) for name in PROFILE_SNAPSHOT}
    profile["store"] = member.home_store.code
    profile["consultant"] = str(member.consultant) if member.consultant_id else ""
    profile["consultant_id"] = member.consultant_id
    return profile


def _check(*, survivor: Member, merged: Member, choices: dict, by: Staff) -> dict[str, str]:
    if not can_merge(by, survivor, merged):
        raise PermissionDenied
    if survivor.pk == merged.pk:
        raise ValidationError(_("不能把会员合并到自己。"))
    if survivor.erased_at is not None or merged.erased_at is not None:
        raise ValidationError(_("已匿名化的会员不能合并。"))
    unknown = set(choices) - set(MERGE_FIELDS)
    if unknown:
        raise ValueError(f"unknown merge fields: {sorted(unknown)}")
    if any(side not in (SURVIVOR, MERGED) for side in choices.values()):
        raise ValueError("a merge choice is 'survivor' or 'merged'")
    return {name: choices.get(name, SURVIVOR) for name in MERGE_FIELDS}


def _apply_fields(*, survivor: Member, merged: Member, choices: dict[str, str]) -> list[str]:
    """Set the chosen fields (all but the consultant) on the survivor; returns the fields changed."""
    changed = []
    for group, side in choices.items():
        if side != MERGED or group == "consultant":
            continue
        for name in MERGE_FIELDS[group]:
            value = getattr(merged, name)
            if getattr(survivor, name) != value:
                setattr(survivor, name, value)
                changed.append(name)
    try:  # a phone stored before normalisation (a "phone" duplicate) is written in normal form
        normal = normalize_phone(survivor.phone)
    except ValidationError:
        normal = survivor.phone
    if normal != survivor.phone:
        survivor.phone = normal
        changed.append("phone")
    errors = {}
    taken = phone_owner_error(survivor.phone, exclude_pk=survivor.pk) if "phone" in changed else None
    if taken and not Member.objects.filter(pk=merged.pk, phone=survivor.phone).exists():
        errors["phone"] = taken
    earliest = Purchase.objects.filter(member_id__in=[survivor.pk, merged.pk]).aggregate(d=Min("date"))["d"]
    if earliest is not None and survivor.joined_on > earliest:
        errors["joined_on"] = _("入会日期不能晚于两位会员最早的消费日期（%(date)s）。") % {"date": earliest}
    if errors:
        raise ValidationError(errors)
    return changed


@dataclass
class _Moved:
    counts: dict

    def add(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n


def _move_ledger(survivor: Member, merged: Member, moved: _Moved) -> None:
    moved.add("purchases", Purchase.objects.filter(member=merged).update(member=survivor))
    # Purchase and review changes are the engine's: the replay rewrites them from the joined
    # ledger. Manual and import changes are decisions about the person: they come along.
    TierChange.objects.filter(member=merged).exclude(reason__in=INPUT_REASONS).delete()
    moved.add("tier_changes", TierChange.objects.filter(member=merged).update(member=survivor))
    held = survivor.tier_holds.values_list("date", flat=True)
    TierHold.objects.filter(member=merged, date__in=list(held)).delete()
    moved.add("tier_holds", TierHold.objects.filter(member=merged).update(member=survivor))


def _move_profile_rows(survivor: Member, merged: Member, moved: _Moved) -> None:
    have = set(survivor.important_dates.values_list("kind", "date", "lunar"))
    dates = list(merged.important_dates.all())
    twins = [d.pk for d in dates if (d.kind, d.date, d.lunar) in have]
    ImportantDate.objects.filter(pk__in=twins).delete()
    moved.add("important_dates", ImportantDate.objects.filter(member=merged).update(member=survivor))
    tags = set(merged.tags.values_list("pk", flat=True)) - set(survivor.tags.values_list("pk", flat=True))
    survivor.tags.add(*tags)
    moved.add("tags", len(tags))
    # Transfers say where a profile's figures counted before a date (members.selectors
    # home_store_on): on the survivor they would move its own past to a store it was never in. They
    # stay readable in the merge record; the rest of the owner history comes along.
    moved.add(
        "owner_history",
        MemberOwnerChange.objects.filter(member=merged)
        .exclude(reason=OwnerChangeReason.TRANSFER)
        .update(member=survivor),
    )
    moved.add("merges", MemberMerge.objects.filter(survivor=merged).update(survivor=survivor))


def _transfers(merged: Member) -> list[dict]:
    rows = merged.owner_history.filter(reason=OwnerChangeReason.TRANSFER).select_related("store", "previous_store")
    return [
        {"date": r.date.isoformat(), "from": r.previous_store.code if r.previous_store_id else "", "to": r.store.code}
        for r in rows
    ]


def _move_relations(survivor: Member, merged: Member, moved: _Moved) -> None:
    """Family links of both directions; a link between the two profiles and a link the survivor
    already has are dropped (one row per pair and kind, never a link to oneself)."""
    count = 0
    links = set(survivor.relations.filter(relative__isnull=False).values_list("relative_id", "kind"))
    names = set(survivor.relations.filter(relative__isnull=True).values_list("kind", "name"))
    for row in MemberRelation.objects.filter(member=merged).order_by("pk"):
        if row.relative_id is not None:
            key, seen = (row.relative_id, row.kind), links
        else:
            key, seen = (row.kind, row.name), names
        if row.relative_id == survivor.pk or key in seen:
            row.delete()
            continue
        row.member = survivor
        row.save(update_fields=["member"])
        seen.add(key)
        count += 1
    pointing = set(MemberRelation.objects.filter(relative=survivor).values_list("member_id", "kind"))
    for row in MemberRelation.objects.filter(relative=merged).order_by("pk"):
        if row.member_id == survivor.pk or (row.member_id, row.kind) in pointing:
            row.delete()
            continue
        row.relative = survivor
        row.save(update_fields=["relative"])
        pointing.add((row.member_id, row.kind))
        count += 1
    moved.add("relations", count)


def _move_transfer_requests(survivor: Member, merged: Member, by: Staff, moved: _Moved) -> None:
    """Requests come along; a pending one is cancelled if the survivor has one pending already or
    lives in another store than the request leaves from."""
    pending = survivor.transfer_requests.filter(status=TransferStatus.PENDING).exists()
    stale = merged.transfer_requests.filter(status=TransferStatus.PENDING)
    if not pending:
        stale = stale.exclude(from_store_id=survivor.home_store_id)
    stale.update(
        status=TransferStatus.CANCELLED,
        decided_by=by,
        decided_at=timezone.now(),
        decision_note=_("会员已合并到卡号 %(card)s") % {"card": survivor.card_no},
    )
    moved.add("transfer_requests", TransferRequest.objects.filter(member=merged).update(member=survivor))


@transaction.atomic
def members_merge(*, survivor: Member, merged: Member, choices: dict[str, str], by: Staff) -> MemberMerge:
    """Merge `merged` into `survivor` (DOMAIN §13): see the module's docstring. `choices` maps each
    of MERGE_FIELDS to "survivor" (the default) or "merged". Refused (PermissionDenied) unless a
    manager of both members' store or HQ; a ValidationError names what stops it."""
    choices = _check(survivor=survivor, merged=merged, choices=choices, by=by)
    rows = (
        Member.objects.select_for_update(of=("self",))
        .select_related("home_store", "consultant")
        .filter(pk__in=[survivor.pk, merged.pk])
        .order_by("pk")  # the same lock order as any other merge of the two
    )
    locked = {m.pk: m for m in rows}
    if len(locked) < 2:
        raise ValidationError(_("其中一位会员已被合并或删除，请刷新后再试。"))
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    choices = _check(survivor=survivor, merged=merged, choices=choices, by=by)  # as stored now
    profile = merged_profile(merged)
    profile["transfers"] = _transfers(merged)
    birthday_before = (survivor.birthday, survivor.birthday_lunar)

    changed = _apply_fields(survivor=survivor, merged=merged, choices=choices)
    # Both phones are unique: the merged profile lets go of its number before the survivor takes it.
    Member.objects.filter(pk=merged.pk).update(phone=f"merged-{merged.pk}", phone_last4="")
    if changed:
        survivor.save(update_fields=[*set(changed), "updated_at"])
    moved = _Moved({})
    if choices["consultant"] == MERGED and merged.consultant_id != survivor.consultant_id:
        from .ownership import members_assign

        members_assign(
            member_ids=[survivor.pk],
            consultant=merged.consultant,
            by=by,
            reason=OwnerChangeReason.MERGE,
            note=_("合并卡号 %(card)s") % {"card": merged.card_no},
            moved=moved.counts,
        )
        survivor.refresh_from_db(fields=["consultant", "updated_at"])
        moved.counts.pop("tasks", None)  # the survivor's own tasks changing hands are not "moved"

    _move_ledger(survivor, merged, moved)
    _move_profile_rows(survivor, merged, moved)
    _move_relations(survivor, merged, moved)
    _move_transfer_requests(survivor, merged, by, moved)
    members_merging.send(sender=Member, survivor=survivor, merged=merged, by=by, moved=moved.counts)

    merge = MemberMerge.objects.create(
        survivor=survivor,
        merged_card_no=merged.card_no,
        merged_member_id=merged.pk,
        merged_profile=profile,
        choices=choices,
        moved=moved.counts,
        by=by,
    )
    MemberOwnerChange.objects.create(
        member=survivor,
        date=timezone.localdate(),
        store_id=survivor.home_store_id,
        consultant_id=survivor.consultant_id,
        previous_store_id=merged.home_store_id,
        previous_consultant_id=merged.consultant_id,
        reason=OwnerChangeReason.MERGE,
        note=(_("合并卡号 %(card)s") % {"card": merged.card_no})[:200],
        by=by,
    )
    audit_log(
        actor=by,
        action="member.merged",
        obj=survivor,
        store=survivor.home_store,
        merged=merged.pk,
        merged_card=merged.card_no,
        merged_store=merged.home_store.code,
        fields=sorted(set(changed)),
        choices=choices,
        moved=moved.counts,
    )
    merged.delete()
    tiers_replay(member_ids=[survivor.pk])
    survivor.refresh_from_db()
    if (survivor.birthday, survivor.birthday_lunar) != birthday_before or moved.counts.get("important_dates"):
        member_dates_changed.send(sender=Member, member=survivor)
    return merge


def merge_preview(*, survivor: Member, merged: Member) -> dict[str, int]:
    """How many records of each kind the merge would move from `merged` (the confirmation page)."""
    from django.apps import apps

    counts = {
        "purchases": merged.purchases.count(),
        "tier_changes": merged.tier_changes.filter(reason__in=INPUT_REASONS).count(),
        "important_dates": merged.important_dates.count(),
        "tags": merged.tags.exclude(pk__in=survivor.tags.values("pk")).count(),
        "relations": MemberRelation.objects.filter(Q(member=merged) | Q(relative=merged))
        .exclude(Q(member=survivor) | Q(relative=survivor))
        .count(),
    }
    for label, what in (
        ("visits.Visit", "visits"),
        ("visits.FollowUpTask", "tasks"),
        ("visits.Invitation", "invitations"),
        ("visits.GiftPlan", "gift_plans"),
        ("complaints.Complaint", "complaints"),
        ("campaigns.CampaignMember", "campaigns"),
    ):
        counts[what] = apps.get_model(label).objects.filter(member=merged).count()
    return {what: n for what, n in counts.items() if n}


# What the moved counts are called on the pages.
MOVED_LABELS = {
    "purchases": gettext_lazy("消费记录"),
    "tier_changes": gettext_lazy("手动/导入等级变更"),
    "tier_holds": gettext_lazy("等级评审暂缓"),
    "important_dates": gettext_lazy("重要日期"),
    "tags": gettext_lazy("标签"),
    "owner_history": gettext_lazy("归属记录"),
    "merges": gettext_lazy("此前的合并"),
    "relations": pgettext_lazy("plural", "家庭关系"),
    "transfer_requests": pgettext_lazy("plural", "转店申请"),
    "visits": gettext_lazy("回访记录"),
    "tasks": gettext_lazy("回访任务"),
    "task_reasons": gettext_lazy("任务原因"),
    "invitations": gettext_lazy("邀约"),
    "gift_plans": gettext_lazy("礼品计划"),
    "complaints": gettext_lazy("投诉"),
    "campaigns": gettext_lazy("活动名单"),
}


def on_member_erased(sender, member: Member, **kwargs) -> None:
    """An erased survivor's merge records forget the merged profile too (DOMAIN §11): only the old
    card number (kept like the survivor's own) and the counts remain."""
    for merge in MemberMerge.objects.filter(survivor=member):
        merge.merged_profile = {"card_no": merge.merged_card_no, "erased": True}
        merge.save(update_fields=["merged_profile"])
