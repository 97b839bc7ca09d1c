"""Every page × every role × the status it must answer (STYLE: one table, outsider and wrong role
on every view).

Roles: `anonymous`; store A's `consultant` (who serves `member_a`), `other_consultant` (a second
consultant of store A, not `member_a`'s), `specialist` and `manager`; `outsider` (store B's
manager: any role check passes, so what stops them is the store); `hq`.

To add a page, append a `Page` to PAGES with a status for every role, or (for a feature's own pages)
to `PAGES` in a module of `tests/permission_pages/`, which this table collects.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, Role
from campaigns.segments import Segment
from campaigns.services import campaign_save
from complaints.services import complaint_register
from duties.models import DutyRun
from members.models import ImportJob, Member, Tier
from visits.models import GiftPlan, Occasion, TaskKind
from visits.services import invitation_create, task_create

from .factories import ImportantDateFactory, StaffFactory
from .permission_pages import feature_pages
from .permission_table import LOGIN, ROLES, Page, expect


def on_member(o):
    return {"pk": o.member.pk}


def on_important_date(o):
    return {"pk": o.member.pk, "date_pk": o.important_date.pk}


def on_import_job(o):
    return {"pk": o.import_job.pk}


def on_consultant(o):
    return {"pk": o.users["consultant"].pk}


def on_task(o):
    return {"pk": o.task.pk}


def on_invitation(o):
    return {"pk": o.invitation.pk}


def on_gift_plan(o):
    return {"pk": o.gift_plan.pk}


def on_store_a_template(o):
    """A message template of store A's own (issue 9)."""
    from visits.models import MessageTemplate

    template = MessageTemplate.objects.create(
        store=o.member.home_store, kind="care", name="本店问候", body="{称呼}您好"
    )
    return {"pk": template.pk}


def on_hq_default_template(o):
    from visits.models import MessageTemplate

    return {"pk": MessageTemplate.objects.filter(store__isnull=True).order_by("pk").first().pk}


A_TEMPLATE = {"kind": "care", "name": "新问候", "body": "{称呼}您好，我是{顾问}。"}


def on_complaint(o):
    return {"pk": o.complaint.pk}


def on_campaign(o):
    return {"pk": o.campaign.pk}


def a_campaign_plan(o):
    """A valid plan: store staff plan for their own store (the stores field is HQ's only)."""
    start = timezone.localdate() + timedelta(days=10)
    return {
        "name": "秋季新品会",
        "type": "new_season",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=2)).isoformat(),
        "attribution_days": 7,
        "budget": "2000",
        "goal_invitees": 10,
        "goal_attendance": 5,
        "goal_sales": "30000",
        "stores": [o.member.home_store.pk],
    }


def in_three_days(o):
    return {"for_date": (timezone.localdate() + timedelta(days=3)).isoformat(), "purpose": "新品到店试穿"}


def to_the_specialist(o):
    return {"assignee": o.users["specialist"].pk}


# --- Reports (issue 6): the objects and parameters the report pages address, made on first use ---


def in_store_a(o):
    return {"store": o.member.home_store.pk}


def _last_month():
    first = timezone.localdate().replace(day=1)
    return (first - timedelta(days=1)).replace(day=1), first - timedelta(days=1)


def a_store_a_snapshot(o):
    from reports.services import snapshot_take

    start, end = _last_month()
    snapshot = snapshot_take(store=o.member.home_store, kind="monthly", start=start, end=end)
    return {"snapshot": snapshot.pk, "figure": "churned"}


def a_live_store_a_figure(o):
    return {"store": o.member.home_store.pk, "month": _last_month()[0].strftime("%Y-%m"), "figure": "base"}


def _store_a_target(o):
    from reports.services import annual_target_set

    return annual_target_set(
        store=o.member.home_store,
        year=timezone.localdate().year,
        metric="old_vip_sales",
        amount="120000",
        by=o.users["manager"],
    )


def on_annual_target(o):
    return {"pk": _store_a_target(o).pk}


def on_monthly_target(o):
    return {"pk": _store_a_target(o).months.get(month=timezone.localdate().month).pk}


def a_store_a_target(o):
    return {
        "store": o.member.home_store.pk,
        "year": timezone.localdate().year,
        "metric": "new_members",
        "amount": "120",
    }


def to_the_consultant(o):
    return {f"staff_{o.users['consultant'].pk}": "1000"}


def store_a_sales_today(o):
    today = timezone.localdate()
    return {"store": o.member.home_store.pk, "month": today.strftime("%Y-%m"), f"sales_{today.isoformat()}": "8800"}


