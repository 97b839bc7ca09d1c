"""Reports sent up with commentary (issue 12 item 5): the VIP specialist writes problems,
improvements and next actions on a report and submits it; the manager and HQ get an email with the
figures and a link (after the commit); the manager acknowledges; the thread of comments; the XLSX
and printable versions; the mid-month and month-end duties mail their report once.

The hand-made month is March 2026 in store A:
- 老会员 joined 2025-01-01 (before March: an old VIP), served by the consultant, bought ¥600 on
  03-05 with the consultant on the receipt → old-VIP sales ¥600.00.
- Old-VIP sales target 2026: ¥12,000 over twelve equal months → March ¥1,000; the consultant's
  March share ¥500.
- Achievement: store 600 / 1,000 = 60%; consultant 600 / 500 = 120%.
"""

from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO, StringIO

import openpyxl
import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, Notification
from reports.commentary import commentary_save, commentary_submit
from reports.models import MonthlyTarget, ReportComment, ReportCommentary, ReportSnapshot, TargetMetric
from reports.services import annual_target_set, snapshot_take, staff_allocation_set
from tests.factories import MemberFactory, PurchaseFactory

D = date.fromisoformat
M = Decimal
EARLY_APRIL = "2026-04-02 10:00 +0800"


def at(moment: str):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def march(store_a, staff_a, store_b, staff_b, hq):
    old = MemberFactory(home_store=store_a, name="老会员", joined_on=D("2025-01-01"), consultant=staff_a.consultant)
    PurchaseFactory(member=old, date=D("2026-03-05"), amount=M("600"), consultant=staff_a.consultant)
    with at(EARLY_APRIL):
        annual_target_set(
            store=store_a, year=2026, metric=TargetMetric.OLD_VIP_SALES, amount="12000", by=staff_a.manager
        )
        month = MonthlyTarget.objects.get(annual__store=store_a, annual__metric=TargetMetric.OLD_VIP_SALES, month=3)
        staff_allocation_set(monthly=month, allocations={staff_a.consultant.pk: "500"}, by=staff_a.manager)
        snapshot = snapshot_take(store=store_a, kind="monthly", start=D("2026-03-01"), end=D("2026-03-31"))
    return snapshot


def commentary_url(name, snapshot):
    return reverse(f"reports:{name}", args=[snapshot.pk])


TEXTS = {"problems": "B 级会员回访不及时", "improvements": "每周四复核回访计划", "next_actions": "邀约沉睡会员"}


# --- Write and submit ----------------------------------------------------------------------------


def test_it_saves_a_draft_without_telling_anyone(client, march, staff_a, django_capture_on_commit_callbacks):
    client.force_login(staff_a.specialist)
    with at(EARLY_APRIL), django_capture_on_commit_callbacks(execute=True):
        response = client.post(commentary_url("commentary_save", march), {**TEXTS, "save": "1"})

    assert response.status_code == 302
    assert response["Location"].endswith("#commentary")
    c = ReportCommentary.objects.get(snapshot=march)
    assert (c.problems, c.written_by, c.submitted_at) == ("B 级会员回访不及时", staff_a.specialist, None)
    assert mail.outbox == []
    assert AuditEntry.objects.filter(action="reports.commentary.saved", object_id=str(c.pk)).exists()


def test_it_submits_to_the_manager_and_hq_after_the_commit(
    client, march, staff_a, staff_b, hq, django_capture_on_commit_callbacks
):
    client.force_login(staff_a.specialist)
    with at(EARLY_APRIL), django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(commentary_url("commentary_save", march), {**TEXTS, "submit": "1"})
        # Nothing is sent before the commit.
        assert mail.outbox == []
    for callback in callbacks:
        callback()

    assert response.status_code == 302
    c = ReportCommentary.objects.get(snapshot=march)
    assert c.submitted_by == staff_a.specialist and c.submitted_at is not None
    # The store's manager and HQ; not the submitter, the consultant or store B.
    assert sorted(m.to[0] for m in mail.outbox) == ["a_manager@example.com", "hq@example.com"]
    email = mail.outbox[0]
    assert email.subject == "【上报】上海店 月报 2026-03"
    assert "老VIP销售额: ¥600.00" in email.body
    assert "新开卡: 0" in email.body
    assert "老VIP销售额: ¥600.00 / ¥1,000.00，60.0%" in email.body  # the store against its target
    assert "B 级会员回访不及时" in email.body and "邀约沉睡会员" in email.body
    assert f"/reports/snapshots/{march.pk}/" in email.body
    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {"a_manager", "hq"}
    assert AuditEntry.objects.filter(action="reports.commentary.submitted").count() == 1


