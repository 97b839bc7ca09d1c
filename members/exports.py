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

At chain size (issue 14) the file is written a chunk at a time from `values_list` rows (no model
instances), with the tags and consultants of each chunk read in one query each: a request streams
it (the first bytes leave at once, memory stays flat); above `STREAM_LIMIT` rows a worker writes it
to a file instead (members/export_jobs.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from itertools import islice
from types import SimpleNamespace

from django.db.models import QuerySet

from accounts.models import Staff
from accounts.services import audit_log

from .models import Gender, Member, MemberTag
from .selectors import can_see_full_contact, ids_filter
from .validators import mask_phone

# Leading characters a spreadsheet reads as a formula (and tab/CR, which some treat the same).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The guard itself: a text that already starts with it gets a second one, so that the import,
# which drops one apostrophe before these characters, gives back exactly what was written.
GUARD = "'"
# Between a member's tags in one cell (a tag name may hold a comma, never this).
TAG_SEPARATOR = "、"
# Rows read and written per chunk; and the most a request streams (more: a background job).
CHUNK_ROWS = 2000
STREAM_LIMIT = 20_000
BOM = "\ufeff"  # Excel needs it to read UTF-8


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
    return _consultant_text(member.consultant, member.home_store_id)


def _consultant_text(staff: Staff | None, home_store_id: int) -> str:
    if staff is None or not staff.is_active or staff.store_id != home_store_id:
        return ""
    name = str(staff)
    return staff.username if name == staff.username else f"{name}（{staff.username}）"


def _yes_no(value: bool) -> str:
    return "是" if value else "否"


# What a row reads: the member's own columns and what the privacy rule and the consultant need.
_COLUMNS = (
    "pk",
    "card_no",
    "name",
    "phone",
    "gender",
    "birthday",
    "birthday_lunar",
    "joined_on",
    "home_store__code",
    "home_store_id",
    "consultant_id",
    "tier",
    "marketing_consent",
    "notes",
    "erased_at",
)


def export_members(*, viewer: Staff, members: QuerySet[Member]) -> QuerySet[Member]:
    """What leaves: consultants only their own members (of the list they filtered), by card number."""
    if viewer.is_consultant:
        members = members.filter(consultant=viewer)
    return members.order_by("card_no")


def export_audit(*, viewer: Staff, member_ids: list[int], filters: dict[str, str] | None, **extra) -> None:
    """Audited with the filter asked for and the ids of the members the file holds: the log says
    whose data left the system, not only how many."""
    audit_log(
        actor=viewer,
        action="member.exported",
        store=viewer.store,
        count=len(member_ids),
        filters=filters or {},
        members=member_ids,
        **extra,
    )


def csv_chunks(
    *, viewer: Staff, members: QuerySet[Member], progress: Callable[[int], None] | None = None
) -> Iterator[str]:
    """The file (`export_members` order), as text chunks: the BOM and header, then CHUNK_ROWS rows
    at a time. Phones in full only where `can_see_full_contact` allows, else masked."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    yield BOM + out.getvalue()
    staff = {s.pk: s for s in Staff.objects.filter(pk__in=members.order_by().values("consultant_id"))}
    genders = {value: str(label) for value, label in Gender.choices}  # translated once, not per row
    tag_names = dict(MemberTag.objects.values_list("pk", "name"))
    rows = members.values_list(*_COLUMNS).iterator(chunk_size=CHUNK_ROWS)
    done = 0
    while chunk := list(islice(rows, CHUNK_ROWS)):
        tags = _tags_of([row[0] for row in chunk], tag_names) if tag_names else {}
        out.seek(0)
        out.truncate()
        writer.writerows(_row(viewer, row, staff, genders, tags) for row in chunk)
        done += len(chunk)
        if progress:
            progress(done)
        yield out.getvalue()


def _tags_of(member_ids: list[int], names: dict[int, str]) -> dict[int, list[str]]:
    """Each member's tag names, sorted: one query for a chunk (`names`: every tag's, read once)."""
    found: dict[int, list[str]] = {}
    for member_id, tag_id in ids_filter(Member.tags.through.objects, "member_id", member_ids).values_list(
        "member_id", "membertag_id"
    ):
        found.setdefault(member_id, []).append(names[tag_id])
    return {member_id: sorted(tags) for member_id, tags in found.items()}


def _row(viewer: Staff, row: tuple, staff: dict[int, Staff], genders: dict, tags: dict[int, list[str]]) -> list[str]:
    (pk, card_no, name, phone, gender, birthday, lunar, joined_on, store_code, store_id, consultant_id, tier,
     consent, notes, erased_at) = row  # fmt: skip
    # The one privacy rule (members.selectors), asked about the row's own fields.
    who = SimpleNamespace(erased_at=erased_at, home_store_id=store_id, consultant_id=consultant_id)
    shown_phone = phone if can_see_full_contact(viewer, who) else mask_phone(phone)
    return [
        safe_cell(v)
        for v in (
            card_no,
            name,
            shown_phone,
            genders.get(gender, ""),
            birthday.isoformat() if birthday else "",
            _yes_no(lunar),
            joined_on.isoformat(),
            store_code,
            _consultant_text(staff.get(consultant_id), store_id),
            tier,
            _yes_no(consent),
            notes,
            TAG_SEPARATOR.join(tags.get(pk, [])),
        )
    ]


def members_csv(*, viewer: Staff, members: QuerySet[Member], filters: dict[str, str] | None = None) -> str:
    """The whole export as one text (with the BOM), audited: for small files and tests; the pages
    stream it (`csv_chunks`) or leave it to a job."""
    members = export_members(viewer=viewer, members=members)
    export_audit(viewer=viewer, member_ids=list(members.values_list("pk", flat=True)), filters=filters)
    return "".join(csv_chunks(viewer=viewer, members=members))
