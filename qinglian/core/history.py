"""Writing imported history (legacy intake): plain bulk inserts of rows already mapped to a
model's fields, marked with the import batch. Used by each app's own `history` module — an app
writes its own tables — and never through today's services or controls: history is loaded as
it happened.

On PostgreSQL the rows go in by COPY with ids taken from the table's sequence beforehand (no
model instances, no per-value preparation: a million rows in seconds); elsewhere by
`bulk_create`. Rows name fields by attribute name ("company_id") or name; a field a row leaves
out gets its default (`auto_now` fields: now)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone

BATCH_SIZE = 2000
COPY_CHUNK = 20000


def insert_history(
    model: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_id: str = "",
    batch_size: int = BATCH_SIZE,
) -> list[int]:
    """Insert `rows` (field → value) as `model` rows; return their new ids in row order.
    `batch_id` is stored in `import_batch` where the model has it."""
    marked = bool(batch_id) and any(field.name == "import_batch" for field in model._meta.fields)
    if connection.vendor == "postgresql":
        return _copy_rows(model, rows, batch_id if marked else "")
    ids: list[int] = []
    chunk: list[Any] = []
    for row in rows:
        instance = model(**row)
        if marked:
            instance.import_batch = batch_id
        chunk.append(instance)
        if len(chunk) >= batch_size:
            ids += _flush(model, chunk)
            chunk = []
    if chunk:
        ids += _flush(model, chunk)
    return ids


def _flush(model: Any, chunk: Sequence[Any]) -> list[int]:
    created = model.objects.bulk_create(chunk, batch_size=len(chunk))
    return [instance.pk for instance in created]


def _plan(model: Any, batch_id: str) -> tuple[list[str], list[tuple[str, str, Any, bool]]]:
    """Columns and, per field, (attname, name, default, is json)."""
    now = timezone.now()
    columns, fields = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and not isinstance(field, models.AutoField | models.BigAutoField):
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            default: Any = now
        elif field.name == "import_batch" and batch_id:
            default = batch_id
        elif field.primary_key:
            default = None
        else:
            default = field.get_default()
        columns.append(field.column)
        fields.append((field.attname, field.name, default, isinstance(field, models.JSONField)))
    return columns, fields


def _row_maker(
    fields: list[tuple[str, str, Any, bool]], pk_attname: str, rows: list[Mapping[str, Any]]
) -> Any:
    """A function (row, id) → the tuple of column values, written out once per table: which
    key each field is found under (attribute name or name, over every row) is settled here,
    not per value."""
    from psycopg.types.json import Jsonb

    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    defaults: list[Any] = []
    parts = []
    for attname, name, default, is_json in fields:
        if attname == pk_attname:
            parts.append("pk")
            continue
        key = attname if attname in keys else name if name in keys else None
        defaults.append(default)
        value = (
            f"d[{len(defaults) - 1}]" if key is None else f"r.get({key!r}, d[{len(defaults) - 1}])"
        )
        parts.append(f"_json({value})" if is_json else value)
    source = f"lambda r, pk: ({', '.join(parts)},)"
    return eval(source, {"d": defaults, "_json": lambda v: None if v is None else Jsonb(v)})  # noqa: S307


def _copy_rows(model: Any, rows: Iterable[Mapping[str, Any]], batch_id: str) -> list[int]:
    rows = list(rows)
    if not rows:
        return []
    table = model._meta.db_table
    pk = model._meta.pk
    quote = connection.ops.quote_name
    columns, fields = _plan(model, batch_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, pk.column, len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        statement = (
            f"COPY {quote(table)} ({', '.join(quote(column) for column in columns)}) FROM STDIN"
        )
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        make = _row_maker(fields, pk.attname, rows)
        # the psycopg errors as Django's (IntegrityError …), as a Django cursor would raise them
        with connection.wrap_database_errors, raw.copy(statement) as copy:
            write = copy.write_row
            for pk_value, row in zip(ids, rows, strict=True):
                write(make(row, pk_value))
    return ids


def update_history(
    model: Any, values: Mapping[int, Mapping[str, Any]], fields: Sequence[str]
) -> None:
    """Set `fields` of rows already inserted (a link known only once both ends exist)."""
    if not values:
        return
    if connection.vendor == "postgresql":
        _copy_update(model, values, fields)
        return
    instances = []
    for pk, row in values.items():
        instance = model(pk=pk)
        for name in fields:
            setattr(instance, name, row[name])
        instances.append(instance)
    model.objects.bulk_update(instances, list(fields), batch_size=BATCH_SIZE)


def _copy_update(model: Any, values: Mapping[int, Mapping[str, Any]], names: Sequence[str]) -> None:
    quote = connection.ops.quote_name
    meta = model._meta
    fields = [
        meta.get_field(name.removesuffix("_id"))
        if name.endswith("_id") and not _has(meta, name)
        else meta.get_field(name)
        for name in names
    ]
    temp = quote(f"_history_{meta.db_table}")
    pk = meta.pk
    definitions = [f"{quote('pk')} {pk.rel_db_type(connection)}"]
    definitions += [f"{quote(field.column)} {_column_type(field)}" for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {temp} ({', '.join(definitions)}) ON COMMIT DROP")
        raw = cursor.cursor
        with connection.wrap_database_errors, raw.copy(f"COPY {temp} FROM STDIN") as copy:
            for key, row in values.items():
                copy.write_row([key, *(row[name] for name in names)])
        sets = ", ".join(f"{quote(field.column)} = h.{quote(field.column)}" for field in fields)
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} t SET {sets} FROM {temp} h "  # noqa: S608
            f"WHERE t.{quote(pk.column)} = h.{quote('pk')}"
        )
        cursor.execute(f"DROP TABLE {temp}")


def _has(meta: Any, name: str) -> bool:
    try:
        meta.get_field(name)
    except Exception:
        return False
    return True


def _column_type(field: Any) -> str:
    if field.is_relation:
        return str(field.target_field.rel_db_type(connection))
    return str(field.db_type(connection))
