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


def tables_analyze(tables: tuple[str, ...] = BULK_TABLES, *, columns: dict[str, tuple[str, ...]] | None = None) -> bool:
    """ANALYZE the tables that exist (PostgreSQL only; SQLite is left alone). ANALYZE may run
    inside a transaction: it samples the tables and writes only the statistics. `columns` narrows
    a table to the columns a writer changed (their statistics alone are redone, the others and the
    expression indexes' are kept, and autovacuum still counts the table's changes toward its own
    full ANALYZE). Returns whether it ran."""
    if connection.vendor != "postgresql":
        return False
    existing = set(connection.introspection.table_names())
    names = [name for name in tables if name in existing]
    if not names:
        return False
    quote, columns = connection.ops.quote_name, columns or {}
    targets = [
        quote(name) + (f" ({', '.join(map(quote, columns[name]))})" if name in columns else "") for name in names
    ]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(targets))
    logger.info("analyzed %s", ", ".join(names))
    return True


def tables_analyze_grown(tables: tuple[str, ...], *, added: int, share: float = 0.5) -> bool:
    """ANALYZE `tables` (PostgreSQL only) after a load that added `added` rows to the first of
    them, if the rows changed since its statistics were taken (`added` and what the activity
    counters saw of other loads) reach `share` of the rows those statistics counted. The first
    morning after go-live each store's run adds thousands of tasks, all open, to a table whose
    statistics saw few open ones, and the lists' plans walk every open task of the chain: the
    statistics are refreshed as the table grows by half (once or a few times that morning, not
    once a store). The planner scales a stale row count by the table's size itself; what goes
    stale is the distribution. Autovacuum does the same, but a minute or more later. Whole tables:
    an ANALYZE of some columns leaves the change counter read here as it was, so every later call
    would analyze again."""
    if connection.vendor != "postgresql" or not tables:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples, s.n_mod_since_analyze FROM pg_class c "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass(%s)",
            [tables[0]],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    known, changed = max(row[0] or 0, 0), row[1] or 0  # reltuples -1: never analyzed
    if added + changed < share * known:
        return False
    return tables_analyze(tables)
