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
from django.db.models import Case, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from qinglian.core.errors import NotFound
from qinglian.org.models import Company
from qinglian.org.scopes import data_scope

from .. import costing
from ..costing import CENT, MILLI, ZERO
from ..enums import StockDirection, StockEntryKind
from ..models import Commodity, Warehouse
from ..models.stock import (
    StockBalance,
    StockDocument,
    StockLedgerEntry,
    StockMonthlyTotal,
    StockOpening,
    Stocktake,
)
from ..permissions import scoped


def _scoped_ids(user: Any, company_ids: Iterable[int] | None) -> list[int] | None:
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
) -> QuerySet[StockLedgerEntry]:
    """Ledger entries in ledger order (date, then id), for drill-down: a series (company,
    warehouse, commodity) over a period — a summary cell with `direction` — or every entry of
    a voucher (a document's lines and the revaluations of them), or the revaluations one
    backdated entry caused.

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
    if caused_by_id:
        filters.update(_caused_by_filters(caused_by_id))
    entries = entries.filter(**{name: value for name, value in filters.items() if value})
    return entries.order_by("posting_date", "id")


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


def series_state_at(
    company_id: int, key: tuple[int, int], on: datetime.date
) -> tuple[Decimal, Decimal]:
    """Quantity and value of a series at the end of `on`: the monthly totals of the months
    before, plus the ledger of the month up to that day."""
    warehouse_id, commodity_id = key
    month = on.replace(day=1)
    totals = StockMonthlyTotal.objects.filter(
        company_id=company_id,
        warehouse_id=warehouse_id,
        commodity_id=commodity_id,
        month__lt=month,
    ).aggregate(
        in_quantity=Sum("in_quantity"),
        in_value=Sum("in_value"),
        out_quantity=Sum("out_quantity"),
        out_value=Sum("out_value"),
    )
    recent = StockLedgerEntry.objects.filter(
        company_id=company_id,
        warehouse_id=warehouse_id,
        commodity_id=commodity_id,
        posting_date__gte=month,
        posting_date__lte=on,
    ).aggregate(quantity=Sum("quantity"), value=Sum("value"))
    quantity = (
        (totals["in_quantity"] or ZERO)
        - (totals["out_quantity"] or ZERO)
        + (recent["quantity"] or ZERO)
    )
    value = (totals["in_value"] or ZERO) - (totals["out_value"] or ZERO) + (recent["value"] or ZERO)
    return quantity.quantize(costing.MILLI), costing.money(value)


def stock_balance_mismatches(company_id: int | None = None) -> list[dict[str, Any]]:
    """Series whose stored balance differs from the sum of its ledger, or whose monthly
    totals differ from it (an operator's and a test's check; empty when all is well)."""
    ledger = StockLedgerEntry.objects.all()
    balances = StockBalance.objects.all()
    months = StockMonthlyTotal.objects.all()
    if company_id is not None:
        ledger = ledger.filter(company_id=company_id)
        balances = balances.filter(company_id=company_id)
        months = months.filter(company_id=company_id)
    sums = {
        (row["company_id"], row["warehouse_id"], row["commodity_id"]): (row["q"], row["v"])
        for row in ledger.values("company_id", "warehouse_id", "commodity_id")
        .annotate(q=Sum("quantity"), v=Sum("value"))
        .order_by()
    }
    monthly = {
        (row["company_id"], row["warehouse_id"], row["commodity_id"]): (
            row["iq"] - row["oq"],
            row["iv"] - row["ov"],
        )
        for row in months.values("company_id", "warehouse_id", "commodity_id")
        .annotate(
            iq=Sum("in_quantity"), oq=Sum("out_quantity"), iv=Sum("in_value"), ov=Sum("out_value")
        )
        .order_by()
    }
    problems = []
    stored = {
        (b.company_id, b.warehouse_id, b.commodity_id): (b.quantity, b.value) for b in balances
    }
    for key in sorted(set(stored) | set(sums) | set(monthly)):
        balance = stored.get(key, (ZERO, ZERO))
        summed = sums.get(key, (ZERO, ZERO))
        by_month = monthly.get(key, (ZERO, ZERO))
        figures = [
            (balance[0].quantize(MILLI), balance[1].quantize(CENT)),
            (Decimal(summed[0]).quantize(MILLI), Decimal(summed[1]).quantize(CENT)),
            (Decimal(by_month[0]).quantize(MILLI), Decimal(by_month[1]).quantize(CENT)),
        ]
        if len(set(figures)) > 1:
            problems.append(
                {
                    "series": key,
                    "balance": figures[0],
                    "ledger": figures[1],
                    "monthly": figures[2],
                }
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


def _series_filter(
    queryset: QuerySet[Any],
    company_ids: list[int] | None,
    warehouse_ids: Iterable[int] | None,
    commodity_ids: Iterable[int] | None,
) -> QuerySet[Any]:
    if company_ids is not None:
        queryset = queryset.filter(company_id__in=company_ids)
    if warehouse_ids is not None:
        queryset = queryset.filter(warehouse_id__in=list(warehouse_ids))
    if commodity_ids is not None:
        queryset = queryset.filter(commodity_id__in=list(commodity_ids))
    return queryset


def _sum_when(condition: Q, expression: Any) -> Any:
    return Coalesce(Sum(Case(When(condition, then=expression), default=Value(ZERO))), Value(ZERO))


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
    companies = _scoped_ids(user, company_ids)
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
    months = _series_filter(
        StockMonthlyTotal.objects.filter(month__lt=full_end if has_full else first_month),
        companies,
        warehouse_ids,
        commodity_ids,
    )
    before = Q(month__lt=first_month)
    inside = Q(month__gte=full_start, month__lt=full_end)
    for entry in (
        months.values("company_id", "warehouse_id", "commodity_id")
        .annotate(
            open_q=_sum_when(before, F("in_quantity") - F("out_quantity")),
            open_v=_sum_when(before, F("in_value") - F("out_value")),
            in_q=_sum_when(inside, F("in_quantity")),
            in_v=_sum_when(inside, F("in_value")),
            out_q=_sum_when(inside, F("out_quantity")),
            out_v=_sum_when(inside, F("out_value")),
        )
        .order_by()
    ):
        row = row_for(entry["company_id"], entry["warehouse_id"], entry["commodity_id"])
        row.opening_quantity += entry["open_q"]
        row.opening_value += entry["open_v"]
        row.in_quantity += entry["in_q"]
        row.in_value += entry["in_v"]
        row.out_quantity += entry["out_q"]
        row.out_value += entry["out_v"]

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
            row.opening_quantity += _decimal(entry[3])
            row.opening_value += _decimal(entry[4])
            row.in_quantity += _decimal(entry[5])
            row.in_value += _decimal(entry[6])
            row.out_quantity += _decimal(entry[7])
            row.out_value += _decimal(entry[8])

    result = []
    for row in rows.values():
        row.opening_quantity = Decimal(row.opening_quantity).quantize(MILLI)
        row.in_quantity = Decimal(row.in_quantity).quantize(MILLI)
        row.out_quantity = Decimal(row.out_quantity).quantize(MILLI)
        row.opening_value = Decimal(row.opening_value).quantize(CENT)
        row.in_value = Decimal(row.in_value).quantize(CENT)
        row.out_value = Decimal(row.out_value).quantize(CENT)
        if not row.is_empty():
            result.append(row)
    _name_rows(result)
    result.sort(key=lambda r: (r.company_id, r.warehouse, r.commodity, r.key))
    return result


def _decimal(value: Any) -> Decimal:
    """A sum as the database gives it (SQLite: an int or a float) as a Decimal."""
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value))


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
    ledger = connection.ops.quote_name(StockLedgerEntry._meta.db_table)
    balances = connection.ops.quote_name(StockBalance._meta.db_table)
    conditions = []
    incoming, outgoing = StockDirection.IN.value, StockDirection.OUT.value
    params: list[Any] = [period_start] * 2
    params += [period_start, incoming] * 2 + [period_start, outgoing] * 2
    for column, ids in (
        ("company_id", company_ids),
        ("warehouse_id", warehouse_ids),
        ("commodity_id", commodity_ids),
    ):
        if ids is None:
            continue
        chosen = list(ids)
        if not chosen:
            return []
        conditions.append(f"b.{column} IN ({', '.join(['%s'] * len(chosen))})")
        params += chosen
    params += [start, end]
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    statement = f"""
        SELECT b.company_id, b.warehouse_id, b.commodity_id,
            SUM(CASE WHEN e.posting_date < %s THEN e.quantity ELSE 0 END),
            SUM(CASE WHEN e.posting_date < %s THEN e.value ELSE 0 END),
            SUM(CASE WHEN e.posting_date >= %s AND e.direction = %s THEN e.quantity ELSE 0 END),
            SUM(CASE WHEN e.posting_date >= %s AND e.direction = %s THEN e.value ELSE 0 END),
            SUM(CASE WHEN e.posting_date >= %s AND e.direction = %s THEN -e.quantity ELSE 0 END),
            SUM(CASE WHEN e.posting_date >= %s AND e.direction = %s THEN -e.value ELSE 0 END)
        FROM {balances} b JOIN {ledger} e ON e.company_id = b.company_id
            AND e.warehouse_id = b.warehouse_id AND e.commodity_id = b.commodity_id
        {where} {"AND" if where else "WHERE"} e.posting_date >= %s AND e.posting_date <= %s
        GROUP BY b.company_id, b.warehouse_id, b.commodity_id
    """  # noqa: S608 - our tables; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall())


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
