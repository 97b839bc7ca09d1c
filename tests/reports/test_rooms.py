"""The reports app's rooms (issue 12 item 7): thin views (each function at most 40 lines: parse,
call a selector or a service, render), reads in selectors, writes in services, and one rate type
(vipcrm.rates.Rate) for every app. Read from the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
VIEW_MODULES = ("reports/views.py", "reports/chain_views.py", "reports/commentary_views.py")
MAX_VIEW_LINES = 40


def functions(path: Path) -> list[tuple[str, int]]:
    """Every function and method of a module (nested ones too) with its length in lines, from its
    `def` (decorators aside) to its last line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


@pytest.mark.parametrize("module", VIEW_MODULES)
def test_it_keeps_every_view_function_short(module):
    found = functions(ROOT / module)
    assert found, f"no functions found in {module}"
    assert [(name, n) for name, n in found if n > MAX_VIEW_LINES] == []


def test_the_length_check_counts_from_def_to_last_line(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("@decorator\ndef f():\n    x = 1\n\n    return x\n\n\nclass C:\n    def g(self):\n        pass\n")
    assert functions(module) == [("f", 4), ("g", 2)]


# --- The chain view reads complaints for all stores in one grouped query ------------------------


def _complaint(store, received: str, *, responded: str | None = None, status: str = "registered"):
    from complaints.models import Complaint

    return Complaint.objects.create(
        store=store,
        channel="phone",
        category="alteration",
        description="x",
        received_at=f"{received}+08:00",
        first_response_at=f"{responded}+08:00" if responded else None,
        status=status,
        walk_in_name="顾客",
    )


def test_it_reads_the_chain_views_complaints_per_store_in_one_query(store_a, store_b):
    """SHA: two complaints in March, one answered within the 24 h response SLA; BJB: one, not
    answered. The grouped read gives each store its own, as a read per store did."""
    from datetime import date

    from complaints.selectors import complaint_figures
    from reports.chain import chain_figures
    from reports.periods import Period

    _complaint(store_a, "2026-03-02T10:00", responded="2026-03-02T12:00", status="accepted")
    _complaint(store_a, "2026-03-03T10:00")
    _complaint(store_b, "2026-03-04T10:00")
    _total, by_store = complaint_figures(
        store_ids=[store_a.pk, store_b.pk], start=date(2026, 3, 1), end=date(2026, 3, 31), by="store"
    )
    assert {(f.key, f.received, f.responded_in_sla) for f in by_store} == {
        (str(store_a.pk), 2, 1),
        (str(store_b.pk), 1, 0),
    }
    chain = chain_figures(period=Period.month(2026, 3), today=date(2026, 4, 15))
    lines = {line.store.code: line for line in chain.stores}
    assert (lines["SHA"].received, lines["SHA"].responded_in_sla) == (2, 1)
    assert (lines["BJB"].received, lines["BJB"].responded_in_sla) == (1, 0)
    assert chain.total.received == 3


def test_it_reads_the_chain_view_in_as_many_queries_for_six_stores_as_for_two(client, hq, store_a, store_b):
    """Every figure of the chain view is one grouped read over all stores: four more stores,
    each with a complaint, a member and a purchase, add no query."""
    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from tests.factories import MemberFactory, PurchaseFactory, StoreFactory

    client.force_login(hq)

    def count() -> int:
        with time_machine.travel("2026-04-15 10:00 +0800", tick=False), CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("reports:chain"), {"quarter": "2026-Q1"}).status_code == 200
        return len(queries)

    _complaint(store_a, "2026-02-02T10:00")
    count()  # the first request creates the session and the program rules' row
    two = count()
    for n in range(4):
        store = StoreFactory(code=f"X{n}")
        member = MemberFactory(home_store=store, joined_on=date_of("2025-03-01"))
        PurchaseFactory(member=member, store=store, date=date_of("2026-02-01"))
        _complaint(store, "2026-02-03T10:00")
    assert count() == two


def date_of(text: str):
    from datetime import date

    return date.fromisoformat(text)
