"""The purchase import's set-based path (issue 14): receipts go in as plain rows (no model
instances), the receivers of `purchases_imported` get what they read from each receipt, lookups
send their card and receipt numbers as one array on PostgreSQL (never thousands of IN
parameters), and each cell value is parsed once per column without changing a row's errors."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.imports import PURCHASES, ImportedPurchase, import_commit, import_preview
from members.models import Purchase, PurchaseSource
from members.signals import purchases_imported
from visits.models import FollowUpTask, TaskKind, TaskReason

from ..factories import MemberFactory, PurchaseFactory

HEADER = "receipt_no,card_no,store,date,amount,consultant,items"


def _csv(*lines: str) -> bytes:
    return ("\r\n".join([HEADER, *lines]) + "\r\n").encode()


@pytest.mark.django_db
def test_receivers_get_each_new_receipt_as_written(store_a, store_b, staff_a, hq):
    today = timezone.localdate()
    home_a = MemberFactory(
        card_no="A1", home_store=store_a, consultant=staff_a.consultant, joined_on=today - timedelta(99)
    )
    home_b = MemberFactory(card_no="B1", home_store=store_b, joined_on=today - timedelta(99))
    received: list = []

    def receiver(sender, purchases, **kwargs):
        received.extend(purchases)

    purchases_imported.connect(receiver, dispatch_uid="test.import_set_based")
    try:
        result = import_commit(
            kind=PURCHASES,
            data=_csv(
                f"R1,A1,SHA,{today - timedelta(2)},1280.00,a_consultant,上衣 x1",
                f"R2,B1,SHA,{today - timedelta(1)},-300,,",
                f"R1,B1,BJB,{today},99.5,,",
            ),
            by=hq,
        )
    finally:
        purchases_imported.disconnect(dispatch_uid="test.import_set_based")
    assert result.committed and result.counts["new"] == 3
    assert all(isinstance(p, ImportedPurchase) for p in received)
    on_file = {p.pk: p for p in Purchase.objects.all()}
    assert sorted(p.pk for p in received) == sorted(on_file)
    for p in received:
        row = on_file[p.pk]
        assert (p.id, p.store_id, p.member_id, p.receipt_no, p.date, p.amount) == (
            row.pk,
            row.store_id,
            row.member_id,
            row.receipt_no,
            row.date,
            row.amount,
        )
        assert abs(p.created_at - row.created_at) < timedelta(seconds=5)
        assert row.source == PurchaseSource.IMPORT and row.recorded_by == hq
    first = Purchase.objects.get(receipt_no="R1", store=store_a)
    assert first.consultant == staff_a.consultant and first.items == "上衣 x1" and first.amount == Decimal("1280.00")
    assert Purchase.objects.get(receipt_no="R1", store=store_b).member == home_b
    # The follow-ups name the receipts they come from: one per positive receipt, none for the return.
    origins = set(TaskReason.objects.filter(kind=TaskKind.POST_PURCHASE).values_list("origin", flat=True))
    positive = Purchase.objects.filter(amount__gt=0)
    assert origins == {f"purchase:{pk}" for pk in positive.values_list("pk", flat=True)}
    assert FollowUpTask.objects.filter(kind=TaskKind.POST_PURCHASE, member=home_a, store=store_a).count() == 1


@pytest.mark.django_db
def test_reports_restate_the_tills_and_the_members_home_stores(
    store_a, store_b, hq, monkeypatch, django_capture_on_commit_callbacks
):
    from reports import tasks as report_tasks

    today = timezone.localdate()
    MemberFactory(card_no="B1", home_store=store_b, joined_on=today - timedelta(99))
    restated: list = []
    monkeypatch.setattr(report_tasks.after_import, "delay", lambda ids: restated.append(ids))
    with django_capture_on_commit_callbacks(execute=True):
        result = import_commit(kind=PURCHASES, data=_csv(f"R1,B1,SHA,{today},100,,"), by=hq)
    assert result.committed
    assert restated == [sorted([store_a.pk, store_b.pk])]


@pytest.mark.django_db
def test_same_receipt_number_at_another_store_is_another_receipt(store_a, store_b, hq):
    today = timezone.localdate()
    member = MemberFactory(card_no="A1", home_store=store_a, joined_on=today - timedelta(99))
    PurchaseFactory(store=store_a, receipt_no="R1", member=member, date=today - timedelta(3), amount=Decimal("500.00"))
    data = _csv(
        f"R1,A1,SHA,{today - timedelta(3)},500.00,,",  # on file, same content: skipped
        f"R1,A1,BJB,{today - timedelta(3)},500.00,,",  # another store's receipt R1: new
    )
    first = import_commit(kind=PURCHASES, data=data, by=hq)
    assert first.committed and (first.counts["new"], first.counts["unchanged"]) == (1, 1)
    again = import_commit(kind=PURCHASES, data=data, by=hq)
    assert again.committed and (again.counts["new"], again.counts["unchanged"]) == (0, 2)
    conflict = import_preview(kind=PURCHASES, data=_csv(f"R1,A1,BJB,{today - timedelta(3)},501.00,,"), viewer=hq)
    assert [(e.row, e.column) for e in conflict.errors] == [(2, "receipt_no")]
    assert Purchase.objects.count() == 2


@pytest.mark.django_db
def test_a_value_parsed_once_still_reports_every_row(store_a, hq):
    today = timezone.localdate()
    MemberFactory(card_no="A1", home_store=store_a, joined_on=today - timedelta(99))
    preview = import_preview(
        kind=PURCHASES,
        data=_csv(
            "R1,A1,SHA,2024-13-01,100,,",
            "R2,A1,SHA,2024-13-01,100,,",
            f"R3,A1,SHA,{today},1e5,,",
            f"R4,A1,SHA,{today},1e5,,",
            f"R5,A1,SHA,{today},100,,",
        ),
        viewer=hq,
    )
    errors = [(e.row, e.column, e.message) for e in preview.errors]
    assert [(row, column) for row, column, _m in errors] == [(2, "date"), (3, "date"), (4, "amount"), (5, "amount")]
    assert errors[0][2] == errors[1][2] and "2024-13-01" in errors[0][2]
    assert errors[2][2] == errors[3][2]
    assert preview.counts["new"] == 1


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite takes IN lists in chunks of 900")
def test_lookups_send_numbers_as_one_array(store_a, hq):
    today = timezone.localdate()
    members = [
        MemberFactory(card_no=f"C{i:04d}", home_store=store_a, joined_on=today - timedelta(99)) for i in range(300)
    ]
    data = _csv(*(f"R{i},{m.card_no},SHA,{today - timedelta(40)},100,," for i, m in enumerate(members)))
    with CaptureQueriesContext(connection) as queries:
        result = import_commit(kind=PURCHASES, data=data, by=hq)
    assert result.committed and result.counts["new"] == 300
    long_in = re.compile(r"IN \((?:[^()]*,){100}")
    lookups = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and ('FROM "members_member"' in q["sql"] or "members_purchase" in q["sql"])
    ]
    assert lookups and not [sql[:120] for sql in lookups if long_in.search(sql)]


@pytest.mark.django_db
def test_stores_and_consultants_found_once_still_report_every_bad_row(store_a, store_b, staff_a, staff_b, hq):
    """A store or consultant found without an error is remembered by the text that named it (and,
    for a consultant, the row's store); a bad one is looked up again on each row, so every row
    gets its message, and a consultant good at one store is still refused at another."""
    today = timezone.localdate()
    MemberFactory(card_no="A1", home_store=store_a, joined_on=today - timedelta(99))
    MemberFactory(card_no="B1", home_store=store_b, joined_on=today - timedelta(99))
    a, b = staff_a.consultant.username, staff_b.consultant.username
    preview = import_preview(
        kind=PURCHASES,
        data=_csv(
            f"R1,A1,SHA,{today},100,{a},",
            f"R2,A1,SHA,{today},100,{a},",
            f"R3,B1,BJB,{today},100,{a},",
            f"R4,B1,BJB,{today},100,{a},",
            f"R5,A1,XXX,{today},100,,",
            f"R6,A1,XXX,{today},100,,",
            f"R7,A1,SHA,{today},100,nobody,",
            f"R8,A1,SHA,{today},100,nobody,",
            f"R9,B1,BJB,{today},100,{b},",
        ),
        viewer=hq,
    )
    errors = [(e.row, e.column, e.message) for e in preview.errors]
    assert [(row, column) for row, column, _m in errors] == [
        (4, "consultant"),
        (5, "consultant"),
        (6, "store"),
        (7, "store"),
        (8, "consultant"),
        (9, "consultant"),
    ]
    assert errors[0][2] == errors[1][2] and "BJB" in errors[0][2]
    assert preview.counts["new"] == 3
    consultants = {r.receipt_no: r.consultant for r in preview.rows_ok}
    assert consultants == {"R1": staff_a.consultant, "R2": staff_a.consultant, "R9": staff_b.consultant}


@pytest.mark.django_db
def test_overlong_cells_are_refused_after_short_rows(store_a, hq):
    today = timezone.localdate()
    MemberFactory(card_no="A1", home_store=store_a, joined_on=today - timedelta(99))
    preview = import_preview(
        kind=PURCHASES,
        data=_csv(f"R1,A1,SHA,{today},100,,", f"R2,A1,{'S' * 21},{today},100,,", f"R3,A1,SHA,{today},100,,{'x' * 501}"),
        viewer=hq,
    )
    assert [(e.row, e.column) for e in preview.errors] == [(3, "store"), (4, "items")]
    assert "过长" in preview.errors[0].message and "S" * 21 not in preview.errors[0].message


@pytest.mark.django_db
def test_a_large_purchase_import_analyzes_what_it_writes_not_the_replays_tables(
    store_a, hq, monkeypatch, django_capture_on_commit_callbacks
):
    """The tier replay analyzes members and tier changes itself when it moves many; at commit the
    import offers the receipts and the follow-ups to `tables_analyze_grown` (each group once, with
    the new receipts as what they grew by), which analyzes a group only if that is much."""
    from members import imports

    analyzed = []
    monkeypatch.setattr(imports, "ANALYZE_AFTER_ROWS", 2)
    monkeypatch.setattr(imports, "tables_analyze_grown", lambda tables, added: analyzed.append((tuple(tables), added)))
    today = timezone.localdate()
    MemberFactory(card_no="A1", home_store=store_a, joined_on=today - timedelta(99))
    with django_capture_on_commit_callbacks(execute=True):
        result = import_commit(kind=PURCHASES, data=_csv(f"R1,A1,SHA,{today},100,,", f"R2,A1,SHA,{today},200,,"), by=hq)
    assert result.committed
    assert analyzed == [(tables, 2) for tables in imports.IMPORT_ANALYZE_GROUPS[PURCHASES]]
    written = {name for tables, _added in analyzed for name in tables}
    assert {"members_purchase", "visits_followuptask", "visits_taskreason"} <= written
    assert not {"members_member", "members_tierchange"} & written

