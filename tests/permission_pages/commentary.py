"""Reports sent up with commentary (issue 12 item 5). Store A's monthly snapshot of last month:
its leads and HQ read it (consultants 403, as on the report pages; store B's manager, the
outsider, 404). The VIP specialist and manager write and submit (HQ 403: it reads and comments);
the manager or HQ acknowledges (the specialist 403); the leads and HQ comment."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.permission_table import Page, expect

CONSULTANTS = {"consultant": 403, "other_consultant": 403}
LEADS_OF_A = {**CONSULTANTS, "outsider": 404}


def _snapshot(o):
    from reports.services import snapshot_take

    first = timezone.localdate().replace(day=1)
    start, end = (first - timedelta(days=1)).replace(day=1), first - timedelta(days=1)
    return snapshot_take(store=o.member.home_store, kind="monthly", start=start, end=end)


def a_store_a_report(o):
    return {"pk": _snapshot(o).pk}


def a_submitted_store_a_report(o):
    from reports.commentary import commentary_submit
    from reports.models import ReportCommentary

    snapshot = _snapshot(o)
    if not ReportCommentary.objects.filter(snapshot=snapshot, submitted_at__isnull=False).exists():
        commentary_submit(snapshot=snapshot, by=o.users["specialist"], problems="回访不及时")
    return {"pk": snapshot.pk}


def in_store_a(o):
    return {"store": o.member.home_store.pk}


TEXTS = {"problems": "B 级会员回访不及时", "improvements": "周四复核", "next_actions": "邀约", "save": "1"}

PAGES: list[Page] = [
    Page("reports:mid_month", expected=expect(200, **CONSULTANTS)),
    Page("reports:mid_month", expected=expect(200, **LEADS_OF_A), data=in_store_a, note="store A"),
    Page("reports:submissions", expected=expect(200, **CONSULTANTS)),
    Page("reports:snapshot", kwargs=a_store_a_report, expected=expect(302, **LEADS_OF_A)),
    Page("reports:commentary", kwargs=a_store_a_report, expected=expect(200, **LEADS_OF_A)),
    Page(
        "reports:commentary_save",
        kwargs=a_store_a_report,
        expected=expect(302, **LEADS_OF_A, hq=403),
        method="post",
        data=TEXTS,
    ),
    Page(
        "reports:commentary_acknowledge",
        kwargs=a_submitted_store_a_report,
        expected=expect(302, **LEADS_OF_A, specialist=403),
        method="post",
        data={"comment": "已阅"},
    ),
    Page(
        "reports:comment_add",
        kwargs=a_store_a_report,
        expected=expect(302, **LEADS_OF_A),
        method="post",
        data={"text": "请补充顾问的回访情况"},
    ),
    Page("reports:snapshot_export", kwargs=a_store_a_report, expected=expect(200, **LEADS_OF_A)),
    Page("reports:snapshot_print", kwargs=a_store_a_report, expected=expect(200, **LEADS_OF_A)),
]