PAGES: list[Page] = [
    # --- Accounts ---
    Page("login", expected=expect(302, anonymous=200), public=True),  # signed in: on to the front page
    Page("home", expected=expect(302)),
    Page("logout", expected=expect(302, anonymous=302), method="post", public=True),
    Page("set_language", expected=expect(302), method="post", data={"language": "en"}, public=True),
    # --- Members (Foundation item 5) ---
    Page("members:list", expected=expect(200)),
    # Exporting is audited: a POST only, so no link can export in someone's name (finding 4).
    Page("members:export", expected=expect(200), method="post"),
    Page("members:export", expected=expect(405), note="a link"),
    Page("members:erase", on_member, expect(200, consultant=403, other_consultant=403, specialist=403, outsider=404)),
    Page("members:create", expected=expect(200)),
    Page("members:detail", on_member, expect(200, outsider=404)),
    Page("members:edit", on_member, expect(200, other_consultant=403, outsider=404)),
    Page("members:purchase_add", on_member, expect(200, outsider=404)),
    Page("members:assign", on_member, expect(200, consultant=403, other_consultant=403, outsider=404)),
    Page(
        "members:tier",
        on_member,
        expect(200, consultant=403, other_consultant=403, specialist=403, outsider=404),
    ),
    # A consultant cannot lock a tier; a manager can (and is sent back to the member).
    Page(
        "members:tier",
        on_member,
        expect(302, consultant=403, other_consultant=403, specialist=403, outsider=404),
        method="post",
        data={"tier": Tier.A, "lock": "on", "note": "VIP 客户"},
    ),
    # The full number only for those who may see it (a consultant: their own members only).
    Page("members:reveal_phone", on_member, expect(200, other_consultant=403, outsider=404), method="post"),
    Page("members:reveal_phone", on_member, expect(405, outsider=405), method="get"),
    # Important dates: whoever may edit the member.
    Page(
        "members:date_add",
        on_member,
        expect(302, other_consultant=403, outsider=404),
        method="post",
        data={"date-kind": "wedding_anniversary", "date-date": "2015-05-20"},
    ),
    Page("members:date_delete", on_important_date, expect(302, other_consultant=403, outsider=404), method="post"),
    # --- Member import ---
    Page("members:import", expected=expect(200, consultant=403, other_consultant=403)),
    # No pending upload in the session: a clear 400 for those allowed to import.
    # A job and its preview are its uploader's (the specialist's): 404 for anyone else.
    Page("members:import_job", on_import_job, expect(404, consultant=403, other_consultant=403, specialist=200)),
    Page("members:import_job_status", on_import_job, expect(404, consultant=403, other_consultant=403, specialist=200)),
    # This job failed: nothing to confirm, a clear 400 for its uploader.
    Page(
        "members:import_job_commit",
        on_import_job,
        expect(404, consultant=403, other_consultant=403, specialist=400),
        method="post",
    ),
    # --- Visits and care (issue 3) ---
    # `task` is member_a's, assigned to `consultant`; `invitation` was made by `consultant`.
    Page("visits:today", expected=expect(200)),
    Page("visits:today", expected=expect(200), data={"scope": "store"}, note="whole store"),  # ignored for consultants
    Page("visits:task", on_task, expect(200, other_consultant=403, outsider=404)),
    Page("visits:task_complete", on_task, expect(200, other_consultant=403, outsider=404)),
    Page(
        "visits:task_complete",
        on_task,
        expect(302, other_consultant=403, outsider=404),
        method="post",
        data={"channel": "phone", "outcome": "已联系，满意"},
    ),
    Page(
        "visits:task_snooze", on_task, expect(302, other_consultant=403, outsider=404), method="post", data={"days": 1}
    ),
    Page("visits:task_snooze", on_task, expect(405, outsider=405), method="get"),
    # Reassigning is for the VIP specialist, the manager and HQ.
    Page("visits:task_reassign", on_task, expect(200, consultant=403, other_consultant=403, outsider=404)),
    Page(
        "visits:task_reassign",
        on_task,
        expect(302, consultant=403, other_consultant=403, outsider=404),
        method="post",
        data=to_the_specialist,
    ),
    # The audited call link: only for those who may see the full number (tel: redirect = 302).
    Page("visits:call", on_member, expect(302, other_consultant=403, outsider=404), method="post"),
    Page("visits:call", on_member, expect(405, outsider=405), note="a link"),
    Page("visits:member_visits", on_member, expect(200, outsider=404)),
    Page("visits:visit_add", on_member, expect(200, outsider=404)),
    Page(
        "visits:visit_add",
        on_member,
        expect(302, outsider=404),
        method="post",
        data={"channel": "wechat", "outcome": "已联系，满意"},
    ),
    Page("visits:board", expected=expect(200, consultant=403, other_consultant=403)),
    Page("visits:invitations", expected=expect(200)),
    Page("visits:invitation_add", on_member, expect(200, outsider=404)),
    Page("visits:invitation_add", on_member, expect(302, outsider=404), method="post", data=in_three_days),
    Page(
        "visits:invitation_advance",
        on_invitation,
        expect(302, other_consultant=403, outsider=404),
        method="post",
        data={"status": "confirmed"},
    ),
    Page("visits:gifts", expected=expect(200)),
    Page("visits:gifts", expected=expect(200), data={"print": "1"}, note="printable"),
    Page(
        "visits:gifts_generate",
        expected=expect(302, consultant=403, other_consultant=403),
        method="post",
        data={"month": "2026-04"},
    ),
    Page("visits:gift_mark", on_gift_plan, expect(302, outsider=404), method="post", data={"status": "prepared"}),
    # --- Today's cards and message templates (issue 9) ---
    Page("visits:today", expected=expect(200), data={"when": "upcoming", "kind": "care", "tier": "A"}, note="filtered"),
    # A greeting copied from a card: its channel recorded by whoever works the card.
    Page(
        "visits:task_message",
        on_task,
        expect(302, other_consultant=403, outsider=404),
        method="post",
        data={"channel": "wechat"},
    ),
    # Its greeting panel, for anyone who sees the card (the copy buttons only for who works it).
    Page("visits:task_message", on_task, expect(200, outsider=404), note="greeting panel"),
    # Templates: the VIP specialist and manager their store's, HQ the defaults; consultants only pick.
    Page("visits:message_templates", expected=expect(200, consultant=403, other_consultant=403)),
    Page("visits:message_template_add", expected=expect(200, consultant=403, other_consultant=403)),
    Page(
        "visits:message_template_add",
        expected=expect(302, consultant=403, other_consultant=403),
        method="post",
        data=A_TEMPLATE,
    ),
    Page(
        "visits:message_template_edit",
        on_store_a_template,
        expect(200, consultant=403, other_consultant=403, outsider=404),
    ),
    Page(
        "visits:message_template_edit",
        on_hq_default_template,
        expect(403, hq=200),
        note="HQ default",
    ),
    Page(
        "visits:message_template_edit",
        on_store_a_template,
        expect(302, consultant=403, other_consultant=403, outsider=404),
        method="post",
        data=A_TEMPLATE,
    ),
    Page(
        "visits:message_template_delete",
        on_store_a_template,
        expect(302, consultant=403, other_consultant=403, outsider=404),
        method="post",
    ),
    # --- Duty runs: managers and HQ ---
    Page("reports:duty_runs", expected=expect(200, consultant=403, other_consultant=403, specialist=403)),
    Page("notifications", expected=expect(200)),
    Page("notifications_read", expected=expect(302), method="post"),
    # --- Passwords (issue 10): everyone changes their own; managers reset their store's, HQ anyone's ---
    Page("password_change", expected=expect(200)),
    Page("password_change_done", expected=expect(200)),
    Page("staff_list", expected=expect(200, consultant=403, other_consultant=403, specialist=403)),
    # `consultant`'s password: their manager and HQ may reset it; store B's manager finds no such person.
    Page(
        "staff_password_reset",
        on_consultant,
        expect(200, consultant=403, other_consultant=403, specialist=403, outsider=404),
    ),
    # --- Complaints: everyone registers; consultants see what they registered or work on ---
    Page("complaints:mine", expected=expect(200)),
    Page("complaints:register", expected=expect(200)),
    Page("complaints:board", expected=expect(200, consultant=403, other_consultant=403)),
    Page("complaints:stats", expected=expect(200, consultant=403, other_consultant=403)),
    Page("complaints:detail", on_complaint, expect(200, other_consultant=404, outsider=404)),
    Page(
        "complaints:transition",
        on_complaint,
        expect(302, consultant=403, other_consultant=404, outsider=404),
        method="post",
        data={"to": "accepted"},
    ),
    # --- Campaigns (issue 5): everyone views their store's; the VIP specialist, manager and HQ plan;
    # the manager and HQ write the summary and archive. `campaign` is a store-A draft. ---
    Page("campaigns:list", expected=expect(200)),
    Page("campaigns:list", expected=expect(200), data={"status": "ended"}, note="by status"),
    Page("campaigns:calendar", expected=expect(200)),
    Page("campaigns:calendar", expected=expect(200), data={"month": "2026-03"}, note="a month"),
    Page("campaigns:create", expected=expect(200, consultant=403, other_consultant=403)),
    # The outsider creates a campaign for store B, their own.
    Page(
        "campaigns:create",
        expected=expect(302, consultant=403, other_consultant=403),
        method="post",
        data=a_campaign_plan,
    ),
    Page("campaigns:edit", on_campaign, expect(200, consultant=403, other_consultant=403, outsider=404)),
    Page(
        "campaigns:edit",
        on_campaign,
        expect(302, consultant=403, other_consultant=403, outsider=404),
        method="post",
        data=a_campaign_plan,
    ),
    Page("campaigns:preview", on_campaign, expect(200, consultant=403, other_consultant=403, outsider=404)),
    # Launching answers with a redirect whatever the service says (its message is flashed).
    Page(
        "campaigns:launch", on_campaign, expect(302, consultant=403, other_consultant=403, outsider=404), method="post"
    ),
    Page("campaigns:launch", on_campaign, expect(405, outsider=405), method="get"),
    Page("campaigns:results", on_campaign, expect(200, outsider=404)),
    Page("campaigns:summary", on_campaign, expect(200, outsider=404)),
    Page("campaigns:summary", on_campaign, expect(200, outsider=404), data={"print": "1"}, note="printable"),
    # A draft cannot be summarised: the page shows the service's refusal (200), nothing saved.
    Page(
        "campaigns:summary",
        on_campaign,
        expect(200, consultant=403, other_consultant=403, specialist=403, outsider=404),
        method="post",
        data={"findings": "到场率高", "problems": "", "solutions": ""},
    ),
    Page(
        "campaigns:archive",
        on_campaign,
        expect(302, consultant=403, other_consultant=403, specialist=403, outsider=404),
        method="post",
    ),
    # --- Reports (issue 6): the dashboard for everyone (a consultant's own figures; HQ without a store
    # goes to the stores side by side); reports for the store's leads, their drill-down for all (a
    # consultant sees only their own members); targets viewed by all, set by the manager and HQ; daily
    # sales for the manager and HQ. "store A" rows name store A, which the outsider may not open. ---
    Page("reports:dashboard", expected=expect(200, hq=302)),
    Page("reports:dashboard", expected=expect(200, outsider=404), data=in_store_a, note="store A"),
    Page("reports:monthly", expected=expect(200, consultant=403, other_consultant=403)),
    Page(
        "reports:monthly",
        expected=expect(200, consultant=403, other_consultant=403, outsider=404),
        data=in_store_a,
        note="store A",
    ),
    Page("reports:weekly", expected=expect(200, consultant=403, other_consultant=403)),
    Page(
        "reports:weekly",
        expected=expect(200, consultant=403, other_consultant=403, outsider=404),
        data=in_store_a,
        note="store A",
    ),
    Page("reports:members", expected=expect(200, outsider=404), data=a_store_a_snapshot, note="snapshot"),
    Page("reports:members", expected=expect(200, outsider=404), data=a_live_store_a_figure, note="live"),
    Page("reports:targets", expected=expect(200)),
    Page("reports:targets", expected=expect(200, outsider=404), data=in_store_a, note="store A"),
    Page(
        "reports:target_annual",
        expected=expect(302, consultant=403, other_consultant=403, specialist=403, outsider=404),
        method="post",
        data=a_store_a_target,
    ),
    Page(
        "reports:target_weights",
        on_annual_target,
        expect(302, consultant=403, other_consultant=403, specialist=403, outsider=404),
        method="post",
        data={"w12": "2"},
    ),
    Page(
        "reports:target_allocation",
        on_monthly_target,
        expect(302, consultant=403, other_consultant=403, specialist=403, outsider=404),
        method="post",
        data=to_the_consultant,
    ),
    Page("reports:daily_sales", expected=expect(200, consultant=403, other_consultant=403, specialist=403)),
    Page(
        "reports:daily_sales",
        expected=expect(302, consultant=403, other_consultant=403, specialist=403, outsider=404),
        method="post",
        data=store_a_sales_today,
        note="store A",
    ),
    # --- API v1: DRF authenticates; anonymous callers get 401 (with WWW-Authenticate), not a login redirect ---
    Page("api:members", expected=expect(200, anonymous=401), public=True),
    Page("api:member", on_member, expect(200, anonymous=401, outsider=404), public=True),
    Page("api:purchases", expected=expect(400, anonymous=401), method="post", public=True),
    Page(
        "api:reports_monthly",
        expected=expect(200, anonymous=401, consultant=403, other_consultant=403),
        data={"month": "2026-03"},
        public=True,
    ),
]