def test_it_refuses_to_submit_an_empty_commentary(client, march, staff_a):
    client.force_login(staff_a.specialist)
    with at(EARLY_APRIL):
        response = client.post(commentary_url("commentary_save", march), {"submit": "1"})

    assert response.status_code == 400
    assert "请至少填写" in response.content.decode()
    assert not ReportCommentary.objects.filter(snapshot=march, submitted_at__isnull=False).exists()
    assert mail.outbox == []


def test_it_refuses_an_edit_once_submitted(client, march, staff_a):
    with at(EARLY_APRIL):
        commentary_submit(snapshot=march, by=staff_a.specialist, **TEXTS)
    client.force_login(staff_a.manager)
    with at(EARLY_APRIL):
        response = client.post(commentary_url("commentary_save", march), {**TEXTS, "problems": "改过了"})
        with pytest.raises(ValidationError, match="不能再修改"):
            commentary_save(snapshot=march, by=staff_a.specialist, problems="又改")

    assert response.status_code == 400
    assert "不能再修改" in response.content.decode()
    assert ReportCommentary.objects.get(snapshot=march).problems == "B 级会员回访不及时"


def test_it_keeps_what_was_typed_when_a_text_is_too_long(client, march, staff_a):
    client.force_login(staff_a.specialist)
    with at(EARLY_APRIL):
        response = client.post(
            commentary_url("commentary_save", march), {**TEXTS, "problems": "长" * 4001, "save": "1"}
        )

    assert response.status_code == 400
    assert "邀约沉睡会员" in response.content.decode()  # the other fields as typed
    assert not ReportCommentary.objects.exists()


# --- Acknowledge and comment ---------------------------------------------------------------------


def test_the_manager_acknowledges_with_a_comment(client, march, staff_a):
    with at(EARLY_APRIL):
        commentary_submit(snapshot=march, by=staff_a.specialist, **TEXTS)
    client.force_login(staff_a.manager)
    with at("2026-04-03 09:00 +0800"):
        response = client.post(commentary_url("commentary_acknowledge", march), {"comment": "同意，下周跟进"})
        again = client.post(commentary_url("commentary_acknowledge", march), {})

    assert response.status_code == 302
    c = ReportCommentary.objects.get(snapshot=march)
    assert c.acknowledged_by == staff_a.manager
    assert list(ReportComment.objects.values_list("author_name", "text")) == [(str(staff_a.manager), "同意，下周跟进")]
    assert Notification.objects.filter(recipient=staff_a.specialist, text__contains="已确认").exists()
    assert again.status_code == 400 and "已由" in again.content.decode()
    assert AuditEntry.objects.filter(action="reports.commentary.acknowledged").count() == 1


def test_nothing_unsubmitted_is_acknowledged(client, march, staff_a):
    client.force_login(staff_a.manager)
    with at(EARLY_APRIL):
        response = client.post(commentary_url("commentary_acknowledge", march), {})
    assert response.status_code == 400
    assert "尚未提交" in response.content.decode()


def test_the_thread_lists_comments_with_author_and_time(client, march, staff_a, hq, django_assert_max_num_queries):
    with at(EARLY_APRIL):
        commentary_submit(snapshot=march, by=staff_a.specialist, **TEXTS)
        client.force_login(hq)
        client.post(commentary_url("comment_add", march), {"text": "请补充各顾问的回访情况"})
        client.force_login(staff_a.specialist)
        client.post(commentary_url("comment_add", march), {"text": "已补充"})
        empty = client.post(commentary_url("comment_add", march), {"text": "   "})
    ReportComment.objects.bulk_create(
        [ReportComment(snapshot=march, author=hq, author_name="总部", text=f"留言 {n}") for n in range(60)]
    )

    with at(EARLY_APRIL), django_assert_max_num_queries(25):
        page = client.get(commentary_url("commentary", march), headers={"HX-Request": "true"})

    html = page.content.decode()
    assert empty.status_code == 400 and "请填写留言内容" in empty.content.decode()
    assert html.index("请补充各顾问的回访情况") < html.index("已补充") < html.index("留言 59")
    assert "2026-04-02 10:00" in html and str(hq) in html


