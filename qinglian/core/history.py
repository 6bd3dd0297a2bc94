"""Writing imported history (legacy intake): plain bulk inserts of rows already mapped to a
model's fields, marked with the import batch. Used by each app's own `history` module — an app
writes its own tables — and never through today's services or controls: history is loaded as
it happened.

On PostgreSQL the rows go in by COPY with ids taken from the table's sequence beforehand (no
model instances, no per-value preparation: a million rows in seconds); elsewhere by
`bulk_create`. Rows name fields by attribute name ("company_id") or name; a field a row leaves
out gets its default (`auto_now` fields: now). Rows may name their own id, taken beforehand
with `reserve_ids` (every row of the call, or none): two tables that point at each other are
then written each once, with both ends known.

Foreign keys. Django's are DEFERRABLE INITIALLY DEFERRED: PostgreSQL checks each key of each
inserted row at commit, one lookup and row lock at a time — for a million rows of history, far
longer than the load itself. Inside `foreign_keys_checked_in_bulk()` a table that receives at
least `BULK_FOREIGN_KEYS_FROM` rows in its first insert has its foreign keys dropped just
before (their definitions read from the catalogue) and added back, exactly as they were, when
the block ends: PostgreSQL then checks each key once over the whole table, in one join (what
its manual advises for bulk loads). A violation raises IntegrityError there, as it would have
at commit. The price: from the drop to the commit, the table and the tables its keys name
are locked exclusively (other sessions wait), so this is for large loads only — smaller ones
keep their keys and their per-row checks. It needs no more than owning the tables.
"""

from __future__ import annotations

import datetime
import gc
import json
import operator
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

BATCH_SIZE = 2000
BULK_FOREIGN_KEYS_FROM = 10_000  # rows in a table's first insert


@dataclass
class _BulkKeys:
    """The tables one `foreign_keys_checked_in_bulk` block has written, and the foreign keys
    it dropped (name, definition) per table, to add back."""

    written: set[str] = field(default_factory=set)
    dropped: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    seconds: float = 0.0


_bulk_keys: ContextVar[_BulkKeys | None] = ContextVar("history_bulk_keys", default=None)


@contextmanager
def foreign_keys_checked_in_bulk(enabled: bool = True) -> Iterator[_BulkKeys]:
    """Check the foreign keys of the tables large inserts write once per key at the end of the
    block instead of once per row at commit (PostgreSQL; elsewhere, or not `enabled`, nothing
    changes). The block runs in a savepoint: if it raises, the keys come back with the
    rollback. Yields the block's record (`seconds`: the time the keys took to come back)."""
    state = _BulkKeys()
    if connection.vendor != "postgresql" or not enabled:
        yield state
        return
    token = _bulk_keys.set(state)
    try:
        with transaction.atomic():
            yield state
            started = time.perf_counter()
            _add_back(state)
            state.seconds = time.perf_counter() - started
    finally:
        _bulk_keys.reset(token)


def _drop_foreign_keys(state: _BulkKeys, table: str) -> None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            [quote(table)],
        )
        keys = [(str(name), str(definition)) for name, definition in cursor.fetchall()]
        if not keys:
            return
        # A table cannot be altered while checks of rows written to it earlier in the
        # transaction are pending: run whatever is pending now, then defer again (Django
        # makes every deferrable constraint here initially deferred).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        drops = ", ".join(f"DROP CONSTRAINT {quote(name)}" for name, _definition in keys)
        cursor.execute(f"ALTER TABLE {quote(table)} {drops}")
    state.dropped[table] = keys


def _add_back(state: _BulkKeys) -> None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, keys in state.dropped.items():
            adds = ", ".join(
                f"ADD CONSTRAINT {quote(name)} {definition}" for name, definition in keys
            )
            cursor.execute(f"ALTER TABLE {quote(table)} {adds}")
    state.dropped.clear()


