"""Import of members and purchases from CSV or XLSX (DOMAIN §12).

parse → validate → preview, then commit all or nothing. The management commands and the upload
page both call `import_preview` / `import_commit`; the rules live here once.

Speed is a requirement (25,000 members or 70,000 purchases in well under a minute), so rows are not
written through `member_enroll` / `purchase_record` one by one: the file is validated in memory
against a few set-based lookups (stores, staff, the file's card numbers, phones and receipts, in
chunks), then written with `bulk_create` and the tier engine replays the affected members once.
The row rules mirror those services (`_clean_member`, `_clean_purchase`) and reuse their messages.

A card number already on file:
- with the same data → "unchanged", skipped (importing the same file twice adds nothing);
- with a different phone, home store or join date → an error row: those identify the person, so a
  difference means a wrong card number or a wrong file, and changing them is done on the member page;
- with a different name, gender, birthday, lunar flag, marketing consent, consultant, notes or tags
  (the whole set, names separated by "、"; unknown tags are created) → "updated":
  those fields are overwritten, and the preview lists every change before anyone confirms. The
  importer is always a VIP specialist, manager or HQ acting inside their own scope, who may edit
  those fields on the member page too. An empty cell never erases anything: it means "not given".
- the tier column applies to new members only; an existing member's tier belongs to the tier
  engine and to managers;
- an anonymised (erased) member is skipped and never filled in again.

The member export (members/exports.py) writes exactly these columns, so an exported file imports
back unchanged (issue 11 item 8): every cell loses the one apostrophe the export's formula guard
adds (`_text`), a consultant is found by login name, by "name（login name）" or by a name that fits
exactly one active staff member of the store, and a masked phone (138****5678) is refused clearly.
A consultant changed by an import goes through `members.ownership.members_assign` (reason import).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Lookup
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from accounts.models import Role, Staff, Store
from accounts.services import audit_log
from duties.maintenance import BULK_TABLES, tables_analyze_grown
from vipcrm.bulk import array_param, bulk_insert_rows

from .exports import TAG_SEPARATOR, unguard
from .models import (
    Gender,
    Member,
    MemberOwnerChange,
    MemberTag,
    OwnerChangeReason,
    Purchase,
    PurchaseSource,
    Tier,
    TierChange,
    TierChangeReason,
)
from .ownership import members_assign
from .selectors import member_scope
from .services import _gc_paused, tiers_replay
from .signals import purchases_imported
from .validators import EARLIEST, mask_phone, normalize_phone
from .webhook_hooks import on_members_imported

MEMBERS = "members"
PURCHASES = "purchases"
KINDS = (MEMBERS, PURCHASES)
ROW = "_row"  # the "column" of an error about the whole row

MEMBER_COLUMNS = (
    "card_no",
    "name",
    "phone",
    "gender",
    "birthday",
    "birthday_lunar",
    "joined_on",
    "store",
    "consultant",
    "tier",
    "marketing_consent",
    "notes",
    "tags",
)
PURCHASE_COLUMNS = ("receipt_no", "card_no", "store", "date", "amount", "consultant", "items")
COLUMNS = {MEMBERS: MEMBER_COLUMNS, PURCHASES: PURCHASE_COLUMNS}
REQUIRED = {MEMBERS: ("card_no", "name", "phone", "joined_on"), PURCHASES: ("receipt_no", "card_no", "date", "amount")}

# Chinese headers as stores' spreadsheets and POS exports write them.
HEADER_ALIASES = {
    "卡号": "card_no",
    "会员卡号": "card_no",
    "姓名": "name",
    "手机": "phone",
    "手机号": "phone",
    "手机号码": "phone",
    "性别": "gender",
    "生日": "birthday",
    "农历": "birthday_lunar",
    "农历生日": "birthday_lunar",
    "入会日期": "joined_on",
    "门店": "store",
    "顾问": "consultant",
    "导购": "consultant",
    "等级": "tier",
    "营销同意": "marketing_consent",
    "备注": "notes",
    "标签": "tags",
    "小票号": "receipt_no",
    "单号": "receipt_no",
    "日期": "date",
    "金额": "amount",
    "商品": "items",
}

COLUMN_LABELS = {
    "card_no": gettext_lazy("卡号"),
    "name": gettext_lazy("姓名"),
    "phone": gettext_lazy("手机"),
    "gender": gettext_lazy("性别"),
    "birthday": gettext_lazy("生日"),
    "birthday_lunar": gettext_lazy("农历"),
    "joined_on": gettext_lazy("入会日期"),
    "store": gettext_lazy("门店"),
    "consultant": gettext_lazy("顾问"),
    "tier": gettext_lazy("等级"),
    "marketing_consent": gettext_lazy("营销同意"),
    "notes": gettext_lazy("备注"),
    "tags": gettext_lazy("标签"),
    "receipt_no": gettext_lazy("小票号"),
    "date": gettext_lazy("日期"),
    "amount": gettext_lazy("金额"),
    "items": gettext_lazy("商品"),
    ROW: gettext_lazy("整行"),
}

# Row actions.
NEW = "new"
UPDATED = "updated"
UNCHANGED = "unchanged"
ACTION_LABELS = {NEW: gettext_lazy("新增"), UPDATED: gettext_lazy("更新"), UNCHANGED: gettext_lazy("已存在，跳过")}

# Fields an import may change on an existing member (see the module docstring).
UPDATABLE_FIELDS = ("name", "gender", "birthday", "birthday_lunar", "marketing_consent", "consultant", "notes", "tags")

MAX_ROWS = 200_000
# The longest text each column may hold: the model's max_length where there is one; the raw phone
# as typed (spaces, +86); `items` is free text on the receipt. An overlong cell refuses the row.
FIELD_LIMITS = {
    "card_no": 30,
    "name": 50,
    "phone": 30,
    "store": 20,
    "consultant": 150,
    "receipt_no": 40,
    "items": 500,
    "notes": 5000,
    "tags": 500,
}
DEFAULT_FIELD_LIMIT = 40  # dates, amounts, yes/no, gender, tier
BATCH_SIZE = 2000
MAX_AMOUNT = Decimal("9999999999.99")
CENT = Decimal("0.01")
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"

_DATE_RE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_YES = {"1", "y", "yes", "true", "是", "有", "同意"}
_NO = {"0", "n", "no", "false", "否", "无", "不同意"}
_GENDERS = {
    "f": Gender.FEMALE,
    "female": Gender.FEMALE,
    "女": Gender.FEMALE,
    "m": Gender.MALE,
    "male": Gender.MALE,
    "男": Gender.MALE,
}


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, format, headers)."""


class RowError(NamedTuple):
    row: int
    column: str
    message: str

    @property
    def label(self) -> str:
        return str(COLUMN_LABELS.get(self.column, self.column))


@dataclass(slots=True)
class MemberRow:
    row: int
    card_no: str
    name: str
    phone: str
    joined_on: date
    store: Store
    # None means "not given" (column absent or cell empty): defaults for a new member, and left
    # alone on an existing one.
    gender: str | None = None
    birthday: date | None = None
    birthday_lunar: bool | None = None
    consultant: Staff | None = None
    tier: str | None = None
    marketing_consent: bool | None = None
    notes: str | None = None
    tags: tuple[str, ...] | None = None  # names, sorted
    action: str = NEW
    member_id: int | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def content(self) -> tuple:
        return (
            self.name,
            self.phone,
            self.joined_on,
            self.store.pk,
            self.gender,
            self.birthday,
            self.birthday_lunar,
            self.consultant.pk if self.consultant else None,
            self.tier,
            self.marketing_consent,
            self.notes,
            self.tags,
        )


@dataclass(slots=True)
class PurchaseRow:
    row: int
    receipt_no: str
    card_no: str
    member_id: int
    store: Store
    date: date
    amount: Decimal
    consultant: Staff | None = None
    items: str = ""
    action: str = NEW

    def content(self) -> tuple:
        # What makes two records of a receipt "the same", as in `purchase_record`.
        return (self.member_id, self.date, self.amount)


