"""Single-column foreign-key indexes that wider indexes already lead with are dropped (issue 14):
every lookup and foreign-key check keeps an index, and each row written or moved by the duties and
imports (members, cards, reasons, contacts) updates one to three index entries fewer."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_api_key"),
        ("members", "0011_fewer_single_column_indexes"),
        ("visits", "0009_open_task_member_partial_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="followuptask",
            name="assignee",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="tasks",
                to=settings.AUTH_USER_MODEL,
                verbose_name="负责人",
            ),
        ),
        migrations.AlterField(
            model_name="followuptask",
            name="member",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="tasks",
                to="members.member",
                verbose_name="会员",
            ),
        ),
        migrations.AlterField(
            model_name="followuptask",
            name="store",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tasks",
                to="accounts.store",
                verbose_name="门店",
            ),
        ),
        migrations.AlterField(
            model_name="taskreason",
            name="member",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="members.member",
                verbose_name="会员",
            ),
        ),
        migrations.AlterField(
            model_name="visit",
            name="member",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="visits",
                to="members.member",
                verbose_name="会员",
            ),
        ),
        migrations.AlterField(
            model_name="visit",
            name="store",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="visits",
                to="accounts.store",
                verbose_name="门店",
            ),
        ),
    ]
