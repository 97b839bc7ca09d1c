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

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import Any, TypeVar

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
    fields = [f for f in opts.concrete_fields if not f.generated and f is not opts.pk]
    # A field that fills itself in (auto_now, auto_now_add) takes one value for the whole insert, set
    # on the objects as bulk_create would; then it is written as it stands.
    auto = [f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    for f in auto:
        value = f.pre_save(objs[0], add=True)
        for obj in objs:
            setattr(obj, f.attname, value)
    # Plain columns go as the driver adapts them, read in one attrgetter call per object; a field of
    # any other type through its own pre_save and get_db_prep_save.
    plain = [f for f in fields if type(f) in PLAIN or f in auto]
    other = [f for f in fields if f not in plain]
    getter = attrgetter(*(f.attname for f in plain))
    get_plain = getter if len(plain) > 1 else lambda obj: (getter(obj),)
    preps = [_prep(f) for f in other]
    rows = ((*get_plain(obj), *(prep(obj) for prep in preps)) if preps else get_plain(obj) for obj in objs)
    ids = _copy_new(model, [f.column for f in [*plain, *other]], rows, count=len(objs))
    for obj, pk_value in zip(objs, ids, strict=True):
        setattr(obj, opts.pk.attname, pk_value)
        obj._state.adding = False
        obj._state.db = "default"
    return objs


def _copy_new(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]], *, count: int
) -> list[int]:
    """COPY `count` new rows of `columns` into the model's table with primary keys drawn from its
    sequence; the new keys, in order. Through Django's error wrapper: a duplicate raises
    django.db.IntegrityError, as bulk_create's would."""
    opts = model._meta
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        # The sequence is named once (a scalar subquery), not looked up in the catalog for every id:
        # 100,000 ids in 85 ms rather than 360 ms.
        cursor.execute(
            "SELECT nextval((SELECT pg_get_serial_sequence(%s, %s))) FROM generate_series(1, %s)",
            [opts.db_table, opts.pk.column, count],
        )
        ids = [row[0] for row in cursor.fetchall()]
        names = ", ".join(qn(name) for name in [opts.pk.column, *columns])
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {qn(opts.db_table)} ({names}) FROM STDIN") as copy,
        ):
            for pk_value, row in zip(ids, rows, strict=True):
                copy.write_row((pk_value, *row))
    return ids


def _prep(f: models.Field) -> Callable[[models.Model], Any]:
    """How `bulk_insert` reads a field that is not plain: a finite Decimal goes as it is (what
    get_db_prep_save would make of it), anything else through the field."""
    if isinstance(f, models.DecimalField):

        def decimal(obj: models.Model) -> Any:
            value = getattr(obj, f.attname)
            if type(value) is Decimal and value.is_finite():
                return value
            return f.get_db_prep_save(value, connection=connection)

        return decimal
    return lambda obj: f.get_db_prep_save(f.pre_save(obj, add=True), connection=connection)


def bulk_insert_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[int]:
    """Insert new rows given as tuples of `fields` (attribute names: "store_id", not "store") and
    return their new primary keys, in order: `bulk_insert` without model instances, for loads where
    building 100,000 instances costs as much as the COPY (an import's receipts). The values must be
    what the column takes (a Decimal for a DecimalField; no pre_save: give auto_now values
    yourself); a column not named gets the database's default (NULL). On SQLite, `bulk_create`."""
    rows = list(rows)
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(fields, row, strict=True))) for row in rows]
        model.objects.bulk_create(objs, batch_size=1000)
        return [obj.pk for obj in objs]
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    return _copy_new(model, [by_attname[name].column for name in fields], rows, count=len(rows))


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
    targets = [opts.get_field(name) for name in fields]
    columns = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection=connection) for obj in objs]
        for f in [opts.pk, *targets]
    ]
    _update_from_columns(model, targets, columns)


def bulk_set_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """`bulk_set` from plain rows, without a model instance each (an import closes 30,000 cards):
    each row is (pk, *values of `fields`), `fields` by attribute name ("closed_by_visit_id"), the
    values as the columns take them (what `bulk_insert_rows` takes)."""
    rows = list(rows)
    if not rows:
        return
    opts = model._meta
    targets = [opts.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        objs = [model(pk=row[0], **dict(zip((f.attname for f in targets), row[1:], strict=True))) for row in rows]
        model.objects.bulk_update(objs, [f.name for f in targets], batch_size=1000)
        return
    columns = [list(column) for column in zip(*rows, strict=True)]
    for i, f in enumerate(targets, start=1):
        if type(f) not in PLAIN:
            columns[i] = [f.get_db_prep_save(value, connection=connection) for value in columns[i]]
    _update_from_columns(model, targets, columns)


def _update_from_columns(model: type[models.Model], targets: list[models.Field], columns: list[list[Any]]) -> None:
    """UPDATE `targets` of the rows whose primary keys are `columns[0]` to the values in the other
    columns (prepared for the database). A column with one value for every row goes as one
    parameter, not an array of as many copies (the closing fields of 30,000 cards); the others as
    `array_param`s."""
    opts = model._meta
    qn = connection.ops.quote_name
    sets, set_params, arrays, array_params = [], [], [], []
    for i, (f, values) in enumerate(zip([opts.pk, *targets], columns, strict=True)):
        db_type = f.db_type(connection)
        first = values[0]
        if i and all(type(v) is type(first) and v == first for v in values):
            sets.append(f"{qn(f.column)} = %s::{db_type}")
            set_params.append(first)
            continue
        if i:
            sets.append(f"{qn(f.column)} = v.c{i}")
        arrays.append((f"%s::{db_type}[]", f"c{i}"))
        array_params.append(array_param(values))
    sql = (
        f"UPDATE {qn(opts.db_table)} AS t SET {', '.join(sets)} "
        f"FROM unnest({', '.join(a for a, _n in arrays)}) AS v({', '.join(n for _a, n in arrays)}) "
        f"WHERE t.{qn(opts.pk.column)} = v.c0"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*set_params, *array_params])


def array_param(values: Sequence[Any]) -> Any:
    """An array parameter (cast it in the SQL: `%s::bigint[]`, `%s::text[]`): whole numbers, dates or
    texts (with NULLs) as PostgreSQL array text, written in one join; anything else as the list,
    for the driver, which adapts each element in Python (100,000 card numbers: ~0.5 s)."""
    kinds = {type(v) for v in values} - {type(None)}
    if kinds == {str}:
        return "{" + ",".join("NULL" if v is None else '"' + _escaped(v) + '"' for v in values) + "}"
    if kinds in ({int}, {date}, set()):
        return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"
    return list(values)


def _escaped(text: str) -> str:
    """A text inside an array literal's double quotes: only the backslash and the quote escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"')