@dataclass
class ImportPreview:
    """What an import would do: every bad row with its reason, and the rows that would be written."""

    kind: str
    filename: str = ""
    store: Store | None = None
    total_rows: int = 0
    file_errors: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_ok: list[MemberRow | PurchaseRow] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {NEW: 0, UPDATED: 0, UNCHANGED: 0, "duplicates": 0, "erased": 0}
    )
    ignored_columns: list[str] = field(default_factory=list)
    committed: bool = False
    # Filled in by a commit.
    tier_changes: int = 0
    members_replayed: int = 0

    @property
    def is_valid(self) -> bool:
        return not self.file_errors and not self.errors

    @property
    def error_rows(self) -> int:
        return len({e.row for e in self.errors})

    @property
    def has_changes(self) -> bool:
        return bool(self.counts[NEW] or self.counts[UPDATED])

    @property
    def kind_label(self) -> str:
        return pgettext("plural", "会员") if self.kind == MEMBERS else _("消费记录")

    def samples(self, n: int = 5) -> list[MemberRow | PurchaseRow]:
        """A few good rows to show, new and updated ones first."""
        wanted = [r for r in self.rows_ok if r.action in (NEW, UPDATED)]
        return (wanted or self.rows_ok)[:n]

    def updates(self) -> list[MemberRow]:
        return [r for r in self.rows_ok if r.action == UPDATED]

    def error_lines(self) -> list[str]:
        lines = list(self.file_errors)
        for e in self.errors:
            lines.append(
                _("第 %(row)s 行 %(column)s：%(message)s") % {"row": e.row, "column": e.label, "message": e.message}
            )
        return lines

    def summary(self) -> str:
        c = self.counts
        if self.kind == MEMBERS:
            text = _(
                "会员：共 %(total)s 行；新增 %(new)s，更新 %(updated)s，已存在跳过 %(unchanged)s，文件内重复 %(dup)s"
            ) % {
                "total": self.total_rows,
                "new": c[NEW],
                "updated": c[UPDATED],
                "unchanged": c[UNCHANGED],
                "dup": c["duplicates"],
            }
        else:
            text = _("消费记录：共 %(total)s 行；新增 %(new)s，已登记跳过 %(unchanged)s，文件内重复 %(dup)s") % {
                "total": self.total_rows,
                "new": c[NEW],
                "unchanged": c[UNCHANGED],
                "dup": c["duplicates"],
            }
        if c["erased"]:
            text += _("，已匿名化跳过 %(n)s") % {"n": c["erased"]}
        if self.errors:
            text += _("；%(rows)s 行有错误（%(n)s 处）") % {"rows": self.error_rows, "n": len(self.errors)}
        return text


# --- Reading the file ---------------------------------------------------------------------
# An upload is untrusted: its size, its row count (blank rows included: a sheet of a million empty
# rows costs as much to walk as a million full ones) and, for XLSX, what its zip says it unpacks
# to are checked before anything is parsed, and rows are read one at a time. The limits are
# settings so that a deployment can move them; these are the defaults.

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_XLSX_MAX_UNCOMPRESSED = 200 * 1024 * 1024
# Real workbooks compress 3–30 times; a run of zeros or of identical empty rows, 1000 times.
DEFAULT_XLSX_MAX_RATIO = 100
# Below this size a zip member's ratio says nothing (a small styles.xml may compress 200 times).
XLSX_RATIO_FLOOR = 1024 * 1024
XLSX_MAX_MEMBERS = 1000
PROGRESS_EVERY = 2000

Progress = Callable[[int, int | None], None]


