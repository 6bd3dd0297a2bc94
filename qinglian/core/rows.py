"""Plain rows written and read by statements built once, for the hot paths (an approval decision,
an audit event).

The ORM compiles every statement anew; for a one-row INSERT or UPDATE, or a short SELECT, that
costs more CPU than the database takes to run it. These helpers build each statement once per
model, columns and database; every field prepares its value exactly as `save()` would
(`pre_save`, then `get_db_prep_save`) and converts what is read exactly as a queryset would
(the compiler's converters), so what is stored and read is the same. They skip `save()`'s
machinery: no signals, no overridden `save()`, no expressions (F(), Case) as values. Use them
for plain rows only, inside the service's transaction, on the default database. Every
identifier in their SQL comes from the models' meta and every value goes as a parameter
(hence the S608 waivers).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.sql import Query

_statements: dict[tuple[Any, ...], tuple[str, list[Field[Any, Any]]]] = {}


def _database() -> BaseDatabaseWrapper:
    return connections[DEFAULT_DB_ALIAS]


def _fields(model: type[Model], names: Sequence[str]) -> list[Field[Any, Any]]:
    return [model._meta.get_field(name) for name in names]  # type: ignore[misc]


def _value(db: BaseDatabaseWrapper, instance: Model, field: Field[Any, Any], add: bool) -> Any:
    value = field.pre_save(instance, add)
    if hasattr(value, "resolve_expression"):
        raise TypeError(f"{field.name}: an expression; write it with the ORM")
    return field.get_db_prep_save(value, db)


def row_insert(instance: Model) -> None:
    """INSERT the instance as `save(force_insert=True)` would, and set its primary key."""
    db = _database()
    model = type(instance)
    key = ("insert", model, db.vendor)
    if key not in _statements:
        meta = model._meta
        fields = [f for f in meta.concrete_fields if f is not meta.pk]
        quote = db.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        statement = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
        if db.features.can_return_columns_from_insert:
            statement += f" RETURNING {quote(meta.pk.column)}"
        _statements[key] = statement, fields
    statement, fields = _statements[key]
    with db.cursor() as cursor:
        cursor.execute(statement, [_value(db, instance, f, True) for f in fields])
        if db.features.can_return_columns_from_insert:
            instance.pk = cursor.fetchone()[0]
        else:
            instance.pk = cursor.lastrowid
    instance._state.adding = False
    instance._state.db = db.alias


def row_update(instance: Model, fields: Sequence[str]) -> int:
    """UPDATE these fields of the instance's row, as `save(update_fields=...)` would; returns
    how many rows it changed (0 when the row is gone)."""
    db = _database()
    model = type(instance)
    key = ("update", model, tuple(fields), db.vendor)
    if key not in _statements:
        meta = model._meta
        quote = db.ops.quote_name
        chosen = _fields(model, fields)
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in chosen)
        statement = (
            f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608
            f"WHERE {quote(meta.pk.column)} = %s"
        )
        _statements[key] = statement, chosen
    statement, chosen = _statements[key]
    with db.cursor() as cursor:
        cursor.execute(statement, [*(_value(db, instance, f, False) for f in chosen), instance.pk])
        return int(cursor.rowcount)


def rows_save(rows: Sequence[tuple[Model, Collection[str]]]) -> None:
    """UPDATE several rows of one model, each with its own changed fields, in one statement
    (a CASE on the primary key per column), as `save(update_fields=...)` on each would."""
    if not rows:
        return
    if len(rows) == 1:
        row_update(rows[0][0], sorted(rows[0][1]))
        return
    db = _database()
    model = type(rows[0][0])
    shape = tuple(tuple(sorted(fields)) for _row, fields in rows)
    names = sorted({name for fields in shape for name in fields})
    key = ("save_many", model, shape, db.vendor)
    if key not in _statements:
        meta = model._meta
        quote = db.ops.quote_name
        pk = quote(meta.pk.column)
        chosen = _fields(model, names)
        assignments = []
        for name, field in zip(names, chosen, strict=True):
            # PostgreSQL types a CASE from its branches: cast each value to the column's type.
            mark = (
                f"CAST(%s AS {field.db_type(db)})"
                if db.features.requires_casted_case_in_updates
                else "%s"
            )
            whens = " ".join(f"WHEN %s THEN {mark}" for fields in shape if name in fields)
            column = quote(field.column)
            assignments.append(f"{column} = CASE {pk} {whens} ELSE {column} END")
        marks = ", ".join(["%s"] * len(rows))
        table = quote(meta.db_table)
        statement = f"UPDATE {table} SET {', '.join(assignments)} WHERE {pk} IN ({marks})"  # noqa: S608
        _statements[key] = statement, chosen
    statement, chosen = _statements[key]
    params: list[Any] = []
    for name, field in zip(names, chosen, strict=True):
        for (row, _fields_of_row), fields in zip(rows, shape, strict=True):
            if name in fields:
                params += [row.pk, _value(db, row, field, False)]
    params += [row.pk for row, _fields_of_row in rows]
    with db.cursor() as cursor:
        cursor.execute(statement, params)


# ---------------------------------------------------------------- reading


def select_list(model: type[Model], alias: str) -> str:
    """The model's columns in field order, qualified by `alias`: what `rows_read` expects."""
    quote = _database().ops.quote_name
    return ", ".join(f"{quote(alias)}.{quote(f.column)}" for f in model._meta.concrete_fields)


_Reader = list[tuple[type[Model], int, list[str], int, dict[int, tuple[list[Any], Any]]]]
_readers: dict[tuple[Any, ...], _Reader] = {}


def rows_read(
    statement: str, params: Sequence[Any], models: Sequence[type[Model]]
) -> list[tuple[Any, ...]]:
    """Run a SELECT whose columns are `select_list()` of each of `models` in turn, and build one
    instance of each model per row: values converted as the ORM converts them, None where the
    model's primary key is NULL (the empty side of a LEFT JOIN)."""
    db = _database()
    key = (tuple(models), db.vendor)
    reader = _readers.get(key)
    if reader is None:
        compiler = db.ops.compiler("SQLCompiler")(Query(models[0]), db, None)
        reader = []
        start = 0
        for model in models:
            fields = list(model._meta.concrete_fields)
            columns: list[Any] = [f.get_col(model._meta.db_table) for f in fields]
            names = [f.attname for f in fields]
            pk_position = names.index(model._meta.pk.attname)
            reader.append((model, start, names, pk_position, compiler.get_converters(columns)))
            start += len(fields)
        _readers[key] = reader
    with db.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    found: list[tuple[Any, ...]] = []
    for row in rows:
        instances: list[Any] = []
        for model, start, names, pk_position, converters in reader:
            values = list(row[start : start + len(names)])
            if values[pk_position] is None:
                instances.append(None)
                continue
            for position, (functions, expression) in converters.items():
                value = values[position]
                for function in functions:
                    value = function(value, expression, db)
                values[position] = value
            instances.append(model.from_db(db.alias, names, values))
        found.append(tuple(instances))
    return found