PAGES += feature_pages()

CASES = [pytest.param(page, role, status, id=page.id(role)) for page in PAGES for role, status in page.expected.items()]


@pytest.fixture
def people(staff_a, staff_b, hq, member_a):
    """The objects the table's URLs and roles refer to."""
    today = timezone.localdate()
    consultant = staff_a.consultant
    return SimpleNamespace(
        member=member_a,
        important_date=ImportantDateFactory(member=member_a),
        task=task_create(member=member_a, kind=TaskKind.CARE, due_date=today, origin="table", assignee=consultant)[0],
        invitation=invitation_create(
            member=member_a, by=consultant, for_date=today + timedelta(days=2), purpose="新品到店试穿"
        ),
        gift_plan=GiftPlan.objects.create(
            member=member_a,
            store=member_a.home_store,
            occasion=Occasion.BIRTHDAY,
            occasion_date=today + timedelta(days=20),
            tier=member_a.tier,
            gift="丝巾",
            budget=200,
        ),
        complaint=complaint_register(
            store=member_a.home_store,
            by=consultant,
            channel="in_store",
            category="alteration",
            description="裤长改短了",
            member=member_a,
        ),
        campaign=campaign_save(
            by=staff_a.specialist,
            stores=[member_a.home_store],
            segment=Segment(),
            name="春季私享会",
            type="private_viewing",
            start_date=today + timedelta(days=7),
            end_date=today + timedelta(days=9),
        ),
        duty_run=DutyRun.objects.create(duty="daily", store=member_a.home_store, date=today, started_at=timezone.now()),
        import_job=ImportJob.objects.create(
            kind="members", created_by=staff_a.specialist, store=member_a.home_store, status="failed", error="表头缺列"
        ),
        users={
            "anonymous": None,
            "consultant": staff_a.consultant,
            "other_consultant": StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=member_a.home_store),
            "specialist": staff_a.specialist,
            "manager": staff_a.manager,
            "outsider": staff_b.manager,
            "hq": hq,
        },
    )


