"""Imports of members and purchases (DOMAIN §12): every bad row with its reason, all or nothing,
and the same file twice adds nothing."""

import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import AuditEntry
from members.imports import (
    MEMBERS,
    PURCHASES,
    CellError,
    import_commit,
    import_preview,
    parse_amount,
    parse_bool,
    parse_date,
)
from members.models import Member, Purchase, Tier, TierChange, TierChangeReason
from members.services import tiers_replay

from ..factories import MemberFactory, PurchaseFactory

MEMBER_HEADER = "card_no,name,phone,gender,birthday,birthday_lunar,joined_on,store,consultant,tier,marketing_consent"
PURCHASE_HEADER = "receipt_no,card_no,store,date,amount,consultant,items"


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def errors_by_row(preview) -> dict[int, list[tuple[str, str]]]:
    found: dict[int, list[tuple[str, str]]] = {}
    for e in preview.errors:
        found.setdefault(e.row, []).append((e.column, e.message))
    return found


def days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)


# --- Cells ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,280.00", Decimal("1280.00")),
        ("¥1280", Decimal("1280.00")),
        ("￥1,280.5", Decimal("1280.50")),
        ("-300", Decimal("-300.00")),
        ("1280元", Decimal("1280.00")),
        (1280, Decimal("1280.00")),
        (99.5, Decimal("99.50")),
        ("", None),
    ],
)
def test_it_reads_amounts_as_shops_write_them(raw, expected):
    assert parse_amount(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "0", "0.00", "12.345", "1e400", "1e-400"])
def test_it_refuses_bad_or_zero_amounts(raw):
    with pytest.raises(CellError):
        parse_amount(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "2024-05-01",
        "2024/5/1",
        "2024.5.1",
        "2024年5月1日",
        "20240501",
        "2024-05-01 13:45:00",
        date(2024, 5, 1),
        datetime(2024, 5, 1, 9, 30),
    ],
)
def test_it_reads_dates_in_the_usual_spellings(raw):
    assert parse_date(raw, today=date(2025, 1, 1), label="日期") == date(2024, 5, 1)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2024-02-30", "不是有效日期"),
        ("2025-01-02", "不能晚于今天"),
        ("1899/12/31", "不能早于 1900 年"),
        ("May 1", "不是有效日期"),
    ],
)
def test_it_refuses_impossible_future_and_ancient_dates(raw, reason):
    with pytest.raises(CellError, match=reason):
        parse_date(raw, today=date(2025, 1, 1), label="日期")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("是", True),
        ("Y", True),
        ("yes", True),
        ("TRUE", True),
        ("0", False),
        ("否", False),
        ("n", False),
        ("No", False),
        ("", None),
    ],
)
def test_it_reads_yes_and_no(raw, expected):
    assert parse_bool(raw) is expected


# --- Members -------------------------------------------------------------------------------


def test_it_imports_members_with_defaults_and_consent(store_a, staff_a):
    data = csv_bytes(
        MEMBER_HEADER,
        f"V100,李娜,138 0013 8000,女,1990/3/8,是,2023-06-01,SHA,{staff_a.consultant.username},,1",
        "V101,陈静,+852 5123 4567,,,,2023/7/1,sha,,C,0",
    )
    result = import_commit(kind=MEMBERS, data=data, filename="m.csv", by=staff_a.specialist)

    assert result.committed and result.counts["new"] == 2
    li = Member.objects.get(card_no="V100")
    assert (li.phone, li.phone_last4, li.gender, li.birthday, li.birthday_lunar) == (
        "13800138000",
        "8000",
        "F",
        date(1990, 3, 8),
        True,
    )
    assert li.home_store == store_a and li.consultant == staff_a.consultant and li.tier == Tier.C
    # Consent from an import is dated the day the member joined.
    assert li.marketing_consent and li.marketing_consent_at == date(2023, 6, 1)
    assert li.opened_by is None
    chen = Member.objects.get(card_no="V101")
    assert chen.phone == "+85251234567" and not chen.marketing_consent and chen.marketing_consent_at is None
    assert not TierChange.objects.exists()


