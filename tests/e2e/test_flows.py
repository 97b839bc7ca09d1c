"""The main flows a person clicks through, in Chromium against a live server.

Each test is one flow, asserting on what the person sees (and, where the flow is about a record,
on the record). The Today page's cards are in test_today_cards.py.
"""

import re

import pytest

from accounts.models import AuditEntry
from members.models import Member, TierChange

from ..conftest import IN_CI
from ..factories import MemberFactory

if not IN_CI:  # in CI a missing package is an error, not a skip
    pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt (the playwright package)")
from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw"  # StaffFactory's


def log_in(page: Page, user, *, then: str = "/members/") -> None:
    """Open a page, get sent to the login form, log in, and be sent back to the page."""
    page.goto(then)
    expect(page.get_by_role("heading", name="员工登录")).to_be_visible()
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def section(page: Page, title: str):
    """A card on the member page, by its heading."""
    return page.locator("section").filter(has=page.get_by_role("heading", name=title, exact=True))


def test_it_logs_a_consultant_in_and_out(page, staff_a):
    page.goto("/")

    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    page.get_by_label("用户名").fill("a_consultant")
    page.get_by_label("密码").fill("wrong")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_text(re.compile("请输入一个正确的.*和密码"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login/"))

    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()

    # The front page (where `/` sends a logged-in person), with the person and their store in the bar.
    expect(page).not_to_have_url(re.compile(r"/login/"))
    front = page.goto("/")
    assert front is not None and front.ok, f"the front page answered {front and front.status}"
    navbar = page.get_by_role("navigation").first
    expect(navbar).to_contain_text("a_consultant")
    expect(navbar).to_contain_text("上海店")
    expect(page.get_by_role("link", name="会员", exact=True)).to_be_visible()

    page.get_by_role("button", name="退出").click()

    expect(page.get_by_role("heading", name="员工登录")).to_be_visible()
    page.goto("/members/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/members/$"))
    assert page.problems == []


def test_it_finds_a_member_by_phone_tail_and_reveals_the_number_on_a_phone(phone_page, member_a, member_b, staff_a):
    page = phone_page
    MemberFactory(home_store=member_a.home_store, name="赵敏", phone="13700001111")
    MemberFactory(home_store=member_a.home_store, name="孙悦", phone="13700002222")
    # The whole store, not only the consultant's own members (the list's default for them).
    log_in(page, staff_a.consultant, then="/members/?scope=store")
    expect(page.get_by_text("共 3 位会员")).to_be_visible()

    # 王芳 of the other store has the same last four digits (…5678): she must not appear.
    page.get_by_role("searchbox", name="搜索").fill("5678")

    expect(page.get_by_text("共 1 位会员")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]q=5678"))
    card = page.get_by_role("link", name=re.compile("张丽"))
    expect(card).to_contain_text("138****5678")
    expect(page.get_by_text("王芳")).to_have_count(0)
    card.click()

    expect(page.get_by_role("heading", name="张丽", level=1)).to_be_visible()
    phone = page.locator("#member-phone")
    expect(phone).to_contain_text("138****5678")
    expect(phone).not_to_contain_text("13812345678")
    page.evaluate("window.notReloaded = true")

    page.get_by_role("button", name="显示完整号码").click()

    expect(page.get_by_role("link", name="13812345678")).to_have_attribute("href", "tel:13812345678")
    expect(phone).to_contain_text("查看已记录")
    expect(page.get_by_role("button", name="显示完整号码")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True, "the page reloaded instead of swapping the number in"
    assert (
        AuditEntry.objects.filter(
            action="member.phone.viewed", actor=staff_a.consultant, object_id=str(member_a.pk)
        ).count()
        == 1
    )
    assert page.problems == []


def test_it_shows_a_bad_phone_then_creates_the_member(page, staff_a):
    log_in(page, staff_a.consultant)
    page.get_by_role("main").get_by_role("link", name="开卡").click()
    expect(page.get_by_role("heading", name="新会员开卡")).to_be_visible()

    page.get_by_label("姓名").fill("刘洋")
    page.get_by_label("卡号").fill("V9000001")
    page.get_by_label("手机").fill("12345")
    page.get_by_role("main").get_by_role("button", name="开卡").click()

    expect(page.get_by_text("“12345”不是有效的手机号")).to_be_visible()
    expect(page.get_by_role("heading", name="新会员开卡")).to_be_visible()
    expect(page.get_by_label("姓名")).to_have_value("刘洋")  # what was typed is kept
    assert not Member.objects.filter(card_no="V9000001").exists()

    page.get_by_label("手机").fill("138 0013 8000")
    page.get_by_role("main").get_by_role("button", name="开卡").click()

    expect(page.get_by_role("heading", name="刘洋", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("已为 刘洋 开卡（卡号 V9000001）")
    member = Member.objects.get(card_no="V9000001")
    expect(page).to_have_url(re.compile(rf"/members/{member.pk}/$"))
    assert member.phone == "13800138000" and member.consultant == staff_a.consultant
    assert page.problems == []


def test_it_records_a_purchase_that_lifts_the_tier_then_a_return(page, member_a, staff_a):
    assert member_a.tier == "C"
    log_in(page, staff_a.consultant, then=f"/members/{member_a.pk}/")
    expect(section(page, "等级与消费")).to_contain_text("¥0.00")

    # Amounts show as the language formats them: 12000.00 in Chinese, 12,000.00 in English.
    # 12,000 today: the 12-month spend passes B's 10,000, so she is B from today.
    page.get_by_role("link", name="登记消费/退货").click()
    page.get_by_label("小票号").fill("R-1001")
    page.get_by_label("金额（元）").fill("12000")
    page.get_by_role("button", name="登记", exact=True).click()

    expect(page.get_by_role("heading", name="张丽", level=1)).to_be_visible()
    expect(page.get_by_text(re.compile(r"已登记消费 R-1001：12,?000\.00 元"))).to_be_visible()
    expect(page.get_by_text("会员等级已由 C 级 变为 B 级。")).to_be_visible()
    expect(page.locator("header").get_by_title("等级")).to_have_text("B 级")
    expect(section(page, "等级与消费")).to_contain_text(re.compile(r"¥12,?000\.00"))
    history = section(page, "等级变更记录")
    expect(history).to_contain_text(re.compile(r"C 级\s*→\s*B 级"))
    expect(history).to_contain_text("升级")

    # A 1,500 return of that receipt, the same day: spend drops to 10,500, still B. (A same-day
    # return below 10,000 would undo the upgrade: the engine counts a day's net spend.)
    page.get_by_role("link", name="登记消费/退货").click()
    page.get_by_label("退货").check()
    page.get_by_label("小票号").fill("R-1002")
    page.get_by_label("金额（元）").fill("1500")
    page.get_by_label("原小票").select_option(index=1)
    page.get_by_role("button", name="登记", exact=True).click()

    expect(page.get_by_text(re.compile(r"已登记退货 R-1002：1,?500\.00 元"))).to_be_visible()
    expect(section(page, "等级与消费")).to_contain_text(re.compile(r"¥10,?500\.00"))
    purchases = section(page, "消费记录")
    expect(purchases).to_contain_text("2 笔")
    expect(purchases.get_by_role("listitem").filter(has_text="R-1002")).to_contain_text("退货")
    expect(page.locator("header").get_by_title("等级")).to_have_text("B 级")
    assert list(TierChange.objects.filter(member=member_a).values_list("from_tier", "to_tier")) == [("C", "B")]
    assert page.problems == []


BAD_CSV = "card_no,name,phone,joined_on\r\nV1,李娜,13800000001,2023-01-01\r\nV2,陈静,12345,2023-02-01\r\n"
GOOD_CSV = "卡号,姓名,手机,入会日期\r\nV1,李娜,13800000001,2023-01-01\r\nV2,陈静,13800000002,2023-02-01\r\n"


def test_it_imports_members_from_a_csv_after_a_preview(page, staff_a, monkeypatch):
    from vipcrm.celery import app as celery_app

    # The import job runs in the request here (no worker in this test); the progress page is in
    # tests/members/test_import_pages.py.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    log_in(page, staff_a.specialist, then="/members/import/")

    def upload(name: str, content: str) -> None:
        page.get_by_label("文件").set_input_files({"name": name, "mimeType": "text/csv", "buffer": content.encode()})
        page.get_by_role("button", name="上传并预览").click()
        expect(page.get_by_role("heading", name="导入预览：会员")).to_be_visible()

    upload("bad.csv", BAD_CSV)

    errors = page.locator("#import-errors")
    expect(errors.get_by_role("row")).to_have_count(2)  # the header and the bad row
    expect(errors).to_contain_text("“12345”不是有效的手机号")
    expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
    assert not Member.objects.exists()

    page.get_by_role("link", name="重新上传").click()
    upload("good.csv", GOOD_CSV)
    expect(page.locator("#import-errors")).to_have_count(0)
    page.get_by_role("button", name="确认导入").click()

    expect(page.get_by_role("alert")).to_contain_text("导入完成")
    page.get_by_role("link", name="会员", exact=True).click()
    expect(page.get_by_text("共 2 位会员")).to_be_visible()
    expect(page.get_by_role("link", name="李娜", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="陈静", exact=True)).to_be_visible()
    assert set(Member.objects.values_list("card_no", "home_store")) == {
        ("V1", staff_a.specialist.store_id),
        ("V2", staff_a.specialist.store_id),
    }
    assert page.problems == []


def test_it_shows_not_found_for_another_stores_member(page, member_a, member_b, staff_a):
    log_in(page, staff_a.consultant)

    response = page.goto(f"/members/{member_b.pk}/")

    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="未找到")).to_be_visible()
    expect(page.get_by_text("不在您的门店范围内")).to_be_visible()
    expect(page.get_by_role("main")).not_to_contain_text("王芳")
    assert page.problems == []
