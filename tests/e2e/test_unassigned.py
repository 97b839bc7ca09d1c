"""The unassigned members page in a browser (issue 11 item 2): the VIP specialist, on a phone,
gives a member to the suggested consultant with one tap, then the rest of the page at once."""

import pytest

from accounts.models import Role
from members.models import Member, MemberOwnerChange, Tier

from ..conftest import IN_CI
from ..factories import MemberFactory, StaffFactory

if not IN_CI:  # in CI a missing package is an error, not a skip
    pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt (the playwright package)")
from playwright.sync_api import expect  # noqa: E402

from .test_flows import log_in  # noqa: E402
from .test_today_cards import assert_fits_the_phone  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_specialist_assigns_by_suggestion_on_a_phone(phone_page, store_a, staff_a):
    page = phone_page
    staff_a.consultant.display_name = "李娜"
    staff_a.consultant.save(update_fields=["display_name"])
    StaffFactory(username="a_c2", role=Role.CONSULTANT, store=store_a, display_name="周敏")
    vip = MemberFactory(home_store=store_a, name="王太太", tier=Tier.A)
    MemberFactory(home_store=store_a, name="赵小姐")
    MemberFactory(home_store=store_a, name="钱女士")

    log_in(page, staff_a.specialist, then="/members/unassigned/")
    rows = page.locator("#unassigned-members tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("王太太")  # tier A first
    assert_fits_the_phone(page)
    rows.first.get_by_role("button", name="分配").click()

    expect(page.get_by_text("已为 1 位会员分配专属顾问。")).to_be_visible()
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="本页全部按所选分配").click()

    expect(page.get_by_text("所有会员都有专属顾问。")).to_be_visible()
    assert not Member.objects.filter(home_store=store_a, consultant__isnull=True).exists()
    assert MemberOwnerChange.objects.get(member=vip).by == staff_a.specialist
    # Lightest load, ties by login name: 王 → a_c2 (0 vs 0); then 赵 → a_consultant (0 vs 1) and
    # 钱 → a_c2 (1 vs 1, counting 赵 above it on the page).
    assert sorted(Member.objects.values_list("consultant__username", flat=True)) == [
        "a_c2",
        "a_c2",
        "a_consultant",
    ]
