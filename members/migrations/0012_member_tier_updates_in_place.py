"""A member's tier is rewritten in place (issue 14): no index names the tier any more, and the table
keeps a tenth of each page free, so a tier the replay or the month-end review moves is a HOT update
(one heap write) rather than a new row version in each of the member's 16 indexes, two of them
trigram GINs: an import that moves 6,000 tiers spent ~0.9 s there. The free space applies to pages
written from now on (a new or seeded database, or after `VACUUM FULL members_member`)."""

from django.db import migrations

FILLFACTOR = 90


def fillfactor(apps, schema_editor, value: int | None = FILLFACTOR) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name("members_member")
    setting = f"SET (fillfactor = {value})" if value else "RESET (fillfactor)"
    schema_editor.execute(f"ALTER TABLE {table} {setting}")


def fillfactor_reset(apps, schema_editor) -> None:
    fillfactor(apps, schema_editor, None)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0011_fewer_single_column_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="member",
            name="member_store_tier_idx",
        ),
        migrations.RunPython(fillfactor, fillfactor_reset),
    ]
