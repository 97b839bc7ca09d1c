"""The Today page on a consultant's phone (issue 9, Must show): a card with three reasons closed by
one contact leaves the list; an unanswered call keeps the card for tomorrow.

The browser runs against the live server in this process, so `time_machine` moves the clock of
both: the test goes to the next morning to see the card come back.
"""

import re
from datetime import datetime, timedelta
from importlib import import_module

import pytest
import time_machine
from django.apps import apps as django_apps
from django.utils import timezone

from accounts.models import AuditEntry
from visits.models import FollowUpTask, TaskKind, TaskReason, TaskStatus, Visit, VisitResult
from visits.services import task_create

from ..conftest import IN_CI
from ..factories import MemberFactory

if not IN_CI:  # in CI a missing package is an error, not a skip
    pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt (the playwright package)")
from playwright.sync_api import Page, expect  # noqa: E402

from .test_flows import log_in  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def card(page: Page, name: str):
    return page.locator(f'li.today-card[data-member="{name}"]')


def assert_fits_the_phone(page: Page) -> None:
    """Nothing wider than the 390 px screen: no sideways scrolling on the shop floor."""
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide on a {widths[1]} px screen"


def test_a_consultant_closes_three_reasons_with_one_contact_and_retries_an_unanswered_call_tomorrow(
    phone_page, staff_a, member_a
):
    page = phone_page
    # HQ's default templates come from a data migration; an earlier browser test's flush removed them.
    import_module("visits.migrations.0007_default_message_templates").forwards(django_apps, None)
    today = timezone.localdate()
    consultant = staff_a.consultant
    # 张丽: bought yesterday, her birthday today, and a follow-up the consultant set: one card.
    for kind, due, origin in [
        (TaskKind.POST_PURCHASE, today - timedelta(days=1), "receipt:R1"),
        (TaskKind.BIRTHDAY, today, "birthday:test"),
        (TaskKind.MANUAL, today, "visit:earlier"),
    ]:
        task_create(member=member_a, kind=kind, due_date=due, origin=origin, assignee=consultant)
    li_na = MemberFactory(home_store=member_a.home_store, consultant=consultant, name="李娜")
    unanswered, _new = task_create(member=li_na, kind=TaskKind.POST_PURCHASE, due_date=today, origin="receipt:R2")
    zhang = FollowUpTask.objects.get(member=member_a, status=TaskStatus.OPEN)
    assert TaskReason.objects.filter(task=zhang).count() == 3

    log_in(page, consultant, then="/")

    expect(page.get_by_role("heading", name="今日回访")).to_be_visible()
    zhang_card = card(page, "张丽")
    expect(zhang_card).to_have_count(1)  # one card for three reasons
    for reason in ("购后回访", "生日祝福", "手动回访"):
        expect(zhang_card.locator(".card-reasons")).to_contain_text(reason)
    expect(zhang_card).to_contain_text("逾期 1 天")
    assert_fits_the_phone(page)
    contacted = zhang_card.get_by_role("link", name="已联系")
    box = contacted.bounding_box()
    assert box is not None and box["height"] >= 44, f"a thumb needs 44 px, the button is {box}"

    # Her greeting: the birthday template, addressed 张女士, edited, copied for WeChat (recorded).
    zhang_card.get_by_text("问候语").click()
    text = zhang_card.locator("textarea")
    expect(text).to_have_value(re.compile("^张女士"))
    zhang_card.get_by_label("模板").select_option(label="生日祝福")
    expect(text).to_have_value(re.compile("^张女士，今天是您的生日！"))
    text.fill("张女士，生日快乐！礼物给您留好了。")
    zhang_card.get_by_role("button", name="复制（微信）").click()
    expect(zhang_card.get_by_role("status").filter(has_text="已复制，已记录（微信）")).to_be_visible()
    entry = AuditEntry.objects.get(action="task.message.sent")
    assert (entry.object_id, entry.data["channel"]) == (str(zhang.pk), "wechat")
    assert_fits_the_phone(page)

    # One reached contact, two taps: the card closes with every reason and leaves the list.
    contacted.click()
    form = page.locator(f"#card-{zhang.pk}")
    expect(form.get_by_role("button", name="已联系，满意")).to_be_visible()
    assert_fits_the_phone(page)
    form.get_by_role("button", name="已联系，满意").click()

    expect(page.get_by_role("status").filter(has_text="已完成：张丽（3 项原因已关闭）")).to_be_visible()
    expect(card(page, "张丽")).to_have_count(0)
    zhang.refresh_from_db()
    assert zhang.status == TaskStatus.DONE
    assert Visit.objects.get(member=member_a).result == VisitResult.REACHED

    # 李娜 does not answer: one tap records the attempt; her card says so and moves to tomorrow.
    tomorrow = today + timedelta(days=1)
    card(page, "李娜").get_by_role("button", name="未接通").click()

    li_card = card(page, "李娜")
    expect(li_card).to_contain_text("未接通 1 次")
    expect(li_card).to_contain_text(f"{tomorrow.month}月{tomorrow.day}日 再联系")
    unanswered.refresh_from_db()
    assert (unanswered.status, unanswered.attempts, unanswered.scheduled_for) == (TaskStatus.OPEN, 1, tomorrow)
    assert unanswered.due_date == today  # the lateness is kept

    page.reload()
    expect(page.get_by_text("今天没有要联系的会员。")).to_be_visible()
    expect(card(page, "张丽")).to_have_count(0)
    expect(card(page, "李娜")).to_have_count(0)
    assert page.problems == []

    # The next morning 李娜 is back, a day late, with her attempt on the card.
    next_morning = timezone.make_aware(datetime.combine(tomorrow, datetime.min.time())) + timedelta(hours=9)
    with time_machine.travel(next_morning, tick=True):
        log_in(page, consultant, then="/")  # signed out overnight: the shop's devices are shared
        back = card(page, "李娜")
        expect(back).to_be_visible()
        expect(back).to_contain_text("未接通 1 次")
        expect(back).to_contain_text("逾期 1 天")
        expect(card(page, "张丽")).to_have_count(0)
        assert_fits_the_phone(page)
    assert page.problems == [], page.problems
    assert re.search(r"/$", page.url)
