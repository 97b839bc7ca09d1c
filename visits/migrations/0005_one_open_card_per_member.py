# The snoozed date is now the working date; the one-card constraint holds once tasks are joined.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("visits", "0004_cards_from_tasks")]

    operations = [
        migrations.RemoveField(
            model_name="followuptask",
            name="snoozed_from",
        ),
        migrations.AlterField(
            model_name="followuptask",
            name="scheduled_for",
            field=models.DateField(verbose_name="安排日期"),
        ),
        migrations.AddConstraint(
            model_name="followuptask",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_contact", True), ("status", "open")),
                fields=("member", "assignee"),
                name="task_one_open_card_per_member_assignee",
            ),
        ),
    ]