def test_it_covers_every_role_on_every_page():
    for page in PAGES:
        assert set(page.expected) == set(ROLES), page.name


@pytest.mark.parametrize(("page", "role", "status"), CASES)
def test_it_answers_each_role(client, people, page, role, status):
    url = reverse(page.name, kwargs=page.kwargs(people))
    user = people.users[role]
    if user is not None:
        client.force_login(user)
    data = page.data(people) if callable(page.data) else page.data

    response = getattr(client, page.method)(url, data)

    assert response.status_code == status, response.content.decode()[:500]
    if status == LOGIN and user is None and not page.public:
        assert response["Location"].startswith(reverse("login") + "?next=")


def test_it_signs_in_and_lands_on_today(client, staff_a):
    sent_away = client.get(reverse("members:list"))
    page = client.get(sent_away["Location"])
    signed_in = client.post(page.request["PATH_INFO"], {"username": "a_consultant", "password": "pw"})

    assert sent_away["Location"] == "/login/?next=/members/"
    assert "员工登录" in page.content.decode()
    assert signed_in.status_code == 302
    # Signed in from the bare login page: on to the front page, the day's follow-up list.
    assert client.get(signed_in["Location"], follow=True).redirect_chain[-1][0] == reverse("visits:today")


def test_it_does_not_lock_a_tier_for_a_consultant(client, member_a, staff_a):
    client.force_login(staff_a.consultant)

    response = client.post(reverse("members:tier", args=[member_a.pk]), {"tier": Tier.A, "lock": "on"})

    assert response.status_code == 403
    member_a.refresh_from_db()
    assert (member_a.tier, member_a.tier_locked) == (Tier.C, False)
    assert not member_a.tier_changes.exists()


def test_it_does_not_let_a_consultant_edit_another_consultants_member(client, member_a, store_a):
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    client.force_login(other)

    response = client.post(reverse("members:edit", args=[member_a.pk]), {"name": "改名", "card_no": member_a.card_no})

    assert response.status_code == 403
    assert Member.objects.get(pk=member_a.pk).name == "张丽"


def test_it_hides_another_stores_member_behind_a_404_even_for_its_phone(client, member_a, staff_b):
    client.force_login(staff_b.manager)

    response = client.post(reverse("members:reveal_phone", args=[member_a.pk]))

    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action="member.phone.viewed").exists()
