"""Trading selectors: the reports — purchase–sales–inventory summary (进销存汇总), receivables
ageing (账龄), contract execution (合同执行), deal margin per sales contract (毛利) and supplier
concentration (供应商集中度). Reads, always scoped to the user.

Every figure is the sum of ledger entries that a filtered list shows (the drill-down):

- PSI: the stock ledger of the group (company, warehouse, commodity) — opening: every entry
  before the period; in / out: the entries of the period with that direction; closing: every
  entry up to the period's end (`stock.stock_ledger_list`). Built on `stock.psi_summary`,
  which reads the monthly snapshots and never scans the whole history.
- Ageing (credit's, `selectors.credit.receivable_ageing`): the customer's receivable entries
  up to the day (the balance), and the open items (`money.open_items`, settled first in first
  out) of each bucket, or the unapplied credits.
- Contract execution: executed quantity and amount — the stock ledger entries of the
  contract line's goods receipts or issues (every revision); invoiced, settled and
  outstanding — the contract's partner-ledger entries by kind.
- Deal margin: revenue net of VAT and cost — the stock ledger entries of the contract's goods
  issues (their revaluations included): revenue is their document lines net of VAT, cost
  minus their value (moving-average cost when issued, plus later revaluations).
- Supplier concentration: the stock ledger entries of the goods receipts from the supplier in
  the period (their document lines' amounts incl. VAT).

The statements each report runs do not grow with its rows.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from ..costing import CENT, ZERO, net_value
from ..enums import (
    ContractStatus,
    PartnerAccount,
    PartnerEntryKind,
    PostingStatus,
    StockDocumentKind,
)
from ..models import Commodity, Contract, ContractLine, Partner, PartnerLedgerEntry, Warehouse
from ..models.stock import StockDocumentLine, StockLedgerEntry
from ..permissions import scoped
from .credit import AGEING_BUCKETS as AGEING_BUCKETS
from .credit import AgeingReport as AgeingReport
from .credit import AgeingRow as AgeingRow
from .credit import ageing_bucket
from .credit import receivable_ageing as credit_receivable_ageing
from .money import OpenItem, open_items
from .stock import exact_sum, exact_total, psi_summary, scoped_company_ids

HUNDRED = Decimal("100")
POSTED_OR_REVERSED = (PostingStatus.POSTED, PostingStatus.REVERSED)
# Contracts that took effect and were not replaced: the revision in force of each contract.
IN_FORCE = (ContractStatus.EFFECTIVE, ContractStatus.COMPLETED, ContractStatus.TERMINATED)


# ---------------------------------------------------------------- pure rules


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole in %, to two decimals (None when whole is zero)."""
    if not whole:
        return None
    return (part * HUNDRED / whole).quantize(CENT, rounding=ROUND_HALF_UP)


def herfindahl(amounts: Iterable[Decimal]) -> Decimal:
    """The Herfindahl–Hirschman index of the positive amounts: the sum of squared shares in
    percent, 0 (dispersed) to 10,000 (a single supplier); above 2,500 counts as concentrated."""
    positive = [amount for amount in amounts if amount > 0]
    total = sum(positive, ZERO)
    if not total:
        return ZERO
    return sum(((amount * HUNDRED / total) ** 2 for amount in positive), ZERO).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


# ---------------------------------------------------------------- 1. PSI summary


class PsiGrouping(StrEnum):
    SERIES = "series"  # company, warehouse and commodity
    COMMODITY = "commodity"
    WAREHOUSE = "warehouse"
    COMPANY = "company"

    @property
    def label(self) -> str:
        return str(PSI_GROUPING_LABELS[self])


PSI_GROUPING_LABELS = {
    PsiGrouping.SERIES: _("Company, warehouse and commodity"),
    PsiGrouping.COMMODITY: _("Commodity"),
    PsiGrouping.WAREHOUSE: _("Warehouse"),
    PsiGrouping.COMPANY: _("Company"),
}


