"""The stock ledger's writer, shared by every stock posting (receipts, issues, reversals,
stocktake variances, opening stock): lock the balance rows of the touched series in
(warehouse, commodity) order, value the movements under moving-average costing
(`qinglian.trading.costing`), append the entries, move the balances and the monthly totals; and
for a movement dated before the latest entry of its series, re-cost the series after it in one
pass and append the revaluations, set-wise.

Internal to the stock services (qinglian.trading.services.stock), which check who may post what
and write the documents; nothing here checks permissions.

The statements every posting runs are plain SQL: on this path the ORM's own work (building and
compiling each query, making model instances) costs more than the statements themselves.
"""

from __future__ import annotations

import datetime
import functools
from collections import defaultdict
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Sum
from django.utils.translation import gettext as _

from qinglian.core import clock
from qinglian.core.errors import ValidationFailed

from .. import costing
from ..costing import ZERO, Change, NegativeStock, SeriesCosting, Valuation
from ..enums import ContractStatus, StockDirection, StockEntryKind, TradingErrorCode
from ..models import Commodity, Contract, ContractLine, Warehouse
from ..models.stock import StockBalance, StockLedgerEntry, StockMonthlyTotal
from ..selectors.stock import series_state_at

SeriesKey = tuple[int, int]  # (warehouse_id, commodity_id) inside one company


def direction_of(kind: str, quantity: Decimal) -> str:
    if kind in (StockEntryKind.RECEIPT, StockEntryKind.OPENING):
        return StockDirection.IN
    if kind == StockEntryKind.ISSUE:
        return StockDirection.OUT
    return StockDirection.IN if quantity > 0 else StockDirection.OUT


# ---------------------------------------------------------------- the posting's statements
# Plain SQL for the statements every posting runs. On this path the ORM's own work (building
# and compiling each query, making model instances) costs more than the statements themselves —
# about a millisecond each — so the reads and writes below are written out, with the table and
# column names taken from the models and every value sent as a parameter.


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model: Any) -> str:
    return _quote(model._meta.db_table)


def _for_update() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def _run(statement: str, params: Sequence[Any]) -> Any:
    """Run one statement; the cursor, to fetch from. On PostgreSQL it goes through the
    driver's own cursor, inside Django's transaction, bound and prepared on the server: the
    posting's statements are the same text every time, so the server parses and plans each one
    once per connection instead of once per posting (Django binds on the client and prepares
    nothing). Elsewhere through Django's cursor."""
    database = connections[DEFAULT_DB_ALIAS]
    if database.vendor == "postgresql":
        database.ensure_connection()
        cursor = database.connection.cursor()
        cursor.execute(statement, params, prepare=True)
        return cursor
    cursor = database.cursor()
    cursor.execute(statement, params)
    return cursor


