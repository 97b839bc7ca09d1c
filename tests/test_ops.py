"""Operations: the admin (every model, no N+1), the first-run login, and the run/CI contracts."""

import importlib.util
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.api_keys import api_key_create
from accounts.models import AuditEntry, ConfidentialityAgreement, Notification, Role, Staff, Store
from campaigns.models import Campaign, CampaignMember, CampaignStatus
from campaigns.segments import Segment
from campaigns.services import campaign_launch, campaign_save
from complaints.models import Complaint, ComplaintEvent
from complaints.models import Status as ComplaintStatus
from complaints.services import complaint_register, complaint_transition, sla_check
from duties.models import DutyRun
from duties.runs import duty_run
from duties.webhooks import webhook_create
from members.duplicates import duplicate_dismiss
from members.merging import members_merge
from members.models import (
    ExportJob,
    ImportantDate,
    ImportJob,
    Member,
    MemberTag,
    ProgramRules,
    TierChange,
    TierHold,
    TierReview,
    TransferRequest,
)
from members.ownership import members_assign
from members.relations import relation_add
from members.services import member_enroll, purchase_record
from reports.commentary import commentary_submit, report_comment_add
from reports.models import ReportSnapshot
from reports.services import annual_target_set, daily_sales_record, snapshot_take, staff_allocation_set
from visits.models import FollowUpTask, GiftPlan, GiftPolicy, Invitation, TaskKind, TaskStatus, Visit
from visits.services import gift_plans_for_month, invitation_create, task_create, visit_record

from .factories import MemberFactory, PurchaseFactory, StaffFactory

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "members", "visits", "complaints", "campaigns", "reports", "duties")