@dataclass
class PsiReportRow:
    """One line of the report: a group (the ids it is keyed by; None = all) or the total."""

    company_id: int | None = None
    warehouse_id: int | None = None
    commodity_id: int | None = None
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
    links: dict[str, str] = field(default_factory=dict)

    @property
    def closing_quantity(self) -> Decimal:
        return self.opening_quantity + self.in_quantity - self.out_quantity

    @property
    def closing_value(self) -> Decimal:
        return self.opening_value + self.in_value - self.out_value

    def add(self, other: Any) -> None:
        for name in (
            "opening_quantity",
            "opening_value",
            "in_quantity",
            "in_value",
            "out_quantity",
            "out_value",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class PsiReport:
    date_from: datetime.date
    date_to: datetime.date
    group_by: PsiGrouping
    company_id: int | None
    warehouse_id: int | None
    commodity_id: int | None
    rows: list[PsiReportRow]
    total: PsiReportRow


def psi_report(
    *,
    user: Any,
    date_from: datetime.date,
    date_to: datetime.date,
    group_by: PsiGrouping = PsiGrouping.SERIES,
    company_id: int | None = None,
    warehouse_id: int | None = None,
    commodity_id: int | None = None,
) -> PsiReport:
    """The PSI summary (`stock.psi_summary`) of the user's scope, grouped by `group_by`, with
    the total. Quantities of a group of several commodities add up their units as they are."""
    series = psi_summary(
        user=user,
        date_from=date_from,
        date_to=date_to,
        company_ids=[company_id] if company_id else None,
        warehouse_ids=[warehouse_id] if warehouse_id else None,
        commodity_ids=[commodity_id] if commodity_id else None,
    )
    rows: dict[tuple[int | None, int | None, int | None], PsiReportRow] = {}
    total = PsiReportRow(company_id=company_id, warehouse_id=warehouse_id)
    total.commodity_id = commodity_id
    for line in series:
        key = {
            PsiGrouping.SERIES: (line.company_id, line.warehouse_id, line.commodity_id),
            PsiGrouping.COMMODITY: (company_id, warehouse_id, line.commodity_id),
            PsiGrouping.WAREHOUSE: (line.company_id, line.warehouse_id, commodity_id),
            PsiGrouping.COMPANY: (line.company_id, warehouse_id, commodity_id),
        }[group_by]
        row = rows.get(key)
        if row is None:
            row = rows[key] = PsiReportRow(
                company_id=key[0],
                warehouse_id=key[1],
                commodity_id=key[2],
                company=line.company if key[0] else "",
                warehouse=line.warehouse if key[1] else "",
                commodity=line.commodity if key[2] else "",
                unit=line.unit if key[2] else "",
            )
        row.add(line)
        total.add(line)
    ordered = sorted(
        rows.values(),
        key=lambda r: (r.company, r.warehouse, r.commodity, r.company_id or 0),
    )
    return PsiReport(
        date_from=date_from,
        date_to=date_to,
        group_by=group_by,
        company_id=company_id,
        warehouse_id=warehouse_id,
        commodity_id=commodity_id,
        rows=ordered,
        total=total,
    )


# ---------------------------------------------------------------- 2. receivables ageing
# The ageing itself is credit's (`selectors.credit.receivable_ageing`, per company and customer,
# with its buckets and rules); the reports add the drill-down: which open items make a figure.

CREDITS = "credits"  # the unapplied-credit column: receipts not matched to any charge
OVERDUE = "overdue"  # every overdue bucket
AGEING_KEYS = frozenset({key for key, _label in AGEING_BUCKETS} | {CREDITS})
OVERDUE_KEYS = ("days_0_30", "days_31_60", "days_61_90", "over_90")


def bucket_label(key: str | None) -> str:
    """The heading of an ageing column ("" for none)."""
    labels: dict[str, Any] = {
        **dict(AGEING_BUCKETS),
        CREDITS: _("Unapplied credits"),
        OVERDUE: _("Overdue"),
    }
    return str(labels.get(key or "", ""))


def receivable_ageing(
    *,
    user: Any,
    as_of: datetime.date,
    company_id: int | None = None,
    partner_id: int | None = None,
) -> AgeingReport:
    """Open receivables per (company, customer) on `as_of`, by bucket (credit's ageing)."""
    return credit_receivable_ageing(
        user=user, as_of=as_of, company_id=company_id, partner_id=partner_id
    )


def open_items_in_bucket(
    *,
    user: Any,
    partner_id: int,
    as_of: datetime.date,
    bucket: str | None,
    company_id: int | None = None,
    account: str | None = PartnerAccount.RECEIVABLE,
) -> list[OpenItem]:
    """A partner's open items on `as_of`, only those of one ageing bucket (a key of
    `AGEING_BUCKETS`, or "credits": the unapplied credits) when `bucket` is given: the items
    an ageing figure adds up (credits as negative amounts; the figure shows them positive)."""
    items = open_items(
        user=user, company_id=company_id, partner_id=partner_id, account=account, as_of=as_of
    )
    if bucket is None or bucket not in AGEING_KEYS:
        return items
    if bucket == CREDITS:
        return [item for item in items if item.outstanding < 0]
    return [
        item
        for item in items
        if item.outstanding > 0 and ageing_bucket(item.days_overdue) == bucket
    ]


# ---------------------------------------------------------------- 3. contract execution


@dataclass
class LineExecution:
    line_id: int
    line_number: int
    commodity: str
    unit: str
    quantity: Decimal
    amount: Decimal
    executed_quantity: Decimal = ZERO
    executed_amount: Decimal = ZERO
    links: dict[str, str] = field(default_factory=dict)

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.executed_quantity

    @property
    def remaining_amount(self) -> Decimal:
        return self.amount - self.executed_amount

    @property
    def percent_executed(self) -> Decimal | None:
        return percent(self.executed_quantity, self.quantity)


@dataclass
class ContractExecution:
    """A contract (its revision in force) and how far it is executed. Executed figures count
    the goods receipts or issues of every revision; the money figures its partner-ledger
    entries: invoiced (invoice entries), settled (payment entries, as a positive amount),
    opening (opening balances carried in) and outstanding (all of them)."""

    contract_id: int
    chain_id: int  # the first revision: documents of every revision count
    number: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    company_id: int
    company: str
    partner_id: int
    partner: str
    end_on: datetime.date | None
    amount: Decimal
    lines: list[LineExecution]
    invoiced: Decimal = ZERO
    settled: Decimal = ZERO
    opening: Decimal = ZERO
    outstanding: Decimal = ZERO
    links: dict[str, str] = field(default_factory=dict)

    @property
    def executed_amount(self) -> Decimal:
        return sum((line.executed_amount for line in self.lines), ZERO)

    @property
    def remaining_amount(self) -> Decimal:
        return self.amount - self.executed_amount

    @property
    def percent_executed(self) -> Decimal | None:
        return percent(self.executed_amount, self.amount)


def contract_execution_list(
    *,
    user: Any,
    kind: str | None = None,
    status: str | None = None,
    company_id: int | None = None,
    partner_id: int | None = None,
    search: str = "",
) -> QuerySet[Contract]:
    """The contracts the report covers: the revision in force of each (effective, completed
    or terminated; one status with `status`), newest first."""
    contracts = scoped(Contract.objects.all(), user).select_related("partner", "company")
    contracts = contracts.filter(status=status) if status else contracts.filter(status__in=IN_FORCE)
    if kind:
        contracts = contracts.filter(kind=kind)
    if company_id:
        contracts = contracts.filter(company_id=company_id)
    if partner_id:
        contracts = contracts.filter(partner_id=partner_id)
    if search.strip():
        term = search.strip()
        contracts = contracts.filter(Q(number__icontains=term) | Q(partner__name__icontains=term))
    return contracts.order_by("-id")


def contract_execution(contracts: Sequence[Contract]) -> list[ContractExecution]:
    """The execution of `contracts` (from `contract_execution_list`, one page of it): three
    statements however many contracts and lines."""
    if not contracts:
        return []
    chain_of = {c.pk: c.original_id or c.pk for c in contracts}
    chains = set(chain_of.values())
    lines: dict[int, list[ContractLine]] = defaultdict(list)
    for line in (
        ContractLine.objects.filter(contract_id__in=list(chain_of))
        .select_related("commodity")
        .order_by("contract_id", "line_number")
    ):
        lines[line.contract_id].append(line)
    executed = {
        (row["chain"], row["number"]): (
            exact_total(row["quantity"], 3),
            exact_total(row["amount"], 2),
        )
        for row in StockDocumentLine.objects.filter(
            Q(document__contract__original_id__in=chains) | Q(document__contract_id__in=chains),
            document__status__in=POSTED_OR_REVERSED,
        )
        .order_by()
        .values(
            chain=Coalesce("document__contract__original_id", "document__contract_id"),
            number=F("contract_line__line_number"),
        )
        .annotate(quantity=exact_sum("quantity", 3), amount=exact_sum("amount", 2))
    }
    money: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for row in (
        PartnerLedgerEntry.objects.filter(
            Q(contract__original_id__in=chains) | Q(contract_id__in=chains)
        )
        .order_by()
        .values("kind", chain=Coalesce("contract__original_id", "contract_id"))
        .annotate(total=exact_sum("amount", 2))
    ):
        money[row["chain"]][row["kind"]] += exact_total(row["total"], 2)
    result = []
    for contract in contracts:
        chain = chain_of[contract.pk]
        figures = money[chain]
        executions = []
        for line in lines[contract.pk]:
            quantity, amount = executed.get((chain, line.line_number), (ZERO, ZERO))
            executions.append(
                LineExecution(
                    line_id=line.pk,
                    line_number=line.line_number,
                    commodity=str(line.commodity),
                    unit=line.commodity.unit,
                    quantity=line.quantity,
                    amount=line.amount,
                    executed_quantity=quantity,
                    executed_amount=amount,
                )
            )
        result.append(
            ContractExecution(
                contract_id=contract.pk,
                chain_id=chain,
                number=str(contract),
                kind=contract.kind,
                kind_label=contract.get_kind_display(),
                status=contract.status,
                status_label=contract.get_status_display(),
                company_id=contract.company_id,
                company=contract.company.short_name or contract.company.name,
                partner_id=contract.partner_id,
                partner=contract.partner.name,
                end_on=contract.end_on,
                amount=contract.total_amount,
                lines=executions,
                invoiced=figures[PartnerEntryKind.INVOICE],
                settled=-figures[PartnerEntryKind.PAYMENT],
                opening=figures[PartnerEntryKind.OPENING],
                outstanding=sum(figures.values(), ZERO),
            )
        )
    return result


# ---------------------------------------------------------------- 4. deal margin


@dataclass
class MarginRow:
    """A sales contract's goods issued in the period: revenue net of VAT (the issue lines at
    the contract price), cost (what the stock ledger took out for them, revaluations
    included) and the margin. The total row: contract_id None."""

    contract_id: int | None = None
    chain_id: int | None = None
    number: str = ""
    partner: str = ""
    company: str = ""
    status_label: str = ""
    quantity: Decimal = ZERO
    revenue: Decimal = ZERO
    cost: Decimal = ZERO
    links: dict[str, str] = field(default_factory=dict)

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.cost

    @property
    def margin_percent(self) -> Decimal | None:
        return percent(self.margin, self.revenue)


@dataclass
class MarginReport:
    date_from: datetime.date | None
    date_to: datetime.date | None
    company_id: int | None
    rows: list[MarginRow]
    total: MarginRow


def deal_margin(
    *,
    user: Any,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    company_id: int | None = None,
    partner_id: int | None = None,
) -> MarginReport:
    """Margin per sales contract (all its revisions) over the goods issues dated in the
    period (all time without dates), lowest margin first. One statement streams the issue
    lines, each with the sum of its ledger entries (found through the series index: company,
    warehouse, commodity and date, which a revaluation shares with the entry it revalues)."""
    ledger_value = (
        StockLedgerEntry.objects.filter(
            company_id=OuterRef("document__company_id"),
            warehouse_id=OuterRef("document__warehouse_id"),
            commodity_id=OuterRef("commodity_id"),
            posting_date=OuterRef("document__posting_date"),
            voucher_type=OuterRef("document__kind"),
            voucher_id=OuterRef("document_id"),
            voucher_line_id=OuterRef("pk"),
        )
        .order_by()
        .values("voucher_line_id")
        .annotate(total=exact_sum("value", 2))
        .values("total")
    )
    lines = scoped(
        StockDocumentLine.objects.filter(
            document__kind=StockDocumentKind.ISSUE,
            document__status__in=POSTED_OR_REVERSED,
            document__contract__isnull=False,
        ),
        user,
        field="document__company_id",
    )
    if company_id:
        lines = lines.filter(document__company_id=company_id)
    if partner_id:
        lines = lines.filter(document__partner_id=partner_id)
    if date_from:
        lines = lines.filter(document__posting_date__gte=date_from)
    if date_to:
        lines = lines.filter(document__posting_date__lte=date_to)
    rows: dict[int, MarginRow] = {}
    total = MarginRow()
    for chain, quantity, unit_price, rate, value in (
        lines.order_by()
        .annotate(
            chain=Coalesce("document__contract__original_id", "document__contract_id"),
            rate=Coalesce("contract_line__tax_rate", "commodity__tax_rate"),
            ledger_value=Subquery(ledger_value),
        )
        .values_list("chain", "quantity", "unit_price", "rate", "ledger_value")
        .iterator(chunk_size=2000)
    ):
        row = rows.setdefault(chain, MarginRow(chain_id=chain))
        revenue = net_value(quantity, unit_price, rate)
        cost = -exact_total(value, 2)
        for target in (row, total):
            target.quantity += quantity
            target.revenue += revenue
            target.cost += cost
    _name_contracts(rows)
    ordered = sorted(rows.values(), key=lambda r: (r.margin, r.number))
    return MarginReport(
        date_from=date_from, date_to=date_to, company_id=company_id, rows=ordered, total=total
    )


def _name_contracts(rows: dict[int, MarginRow]) -> None:
    """Each chain's revision in force (else its latest): number, partner, company, status."""
    if not rows:
        return
    chosen: dict[int, Contract] = {}
    for contract in (
        Contract.objects.filter(Q(pk__in=list(rows)) | Q(original_id__in=list(rows)))
        .select_related("partner", "company")
        .order_by("revision")
    ):
        chain = contract.original_id or contract.pk
        current = chosen.get(chain)
        if current is None or current.status not in IN_FORCE or contract.status in IN_FORCE:
            chosen[chain] = contract
    for chain, row in rows.items():
        named = chosen.get(chain)
        if named is None:
            continue
        row.contract_id = named.pk
        row.number = str(named)
        row.partner = named.partner.name
        row.company = named.company.short_name or named.company.name
        row.status_label = named.get_status_display()


# ---------------------------------------------------------------- 5. supplier concentration


@dataclass
class SupplierShare:
    rank: int
    partner_id: int
    partner: str
    amount: Decimal  # goods received incl. VAT (reversals deducted)
    share: Decimal | None  # % of all suppliers' amount
    cumulative_share: Decimal | None
    links: dict[str, str] = field(default_factory=dict)


@dataclass
class ConcentrationReport:
    date_from: datetime.date
    date_to: datetime.date
    company_id: int | None
    top: int
    rows: list[SupplierShare]  # the top suppliers (all when top is 0)
    supplier_count: int
    total_amount: Decimal
    top_amount: Decimal
    hhi: Decimal
    links: dict[str, str] = field(default_factory=dict)

    @property
    def top_share(self) -> Decimal | None:
        return percent(self.top_amount, self.total_amount)

    @property
    def others_amount(self) -> Decimal:
        return self.total_amount - self.top_amount


def supplier_concentration(
    *,
    user: Any,
    date_from: datetime.date,
    date_to: datetime.date,
    company_id: int | None = None,
    top: int = 10,
) -> ConcentrationReport:
    """Purchases per supplier in the period — goods received, at their document amounts incl.
    VAT — with each supplier's share, the cumulative share, the top `top` and the
    Herfindahl–Hirschman index over all suppliers."""
    lines = scoped(
        StockDocumentLine.objects.filter(
            document__kind=StockDocumentKind.RECEIPT,
            document__status__in=POSTED_OR_REVERSED,
            document__posting_date__gte=date_from,
            document__posting_date__lte=date_to,
        ),
        user,
        field="document__company_id",
    )
    if company_id:
        lines = lines.filter(document__company_id=company_id)
    amounts = {
        row["partner"]: exact_total(row["amount"], 2)
        for row in lines.order_by()
        .values(partner=F("document__partner_id"))
        .annotate(amount=exact_sum("amount", 2))
    }
    amounts = {partner: amount for partner, amount in amounts.items() if amount}
    names = dict(Partner.objects.filter(pk__in=list(amounts)).values_list("pk", "name"))
    total = sum(amounts.values(), ZERO)
    ordered = sorted(amounts.items(), key=lambda item: (-item[1], names.get(item[0], "")))
    rows = []
    running = ZERO
    for rank, (partner, amount) in enumerate(ordered, start=1):
        running += amount
        if top and rank > top:
            continue
        rows.append(
            SupplierShare(
                rank=rank,
                partner_id=partner,
                partner=names.get(partner, ""),
                amount=amount,
                share=percent(amount, total),
                cumulative_share=percent(running, total),
            )
        )
    return ConcentrationReport(
        date_from=date_from,
        date_to=date_to,
        company_id=company_id,
        top=top,
        rows=rows,
        supplier_count=len(amounts),
        total_amount=total,
        top_amount=sum((row.amount for row in rows), ZERO),
        hhi=herfindahl(amounts.values()),
    )


# ---------------------------------------------------------------- choices for the filters


def report_companies(user: Any) -> list[tuple[int, str]]:
    """The companies the user reads, for a report's company filter."""
    from qinglian.org.models import Company

    ids = scoped_company_ids(user, None)
    companies = Company.objects.all() if ids is None else Company.objects.filter(pk__in=ids)
    return list(companies.order_by("path").values_list("pk", "name"))


def report_warehouses(user: Any) -> list[tuple[int, str]]:
    return [
        (w.pk, f"{w.code} {w.name}")
        for w in scoped(Warehouse.objects.all(), user).order_by("company_id", "code")
    ]


def report_commodities(user: Any) -> list[tuple[int, str]]:
    from ..permissions import master_data_company_ids

    return [
        (c.pk, f"{c.code} {c}")
        for c in Commodity.objects.filter(company_id__in=master_data_company_ids(user)).order_by(
            "code"
        )
    ]
