"""Name search (`icontains`) on PostgreSQL uses UPPER(name) LIKE '%…%', which only a trigram
index can serve. SQLite has no such index; there this migration does nothing."""

import logging

from django.db import migrations

logger = logging.getLogger(__name__)

CREATE = [
    "CREATE INDEX IF NOT EXISTS member_name_trgm_idx ON members_member USING gin (UPPER(name) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS member_card_trgm_idx ON members_member USING gin (UPPER(card_no) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS member_name_trgm_idx", "DROP INDEX IF EXISTS member_card_trgm_idx"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            try:
                cursor.execute("SAVEPOINT trgm")
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                cursor.execute("RELEASE SAVEPOINT trgm")
            except Exception:  # noqa: BLE001 - no privilege: the search still works, unindexed
                cursor.execute("ROLLBACK TO SAVEPOINT trgm")
                logger.warning(
                    "pg_trgm is not available; name search will not be indexed. "
                    "Ask a superuser to run CREATE EXTENSION pg_trgm and migrate again."
                )
                return
        for sql in CREATE:
            cursor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for sql in DROP:
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
