"""The chain view's 刷新 button (issue 14, reports/chain.py "The figures cache"): a POST that works
HQ's figures out again and goes back to the page; every store role gets a 403, as on the page."""

from __future__ import annotations

from tests.permission_table import Page, expect

PAGES = [
    Page("reports:chain_refresh", expected=expect(403, hq=302), method="post"),
    # GET is not a refresh: 405 for everyone signed in (the method is checked first).
    Page("reports:chain_refresh", expected=expect(405), note="get"),
]