def test_it_lists_every_bad_row_with_its_reason_and_writes_nothing(store_a, store_b, staff_a, staff_b, member_a):
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    data = csv_bytes(
        MEMBER_HEADER,
        "V200,好会员,13700000001,F,,,2023-01-01,SHA,,,",  # row 2: good
        "V201,坏手机,12345,F,,,2023-01-01,SHA,,,",  # row 3
        "V202,重复手机,13700000001,F,,,2023-01-01,SHA,,,",  # row 4: same phone as row 2
        f"V203,老会员的手机,{member_a.phone},F,,,2023-01-01,SHA,,,",  # row 5
        "V204,无门店,13700000004,F,,,2023-01-01,XXX,,,",  # row 6
        "V205,无顾问,13700000005,F,,,2023-01-01,SHA,nobody,,",  # row 7
        f"V206,外店顾问,13700000006,F,,,2023-01-01,SHA,{staff_b.consultant.username},,",  # row 8
        f"V207,未来,13700000007,F,,,{future},SHA,,,",  # row 9
        "V208,太早,13700000008,F,1899-12-31,,2023-01-01,SHA,,,",  # row 10
        "V209,坏等级,13700000009,F,,,2023-01-01,SHA,,D,",  # row 11
        "V210,坏性别,13700000010,X,,,2023-01-01,SHA,,,maybe",  # row 12: two reasons
        ",没卡号,13700000011,F,,,,SHA,,,",  # row 13: two reasons
    )
    members_before = Member.objects.count()

    result = import_commit(kind=MEMBERS, data=data, filename="bad.csv", by=staff_a.manager)

    assert not result.committed
    assert Member.objects.count() == members_before
    assert not AuditEntry.objects.filter(action="member.imported").exists()
    errors = errors_by_row(result)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert errors[3][0][0] == "phone" and "不是有效的手机号" in errors[3][0][1]
    assert errors[4] == [("phone", "手机号 13700000001 与第 2 行（卡号 V200）重复。")]
    # The duplicate names the member who has the number.
    assert errors[5] == [("phone", f"手机号 {member_a.phone} 已属于会员 张丽（卡号 {member_a.card_no}）。")]
    assert errors[6] == [("store", "门店编码“XXX”不存在。")]
    assert errors[7] == [("consultant", "找不到用户名为“nobody”的员工。")]
    assert errors[8] == [("consultant", f"员工“{staff_b.consultant.username}”不属于门店 SHA。")]
    assert errors[9][0][0] == "joined_on" and "不能晚于今天" in errors[9][0][1]
    assert errors[10] == [("birthday", "生日不能早于 1900 年。")]
    assert errors[11] == [("tier", "“D”不是有效等级（只能是 A、B 或 C）。")]
    assert [c for c, _ in errors[12]] == ["gender", "marketing_consent"]
    assert [c for c, _ in errors[13]] == ["card_no", "joined_on"]
    assert result.counts["new"] == 1  # the one good row, which was not written either


def test_it_reports_missing_required_columns_by_name(store_a):
    data = csv_bytes("卡号,姓名,性别", "V1,李娜,F")

    result = import_preview(kind=MEMBERS, data=data)

    assert not result.is_valid and not result.errors
    message = result.file_errors[0]
    for column in ("手机（phone）", "入会日期（joined_on）", "门店（store）"):
        assert column in message
    assert "卡号" not in message.split("：", 1)[1]


def test_it_imports_a_gbk_csv_with_chinese_headers(store_a, staff_a):
    data = csv_bytes(
        "卡号,姓名,手机号,性别,生日,农历,入会日期,门店,导购,等级,营销同意",
        f"V300,王芳,13900000300,女,1988/12/1,否,2022/3/15,SHA,{staff_a.consultant.username},,是",
        encoding="gbk",
    )
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")

    result = import_commit(kind=MEMBERS, data=data, filename="gbk.csv", by=staff_a.specialist)

    assert result.committed, result.error_lines()
    m = Member.objects.get(card_no="V300")
    assert (m.name, m.phone, m.joined_on) == ("王芳", "13900000300", date(2022, 3, 15))
    assert m.consultant == staff_a.consultant and m.marketing_consent


def test_it_imports_utf8_with_bom(store_a):
    data = "\ufeff卡号,姓名,手机,入会日期,门店\r\nV301,赵敏,13900000301,2021-01-01,SHA\r\n".encode()
    assert data.startswith(b"\xef\xbb\xbf")

    result = import_commit(kind=MEMBERS, data=data)

    assert result.committed, result.error_lines()
    assert Member.objects.get(card_no="V301").name == "赵敏"


