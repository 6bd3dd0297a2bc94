"""Trading selectors: stock. Reads, always scoped to the user.

`psi_summary` (进销存汇总) reads the period snapshots: StockMonthlyTotal rows for the whole
months of the period and before it, and the ledger only for the partial months at its edges —
so it costs (series × months) plus at most two months of entries, however long the history.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import BigIntegerField, Count, F, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Round
from django.utils.translation import gettext as _

from qinglian.core.errors import NotFound
from qinglian.org.models import Company
from qinglian.org.scopes import data_scope

from ..costing import CENT, MILLI, ZERO, net_value
from ..enums import PostingStatus, StockDirection, StockDocumentKind, StockEntryKind
from ..models import Commodity, Contract, ContractLine, Warehouse
from ..models.stock import (
    StockBalance,
    StockDocument,
    StockDocumentLine,
    StockLedgerEntry,
    StockMonthlyTotal,
    StockOpening,
    Stocktake,
)
from ..permissions import scoped


def scoped_company_ids(user: Any, company_ids: Iterable[int] | None) -> list[int] | None:
    """The companies to read: those asked for, within the scope (None = the whole scope)."""
    scope = data_scope(user)
    if company_ids is None:
        return None if scope.is_group_wide else sorted(scope.read_company_ids)
    return sorted(set(company_ids) & set(scope.read_company_ids))


# ---------------------------------------------------------------- documents


def stock_document_list(
    *,
    user: Any,
    kind: str | None = None,
    status: str | None = None,
    company_id: int | None = None,
    warehouse_id: int | None = None,
    contract_id: int | None = None,
    search: str = "",
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> QuerySet[StockDocument]:
    documents = scoped(StockDocument.objects.all(), user).select_related(
        "company", "warehouse", "contract", "partner", "reverses"
    )
    if kind:
        documents = documents.filter(kind=kind)
    if status:
        documents = documents.filter(status=status)
    if company_id:
        documents = documents.filter(company_id=company_id)
    if warehouse_id:
        documents = documents.filter(warehouse_id=warehouse_id)
    if contract_id:
        documents = documents.filter(contract_id=contract_id)
    if date_from:
        documents = documents.filter(posting_date__gte=date_from)
    if date_to:
        documents = documents.filter(posting_date__lte=date_to)
    if search:
        documents = documents.filter(
            Q(number__icontains=search)
            | Q(partner__name__icontains=search)
            | Q(contract__number__icontains=search)
        )
    return documents.order_by("-posting_date", "-id")


def stock_document_access(*, user: Any, id: int) -> StockDocument:
    document = (
        scoped(StockDocument.objects.all(), user)
        .select_related(
            "company",
            "warehouse",
            "contract",
            "partner",
            "reverses",
            "created_by",
            "posted_by",
            "keeper",
        )
        .filter(pk=id)
        .first()
    )
    if document is None:
        raise NotFound(_("Document not found."))
    return document


def stock_document_lines(document: StockDocument) -> list[Any]:
    return list(document.lines.select_related("commodity", "contract_line").order_by("line_number"))


def stock_document_reversal(document: StockDocument) -> StockDocument | None:
    return StockDocument.objects.filter(reverses_id=document.pk).first()


# ---------------------------------------------------------------- stocktakes


def stocktake_list(
    *,
    user: Any,
    status: str | None = None,
    company_id: int | None = None,
    warehouse_id: int | None = None,
    kind: str | None = None,
) -> QuerySet[Stocktake]:
    stocktakes = scoped(Stocktake.objects.all(), user).select_related(
        "company", "warehouse", "counter", "approval_request"
    )
    if status:
        stocktakes = stocktakes.filter(status=status)
    if company_id:
        stocktakes = stocktakes.filter(company_id=company_id)
    if warehouse_id:
        stocktakes = stocktakes.filter(warehouse_id=warehouse_id)
    if kind:
        stocktakes = stocktakes.filter(kind=kind)
    return stocktakes.order_by("-counted_on", "-id")


def stocktake_access(*, user: Any, id: int) -> Stocktake:
    stocktake = (
        scoped(Stocktake.objects.all(), user)
        .select_related("company", "warehouse", "counter", "approval_request")
        .filter(pk=id)
        .first()
    )
    if stocktake is None:
        raise NotFound(_("Stocktake not found."))
    return stocktake


def stocktake_lines(stocktake: Stocktake) -> list[Any]:
    return list(stocktake.lines.select_related("commodity").order_by("id"))


def stock_opening_list(*, user: Any, company_id: int | None = None) -> QuerySet[StockOpening]:
    openings = scoped(StockOpening.objects.all(), user).select_related("company", "created_by")
    if company_id:
        openings = openings.filter(company_id=company_id)
    return openings.order_by("-posting_date", "-id")


def stock_opening_access(*, user: Any, id: int) -> StockOpening:
    opening = scoped(StockOpening.objects.all(), user).filter(pk=id).first()
    if opening is None:
        raise NotFound(_("Opening stock not found."))
    return opening


# ---------------------------------------------------------------- balances and the ledger


def stock_balance_list(
    *,
    user: Any,
    company_ids: Iterable[int] | None = None,
    warehouse_ids: Iterable[int] | None = None,
    commodity_ids: Iterable[int] | None = None,
    include_empty: bool = False,
) -> QuerySet[StockBalance]:
    """Current balances per (company, warehouse, commodity), with the moving-average cost as
    `unit_cost` (None when nothing is held)."""
    balances = scoped(StockBalance.objects.all(), user).select_related(
        "company", "warehouse", "commodity"
    )
    if company_ids is not None:
        balances = balances.filter(company_id__in=list(company_ids))
    if warehouse_ids is not None:
        balances = balances.filter(warehouse_id__in=list(warehouse_ids))
    if commodity_ids is not None:
        balances = balances.filter(commodity_id__in=list(commodity_ids))
    if not include_empty:
        balances = balances.filter(quantity__gt=0)
    return balances.order_by("company_id", "warehouse__code", "commodity__code")


def stock_ledger_list(
    *,
    user: Any,
    company_id: int | None = None,
    warehouse_id: int | None = None,
    commodity_id: int | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    voucher_type: str | None = None,
    voucher_id: int | None = None,
    direction: str | None = None,
    kind: str | None = None,
    caused_by_id: int | None = None,
    contract_id: int | None = None,
    contract_line_id: int | None = None,
    partner_id: int | None = None,
) -> QuerySet[StockLedgerEntry]:
    """Ledger entries in ledger order (date, then id), for drill-down: a series (company,
    warehouse, commodity) over a period — a summary cell with `direction` — or every entry of
    a voucher (a document's lines and the revaluations of them), or the revaluations one
    backdated entry caused.

    The reports drill down further by source document: `voucher_type` alone (every receipt or
    every issue entry), `contract_id` (the goods receipts and issues of a contract, all its
    revisions), `contract_line_id` (those of one line of it: the same line number in every
    revision) and `partner_id` (the receipts and issues with that counterparty) — each with
    the revaluations of those entries, which carry their voucher.

    The ledger is indexed by series and date only (see the model): a voucher is looked up
    first and its entries are then read by its company, warehouse, commodities and date — a
    revaluation carries the voucher, series and date of the entry it revalues."""
    entries = scoped(StockLedgerEntry.objects.all(), user)
    filters: dict[str, Any] = {
        "company_id": company_id,
        "warehouse_id": warehouse_id,
        "commodity_id": commodity_id,
        "posting_date__gte": date_from,
        "posting_date__lte": date_to,
        "direction": direction,
        "kind": kind,
    }
    if voucher_type and voucher_id:
        filters.update(_voucher_filters(voucher_type, voucher_id))
    elif voucher_type:
        filters["voucher_type"] = voucher_type
    if caused_by_id:
        filters.update(_caused_by_filters(caused_by_id))
    entries = entries.filter(**{name: value for name, value in filters.items() if value})
    if contract_id or contract_line_id or partner_id:
        entries = entries.filter(
            _document_condition(
                contract_id=contract_id,
                contract_line_id=contract_line_id,
                partner_id=partner_id,
                kind=voucher_type,
            )
        )
    return entries.order_by("posting_date", "id")


def contract_chain(contract_id: int) -> Q:
    """Documents (with a `contract` field) of every revision of the contract `contract_id`."""
    original_id = (
        Contract.objects.filter(pk=contract_id).values_list("original_id", flat=True).first()
        or contract_id
    )
    return Q(contract_id=original_id) | Q(contract__original_id=original_id)


def _document_condition(
    *,
    contract_id: int | None,
    contract_line_id: int | None,
    partner_id: int | None,
    kind: str | None,
) -> Q:
    """Entries of goods receipts and issues (and their revaluations) of a contract, one of
    its lines, or a counterparty. Only posted documents (and reversed ones, whose entries stay)
    have entries."""
    documents = StockDocument.objects.filter(
        status__in=[PostingStatus.POSTED, PostingStatus.REVERSED]
    )
    line = None
    if contract_line_id:
        line = (
            ContractLine.objects.filter(pk=contract_line_id)
            .values("contract_id", "line_number")
            .first()
        )
        if line is None:
            return Q(pk__in=[])
        contract_id = contract_id or line["contract_id"]
    if contract_id:
        documents = documents.filter(contract_chain(contract_id))
    if partner_id:
        documents = documents.filter(partner_id=partner_id)
    kinds = [kind] if kind in StockDocumentKind.values else list(StockDocumentKind.values)
    documents = documents.filter(kind__in=kinds)
    condition = Q(voucher_type__in=kinds, voucher_id__in=Subquery(documents.values("pk")))
    if line is not None:
        lines = StockDocumentLine.objects.filter(
            document__in=Subquery(documents.values("pk")),
            contract_line__line_number=line["line_number"],
        )
        condition &= Q(voucher_line_id__in=Subquery(lines.values("pk")))
    return condition


def _voucher_filters(voucher_type: str, voucher_id: int) -> dict[str, Any]:
    found: dict[str, Any] = {"voucher_type": voucher_type, "voucher_id": voucher_id}
    if voucher_type in (StockEntryKind.RECEIPT, StockEntryKind.ISSUE):
        document = StockDocument.objects.filter(pk=voucher_id).first()
        if document is not None:
            found.update(
                company_id=document.company_id,
                warehouse_id=document.warehouse_id,
                posting_date=document.posting_date,
                commodity_id__in=list(
                    document.lines.values_list("commodity_id", flat=True).distinct()
                ),
            )
    elif voucher_type == StockEntryKind.STOCKTAKE:
        stocktake = Stocktake.objects.filter(pk=voucher_id).first()
        if stocktake is not None:
            found.update(
                company_id=stocktake.company_id,
                warehouse_id=stocktake.warehouse_id,
                posting_date=stocktake.counted_on,
                commodity_id__in=list(stocktake.lines.values_list("commodity_id", flat=True)),
            )
    return found


def _caused_by_filters(entry_id: int) -> dict[str, Any]:
    cause = (
        StockLedgerEntry.objects.filter(pk=entry_id)
        .values("company_id", "warehouse_id", "commodity_id", "posting_date")
        .first()
    )
    if cause is None:
        return {"pk": 0}
    return {
        "company_id": cause["company_id"],
        "warehouse_id": cause["warehouse_id"],
        "commodity_id": cause["commodity_id"],
        "posting_date__gte": cause["posting_date"],
        "kind": StockEntryKind.REVALUATION,
        "caused_by_id": entry_id,
    }


def stock_quantity_at(
    *, user: Any, company_id: int, warehouse_id: int, commodity_id: int, on: datetime.date
) -> tuple[Decimal, Decimal]:
    """Quantity and value of a series at the end of a day (a stocktake's book figures)."""
    if not data_scope(user).can_read(company_id):
        raise NotFound(_("Not found."))
    return series_state_at(company_id, (warehouse_id, commodity_id), on)


def exact_sql(expression: str, places: int) -> str:
    """A decimal SQL expression made safe to SUM: SQLite keeps decimal columns as floating
    point, and its SUM over many rows drifts by cents, so there each value is summed as a
    whole number of its smallest unit (`exact_total` turns the sum back)."""
    if connection.vendor == "sqlite":
        return f"CAST(ROUND(({expression}) * {10**places}) AS INTEGER)"
    return expression


def exact_total(value: Any, places: int) -> Decimal:
    """A SUM of `exact_sql` (or of `exact_sum`) as a Decimal with `places` decimals."""
    if value is None:
        return Decimal(0).scaleb(-places)
    if connection.vendor == "sqlite":
        return Decimal(int(value)).scaleb(-places)
    return Decimal(value).quantize(Decimal(1).scaleb(-places))


def exact_sum(field: str, places: int) -> Sum:
    """`Sum(field)` for the ORM, exact on SQLite too (see `exact_sql`; read the result with
    `exact_total`)."""
    if connection.vendor == "sqlite":
        scaled = Round(F(field) * Value(10**places))
        return Sum(Cast(scaled, output_field=BigIntegerField()))
    return Sum(field)


@dataclass(frozen=True)
class LedgerTotals:
    """The sums of a filtered list of ledger entries (what a drill-down page shows under the
    list). `amount` and `net_amount` — the document lines' amounts incl. and excl. VAT — only
    for lists restricted to goods receipts and issues (None otherwise)."""

    count: int
    quantity: Decimal
    value: Decimal
    amount: Decimal | None = None
    net_amount: Decimal | None = None


def stock_ledger_totals(
    entries: QuerySet[StockLedgerEntry], *, with_amounts: bool = False
) -> LedgerTotals:
    """Count, quantity and value of `entries` (a `stock_ledger_list`), and with `with_amounts`
    the amounts of their document lines (revaluations carry none: they revalue an entry whose
    line is already counted)."""
    sums = entries.order_by().aggregate(
        count=Count("pk"),
        quantity=exact_sum("quantity", 3),
        value=exact_sum("value", 2),
    )
    amount = net_amount = None
    if with_amounts:
        amount, net_amount = ZERO, ZERO
        for quantity, unit_price, line_amount, tax_rate in _document_lines_of(entries):
            amount += line_amount
            net_amount += net_value(quantity, unit_price, tax_rate)
    return LedgerTotals(
        count=int(sums["count"] or 0),
        quantity=exact_total(sums["quantity"], 3),
        value=exact_total(sums["value"], 2),
        amount=amount,
        net_amount=net_amount,
    )


def _document_lines_of(entries: QuerySet[StockLedgerEntry]) -> Iterable[tuple[Any, ...]]:
    """(quantity, unit price, amount, VAT rate) of the document lines of the receipt and issue
    entries among `entries`, streamed."""
    line_ids = (
        entries.order_by()
        .filter(kind__in=StockDocumentKind.values, voucher_type__in=StockDocumentKind.values)
        .values("voucher_line_id")
    )
    return (
        StockDocumentLine.objects.filter(pk__in=Subquery(line_ids))
        .annotate(rate=Coalesce("contract_line__tax_rate", "commodity__tax_rate"))
        .values_list("quantity", "unit_price", "amount", "rate")
        .iterator(chunk_size=2000)
    )


def stock_entry_amounts(entries: Iterable[StockLedgerEntry]) -> None:
    """Set `amount` and `net_amount` (incl. and excl. VAT) on each receipt and issue entry
    from its document line; None on the others (revaluations, stocktakes, openings)."""
    found = list(entries)
    line_ids = {
        e.voucher_line_id
        for e in found
        if e.kind in StockDocumentKind.values and e.voucher_line_id is not None
    }
    lines = {
        pk: (amount, net_value(quantity, unit_price, rate))
        for pk, quantity, unit_price, amount, rate in StockDocumentLine.objects.filter(
            pk__in=line_ids
        )
        .annotate(rate=Coalesce("contract_line__tax_rate", "commodity__tax_rate"))
        .values_list("pk", "quantity", "unit_price", "amount", "rate")
    }
    for entry in found:
        figures = None
        if entry.kind in StockDocumentKind.values and entry.voucher_line_id is not None:
            figures = lines.get(entry.voucher_line_id)
        entry.amount, entry.net_amount = figures or (None, None)  # type: ignore[attr-defined]


def _rows(statement: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall())


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def series_state_at(
    company_id: int, key: tuple[int, int], on: datetime.date
) -> tuple[Decimal, Decimal]:
    """Quantity and value of a series at the end of `on`: the monthly totals of the months
    before, plus the ledger of the month up to that day (both through their series keys)."""
    warehouse_id, commodity_id = key
    month = on.replace(day=1)
    series = [company_id, warehouse_id, commodity_id]
    ((in_q, out_q, in_v, out_v),) = _rows(
        f"SELECT SUM({exact_sql('in_quantity', 3)}), SUM({exact_sql('out_quantity', 3)}), "  # noqa: S608
        f"SUM({exact_sql('in_value', 2)}), SUM({exact_sql('out_value', 2)}) "
        f"FROM {_table(StockMonthlyTotal)} WHERE company_id = %s AND warehouse_id = %s "
        "AND commodity_id = %s AND month < %s",
        [*series, month],
    )
    ((quantity, value),) = _rows(
        f"SELECT SUM({exact_sql('quantity', 3)}), SUM({exact_sql('value', 2)}) "  # noqa: S608
        f"FROM {_table(StockLedgerEntry)} WHERE company_id = %s AND warehouse_id = %s "
        "AND commodity_id = %s AND posting_date >= %s AND posting_date <= %s",
        [*series, month, on],
    )
    return (
        exact_total(in_q, 3) - exact_total(out_q, 3) + exact_total(quantity, 3),
        exact_total(in_v, 2) - exact_total(out_v, 2) + exact_total(value, 2),
    )


def stock_balance_mismatches(company_id: int | None = None) -> list[dict[str, Any]]:
    """Series whose stored balance differs from the sum of its ledger, or whose monthly
    totals differ from it (an operator's and a test's check; empty when all is well)."""
    where = "WHERE company_id = %s" if company_id is not None else ""
    params = [company_id] if company_id is not None else []
    sums = {
        (row[0], row[1], row[2]): (exact_total(row[3], 3), exact_total(row[4], 2))
        for row in _rows(
            "SELECT company_id, warehouse_id, commodity_id, "  # noqa: S608
            f"SUM({exact_sql('quantity', 3)}), SUM({exact_sql('value', 2)}) "
            f"FROM {_table(StockLedgerEntry)} {where} "
            "GROUP BY company_id, warehouse_id, commodity_id",
            params,
        )
    }
    monthly = {
        (row[0], row[1], row[2]): (exact_total(row[3], 3), exact_total(row[4], 2))
        for row in _rows(
            "SELECT company_id, warehouse_id, commodity_id, "  # noqa: S608
            f"SUM({exact_sql('in_quantity - out_quantity', 3)}), "
            f"SUM({exact_sql('in_value - out_value', 2)}) "
            f"FROM {_table(StockMonthlyTotal)} {where} "
            "GROUP BY company_id, warehouse_id, commodity_id",
            params,
        )
    }
    balances = StockBalance.objects.all()
    if company_id is not None:
        balances = balances.filter(company_id=company_id)
    stored = {
        (b.company_id, b.warehouse_id, b.commodity_id): (
            b.quantity.quantize(MILLI),
            b.value.quantize(CENT),
        )
        for b in balances
    }
    nothing = (Decimal("0.000"), Decimal("0.00"))
    problems = []
    for key in sorted(set(stored) | set(sums) | set(monthly)):
        figures = [stored.get(key, nothing), sums.get(key, nothing), monthly.get(key, nothing)]
        if len(set(figures)) > 1:
            problems.append(
                {"series": key, "balance": figures[0], "ledger": figures[1], "monthly": figures[2]}
            )
    return problems


# ---------------------------------------------------------------- the PSI summary


@dataclass
class PsiRow:
    """One line of the purchase–sales–inventory summary (进销存汇总). Out figures are what left
    (positive); closing = opening + in − out."""

    company_id: int
    warehouse_id: int
    commodity_id: int
    company: str = ""
    warehouse: str = ""
    commodity: str = ""
    unit: str = ""
    opening_quantity: Decimal = ZERO
    opening_value: Decimal = ZERO
    in_quantity: Decimal = ZERO
    in_value: Decimal = ZERO
    out_quantity: Decimal = ZERO
    out_value: Decimal = ZERO

    @property
    def closing_quantity(self) -> Decimal:
        return self.opening_quantity + self.in_quantity - self.out_quantity

    @property
    def closing_value(self) -> Decimal:
        return self.opening_value + self.in_value - self.out_value

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.company_id, self.warehouse_id, self.commodity_id)

    def is_empty(self) -> bool:
        return not any(
            (
                self.opening_quantity,
                self.opening_value,
                self.in_quantity,
                self.in_value,
                self.out_quantity,
                self.out_value,
            )
        )


def _month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def _next_month(day: datetime.date) -> datetime.date:
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def psi_summary(
    *,
    user: Any,
    date_from: datetime.date,
    date_to: datetime.date,
    company_ids: Iterable[int] | None = None,
    warehouse_ids: Iterable[int] | None = None,
    commodity_ids: Iterable[int] | None = None,
) -> list[PsiRow]:
    """Per (company, warehouse, commodity) in the user's scope: opening quantity and value at
    the start of `date_from`, in and out during [date_from, date_to], closing at the end of
    `date_to`. Rows without any figure are left out; sorted by company, warehouse, commodity.

    Every figure is the sum of ledger entries (`stock_ledger_list` with the series, the dates
    and the direction lists them): whole months come from the monthly totals, which the
    postings keep equal to the ledger, and the partial months at the edges from the ledger."""
    if date_to < date_from:
        return []
    companies = scoped_company_ids(user, company_ids)
    if companies is not None and not companies:
        return []
    first_month = _month_start(date_from)
    # Whole months inside the period: [full_start, full_end)
    full_start = date_from if date_from == first_month else _next_month(date_from)
    full_end = _month_start(date_to + datetime.timedelta(days=1))
    has_full = full_start < full_end
    rows: dict[tuple[int, int, int], PsiRow] = {}

    def row_for(company_id: int, warehouse_id: int, commodity_id: int) -> PsiRow:
        key = (company_id, warehouse_id, commodity_id)
        row = rows.get(key)
        if row is None:
            row = rows[key] = PsiRow(company_id, warehouse_id, commodity_id)
        return row

    # 1. months: everything before the period's first month is opening; whole months inside
    #    the period are in and out.
    for entry in _monthly_part(
        companies,
        warehouse_ids,
        commodity_ids,
        first_month,
        (full_start, full_end) if has_full else None,
    ):
        row = row_for(entry[0], entry[1], entry[2])
        row.opening_quantity += exact_total(entry[3], 3)
        row.opening_value += exact_total(entry[4], 2)
        row.in_quantity += exact_total(entry[5], 3)
        row.in_value += exact_total(entry[6], 2)
        row.out_quantity += exact_total(entry[7], 3)
        row.out_value += exact_total(entry[8], 2)

    # 2. the ledger for the partial months: from the first month's start to the period's
    #    start (opening), and the period's days outside whole months (in and out) — read series
    #    by series through the series index, from the balances of the scope.
    if has_full:
        edges = [(first_month, full_start - datetime.timedelta(days=1)), (full_end, date_to)]
    else:
        edges = [(first_month, date_to)]
    for start, end in edges:
        if start > end:
            continue
        for entry in _ledger_edge(companies, warehouse_ids, commodity_ids, start, end, date_from):
            row = row_for(entry[0], entry[1], entry[2])
            row.opening_quantity += exact_total(entry[3], 3)
            row.opening_value += exact_total(entry[4], 2)
            row.in_quantity += exact_total(entry[5], 3)
            row.in_value += exact_total(entry[6], 2)
            row.out_quantity += exact_total(entry[7], 3)
            row.out_value += exact_total(entry[8], 2)

    result = [row for row in rows.values() if not row.is_empty()]
    _name_rows(result)
    result.sort(key=lambda r: (r.company_id, r.warehouse, r.commodity, r.key))
    return result


def _scope_conditions(
    alias: str,
    company_ids: list[int] | None,
    warehouse_ids: Iterable[int] | None,
    commodity_ids: Iterable[int] | None,
) -> tuple[list[str], list[Any]] | None:
    """SQL conditions on a table's series columns for the filters; None when a filter is an
    empty list (nothing can match)."""
    conditions: list[str] = []
    params: list[Any] = []
    for column, ids in (
        ("company_id", company_ids),
        ("warehouse_id", warehouse_ids),
        ("commodity_id", commodity_ids),
    ):
        if ids is None:
            continue
        chosen = list(ids)
        if not chosen:
            return None
        conditions.append(f"{alias}.{column} IN ({', '.join(['%s'] * len(chosen))})")
        params += chosen
    return conditions, params


def _monthly_part(
    company_ids: list[int] | None,
    warehouse_ids: Iterable[int] | None,
    commodity_ids: Iterable[int] | None,
    first_month: datetime.date,
    inside: tuple[datetime.date, datetime.date] | None,
) -> list[tuple[Any, ...]]:
    """Per series of the scope, from the monthly totals: the months before `first_month` as
    opening (quantity, value), the months in [inside) as in and out."""
    scope = _scope_conditions("m", company_ids, warehouse_ids, commodity_ids)
    if scope is None:
        return []
    conditions, scope_params = scope
    start, end = inside or (first_month, first_month)
    before = "m.month < %s"
    within = "m.month >= %s AND m.month < %s"
    columns = [
        (before, "m.in_quantity - m.out_quantity", 3),
        (before, "m.in_value - m.out_value", 2),
        (within, "m.in_quantity", 3),
        (within, "m.in_value", 2),
        (within, "m.out_quantity", 3),
        (within, "m.out_value", 2),
    ]
    sums = ", ".join(
        f"SUM(CASE WHEN {when} THEN {exact_sql(expression, places)} ELSE 0 END)"
        for when, expression, places in columns
    )
    params: list[Any] = []
    for when, _expression, _places in columns:
        params += [first_month] if when == before else [start, end]
    where = " AND ".join([*conditions, "m.month < %s"])
    statement = (
        f"SELECT m.company_id, m.warehouse_id, m.commodity_id, {sums} "  # noqa: S608
        f"FROM {_table(StockMonthlyTotal)} m WHERE {where} "
        "GROUP BY m.company_id, m.warehouse_id, m.commodity_id"
    )
    return _rows(statement, [*params, *scope_params, end if inside else first_month])


def _ledger_edge(
    company_ids: list[int] | None,
    warehouse_ids: Iterable[int] | None,
    commodity_ids: Iterable[int] | None,
    start: datetime.date,
    end: datetime.date,
    period_start: datetime.date,
) -> list[tuple[Any, ...]]:
    """Per series of the scope, the sums of its ledger entries dated [start, end]: before
    `period_start` as opening quantity and value, from it on as in and out. One statement: the
    balance rows of the scope, each joined to its entries through the series index."""
    scope = _scope_conditions("b", company_ids, warehouse_ids, commodity_ids)
    if scope is None:
        return []
    conditions, scope_params = scope
    incoming, outgoing = StockDirection.IN.value, StockDirection.OUT.value
    columns: list[tuple[str, list[Any], str, int]] = [
        ("e.posting_date < %s", [period_start], "e.quantity", 3),
        ("e.posting_date < %s", [period_start], "e.value", 2),
        ("e.posting_date >= %s AND e.direction = %s", [period_start, incoming], "e.quantity", 3),
        ("e.posting_date >= %s AND e.direction = %s", [period_start, incoming], "e.value", 2),
        ("e.posting_date >= %s AND e.direction = %s", [period_start, outgoing], "-e.quantity", 3),
        ("e.posting_date >= %s AND e.direction = %s", [period_start, outgoing], "-e.value", 2),
    ]
    sums = ", ".join(
        f"SUM(CASE WHEN {when} THEN {exact_sql(expression, places)} ELSE 0 END)"
        for when, _params, expression, places in columns
    )
    params: list[Any] = [value for _when, values, _e, _p in columns for value in values]
    where = " AND ".join([*conditions, "e.posting_date >= %s", "e.posting_date <= %s"])
    statement = (
        f"SELECT b.company_id, b.warehouse_id, b.commodity_id, {sums} "  # noqa: S608
        f"FROM {_table(StockBalance)} b JOIN {_table(StockLedgerEntry)} e "
        "ON e.company_id = b.company_id AND e.warehouse_id = b.warehouse_id "
        f"AND e.commodity_id = b.commodity_id WHERE {where} "
        "GROUP BY b.company_id, b.warehouse_id, b.commodity_id"
    )
    return _rows(statement, [*params, *scope_params, start, end])


def _name_rows(rows: list[PsiRow]) -> None:
    if not rows:
        return
    companies = dict(
        Company.objects.filter(pk__in={r.company_id for r in rows}).values_list("pk", "name")
    )
    warehouses = dict(
        Warehouse.objects.filter(pk__in={r.warehouse_id for r in rows}).values_list("pk", "name")
    )
    commodities = {c.pk: c for c in Commodity.objects.filter(pk__in={r.commodity_id for r in rows})}
    for row in rows:
        row.company = companies.get(row.company_id, "")
        row.warehouse = warehouses.get(row.warehouse_id, "")
        commodity = commodities.get(row.commodity_id)
        row.commodity = str(commodity) if commodity else ""
        row.unit = commodity.unit if commodity else ""


ENTRY_KINDS = dict(StockEntryKind.choices)
