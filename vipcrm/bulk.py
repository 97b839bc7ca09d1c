# ruff: noqa: S608 - table and column names come from the models; every value is a parameter
"""Inserting many rows at once (issue 14): `bulk_insert` is `bulk_create` for new rows, by COPY on
PostgreSQL.

Django's `bulk_create` renders every value of every row into one statement's parameters; at
100,000 rows the rendering and the driver's parsing of the huge statements cost more than the
database's work. On PostgreSQL the ids are drawn from the table's sequence first (one query), so
the objects get their primary keys as with `bulk_create`, and the rows go in by one COPY. Elsewhere
(SQLite in tests) it is `bulk_create`. Same validation and constraints either way: a duplicate on a
unique constraint raises IntegrityError. No signals are sent (as with `bulk_create`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)

# Field types whose Python value the driver writes as the column wants it.
PLAIN = frozenset(
    {
        models.AutoField,
        models.BigAutoField,
        models.IntegerField,
        models.BigIntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.CharField,
        models.TextField,
        models.BooleanField,
        models.DateField,
        models.DateTimeField,
        models.ForeignKey,
        models.OneToOneField,
    }
)


def bulk_insert(objs: Sequence[M], *, batch_size: int = 5000) -> list[M]:
    """Insert `objs` (new, unsaved, no pk set) and set their primary keys; returns them."""
    objs = list(objs)
    if not objs:
        return objs
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model.objects.bulk_create(objs, batch_size=batch_size)
    opts = model._meta
    for obj in objs:
        # Foreign keys to objects saved moments ago (their pk set since) take that pk, as in bulk_create.
        obj._prepare_related_fields_for_save(operation_name="bulk_insert")
    fields = [f for f in opts.concrete_fields if not f.generated]
    pk = opts.pk
    table = connection.ops.quote_name(opts.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [opts.db_table, pk.column, len(objs)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        # Plain columns go as the driver adapts them; a field of any other type (or one that fills
        # itself in, like auto_now) through its own pre_save and get_db_prep_save.
        plain = [
            type(f) in PLAIN and not getattr(f, "auto_now", False) and not getattr(f, "auto_now_add", False)
            for f in fields
        ]
        # Through Django's error wrapper: a duplicate raises django.db.IntegrityError, as bulk_create's would.
        with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj, pk_value in zip(objs, ids, strict=True):
                setattr(obj, pk.attname, pk_value)
                copy.write_row(
                    [
                        getattr(obj, f.attname)
                        if is_plain
                        else f.get_db_prep_save(f.pre_save(obj, add=True), connection=connection)
                        for f, is_plain in zip(fields, plain, strict=True)
                    ]
                )
    for obj in objs:
        obj._state.adding = False
        obj._state.db = "default"
    return objs


def bulk_set(objs: Sequence[models.Model], fields: Sequence[str], *, batch_size: int = 1000) -> None:
    """Save `fields` of `objs` (rows on file): `bulk_update`, by one `UPDATE ... FROM unnest(arrays)`
    on PostgreSQL rather than a CASE per field and row."""
    objs = list(objs)
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields, batch_size=batch_size)
        return
    opts = model._meta
    pk = opts.pk
    targets = [opts.get_field(name) for name in fields]
    qn = connection.ops.quote_name
    arrays, params = [], []
    for f in [pk, *targets]:
        arrays.append(f"%s::{f.db_type(connection)}[]")
        params.append([f.get_db_prep_save(getattr(obj, f.attname), connection=connection) for obj in objs])
    names = ", ".join(f"c{i}" for i in range(len(arrays)))
    sets = ", ".join(f"{qn(f.column)} = v.c{i}" for i, f in enumerate(targets, start=1))
    sql = (
        f"UPDATE {qn(opts.db_table)} AS t SET {sets} FROM unnest({', '.join(arrays)}) AS v({names}) "
        f"WHERE t.{qn(pk.column)} = v.c0"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