def test_it_imports_xlsx_recognised_by_content(store_a):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Card_No ", "NAME", "Phone", "Joined_On", "Birthday", "Marketing_Consent"])
    sheet.append([400, "孙丽", 13900000400, datetime(2022, 5, 1), date(1991, 2, 3), True])
    sheet.append([None, None, None, None, None, None])  # a blank line keeps row numbers honest
    sheet.append(["V401", "周芳", "13900000401", "2022/5/2", None, 0])
    sheet.append(["V402", "错日期", "13900000402", "2022/13/2", None, 0])
    buffer = io.BytesIO()
    workbook.save(buffer)

    preview = import_preview(kind=MEMBERS, data=buffer.getvalue(), filename="members.csv", store=store_a)

    assert errors_by_row(preview) == {5: [("joined_on", "“2022/13/2”不是有效日期（例：2024-05-01 或 2024/5/1）。")]}
    assert preview.counts["new"] == 2
    first = preview.rows_ok[0]
    assert (first.card_no, first.phone, first.joined_on, first.birthday, first.marketing_consent) == (
        "400",
        "13900000400",
        date(2022, 5, 1),
        date(1991, 2, 3),
        True,
    )


def test_it_adds_nothing_when_the_same_member_file_comes_again(store_a, staff_a):
    data = csv_bytes(
        MEMBER_HEADER,
        "V500,李娜,13800000500,F,1990-01-01,,2023-01-01,SHA,,B,1",
        "V501,陈静,13800000501,,,,2023-01-01,SHA,,,",
        "V501,陈静,13800000501,,,,2023-01-01,SHA,,,",  # the same row twice: imported once
    )
    first = import_commit(kind=MEMBERS, data=data, by=staff_a.specialist)
    assert first.committed and first.counts["new"] == 2 and first.counts["duplicates"] == 1
    snapshot = list(Member.objects.order_by("pk").values())
    changes = TierChange.objects.count()

    second = import_commit(kind=MEMBERS, data=data, by=staff_a.specialist)

    assert second.committed and second.counts == {"new": 0, "updated": 0, "unchanged": 2, "duplicates": 1, "erased": 0}
    assert list(Member.objects.order_by("pk").values()) == snapshot
    assert TierChange.objects.count() == changes


def test_it_keeps_an_imported_tier_as_an_input_of_the_engine(store_a, staff_a):
    data = csv_bytes(
        "card_no,name,phone,joined_on,tier",
        "V600,高级会员,13800000600,2020-01-01,A",
        "V601,普通会员,13800000601,2020-01-01,C",
    )

    result = import_commit(kind=MEMBERS, data=data, store=store_a, by=staff_a.manager)

    assert result.tier_changes == 1
    member = Member.objects.get(card_no="V600")
    change = member.tier_changes.get()
    assert (change.reason, change.date, change.from_tier, change.to_tier, change.by) == (
        TierChangeReason.IMPORT,
        timezone.localdate(),
        Tier.C,
        Tier.A,
        staff_a.manager,
    )
    assert member.tier == Tier.A
    # A full replay keeps it: import changes are inputs, not derived.
    tiers_replay()
    member.refresh_from_db()
    assert member.tier == Tier.A and member.tier_changes.get().pk == change.pk
    assert Member.objects.get(card_no="V601").tier == Tier.C


def test_it_updates_profile_fields_of_an_existing_card_and_refuses_identity_changes(store_a, staff_a):
    kept = MemberFactory(
        card_no="V700", name="旧名", phone="13800000700", gender="", home_store=store_a, joined_on=date(2023, 1, 1)
    )
    other = MemberFactory(
        card_no="V701", name="某人", phone="13800000701", home_store=store_a, joined_on=date(2023, 1, 1)
    )
    data = csv_bytes(
        "card_no,name,phone,gender,joined_on,marketing_consent",
        "V700,新名,13800000700,F,2023-01-01,1",
        "V701,某人,13800000799,,2023-01-01,",
    )
    bad = import_preview(kind=MEMBERS, data=data, store=store_a, viewer=staff_a.specialist)
    assert errors_by_row(bad) == {
        3: [("phone", "卡号 V701 已存在，但手机号不同（系统中为 138****0701）；请核对卡号，或在会员页面修改手机号。")]
    }

    good = import_commit(
        kind=MEMBERS, data=data.replace(b"13800000799", b"13800000701"), store=store_a, by=staff_a.specialist
    )

    assert good.committed and good.counts["updated"] == 1 and good.counts["unchanged"] == 1
    kept.refresh_from_db()
    assert (kept.name, kept.gender, kept.marketing_consent, kept.marketing_consent_at) == (
        "新名",
        "F",
        True,
        timezone.localdate(),
    )
    other.refresh_from_db()
    assert other.name == "某人"
    entry = AuditEntry.objects.get(action="member.imported")
    assert entry.data["updated_cards"] == ["V700"] and entry.actor == staff_a.specialist


