"""The month-end duty reads the sales per person once, from the store's own receipts
(`members.selectors.sales_by_consultant_split`, issue 14): held equal to the plain join of
receipts and members it replaced (`_joined_split`) and to `sales_by_consultant`, value for value
and digit for digit (the totals as the snapshot keeps them), in the awkward cases: receipts naming
nobody, a visiting member, returns, a consultant whose sales net to nothing, a member who joined in
the period, one who joined after it, another store's receipts."""

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Q, Sum

from members.models import Purchase
from members.selectors import sales_by_consultant, sales_by_consultant_split
from members.tiers import ZERO
from reports.selectors import consultant_sales
from reports.services import sales_by_consultant_json
from tests.factories import MemberFactory, PurchaseFactory, StaffFactory, StoreFactory

D = date.fromisoformat
M = Decimal


def _joined_split(*, store_id, start, end) -> dict:
    """The split as the receipts joined to their members give it (the read before issue 14)."""
    rows = (
        Purchase.objects.filter(store_id=store_id, date__gte=start, date__lte=end, member__joined_on__lte=end)
        .values_list("consultant_id")
        .annotate(
            old=Sum("amount", filter=Q(member__joined_on__lt=start)),
            new=Sum("amount", filter=Q(member__joined_on__gte=start)),
        )
        .order_by()
    )
    return {staff_id: (old or ZERO, new or ZERO) for staff_id, old, new in rows}


def _digits(found: dict) -> dict:
    return {k: tuple(str(x) for x in v) if isinstance(v, tuple) else str(v) for k, v in found.items()}


@pytest.fixture
def receipts(store_a, staff_a):
    c = staff_a.consultant
    other = StaffFactory(username="a_other2", role="consultant", store=store_a)
    store_b = StoreFactory(code="SPX")
    old = MemberFactory(home_store=store_a, joined_on=D("2025-05-01"), consultant=c)
    new = MemberFactory(home_store=store_a, joined_on=D("2026-03-05"), consultant=other)
    later = MemberFactory(home_store=store_a, joined_on=D("2026-04-03"))
    visitor = MemberFactory(home_store=store_b, joined_on=D("2025-02-01"))
    PurchaseFactory(member=old, store=store_a, date=D("2026-03-02"), amount=M("450.50"), consultant=c)
    PurchaseFactory(member=old, store=store_a, date=D("2026-03-09"), amount=M("-50.25"), consultant=c)
    PurchaseFactory(member=new, store=store_a, date=D("2026-03-10"), amount=M("900"), consultant=other)
    PurchaseFactory(member=new, store=store_a, date=D("2026-03-11"), amount=M("300"), consultant=c)
    PurchaseFactory(member=old, store=store_a, date=D("2026-03-12"), amount=M("120"))
    PurchaseFactory(member=new, store=store_a, date=D("2026-03-13"), amount=M("-120"))
    PurchaseFactory(member=old, store=store_a, date=D("2026-03-14"), amount=M("80.10"), consultant=other)
    PurchaseFactory(member=old, store=store_a, date=D("2026-03-15"), amount=M("-80.10"), consultant=other)
    PurchaseFactory(member=visitor, store=store_a, date=D("2026-03-16"), amount=M("300"), consultant=c)
    PurchaseFactory(member=later, store=store_a, date=D("2026-03-20"), amount=M("75"), consultant=c)
    PurchaseFactory(member=visitor, store=store_b, date=D("2026-03-20"), amount=M("999"))
    PurchaseFactory(member=old, store=store_a, date=D("2026-02-27"), amount=M("999"), consultant=c)
    return store_a, store_b


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (D("2026-03-01"), D("2026-03-31")),
        (D("2026-03-01"), D("2026-03-15")),
        (D("2026-03-09"), D("2026-03-15")),
        (D("2026-02-01"), D("2026-02-28")),
        (D("2026-04-01"), D("2026-04-30")),
        (D("2026-01-01"), D("2026-04-30")),
    ],
)
def test_the_store_receipts_read_equals_the_selectors(receipts, start, end):
    for store in receipts:
        split = sales_by_consultant_split(store_id=store.pk, start=start, end=end)
        assert _digits(split) == _digits(_joined_split(store_id=store.pk, start=start, end=end))
        totals = sales_by_consultant(store_id=store.pk, start=start, end=end)
        assert consultant_sales(split) == totals
        assert sales_by_consultant_json(consultant_sales(split)) == sales_by_consultant_json(totals)
