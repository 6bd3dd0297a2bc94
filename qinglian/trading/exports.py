"""Excel (.xlsx) exports of the trading reports and of the stock ledger, with the figures the
pages show.

Written by XlsxWriter in constant-memory mode: each row goes to disk as soon as it is written
(strings inline, no shared-string table), into an anonymous temporary file that the response
then streams — so the memory an export needs does not grow with its rows. The stock ledger is
read in chunks (`QuerySet.iterator`) and the names it shows come from small caches, so a
200,000-entry export holds a chunk at a time (see bench/reports.py).

Numbers are written as numbers (quantities to three decimals, money to two, percentages as
plain numbers with two decimals), dates as dates; a figure the page shows as "—" is left blank.
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

import xlsxwriter
from django.db.models import QuerySet
from django.http import FileResponse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.core.workbook import XLSX_CONTENT_TYPE
from qinglian.org.models import Company

from .enums import StockDirection, StockDocumentKind, StockEntryKind
from .models import Commodity, Contract, Warehouse
from .models.stock import StockDocument, StockLedgerEntry, StockOpening, Stocktake
from .selectors import reports

TEXT, QUANTITY, MONEY, PERCENT, DATE, INTEGER = (
    "text",
    "quantity",
    "money",
    "percent",
    "date",
    "integer",
)
FORMATS = {
    QUANTITY: "#,##0.000",
    MONEY: "#,##0.00",
    PERCENT: "0.00",
    DATE: "yyyy-mm-dd",
    INTEGER: "0",
}
CHUNK = 2000


@dataclass(frozen=True)
class Column:
    header: str | Promise
    kind: str = TEXT
    width: int = 14


def write_xlsx(
    target: IO[bytes] | str,
    *,
    title: str,
    parameters: Sequence[str],
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    notes: Sequence[str] = (),
) -> int:
    """One sheet: the title, the report's parameters (one line each), a blank line, the header
    row (frozen), then `rows`, then `notes`. Returns the number of rows written."""
    workbook = xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    try:
        sheet = workbook.add_worksheet(title[:31].replace("/", "-"))
        bold = workbook.add_format({"bold": True})
        header = workbook.add_format({"bold": True, "bg_color": "#E9ECEF", "border": 1})
        formats = {
            kind: workbook.add_format({"num_format": code}) for kind, code in FORMATS.items()
        }
        for index, column in enumerate(columns):
            sheet.set_column(index, index, column.width)
        sheet.write_string(0, 0, title, bold)
        line = 1
        for parameter in parameters:
            sheet.write_string(line, 0, parameter)
            line += 1
        line += 1
        for index, column in enumerate(columns):
            sheet.write_string(line, index, str(column.header), header)
        sheet.freeze_panes(line + 1, 0)
        writers = [_writer(sheet, column.kind, formats) for column in columns]
        count = 0
        for row in rows:
            line += 1
            count += 1
            for index, value in enumerate(row):
                if value is not None and value != "":
                    writers[index](line, index, value)
        line += 1
        for note in notes:
            line += 1
            sheet.write_string(line, 0, note)
    finally:
        workbook.close()
    return count


EXCEL_EPOCH = datetime.date(1899, 12, 30)  # day 0 of Excel's 1900 date system, as it counts


def _writer(sheet: Any, kind: str, formats: dict[str, Any]) -> Callable[[int, int, Any], Any]:
    """The cell writer of a column kind (chosen once per column, not per cell: an export
    writes millions of cells). A date is written as its Excel serial number with a date
    format, which is what `write_datetime` stores, without its per-cell conversions."""
    if kind == TEXT:
        return lambda row, column, value: sheet.write_string(row, column, str(value))
    number_format = formats[kind]
    if kind == DATE:
        return lambda row, column, value: sheet.write_number(
            row, column, (value - EXCEL_EPOCH).days, number_format
        )
    return lambda row, column, value: sheet.write_number(row, column, float(value), number_format)


def xlsx_response(
    filename: str,
    *,
    title: str,
    parameters: Sequence[str],
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    notes: Sequence[str] = (),
) -> FileResponse:
    """The workbook written to an anonymous temporary file (gone when the response closes
    it), streamed as an attachment."""
    target = tempfile.TemporaryFile()  # noqa: SIM115 - the response owns and closes it
    try:
        write_xlsx(
            target, title=title, parameters=parameters, columns=columns, rows=rows, notes=notes
        )
        target.seek(0)
    except BaseException:
        target.close()
        raise
    return FileResponse(
        target, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE
    )


# ---------------------------------------------------------------- 1. PSI summary


def psi_columns() -> list[Column]:
    return [
        Column(_("Company"), width=18),
        Column(_("Warehouse"), width=16),
        Column(_("Commodity"), width=22),
        Column(_("Unit"), width=6),
        Column(_("Opening quantity"), QUANTITY),
        Column(_("Opening value"), MONEY, 16),
        Column(_("In quantity"), QUANTITY),
        Column(_("In value"), MONEY, 16),
        Column(_("Out quantity"), QUANTITY),
        Column(_("Out value"), MONEY, 16),
        Column(_("Closing quantity"), QUANTITY),
        Column(_("Closing value"), MONEY, 16),
    ]


def psi_rows(report: reports.PsiReport) -> Iterator[list[Any]]:
    for row in [*report.rows, report.total]:
        is_total = row is report.total
        yield [
            _("Total") if is_total else row.company,
            "" if is_total else row.warehouse,
            "" if is_total else row.commodity,
            "" if is_total else row.unit,
            row.opening_quantity,
            row.opening_value,
            row.in_quantity,
            row.in_value,
            row.out_quantity,
            row.out_value,
            row.closing_quantity,
            row.closing_value,
        ]


def psi_xlsx(report: reports.PsiReport, parameters: Sequence[str]) -> FileResponse:
    return xlsx_response(
        f"进销存汇总-{report.date_from:%Y%m%d}-{report.date_to:%Y%m%d}.xlsx",
        title=_("Purchase–sales–inventory summary"),
        parameters=parameters,
        columns=psi_columns(),
        rows=psi_rows(report),
    )


# ---------------------------------------------------------------- 2. receivables ageing


def ageing_columns() -> list[Column]:
    return [
        Column(_("Company"), width=18),
        Column(_("Customer"), width=28),
        *(Column(label, MONEY, 16) for _key, label in reports.AGEING_BUCKETS),
        Column(_("Overdue"), MONEY, 16),
        Column(_("Unapplied credits"), MONEY, 16),
        Column(_("Balance"), MONEY, 16),
    ]


def ageing_rows(report: reports.AgeingReport) -> Iterator[list[Any]]:
    for row in [*report.rows, report.total]:
        is_total = row is report.total
        yield [
            _("Total") if is_total else row.company_name,
            "" if is_total else row.partner_name,
            *(row.bucket(key) for key, _label in reports.AGEING_BUCKETS),
            row.overdue,
            row.credits,
            row.balance,
        ]


def ageing_xlsx(report: reports.AgeingReport, parameters: Sequence[str]) -> FileResponse:
    return xlsx_response(
        f"应收账龄-{report.as_of:%Y%m%d}.xlsx",
        title=_("Receivables ageing"),
        parameters=parameters,
        columns=ageing_columns(),
        rows=ageing_rows(report),
    )


# ---------------------------------------------------------------- 3. contract execution


def execution_columns() -> list[Column]:
    return [
        Column(_("Contract"), width=18),
        Column(_("Kind"), width=12),
        Column(_("Counterparty"), width=26),
        Column(_("Company"), width=14),
        Column(_("Status"), width=10),
        Column(_("Line"), INTEGER, 6),
        Column(_("Commodity"), width=22),
        Column(_("Contracted quantity"), QUANTITY),
        Column(_("Contracted amount"), MONEY, 16),
        Column(_("Executed quantity"), QUANTITY),
        Column(_("Executed amount"), MONEY, 16),
        Column(_("Remaining quantity"), QUANTITY),
        Column(_("Remaining amount"), MONEY, 16),
        Column(_("Executed (%)"), PERCENT, 10),
        Column(_("Invoiced"), MONEY, 16),
        Column(_("Settled"), MONEY, 16),
        Column(_("Opening balance"), MONEY, 16),
        Column(_("Outstanding"), MONEY, 16),
    ]


def execution_rows(contracts: Iterable[reports.ContractExecution]) -> Iterator[list[Any]]:
    """A row per contract (its amounts and money), then a row per line (its quantities)."""
    for contract in contracts:
        yield [
            contract.number,
            contract.kind_label,
            contract.partner,
            contract.company,
            contract.status_label,
            None,
            "",
            None,
            contract.amount,
            None,
            contract.executed_amount,
            None,
            contract.remaining_amount,
            contract.percent_executed,
            contract.invoiced,
            contract.settled,
            contract.opening,
            contract.outstanding,
        ]
        for line in contract.lines:
            yield [
                contract.number,
                "",
                "",
                "",
                "",
                line.line_number,
                line.commodity,
                line.quantity,
                line.amount,
                line.executed_quantity,
                line.executed_amount,
                line.remaining_quantity,
                line.remaining_amount,
                line.percent_executed,
                None,
                None,
                None,
                None,
            ]


def chunked_executions(
    contracts: QuerySet[Contract], size: int = 200
) -> Iterator[reports.ContractExecution]:
    """The execution of every contract of the list, computed a chunk of contracts at a time."""
    chunk: list[Contract] = []
    for contract in contracts.iterator(chunk_size=size):
        chunk.append(contract)
        if len(chunk) == size:
            yield from reports.contract_execution(chunk)
            chunk = []
    if chunk:
        yield from reports.contract_execution(chunk)


def execution_xlsx(contracts: QuerySet[Contract], parameters: Sequence[str]) -> FileResponse:
    return xlsx_response(
        "合同执行.xlsx",
        title=_("Contract execution"),
        parameters=parameters,
        columns=execution_columns(),
        rows=execution_rows(chunked_executions(contracts)),
    )


# ---------------------------------------------------------------- 4. deal margin


def margin_columns() -> list[Column]:
    return [
        Column(_("Contract"), width=18),
        Column(_("Customer"), width=28),
        Column(_("Company"), width=14),
        Column(_("Status"), width=10),
        Column(_("Quantity issued"), QUANTITY),
        Column(_("Revenue excl. VAT"), MONEY, 16),
        Column(_("Cost"), MONEY, 16),
        Column(_("Margin"), MONEY, 16),
        Column(_("Margin (%)"), PERCENT, 10),
    ]


def margin_rows(report: reports.MarginReport) -> Iterator[list[Any]]:
    for row in [*report.rows, report.total]:
        is_total = row is report.total
        yield [
            _("Total") if is_total else row.number,
            row.partner,
            row.company,
            row.status_label,
            row.quantity,
            row.revenue,
            row.cost,
            row.margin,
            row.margin_percent,
        ]


def margin_xlsx(report: reports.MarginReport, parameters: Sequence[str]) -> FileResponse:
    return xlsx_response(
        "销售合同毛利.xlsx",
        title=_("Deal margin per sales contract"),
        parameters=parameters,
        columns=margin_columns(),
        rows=margin_rows(report),
    )


# ---------------------------------------------------------------- 5. supplier concentration


def concentration_columns() -> list[Column]:
    return [
        Column(_("Rank"), INTEGER, 6),
        Column(_("Supplier"), width=30),
        Column(_("Purchases incl. VAT"), MONEY, 18),
        Column(_("Share (%)"), PERCENT, 10),
        Column(_("Cumulative share (%)"), PERCENT, 12),
    ]


def concentration_rows(report: reports.ConcentrationReport) -> Iterator[list[Any]]:
    for row in report.rows:
        yield [row.rank, row.partner, row.amount, row.share, row.cumulative_share]
    yield [None, _("All suppliers"), report.total_amount, None, None]


def concentration_xlsx(
    report: reports.ConcentrationReport, parameters: Sequence[str]
) -> FileResponse:
    return xlsx_response(
        f"供应商集中度-{report.date_from:%Y%m%d}-{report.date_to:%Y%m%d}.xlsx",
        title=_("Supplier concentration"),
        parameters=parameters,
        columns=concentration_columns(),
        rows=concentration_rows(report),
        notes=[
            _("Suppliers: %(count)d; top %(top)d share: %(share)s %%; HHI: %(hhi)s")
            % {
                "count": report.supplier_count,
                "top": report.top or report.supplier_count,
                "share": report.top_share if report.top_share is not None else "—",
                "hhi": report.hhi,
            }
        ],
    )


# ---------------------------------------------------------------- the stock ledger


def ledger_columns() -> list[Column]:
    return [
        Column(_("Date"), DATE, 11),
        Column(_("Company"), width=16),
        Column(_("Warehouse"), width=14),
        Column(_("Commodity"), width=22),
        Column(_("Kind"), width=12),
        Column(_("In or out"), width=8),
        Column(_("Quantity"), QUANTITY),
        Column(_("Value"), MONEY, 16),
        Column(_("Source"), width=14),
        Column(_("Number"), width=22),
        Column(_("Entry"), INTEGER, 10),
    ]


class _Names:
    """Names by id, loaded as they are first met (a few hundred at most)."""

    def __init__(self, load: Callable[[set[int]], dict[int, str]]) -> None:
        self.load = load
        self.known: dict[int, str] = {}

    def prepare(self, ids: Iterable[int]) -> None:
        missing = {pk for pk in ids if pk not in self.known}
        if missing:
            self.known.update(self.load(missing))

    def __getitem__(self, pk: int) -> str:
        return self.known.get(pk, "")


def _company_names(ids: set[int]) -> dict[int, str]:
    return {
        pk: short or name
        for pk, short, name in Company.objects.filter(pk__in=ids).values_list(
            "pk", "short_name", "name"
        )
    }


def _warehouse_names(ids: set[int]) -> dict[int, str]:
    return dict(Warehouse.objects.filter(pk__in=ids).values_list("pk", "name"))


def _commodity_names(ids: set[int]) -> dict[int, str]:
    return {c.pk: str(c) for c in Commodity.objects.filter(pk__in=ids)}


def _voucher_numbers(rows: Sequence[tuple[Any, ...]]) -> dict[tuple[str, int], str]:
    """The number of each row's source (a document, stocktake or opening batch)."""
    wanted: dict[str, set[int]] = {}
    for row in rows:
        wanted.setdefault(row[8], set()).add(row[9])
    numbers: dict[tuple[str, int], str] = {}
    for voucher_type, ids in wanted.items():
        found: Any
        if voucher_type in StockDocumentKind.values:
            found = StockDocument.objects.filter(pk__in=ids).values_list("pk", "number")
        elif voucher_type == StockEntryKind.STOCKTAKE:
            found = Stocktake.objects.filter(pk__in=ids).values_list("pk", "number")
        elif voucher_type == StockEntryKind.OPENING:
            found = StockOpening.objects.filter(pk__in=ids).values_list("pk", "number")
        else:
            continue
        numbers.update({(voucher_type, pk): number for pk, number in found})
    return numbers