def test_it_takes_the_store_from_the_store_option(tmp_path, store_a, store_b):
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes("card_no,name,phone,joined_on", "V800,李娜,13800000800,2023-01-01"))
    out = io.StringIO()

    with pytest.raises(CommandError):  # no store column and no --store
        call_command("import_members", str(path), stdout=out, stderr=io.StringIO())
    call_command("import_members", str(path), "--store", "bjb", stdout=out)

    assert Member.objects.get(card_no="V800").home_store == store_b
    assert "1 new" in out.getvalue()
    assert AuditEntry.objects.filter(action="member.imported").count() == 1


def test_it_dry_runs_without_writing_and_fails_the_command_on_bad_rows(tmp_path, store_a):
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes("card_no,name,phone,joined_on,store", "V900,李娜,13800000900,2023-01-01,SHA"))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        csv_bytes(
            "card_no,name,phone,joined_on,store",
            "V901,李娜,123,2023-01-01,SHA",
            "V902,李娜,13800000902,2023-01-01,NOPE",
        )
    )
    out, err = io.StringIO(), io.StringIO()

    call_command("import_members", str(good), "--dry-run", stdout=out)
    assert "Dry run" in out.getvalue() and not Member.objects.exists()

    with pytest.raises(CommandError, match="2 problem"):
        call_command("import_members", str(bad), stdout=out, stderr=err)
    assert "第 2 行 手机" in err.getvalue() and "第 3 行 门店" in err.getvalue()
    assert not Member.objects.exists()


def test_it_keeps_a_store_user_to_their_own_store(store_a, store_b, staff_b):
    data = csv_bytes(
        "card_no,name,phone,joined_on,store",
        "V1000,李娜,13800001000,2023-01-01,SHA",
        "V1001,陈静,13800001001,2023-01-01,",
    )
    result = import_commit(kind=MEMBERS, data=data, by=staff_b.specialist)

    assert errors_by_row(result) == {2: [("store", "只能导入本店（BJB）的数据，这一行是门店 SHA。")]}
    assert not Member.objects.exists()
    # Asking for another store outright is refused for the whole file.
    other = import_preview(kind=MEMBERS, data=data, store=store_a, viewer=staff_b.manager)
    assert other.file_errors == ["只能导入本店的数据。"]


def test_it_does_not_name_another_stores_member_to_a_store_user(store_a, staff_b, member_a):
    data = csv_bytes("card_no,name,phone,joined_on", f"V1100,李娜,{member_a.phone},2023-01-01")

    result = import_preview(kind=MEMBERS, data=data, viewer=staff_b.specialist)

    message = result.errors[0].message
    assert message == f"手机号 {member_a.phone} 属于其他门店的会员：请联系总部核实，或按跨店服务办理。"
    assert member_a.card_no not in message and member_a.name not in message and "SHA" not in message


def test_it_writes_one_audit_entry_per_import(store_a, staff_a):
    rows = [f"V12{i:02d},会员{i},138000012{i:02d},2023-01-01,SHA" for i in range(30)]
    import_commit(kind=MEMBERS, data=csv_bytes("card_no,name,phone,joined_on,store", *rows), by=staff_a.manager)

    entry = AuditEntry.objects.get()
    assert entry.action == "member.imported" and entry.data["created"] == 30 and entry.store == store_a


# --- Purchases -----------------------------------------------------------------------------


@pytest.fixture
def buyer(store_a):
    return MemberFactory(card_no="C001", name="顾客", phone="13600000001", home_store=store_a, joined_on=days_ago(200))