@contextmanager
def cyclic_collection_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk load: the load makes millions of
    rows, dictionaries and tuples that all live until it ends, and the collector, triggered by
    the count of new objects, would scan them again and again (at a million rows, thousands of
    collections and a tenth of the load's time) for cycles they do not form. Reference
    counting frees everything else as usual; the collector runs again afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def reserve_ids(model: Any, count: int) -> list[int]:
    """`count` new ids of `model`'s table, taken from its sequence as an insert would take
    them, for rows written later in the same transaction that name them (`insert_history`).
    Ids never taken back: a reserved id left unused is a gap, as after a rollback."""
    if count <= 0:
        return []
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        return _sequence_ids(table, model._meta.pk.column, count)
    if connection.vendor != "sqlite":
        raise NotImplementedError(f"reserving ids on {connection.vendor}")
    # SQLite (AUTOINCREMENT): the next id is past both the highest id ever given
    # (sqlite_sequence) and the highest there is; moving the sequence on reserves the ids
    # for the rest of the transaction, which holds the database's write lock.
    quote = connection.ops.quote_name
    pk = quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        found = cursor.fetchone()
        cursor.execute(f"SELECT MAX({pk}) FROM {quote(table)}")  # noqa: S608
        (highest,) = cursor.fetchone()
        first = max(found[0] if found else 0, highest or 0) + 1
        last = first + count - 1
        if found:
            cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [last, table])
        else:
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, last])
    return list(range(first, last + 1))


def _sequence_ids(table: str, column: str, count: int) -> list[int]:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [quote(table), column])
        (sequence,) = cursor.fetchone()
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count]
        )
        return [row[0] for row in cursor.fetchall()]


def _named_ids(model: Any, rows: Sequence[Mapping[str, Any]]) -> list[int] | None:
    """The ids the rows name (reserved beforehand), or None when they name none."""
    name = model._meta.pk.attname
    named = [row[name] for row in rows if name in row]
    if not named:
        return None
    if len(named) != len(rows):
        raise ValueError(f"{model.__name__}: some rows name their {name}, others not")
    return named


def insert_history(
    model: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_id: str = "",
    batch_size: int = BATCH_SIZE,
    own_id: Sequence[str] = (),
) -> list[int]:
    """Insert `rows` (field → value) as `model` rows; return their ids in row order: those
    the rows name (see `reserve_ids`), else new ones. `batch_id` is stored in `import_batch`
    where the model has it; the fields `own_id` names (attribute names) hold each row's own
    id (a first revision is its own original)."""
    marked = bool(batch_id) and any(field.name == "import_batch" for field in model._meta.fields)
    rows = rows if isinstance(rows, list) else list(rows)
    if connection.vendor == "postgresql":
        return _copy_rows(model, rows, batch_id if marked else "", own_id)
    _named_ids(model, rows)  # all or none
    ids = _create_rows(model, rows, batch_id if marked else "", batch_size)
    for start in range(0, len(ids) if own_id else 0, batch_size):
        model.objects.filter(pk__in=ids[start : start + batch_size]).update(
            **{name: models.F("pk") for name in own_id}
        )
    return ids


def _create_rows(
    model: Any, rows: Iterable[Mapping[str, Any]], batch_id: str, batch_size: int
) -> list[int]:
    ids: list[int] = []
    chunk: list[Any] = []
    for row in rows:
        instance = model(**row)
        if batch_id:
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


@dataclass(frozen=True)
class _Column:
    column: str
    attname: str
    name: str
    default: Any
    encoder: Any  # a JSON field's encoder class (None: json's own)
    is_json: bool


def _plan(model: Any, batch_id: str) -> list[_Column]:
    """The columns a COPY writes (the primary key first), each with its default."""
    now = timezone.now()
    columns = []
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key and not isinstance(
            model_field, models.AutoField | models.BigAutoField
        ):
            continue
        if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            default: Any = now
        elif model_field.name == "import_batch" and batch_id:
            default = batch_id
        elif model_field.primary_key:
            default = None
        else:
            default = model_field.get_default()
        is_json = isinstance(model_field, models.JSONField)
        columns.append(
            _Column(
                model_field.column,
                model_field.attname,
                model_field.name,
                default,
                model_field.encoder if is_json else None,
                is_json,
            )
        )
    columns.sort(key=lambda item: item.attname != model._meta.pk.attname)
    if not columns or columns[0].attname != model._meta.pk.attname:
        raise ValueError(f"{model.__name__}: history needs an automatic primary key")
    return columns


def _json_text(encoder: Any) -> Callable[[Any], str | None]:
    """A JSON value → its text (COPY reads it into the jsonb column); None stays NULL."""

    def dump(value: Any) -> str | None:
        return None if value is None else json.dumps(value, cls=encoder)

    return dump