@pytest.fixture
def superuser(db):
    return StaffFactory(username="root", role=Role.HQ, store=None, is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def populate(store, staff, n: int) -> None:
    """n members, each with some of every model of the six apps, written through the services
    where they exist: purchases and a return, a tag, a visit (and the task it asks for), a care
    task, an invitation, a birthday gift plan, a complaint from them and one from a walk-in (both
    escalated by the SLA check, which notifies the manager), a draft campaign and a launched one
    (its audience and their invitations), duty runs, report snapshots, daily sales and targets."""
    today = timezone.localdate()
    consultant, manager = staff.consultant, staff.manager
    # Calls add to what is there: dates and names continue from the rows already on file.
    offset = DutyRun.objects.count()
    for i in range(n):
        member = MemberFactory(
            home_store=store,
            consultant=consultant,
            opened_by=consultant,
            marketing_consent=True,
            birthday=date(1990, 7, 15),
        )
        sale = purchase_record(
            member=member,
            store=store,
            receipt_no=f"P{i:05d}-{member.pk}",
            date=date(2024, 6, 1),
            amount=Decimal("12000.00"),
            by=consultant,
            consultant=consultant,
        ).purchase
        purchase_record(
            member=member,
            store=store,
            receipt_no=f"R{i:05d}-{member.pk}",
            date=date(2024, 6, 3),
            amount=Decimal("-100.00"),
            by=consultant,
            consultant=consultant,
            original=sale,
        )
        ImportantDate.objects.create(member=member, kind="wedding_anniversary", date=date(2015, 5, 20))
        AuditEntry.objects.create(
            actor=consultant, store=store, action="member.created", object_type="member", object_id=str(member.pk)
        )
        member.tags.add(MemberTag.objects.get_or_create(name=f"标签{i % 3}")[0])
        TierHold.objects.create(member=member, date=date(2024, 6, 30), reason="open complaint")

        visit_record(
            member=member,
            by=consultant,
            channel="phone",
            outcome="很满意",
            satisfaction=5,
            next_follow_up=today + timedelta(days=7),
        )
        task_create(member=member, kind=TaskKind.CARE, due_date=today, origin=f"care:{today}")
        invitation_create(member=member, by=consultant, for_date=today + timedelta(days=3), purpose="新品预览")

        received = timezone.now() - timedelta(days=3)
        complaint = complaint_register(
            store=store,
            by=consultant,
            channel="in_store",
            category="product_quality",
            description="衣服开线",
            member=member,
            received_at=received,
        )
        complaint_transition(complaint=complaint, to=ComplaintStatus.ACCEPTED, by=manager, note="已受理")
        complaint_register(
            store=store,
            by=consultant,
            channel="phone",
            category="service_attitude",
            description="等候太久",
            walk_in_name="李女士",
            walk_in_phone="13700001234",
            received_at=received,
        )

        campaign_save(
            by=manager,
            stores=[store],
            segment=Segment(tiers=["A"]),
            name=f"草稿活动{offset + i}",
            type="holiday",
            start_date=today + timedelta(days=30),
            end_date=today + timedelta(days=40),
        )
        on = date(2024, 1, 1) + timedelta(days=offset + i)
        duty_run(duty="admin_test", store=store, on=on, work=lambda store, on: {"rows": 1})
        ReportSnapshot.objects.create(
            store=store, kind="weekly", period_start=on, period_end=on + timedelta(days=6), figures={"base": 1}
        )
        daily_sales_record(store=store, day=on, total_sales="30000.00", by=manager)
        target = annual_target_set(store=store, year=2024 + offset + i, metric="new_members", amount="120", by=manager)
        staff_allocation_set(monthly=target.months.get(month=1), allocations={consultant.pk: "4"}, by=manager)
    sla_check(store=store)
    gift_plans_for_month(store=store, year=2024, month=7)
    launched = campaign_save(
        by=manager,
        stores=[store],
        segment=Segment(),
        name=f"私享会{offset}",
        type="private_viewing",
        start_date=today,
        end_date=today + timedelta(days=7),
    )
    # Members with an open complaint get no sales push (issue 9): the audience is one without.
    MemberFactory(home_store=store, consultant=consultant, opened_by=consultant, marketing_consent=True)
    campaign_launch(campaign=launched, by=manager)
    TierReview.objects.get_or_create(store=store, date=date(2024, 6, 30))
    # Ownership (issue 11): an owner change, a pending transfer, family links, a dismissed pair
    # and a merge, all through their services.
    first, second, third, twin = (
        MemberFactory(home_store=store, consultant=consultant, birthday=date(1988, 3, 3), name="重复")
        for _ in range(4)
    )
    members_assign(member_ids=[first.pk], consultant=None, by=manager, note="离职交接")
    other_store = Store.objects.exclude(pk=store.pk).first() or Store.objects.create(code=f"X{offset}", name="另店")
    TransferRequest.objects.create(
        member=first, from_store=store, to_store=other_store, reason="搬家", requested_by=manager
    )
    relation_add(member=first, kind="spouse", by=manager, relative=second)
    relation_add(member=first, kind="child", by=manager, name="小宝")
    duplicate_dismiss(first=second, second=third, by=manager)
    members_merge(survivor=third, merged=twin, choices={}, by=manager)
    # A POS key, and a report's commentary submitted with a remark in its thread (issues 12, 13).
    api_key_create(store=store, name=f"收银{offset}", by=manager)
    webhook_create(store=store, url="https://pos.example.com/hook", events=["member_enrolled"], by=manager)
    member_enroll(  # …which makes a delivery for the hook
        store=store,
        by=manager,
        card_no=f"WH{offset}-{store.pk}",
        name="钩子",
        phone=f"177{Member.objects.count():08d}",  # unique: the count only grows
        joined_on=today,
    )
    report = snapshot_take(store=store, kind="monthly", start=date(2024, 6, 1), end=date(2024, 6, 30))
    if not hasattr(report, "commentary"):  # populate is called again on the same store
        commentary_submit(snapshot=report, by=manager, problems="回访不及时", next_actions="每日晨会跟进")
    report_comment_add(snapshot=report, by=manager, text="已阅")
    ImportJob.objects.create(
        kind="members", created_by=manager, store=store, filename=f"会员{offset}.csv", status="failed", error="缺列"
    )
    ExportJob.objects.create(created_by=manager, store=store, filters={"q": str(offset)}, status="failed", error="中断")


MODELS = [model for model in admin.site._registry if model._meta.app_label in APPS]


def test_it_registers_every_model_of_every_app():
    for label in APPS:
        for model in apps.get_app_config(label).get_models():
            assert model in admin.site._registry, f"{model.__name__} has no admin"


def test_populate_makes_some_of_every_registered_model(store_a, staff_a):
    populate(store_a, staff_a, 2)

    assert [m.__name__ for m in MODELS if not m.objects.exists()] == []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_it_lists_without_a_query_per_row(admin_client, store_a, staff_a, model):
    populate(store_a, staff_a, 3)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    with_few = _count_queries(admin_client, url)

    populate(store_a, staff_a, 25)
    with_many = _count_queries(admin_client, url)

    # (<=: the first visit may create the program rules row.)
    assert with_many <= with_few, f"{model.__name__}: {with_few} queries for few rows, {with_many} for many"


def _count_queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, follow=True)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_it_shows_each_change_page(admin_client, store_a, staff_a, model):
    populate(store_a, staff_a, 1)
    ProgramRules.load()
    obj = model.objects.first()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])

    assert admin_client.get(url).status_code == 200