def test_a_weekly_report_is_sent_up_the_same_way(client, store_a, staff_a, hq, django_capture_on_commit_callbacks):
    with at(EARLY_APRIL):
        week = snapshot_take(store=store_a, kind="weekly", start=D("2026-03-23"), end=D("2026-03-29"))
        client.force_login(staff_a.specialist)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(commentary_url("commentary_save", week), {**TEXTS, "submit": "1"})
        page = client.get(commentary_url("commentary", week))

    assert [m.subject for m in mail.outbox] == ["【上报】上海店 周报 2026-03-23 – 03-29"] * 2
    assert "目标达成" not in mail.outbox[0].body  # a week has no monthly targets
    assert page.status_code == 200 and "已提交，待确认" in page.content.decode()


def test_the_submissions_list_is_scoped_and_bounded(
    client, store_a, store_b, staff_a, staff_b, hq, django_assert_max_num_queries
):
    # Sixty submitted weekly reports in store A (every third acknowledged), one in store B.
    with at(EARLY_APRIL):
        for n in range(60):
            start = D("2025-01-06") + timedelta(days=7 * n)
            week = ReportSnapshot.objects.create(
                store=store_a, kind="weekly", period_start=start, period_end=start + timedelta(days=6), figures={}
            )
            c = ReportCommentary.objects.create(
                snapshot=week, problems=f"问题 {n}", submitted_at=timezone.now(), submitted_by=staff_a.specialist
            )
            ReportComment.objects.create(snapshot=week, author=hq, author_name="总部", text="看过")
            if n % 3 == 0:
                c.acknowledged_at, c.acknowledged_by = timezone.now(), staff_a.manager
                c.save()
        b = snapshot_take(store=store_b, kind="monthly", start=D("2026-03-01"), end=D("2026-03-31"))
        commentary_submit(snapshot=b, by=staff_b.specialist, problems="北京店的问题")

        def listed(user, **query):
            client.force_login(user)
            with django_assert_max_num_queries(8):
                response = client.get(reverse("reports:submissions"), query)
            return response.content.decode()

        mine = listed(staff_a.manager)
        waiting = listed(staff_a.manager, waiting="1")
        everyone = listed(hq, page="2")
        theirs = listed(staff_b.manager)

    assert mine.count('list-group-item"') == 50 and "北京店的问题" not in mine  # one page of store A's
    assert waiting.count("待确认</span>") == 40 and "已确认</span>" not in waiting
    assert "1 条留言" in mine
    assert everyone.count('list-group-item"') == 11  # 61 in all, fifty a page
    assert "北京店的问题" in theirs and "问题 1" not in theirs


# --- Rights --------------------------------------------------------------------------------------


def test_who_may_do_what(client, march, staff_a, staff_b, hq):
    with at(EARLY_APRIL):
        commentary_submit(snapshot=march, by=staff_a.specialist, **TEXTS)

        def post(user, name, data):
            client.force_login(user)
            return client.post(commentary_url(name, march), data).status_code

        # HQ reads and comments but does not write the store's commentary.
        assert post(hq, "commentary_save", TEXTS) == 403
        # The VIP specialist does not acknowledge; consultants take no part; store B sees nothing.
        assert post(staff_a.specialist, "commentary_acknowledge", {}) == 403
        assert post(staff_a.consultant, "comment_add", {"text": "x"}) == 403
        assert post(staff_b.manager, "commentary_acknowledge", {}) == 404
        assert post(staff_b.manager, "comment_add", {"text": "x"}) == 404
        client.force_login(staff_b.specialist)
        assert client.get(commentary_url("snapshot_export", march)).status_code == 404
        client.force_login(staff_a.consultant)
        assert client.get(commentary_url("snapshot_print", march)).status_code == 403
    assert not ReportComment.objects.exists()


# --- XLSX, print, the report page ----------------------------------------------------------------


def test_the_workbook_holds_the_figures_achievement_and_commentary(client, march, staff_a):
    with at(EARLY_APRIL):
        commentary_submit(snapshot=march, by=staff_a.specialist, **{**TEXTS, "problems": "=HYPERLINK(1)"})
        client.force_login(staff_a.manager)
        response = client.get(commentary_url("snapshot_export", march))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="report-SHA-monthly-20260301.xlsx"'
    book = openpyxl.load_workbook(BytesIO(response.content))
    assert book.sheetnames == ["数据", "目标达成", "点评"]
    figures = {row[0]: row[1] for row in book["数据"].iter_rows(min_row=6, values_only=True)}
    assert figures["老VIP销售额"] == 600 and figures["新开卡"] == 0
    achievement = [row[:4] for row in book["目标达成"].iter_rows(values_only=True)]
    assert ("老VIP销售额", 600, 1000, 60) in achievement
    consultant = next(row for row in achievement if row[0] == str(staff_a.consultant))
    assert consultant[1:4] == (600, 500, 120)  # old-VIP sales: actual, target, %
    notes = {row[0]: row[1] for row in book["点评"].iter_rows(values_only=True) if row}
    assert notes["存在问题"] == "'=HYPERLINK(1)"  # never a formula
    assert AuditEntry.objects.filter(action="reports.snapshot.exported", object_id=str(march.pk)).exists()


