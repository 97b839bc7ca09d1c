"""Issue 11 item 8: an exported member file imports back unchanged.

Export → import into the same store: nothing new, nothing changed. Export → empty database →
import: the same members, field for field, and exporting them again gives the same file."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.urls import reverse

from accounts.models import Role
from members.exports import HEADER, safe_cell, unguard
from members.imports import MEMBER_COLUMNS, MEMBERS, import_commit, import_preview, map_header
from members.models import Member, MemberOwnerChange, MemberTag, OwnerChangeReason, Tier
from tests.factories import MemberFactory, StaffFactory

TRICKY = ["=1+1", "-王", "+86", "@SUM(A1)", "'引号开头", "''两个", "'", "普通", "", "\t制表"]


def export(client, user) -> bytes:
    client.force_login(user)
    response = client.post(reverse("members:export"))
    assert response.status_code == 200
    return b"".join(response.streaming_content)  # streamed (issue 14)


def table(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def snapshot() -> dict[str, tuple]:
    """Every exported field of every member, by card number."""
    return {
        m.card_no: (
            m.name,
            m.phone,
            m.gender,
            m.birthday,
            m.birthday_lunar,
            m.joined_on,
            m.home_store.code,
            m.consultant.username if m.consultant else None,
            m.tier,
            m.marketing_consent,
            m.notes,
            tuple(sorted(t.name for t in m.tags.all())),
        )
        for m in Member.objects.select_related("home_store", "consultant").prefetch_related("tags")
    }


@pytest.fixture
def li_na(staff_a):
    staff_a.consultant.display_name = "李娜"
    staff_a.consultant.save(update_fields=["display_name"])
    return staff_a.consultant


@pytest.fixture
def tricky_members(store_a, li_na, staff_b):
    """Members whose values trip up a CSV, a spreadsheet or a careless parser."""
    wedding, silk = MemberTag.objects.create(name="婚礼季"), MemberTag.objects.create(name="偏好,真丝")
    leaving = StaffFactory(username="a_leaver", role=Role.CONSULTANT, store=store_a, display_name="老王")
    first = MemberFactory(
        card_no="V0000001",
        home_store=store_a,
        consultant=li_na,
        name="=1+1",
        phone="13800000001",
        birthday=date(1988, 8, 15),
        birthday_lunar=True,
        tier=Tier.A,
        marketing_consent=True,
        notes='她说："要真丝, 不要化纤"\n下次带女儿来',
    )
    first.tags.set([wedding, silk])
    MemberFactory(
        card_no="V0000002",
        home_store=store_a,
        name="-王",
        phone="13800000002",
        gender="",
        tier=Tier.B,
        notes="@周末才有空",
    )
    MemberFactory(
        card_no="V0000003",
        home_store=store_a,
        consultant=leaving,
        name="'引号开头",
        phone="+447911123456",
        gender="M",
        birthday=date(1975, 1, 31),
        notes="+86 请用微信联系",
    )
    leaving.is_active = False  # their member counts as unassigned: the file names no one
    leaving.save(update_fields=["is_active"])
    MemberFactory(card_no="V0000004", home_store=store_a, consultant=li_na, name="张三", phone="13800000004")
    # A consultant who has moved to store B no longer serves this member: unassigned too.
    MemberFactory(card_no="V0000005", home_store=store_a, consultant=staff_b.consultant, phone="13800000005")


def test_it_undoes_exactly_the_formula_guard():
    for value in TRICKY:
        assert unguard(safe_cell(value)) == value
    assert unguard("'abc") == "'abc"  # an apostrophe the export did not add stays


def test_the_export_has_exactly_the_import_columns():
    columns, ignored = map_header(HEADER, MEMBERS, store_given=False)
    assert list(columns) == list(MEMBER_COLUMNS) and ignored == []


def test_it_imports_an_export_back_into_the_same_store_adding_and_changing_nothing(client, staff_a, tricky_members):
    before = snapshot()
    data = export(client, staff_a.specialist)

    preview = import_preview(kind=MEMBERS, data=data, filename="export.csv", viewer=staff_a.specialist)

    assert preview.is_valid, preview.error_lines()
    assert (preview.counts["new"], preview.counts["updated"], preview.counts["unchanged"]) == (0, 0, 5)
    result = import_commit(kind=MEMBERS, data=data, filename="export.csv", by=staff_a.specialist)
    assert result.committed and not result.has_changes
    assert snapshot() == before
    assert not MemberOwnerChange.objects.exists()


def test_it_recreates_the_same_members_in_an_empty_database(client, staff_a, tricky_members):
    before = snapshot()
    data = export(client, staff_a.specialist)
    # Consultants who no longer serve the member (deactivated, at another store) are not in the
    # file: in the new database those members are unassigned.
    for card in ("V0000003", "V0000005"):
        before[card] = before[card][:7] + (None,) + before[card][8:]
    Member.objects.all().delete()
    MemberTag.objects.all().delete()

    result = import_commit(kind=MEMBERS, data=data, filename="export.csv", by=staff_a.specialist)

    assert result.committed, result.error_lines()
    assert result.counts["new"] == 5
    assert snapshot() == before
    # Worked by hand: name "=1+1" travels as "'=1+1" and comes back as "=1+1"; the note's quotes,
    # comma and line break survive; the lunar flag, tier A and both tags (one holding a comma) too.
    first = Member.objects.get(card_no="V0000001")
    assert (first.name, first.birthday_lunar, first.tier) == ("=1+1", True, Tier.A)
    assert first.notes == '她说："要真丝, 不要化纤"\n下次带女儿来'
    # And the file the new database exports is the file we started from.
    assert export(client, staff_a.specialist) == data


def test_the_file_says_things_a_person_can_read(client, staff_a, tricky_members):
    rows = {r[0]: dict(zip(HEADER, r, strict=True)) for r in table(export(client, staff_a.specialist))[1:]}
    first = rows["V0000001"]
    assert (first["姓名"], first["顾问"], first["农历"], first["营销同意"]) == (
        "'=1+1",
        "李娜（a_consultant）",
        "是",
        "是",
    )
    assert (first["生日"], first["入会日期"], first["等级"], first["标签"]) == (
        "1988-08-15",
        "2024-01-01",
        "A",
        "偏好,真丝、婚礼季",
    )
    assert rows["V0000003"]["手机"] == "'+447911123456" and rows["V0000003"]["顾问"] == ""


def member_file(*rows: str) -> bytes:
    return ("\n".join(["卡号,姓名,手机,入会日期,顾问", *rows]) + "\n").encode()


def test_it_finds_the_consultant_by_display_name_full_name_or_login_name(staff_a, li_na):
    full = StaffFactory(username="a_c3", role=Role.CONSULTANT, store=staff_a.consultant.store)
    full.first_name, full.last_name = "芳", "陈"
    full.save()
    data = member_file(
        "V1,甲,13800000011,2024-01-01,李娜",
        "V2,乙,13800000012,2024-01-01,a_consultant",
        f"V3,丙,13800000013,2024-01-01,{full.get_full_name()}",
        "V4,丁,13800000014,2024-01-01,随便写（A_CONSULTANT）",
    )

    result = import_commit(kind=MEMBERS, data=data, by=staff_a.specialist)

    assert result.committed, result.error_lines()
    owners = dict(Member.objects.values_list("card_no", "consultant__username"))
    assert owners == {"V1": "a_consultant", "V2": "a_consultant", "V3": "a_c3", "V4": "a_consultant"}


def test_an_ambiguous_name_is_refused_naming_the_candidates(staff_a, li_na, staff_b):
    store = li_na.store
    StaffFactory(username="a_lina2", role=Role.CONSULTANT, store=store, display_name="李娜")
    # Neither a deactivated namesake nor one in another store makes it ambiguous.
    StaffFactory(username="a_lina_old", role=Role.CONSULTANT, store=store, display_name="李娜", is_active=False)
    StaffFactory(username="b_lina", role=Role.CONSULTANT, store=staff_b.consultant.store, display_name="老李")

    preview = import_preview(
        kind=MEMBERS,
        data=member_file("V1,甲,13800000011,2024-01-01,李娜", "V2,乙,13800000012,2024-01-01,老李"),
        viewer=staff_a.specialist,
    )

    assert [(e.row, e.column) for e in preview.errors] == [(2, "consultant"), (3, "consultant")]
    assert preview.errors[0].message == (
        "门店 SHA 有 2 位在职员工叫“李娜”（登录名：a_consultant、a_lina2），请填写登录名。"
    )
    assert "老李" in preview.errors[1].message  # store B's 老李 is nobody here


def test_a_masked_export_cannot_be_imported_and_changes_nothing(client, staff_a, store_a, tricky_members):
    unsigned = StaffFactory(username="a_new_vip", role=Role.VIP_SPECIALIST, store=store_a, signed=False)
    before = snapshot()
    data = export(client, unsigned)
    assert "138****0001" in data.decode("utf-8-sig")

    result = import_commit(kind=MEMBERS, data=data, filename="masked.csv", by=staff_a.specialist)

    assert not result.committed
    phone_errors = [e for e in result.errors if e.column == "phone"]
    assert len(phone_errors) == 5 and "是打码的" in phone_errors[0].message
    assert snapshot() == before


def test_a_consultant_changed_in_the_file_goes_through_the_owner_history(client, staff_a, li_na, tricky_members):
    data = export(client, staff_a.specialist).decode("utf-8-sig")
    other = StaffFactory(username="a_c2", role=Role.CONSULTANT, store=li_na.store, display_name="周敏")
    changed = data.replace(
        "张三,13800000004,女,,否,2024-01-01,SHA,李娜（a_consultant）", "张三,13800000004,女,,否,2024-01-01,SHA,周敏"
    )
    assert changed != data

    result = import_commit(kind=MEMBERS, data=changed.encode(), filename="edited.csv", by=staff_a.specialist)

    assert result.committed and result.counts["updated"] == 1
    change = MemberOwnerChange.objects.get()
    assert (change.member.card_no, change.consultant, change.previous_consultant) == ("V0000004", other, li_na)
    assert (change.reason, change.note, change.by) == (OwnerChangeReason.IMPORT, "edited.csv", staff_a.specialist)


def test_tags_typed_with_the_wrong_separator_are_refused(staff_a):
    MemberTag.objects.create(name="婚礼季")
    data = '卡号,姓名,手机,入会日期,标签\nV1,甲,13800000011,2024-01-01,"婚礼季,偏好真丝"\n'.encode()

    preview = import_preview(kind=MEMBERS, data=data, viewer=staff_a.specialist)

    assert [e.column for e in preview.errors] == ["tags"]
    assert "、" in preview.errors[0].message


def test_a_changed_tag_set_replaces_the_old_one(staff_a, member_a):
    member_a.tags.set([MemberTag.objects.create(name="旧标签")])
    data = f"卡号,姓名,手机,入会日期,标签\n{member_a.card_no},张丽,13812345678,2024-01-01,新标签、VIP\n".encode()

    result = import_commit(kind=MEMBERS, data=data, by=staff_a.specialist)

    assert result.committed and result.counts["updated"] == 1
    assert sorted(member_a.tags.values_list("name", flat=True)) == ["VIP", "新标签"]


def test_a_tag_is_the_same_tag_whatever_its_case(staff_a, member_a):
    vip = MemberTag.objects.create(name="VIP")
    data = f"卡号,姓名,手机,入会日期,标签\n{member_a.card_no},张丽,13812345678,2024-01-01,vip\n".encode()

    result = import_commit(kind=MEMBERS, data=data, by=staff_a.specialist)

    assert result.committed and list(member_a.tags.all()) == [vip]
    assert MemberTag.objects.count() == 1
