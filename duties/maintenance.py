"""Planner statistics after bulk loads (issue 14).

PostgreSQL plans from statistics that autovacuum refreshes only after enough rows change, and not
at once: right after an import or a seed its plans still see the tables as they were (no open
care task, every member at tier C), and can pick a loop over a whole table. `tables_analyze` is
called at the end of every bulk load so the next duty plans from the data it will read.
"""

from __future__ import annotations

import logging

from django.db import connection

logger = logging.getLogger(__name__)

# The tables bulk loads fill and the duties read.
BULK_TABLES = (
    "members_member",
    "members_purchase",
    "members_tierchange",
    "members_importantdate",
    "members_memberownerchange",
    "visits_followuptask",
    "visits_taskreason",
    "visits_visit",
    "visits_giftplan",
)


def tables_analyze(tables: tuple[str, ...] = BULK_TABLES) -> bool:
    """ANALYZE the tables that exist (PostgreSQL only; SQLite is left alone). ANALYZE may run
    inside a transaction: it samples the tables and writes only the statistics. Returns whether
    it ran."""
    if connection.vendor != "postgresql":
        return False
    existing = set(connection.introspection.table_names())
    names = [name for name in tables if name in existing]
    if not names:
        return False
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(name) for name in names))
    logger.info("analyzed %s", ", ".join(names))
    return True