LEDGER_FIELDS = (
    "posting_date",
    "company_id",
    "warehouse_id",
    "commodity_id",
    "kind",
    "direction",
    "quantity",
    "value",
    "voucher_type",
    "voucher_id",
    "id",
)


def ledger_rows(entries: QuerySet[StockLedgerEntry], chunk: int = CHUNK) -> Iterator[list[Any]]:
    """The entries in ledger order, streamed a chunk at a time (no model instances)."""
    companies = _Names(_company_names)
    warehouses = _Names(_warehouse_names)
    commodities = _Names(_commodity_names)
    kinds = {str(value): str(label) for value, label in StockEntryKind.choices}
    directions = {str(value): str(label) for value, label in StockDirection.choices}
    batch: list[tuple[Any, ...]] = []

    def flush() -> Iterator[list[Any]]:
        companies.prepare(row[1] for row in batch)
        warehouses.prepare(row[2] for row in batch)
        commodities.prepare(row[3] for row in batch)
        numbers = _voucher_numbers(batch)
        for row in batch:
            yield [
                row[0],
                companies[row[1]],
                warehouses[row[2]],
                commodities[row[3]],
                kinds.get(row[4], row[4]),
                directions.get(row[5], row[5]),
                row[6],
                row[7],
                kinds.get(row[8], row[8]),
                numbers.get((row[8], row[9]), f"#{row[9]}"),
                row[10],
            ]

    for row in entries.values_list(*LEDGER_FIELDS).iterator(chunk_size=chunk):
        batch.append(row)
        if len(batch) == chunk:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def ledger_xlsx_to(
    target: IO[bytes] | str, entries: QuerySet[StockLedgerEntry], parameters: Sequence[str]
) -> int:
    """Write the ledger export to `target` (the benchmark's entry point too)."""
    return write_xlsx(
        target,
        title=_("Stock ledger"),
        parameters=parameters,
        columns=ledger_columns(),
        rows=ledger_rows(entries),
    )


def ledger_xlsx(entries: QuerySet[StockLedgerEntry], parameters: Sequence[str]) -> FileResponse:
    return xlsx_response(
        "库存台账.xlsx",
        title=_("Stock ledger"),
        parameters=parameters,
        columns=ledger_columns(),
        rows=ledger_rows(entries),
    )


PARAMETER_LABEL = gettext_lazy("%(name)s: %(value)s")


def parameter(name: str | Promise, value: Any) -> str:
    """One line of an export's parameters ("Period: 2026-01-01 – 2026-03-31")."""
    if isinstance(value, datetime.date):
        value = value.isoformat()
    if isinstance(value, Decimal):
        value = f"{value:,}"
    return str(PARAMETER_LABEL) % {"name": name, "value": value}