def max_bytes() -> int:
    return int(getattr(settings, "IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def max_rows() -> int:
    return int(getattr(settings, "IMPORT_MAX_ROWS", MAX_ROWS))


class Table(NamedTuple):
    header: list[Any]
    body: list[tuple[int, list[Any]]]
    # CSV only: a row with more cells than the header is refused (an unquoted "¥1,280.00" splits
    # into two cells and would otherwise import as 1.00). XLSX cells cannot split.
    strict_width: bool


def read_table(data: bytes, *, progress: Progress | None = None) -> Table:
    """The header cells and the data rows as (row number as the user sees it, cells).

    XLSX is recognised by its content (a zip), whatever the file is called; anything else is read
    as CSV in UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text") or GBK/GB18030.
    Blank rows are dropped but keep their numbers, so errors point at the right line; they count
    toward the row limit all the same.
    """
    if len(data) > max_bytes():
        raise ImportFileError(_("文件不能超过 %(mb)s MB。") % {"mb": max_bytes() // (1024 * 1024)})
    if not data.strip():
        raise ImportFileError(_("文件是空的。"))
    if data.startswith(XLSX_MAGIC):
        xlsx_check(data)
        rows: Iterator[Sequence[Any]] = _xlsx_rows(data)
        strict_width = False
    elif data.startswith(XLS_MAGIC):
        raise ImportFileError(_("不支持旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV 后再导入。"))
    else:
        rows = _csv_rows(_decode(data))
        strict_width = True
    limit = max_rows()
    header: list[Any] | None = None
    body: list[tuple[int, list[Any]]] = []
    # Dates, stores, flags and tiers repeat on every row: one string each, not one per row.
    shared: dict[str, str] = {}
    try:
        for number, cells in enumerate(rows, start=1):
            if number > limit + 1:
                raise ImportFileError(
                    _("文件超过 %(max)s 行（空行也计算在内），请删除多余的行或分批导入。") % {"max": limit}
                )
            if progress is not None and number % PROGRESS_EVERY == 0:
                progress(number, None)
            if len(shared) < SHARED_VALUES:
                cells = [_share(c, shared) for c in cells]
            else:  # full: only the values seen before are shared (its keys are short texts)
                cells = [shared.get(c, c) for c in cells]
            if not any(_text(c) for c in cells):
                continue
            if header is None:
                header = cells
                continue
            body.append((number, cells))
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    if header is None:
        raise ImportFileError(_("文件是空的。"))
    return Table(header, body, strict_width)


SHARED_VALUES = 10_000
MEMO_VALUES = 20_000  # parsed values remembered per column


def _share(value: Any, shared: dict[str, str]) -> Any:
    if not isinstance(value, str) or len(value) > 16:
        return value
    found = shared.get(value)
    if found is not None:
        return found
    if len(shared) < SHARED_VALUES:
        shared[value] = value
    return value


ACCEPTED_ENCODINGS = gettext_lazy("UTF-8、带 BOM 的 UTF-8 或 GBK/GB18030（简体中文）")


def _decode(data: bytes) -> str:
    """The text of a CSV in one of the accepted encodings, or a clear refusal.

    GBK/GB18030 decodes almost any run of bytes without complaint, so a Big5 (traditional
    Chinese) or Shift-JIS (Japanese) file would come through as plausible-looking nonsense
    (陳大文 → 朝ゅ…). It is taken only when the result reads as simplified Chinese: see
    `_looks_simplified_chinese`.
    """
    refused = ImportFileError(
        _(
            "无法识别文件编码：只接受 %(encodings)s 编码的 CSV，或 .xlsx 文件。这个文件可能是繁体（Big5）、"
            "日文（Shift-JIS）或其他编码，请在 Excel 或 WPS 中“另存为”“CSV UTF-8”后再导入。"
        )
        % {"encodings": ACCEPTED_ENCODINGS}
    )
    if data.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    else:
        # UTF-8 first and strictly: GBK would "decode" many UTF-8 files into nonsense.
        encodings = ["utf-8", "gb18030"]
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "gb18030" and not _looks_simplified_chinese(text):
            raise refused
        return text
    raise refused


# Japanese kana sit in GB2312's rows 4 and 5, exactly where Big5 keeps its most common characters
# (一 人 大 中 文 王…); the lead bytes around them that GBK leaves to users land in the private use area.
_NOT_CHINESE = re.compile(r"[\u3040-\u30fa\u30fc-\u30ff\uff66-\uff9f\ue000-\uf8ff\x80-\x9f]")
GB2312_SHARE = 0.5


def _looks_simplified_chinese(text: str) -> bool:
    """True when the non-ASCII characters of `text` read as a GBK file written in mainland China:
    no kana, private-use or control characters, and most of them in GB2312 (the everyday
    simplified characters and full-width punctuation; names may add rarer ones).

    Big5 read as GBK brings kana and private-use characters with its commonest characters, and
    half its characters fall outside GB2312; Shift-JIS kanji fall in GBK's rare extension, outside
    GB2312 altogether."""
    non_ascii = [c for c in text if ord(c) > 0x7F]
    if not non_ascii:
        return True
    if _NOT_CHINESE.search(text):
        return False
    in_gb2312 = 0
    for c in non_ascii:
        try:
            c.encode("gb2312")
        except UnicodeEncodeError:
            continue
        in_gb2312 += 1
    return in_gb2312 > GB2312_SHARE * len(non_ascii)


def _csv_rows(text: str) -> Iterator[list[str]]:
    first_line = text.split("\n", 1)[0]
    # Excel's "Unicode text" export is tab-separated.
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    # Lines are cut from the text lazily: io.StringIO would first copy all of it, four bytes a character.
    lines = (m.group() for m in re.finditer(r"[^\n]*\n|[^\n]+$", text))
    try:
        yield from csv.reader(lines, delimiter=delimiter)
    except csv.Error as e:
        raise ImportFileError(_("CSV 文件格式有误：%(error)s") % {"error": e}) from None


def xlsx_check(data: bytes) -> None:
    """Refuse a zip bomb before any XML is parsed, from the zip's central directory alone.

    Python's zipfile stops every member at the size its directory declares (and then fails on
    the checksum), so a file that lies about its sizes cannot unpack to more than they add up to:
    checking the declared sizes and each large member's compression ratio bounds what reading
    the workbook can cost.
    """
    limit = int(getattr(settings, "IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES", DEFAULT_XLSX_MAX_UNCOMPRESSED))
    ratio_limit = float(getattr(settings, "IMPORT_XLSX_MAX_RATIO", DEFAULT_XLSX_MAX_RATIO))
    unreadable = _("无法读取 Excel 文件，请确认是 .xlsx 文件。")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise ImportFileError(unreadable) from None
    if len(members) > XLSX_MAX_MEMBERS:
        raise ImportFileError(unreadable)
    bomb = _(
        "Excel 文件解压后过大（%(detail)s），可能是“压缩炸弹”，已拒绝，未读取任何内容。请确认文件来源，"
        "或另存为 CSV 后再导入。"
    )
    total = 0
    for info in members:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > XLSX_RATIO_FLOOR and ratio > ratio_limit:
            raise ImportFileError(
                bomb
                % {
                    "detail": _("%(name)s 压缩比 %(ratio)s:1，上限 %(limit)s:1")
                    % {"name": info.filename[:60], "ratio": int(ratio), "limit": int(ratio_limit)}
                }
            )
    if total > limit:
        raise ImportFileError(
            bomb
            % {
                "detail": _("共 %(size)s MB，上限 %(limit)s MB")
                % {"size": total // (1024 * 1024), "limit": limit // (1024 * 1024)}
            }
        )


def _xlsx_rows(data: bytes) -> Iterator[tuple[Any, ...]]:
    """The first visible sheet's rows, read with python-calamine (Rust: about 15 times openpyxl's
    speed; it holds the sheet in memory, bounded by `xlsx_check` before it is opened). Rows come
    from the sheet's first row, blank ones too, so row numbers are the ones the user sees.

    calamine's cells are made what the rest of this module expects (openpyxl's): an empty cell is
    None, a whole number is an int (a phone or card typed as a number, 13800000000.0, reads
    "13800000000"), dates stay date/datetime."""
    from python_calamine import CalamineWorkbook, SheetVisibleEnum

    unreadable = _("无法读取 Excel 文件（%(error)s），请确认是 .xlsx 文件。")
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        visible = [i for i, s in enumerate(workbook.sheets_metadata) if s.visible == SheetVisibleEnum.Visible]
        sheet = workbook.get_sheet_by_index(visible[0] if visible else 0)
        for row in sheet.iter_rows():
            yield tuple(_xlsx_cell(value) for value in row)
    # A damaged, truncated or lying file fails in many ways (zip, XML, shared strings); all mean
    # "cannot read".
    except Exception as e:
        raise ImportFileError(unreadable % {"error": e}) from None


def _xlsx_cell(value: Any) -> Any:
    if value == "":
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _cell_at(cells: list[Any], i: int | None) -> Any:
    """The cell at column index `i` (None: no such column, or a short row)."""
    return None if i is None or i >= len(cells) else cells[i]


def _text(value: Any) -> str:
    """A cell as trimmed text. Whole numbers from XLSX lose their ".0" (card numbers, phones). The
    apostrophe our export puts before a formula-like text (=, +, -, @) is taken off again."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        return unguard(text) if text.startswith("'") else text
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    return str(value).strip()


def _header_key(cell: Any) -> str:
    text = unicodedata.normalize("NFKC", _text(cell)).strip().lower()
    text = re.sub(r"[\s\-]+", "_", text)
    return HEADER_ALIASES.get(text, text)


def map_header(header: Sequence[Any], kind: str, *, store_given: bool) -> tuple[dict[str, int], list[str]]:
    """{column name: index} for the known columns, and the headers ignored. Raises ImportFileError
    naming every missing required column (and a column given twice)."""
    known = COLUMNS[kind]
    index: dict[str, int] = {}
    ignored: list[str] = []
    twice: list[str] = []
    for i, cell in enumerate(header):
        key = _header_key(cell)
        if not key:
            continue
        if key not in known:
            ignored.append(_text(cell))
        elif key in index:
            twice.append(f"{COLUMN_LABELS[key]}（{key}）")
        else:
            index[key] = i
    required = list(REQUIRED[kind]) + ([] if store_given else ["store"])
    missing = [f"{COLUMN_LABELS[c]}（{c}）" for c in required if c not in index]
    problems = []
    if missing:
        problems.append(_("第 1 行（表头）缺少必填列：%(columns)s。") % {"columns": _("、").join(missing)})
    if twice:
        problems.append(_("第 1 行（表头）这些列出现了两次：%(columns)s。") % {"columns": _("、").join(twice)})
    if problems:
        raise ImportFileError(" ".join(problems))
    return index, ignored


# --- Cells --------------------------------------------------------------------------------


class CellError(Exception):
    pass


def parse_date(value: Any, *, today: date, label: str) -> date | None:
    """2024-05-01, 2024/5/1, 2024年5月1日, 20240501, or a date cell; not in the future nor before 1900."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        result = value.date()
    elif isinstance(value, date):
        result = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # A date typed into a cell without a date format: Excel's day number.
        from openpyxl.utils.datetime import from_excel

        if not 1 <= value < 2958466:
            raise CellError(_("“%(value)s”不是有效日期（例：2024-05-01 或 2024/5/1）。") % {"value": _text(value)})
        result = from_excel(value)
        result = result.date() if isinstance(result, datetime) else result
    else:
        text = unicodedata.normalize("NFKC", _text(value))
        if not text:
            return None
        match = _DATE_RE.match(text) or _COMPACT_DATE_RE.match(text)
        try:
            if match is None:
                raise ValueError(text)
            result = date(*(int(g) for g in match.groups()))
        except ValueError:
            raise CellError(_("“%(value)s”不是有效日期（例：2024-05-01 或 2024/5/1）。") % {"value": text}) from None
    # The same messages as validators.validate_past_date, against the import's own "today".
    if result > today:
        raise CellError(_("%(what)s不能晚于今天（%(today)s）。") % {"what": label, "today": today})
    if result < EARLIEST:
        raise CellError(_("%(what)s不能早于 1900 年。") % {"what": label})
    return result


def parse_bool(value: Any) -> bool | None:
    text = unicodedata.normalize("NFKC", _text(value)).lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise CellError(_("“%(value)s”应为 1/0、是/否、Y/N。") % {"value": _text(value)})


def parse_gender(value: Any) -> str | None:
    text = unicodedata.normalize("NFKC", _text(value)).lower()
    if not text:
        return None
    try:
        return _GENDERS[text]
    except KeyError:
        raise CellError(_("“%(value)s”不是有效性别（F/M 或 女/男）。") % {"value": _text(value)}) from None


def parse_tier(value: Any) -> str | None:
    text = unicodedata.normalize("NFKC", _text(value)).upper().replace(" ", "").removesuffix("级")
    if not text:
        return None
    if text not in Tier.values:
        raise CellError(_("“%(value)s”不是有效等级（只能是 A、B 或 C）。") % {"value": _text(value)})
    return text


MASKED_PHONE_ERROR = gettext_lazy(
    "手机号“%(phone)s”是打码的：这个文件是由无权查看完整号码的员工导出的，不能用来导入。"
    "请由已签署保密协议的 VIP 专员、店长或总部重新导出后再导入。"
)
TAG_MAX_LENGTH = 30


def parse_tags(value: Any, *, known: dict[str, str]) -> tuple[str, ...] | None:
    """Tag names separated by "、" (as the export writes them), sorted. `known`: the tags on file
    by their case-folded name ("VIP" and "vip" are one tag, members/tags.py). A tag not on file is
    created by the import, unless it reads as tags on file typed with the wrong separator
    ("婚礼季,偏好真丝" where 婚礼季 exists); a tag whose own name holds a comma comes through."""
    text = _text(value)
    if not text:
        return None
    names: set[str] = set()
    for typed in text.split(TAG_SEPARATOR):
        name = " ".join(typed.split())  # as members.tags.tag_name_clean stores a name
        if not name:
            continue
        if name.casefold() in known:
            names.add(known[name.casefold()])
            continue
        if len(name) > TAG_MAX_LENGTH:
            raise CellError(_("标签“%(name)s”过长，最多 %(max)s 个字符。") % {"name": name[:40], "max": TAG_MAX_LENGTH})
        parts = {p.strip().casefold() for p in re.split(r"[,，;；]", name)}
        if len(parts) > 1 and parts & known.keys():
            raise CellError(_("标签之间请用“、”分隔（“%(name)s”）。") % {"name": name})
        names.add(name)
    return tuple(sorted(names)) or None


_AMOUNT_RE = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_CURRENCY_SIGNS = re.compile(r"[¥￥]|元|rmb|cny", re.IGNORECASE)


def parse_amount(value: Any) -> Decimal | None:
    """1,280.00 / ¥1280 / "¥1,280.00" / -500 (a return); two decimals at most; never zero.

    Thousands separators must sit every three digits (1,2,80 is refused, not read as 1280), and
    exponents are refused (1e5 is a typo or a spreadsheet's rendering, not ¥100,000)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        text = str(value)
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise CellError(_("“%(value)s”不是有效金额（例：1280.00 或 ¥1,280）。") % {"value": text}) from None
    else:
        raw = _text(value)
        text = re.sub(r"\s", "", _CURRENCY_SIGNS.sub("", unicodedata.normalize("NFKC", raw)))
        if not text:
            return None
        if not _AMOUNT_RE.match(text):
            raise CellError(
                _("“%(value)s”不是有效金额（例：1280.00、1,280.00 或 ¥1,280；不能用科学计数法）。") % {"value": raw}
            )
        amount = Decimal(text.replace(",", ""))
    if not amount.is_finite():
        raise CellError(_("“%(value)s”不是有效金额（例：1280.00 或 ¥1,280）。") % {"value": _text(value)})
    if abs(amount) > MAX_AMOUNT:
        raise CellError(_("金额过大：“%(value)s”。") % {"value": _text(value)})
    if amount != amount.quantize(CENT):
        raise CellError(_("金额最多两位小数：“%(value)s”。") % {"value": _text(value)})
    if amount == 0:
        raise CellError(_("金额不能为 0；退货请填负数。"))
    return amount.quantize(CENT)


# --- Shared lookups -------------------------------------------------------------------------


def _chunks(values: Sequence[Any], *, array: bool = False) -> Iterator[Sequence[Any]]:
    # Below SQLite's declared parameter limit; PostgreSQL takes bigger lists happily, and an array
    # parameter (`array`: the caller filters with `_text_in`) whole.
    size = 900 if connection.vendor == "sqlite" else (max(len(values), 1) if array else 5000)
    for i in range(0, len(values), size):
        yield values[i : i + size]


class _TextAnyOf(Lookup):
    """`column = ANY(%s)` with the values as one text array (PostgreSQL): no 5,000-parameter IN
    list to build, send and parse."""

    lookup_name = "text_any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::text[])", [*params, array_param([str(v) for v in self.rhs])]


def _text_in(qs, column: str, values: Sequence[str]):
    """`qs` restricted to rows whose text `column` is one of `values`: one array on PostgreSQL, IN
    elsewhere (give SQLite `_chunks` of them)."""
    if connection.vendor == "postgresql":
        return qs.filter(_TextAnyOf(F(column), list(values)))
    return qs.filter(**{f"{column}__in": values})


def _receipts_on_file(receipts: list[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, date, Decimal]]:
    """{(store id, receipt no.): (member id, date, amount)} of the receipts on file among `receipts`:
    one probe of the (store, receipt no.) unique index per receipt, in one statement on PostgreSQL."""
    on_file: dict[tuple[int, str], tuple[int, date, Decimal]] = {}
    if not receipts:
        return on_file
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT p.store_id, p.receipt_no, p.member_id, p.date, p.amount FROM {Purchase._meta.db_table} p "  # noqa: S608
                "JOIN unnest(%s::bigint[], %s::text[]) AS f(store_id, receipt_no) "
                "ON p.store_id = f.store_id AND p.receipt_no = f.receipt_no",
                [
                    array_param([store_id for store_id, _no in receipts]),
                    array_param([no for _store_id, no in receipts]),
                ],
            )
            for store_id, receipt_no, member_id, d, amount in cursor.fetchall():
                on_file[(store_id, receipt_no)] = (member_id, d, amount)
        return on_file
    by_store: dict[int, list[str]] = defaultdict(list)
    for store_id, receipt_no in receipts:
        by_store[store_id].append(receipt_no)
    for store_id, receipt_nos in by_store.items():
        for chunk in _chunks(receipt_nos):
            for receipt_no, member_id, d, amount in Purchase.objects.filter(
                store_id=store_id, receipt_no__in=chunk
            ).values_list("receipt_no", "member_id", "date", "amount"):
                on_file[(store_id, receipt_no)] = (member_id, d, amount)
    return on_file


def _consume(body: list[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    """The rows in order, letting go of each once it is handed out: a large file's raw cells are
    freed while the checked rows are built, rather than both being held at once."""
    body.reverse()
    while body:
        yield body.pop()


class _Context:
    """What every row is checked against: loaded once per import."""

    def __init__(
        self,
        *,
        kind: str,
        store: Store | None,
        viewer: Staff | None,
        today: date,
        columns: dict[str, int],
        width: int | None = None,
        progress: Progress | None = None,
        total: int = 0,
    ):
        self.kind = kind
        self.viewer = viewer
        self.today = today
        self.columns = columns
        self.width = width
        self.progress = progress
        self.total = total
        # A store user imports into their own store only, whatever the file says.
        if store is None and viewer is not None and not viewer.is_hq and viewer.store_id:
            store = viewer.store
        self.store = store
        self.stores = {s.code.upper(): s for s in Store.objects.all()}
        self.staff: dict[str, Staff] = {}
        self.staff_lower: dict[str, Staff] = {}
        # (store id, name as written) → the store's staff known by that display or full name.
        self.staff_named: dict[tuple[int, str], list[Staff]] = defaultdict(list)
        self.tag_names: dict[str, str] = {}
        self.errors: list[RowError] = []
        # Per column: (index, longest text allowed), and each cell value parsed once (dates, amounts,
        # flags repeat on every row; a parse's result depends only on the value and the column).
        self.limits = [(column, i, FIELD_LIMITS.get(column, DEFAULT_FIELD_LIMIT)) for column, i in columns.items()]
        self.shortest_limit = min((limit for _c, _i, limit in self.limits), default=0)
        self.parsed: dict[str, dict[tuple[type, Any], tuple[bool, Any]]] = defaultdict(dict)
        self.labels: dict[str, str] = {}
        # Stores and consultants found without an error, by the text that named them (and the
        # row's store): the same few repeat on every row. A failed lookup is not kept, so every
        # bad row still gets its own message.
        self.stores_found: dict[str, Store] = {}
        self.consultants_found: dict[tuple[str, int | None], Staff] = {}

    def load_staff(self, usernames: set[str]) -> None:
        """Every staff member named in the file. A chain has hundreds of staff, not hundreds of
        thousands, so one query over all of them also finds usernames typed in another case."""
        if not usernames:
            return
        for s in Staff.objects.order_by("username"):
            self.staff[s.username] = s
            self.staff_lower.setdefault(s.username.lower(), s)
            if s.store_id is not None and s.role != Role.HQ:
                for name in {_name_key(n) for n in (s.display_name, s.get_full_name(), str(s)) if n.strip()}:
                    self.staff_named[(s.store_id, name)].append(s)

    def error(self, row: int, column: str, message: str) -> None:
        self.errors.append(RowError(row, column, str(message)))

    def tick(self, done: int) -> None:
        if self.progress is not None and done % PROGRESS_EVERY == 0:
            self.progress(done, self.total)

    def refused_row(self, row: int, cells: list[Any]) -> bool:
        """Record why a row cannot be read at all: more cells than the header (CSV), or a cell
        longer than its column allows. Such a row is not checked further, and no overlong value
        is repeated in a message."""
        refused = False
        if self.width is not None and len(cells) > self.width:
            self.error(
                row,
                ROW,
                _(
                    "这一行有 %(cells)s 个单元格，比表头（%(width)s 列）多。常见原因是金额里的千位分隔符“,”没有加引号"
                    '（¥1,280.00 要写成 "¥1,280.00" 或 1280.00），或多了分隔符；请改正后重新上传。'
                )
                % {"cells": len(cells), "width": self.width},
            )
            refused = True
        elif self.width is not None and max(map(len, cells), default=0) <= self.shortest_limit:
            return False  # CSV cells are texts, none longer than the shortest limit: the usual row
        for column, i, limit in self.limits:
            raw = cells[i] if i < len(cells) else None
            if raw is None or (type(raw) is str and len(raw) <= limit):
                continue  # the text of a cell is never longer than the cell
            length = len(_text(raw))
            if length > limit:
                self.error(
                    row,
                    column,
                    _("%(column)s过长（%(n)s 个字符），最多 %(max)s 个字符。")
                    % {"column": COLUMN_LABELS[column], "n": length, "max": limit},
                )
                refused = True
        return refused

    def cell(self, cells: list[Any], column: str) -> Any:
        return _cell_at(cells, self.columns.get(column))

    def text(self, cells: list[Any], column: str) -> str:
        return _text(self.cell(cells, column))

    def resolve_store(self, row: int, cells: list[Any]) -> Store | None:
        text = self.text(cells, "store")
        found = self.stores_found.get(text)
        if found is not None:
            return found
        store = self._resolve_store(row, text)
        if store is not None and len(self.stores_found) < MEMO_VALUES:
            self.stores_found[text] = store  # only ever returned without an error
        return store

    def _resolve_store(self, row: int, text: str) -> Store | None:
        code = unicodedata.normalize("NFKC", text).upper()
        if not code:
            if self.store is None:
                self.error(row, "store", _("%(column)s不能为空。") % {"column": COLUMN_LABELS["store"]})
            return self.store
        store = self.stores.get(code)
        if store is None:
            self.error(row, "store", _("门店编码“%(code)s”不存在。") % {"code": code})
            return None
        if self.store is not None and store.pk != self.store.pk:
            if self.viewer is not None and not self.viewer.is_hq:
                self.error(
                    row,
                    "store",
                    _("只能导入本店（%(own)s）的数据，这一行是门店 %(code)s。")
                    % {"own": self.store.code, "code": code},
                )
            else:
                self.error(
                    row,
                    "store",
                    _("门店 %(code)s 与本次导入的门店 %(store)s 不一致。") % {"code": code, "store": self.store.code},
                )
            return None
        return store

    def resolve_consultant(self, row: int, cells: list[Any], store: Store | None) -> Staff | None:
        """The staff member named in the row, who must work at `store` (None if empty or bad).

        Named by login name; by "name（login name）", as the member export writes it; or by a
        display or full name that fits exactly one active staff member of the store."""
        username = self.text(cells, "consultant")
        if not username:
            return None
        key = (username, store.pk if store is not None else None)
        found = self.consultants_found.get(key)
        if found is not None:
            return found
        staff = self._resolve_consultant(row, username, store)
        if staff is not None and len(self.consultants_found) < MEMO_VALUES:
            self.consultants_found[key] = staff  # only ever returned without an error
        return staff

    def _resolve_consultant(self, row: int, username: str, store: Store | None) -> Staff | None:
        staff = self._by_username(username)
        if staff is None:
            bracketed = _BRACKETED_LOGIN_RE.match(username)
            if bracketed:
                staff = self._by_username(bracketed.group(1).strip())
        if staff is None and store is not None:
            named = self.staff_named.get((store.pk, _name_key(username)), [])
            active = [s for s in named if s.is_active]
            if len(active) > 1:
                message = _("门店 %(store)s 有 %(n)s 位在职员工叫“%(name)s”（登录名：%(logins)s），请填写登录名。")
                values = {"store": store.code, "n": len(active), "name": username}
                values["logins"] = _("、").join(s.username for s in active)
                self.error(row, "consultant", message % values)
                return None
            staff = active[0] if active else (named[0] if named else None)
        if staff is None:
            self.error(row, "consultant", _("找不到用户名为“%(name)s”的员工。") % {"name": username})
            return None
        if not staff.is_active:
            self.error(row, "consultant", _("员工“%(name)s”的账号已停用。") % {"name": username})
            return None
        if store is not None and (staff.role == Role.HQ or staff.store_id != store.pk):
            self.error(
                row, "consultant", _("员工“%(name)s”不属于门店 %(store)s。") % {"name": username, "store": store.code}
            )
            return None
        return staff

    def _by_username(self, username: str) -> Staff | None:
        return self.staff.get(username) or self.staff_lower.get(username.lower())

    def names_member(self, home_store_id: int) -> bool:
        """May an error message name another member (name, card, store)? Only inside the viewer's
        scope, and only to a viewer with a confidentiality agreement (DOMAIN §11). The command
        line without --user acts for HQ."""
        if self.viewer is None:
            return True
        if not self.viewer.has_signed_agreement:
            return False
        return self.viewer.is_hq or self.viewer.store_id == home_store_id

    def required_text(self, row: int, cells: list[Any], column: str, max_length: int) -> str:
        value = self.text(cells, column)
        if not value:
            self.error(row, column, _("%(column)s不能为空。") % {"column": COLUMN_LABELS[column]})
        elif len(value) > max_length:
            self.error(
                row, column, _("%(column)s不能超过 %(n)s 个字符。") % {"column": COLUMN_LABELS[column], "n": max_length}
            )
            return ""
        return value

    def value(
        self, row: int, cells: list[Any], column: str, parser, *, required: bool = False, memo: bool = True, **kwargs
    ) -> Any:
        """The parsed cell, or None when it is empty or bad (the reason is recorded). With `memo`,
        a value met before in this column is not parsed again (the parser and its arguments must
        be the same for the whole column)."""
        raw = self.cell(cells, column)
        if isinstance(raw, str | type(None)) and not _text(raw):
            if required:
                self.error(row, column, _("%(column)s不能为空。") % {"column": COLUMN_LABELS[column]})
            return None
        if memo:
            # Keyed by type too: True, 1 and 1.0 are one dict key but not one cell.
            seen = self.parsed[column]
            key = (type(raw), raw)
            found = seen.get(key)
            if found is None:
                try:
                    found = (True, parser(raw, **kwargs))
                except CellError as e:
                    found = (False, str(e))
                if len(seen) < MEMO_VALUES:
                    seen[key] = found
            if found[0]:
                return found[1]
            self.error(row, column, found[1])
            return None
        try:
            return parser(raw, **kwargs)
        except CellError as e:
            self.error(row, column, str(e))
            return None

    def label(self, column: str) -> str:
        found = self.labels.get(column)
        if found is None:
            found = self.labels[column] = str(COLUMN_LABELS[column])
        return found

    def date_value(self, row: int, cells: list[Any], column: str, *, required: bool = False) -> date | None:
        return self.value(row, cells, column, parse_date, required=required, today=self.today, label=self.label(column))


# --- Members ------------------------------------------------------------------------------

# "李娜（sh01_c1）" or "李娜 (sh01_c1)": the member export's way of naming a consultant.
_BRACKETED_LOGIN_RE = re.compile(r"^.*[（(]\s*([^（）()]+?)\s*[)）]$")


def _name_key(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().casefold()


_MEMBER_VALUES = (
    "pk",
    "card_no",
    "name",
    "phone",
    "gender",
    "birthday",
    "birthday_lunar",
    "joined_on",
    "home_store_id",
    "consultant_id",
    "marketing_consent",
    "marketing_consent_at",
    "erased_at",
    "notes",
)


def _preview_members(ctx: _Context, body: list[tuple[int, list[Any]]], preview: ImportPreview) -> None:
    # Pass 1: each row on its own.
    rows: list[MemberRow] = []
    usernames = {u for _, cells in body if (u := ctx.text(cells, "consultant"))}
    ctx.load_staff(usernames)
    if "tags" in ctx.columns:
        ctx.tag_names = {n.casefold(): n for n in MemberTag.objects.order_by("-name").values_list("name", flat=True)}
    for done, (number, cells) in enumerate(_consume(body), start=1):
        ctx.tick(done)
        if ctx.refused_row(number, cells):
            continue
        before = len(ctx.errors)
        card_no = ctx.required_text(number, cells, "card_no", 30)
        name = ctx.required_text(number, cells, "name", 50)
        phone = ""
        raw_phone = ctx.text(cells, "phone")
        if "*" in raw_phone:
            # An export by someone without full-contact rights: the number identifies no one.
            ctx.error(number, "phone", MASKED_PHONE_ERROR % {"phone": raw_phone})
        else:
            try:
                phone = normalize_phone(raw_phone)
            except ValidationError as e:
                for message in e.messages:
                    ctx.error(number, "phone", message)
        gender = ctx.value(number, cells, "gender", parse_gender)
        birthday = ctx.date_value(number, cells, "birthday")
        lunar = ctx.value(number, cells, "birthday_lunar", parse_bool)
        joined_on = ctx.date_value(number, cells, "joined_on", required=True)
        store = ctx.resolve_store(number, cells)
        consultant = ctx.resolve_consultant(number, cells, store)
        tier = ctx.value(number, cells, "tier", parse_tier)
        consent = ctx.value(number, cells, "marketing_consent", parse_bool)
        notes = ctx.text(cells, "notes") or None
        tags = ctx.value(number, cells, "tags", parse_tags, memo=False, known=ctx.tag_names)
        if len(ctx.errors) == before:
            rows.append(
                MemberRow(
                    row=number,
                    card_no=card_no,
                    name=name,
                    phone=phone,
                    joined_on=joined_on,
                    store=store,
                    gender=gender,
                    birthday=birthday,
                    birthday_lunar=lunar,
                    consultant=consultant,
                    tier=tier,
                    marketing_consent=consent,
                    notes=notes,
                    tags=tags,
                )
            )
        elif card_no or phone:
            # Keep what is known, so duplicates against it are still reported.
            rows.append(
                MemberRow(row=-number, card_no=card_no, name=name, phone=phone, joined_on=joined_on, store=store)
            )

    # Pass 2: against the rest of the file and the database.
    cards = sorted({r.card_no for r in rows if r.card_no})
    phones = sorted({r.phone for r in rows if r.phone})
    existing: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(cards):
        for values in Member.objects.filter(card_no__in=chunk).values(*_MEMBER_VALUES):
            existing[values["card_no"]] = values
    if "tags" in ctx.columns:
        _add_tags(existing)
    phone_owners: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(phones):
        for values in Member.objects.filter(phone__in=chunk).values("pk", "phone", "card_no", "name", "home_store_id"):
            phone_owners[values["phone"]] = values
    store_codes = {s.pk: s.code for s in ctx.stores.values()}

    first_card: dict[str, MemberRow] = {}
    first_phone: dict[str, MemberRow] = {}
    for r in rows:
        number = abs(r.row)
        valid = r.row > 0
        errors_before = len(ctx.errors)
        duplicate = False
        if r.card_no:
            first = first_card.get(r.card_no)
            if first is None:
                first_card[r.card_no] = r
            elif valid and first.row > 0 and first.content() == r.content():
                duplicate = True
            elif first.row > 0 and valid:
                ctx.error(
                    number,
                    "card_no",
                    _("卡号 %(card)s 与第 %(row)s 行重复，且内容不同。") % {"card": r.card_no, "row": first.row},
                )
            else:
                ctx.error(
                    number,
                    "card_no",
                    _("卡号 %(card)s 与第 %(row)s 行重复。") % {"card": r.card_no, "row": abs(first.row)},
                )
        owner = phone_owners.get(r.phone)
        first = first_phone.setdefault(r.phone, r) if r.phone else r
        if owner is not None and owner["card_no"] != r.card_no:
            # Naming the member on file says more than naming another line of the file: only to
            # a viewer who may see that member. Anyone else learns that the number is taken (the
            # import cannot go on without saying so) and where to go, never whose it is.
            if ctx.names_member(owner["home_store_id"]):
                message = _("手机号 %(phone)s 已属于会员 %(name)s（卡号 %(card)s）。") % {
                    "phone": r.phone,
                    "name": owner["name"],
                    "card": owner["card_no"],
                }
            else:
                message = _("手机号 %(phone)s 属于其他门店的会员：请联系总部核实，或按跨店服务办理。") % {
                    "phone": r.phone
                }
            ctx.error(number, "phone", message)
        elif first.card_no != r.card_no:
            ctx.error(
                number,
                "phone",
                _("手机号 %(phone)s 与第 %(row)s 行（卡号 %(card)s）重复。")
                % {"phone": r.phone, "row": abs(first.row), "card": first.card_no},
            )
        if not valid:
            continue
        on_file = existing.get(r.card_no)
        if on_file is not None:
            _compare_existing(ctx, r, on_file, store_codes)
        if len(ctx.errors) > errors_before:
            continue
        if duplicate:
            preview.counts["duplicates"] += 1
            continue
        if r.action == "erased":
            preview.counts["erased"] += 1
            continue
        preview.counts[r.action] += 1
        preview.rows_ok.append(r)
    _audit_other_stores(ctx, phone_owners.values(), existing.values(), preview)


def _audit_other_stores(
    ctx: _Context, phone_owners: Iterable[dict[str, Any]], card_owners: Iterable[dict[str, Any]], preview: ImportPreview
) -> None:
    """A phone or card number of another store's member found by a preview is an exact lookup
    outside the viewer's store, audited like the search (DOMAIN §11, §13); the messages themselves
    name no one."""
    if ctx.viewer is None or ctx.viewer.is_hq:
        return
    phones = sorted(o["pk"] for o in phone_owners if o["home_store_id"] != ctx.viewer.store_id)
    cards = sorted(o["pk"] for o in card_owners if o["home_store_id"] != ctx.viewer.store_id)
    if phones or cards:
        audit_log(
            actor=ctx.viewer,
            action="member.import.other_store_matched",
            store=ctx.viewer.store,
            file=preview.filename,
            phone_member_ids=phones,
            card_member_ids=cards,
        )


def _add_tags(existing: dict[str, dict[str, Any]]) -> None:
    """Each member's tag names, sorted, as `tags` (what a tags cell is compared with)."""
    by_pk = {values["pk"]: values for values in existing.values()}
    tags: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(sorted(by_pk)):
        for member_id, name in Member.tags.through.objects.filter(member_id__in=chunk).values_list(
            "member_id", "membertag__name"
        ):
            tags[member_id].append(name)
    for pk, values in by_pk.items():
        values["tags"] = tuple(sorted(tags[pk]))


def _compare_existing(ctx: _Context, r: MemberRow, on_file: dict[str, Any], store_codes: dict[int, str]) -> None:
    """Decide unchanged / updated / error for a card number already on file (module docstring)."""
    number = r.row
    if on_file["home_store_id"] != r.store.pk:
        if ctx.names_member(on_file["home_store_id"]):
            message = _("卡号 %(card)s 已是门店 %(store)s 的会员 %(name)s；转店请在会员页面办理。") % {
                "card": r.card_no,
                "store": store_codes.get(on_file["home_store_id"], "?"),
                "name": on_file["name"],
            }
        else:
            message = _("卡号 %(card)s 已被其他门店的会员使用：请核对卡号；转店请联系总部。") % {"card": r.card_no}
        ctx.error(number, "card_no", message)
        return
    r.member_id = on_file["pk"]
    if on_file["erased_at"] is not None:
        r.action = "erased"
        return
    if on_file["phone"] != r.phone:
        ctx.error(
            number,
            "phone",
            _("卡号 %(card)s 已存在，但手机号不同（系统中为 %(phone)s）；请核对卡号，或在会员页面修改手机号。")
            % {"card": r.card_no, "phone": mask_phone(on_file["phone"])},
        )
    if on_file["joined_on"] != r.joined_on:
        ctx.error(
            number,
            "joined_on",
            _("卡号 %(card)s 已存在，但入会日期不同（系统中为 %(date)s）。")
            % {"card": r.card_no, "date": on_file["joined_on"]},
        )
    given = {
        "name": r.name,
        "gender": r.gender,
        "birthday": r.birthday,
        "birthday_lunar": r.birthday_lunar,
        "marketing_consent": r.marketing_consent,
        "consultant": r.consultant.pk if r.consultant else None,
        "notes": r.notes,
        "tags": r.tags,
    }
    current = dict(on_file, consultant=on_file["consultant_id"])
    for name in UPDATABLE_FIELDS:
        if given[name] is not None and given[name] != current[name]:
            r.changes[name] = (current[name], given[name])
    r.action = UPDATED if r.changes else UNCHANGED


def _write_members(preview: ImportPreview, *, by: Staff | None, today: date) -> None:
    new_rows = [r for r in preview.rows_ok if r.action == NEW]
    members = [
        Member(
            card_no=r.card_no,
            name=r.name,
            phone=r.phone,
            phone_last4=r.phone[-4:],
            gender=r.gender or "",
            birthday=r.birthday,
            birthday_lunar=bool(r.birthday_lunar),
            joined_on=r.joined_on,
            home_store=r.store,
            consultant=r.consultant,
            marketing_consent=bool(r.marketing_consent),
            marketing_consent_at=r.joined_on if r.marketing_consent else None,
            notes=r.notes or "",
            # Who opened a legacy card is unknown; crediting the importer would skew new-card counts.
            opened_by=None,
            tier=Tier.C,
        )
        for r in new_rows
    ]
    Member.objects.bulk_create(members, batch_size=BATCH_SIZE)
    if any(m.pk is None for m in members):
        ids = _member_ids([m.card_no for m in members])
        for m in members:
            m.pk = ids[m.card_no]
    for r, m in zip(new_rows, members, strict=True):
        r.member_id = m.pk
    on_members_imported(members)  # the stores' member.enrolled webhooks, as for a member enrolled one by one
    # Where the owner history starts: the home store and consultant the file gave, from joining.
    MemberOwnerChange.objects.bulk_create(
        [
            MemberOwnerChange(
                member_id=m.pk,
                date=m.joined_on,
                store=m.home_store,
                consultant=m.consultant,
                reason=OwnerChangeReason.IMPORT,
                note=preview.filename[:200],
                by=by,
            )
            for m in members
        ],
        batch_size=BATCH_SIZE,
    )
    _set_tags({r.member_id: r.tags for r in new_rows if r.tags}, replace=False)

    # A tier from the old system is an input the engine keeps, dated the day it was imported.
    changes = [
        TierChange(
            member_id=r.member_id,
            date=today,
            from_tier=Tier.C,
            to_tier=r.tier,
            reason=TierChangeReason.IMPORT,
            by=by,
            note=preview.filename[:200],
        )
        for r in new_rows
        if r.tier and r.tier != Tier.C
    ]
    TierChange.objects.bulk_create(changes, batch_size=BATCH_SIZE)
    preview.tier_changes = len(changes)

    updated = [r for r in preview.rows_ok if r.action == UPDATED]
    if updated:
        _update_members(updated, today=today, by=by, filename=preview.filename)
    if changes:
        preview.members_replayed = _replay([c.member_id for c in changes], today=today)


def _update_members(rows: list[MemberRow], *, today: date, by: Staff | None = None, filename: str = "") -> None:
    by_pk = {}
    for chunk in _chunks([r.member_id for r in rows]):
        by_pk.update(Member.objects.in_bulk(chunk))
    fields = {"updated_at"}
    now = timezone.now()
    objs = []
    new_owners: dict[int | None, list[int]] = defaultdict(list)
    for r in rows:
        member = by_pk[r.member_id]
        for name, (_old, new) in r.changes.items():
            if name == "consultant":
                new_owners[new].append(r.member_id)
            elif name == "tags":
                continue
            elif name == "marketing_consent":
                member.marketing_consent = new
                # Consent learnt from this import is recorded as of today; withdrawal clears the date.
                member.marketing_consent_at = today if new else None
                fields.update(("marketing_consent", "marketing_consent_at"))
            else:
                setattr(member, name, new)
                fields.add(name)
        member.updated_at = now
        objs.append(member)
    Member.objects.bulk_update(objs, sorted(fields), batch_size=BATCH_SIZE)
    _set_tags({r.member_id: r.changes["tags"][1] for r in rows if "tags" in r.changes}, replace=True)
    # A new owner through the one place owners change: history rows, audit, open tasks follow.
    if new_owners:
        staff = Staff.objects.in_bulk([pk for pk in new_owners if pk])
        for pk, member_ids in sorted(new_owners.items(), key=lambda item: item[0] or 0):
            members_assign(
                member_ids=member_ids,
                consultant=staff.get(pk) if pk else None,
                by=by,
                reason=OwnerChangeReason.IMPORT,
                note=filename,
                on=today,
            )


def _set_tags(wanted: dict[int, tuple[str, ...]], *, replace: bool) -> None:
    """Give members these tags (by name), creating the names not yet on file; `replace` first
    takes off the members' other tags."""
    if not wanted:
        return
    names = sorted({n for tags in wanted.values() for n in tags})
    MemberTag.objects.bulk_create([MemberTag(name=n) for n in names], ignore_conflicts=True)
    ids = dict(MemberTag.objects.filter(name__in=names).values_list("name", "pk"))
    through = Member.tags.through
    if replace:
        for chunk in _chunks(sorted(wanted)):
            through.objects.filter(member_id__in=chunk).delete()
    through.objects.bulk_create(
        [through(member_id=m, membertag_id=ids[n]) for m, tags in wanted.items() for n in tags],
        batch_size=BATCH_SIZE,
        ignore_conflicts=True,
    )


def _member_ids(card_nos: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in _chunks(card_nos):
        ids.update(Member.objects.filter(card_no__in=chunk).values_list("card_no", "pk"))
    return ids


def _replay(member_ids: Iterable[int], *, today: date) -> int:
    ids = set(member_ids)
    tiers_replay(member_ids=ids, today=today)
    return len(ids)


# --- Purchases ----------------------------------------------------------------------------


def _preview_purchases(ctx: _Context, body: list[tuple[int, list[Any]]], preview: ImportPreview) -> None:
    parsed: list[tuple[int, str, str, Store | None, date | None, Decimal | None, Staff | None, str, bool]] = []
    # The usual row (every cell readable, each value met before and good) takes the fast path: the
    # same lookups as the _Context methods, without a call chain per cell (issue 14: 100,000 rows).
    # Anything else (an empty, overlong or new value, an error) goes through those methods.
    column = ctx.columns.get
    i_receipt, i_card, i_date, i_amount = column("receipt_no"), column("card_no"), column("date"), column("amount")
    i_store, i_consultant, i_items = column("store"), column("consultant"), column("items")
    dates_seen, amounts_seen = ctx.parsed["date"], ctx.parsed["amount"]
    stores_found, consultants_found = ctx.stores_found, ctx.consultants_found
    width, shortest, errors = ctx.width, ctx.shortest_limit, ctx.errors
    progress = ctx.progress

    def text_at(cells: list[Any], i: int | None) -> str:  # ctx.text(cells, column), by index
        return _text(_cell_at(cells, i))

    ctx.load_staff({u for _, cells in body if (u := text_at(cells, i_consultant))})
    for done, (number, cells) in enumerate(_consume(body), start=1):
        if progress is not None and done % PROGRESS_EVERY == 0:
            ctx.tick(done)
        usual = width is not None and len(cells) <= width and max(map(len, cells), default=0) <= shortest
        if not usual and ctx.refused_row(number, cells):
            continue
        before = len(errors)
        receipt_no = text_at(cells, i_receipt)
        if not receipt_no or len(receipt_no) > 40:
            receipt_no = ctx.required_text(number, cells, "receipt_no", 40)
        card_no = text_at(cells, i_card)
        if not card_no or len(card_no) > 30:
            card_no = ctx.required_text(number, cells, "card_no", 30)
        raw = _cell_at(cells, i_date)
        found = dates_seen.get((type(raw), raw))
        when = found[1] if found is not None and found[0] else ctx.date_value(number, cells, "date", required=True)
        raw = _cell_at(cells, i_amount)
        found = amounts_seen.get((type(raw), raw))
        amount = (
            found[1]
            if found is not None and found[0]
            else ctx.value(number, cells, "amount", parse_amount, required=True)
        )
        store = stores_found.get(text_at(cells, i_store))
        if store is None:
            store = ctx.resolve_store(number, cells)
        username = text_at(cells, i_consultant)
        consultant = None
        if username:
            consultant = consultants_found.get((username, store.pk if store is not None else None))
            if consultant is None:
                consultant = ctx.resolve_consultant(number, cells, store)
        items = text_at(cells, i_items)
        parsed.append((number, receipt_no, card_no, store, when, amount, consultant, items, len(errors) == before))

    # Only members the importer may see, through the same scope as the pages and the API: a card
    # outside it reads exactly like a card that does not exist, so a preview never tells which
    # card numbers exist elsewhere in the chain.
    scope = member_scope(viewer=ctx.viewer) if ctx.viewer is not None else Member.objects.all()
    cards = sorted({p[2] for p in parsed if p[2]})
    members: dict[str, tuple[int, date, bool, int]] = {}
    for chunk in _chunks(cards, array=True):
        for card_no, pk, joined_on, erased_at, home_store_id in _text_in(scope, "card_no", chunk).values_list(
            "card_no", "pk", "joined_on", "erased_at", "home_store_id"
        ):
            members[card_no] = (pk, joined_on, erased_at is not None, home_store_id)
    receipts = sorted({(p[3].pk, p[1]) for p in parsed if p[1] and p[3] is not None})
    on_file = _receipts_on_file(receipts)

    first_receipt: dict[tuple[int, str], PurchaseRow | int] = {}
    for number, receipt_no, card_no, store, when, amount, consultant, items, valid in parsed:
        errors_before = len(ctx.errors)
        member = members.get(card_no) if card_no else None
        if card_no and member is None:
            if ctx.store is not None:
                message = _("门店 %(store)s 没有卡号为 %(card)s 的会员：请核对卡号，或先导入、登记该会员。") % {
                    "store": ctx.store.code,
                    "card": card_no,
                }
            else:
                message = _("卡号 %(card)s 不存在：请先导入或登记该会员。") % {"card": card_no}
            ctx.error(number, "card_no", message)
        elif member is not None and member[2]:
            ctx.error(number, "card_no", _("卡号 %(card)s 的会员已匿名化，不能再登记消费。") % {"card": card_no})
        elif member is not None and when is not None and when < member[1]:
            ctx.error(number, "date", _("消费日期早于会员入会日期（%(joined)s）。") % {"joined": member[1]})
        if not valid or len(ctx.errors) > errors_before:
            if receipt_no and store is not None:
                first_receipt.setdefault((store.pk, receipt_no), number)
            continue
        r = PurchaseRow(
            row=number,
            receipt_no=receipt_no,
            card_no=card_no,
            member_id=member[0],
            store=store,
            date=when,
            amount=amount,
            consultant=consultant,
            items=items,
        )
        key = (store.pk, receipt_no)
        first = first_receipt.get(key)
        if first is not None:
            if not isinstance(first, PurchaseRow):
                ctx.error(
                    number,
                    "receipt_no",
                    _("门店 %(store)s 的小票 %(no)s 与第 %(row)s 行重复。")
                    % {"store": store.code, "no": receipt_no, "row": first},
                )
            elif first.content() == r.content():
                preview.counts["duplicates"] += 1
            else:
                ctx.error(
                    number,
                    "receipt_no",
                    _("门店 %(store)s 的小票 %(no)s 与第 %(row)s 行重复，且内容不同。")
                    % {"store": store.code, "no": receipt_no, "row": first.row},
                )
            continue
        first_receipt[key] = r
        existing = on_file.get(key)
        if existing is not None:
            if existing == r.content():
                r.action = UNCHANGED
            else:
                message = _("门店 %(store)s 的小票 %(no)s 已登记（%(date)s，%(amount)s 元）。") % {
                    "store": store.code,
                    "no": receipt_no,
                    "date": existing[1],
                    "amount": existing[2],
                }
                ctx.error(number, "receipt_no", message)
                continue
        preview.counts[r.action] += 1
        preview.rows_ok.append(r)


# From this many new rows an import may refresh the planner statistics once it commits, of the
# tables it writes, in groups: each group once the import has grown its first table by half or more
# (`tables_analyze_grown`; a go-live load does, a month's receipts into a chain's million do not:
# the planner scales a row count by the table's size, and autovacuum follows). A purchase import's
# new receipts are also the most follow-ups it can add. The tiers it changes (members_member,
# members_tierchange) are the tier replay's, which analyzes those two itself when it moves many.
ANALYZE_AFTER_ROWS = 1000
IMPORT_ANALYZE_GROUPS = {
    MEMBERS: (BULK_TABLES,),
    PURCHASES: (("members_purchase",), ("visits_followuptask", "visits_taskreason", "visits_giftplan")),
}


class ImportedPurchase(NamedTuple):
    """A receipt an import wrote, as `purchases_imported` hands it to its receivers: the fields of
    the Purchase they read, without building 100,000 model instances."""

    pk: int
    store_id: int
    member_id: int
    receipt_no: str
    date: date
    amount: Decimal
    created_at: datetime

    @property
    def id(self) -> int:
        return self.pk


PURCHASE_FIELDS = (
    "store_id",
    "receipt_no",
    "member_id",
    "consultant_id",
    "date",
    "amount",
    "items",
    "source",
    "recorded_by_id",
    "created_at",
)


def _write_purchases(preview: ImportPreview, *, by: Staff | None, today: date) -> None:
    new_rows = [r for r in preview.rows_ok if r.action == NEW]
    # COPY on PostgreSQL from plain tuples (ids drawn first); the unique (store, receipt no.)
    # constraint still refuses a receipt another transaction wrote since the check.
    now = timezone.now()
    by_id = by.pk if by is not None else None
    ids = bulk_insert_rows(
        Purchase,
        PURCHASE_FIELDS,
        [
            (
                r.store.pk,
                r.receipt_no,
                r.member_id,
                r.consultant.pk if r.consultant is not None else None,
                r.date,
                r.amount,
                r.items,
                PurchaseSource.IMPORT,
                by_id,
                now,
            )
            for r in new_rows
        ],
    )
    created = [
        ImportedPurchase(pk, r.store.pk, r.member_id, r.receipt_no, r.date, r.amount, now)
        for pk, r in zip(ids, new_rows, strict=True)
    ]
    # Back-dated purchases change tier history: replay every member touched, once.
    preview.members_replayed = _replay((r.member_id for r in new_rows), today=today)
    # The follow-ups and care resets receipts bring (visits listens), as at the till.
    purchases_imported.send(sender=Purchase, purchases=created)


# --- Entry points -------------------------------------------------------------------------


def import_preview(
    *,
    kind: str,
    data: bytes,
    filename: str = "",
    store: Store | None = None,
    viewer: Staff | None = None,
    today: date | None = None,
    progress: Progress | None = None,
) -> ImportPreview:
    """Read and check a file without writing anything.

    `store` (from `--store` or the upload form) applies to every row without a store column; a
    store user (`viewer`) may only import into their own store, and only their store's members'
    receipts. Returns the preview: file-level errors, every bad row with its reason, the rows that
    would be written, and the counts. `progress(rows_done, rows_total or None)` is called now and
    then for a progress bar.
    """
    # A file's rows become hundreds of thousands of small objects, none in a cycle: the cyclic
    # collector would walk them again and again as they pile up, so it waits (as a large replay).
    with _gc_paused(True):
        return _import_preview(
            kind=kind, data=data, filename=filename, store=store, viewer=viewer, today=today, progress=progress
        )


def _import_preview(
    *,
    kind: str,
    data: bytes,
    filename: str,
    store: Store | None,
    viewer: Staff | None,
    today: date | None,
    progress: Progress | None,
) -> ImportPreview:
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}")
    today = today or timezone.localdate()
    preview = ImportPreview(kind=kind, filename=filename, store=store)
    if viewer is not None and not viewer.is_hq and store is not None and store.pk != viewer.store_id:
        preview.file_errors.append(_("只能导入本店的数据。"))
        return preview
    if kind == MEMBERS and viewer is not None and not viewer.has_signed_agreement:
        # A member import says which phone numbers are already on file; someone who may only see
        # masked numbers could otherwise test candidates until one is "taken".
        preview.file_errors.append(
            _("导入会员需要先签署保密协议：预览会核对手机号是否已登记。请联系店长登记保密协议。")
        )
        return preview
    try:
        table = read_table(data, progress=progress)
        has_store = store is not None or (viewer is not None and not viewer.is_hq and viewer.store_id is not None)
        columns, preview.ignored_columns = map_header(table.header, kind, store_given=has_store)
    except ImportFileError as e:
        preview.file_errors.append(str(e))
        return preview
    body = table.body
    preview.total_rows = len(body)
    if not body:
        preview.file_errors.append(_("文件里只有表头，没有数据行。"))
        return preview
    ctx = _Context(
        kind=kind,
        store=store,
        viewer=viewer,
        today=today,
        columns=columns,
        width=len(table.header) if table.strict_width else None,
        progress=progress,
        total=len(body),
    )
    preview.store = ctx.store
    if kind == MEMBERS:
        _preview_members(ctx, body, preview)
    else:
        _preview_purchases(ctx, body, preview)
    preview.errors = sorted(ctx.errors, key=lambda e: e.row)
    return preview


def _analyze_grown(groups: tuple[tuple[str, ...], ...], *, added: int) -> None:
    for tables in groups:
        tables_analyze_grown(tables, added=added)


@transaction.atomic
def import_commit(
    *,
    kind: str,
    data: bytes,
    filename: str = "",
    store: Store | None = None,
    by: Staff | None = None,
    today: date | None = None,
    progress: Progress | None = None,
) -> ImportPreview:
    """Check the file again (the database may have changed since the preview) and, if every row is
    good, write it in one transaction; otherwise write nothing and return the errors.

    Members: new ones are created (at C, with an `import` tier change for a given A/B tier), profile
    differences on existing cards are applied (module docstring). Purchases: new receipts are
    created and every member touched is replayed by the tier engine. One audit entry per import.
    """
    today = today or timezone.localdate()
    preview = import_preview(
        kind=kind, data=data, filename=filename, store=store, viewer=by, today=today, progress=progress
    )
    if not preview.is_valid:
        return preview
    with _gc_paused(True):  # as the preview: the rows and what they bring are many small objects
        if kind == MEMBERS:
            _write_members(preview, by=by, today=today)
        else:
            _write_purchases(preview, by=by, today=today)
    c = preview.counts
    details: dict[str, Any] = {
        "file": filename,
        "rows": preview.total_rows,
        "created": c[NEW],
        "unchanged": c[UNCHANGED],
        "duplicates": c["duplicates"],
    }
    if kind == MEMBERS:
        details.update(
            updated=c[UPDATED],
            erased_skipped=c["erased"],
            tier_changes=preview.tier_changes,
            updated_cards=[r.card_no for r in preview.updates()],
        )
    else:
        details.update(
            members=preview.members_replayed,
            amount=str(sum((r.amount for r in preview.rows_ok if r.action == NEW), Decimal("0.00"))),
        )
    audit_log(
        actor=by, action="member.imported" if kind == MEMBERS else "purchase.imported", store=preview.store, **details
    )
    if c[NEW] >= ANALYZE_AFTER_ROWS:
        # A bulk load: fresh planner statistics before the next duty plans (PostgreSQL; issue 14).
        transaction.on_commit(lambda: _analyze_grown(IMPORT_ANALYZE_GROUPS[kind], added=c[NEW]))
    preview.committed = True
    return preview