# What may be added in the admin. Everything else is written by a service (the ledger, the tier
# history, tasks, visits, invitations, gift plans, complaints, the campaign launch, the duties) or
# is evidence (the audit log, notifications, complaint timelines): its add page is a 403.
ADDABLE = {
    "accounts.store",
    "accounts.staff",
    "accounts.confidentialityagreement",
    "members.member",
    "members.importantdate",
    "members.membertag",
    "visits.giftpolicy",
}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_it_shows_the_add_pages_it_allows_and_no_others(admin_client, model):
    ProgramRules.load()  # (its add page is refused once the single row exists)
    label = f"{model._meta.app_label}.{model._meta.model_name}"

    response = admin_client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add"))

    assert response.status_code == (200 if label in ADDABLE else 403), label


def test_it_keeps_program_rules_a_single_row(admin_client):
    ProgramRules.load()

    response = admin_client.get(reverse("admin:members_programrules_changelist"))

    assert response.status_code == 302
    assert response.url == reverse("admin:members_programrules_change", args=[1])
    assert admin_client.get(reverse("admin:members_programrules_add")).status_code == 403
    assert admin_client.get(reverse("admin:members_programrules_delete", args=[1])).status_code == 403


def test_it_refuses_tier_a_at_or_below_tier_b_in_the_admin(admin_client):
    rules = ProgramRules.load()
    data = {f.name: getattr(rules, f.name) for f in ProgramRules._meta.fields if f.name not in ("id", "updated_at")}
    data["tier_a_min"] = "9000"

    response = admin_client.post(reverse("admin:members_programrules_change", args=[1]), data)

    assert response.status_code == 200  # the form again, with the error
    assert ProgramRules.load().tier_a_min == Decimal("50000.00")


def _form_data(page) -> dict:
    """What the browser posts back for the admin form on `page`, unchanged."""
    form = page.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = "" if value is None or value is False else value
    return data


NO_AGREEMENTS = {"agreements-TOTAL_FORMS": "0", "agreements-INITIAL_FORMS": "0"}


