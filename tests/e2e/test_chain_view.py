"""HQ's chain view in Chromium (issue 12 item 4, must show): HQ logs in and lands on the stores
side by side, switches to the quarter, and drills into one store's churn.

The ledger is dated from the quarter's first day S: 林静 last bought on S − 180 days, so she is
active on S − 1 (the last day of a 180-day window) and lapsed on any day of the quarter: churned;
陈曦 bought a week before S and again today: in the base, repurchased, not churned. Store A's
quarter: churn 1/2.
"""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from reports.periods import Period

from ..conftest import IN_CI
from ..factories import MemberFactory, PurchaseFactory

if not IN_CI:  # in CI a missing package is an error, not a skip
    pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt (the playwright package)")
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw"  # StaffFactory's


def test_hq_opens_the_chain_view_switches_to_the_quarter_and_drills_into_churn(
    page: Page, hq, store_a, store_b, staff_a
):
    today = timezone.localdate()
    quarter = Period.quarter_of(today)
    lapsing = MemberFactory(home_store=store_a, name="林静", joined_on=date(2020, 1, 1))
    PurchaseFactory(member=lapsing, date=quarter.start - timedelta(days=180), amount=2000)
    loyal = MemberFactory(home_store=store_a, name="陈曦", joined_on=date(2020, 1, 1))
    PurchaseFactory(member=loyal, date=quarter.start - timedelta(days=7), amount=1500)
    PurchaseFactory(member=loyal, date=today, amount=800)
    other = MemberFactory(home_store=store_b, name="周敏", joined_on=date(2020, 1, 1))
    PurchaseFactory(member=other, date=quarter.start - timedelta(days=180), amount=900)

    # HQ's landing page after login is the chain view (this month).
    page.goto("/")
    expect(page.get_by_role("heading", name="员工登录")).to_be_visible()
    page.get_by_label("用户名").fill(hq.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(re.compile(r"/reports/chain/$"))
    expect(page.get_by_role("heading", name="门店对比")).to_be_visible()
    expect(page.locator('tr[data-store="SHA"]')).to_be_visible()
    expect(page.locator('tr[data-store="BJB"]')).to_be_visible()

    # The quarter.
    page.get_by_role("link", name="本季度", exact=True).click()
    expect(page).to_have_url(re.compile(r"period=quarter"))
    expect(page.get_by_text(f"{today.year}年第{quarter.number}季度")).to_be_visible()
    row = page.locator('tr[data-store="SHA"]')
    churn = row.locator('a[data-figure="churned"]')
    expect(churn).to_have_text("1")
    expect(row.locator('a[data-figure="base"]').first).to_have_text("2")
    expect(row).to_contain_text("50%")

    # Store A's churn: the member behind it, and nobody else.
    churn.click()
    expect(page.get_by_role("heading", name="流失会员")).to_be_visible()
    expect(page.get_by_text(re.compile(r"SHA 上海店"))).to_be_visible()
    table = page.locator("table.table-members")
    expect(table.get_by_role("link", name="林静")).to_be_visible()
    expect(table.get_by_role("link", name="陈曦")).to_have_count(0)
    expect(table.get_by_role("link", name="周敏")).to_have_count(0)
    assert page.problems == []
