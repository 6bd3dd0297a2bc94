"""Benchmark: an Excel export of a 200,000-row report in constant memory.

    python bench/reports.py --db sqlite|postgresql [--rows 200000]

Sets up a throwaway database (SQLite: a temporary file; PostgreSQL: the database
`qinglian_bench_reports`, dropped at the end), migrates it, creates a group, a trading company
with its finance user, warehouses, commodities, a supplier, a customer and their contracts
(through the factories the trading tests use), then seeds in bulk — not measured — `--rows`
stock ledger entries (receipts and issues valued by moving average, over a year, 200 series)
with a goods receipt or issue document behind every five of them, and the series' balances and
monthly totals. Then it exports the stock ledger report (`trading:stock_ledger_export`: date,
company, warehouse, commodity, kind, direction, quantity, value, source and its number, one row
per entry) through the real page — `django.test.Client`, the view, the scoped selector, the
streamed `QuerySet.iterator` and XlsxWriter in constant-memory mode into a temporary file,
streamed back as the response, which the benchmark reads and counts:

1. a tenth of the rows (a date filter), with tracemalloc on: the Python heap's peak;
2. every row, timed (no tracemalloc): rows per second, and the growth of the process's peak
   resident memory during the export (VmHWM reset through /proc/self/clear_refs);
3. every row again with tracemalloc on: the Python heap's peak;

and reads the full workbook back (openpyxl, read-only) to check it holds every entry. Constant
memory shows as a peak that does not grow with ten times the rows. Progress goes to stderr;
the last line of stdout is one JSON object (see bench/README.md). It exits 1 when the workbook
does not hold every entry.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness import DEFAULT_POSTGRES_SERVER, setup_django, throwaway_database

WAREHOUSES = 10
COMMODITIES = 20
DAYS = 365
ENTRIES_PER_DOCUMENT = 5
CHUNK = 20_000


def log(message: str) -> None:
    print(f"[bench reports] {message}", file=sys.stderr, flush=True)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument(
        "--rows", type=int, default=200_000, help="ledger entries exported (default 200000)"
    )
    parser.add_argument("--no-verify", action="store_true", help="skip reading the workbook back")
    parser.add_argument(
        "--postgres-server",
        default=os.environ.get("BENCH_POSTGRES_SERVER", DEFAULT_POSTGRES_SERVER),
        help=f"PostgreSQL server URL without a database name (default {DEFAULT_POSTGRES_SERVER})",
    )
    arguments = parser.parse_args()
    if arguments.rows < 1000:
        parser.error("--rows must be at least 1000")
    return arguments


# ---------------------------------------------------------------- memory


def _status(field: str) -> int:
    """A /proc/self/status figure in bytes (0 where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Reset the process's peak resident memory (VmHWM) to its current size (Linux ≥ 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# ---------------------------------------------------------------- the organisation and history


@dataclass
class World:
    company: Any
    finance: Any
    warehouses: list[Any]
    commodities: list[Any]
    supplier: Any
    customer: Any
    purchase: Any
    sales: Any


def make_world() -> World:
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_company, make_user
    from qinglian.trading.enums import ContractKind, PartnerKind
    from qinglian.trading.factories import (
        make_commodity,
        make_contract,
        make_partner,
        make_warehouse,
    )

    group = make_company(parent=None, name="基准测试集团", code="BENCH")
    company = make_company(parent=group, name="基准贸易公司", code="BENCHT")
    finance = make_user(company=company, roles=(RoleCode.FINANCE,), username="finance", name="财务")
    supplier = make_partner(company=group, kind=PartnerKind.SUPPLIER, name="基准供应商")
    customer = make_partner(company=group, kind=PartnerKind.CUSTOMER, name="基准客户")
    commodities = [
        make_commodity(company=group, code=f"C{n:02d}", name=f"钢材{n}") for n in range(COMMODITIES)
    ]
    lines = [(c, "1000000000", "4500.00") for c in commodities[:5]]
    return World(
        company=company,
        finance=finance,
        warehouses=[
            make_warehouse(company=company, code=f"W{n}", name=f"{n}号库")
            for n in range(WAREHOUSES)
        ],
        commodities=commodities,
        supplier=supplier,
        customer=customer,
        purchase=make_contract(
            company=company,
            partner=supplier,
            owner=finance,
            kind=ContractKind.PURCHASE,
            lines=lines,
        ),
        sales=make_contract(
            company=company, partner=customer, owner=finance, kind=ContractKind.SALES, lines=lines
        ),
    )


def seed(world: World, rows: int) -> tuple[datetime.date, datetime.date]:
    """`rows` ledger entries over the last year, one series at a time (receipts and issues at
    moving-average cost), a document behind every five; then the balances and monthly totals
    from the ledger. Chunks of 20,000 keep the seeding's own memory small."""
    from django.db import connection, transaction

    from qinglian.core import clock
    from qinglian.trading import costing
    from qinglian.trading.models.stock import (
        StockBalance,
        StockDocument,
        StockLedgerEntry,
        StockMonthlyTotal,
    )

    series = [(w.pk, c.pk) for w in world.warehouses for c in world.commodities]
    end = clock.today() - datetime.timedelta(days=1)
    start = end - datetime.timedelta(days=DAYS - 1)
    per_series = -(-rows // len(series))
    rng = random.Random(11)
    table = StockLedgerEntry._meta.db_table
    columns = (
        "company_id, warehouse_id, commodity_id, posting_date, kind, direction, quantity, value, "
        "voucher_type, voucher_id, created_at"
    )
    company_id = world.company.pk
    stamp = datetime.datetime.now(datetime.UTC)
    written = 0
    document_number = 0
    began = time.perf_counter()
    pending: list[tuple[Any, ...]] = []

    def flush() -> None:
        nonlocal document_number
        if not pending:
            return
        with transaction.atomic():
            # one document per five entries of a series and day-run
            documents = []
            for index in range(0, len(pending), ENTRIES_PER_DOCUMENT):
                warehouse_id, _commodity, on, kind, *_rest = pending[index]
                document_number += 1
                documents.append(
                    StockDocument(
                        company_id=company_id,
                        number=f"{'RK' if kind == 'receipt' else 'CK'}-{document_number:07d}",
                        kind=kind,
                        status="posted",
                        warehouse_id=warehouse_id,
                        contract=world.purchase if kind == "receipt" else world.sales,
                        partner=world.supplier if kind == "receipt" else world.customer,
                        posting_date=on,
                        created_by=world.finance,
                        posted_by=world.finance,
                    )
                )
            StockDocument.objects.bulk_create(documents, batch_size=2000)
            if any(d.pk is None for d in documents):
                numbers = [d.number for d in documents]
                ids = dict(
                    StockDocument.objects.filter(
                        company_id=company_id, number__in=numbers
                    ).values_list("number", "pk")
                )
                voucher_ids = [ids[number] for number in numbers]
            else:
                voucher_ids = [d.pk for d in documents]
            records = [
                (*row, voucher_ids[index // ENTRIES_PER_DOCUMENT])
                for index, row in enumerate(pending)
            ]
            if connection.vendor == "postgresql":
                buffer = io.StringIO()
                for warehouse_id, commodity_id, on, kind, direction, q, v, voucher in records:
                    buffer.write(
                        f"{company_id}\t{warehouse_id}\t{commodity_id}\t{on.isoformat()}\t"
                        f"{kind}\t{direction}\t{q}\t{v}\t{kind}\t{voucher}\t{stamp.isoformat()}\n"
                    )
                with (
                    connection.cursor() as cursor,
                    cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
                ):
                    copy.write(buffer.getvalue())
            else:
                text_stamp = str(stamp.replace(tzinfo=None))
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 11)})",
                        [
                            (
                                company_id,
                                warehouse_id,
                                commodity_id,
                                on.isoformat(),
                                kind,
                                direction,
                                str(q),
                                str(v),
                                kind,
                                voucher,
                                text_stamp,
                            )
                            for warehouse_id, commodity_id, on, kind, direction, q, v, voucher in (
                                records
                            )
                        ],
                    )
        pending.clear()

    for warehouse_id, commodity_id in series:
        if written >= rows:
            break
        state = costing.SeriesCosting()
        count = min(per_series, rows - written)
        # entries in runs of five of one kind (a document's worth)
        receiving = True
        for number in range(count):
            on = start + datetime.timedelta(days=number * DAYS // count)
            if number % ENTRIES_PER_DOCUMENT == 0:  # a document's worth of one kind
                run = number // ENTRIES_PER_DOCUMENT
                receiving = run % 3 == 0 or state.quantity < 50
            if receiving:
                quantity = Decimal(rng.randrange(10, 50))
                value = state.apply(
                    0, quantity, costing.Valuation.FIXED, quantity * rng.randrange(3800, 4200)
                )
                pending.append((warehouse_id, commodity_id, on, "receipt", "in", quantity, value))
            else:
                quantity = Decimal(rng.randrange(1, 10))
                value = state.apply(0, -quantity, costing.Valuation.AVERAGE, Decimal(0))
                pending.append((warehouse_id, commodity_id, on, "issue", "out", -quantity, value))
            if (number + 1) % ENTRIES_PER_DOCUMENT == 0 and len(pending) >= CHUNK:
                written += len(pending)
                flush()
                log(f"seeded {written:,} entries")
        written += len(pending)
        # close the series' last document so no document spans two series
        while len(pending) % ENTRIES_PER_DOCUMENT:
            pending.pop()
            written -= 1
        flush()
    with transaction.atomic(), connection.cursor() as cursor:
        sqlite = connection.vendor == "sqlite"
        month = (
            "date(posting_date, 'start of month')"
            if sqlite
            else "date_trunc('month', posting_date)::date"
        )

        def total(expression: str, places: int) -> str:
            if not sqlite:
                return f"SUM({expression})"
            return f"(SUM(CAST(ROUND(({expression}) * {10**places}) AS INTEGER)) / {10**places}.0)"

        cursor.execute(
            f"INSERT INTO {StockMonthlyTotal._meta.db_table} (company_id, warehouse_id, "
            "commodity_id, month, in_quantity, in_value, out_quantity, out_value) "
            f"SELECT company_id, warehouse_id, commodity_id, {month}, "
            + ", ".join(
                total(f"CASE WHEN direction = '{side}' THEN {sign}{column} ELSE 0 END", places)
                for side, sign, column, places in (
                    ("in", "", "quantity", 3),
                    ("in", "", "value", 2),
                    ("out", "-", "quantity", 3),
                    ("out", "-", "value", 2),
                )
            )
            + f" FROM {table} GROUP BY company_id, warehouse_id, commodity_id, {month}"
        )
        cursor.execute(
            f"INSERT INTO {StockBalance._meta.db_table} (company_id, warehouse_id, "
            "commodity_id, quantity, value, last_posting_date, updated_at) "
            f"SELECT company_id, warehouse_id, commodity_id, {total('quantity', 3)}, "
            f"{total('value', 2)}, MAX(posting_date), %s FROM {table} "
            "GROUP BY company_id, warehouse_id, commodity_id",
            [connection.ops.adapt_datetimefield_value(datetime.datetime.now(datetime.UTC))],
        )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    log(
        f"seeded {StockLedgerEntry.objects.count():,} entries and {document_number:,} documents "
        f"in {time.perf_counter() - began:.0f} s"
    )
    return start, end


# ---------------------------------------------------------------- the export


@dataclass
class Export:
    rows: int
    seconds: float
    bytes: int
    peak_heap: int  # tracemalloc's peak (0 when not traced)
    rss_growth: int  # peak resident memory above the start (0 when not measured)
    path: str | None


def export(world: World, params: dict[str, str], *, trace: bool, keep: bool = False) -> Export:
    """The ledger export through the page, the response read chunk by chunk (to a file when
    `keep`)."""
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(world.finance)
    client.get(reverse("trading:report_index"))  # the session and the scope warm
    target = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False) if keep else None  # noqa: SIM115
    size = 0
    rss_start = _status("VmRSS")
    measured = reset_peak_rss()
    if trace:
        tracemalloc.start()
    began = time.perf_counter()
    try:
        response: Any = client.get(reverse("trading:stock_ledger_export"), params)
        assert response.status_code == 200, response.status_code
        for block in response.streaming_content:
            size += len(block)
            if target is not None:
                target.write(block)
        response.close()
        seconds = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
    finally:
        if trace:
            tracemalloc.stop()
        if target is not None:
            target.close()
    growth = max(0, _status("VmHWM") - rss_start) if measured else 0
    rows = _rows_of(params, world)
    return Export(rows, seconds, size, peak, growth, target.name if target else None)