def fetch(statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    cursor = _run(statement, params)
    try:
        return list(cursor.fetchall())
    finally:
        cursor.close()


def execute(statement: str, params: Sequence[Any]) -> None:
    _run(statement, params).close()


def _number(value: Any, places: Decimal) -> Decimal:
    """A numeric column as a Decimal (SQLite hands back an int or a float)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(places)


def _day(value: Any) -> datetime.date | None:
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value))


def moment(value: datetime.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _param(value: Any) -> Any:
    """A value as the drivers take it: ints, text, decimals and dates as they are (Django
    registers SQLite's adapters for decimals and dates), moments as Django stores them."""
    return moment(value) if isinstance(value, datetime.datetime) else value


@functools.cache
def _insert_statement(table: str, columns: tuple[str, ...], rows: int, vendor: str) -> str:
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return (
        f"INSERT INTO {_quote(table)} ({', '.join(_quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES {', '.join([one] * rows)} RETURNING id"
    )


@functools.cache
def _update_statement(table: str, columns: tuple[str, ...], rows: int, vendor: str) -> str:
    if rows == 1:
        assignments = ", ".join(f"{_quote(column)} = %s" for column in columns)
        return f"UPDATE {_quote(table)} SET {assignments} WHERE id = %s"  # noqa: S608
    cases = " ".join(["WHEN %s THEN %s"] * rows)
    assignments = ", ".join(f"{_quote(column)} = CASE id {cases} END" for column in columns)
    marks = ", ".join(["%s"] * rows)
    return f"UPDATE {_quote(table)} SET {assignments} WHERE id IN ({marks})"  # noqa: S608


def insert_rows(model: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    """INSERT the rows in one statement; their new ids, in order."""
    if not rows:
        return []
    statement = _insert_statement(
        model._meta.db_table, tuple(columns), len(rows), connection.vendor
    )
    return [row[0] for row in fetch(statement, [_param(v) for row in rows for v in row])]


def update_rows(model: Any, rows: Sequence[Any], fields: Sequence[str]) -> None:
    """Write `fields` (plain values: no expressions) of these objects — anything with `pk` and
    the attributes — in one UPDATE statement, a CASE on the primary key for several rows: what
    bulk_update does, without its expression-building cost."""
    if not rows:
        return
    meta = model._meta
    columns = tuple(meta.get_field(name).column for name in fields)
    statement = _update_statement(meta.db_table, columns, len(rows), connection.vendor)
    if len(rows) == 1:
        row = rows[0]
        execute(statement, [*(_param(getattr(row, name)) for name in fields), row.pk])
        return
    params: list[Any] = []
    for name in fields:
        for row in rows:
            params += [row.pk, _param(getattr(row, name))]
    execute(statement, [*params, *(row.pk for row in rows)])


class ContractRow:
    """The locked contract, as a posting needs it."""

    __slots__ = (
        "company_id",
        "kind",
        "number",
        "original_id",
        "partner_id",
        "pk",
        "revision",
        "status",
    )

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.pk, self.company_id, self.partner_id, self.kind, self.status = row[:5]
        self.number, self.revision, self.original_id = row[5:8]

    def __str__(self) -> str:
        return self.number if not self.revision else f"{self.number} ({self.revision})"

    def get_status_display(self) -> str:
        return str(ContractStatus(self.status).label)


class ContractLineRow:
    """A contract line read under its contract's lock, with its commodity's tolerance."""

    __slots__ = (
        "commodity",
        "commodity_id",
        "contract",
        "executed_quantity",
        "line_number",
        "pk",
        "quantity",
        "quantity_tolerance_percent",
        "tax_rate",
        "tolerance_percent",
        "unit_price",
        "warehouse",
    )

    def __init__(self, row: tuple[Any, ...], contract: ContractRow) -> None:
        self.pk, self.line_number, self.commodity_id = row[:3]
        self.quantity = _number(row[3], costing.MILLI)
        self.unit_price = _number(row[4], costing.PRICE)
        self.tax_rate = _number(row[5], costing.PRICE)
        self.quantity_tolerance_percent = _number(row[6], costing.CENT)
        self.executed_quantity = _number(row[7], costing.MILLI)
        self.tolerance_percent = _number(row[8], costing.CENT)
        self.commodity = f"{row[9]} {row[10]}".strip()  # as Commodity.__str__
        self.contract = contract
        # (company id, is active) of the warehouse asked about, or None
        self.warehouse = (row[11], bool(row[12])) if row[11] is not None else None


class BalanceRow:
    """A locked StockBalance row."""

    __slots__ = (
        "commodity_id",
        "last_posting_date",
        "pk",
        "quantity",
        "updated_at",
        "value",
        "warehouse_id",
    )

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.pk, self.warehouse_id, self.commodity_id = row[:3]
        self.quantity = _number(row[3], costing.MILLI)
        self.value = _number(row[4], costing.CENT)
        self.last_posting_date = _day(row[5])
        self.updated_at: datetime.datetime | None = None


def locked_contract_lines(
    contract_id: int | None, warehouse_id: int | None = None
) -> list[ContractLineRow]:
    """The contract's lines, read after locking the contract row (it guards their executed
    quantities). Two statements on purpose: a line read in the locking statement would be the
    version from before the wait, and its executed quantity stale. With `warehouse_id`, each
    line also carries that warehouse's company and whether it is active (`.warehouse`), which
    saves the posting a statement."""
    if not contract_id:
        return []
    found = fetch(
        f"SELECT id, company_id, partner_id, kind, status, number, revision, original_id "  # noqa: S608
        f"FROM {_table(Contract)} WHERE id = %s{_for_update()}",
        [contract_id],
    )
    if not found:
        return []
    contract = ContractRow(found[0])
    warehouse = _table(Warehouse)
    rows = fetch(
        "SELECT l.id, l.line_number, l.commodity_id, l.quantity, l.unit_price, l.tax_rate, "  # noqa: S608
        "l.quantity_tolerance_percent, l.executed_quantity, c.tolerance_percent, c.name, "
        f"c.spec, (SELECT company_id FROM {warehouse} WHERE id = %s), "
        f"(SELECT is_active FROM {warehouse} WHERE id = %s) "
        f"FROM {_table(ContractLine)} l JOIN {_table(Commodity)} c "
        "ON c.id = l.commodity_id WHERE l.contract_id = %s ORDER BY l.line_number",
        [warehouse_id or 0, warehouse_id or 0, contract_id],
    )
    return [ContractLineRow(row, contract) for row in rows]


def lock_balances(company_id: int, keys: Sequence[SeriesKey]) -> dict[SeriesKey, BalanceRow]:
    """The balance rows of these series, locked in (warehouse, commodity) order."""
    if not keys:
        return {}
    by_warehouse: dict[int, list[int]] = defaultdict(list)
    for warehouse_id, commodity_id in keys:
        by_warehouse[warehouse_id].append(commodity_id)
    conditions = []
    params: list[Any] = [company_id]
    for warehouse_id, commodity_ids in sorted(by_warehouse.items()):
        marks = ", ".join("%s" for _c in commodity_ids)
        conditions.append(f"(warehouse_id = %s AND commodity_id IN ({marks}))")
        params += [warehouse_id, *commodity_ids]
    rows = fetch(
        "SELECT id, warehouse_id, commodity_id, quantity, value, last_posting_date "  # noqa: S608
        f"FROM {_table(StockBalance)} WHERE company_id = %s AND ({' OR '.join(conditions)}) "
        f"ORDER BY warehouse_id, commodity_id{_for_update()}",
        params,
    )
    return {(row[1], row[2]): BalanceRow(row) for row in rows}


def create_balances(company_id: int, keys: Sequence[SeriesKey]) -> None:
    """Empty balance rows for series that have none (a concurrent creator wins quietly)."""
    now = moment(clock.now())
    one = "(%s, %s, %s, 0, 0, %s)"
    execute(
        f"INSERT INTO {_table(StockBalance)} (company_id, warehouse_id, commodity_id, "  # noqa: S608
        f"quantity, value, updated_at) VALUES {', '.join([one] * len(keys))} "
        "ON CONFLICT (company_id, warehouse_id, commodity_id) DO NOTHING",
        [value for w, c in keys for value in (company_id, w, c, now)],
    )


def insert_instance(instance: Any, fields: Sequence[str]) -> None:
    """INSERT a model instance's `fields` (plain values) and give it its id, as save() would."""
    meta = instance._meta
    columns = [meta.get_field(name).column for name in fields]
    (instance.pk,) = insert_rows(type(instance), columns, [[getattr(instance, f) for f in fields]])
    instance._state.adding = False
    instance._state.db = connection.alias


# ---------------------------------------------------------------- the ledger writer


@dataclass(eq=False)
class LedgerMovement:
    """One new ledger entry of a posting, before and after it is valued."""

    warehouse_id: int
    commodity_id: int
    kind: str
    quantity: Decimal
    valuation: Valuation
    own_value: Decimal  # a fixed value (receipt, opening), a return's value, a gain's fallback
    label: str  # the input field an error names ("lines.2")
    reverses_id: int | None = None
    voucher_line_id: int | None = None
    value: Decimal = ZERO
    entry_id: int | None = None

    @property
    def key(self) -> SeriesKey:
        return (self.warehouse_id, self.commodity_id)


class _Revaluations:
    """The revaluation entries one backdated movement causes in its series: the changes are
    collected while the series is re-costed, and written in one go (COPY on PostgreSQL) once
    the backdated entry exists; `by_month` then holds their sums for the monthly totals."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.by_month: dict[tuple[datetime.date, str], Decimal] = defaultdict(Decimal)

    def _rows(self) -> Iterator[tuple[datetime.date, str, Decimal, str, int, int | None, int]]:
        """(posting date, direction, delta, voucher type, voucher id, voucher line id, id of
        the entry revalued) per change, summing `by_month` on the way."""
        months: dict[datetime.date, datetime.date] = {}
        by_month = self.by_month
        issue, stocktake = StockEntryKind.ISSUE.value, StockEntryKind.STOCKTAKE.value
        incoming, outgoing = StockDirection.IN.value, StockDirection.OUT.value
        for movement, _value, delta in self.changes:
            # ref: (id, posting_date, kind, quantity, value, reverses_id, voucher_id, line_id)
            entry_id, on, kind, quantity, _v, _r, voucher_id, line_id = movement  # the row
            if kind == issue:
                direction = outgoing
            elif kind == stocktake:
                direction = incoming if quantity > 0 else outgoing
            else:
                direction = incoming
            month = months.get(on)
            if month is None:
                month = months[on] = on.replace(day=1)
            by_month[(month, direction)] += delta
            yield on, direction, delta, kind, voucher_id, line_id, entry_id

    def write(self, *, company_id: int, key: SeriesKey, caused_by: int, now: Any) -> None:
        if not self.changes:
            return
        warehouse_id, commodity_id = key
        table = StockLedgerEntry._meta.db_table
        columns = (
            "company_id, warehouse_id, commodity_id, posting_date, kind, direction, quantity, "
            "value, voucher_type, voucher_id, voucher_line_id, revalues_id, caused_by_id, "
            "created_at"
        )
        ops = connection.ops
        stamp = ops.adapt_datetimefield_value(now)
        kind = StockEntryKind.REVALUATION.value
        if connection.vendor == "postgresql":
            prefix = f"{company_id}\t{warehouse_id}\t{commodity_id}\t"
            suffix = f"\t{caused_by}\t{stamp}\n"
            null = "\\N"
            days: dict[datetime.date, str] = {}
            lines = []
            for on, direction, delta, voucher_type, voucher_id, line_id, entry_id in self._rows():
                day = days.get(on)
                if day is None:
                    day = days[on] = on.isoformat()
                line = null if line_id is None else line_id
                lines.append(
                    f"{prefix}{day}\t{kind}\t{direction}\t0\t{delta}\t{voucher_type}"
                    f"\t{voucher_id}\t{line}\t{entry_id}{suffix}"
                )
            with connection.cursor() as cursor:
                raw = cursor.cursor  # the driver's cursor: Django's wrapper has no COPY
                with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write("".join(lines))
            return
        statement = (
            f"INSERT INTO {table} ({columns}) "  # noqa: S608 - our table, our columns
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        rows = [
            (
                company_id,
                warehouse_id,
                commodity_id,
                ops.adapt_datefield_value(on),
                kind,
                direction,
                "0",
                str(delta),
                voucher_type,
                voucher_id,
                line_id,
                entry_id,
                caused_by,
                stamp,
            )
            for on, direction, delta, voucher_type, voucher_id, line_id, entry_id in self._rows()
        ]
        with connection.cursor() as cursor:
            for start in range(0, len(rows), 5000):
                cursor.executemany(statement, rows[start : start + 5000])


class _MonthlyTotals:
    """Increments of StockMonthlyTotal rows, written by one upsert statement."""

    def __init__(self, company_id: int) -> None:
        self.company_id = company_id
        # (warehouse, commodity, month) → [in quantity, in value, out quantity, out value]
        self.rows: dict[tuple[int, int, datetime.date], list[Decimal]] = {}

    def _row(self, key: SeriesKey, on: datetime.date) -> list[Decimal]:
        slot = (key[0], key[1], on.replace(day=1))
        row = self.rows.get(slot)
        if row is None:
            row = self.rows[slot] = [ZERO, ZERO, ZERO, ZERO]
        return row

    def add(
        self, key: SeriesKey, on: datetime.date, kind: str, quantity: Decimal, value: Decimal
    ) -> None:
        row = self._row(key, on)
        if direction_of(kind, quantity) == StockDirection.IN:
            row[0] += quantity
            row[1] += value
        else:
            row[2] -= quantity
            row[3] -= value

    def add_value(
        self, key: SeriesKey, month: datetime.date, direction: str, value: Decimal
    ) -> None:
        row = self._row(key, month)
        if direction == StockDirection.IN:
            row[1] += value
        else:
            row[3] -= value

    def save(self) -> None:
        if not self.rows:
            return
        table = StockMonthlyTotal._meta.db_table
        adapt = connection.ops.adapt_datefield_value
        values = []
        params: list[Any] = []
        for (warehouse_id, commodity_id, month), amounts in sorted(self.rows.items()):
            values.append("(%s, %s, %s, %s, %s, %s, %s, %s)")
            params += [self.company_id, warehouse_id, commodity_id, adapt(month)]
            params += [str(amount) for amount in amounts]
        sets = ", ".join(
            f"{name} = {table}.{name} + excluded.{name}"
            for name in ("in_quantity", "in_value", "out_quantity", "out_value")
        )
        statement = (
            f"INSERT INTO {table} (company_id, warehouse_id, commodity_id, month, in_quantity, "  # noqa: S608
            f"in_value, out_quantity, out_value) VALUES {', '.join(values)} "
            f"ON CONFLICT (company_id, warehouse_id, commodity_id, month) DO UPDATE SET {sets}"
        )
        execute(statement, params)


@dataclass
class _Backdated:
    costing: SeriesCosting
    first: LedgerMovement
    revaluations: _Revaluations


class LedgerPosting:
    """The stock ledger side of one posting transaction in one company, at one date.

    `lock()` takes the balance rows; `value()` values every movement and, for a backdated
    series, re-costs everything after it — raising ValidationFailed naming the line when stock
    would go negative, now or at any later date, before anything is written; `write()` appends
    the entries and the revaluations and moves the balances and the monthly totals."""

    def __init__(
        self,
        *,
        company_id: int,
        posting_date: datetime.date,
        movements: list[LedgerMovement],
        names: Mapping[SeriesKey, str],
    ) -> None:
        self.company_id = company_id
        self.posting_date = posting_date
        self.movements = movements
        self.names = names
        self.balances: dict[SeriesKey, BalanceRow] = {}
        self.backdated: dict[SeriesKey, _Backdated] = {}

    # -------------------------------------------------- locking

    def lock(self, keys: Iterable[SeriesKey] = ()) -> None:
        """Lock the series of the movements (or `keys`, when the movements are only known
        under the lock); a series an inflow may open gets its balance row."""
        wanted = sorted(set(keys) or {movement.key for movement in self.movements})
        self.balances = lock_balances(self.company_id, wanted)
        inflow_keys = set(keys) or {m.key for m in self.movements if m.quantity > 0}
        missing = [key for key in wanted if key not in self.balances and key in inflow_keys]
        if missing:
            create_balances(self.company_id, missing)
            self.balances.update(lock_balances(self.company_id, missing))

    # -------------------------------------------------- valuing

    def value(self) -> None:
        by_series: dict[SeriesKey, list[LedgerMovement]] = defaultdict(list)
        for movement in self.movements:
            by_series[movement.key].append(movement)
        for key in sorted(by_series):
            series = by_series[key]
            balance = self.balances.get(key)
            if balance is None:  # never held: an outflow finds nothing
                self._refuse(series[0], ZERO)
            last = balance.last_posting_date if balance is not None else None
            if balance is not None and last is not None and self.posting_date < last:
                self._value_backdated(key, series)
            elif balance is not None:
                self._value_current(balance, series)

    def _value_current(self, balance: BalanceRow, series: list[LedgerMovement]) -> None:
        running = SeriesCosting(balance.quantity, balance.value)
        for movement in series:
            held = running.quantity
            try:
                movement.value = running.apply(
                    0, movement.quantity, movement.valuation, movement.own_value
                )
            except NegativeStock:
                self._refuse(movement, held)

    def _value_backdated(self, key: SeriesKey, series: list[LedgerMovement]) -> None:
        """Value the movements at the average of their date, then re-cost every later entry of
        the series in one pass (streamed), collecting the changed ones; refuse when the
        quantity would fall below zero at any point."""
        quantity, value = series_state_at(self.company_id, key, self.posting_date)
        running = SeriesCosting(quantity, value)
        for movement in series:
            held = running.quantity
            try:
                movement.value = running.apply(
                    0, movement.quantity, movement.valuation, movement.own_value
                )
            except NegativeStock:
                self._refuse(movement, held)
        revaluations = _Revaluations()
        booked = later_revaluations(self.company_id, key, self.posting_date)
        batches = _batches_after(self.company_id, key, self.posting_date)
        try:
            revaluations.changes.extend(running.replay_entries(batches, booked))
        except NegativeStock as refused:
            batches.close()  # stopped early: close the server-side cursor while it exists
            outflow = next((m for m in series if m.quantity < 0), series[0])
            self._refuse(outflow, ZERO, later=(refused.on, refused.quantity))
        self.backdated[key] = _Backdated(running, series[0], revaluations)

    def _refuse(
        self,
        movement: LedgerMovement,
        held: Decimal,
        later: tuple[datetime.date | None, Decimal] | None = None,
    ) -> None:
        name = self.names.get(movement.key, "")
        if later is None:
            message = _(
                "Not enough stock of %(commodity)s: %(held)s held, %(wanted)s to take out."
            ) % {
                "commodity": name,
                "held": quantity_text(held),
                "wanted": quantity_text(-movement.quantity),
            }
        else:
            on, quantity = later
            message = _(
                "Stock of %(commodity)s would fall to %(quantity)s on %(date)s: later documents "
                "already took these goods out."
            ) % {
                "commodity": name,
                "quantity": quantity_text(quantity),
                "date": on.isoformat() if on else "",
            }
        raise ValidationFailed(
            message,
            code=TradingErrorCode.INSUFFICIENT_STOCK,
            fields={f"{movement.label}.quantity": [message]},
        )

    # -------------------------------------------------- writing

    def write(self, *, voucher_type: str, voucher_id: int) -> list[int]:
        """Append the entries (and the revaluations), move the balances and monthly totals;
        returns the new entries' ids."""
        now = clock.now()
        ids = _insert_entries(
            (self.company_id, self.posting_date, voucher_type, voucher_id, moment(now)),
            [
                (
                    movement.warehouse_id,
                    movement.commodity_id,
                    movement.kind,
                    direction_of(movement.kind, movement.quantity),
                    movement.quantity,
                    movement.value,
                    movement.voucher_line_id,
                    movement.reverses_id,
                )
                for movement in self.movements
            ],
        )
        months = _MonthlyTotals(self.company_id)
        by_series: dict[SeriesKey, list[LedgerMovement]] = defaultdict(list)
        for movement, entry_id in zip(self.movements, ids, strict=True):
            movement.entry_id = entry_id
            by_series[movement.key].append(movement)
            months.add(
                movement.key, self.posting_date, movement.kind, movement.quantity, movement.value
            )
        for key, backdated in self.backdated.items():
            assert backdated.first.entry_id is not None
            backdated.revaluations.write(
                company_id=self.company_id, key=key, caused_by=backdated.first.entry_id, now=now
            )
            for (month, direction), delta in backdated.revaluations.by_month.items():
                months.add_value(key, month, direction, delta)
        changed = []
        for key, series in by_series.items():
            balance = self.balances[key]
            balance.quantity += sum((m.quantity for m in series), ZERO)
            backdated_series = self.backdated.get(key)
            if backdated_series is not None:
                if backdated_series.costing.quantity != balance.quantity:
                    raise RuntimeError(
                        f"stock series {self.company_id}/{key} does not add up to its balance"
                    )
                balance.value = backdated_series.costing.value
            else:
                balance.value += sum((m.value for m in series), ZERO)
            if balance.last_posting_date is None or balance.last_posting_date < self.posting_date:
                balance.last_posting_date = self.posting_date
            balance.updated_at = now
            changed.append(balance)
        update_rows(StockBalance, changed, ["quantity", "value", "last_posting_date", "updated_at"])
        months.save()
        return ids


@functools.cache
def _entries_statement(rows: int, vendor: str) -> str:
    """INSERT … SELECT over VALUES: what every entry of a posting shares (company, date,
    voucher, time) goes once, the rest per row — fewer parameters to send, and few enough that
    the driver keeps the parsed statement."""
    one = "(" + ", ".join(["%s"] * 8) + ")"
    return (
        f"INSERT INTO {_table(StockLedgerEntry)} (company_id, warehouse_id, commodity_id, "  # noqa: S608
        "posting_date, kind, direction, quantity, value, voucher_type, voucher_id, "
        "voucher_line_id, reverses_id, created_at) "
        "SELECT %s, column1, column2, %s, column3, column4, column5, column6, %s, %s, "
        "CAST(column7 AS bigint), CAST(column8 AS bigint), %s "
        f"FROM (VALUES {', '.join([one] * rows)}) AS movements RETURNING id"
    )


def _insert_entries(
    shared: tuple[int, datetime.date, str, int, Any], rows: Sequence[tuple[Any, ...]]
) -> list[int]:
    """shared: (company id, posting date, voucher type, voucher id, created at); rows:
    (warehouse id, commodity id, kind, direction, quantity, value, voucher line id, reverses
    id). The new entries' ids, in order."""
    company_id, posting_date, voucher_type, voucher_id, stamp = shared
    params: list[Any] = [company_id, posting_date, voucher_type, voucher_id, stamp]
    for row in rows:
        params += row
    statement = _entries_statement(len(rows), connection.vendor)
    return [row[0] for row in fetch(statement, params)]


def quantity_text(quantity: Decimal) -> str:
    return f"{quantity:,.3f}"


def _series_after(company_id: int, key: SeriesKey, after: datetime.date) -> Any:
    warehouse_id, commodity_id = key
    return StockLedgerEntry.objects.filter(
        company_id=company_id,
        warehouse_id=warehouse_id,
        commodity_id=commodity_id,
        posting_date__gt=after,
    )


def later_revaluations(company_id: int, key: SeriesKey, after: datetime.date) -> dict[int, Decimal]:
    """The revaluations already booked for entries after `after`: entry id → their sum."""
    rows = (
        _series_after(company_id, key, after)
        .filter(kind=StockEntryKind.REVALUATION)
        .values_list("revalues_id")
        .annotate(total=Sum("value"))
        .order_by()
    )
    return {entry_id: total for entry_id, total in rows}


@functools.cache
def _stream_statement(vendor: str) -> str:
    return (
        "SELECT id, posting_date, kind, quantity, value, reverses_id, voucher_id, "  # noqa: S608
        f"voucher_line_id FROM {_table(StockLedgerEntry)} WHERE company_id = %s "
        "AND warehouse_id = %s AND commodity_id = %s AND posting_date > %s AND kind <> %s "
        "ORDER BY posting_date, id"
    )


STREAM_BATCH = 20000


def _batches_after(
    company_id: int, key: SeriesKey, after: datetime.date
) -> Generator[list[tuple[Any, ...]], None, None]:
    """The series' entries after `after` (revaluations aside), in ledger order, in batches: on
    PostgreSQL through a server-side cursor of the driver, so neither side holds the whole
    series. Rows: (id, posting_date, kind, quantity, value, reverses_id, voucher_id,
    voucher_line_id)."""
    params: list[Any] = [company_id, key[0], key[1], after, StockEntryKind.REVALUATION.value]
    statement = _stream_statement(connection.vendor)
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        with connection.connection.cursor(name="trading_stock_replay") as cursor:
            cursor.itersize = STREAM_BATCH
            cursor.execute(statement, params)
            while batch := cursor.fetchmany(STREAM_BATCH):
                yield batch
        return
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        while batch := cursor.fetchmany(STREAM_BATCH):
            yield [
                (
                    row[0],
                    _day(row[1]),
                    row[2],
                    _number(row[3], costing.MILLI),
                    _number(row[4], costing.CENT),
                    *row[5:],
                )
                for row in batch
            ]
