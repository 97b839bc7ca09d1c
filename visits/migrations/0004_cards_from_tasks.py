# Existing tasks become cards (data only: PostgreSQL cannot alter a table with pending trigger
# events in the same transaction, so the schema steps around it are separate migrations).

from django.db import migrations, models

CONTACT_KINDS = {
    "post_purchase",
    "care",
    "birthday",
    "occasion",
    "win_back",
    "upgrade_push",
    "keep_tier",
    "invitation",
    "manual",
}


def cards_from_tasks(apps, schema_editor):
    """Existing tasks become cards: the occasion preparations (kind `occasion`, origin
    occasion-prep:…) become `birthday_prep`; a snoozed task gets its first due date back as the due
    date and the snoozed one as its working date; every task gets its reason; a person's duplicate
    open contact tasks for one member are joined into the earliest (the others cancelled, their
    reasons moved), so the one-card constraint can be added."""
    Task = apps.get_model("visits", "FollowUpTask")
    Reason = apps.get_model("visits", "TaskReason")
    Task.objects.filter(kind="occasion", origin__startswith="occasion-prep:").update(kind="birthday_prep")
    Task.objects.filter(kind__in=CONTACT_KINDS).update(is_contact=True)
    Task.objects.filter(snoozed_from__isnull=True).update(scheduled_for=models.F("due_date"))
    Task.objects.filter(snoozed_from__isnull=False).update(
        scheduled_for=models.F("due_date"), due_date=models.F("snoozed_from")
    )
    reasons = []
    for pk, member_id, kind, origin, note, due in Task.objects.values_list(
        "pk", "member_id", "kind", "origin", "note", "due_date"
    ).iterator():
        reasons.append(Reason(task_id=pk, member_id=member_id, kind=kind, origin=origin, note=note, due_date=due))
    Reason.objects.bulk_create(reasons, batch_size=1000)
    keep: dict = {}
    for task in Task.objects.filter(status="open", is_contact=True, assignee__isnull=False).order_by("due_date", "pk"):
        key = (task.member_id, task.assignee_id)
        if key not in keep:
            keep[key] = task
            continue
        Reason.objects.filter(task_id=task.pk).update(task_id=keep[key].pk)
        kept = keep[key]
        kept.due_date = min(kept.due_date, task.due_date)
        kept.scheduled_for = min(kept.scheduled_for, task.scheduled_for)
        kept.save(update_fields=["due_date", "scheduled_for"])
        task.status = "cancelled"
        task.note = f"→ #{keep[key].pk}"
        task.save(update_fields=["status", "note"])


class Migration(migrations.Migration):
    dependencies = [("visits", "0003_task_cards_reasons_attempts")]

    operations = [migrations.RunPython(cards_from_tasks, migrations.RunPython.noop)]
