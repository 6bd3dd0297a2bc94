"""Trading API: the reports as JSON — the figures the report pages show, each row with `links`:
the page (a path) listing the ledger entries a figure adds up, as on the pages. Read-only,
scoped to the caller like the pages (oversight roles read their whole scope).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from qinglian.core import clock
from qinglian.core.api import ERROR_RESPONSES

from ..selectors import reports as selectors
from ..views import reports as pages

router = Router()


# ---------------------------------------------------------------- schemas


class Links(Schema):
    links: dict[str, str] = Field(
        default_factory=dict, description="figure → the page listing the entries it adds up"
    )


class PsiRowOut(Links):
    company_id: int | None
    warehouse_id: int | None
    commodity_id: int | None
    company: str
    warehouse: str
    commodity: str
    unit: str
    opening_quantity: Decimal
    opening_value: Decimal
    in_quantity: Decimal
    in_value: Decimal
    out_quantity: Decimal
    out_value: Decimal
    closing_quantity: Decimal
    closing_value: Decimal


class PsiReportOut(Schema):
    date_from: datetime.date
    date_to: datetime.date
    group_by: str
    rows: list[PsiRowOut]
    total: PsiRowOut


class PsiFilter(Schema):
    date_from: datetime.date | None = Field(None, description="default: the first of the month")
    date_to: datetime.date | None = Field(None, description="default: today")
    group_by: selectors.PsiGrouping = selectors.PsiGrouping.SERIES
    company_id: int | None = None
    warehouse_id: int | None = None
    commodity_id: int | None = None


class AgeingRowOut(Links):
    company_id: int | None
    company_name: str
    partner_id: int | None
    partner_name: str
    not_due: Decimal
    days_0_30: Decimal
    days_31_60: Decimal
    days_61_90: Decimal
    over_90: Decimal
    overdue: Decimal
    credits: Decimal = Field(description="receipts not applied to any charge (positive)")
    balance: Decimal = Field(description="the receivable ledger up to the day")


class AgeingReportOut(Schema):
    as_of: datetime.date
    rows: list[AgeingRowOut]
    total: AgeingRowOut


class AgeingFilter(Schema):
    as_of: datetime.date | None = Field(None, description="default: today")
    company_id: int | None = None
    partner_id: int | None = None


class LineExecutionOut(Links):
    line_id: int
    line_number: int
    commodity: str
    unit: str
    quantity: Decimal
    amount: Decimal
    executed_quantity: Decimal
    executed_amount: Decimal
    remaining_quantity: Decimal
    remaining_amount: Decimal
    percent_executed: Decimal | None


class ContractExecutionOut(Links):
    contract_id: int
    number: str
    kind: str
    status: str
    company_id: int
    partner_id: int
    partner: str
    end_on: datetime.date | None
    amount: Decimal
    executed_amount: Decimal
    remaining_amount: Decimal
    percent_executed: Decimal | None
    invoiced: Decimal
    settled: Decimal
    opening: Decimal
    outstanding: Decimal
    lines: list[LineExecutionOut]


class ContractExecutionPageOut(Schema):
    count: int
    items: list[ContractExecutionOut]


class ExecutionFilter(Schema):
    kind: str | None = Field(None, description="purchase | sales")
    status: str | None = Field(None, description="default: effective, completed, terminated")
    company_id: int | None = None
    partner_id: int | None = None
    search: str = ""
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)


class MarginRowOut(Links):
    contract_id: int | None
    number: str
    partner: str
    company: str
    status_label: str
    quantity: Decimal
    revenue: Decimal
    cost: Decimal
    margin: Decimal
    margin_percent: Decimal | None


class MarginReportOut(Schema):
    date_from: datetime.date | None
    date_to: datetime.date | None
    rows: list[MarginRowOut]
    total: MarginRowOut


class MarginFilter(Schema):
    date_from: datetime.date | None = Field(None, description="issues from (default: all)")
    date_to: datetime.date | None = None
    company_id: int | None = None
    partner_id: int | None = None


class SupplierShareOut(Links):
    rank: int
    partner_id: int
    partner: str
    amount: Decimal
    share: Decimal | None
    cumulative_share: Decimal | None


class ConcentrationReportOut(Links):
    date_from: datetime.date
    date_to: datetime.date
    top: int
    rows: list[SupplierShareOut]
    supplier_count: int
    total_amount: Decimal
    top_amount: Decimal
    top_share: Decimal | None
    hhi: Decimal = Field(description="Herfindahl–Hirschman index, 0–10,000")


class ConcentrationFilter(Schema):
    date_from: datetime.date | None = Field(None, description="default: 1 January")
    date_to: datetime.date | None = Field(None, description="default: today")
    company_id: int | None = None
    top: int = Field(10, ge=0, le=1000, description="0: every supplier")


# ---------------------------------------------------------------- endpoints


@router.get("/reports/psi", response={200: PsiReportOut, **ERROR_RESPONSES})
def report_psi(request: HttpRequest, filters: Query[PsiFilter]) -> Any:
    """进销存汇总: opening, in, out and closing (quantity and value) for a period, grouped by
    company, warehouse and commodity (`series`) or one of them."""
    today = clock.today()
    report = selectors.psi_report(
        user=request.user,
        date_from=filters.date_from or today.replace(day=1),
        date_to=filters.date_to or today,
        group_by=filters.group_by,
        company_id=filters.company_id,
        warehouse_id=filters.warehouse_id,
        commodity_id=filters.commodity_id,
    )
    pages.psi_links(report)
    return report


@router.get("/reports/receivable-ageing", response={200: AgeingReportOut, **ERROR_RESPONSES})
def report_ageing(request: HttpRequest, filters: Query[AgeingFilter]) -> Any:
    """应收账龄: open receivables per company and customer by days past due."""
    report = selectors.receivable_ageing(
        user=request.user,
        as_of=filters.as_of or clock.today(),
        company_id=filters.company_id,
        partner_id=filters.partner_id,
    )
    pages.ageing_links(report)
    return report


@router.get(
    "/reports/contract-execution", response={200: ContractExecutionPageOut, **ERROR_RESPONSES}
)
def report_execution(request: HttpRequest, filters: Query[ExecutionFilter]) -> Any:
    """合同执行: per contract in force and per line, contracted against executed, invoiced,
    settled and outstanding (a page of contracts: `limit`, `offset`)."""
    contracts = selectors.contract_execution_list(
        user=request.user,
        kind=filters.kind,
        status=filters.status,
        company_id=filters.company_id,
        partner_id=filters.partner_id,
        search=filters.search,
    )
    chosen = list(contracts[filters.offset : filters.offset + filters.limit])
    items = selectors.contract_execution(chosen)
    for item in items:
        pages.execution_links(item)
    return {"count": contracts.count(), "items": items}


@router.get("/reports/deal-margin", response={200: MarginReportOut, **ERROR_RESPONSES})
def report_margin(request: HttpRequest, filters: Query[MarginFilter]) -> Any:
    """毛利: per sales contract, revenue net of VAT of the goods issued against their cost."""
    report = selectors.deal_margin(
        user=request.user,
        date_from=filters.date_from,
        date_to=filters.date_to,
        company_id=filters.company_id,
        partner_id=filters.partner_id,
    )
    pages.margin_links(report)
    return report


@router.get(
    "/reports/supplier-concentration",
    response={200: ConcentrationReportOut, **ERROR_RESPONSES},
)
def report_concentration(request: HttpRequest, filters: Query[ConcentrationFilter]) -> Any:
    """供应商集中度: goods received per supplier, shares, cumulative share, top N and HHI."""
    today = clock.today()
    report = selectors.supplier_concentration(
        user=request.user,
        date_from=filters.date_from or today.replace(month=1, day=1),
        date_to=filters.date_to or today,
        company_id=filters.company_id,
        top=filters.top,
    )
    pages.concentration_links(report)
    return report