def _rows_of(params: dict[str, str], world: World) -> int:
    from qinglian.trading.selectors.stock import stock_ledger_list

    date_to = datetime.date.fromisoformat(params["date_to"]) if "date_to" in params else None
    return stock_ledger_list(user=world.finance, date_to=date_to).count()


def verify(path: str, expected: int) -> bool:
    """Read the workbook back (read-only): one row per entry, each starting with its date."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    rows = sum(
        1
        for row in book.worksheets[0].iter_rows(values_only=True)
        if row and isinstance(row[0], datetime.datetime)
    )
    book.close()
    log(f"read back {rows:,} rows")
    return rows == expected


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    log(f"migrating ({connection.vendor})")
    call_command("migrate", verbosity=0, interactive=False)
    world = make_world()
    start, _end = seed(world, arguments.rows)
    tenth = start + datetime.timedelta(days=DAYS // 10 - 1)

    small = export(world, {"date_to": tenth.isoformat()}, trace=True)
    log(f"a tenth: {small.rows:,} rows, heap peak {small.peak_heap / 2**20:.1f} MB")
    full = export(world, {}, trace=False, keep=not arguments.no_verify)
    log(
        f"every row: {full.rows:,} rows in {full.seconds:.1f} s "
        f"({full.rows / full.seconds:,.0f} rows/s), {full.bytes / 2**20:.1f} MB of .xlsx, "
        f"peak RSS +{full.rss_growth / 2**20:.1f} MB"
    )
    traced = export(world, {}, trace=True)
    log(f"every row, traced: heap peak {traced.peak_heap / 2**20:.1f} MB")
    intact = True
    if full.path is not None:
        intact = verify(full.path, full.rows)
        os.unlink(full.path)
    return {
        "bench": "reports",
        "db": arguments.db,
        "rows": full.rows,
        "report": "stock ledger (trading:stock_ledger_export)",
        "export_s": round(full.seconds, 2),
        "export_rows_per_s": round(full.rows / full.seconds),
        "xlsx_mb": round(full.bytes / 2**20, 2),
        "peak_mem_mb": round(traced.peak_heap / 2**20, 2),
        "peak_mem_small_mb": round(small.peak_heap / 2**20, 2),
        "small_rows": small.rows,
        "rss_growth_mb": round(full.rss_growth / 2**20, 2),
        "rows_verified": None if arguments.no_verify else intact,
    }


def main() -> int:
    arguments = parse_arguments()
    with throwaway_database(arguments.db, "reports", arguments.postgres_server, log) as url:
        setup_django(url)
        result = run(arguments)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["rows_verified"] is not False else 1


if __name__ == "__main__":
    sys.exit(main())
