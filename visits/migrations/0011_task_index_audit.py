"""Two fewer index entries for each card written or closed (issue 14): the (member, kind, status)
index goes (the unique (member, kind, origin) leads with member and kind; a member's open tasks have
their own partial index), and the closing visit's index keeps only the tasks a visit closed."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_api_key"),
        ("members", "0011_fewer_single_column_indexes"),
        ("visits", "0010_fewer_single_column_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="followuptask",
            name="task_member_kind_status_idx",
        ),
        migrations.AlterField(
            model_name="followuptask",
            name="closed_by_visit",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="closed_tasks",
                to="visits.visit",
                verbose_name="完成回访",
            ),
        ),
        migrations.AddIndex(
            model_name="followuptask",
            index=models.Index(
                condition=models.Q(("closed_by_visit__isnull", False)),
                fields=["closed_by_visit"],
                name="task_closed_by_visit_idx",
            ),
        ),
    ]
