"""HQ's chain view (issue 12 item 4): HQ only; every store role gets a 403 (a store's leads have
their own store's dashboard). The drill-down names a store, a region or (neither) the chain."""

from __future__ import annotations

from tests.permission_table import Page, expect

HQ_ONLY = expect(403, hq=200)


def store_a_churn(o):
    return {"period": "quarter", "figure": "churned", "store": o.member.home_store_id}


def region_base(o):
    return {"period": "year", "figure": "base", "region": o.member.home_store.region}


PAGES = [
    Page("reports:chain", expected=HQ_ONLY),
    Page(
        "reports:chain", expected=HQ_ONLY, data={"period": "quarter", "by": "region", "sort": "-churn"}, note="regions"
    ),
    Page("reports:chain", expected=HQ_ONLY, data={"format": "csv"}, note="csv"),
    Page("reports:chain", expected=expect(403, hq=400), data={"quarter": "2026-Q9"}, note="bad period"),
    Page("reports:chain_members", expected=HQ_ONLY, data=store_a_churn, note="store"),
    Page("reports:chain_members", expected=HQ_ONLY, data=region_base, note="region"),
    Page("reports:chain_members", expected=expect(403, hq=404), data={"figure": "nonsense"}, note="bad figure"),
    # The former store comparison's address leads to the chain view.
    Page("reports:hq", expected=expect(403, hq=302), note="redirect"),
]
