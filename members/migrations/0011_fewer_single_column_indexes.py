"""Single-column foreign-key indexes that wider indexes already lead with are dropped (issue 14):
every lookup and foreign-key check keeps an index, and each row written or moved by the duties and
imports (members, cards, reasons, contacts) updates one to three index entries fewer."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_api_key"),
        ("members", "0010_kpi_covering_idx"),
    ]

    operations = [
        migrations.AlterField(
            model_name="member",
            name="home_store",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="members",
                to="accounts.store",
                verbose_name="所属门店",
            ),
        ),
    ]
