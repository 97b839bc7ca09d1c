"""The duplicate review list and the merge page (DOMAIN §13 "Duplicates").

The VIP specialist, the manager and HQ see the list (their store's pairs; HQ every pair); a
manager (own store) or HQ dismisses a pair or merges it. Members are fetched through `member_get`,
so another store's member is a 404 here as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.services import audit_log
from vipcrm.permissions import MANAGERS, STORE_LEADS, role_required

from .duplicates import can_dismiss_duplicates, duplicate_dismiss, duplicate_pairs, duplicate_pairs_load
from .merging import MERGE_FIELD_LABELS, MERGE_FIELDS, MERGED, MOVED_LABELS, SURVIVOR, can_merge, members_merge
from .merging import merge_preview as select_merge_preview
from .models import Member
from .selectors import can_see_full_contact, displayed_phone, member_contact, member_get

PAIRS_PER_PAGE = 30


@role_required(*STORE_LEADS)
def duplicate_list(request: HttpRequest) -> HttpResponse:
    pairs = duplicate_pairs(viewer=request.user)
    page = Paginator(pairs, PAIRS_PER_PAGE).get_page(request.GET.get("page"))
    rows = duplicate_pairs_load(list(page.object_list))
    for pair in rows:
        for member in (pair.first, pair.second):
            member.masked_phone = displayed_phone(request.user, member)
    context = {
        "page": page,
        "pairs": rows,
        "can_merge": request.user.is_manager or request.user.is_hq,
        "can_dismiss": can_dismiss_duplicates(request.user),
    }
    return render(request, "members/duplicate_list.html", context)


@role_required(*MANAGERS)
@require_POST
def duplicate_dismiss_view(request: HttpRequest, first: int, second: int) -> HttpResponse:
    one, other = member_get(viewer=request.user, pk=first), member_get(viewer=request.user, pk=second)
    try:
        duplicate_dismiss(first=one, second=other, by=request.user)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        messages.success(
            request, _("已标记 %(a)s 与 %(b)s 不是同一人，不再列出。") % {"a": one.card_no, "b": other.card_no}
        )
    return redirect("members:duplicates")


# --- Merge -----------------------------------------------------------------------------------


class MergeForm(forms.Form):
    """One radio (survivor / merged) per group of fields, and the confirmation."""

    confirm = forms.BooleanField(
        label=gettext_lazy("我已核对：两份资料是同一人，合并后不可撤销。"),
        error_messages={"required": gettext_lazy("请勾选确认后再合并。")},
    )

    def __init__(self, *args, initial_choices: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        for name in MERGE_FIELDS:
            self.fields[name] = forms.ChoiceField(
                choices=[(SURVIVOR, SURVIVOR), (MERGED, MERGED)], initial=initial_choices[name], required=False
            )

    def choices(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or SURVIVOR for name in MERGE_FIELDS}


@dataclass
class MergeRow:
    name: str
    label: str
    survivor: str
    merged: str
    chosen: str

    @property
    def same(self) -> bool:
        return self.survivor == self.merged


def _shown(viewer, member: Member) -> dict[str, str]:
    """Each group's value as the viewer may see it: contact details masked unless
    `can_see_full_contact`."""
    contact = member_contact(viewer=viewer, member=member)
    full = can_see_full_contact(viewer, member)
    birthday = member.birthday.isoformat() if member.birthday else "—"
    if member.birthday and member.birthday_lunar:
        birthday += _("（农历）")
    sizes = " / ".join(v or "—" for v in (member.top_size, member.bottom_size, member.shoe_size))
    consent = (
        _("已同意（%(on)s）") % {"on": member.marketing_consent_at or "—"} if member.marketing_consent else _("未同意")
    )
    return {
        "name": member.name,
        "phone": member.phone if full else contact.phone,
        "birthday": birthday,
        "gender": member.get_gender_display() or "—",
        "address": contact.address or "—",
        "email": contact.email or "—",
        "wechat": contact.wechat or "—",
        "sizes": sizes,
        "style_preferences": member.style_preferences or "—",
        "notes": member.notes or "—",
        "marketing_consent": consent,
        "joined_on": member.joined_on.isoformat(),
        "consultant": str(member.consultant) if member.consultant_id else _("未分配顾问"),
    }


def _initial_choices(survivor: Member, merged: Member) -> dict[str, str]:
    """Keep the survivor's values, except where it has none and the other has one; the earlier
    join date (the ledger's first purchase can't predate it); the survivor's marketing consent."""
    chosen = {}
    for name, fields in MERGE_FIELDS.items():
        empty = all(getattr(survivor, f) in ("", None, False) for f in fields)
        other = any(getattr(merged, f) not in ("", None, False) for f in fields)
        chosen[name] = MERGED if empty and other else SURVIVOR
    chosen["joined_on"] = MERGED if merged.joined_on < survivor.joined_on else SURVIVOR
    chosen["marketing_consent"] = SURVIVOR  # consent is never assumed: whoever merges chooses it
    return chosen


def _merge_pair(request: HttpRequest, survivor: int, merged: int) -> tuple[Member, Member]:
    if survivor == merged:
        raise Http404
    keep, drop = member_get(viewer=request.user, pk=survivor), member_get(viewer=request.user, pk=merged)
    if not can_merge(request.user, keep, drop):
        raise PermissionDenied
    return keep, drop


@role_required(*MANAGERS)
def member_merge_view(request: HttpRequest, survivor: int, merged: int) -> HttpResponse:
    keep, drop = _merge_pair(request, survivor, merged)
    form = MergeForm(request.POST or None, initial_choices=_initial_choices(keep, drop))
    if request.method == "POST" and form.is_valid():
        try:
            merge = members_merge(survivor=keep, merged=drop, choices=form.choices(), by=request.user)
        except ValidationError as e:
            for message in e.messages:
                form.add_error(None, message)
        else:
            messages.success(
                request,
                _("已将卡号 %(old)s 合并到 %(name)s（卡号 %(card)s）。")
                % {"old": merge.merged_card_no, "name": keep.name, "card": keep.card_no},
            )
            return redirect("members:detail", pk=keep.pk)
    return render(request, "members/member_merge.html", _merge_context(request, form, keep, drop))


def _merge_context(request: HttpRequest, form: MergeForm, keep: Member, drop: Member) -> dict:
    left, right = _shown(request.user, keep), _shown(request.user, drop)
    shown_full = [m for m in (keep, drop) if can_see_full_contact(request.user, m) and m.erased_at is None]
    if shown_full and request.method == "GET":
        # The merge page shows whole numbers (a duplicate by phone is told apart by its spelling).
        for member in shown_full:
            audit_log(
                actor=request.user, action="member.phone.viewed", obj=member, store=member.home_store, via="merge"
            )
    rows = [
        MergeRow(name, str(MERGE_FIELD_LABELS[name]), left[name], right[name], form[name].value() or SURVIVOR)
        for name in MERGE_FIELDS
    ]
    preview = select_merge_preview(survivor=keep, merged=drop)
    return {
        "form": form,
        "survivor": keep,
        "merged": drop,
        "rows": rows,
        "moving": [(MOVED_LABELS.get(what, what), n) for what, n in preview.items()],
    }
