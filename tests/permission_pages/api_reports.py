"""The reports' API beyond the monthly one (issue 13 item 2): the weekly report, for the store's
leads (consultants 403, as the weekly page) and HQ, who names the store (without one a 400); store
A's named by the outsider is a 404. The chain view is HQ's only, as its page (a 403 for every store
role); a period it cannot read is HQ's 400. DRF answers anonymous callers 401."""

from tests.permission_table import Page, expect

LEADS = {"consultant": 403, "other_consultant": 403, "anonymous": 401}


def store_a(o):
    return {"store": o.member.home_store.code}


PAGES = [
    Page("api:reports_weekly", expected=expect(200, hq=400, **LEADS), public=True),
    Page("api:reports_weekly", expected=expect(200, outsider=404, **LEADS), data=store_a, public=True, note="store A"),
    Page(
        "api:reports_chain",
        expected=expect(403, anonymous=401, hq=200),
        data={"period": "quarter"},
        public=True,
    ),
    Page(
        "api:reports_chain",
        expected=expect(403, anonymous=401, hq=400),
        data={"quarter": "2026-Q9"},
        public=True,
        note="bad period",
    ),
]