def test_it_imports_purchases_and_upgrades_on_the_purchase_day(store_a, staff_a, buyer):
    day1, day2 = days_ago(20), days_ago(10)
    data = csv_bytes(
        "小票号,卡号,门店,日期,金额,导购,商品",
        f'R1,C001,SHA,{day1:%Y/%m/%d},"6,000.00",{staff_a.consultant.username},连衣裙',
        f"R2,C001,SHA,{day2.isoformat()},¥5000,,",
        f"R3,C001,SHA,{day2.isoformat()},-200,,退货",
    )

    result = import_commit(kind=PURCHASES, data=data, filename="p.csv", by=staff_a.specialist)

    assert result.committed, result.error_lines()
    assert result.members_replayed == 1
    r1 = Purchase.objects.get(receipt_no="R1")
    assert (r1.amount, r1.consultant, r1.items, r1.source, r1.recorded_by) == (
        Decimal("6000.00"),
        staff_a.consultant,
        "连衣裙",
        "import",
        staff_a.specialist,
    )
    buyer.refresh_from_db()
    # 6,000 then 5,000 − 200 on day2 = 10,800 ≥ 10,000: B on day2, not before.
    upgrade = buyer.tier_changes.get()
    assert (upgrade.date, upgrade.from_tier, upgrade.to_tier, upgrade.reason) == (
        day2,
        Tier.C,
        Tier.B,
        TierChangeReason.PURCHASE,
    )
    assert buyer.tier == Tier.B
    assert AuditEntry.objects.get(action="purchase.imported").data["created"] == 3


def test_it_lists_every_bad_purchase_row(store_a, store_b, staff_a, buyer):
    PurchaseFactory(member=buyer, store=store_a, receipt_no="OLD1", date=days_ago(30), amount=Decimal("100.00"))
    before_joining = (buyer.joined_on - timedelta(days=1)).isoformat()
    d = days_ago(5).isoformat()
    data = csv_bytes(
        PURCHASE_HEADER,
        f"P1,C001,SHA,{d},100,,",  # row 2: good
        f"P2,NOPE,SHA,{d},100,,",  # row 3: unknown card
        f"P3,C001,SHA,{before_joining},100,,",  # row 4: before joining
        f"P4,C001,SHA,{d},0,,",  # row 5: zero
        f"P5,C001,SHA,{d},abc,,",  # row 6: bad amount
        f"P1,C001,SHA,{d},999,,",  # row 7: same receipt as row 2, different amount
        f"OLD1,C001,SHA,{d},100,,",  # row 8: on file with different content
        f"P8,C001,SHA,{d},100,b_consultant,",  # row 9: consultant of another store
        "P9,C001,SHA,,,,",  # row 10: date and amount missing
    )
    result = import_commit(kind=PURCHASES, data=data, by=staff_a.manager)

    assert not result.committed and Purchase.objects.count() == 1
    errors = errors_by_row(result)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert errors[3] == [("card_no", "门店 SHA 没有卡号为 NOPE 的会员：请核对卡号，或先导入、登记该会员。")]
    assert errors[4] == [("date", f"消费日期早于会员入会日期（{buyer.joined_on}）。")]
    assert errors[5] == [("amount", "金额不能为 0；退货请填负数。")]
    assert errors[6][0][0] == "amount"
    assert errors[7] == [("receipt_no", "门店 SHA 的小票 P1 与第 2 行重复，且内容不同。")]
    assert errors[8] == [("receipt_no", f"门店 SHA 的小票 OLD1 已登记（{days_ago(30)}，100.00 元）。")]
    assert errors[9][0][0] == "consultant"
    assert [c for c, _ in errors[10]] == ["date", "amount"]


def test_it_skips_receipts_already_imported_and_adds_nothing_the_second_time(store_a, staff_a, buyer):
    PurchaseFactory(member=buyer, store=store_a, receipt_no="S1", date=days_ago(30), amount=Decimal("100.00"))
    data = csv_bytes(
        PURCHASE_HEADER,
        f"S1,C001,SHA,{days_ago(30)},100.00,,",  # identical to what is on file: skipped, not an error
        f"S2,C001,SHA,{days_ago(20)},2500,,",
        f"S2,C001,SHA,{days_ago(20)},2500.00,,",  # identical repeat inside the file
    )
    first = import_commit(kind=PURCHASES, data=data, by=staff_a.specialist)
    assert first.committed and (first.counts["new"], first.counts["unchanged"], first.counts["duplicates"]) == (1, 1, 1)
    snapshot = list(Purchase.objects.order_by("pk").values_list("pk", "receipt_no", "amount"))

    second = import_commit(kind=PURCHASES, data=data, by=staff_a.specialist)

    assert second.committed and second.counts["new"] == 0 and second.counts["unchanged"] == 2
    assert list(Purchase.objects.order_by("pk").values_list("pk", "receipt_no", "amount")) == snapshot


