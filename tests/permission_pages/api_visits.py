"""The API's follow-up tasks, visits and invitations (issue 13 item 2): anonymous callers get 401,
another store's object or member a 404; another consultant's task or invitation a 403 (as on
Today and the invitations page); reassigning is for the VIP specialist, the manager and HQ."""

from datetime import timedelta

from django.utils import timezone

from tests.permission_table import Page, expect
from visits.models import Visit


def on_task(o):
    return {"pk": o.task.pk}


def on_invitation(o):
    return {"pk": o.invitation.pk}


def on_visit(o):
    """A visit to member_a by its consultant, made once (the privacy crawl calls this again)."""
    visit = Visit.objects.filter(member=o.member, outcome="表格回访").first()
    if visit is None:
        visit = Visit.objects.create(
            member=o.member,
            store=o.member.home_store,
            staff=o.users["consultant"],
            channel="phone",
            at=timezone.now(),
            outcome="表格回访",
        )
    return {"pk": visit.pk}


def a_visit_body(o):
    return {"member": o.member.pk, "channel": "wechat", "outcome": "已联系，满意"}


def an_invitation_body(o):
    return {
        "member": o.member.pk,
        "for_date": (timezone.localdate() + timedelta(days=3)).isoformat(),
        "purpose": "私享会",
    }


def to_the_specialist(o):
    return {"assignee": o.users["specialist"].username}


WORK = expect(200, anonymous=401, other_consultant=403, outsider=404)

PAGES = [
    Page("api:tasks", expected=expect(200, anonymous=401), public=True),
    Page(
        "api:tasks",
        expected=expect(200, anonymous=401, consultant=403, other_consultant=403),
        data={"scope": "store"},
        public=True,
        note="the store's",
    ),
    Page("api:task", on_task, WORK, public=True),
    Page(
        "api:task-complete",
        on_task,
        WORK,
        method="post",
        data={"channel": "phone", "outcome": "已联系，满意"},
        public=True,
    ),
    Page("api:task-attempt", on_task, WORK, method="post", data={"channel": "phone"}, public=True),
    Page("api:task-snooze", on_task, WORK, method="post", data={"days": 1}, public=True),
    Page(
        "api:task-reassign",
        on_task,
        expect(200, anonymous=401, consultant=403, other_consultant=403, outsider=404),
        method="post",
        data=to_the_specialist,
        public=True,
    ),
    Page("api:visits", expected=expect(200, anonymous=401), public=True),
    Page(
        "api:visits",
        expected=expect(201, anonymous=401, outsider=404),
        method="post",
        data=a_visit_body,
        public=True,
        note="record",
    ),
    Page("api:visit", on_visit, expect(200, anonymous=401, outsider=404), public=True),
    Page("api:invitations", expected=expect(200, anonymous=401), public=True),
    Page(
        "api:invitations",
        expected=expect(201, anonymous=401, outsider=404),
        method="post",
        data=an_invitation_body,
        public=True,
        note="invite",
    ),
    Page("api:invitation", on_invitation, WORK, public=True),
    Page(
        "api:invitation-advance",
        on_invitation,
        WORK,
        method="post",
        data={"status": "confirmed"},
        public=True,
    ),
]