def _text(value: Any) -> Any:
    """A value as COPY reads it, written out once (a default repeated on every row: a
    moment, a day, a number or a flag then costs nothing more per row)."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime.date):  # a day or a moment
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return str(value)
    return value


def _values_of(keys: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """row → the values of these keys, as a tuple (one C-level call for two keys or more)."""
    if len(keys) > 1:
        return operator.itemgetter(*keys)
    if keys:
        (key,) = keys
        return lambda row: (row[key],)
    return lambda row: ()


def _row_builder(
    plan: list[_Column], rows: Sequence[Mapping[str, Any]], own_id: Sequence[str]
) -> tuple[list[_Column], Callable[[int, Mapping[str, Any]], tuple[Any, ...]]]:
    """The columns in the order a COPY writes them, and a function (id, row) → their values.
    Which key each field is found under (attribute name or name, over every row) is settled
    once per table, not per value; fields no row names get their default, written once, and
    the `own_id` fields the row's id. When every row names the same fields (the usual case) a
    row's values are picked by one C-level call; otherwise each is looked up with its
    default."""
    present: set[str] = set()
    for row in rows:
        present.update(row)
    own = [column for column in plan[1:] if column.attname in own_id]
    if len(own) != len(own_id):
        raise ValueError(f"not fields of the table: {sorted(own_id)}")
    plan = [plan[0], *(column for column in plan[1:] if column.attname not in own_id)]
    ids = 1 + len(own)  # the id, then the fields holding it again

    def key(column: _Column) -> str:
        by_name = column.name in present and column.attname not in present
        return column.name if by_name else column.attname

    given = [column for column in plan[1:] if key(column) in present]
    plain = [column for column in given if not column.is_json]
    documents = [column for column in given if column.is_json]
    absent = [column for column in plan[1:] if key(column) not in present]
    constants = tuple(
        _json_text(column.encoder)(column.default) if column.is_json else _text(column.default)
        for column in absent
    )
    dumps = [(key(column), _json_text(column.encoder), column.default) for column in documents]
    if set(map(len, rows)) == {len(present)}:  # every row names every key present
        pick = _values_of([key(column) for column in plain])

        def build(pk: int, row: Mapping[str, Any]) -> tuple[Any, ...]:
            if dumps:
                texts = [dump(row[name]) for name, dump, _default in dumps]
                return (*(pk,) * ids, *pick(row), *texts, *constants)
            return (*(pk,) * ids, *pick(row), *constants)

    else:
        keys = [key(column) for column in plain]
        defaults = [column.default for column in plain]

        def build(pk: int, row: Mapping[str, Any]) -> tuple[Any, ...]:
            texts = [dump(row.get(name, default)) for name, dump, default in dumps]
            return (*(pk,) * ids, *map(row.get, keys, defaults), *texts, *constants)

    return [plan[0], *own, *plain, *documents, *absent], build


def insert_begins(model: Any, count: int) -> None:
    """Say that about `count` rows go into `model`'s table now — by `insert_history`, or by a
    writer's own INSERT … SELECT: inside `foreign_keys_checked_in_bulk`, the first insert
    into a table decides whether its keys are checked in bulk (PostgreSQL)."""
    state = _bulk_keys.get()
    table = model._meta.db_table
    if state is None or table in state.written or connection.vendor != "postgresql":
        return
    state.written.add(table)
    if count >= BULK_FOREIGN_KEYS_FROM:
        _drop_foreign_keys(state, table)


def _copy_rows(
    model: Any, rows: list[Mapping[str, Any]], batch_id: str, own_id: Sequence[str]
) -> list[int]:
    if not rows:
        return []
    table = model._meta.db_table
    pk = model._meta.pk
    quote = connection.ops.quote_name
    ids = _named_ids(model, rows) or _sequence_ids(table, pk.column, len(rows))
    insert_begins(model, len(rows))
    from psycopg.copy import QueuedLibpqWriter

    columns, build = _row_builder(_plan(model, batch_id), rows, own_id)
    with connection.cursor() as cursor:
        names = ", ".join(quote(column.column) for column in columns)
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        # the psycopg errors as Django's (IntegrityError …), as a Django cursor would raise them
        # Rows are sent by a thread of their own: the server stores the rows sent while the
        # next ones are formatted here (one writer would wait for the server, then the other).
        with (
            connection.wrap_database_errors,
            raw.copy(
                f"COPY {quote(table)} ({names}) FROM STDIN", writer=QueuedLibpqWriter(raw)
            ) as copy,
        ):
            write = copy.write_row
            for pk_value, row in zip(ids, rows, strict=True):
                write(build(pk_value, row))
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