def test_it_creates_staff_with_role_and_store(admin_client, store_a):
    response = admin_client.post(
        reverse("admin:accounts_staff_add"),
        {
            "username": "sha_new",
            "role": Role.CONSULTANT,
            "store": store_a.pk,
            "display_name": "新顾问",
            "password1": "a-long-enough-secret-9",
            "password2": "a-long-enough-secret-9",
            "usable_password": "true",
            **NO_AGREEMENTS,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    staff = Staff.objects.get(username="sha_new")
    assert (staff.role, staff.store) == (Role.CONSULTANT, store_a)


def test_it_requires_a_store_for_non_hq_staff(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_staff_add"),
        {
            "username": "nostore",
            "role": Role.MANAGER,
            "password1": "a-long-enough-secret-9",
            "password2": "a-long-enough-secret-9",
            "usable_password": "true",
            **NO_AGREEMENTS,
        },
    )

    assert response.status_code == 200
    assert "store" in response.context["adminform"].form.errors
    assert not Staff.objects.filter(username="nostore").exists()


def test_it_validates_member_phones_in_the_admin(admin_client, member_a, member_b):
    url = reverse("admin:members_member_change", args=[member_a.pk])
    data = _form_data(admin_client.get(url))
    data.update(
        {
            "phone": member_b.phone,
            "important_dates-TOTAL_FORMS": "0",
            "important_dates-INITIAL_FORMS": "0",
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert member_b.card_no in response.content.decode()  # the error names who has the number
    member_a.refresh_from_db()
    assert member_a.phone == "13812345678"


def test_it_shows_a_member_s_phone_masked_in_the_admin_and_writes_nothing(admin_client, member_a, superuser):
    # Opening a member in the admin sent the full number (and so wrote a phone-view entry on a GET).
    # The admin now never sends it: masked, with a box for a new number.
    html = admin_client.get(reverse("admin:members_member_change", args=[member_a.pk])).content.decode()

    assert "13812345678" not in html and "138****5678" in html
    assert not AuditEntry.objects.exists()


def test_it_replays_tiers_from_the_admin(admin_client, member_a):
    PurchaseFactory(member=member_a, amount=Decimal("20000.00"), date=date(2024, 6, 1))  # written around the engine
    assert Member.objects.get(pk=member_a.pk).tier == "C"

    admin_client.post(
        reverse("admin:members_member_changelist"), {"action": "replay_tiers", "_selected_action": [member_a.pk]}
    )

    assert TierChange.objects.filter(member=member_a, to_tier="B").exists()


def test_it_sets_a_member_s_tags_in_the_admin(admin_client, member_a):
    wedding, silk = MemberTag.objects.create(name="婚礼季"), MemberTag.objects.create(name="偏好真丝")
    url = reverse("admin:members_member_change", args=[member_a.pk])
    data = _form_data(admin_client.get(url))
    data.update(
        {"tags": [wedding.pk, silk.pk], "important_dates-TOTAL_FORMS": "0", "important_dates-INITIAL_FORMS": "0"}
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert set(member_a.tags.all()) == {wedding, silk}
    assert "tags" in AuditEntry.objects.get(action="member.edited").data["fields"]


def test_it_shows_a_complaint_read_only_with_its_timeline(admin_client, store_a, staff_a):
    populate(store_a, staff_a, 1)
    complaint = Complaint.objects.get(status=ComplaintStatus.ACCEPTED)
    walk_in = Complaint.objects.get(walk_in_name="李女士")
    url = reverse("admin:complaints_complaint_change", args=[complaint.pk])

    page = admin_client.get(url)

    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}  # nothing to edit, the status least of all
    assert "已受理" in page.content.decode()  # the timeline, inline
    assert admin_client.post(url, {"status": ComplaintStatus.CLOSED}).status_code == 403
    assert Complaint.objects.get(pk=complaint.pk).status == ComplaintStatus.ACCEPTED
    walk_in_page = admin_client.get(reverse("admin:complaints_complaint_change", args=[walk_in.pk])).content.decode()
    assert "137****1234" in walk_in_page and "13700001234" not in walk_in_page


def test_it_never_deletes_evidence_in_the_admin(admin_client, store_a, staff_a):
    populate(store_a, staff_a, 1)

    for model in (
        ComplaintEvent,
        Complaint,
        Visit,
        FollowUpTask,
        Invitation,
        GiftPlan,
        Notification,
        TierHold,
        CampaignMember,
        DutyRun,
        ReportSnapshot,
    ):
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}_delete"
        assert admin_client.get(reverse(name, args=[model.objects.first().pk])).status_code == 403, model.__name__


def _draft_campaign():
    return Campaign.objects.filter(status=CampaignStatus.DRAFT).first()


def test_it_edits_a_draft_campaign_s_plan_through_the_service(admin_client, store_a, store_b, staff_a):
    populate(store_a, staff_a, 1)
    campaign = _draft_campaign()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = admin_client.get(url)
    assert "segment" not in page.context["adminform"].form.fields  # chosen and previewed on the campaign pages
    data = _form_data(page)
    data.update({"name": "中秋私享会", "stores": [store_a.pk, store_b.pk]})

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign.refresh_from_db()
    assert campaign.name == "中秋私享会"
    assert set(campaign.stores.all()) == {store_a, store_b}
    assert campaign.segment == Segment(tiers=["A"]).to_json()


def test_it_refuses_a_negative_campaign_budget(admin_client, store_a, staff_a):
    populate(store_a, staff_a, 1)
    url = reverse("admin:campaigns_campaign_change", args=[_draft_campaign().pk])
    data = _form_data(admin_client.get(url))
    data["budget"] = "-1"

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "budget" in response.context["adminform"].form.errors


def test_it_keeps_a_launched_campaign_s_stores_and_audience(admin_client, store_a, store_b, staff_a):
    populate(store_a, staff_a, 2)
    campaign = Campaign.objects.get(status=CampaignStatus.LAUNCHED)
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = admin_client.get(url)
    assert "stores" not in page.context["adminform"].form.fields
    # a link to the audience (the one member without an open complaint), not thousands of inline rows
    assert "1 位会员" in page.content.decode()
    data = _form_data(page)
    data["goal_invitees"] = "50"

    response = admin_client.post(url, {**data, "stores": [store_b.pk]})

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.goal_invitees == 50
    assert list(campaign.stores.all()) == [store_a]
    assert campaign.audience.count() == 1
    # A launched campaign has invited its audience: it stays, alone or in a bulk delete.
    assert admin_client.get(reverse("admin:campaigns_campaign_delete", args=[campaign.pk])).status_code == 403
    admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "delete_selected", "_selected_action": [campaign.pk], "post": "yes"},
    )
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_it_refuses_to_edit_an_archived_campaign(admin_client, store_a, staff_a):
    populate(store_a, staff_a, 1)
    campaign = Campaign.objects.get(status=CampaignStatus.LAUNCHED)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.ARCHIVED, findings="顺利")
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])

    page = admin_client.get(url)

    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}
    assert admin_client.post(url, {**_form_data(page), "name": "改名"}).status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).name == campaign.name


