"""The daily duty reads the receipts recorded since the day before (post-purchase calls) by the
time they were recorded (issue 14): ~100 ms a store without an index, a few ms with it. A plain
CREATE INDEX: about a second on 1,000,000 purchases, writes to the table waiting meanwhile."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0008_exportjob"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="purchase",
            index=models.Index(fields=["created_at"], name="purchase_recorded_idx"),
        ),
    ]
