"""Default gifts by tier (DOMAIN §4: birthday gifts by tier); HQ edits them in the admin."""

from decimal import Decimal

from django.db import migrations

DEFAULTS = [
    ("A", "birthday", "定制生日礼盒", "800.00"),
    ("B", "birthday", "品牌丝巾", "300.00"),
    ("C", "birthday", "生日贺卡与小礼品", "80.00"),
    ("A", "anniversary", "鲜花与定制贺卡", "500.00"),
    ("B", "anniversary", "鲜花", "200.00"),
    ("A", "family", "节日礼盒", "300.00"),
    ("B", "family", "节日贺卡", "100.00"),
]


def forwards(apps, schema_editor):
    GiftPolicy = apps.get_model("visits", "GiftPolicy")
    for tier, occasion, gift, budget in DEFAULTS:
        GiftPolicy.objects.get_or_create(
            tier=tier, occasion=occasion, defaults={"gift": gift, "budget": Decimal(budget)}
        )


class Migration(migrations.Migration):
    dependencies = [("visits", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