def test_it_deletes_a_draft_campaign(admin_client, store_a, staff_a):
    populate(store_a, staff_a, 1)
    campaign = _draft_campaign()

    response = admin_client.post(reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Campaign.objects.filter(pk=campaign.pk).exists()


def test_it_cancels_tasks_through_the_service(admin_client, store_a, staff_a, superuser):
    populate(store_a, staff_a, 2)  # two members: two cards (each member's reasons join one card)
    task, done = FollowUpTask.objects.filter(status=TaskStatus.OPEN).order_by("pk")[:2]
    FollowUpTask.objects.filter(pk=done.pk).update(status=TaskStatus.DONE, done_on=date(2024, 6, 1))

    admin_client.post(
        reverse("admin:visits_followuptask_changelist"),
        {"action": "cancel_tasks", "_selected_action": [task.pk, done.pk]},
    )

    assert FollowUpTask.objects.get(pk=task.pk).status == TaskStatus.CANCELLED
    assert FollowUpTask.objects.get(pk=done.pk).status == TaskStatus.DONE  # only open tasks are cancelled
    entry = AuditEntry.objects.get(action="task.cancelled")
    assert (entry.actor, entry.object_id) == (superuser, str(task.pk))


def test_it_lets_hq_edit_the_gift_standards_but_not_below_zero(admin_client):
    policy = GiftPolicy.objects.get(tier="A", occasion="birthday")  # one of the defaults
    url = reverse("admin:visits_giftpolicy_change", args=[policy.pk])

    refused = admin_client.post(url, {"occasion": "birthday", "tier": "A", "gift": "真丝围巾", "budget": "-5"})
    saved = admin_client.post(url, {"occasion": "birthday", "tier": "A", "gift": "真丝围巾", "budget": "800"})

    assert refused.status_code == 200 and "budget" in refused.context["adminform"].form.errors
    assert saved.status_code == 302
    policy.refresh_from_db()
    assert (policy.gift, policy.budget) == ("真丝围巾", Decimal("800.00"))


# --- the first-run login of `make run` ---------------------------------------------------------


@pytest.fixture
def first_run(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    spec = importlib.util.spec_from_file_location("first_run", ROOT / "scripts" / "first_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_it_creates_the_admin_once_and_keeps_its_password(first_run, tmp_path):
    password = first_run.ensure_admin()

    admin_user = Staff.objects.get(username="admin")
    assert admin_user.is_superuser and admin_user.role == Role.HQ
    assert admin_user.check_password(password)
    assert (tmp_path / "admin-login.txt").read_text().strip() == password
    assert first_run.ensure_admin() == password
    assert Staff.objects.filter(username="admin").count() == 1
    banner = first_run.banner(password)
    assert "http://127.0.0.1:8000/" in banner and password in banner


@pytest.mark.django_db
def test_it_does_not_invent_a_password_for_an_existing_admin(first_run):
    StaffFactory(username="admin", role=Role.HQ, store=None)

    assert first_run.ensure_admin() is None
    assert "changepassword" in first_run.banner(None)


@pytest.mark.django_db
def test_it_seeds_only_an_empty_database(first_run, store_a, monkeypatch):
    calls = []
    monkeypatch.setattr(first_run, "call_command", lambda *args: calls.append(args))

    first_run.seed_if_fresh()

    assert calls == []


# --- the contracts of the two commands and CI --------------------------------------------------


def test_the_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.match(r"```[a-z]*\n(.*?)```", readme, re.S)  # the very first thing in it
    assert first_block is not None
    assert first_block.group(1).strip().splitlines() == ["make run", "make test"]


def test_make_run_starts_web_worker_and_beat():
    processes = dict(
        line.split(":", 1) for line in (ROOT / "Procfile.dev").read_text().splitlines() if line and line[0] != "#"
    )
    assert set(processes) == {"web", "worker", "beat"}
    assert "celery -A vipcrm worker" in processes["worker"]
    assert "celery -A vipcrm beat" in processes["beat"]


def test_production_runs_gunicorn_workers_and_one_beat():
    processes = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line and line[0] != "#"
    )
    assert "gunicorn vipcrm.wsgi" in processes["web"]
    assert "celery -A vipcrm worker" in processes["worker"]
    assert "celery -A vipcrm beat" in processes["beat"]


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", script, re.M)
    assert "set -euo pipefail" in script


def test_it_lists_staff_agreements(admin_client, staff_a):
    response = admin_client.get(reverse("admin:accounts_staff_change", args=[staff_a.consultant.pk]))

    assert response.status_code == 200
    assert ConfidentialityAgreement.objects.filter(staff=staff_a.consultant).exists()
