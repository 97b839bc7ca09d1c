"""XLSX imports read with python-calamine (issue 13 item 6): its cells come as the rest of the
import expects them (a number typed into a phone or card cell is text without ".0", dates stay
dates, an empty cell is "not given"), and members an import creates send the stores'
`member_enrolled` webhook as members enrolled one by one do, once each, after the commit."""

import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest

from duties.models import WebhookDelivery, WebhookEvent
from duties.webhooks import webhook_create
from members.imports import MEMBERS, PURCHASES, _text, _xlsx_cell, import_commit, import_preview, read_table
from members.models import Member, Purchase


def xlsx(*rows, hidden_first_sheet: bool = False) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    if hidden_first_sheet:
        sheet.append(["not", "this", "sheet"])
        sheet.sheet_state = "hidden"
        sheet = workbook.create_sheet("会员")
        workbook.active = 1
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("cell", "value", "text"),
    [
        (13800000000.0, 13800000000, "13800000000"),  # a phone typed as a number
        (400.0, 400, "400"),  # a card number typed as a number
        (1280.5, 1280.5, "1280.5"),
        ("", None, ""),  # calamine's empty cell
        (True, True, "1"),
        (date(2024, 5, 1), date(2024, 5, 1), "2024-05-01"),
        (datetime(2024, 5, 1), datetime(2024, 5, 1), "2024-05-01"),
        (" V1 ", " V1 ", "V1"),
    ],
)
def test_a_calamine_cell_becomes_what_the_import_reads(cell, value, text):
    assert _xlsx_cell(cell) == value and type(_xlsx_cell(cell)) is type(value)
    assert _text(_xlsx_cell(cell)) == text


def test_numbers_dates_and_empty_cells_read_as_typed_in_excel():
    data = xlsx(
        ["card_no", "name", "phone", "joined_on", "birthday", "marketing_consent"],
        [400, "孙丽", 13800000000, datetime(2022, 5, 1), date(1991, 2, 3), 1],
        [None, None, None, None, None, None],
        ["V401", "周芳", "13800000401", "2022/5/2", None, 0],
    )

    table = read_table(data)

    assert [number for number, _ in table.body] == [2, 4]  # the blank row keeps its number
    first, second = (cells for _, cells in table.body)
    assert first[:3] == [400, "孙丽", 13800000000]
    assert first[3:5] == [date(2022, 5, 1), date(1991, 2, 3)]  # date cells come as dates
    assert second[4] is None


def test_a_phone_and_card_typed_as_numbers_import_as_text(store_a):
    data = xlsx(
        ["card_no", "name", "phone", "joined_on", "birthday"],
        [400, "孙丽", 13800000000, datetime(2022, 5, 1), date(1991, 2, 3)],
    )

    preview = import_preview(kind=MEMBERS, data=data, store=store_a)

    assert preview.is_valid, preview.error_lines()
    row = preview.rows_ok[0]
    assert (row.card_no, row.phone, row.joined_on, row.birthday) == (
        "400",
        "13800000000",
        date(2022, 5, 1),
        date(1991, 2, 3),
    )


def test_amounts_and_receipt_numbers_typed_as_numbers(store_a, member_a):
    data = xlsx(
        ["receipt_no", "card_no", "date", "amount"],
        [10001, member_a.card_no, date(2024, 6, 1), 1280],
        [10002, member_a.card_no, date(2024, 6, 2), 99.5],
    )

    result = import_commit(kind=PURCHASES, data=data, store=store_a)

    assert result.committed, result.error_lines()
    assert sorted(Purchase.objects.values_list("receipt_no", "amount")) == [
        ("10001", Decimal("1280.00")),
        ("10002", Decimal("99.50")),
    ]


def test_the_first_visible_sheet_is_read(store_a):
    data = xlsx(
        ["card_no", "name", "phone", "joined_on"], ["V1", "孙丽", "13800000001", "2022-05-01"], hidden_first_sheet=True
    )

    assert read_table(data).header[:2] == ["card_no", "name"]


def test_a_file_that_is_no_workbook_is_refused_clearly():
    from members.imports import ImportFileError

    broken = xlsx(["card_no"], ["V1"])[:-200]  # cut: the zip's directory is gone

    with pytest.raises(ImportFileError, match="Excel"):
        read_table(broken)


# --- Imported members send member_enrolled --------------------------------------------------------


def test_imported_members_send_member_enrolled_once_each_after_the_commit(
    store_a, store_b, staff_a, django_capture_on_commit_callbacks
):
    hook = webhook_create(
        store=store_a, url="https://pos.example.com/hooks", events=[WebhookEvent.MEMBER_ENROLLED], by=None
    )
    webhook_create(store=store_b, url="https://b.example.com/hooks", events=[WebhookEvent.MEMBER_ENROLLED], by=None)
    data = xlsx(
        ["card_no", "name", "phone", "joined_on", "tier"],
        ["V1", "孙丽", 13800000001, date(2022, 5, 1), "B"],
        ["V2", "周芳", 13800000002, date(2022, 5, 2), None],
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = import_commit(kind=MEMBERS, data=data, store=store_a, by=staff_a.manager)
    again = import_commit(kind=MEMBERS, data=data, store=store_a, by=staff_a.manager)  # nothing new: nothing sent

    assert result.committed and again.committed
    assert len(callbacks) >= 1  # the sending waits for the commit
    deliveries = WebhookDelivery.objects.order_by("payload__member__card_no")
    assert [(d.webhook, d.event) for d in deliveries] == [(hook, "member_enrolled")] * 2
    first = Member.objects.get(card_no="V1")
    assert deliveries[0].payload["store"] == "SHA"
    assert deliveries[0].payload["member"] == {"id": first.pk, "card_no": "V1", "tier": "C", "joined_on": "2022-05-01"}


def test_an_import_without_hooks_costs_no_more_queries(store_a, django_assert_max_num_queries):
    from members.webhook_hooks import on_members_imported

    members = [Member(pk=1, home_store=store_a, card_no="V1", tier="C", joined_on=date(2022, 5, 1))]
    with django_assert_max_num_queries(1):  # the hooks of the stores: none, so nothing else
        on_members_imported(members)
    assert not WebhookDelivery.objects.exists()
