from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("visits", "0007_default_message_templates"),
    ]

    operations = [
        migrations.AddField(
            model_name="visit",
            name="suggestions",
            field=models.TextField(blank=True, default="", verbose_name="顾客意见和建议"),
        ),
    ]
