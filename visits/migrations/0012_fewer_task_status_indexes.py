"""Two of the five (person or store, status, date) task indexes go (issue 14): by status and due
date, for a person and for a store. A whole `make bench` chose them 15 times against ~5,000 scans of
the others (by status and working date: the day's lists; by due date over all statuses: reports),
which serve those reads too. Each cost ~4 µs for every card an import or a duty writes or closes.
A reason's (member, kind) index goes too: the unique (member, kind, origin) leads with both."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("visits", "0011_task_index_audit"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="followuptask",
            name="task_assignee_status_due_idx",
        ),
        migrations.RemoveIndex(
            model_name="followuptask",
            name="task_store_status_due_idx",
        ),
        migrations.RemoveIndex(
            model_name="taskreason",
            name="task_reason_member_kind_idx",
        ),
    ]
