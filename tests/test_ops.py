"""Operations: the admin (every model, no N+1), the first-run login, and the run/CI contracts."""
import importlib.util
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import AuditEntry, ConfidentialityAgreement, Role, Staff
from members.models import ImportantDate, Member, ProgramRules, TierChange, TierReview
from members.services import purchase_record

from .factories import MemberFactory, PurchaseFactory, StaffFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def superuser(db):
    return StaffFactory(username="root", role=Role.HQ, store=None, is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def populate(store, consultant, n: int) -> None:
    """n members with a purchase, a return, a tier change, an important date and an audit entry."""
    for i in range(n):
        member = MemberFactory(home_store=store, consultant=consultant, opened_by=consultant)
        sale = purchase_record(member=member, store=store, receipt_no=f"P{i:05d}-{member.pk}", date=date(2024, 6, 1),
                               amount=Decimal("12000.00"), by=consultant, consultant=consultant).purchase
        purchase_record(member=member, store=store, receipt_no=f"R{i:05d}-{member.pk}", date=date(2024, 6, 3),
                        amount=Decimal("-100.00"), by=consultant, consultant=consultant, original=sale)
        ImportantDate.objects.create(member=member, kind="wedding_anniversary", date=date(2015, 5, 20))
        AuditEntry.objects.create(actor=consultant, store=store, action="member.created", object_type="member",
                                  object_id=str(member.pk))
    TierReview.objects.get_or_create(store=store, date=date(2024, 6, 30))


MODELS = [model for model in admin.site._registry if model._meta.app_label in ("accounts", "members")]


def test_it_registers_every_model_of_accounts_and_members():
    from django.apps import apps

    for label in ("accounts", "members"):
        for model in apps.get_app_config(label).get_models():
            assert model in admin.site._registry, f"{model.__name__} has no admin"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_it_lists_without_a_query_per_row(admin_client, store_a, staff_a, model):
    populate(store_a, staff_a.consultant, 3)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    with_few = _count_queries(admin_client, url)

    populate(store_a, staff_a.consultant, 25)
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
    populate(store_a, staff_a.consultant, 1)
    ProgramRules.load()
    obj = model.objects.first()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])

    assert admin_client.get(url).status_code == 200


def test_it_shows_the_add_pages_it_allows(admin_client):
    for name in ("accounts_store", "accounts_staff", "accounts_confidentialityagreement", "members_member"):
        assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 200, name
    # The ledger, the tier history and the audit log are written by the services only.
    for name in ("members_purchase", "members_tierchange", "members_tierreview", "accounts_auditentry"):
        assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 403, name


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


NO_AGREEMENTS = {"agreements-TOTAL_FORMS": "0", "agreements-INITIAL_FORMS": "0"}


def test_it_creates_staff_with_role_and_store(admin_client, store_a):
    response = admin_client.post(reverse("admin:accounts_staff_add"), {
        "username": "sha_new", "role": Role.CONSULTANT, "store": store_a.pk, "display_name": "新顾问",
        "password1": "a-long-enough-secret-9", "password2": "a-long-enough-secret-9", "usable_password": "true",
        **NO_AGREEMENTS,
    })

    assert response.status_code == 302, response.context["adminform"].form.errors
    staff = Staff.objects.get(username="sha_new")
    assert (staff.role, staff.store) == (Role.CONSULTANT, store_a)


def test_it_requires_a_store_for_non_hq_staff(admin_client):
    response = admin_client.post(reverse("admin:accounts_staff_add"), {
        "username": "nostore", "role": Role.MANAGER, "password1": "a-long-enough-secret-9",
        "password2": "a-long-enough-secret-9", "usable_password": "true", **NO_AGREEMENTS,
    })

    assert response.status_code == 200
    assert "store" in response.context["adminform"].form.errors
    assert not Staff.objects.filter(username="nostore").exists()


def test_it_validates_member_phones_in_the_admin(admin_client, member_a, member_b):
    url = reverse("admin:members_member_change", args=[member_a.pk])
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update({
        "phone": member_b.phone,
        "important_dates-TOTAL_FORMS": "0", "important_dates-INITIAL_FORMS": "0",
    })

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert member_b.card_no in response.content.decode()  # the error names who has the number
    member_a.refresh_from_db()
    assert member_a.phone == "13812345678"


def test_it_audits_a_member_opened_in_the_admin(admin_client, member_a, superuser):
    admin_client.get(reverse("admin:members_member_change", args=[member_a.pk]))

    entry = AuditEntry.objects.get(action="member.phone.viewed")
    assert (entry.actor, entry.object_id) == (superuser, str(member_a.pk))


def test_it_replays_tiers_from_the_admin(admin_client, member_a):
    PurchaseFactory(member=member_a, amount=Decimal("20000.00"), date=date(2024, 6, 1))  # written around the engine
    assert Member.objects.get(pk=member_a.pk).tier == "C"

    admin_client.post(reverse("admin:members_member_changelist"),
                      {"action": "replay_tiers", "_selected_action": [member_a.pk]})

    assert TierChange.objects.filter(member=member_a, to_tier="B").exists()


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
