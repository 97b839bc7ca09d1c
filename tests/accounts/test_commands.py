"""Operations commands: create_store and program_rules."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEntry, Role, Staff, Store
from members.management.commands.program_rules import KEYS
from members.models import ProgramRules

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- create_store ------------------------------------------------------------------------------


def test_it_creates_a_store():
    output = run("create_store", "sh02", "上海徐汇店", "--region", "华东", "--address", "淮海中路999号")

    store = Store.objects.get(code="SH02")
    assert (store.name, store.region, store.address) == ("上海徐汇店", "华东", "淮海中路999号")
    assert "Created store SH02" in output


def test_it_changes_nothing_the_second_time():
    run("create_store", "SH02", "上海徐汇店")
    output = run("create_store", "SH02", "别的名字")

    assert Store.objects.filter(code="SH02").count() == 1
    assert Store.objects.get(code="SH02").name == "上海徐汇店"
    assert "already exists" in output
    assert "别的名字" in output  # it says the name on file differs


def test_it_refuses_a_code_too_long():
    with pytest.raises(CommandError, match="code"):
        run("create_store", "X" * 21, "太长的店")
    assert not Store.objects.exists()


# --- program_rules ------------------------------------------------------------------------------


def test_it_prints_every_rule():
    output = run("program_rules")

    for key in KEYS:
        assert key in output
    assert "50000.00" in output  # tier A minimum, the default
    assert "A 级最低12个月消费" in output


def test_it_sets_several_rules_at_once():
    output = run(
        "program_rules",
        "--set",
        "tier_a_min=60,000",
        "--set",
        "churn_days=200",
        "--set",
        "upgrade_candidate_ratio=0.75",
    )

    rules = ProgramRules.load()
    assert rules.tier_a_min == Decimal("60000.00")
    assert rules.churn_days == 200
    assert rules.upgrade_candidate_ratio == Decimal("0.75")
    assert "rebuild_tiers" in output  # a threshold changed: tiers need a replay
    assert AuditEntry.objects.filter(action="program_rules.changed").count() == 1


def test_it_does_not_mention_rebuild_for_other_rules():
    output = run("program_rules", "--set", "care_days_a=20")

    assert ProgramRules.load().care_days_a == 20
    assert "rebuild_tiers" not in output


def test_it_sets_the_daily_list_rules_but_never_to_zero():
    run("program_rules", "--set", "daily_care_capacity=20", "--set", "attempts_before_escalation=2")

    rules = ProgramRules.load()
    assert (rules.daily_care_capacity, rules.attempts_before_escalation) == (20, 2)
    with pytest.raises(CommandError):
        run("program_rules", "--set", "daily_care_capacity=0")
    assert ProgramRules.load().daily_care_capacity == 20


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        (["tier_c_min=1"], "Valid keys: tier_a_min"),
        (["churn_days"], "KEY=VALUE"),
        (["churn_days=soon"], "not a whole number"),
        (["tier_a_min=lots"], "not a number"),
        (["churn_days=0"], "churn_days"),
        (["care_days_b=-5"], "care_days_b"),
        (["tier_b_min=1.234"], "tier_b_min"),
        (["upgrade_candidate_ratio=1.5"], "upgrade_candidate_ratio"),
        (["tier_b_min=60000"], "tier_a_min: "),
        (["tier_a_min=9000"], "tier_a_min: "),
    ],
)
def test_it_saves_nothing_when_any_assignment_is_wrong(assignments, message):
    # A good assignment first: it must not be saved either.
    args = ["program_rules", "--set", "care_days_c=100"]
    for assignment in assignments:
        args += ["--set", assignment]

    with pytest.raises(CommandError, match=message):
        run(*args)

    rules = ProgramRules.load()
    assert rules.care_days_c == 90
    assert (rules.tier_a_min, rules.tier_b_min) == (Decimal("50000.00"), Decimal("10000.00"))
    assert not AuditEntry.objects.exists()


def test_it_says_when_nothing_changed():
    output = run("program_rules", "--set", "churn_days=180")

    assert "Nothing changed" in output
    assert not AuditEntry.objects.exists()


# --- create_staff -------------------------------------------------------------------------------


def test_it_creates_a_consultant_with_a_generated_password(store_a):
    output = run(
        "create_staff",
        "sha_c9",
        "--role",
        "consultant",
        "--store",
        "sha",
        "--name",
        "新顾问",
        "--agreement-signed-on",
        "2024-05-01",
    )

    staff = Staff.objects.get(username="sha_c9")
    assert (staff.role, staff.store, staff.display_name) == (Role.CONSULTANT, store_a, "新顾问")
    password = output.split("Password: ")[1].split()[0]
    assert staff.check_password(password)
    assert staff.has_signed_agreement


def test_it_requires_a_store_unless_hq(db):
    with pytest.raises(CommandError, match="--store"):
        run("create_staff", "lost", "--role", "manager")
    run("create_staff", "boss", "--role", "hq", "--superuser", "--password", "a-long-enough-secret-9")

    assert not Staff.objects.filter(username="lost").exists()
    boss = Staff.objects.get(username="boss")
    assert boss.is_superuser and boss.store is None and boss.check_password("a-long-enough-secret-9")


def test_it_leaves_an_existing_username_alone(staff_a):
    output = run("create_staff", "a_consultant", "--role", "manager", "--store", "SHA")

    assert "already exists" in output
    assert Staff.objects.get(username="a_consultant").role == Role.CONSULTANT


def test_it_refuses_an_unknown_store(db):
    with pytest.raises(CommandError, match="No store"):
        run("create_staff", "x", "--role", "consultant", "--store", "NOPE")
