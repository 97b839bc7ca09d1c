"""CSV exports of member data (DOMAIN §11, §12): scoped, masked without an agreement, audited,
and safe to open in a spreadsheet (a cell starting with = + - @ is never run as a formula).

The member file is also the import's file (issue 11 item 8): its columns are exactly the member
import's columns, under the headers and in the formats the import reads (members/imports.py), so
that a file exported and imported back into the same store adds nothing and changes nothing, and
imported into another database recreates the same members. What the round trip needs:
- full phone numbers: a masked number (138****5678, written for staff without full-contact rights)
  cannot identify anyone, and the import refuses such a row with a message saying why;
- the consultant as "display name（login name）" (the import reads the login name in brackets, a
  bare login name, or a name that fits exactly one active staff member of the store); a
  consultant who can no longer serve the member (deactivated, moved to another store) is written
  as empty: such a member is unassigned (issue 11 item 2);
- the formula guard undone: the import drops exactly the one apostrophe `safe_cell` adds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from django.db.models import Prefetch, QuerySet

from accounts.models import Staff
from accounts.services import audit_log

from .models import Member, MemberTag
from .selectors import can_see_full_contact
from .validators import mask_phone

# Leading characters a spreadsheet reads as a formula (and tab/CR, which some treat the same).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The guard itself: a text that already starts with it gets a second one, so that the import,
# which drops one apostrophe before these characters, gives back exactly what was written.
GUARD = "'"
# Between a member's tags in one cell (a tag name may hold a comma, never this).
TAG_SEPARATOR = "、"


def safe_cell(value) -> str:
    """The value as text; one that would start a formula gets a leading apostrophe, which
    spreadsheets show as plain text and do not evaluate."""
    text = "" if value is None else str(value)
    return GUARD + text if text.startswith((*FORMULA_STARTS, GUARD)) else text


def unguard(text: str) -> str:
    """`safe_cell` undone: the one apostrophe it added, and only that."""
    if text.startswith(GUARD) and text[1:].startswith((*FORMULA_STARTS, GUARD)):
        return text[1:]
    return text


# The member import's columns (members.imports.MEMBER_COLUMNS), under its Chinese headers.
HEADER = [
    "卡号",
    "姓名",
    "手机",
    "性别",
    "生日",
    "农历",
    "入会日期",
    "门店",
    "顾问",
    "等级",
    "营销同意",
    "备注",
    "标签",
]


def consultant_cell(member: Member) -> str:
    """How the file names a member's consultant: readable, and exact for the import. Nobody when
    the consultant can no longer serve the member (deactivated, or now at another store): the
    member is unassigned (members/unassigned.py), and the import would refuse the name."""
    staff = member.consultant
    if staff is None or not staff.is_active or staff.store_id != member.home_store_id:
        return ""
    name = str(staff)
    return staff.username if name == staff.username else f"{name}（{staff.username}）"


def _yes_no(value: bool) -> str:
    return "是" if value else "否"


def _rows(viewer: Staff, members: Iterable[Member]) -> Iterator[list[str]]:
    yield HEADER
    for m in members:
        phone = m.phone if can_see_full_contact(viewer, m) else mask_phone(m.phone)
        yield [
            safe_cell(v)
            for v in (
                m.card_no,
                m.name,
                phone,
                m.get_gender_display(),
                m.birthday.isoformat() if m.birthday else "",
                _yes_no(m.birthday_lunar),
                m.joined_on.isoformat(),
                m.home_store.code,
                consultant_cell(m),
                m.tier,
                _yes_no(m.marketing_consent),
                m.notes,
                TAG_SEPARATOR.join(t.name for t in m.tags.all()),
            )
        ]


def members_csv(*, viewer: Staff, members: QuerySet[Member], filters: dict[str, str] | None = None) -> str:
    """The export as CSV text (UTF-8 with BOM when written, so Excel reads the Chinese).

    Audited with the filter it was asked for and the ids of the members it holds: the log says
    whose data left the system, not only how many."""
    if viewer.is_consultant:
        members = members.filter(consultant=viewer)  # consultants: their own members only
    rows = list(
        members.select_related("home_store", "consultant")
        .prefetch_related(Prefetch("tags", queryset=MemberTag.objects.order_by("name")))
        .order_by("card_no")
    )
    out = io.StringIO()
    csv.writer(out).writerows(_rows(viewer, rows))
    audit_log(
        actor=viewer,
        action="member.exported",
        store=viewer.store,
        count=len(rows),
        filters=filters or {},
        members=[m.pk for m in rows],
    )
    return out.getvalue()
