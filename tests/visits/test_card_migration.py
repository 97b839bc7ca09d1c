"""The migration to cards (visits 0003–0005) on data written before it: snoozed tasks get their first
due date back, occasion preparations become `birthday_prep`, every task gets its reason, and a
person's duplicate open contact tasks for one member are joined so the one-card constraint holds."""

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

D = date.fromisoformat
BEFORE = [("visits", "0002_default_gift_policies")]
AFTER = [("visits", "0005_one_open_card_per_member")]


# Transactional (SQLite alters tables outside a transaction), without serialized_rollback: pytest-
# django runs the transactional tests after all the others, and a live-server test before this one
# leaves content types that reloading the serialized database would insert a second time.
@pytest.mark.django_db(transaction=True)
def test_old_tasks_become_cards():
    executor = MigrationExecutor(connection)
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "visits"]
    executor.migrate(BEFORE)
    old = executor.loader.project_state(others + BEFORE).apps
    Store, Staff = old.get_model("accounts", "Store"), old.get_model("accounts", "Staff")
    Member, Task = old.get_model("members", "Member"), old.get_model("visits", "FollowUpTask")
    store = Store.objects.create(code="MIG", name="迁移店")
    consultant = Staff.objects.create(username="mig", store=store, role="consultant")
    member = Member.objects.create(
        card_no="M1", name="甲", phone="13900000001", phone_last4="0001", home_store=store, joined_on=D("2025-01-01")
    )

    def task(kind, origin, due, **kw):
        return Task.objects.create(
            store=store, member=member, assignee=consultant, kind=kind, origin=origin, due_date=D(due), **kw
        ).pk

    # Care due 03-08, snoozed to 03-12; a receipt follow-up due 03-10 (a second open contact task
    # of the same person: joined into the care card, due 03-08, shown from 03-10); an occasion
    # preparation; a done manual task.
    care = task("care", "care:2026-03-08", "2026-03-12", snoozed_from=D("2026-03-08"))
    receipt = task("post_purchase", "purchase:1", "2026-03-10")
    prep = task("occasion", "occasion-prep:1:2026-03-17", "2026-03-10")
    done = task("manual", "visit:1", "2026-03-01", status="done", done_on=D("2026-03-01"))

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(others + AFTER).apps
    Task, Reason = new.get_model("visits", "FollowUpTask"), new.get_model("visits", "TaskReason")
    rows = {t.pk: t for t in Task.objects.all()}
    assert (rows[care].status, rows[care].due_date, rows[care].scheduled_for) == (
        "open",
        D("2026-03-08"),
        D("2026-03-10"),
    )
    assert sorted(Reason.objects.filter(task_id=care).values_list("kind", "due_date")) == [
        ("care", D("2026-03-08")),
        ("post_purchase", D("2026-03-10")),
    ]
    assert (rows[receipt].status, rows[receipt].note) == ("cancelled", f"→ #{care}")
    assert (rows[prep].kind, rows[prep].is_contact) == ("birthday_prep", False)
    assert (rows[done].status, rows[done].is_contact, Reason.objects.filter(task_id=done).count()) == ("done", True, 1)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