def test_the_print_page_renders(client, march, staff_a):
    with at(EARLY_APRIL):
        commentary_submit(snapshot=march, by=staff_a.specialist, **TEXTS)
        client.force_login(staff_a.manager)
        response = client.get(commentary_url("snapshot_print", march))

    html = response.content.decode()
    assert response.status_code == 200
    assert "上海店 月报 2026-03" in html and "¥600.00" in html
    assert "每周四复核回访计划" in html and "data-print" in html
    assert "60%" in html and "120%" in html  # store and consultant achievement


def test_the_monthly_report_shows_achievement_per_store_and_person(client, march, staff_a):
    client.force_login(staff_a.manager)
    with at(EARLY_APRIL):
        page = client.get(reverse("reports:monthly"), {"month": "2026-03"})
        panel = client.get(commentary_url("commentary", march), headers={"HX-Request": "true"})

    assert f'hx-get="{commentary_url("commentary", march)}"' in page.content.decode()
    html = panel.content.decode()
    assert "目标达成" in html
    assert "¥600.00" in html and "¥1,000.00" in html and "60%" in html  # the store
    assert str(staff_a.consultant) in html and "120%" in html  # the consultant
    # The manager may acknowledge only what was submitted; the writer's form is there.
    assert "提交给店长和总部" in html


def test_a_live_report_says_commentary_waits_for_the_snapshot(client, store_a, staff_a):
    client.force_login(staff_a.specialist)
    with at(EARLY_APRIL):
        page = client.get(reverse("reports:monthly"), {"month": "2026-04"})
    assert "报表存档" in page.content.decode()


def test_a_snapshot_link_opens_its_report(client, march, staff_a, store_a):
    client.force_login(staff_a.manager)
    with at(EARLY_APRIL):
        mid = snapshot_take(store=store_a, kind="mid_month", start=D("2026-03-01"), end=D("2026-03-15"))
        to_month = client.get(commentary_url("snapshot", march))
        to_mid = client.get(commentary_url("snapshot", mid))
        mid_page = client.get(to_mid["Location"])
        bad_month = client.get(reverse("reports:mid_month"), {"month": "2026-13"})

    assert to_month["Location"] == f"/reports/monthly/?month=2026-03&store={store_a.pk}#commentary"
    assert to_mid["Location"] == f"/reports/mid-month/?month=2026-03&store={store_a.pk}#commentary"
    html = mid_page.content.decode()
    assert mid_page.status_code == 200 and "月中报 2026-03-01 – 03-15" in html
    assert commentary_url("commentary", mid) in html
    assert bad_month.status_code == 400 and "YYYY-MM" in bad_month.content.decode()


# --- The duties mail the report once ---------------------------------------------------------------


def run_duty(duty: str, day: str):
    call_command("run_duties", duty, "--store", "SHA", "--date", day, stdout=StringIO())


def test_the_month_end_duty_mails_the_report_once(march, staff_a, hq, django_capture_on_commit_callbacks):
    ReportSnapshot.objects.all().delete()  # the duty takes it
    with at("2026-03-31 23:30 +0800"), django_capture_on_commit_callbacks(execute=True):
        run_duty("monthly", "2026-03-31")
        run_duty("monthly", "2026-03-31")

    reports = [m for m in mail.outbox if m.subject == "上海店 月报 2026-03"]
    assert sorted(m.to[0] for m in reports) == ["a_manager@example.com", "a_specialist@example.com", "hq@example.com"]
    snapshot = ReportSnapshot.objects.get(kind="monthly")
    assert "老VIP销售额: ¥600.00" in reports[0].body and f"/reports/snapshots/{snapshot.pk}/" in reports[0].body


def test_the_mid_month_duty_mails_the_report(store_a, staff_a, hq, django_capture_on_commit_callbacks):
    with at("2026-03-15 23:30 +0800"), django_capture_on_commit_callbacks(execute=True):
        run_duty("mid_month", "2026-03-15")
        run_duty("mid_month", "2026-03-15")

    reports = [m for m in mail.outbox if "月中报" in m.subject]
    assert len(reports) == 3
    assert reports[0].subject == "上海店 月中报 2026-03-01 – 03-15"