def test_it_takes_the_purchase_store_from_the_store_option(tmp_path, store_a, store_b, buyer):
    path = tmp_path / "p.csv"
    path.write_bytes(csv_bytes("receipt_no,card_no,date,amount", f"T1,C001,{days_ago(3)},300"))

    call_command("import_purchases", str(path), "--store", "BJB", stdout=io.StringIO())

    assert Purchase.objects.get(receipt_no="T1").store == store_b  # bought at another branch of the chain


def test_it_checks_again_on_commit(store_a, staff_a):
    """The database may change between the preview and the confirm: the commit checks again."""
    data = csv_bytes("card_no,name,phone,joined_on,store", "V1300,李娜,13800001300,2023-01-01,SHA")
    assert import_preview(kind=MEMBERS, data=data, viewer=staff_a.specialist).is_valid
    MemberFactory(card_no="V9999", name="抢先", phone="13800001300", home_store=store_a)

    result = import_commit(kind=MEMBERS, data=data, by=staff_a.specialist)

    assert not result.committed
    assert result.errors[0].message == "手机号 13800001300 已属于会员 抢先（卡号 V9999）。"
    assert not Member.objects.filter(card_no="V1300").exists()


def test_it_skips_an_anonymised_member_and_never_fills_it_in_again(store_a):
    erased = MemberFactory(
        card_no="V1400",
        name="已匿名",
        phone="10000000000",
        home_store=store_a,
        erased_at=timezone.now(),
        joined_on=date(2023, 1, 1),
    )
    data = csv_bytes("card_no,name,phone,joined_on,store", "V1400,真名,13800001400,2023-01-01,SHA")

    result = import_commit(kind=MEMBERS, data=data)

    assert result.committed and result.counts["erased"] == 1 and result.counts["new"] == 0
    erased.refresh_from_db()
    assert erased.name == "已匿名"


def test_it_refuses_old_excel_and_unreadable_files(store_a):
    xls = import_preview(kind=MEMBERS, data=b"\xd0\xcf\x11\xe0" + b"\0" * 100, store=store_a)
    assert "xls" in xls.file_errors[0]
    broken_zip = import_preview(kind=MEMBERS, data=b"PK\x03\x04garbage", store=store_a)
    assert "Excel" in broken_zip.file_errors[0]
    empty = import_preview(kind=MEMBERS, data=b"card_no,name,phone,joined_on\r\n", store=store_a)
    assert empty.file_errors == ["文件里只有表头，没有数据行。"]


def test_it_refuses_a_card_of_another_store_and_still_checks_phones_on_bad_rows(store_a, store_b, member_b):
    data = csv_bytes(
        "card_no,name,phone,joined_on,store",
        f"{member_b.card_no},王芳,{member_b.phone},{member_b.joined_on},SHA",
        f"V1500,某人,{member_b.phone},2099-01-01,SHA",  # a bad date, and the phone is taken too
    )

    result = import_preview(kind=MEMBERS, data=data)

    errors = errors_by_row(result)
    assert errors[2] == [("card_no", f"卡号 {member_b.card_no} 已是门店 BJB 的会员 王芳；转店请在会员页面办理。")]
    assert [c for c, _ in errors[3]] == ["joined_on", "phone"]


def test_it_finds_consultants_whatever_the_case_of_their_username(store_a, staff_a):
    data = csv_bytes(
        "card_no,name,phone,joined_on,store,consultant", "V1600,李娜,13800001600,2023-01-01,SHA,A_CONSULTANT"
    )

    result = import_commit(kind=MEMBERS, data=data)

    assert result.committed and Member.objects.get(card_no="V1600").consultant == staff_a.consultant


def test_the_commands_refuse_a_file_over_the_size_limit_before_reading_it(tmp_path, settings, store_a):
    settings.IMPORT_MAX_BYTES = 100
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes("card_no,name,phone,joined_on,store", *["V1,李娜,13800000001,2023-01-01,SHA"] * 10))

    with pytest.raises(CommandError, match="larger than"):
        call_command("import_members", str(path), stdout=io.StringIO())
    assert not Member.objects.exists()
