"""CSV exports of member data (DOMAIN §11, §12): scoped, masked without an agreement, audited,
and safe to open in a spreadsheet (a cell starting with = + - @ is never run as a formula)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from accounts.models import Staff
from accounts.services import audit_log

from .models import Member
from .selectors import can_see_full_contact, member_list_rows
from .validators import mask_phone

# Leading characters a spreadsheet reads as a formula (and tab/CR, which some treat the same).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """The value as text; one that would start a formula gets a leading apostrophe, which
    spreadsheets show as plain text and do not evaluate."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


HEADER = ["卡号", "姓名", "手机", "性别", "生日", "农历", "等级", "入会日期", "门店", "顾问", "最近消费", "营销同意"]


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
                m.birthday or "",
                "是" if m.birthday_lunar else "",
                m.tier,
                m.joined_on,
                m.home_store.code,
                m.consultant or "",
                m.last_purchase_on or "",
                "是" if m.marketing_consent else "否",
            )
        ]


def members_csv(*, viewer: Staff, members: QuerySet[Member], filters: dict[str, str] | None = None) -> str:
    """The export as CSV text (UTF-8 with BOM when written, so Excel reads the Chinese).

    Audited with the filter it was asked for and the ids of the members it holds: the log says
    whose data left the system, not only how many."""
    if viewer.is_consultant:
        members = members.filter(consultant=viewer)  # consultants: their own members only
    rows = list(member_list_rows(members.order_by("card_no")))
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
