"""Trading selectors: contracts. Reads, always scoped to the user."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from qinglian.core.errors import NotFound
from qinglian.org.models import Company

from ..enums import (
    ApprovedPostingStatus,
    ContractKind,
    ContractStatus,
    PostingStatus,
)
from ..models import Contract, ContractLine, Invoice, Partner, Payment, StockDocument
from ..permissions import scoped
from .master import partner_can_supply

# Contracts that have taken effect at some point and were not replaced: money and goods may be
# booked against them (a terminated contract still settles what was delivered).
EXECUTABLE_STATUSES = frozenset(
    {ContractStatus.EFFECTIVE, ContractStatus.COMPLETED, ContractStatus.TERMINATED}
)
OPEN_STATUSES = frozenset({ContractStatus.DRAFT, ContractStatus.PENDING})


# ---------------------------------------------------------------- master-data rules


def supplier_can_supply(partner: Partner, on_date: datetime.date) -> tuple[bool, str]:
    """May `partner` appear on a purchase contract on `on_date` (admitted, qualifications
    valid), and if not, why. The rule is master data's; this is the one place contracts ask."""
    return partner_can_supply(partner, on_date)


def master_company_ids(company_id: int) -> list[int]:
    """The companies whose master data (partners, commodities) documents of `company_id` may
    use: the company itself and its ancestors."""
    path = Company.objects.filter(pk=company_id).values_list("path", flat=True).first() or ""
    return [int(part) for part in path.strip("/").split("/") if part]


# ---------------------------------------------------------------- lists and access


def contract_list(
    *,
    user: Any,
    kind: str | None = None,
    status: str | None = None,
    company_id: int | None = None,
    partner_id: int | None = None,
    search: str = "",
) -> QuerySet[Contract]:
    """Contracts the user reads, newest first. Superseded revisions are left out unless asked
    for by status: the list shows each contract once, at its latest revision."""
    contracts = scoped(Contract.objects.all(), user).select_related("partner", "company", "owner")
    if kind:
        contracts = contracts.filter(kind=kind)
    if status:
        contracts = contracts.filter(status=status)
    else:
        contracts = contracts.exclude(status=ContractStatus.SUPERSEDED)
    if company_id:
        contracts = contracts.filter(company_id=company_id)
    if partner_id:
        contracts = contracts.filter(partner_id=partner_id)
    if search.strip():
        term = search.strip()
        contracts = contracts.filter(Q(number__icontains=term) | Q(partner__name__icontains=term))
    return contracts.order_by("-id")


def contract_access(*, user: Any, id: int) -> Contract:
    """A contract the user reads; missing and out of scope are both "not found"."""
    contract = (
        scoped(Contract.objects.all(), user)
        .select_related(
            "partner", "company", "owner", "department", "approval_request", "amends", "created_by"
        )
        .prefetch_related(
            Prefetch("lines", queryset=ContractLine.objects.select_related("commodity"))
        )
        .filter(pk=id)
        .first()
    )
    if contract is None:
        raise NotFound(_("Contract not found."))
    return contract


def contract_revisions(contract: Contract) -> list[Contract]:
    """Every revision of the contract, first to last."""
    original_id = contract.original_id or contract.pk
    return list(
        Contract.objects.filter(Q(pk=original_id) | Q(original_id=original_id)).order_by(
            "revision", "id"
        )
    )


def contract_current_revision_id(contract: Contract) -> int:
    """The revision that is in force now (or the given one when none is)."""
    if contract.status != ContractStatus.SUPERSEDED:
        return contract.pk
    original_id = contract.original_id or contract.pk
    current = (
        Contract.objects.filter(Q(pk=original_id) | Q(original_id=original_id))
        .filter(status__in=EXECUTABLE_STATUSES)
        .values_list("pk", flat=True)
        .first()
    )
    return current or contract.pk


def executable_contracts(*, user: Any, kind: str | None = None) -> QuerySet[Contract]:
    """Contracts money and goods may be booked against (for pickers)."""
    contracts = scoped(Contract.objects.filter(status__in=EXECUTABLE_STATUSES), user)
    if kind:
        contracts = contracts.filter(kind=kind)
    return contracts.select_related("partner").order_by("-id")


# ---------------------------------------------------------------- execution


@dataclass(frozen=True)
class LineExecution:
    line: ContractLine
    executed_quantity: Decimal
    remaining_quantity: Decimal  # down to the contract quantity (negative when over it)
    upper_limit: Decimal  # quantity plus tolerance
    executed_amount: Decimal
    percent: Decimal


@dataclass(frozen=True)
class ContractExecution:
    lines: list[LineExecution]
    executed_amount: Decimal
    invoiced_amount: Decimal
    settled_amount: Decimal
    unsettled_invoiced: Decimal  # invoiced − paid or received
    uninvoiced_amount: Decimal  # contract amount − invoiced


def _percent(part: Decimal, whole: Decimal) -> Decimal:
    if not whole:
        return Decimal("0")
    return (part * 100 / whole).quantize(Decimal("0.1"))


def contract_execution(contract: Contract) -> ContractExecution:
    """Received (purchase) or issued (sales) quantities per line, invoiced and settled."""
    rows = []
    executed_total = Decimal("0")
    for line in contract.lines.all():
        executed = line.executed_quantity
        amount = (executed * line.unit_price).quantize(Decimal("0.01"))
        executed_total += amount
        rows.append(
            LineExecution(
                line=line,
                executed_quantity=executed,
                remaining_quantity=line.quantity - executed,
                upper_limit=(line.quantity * (1 + line.quantity_tolerance_percent / 100)).quantize(
                    Decimal("0.001")
                ),
                executed_amount=amount,
                percent=_percent(executed, line.quantity),
            )
        )
    return ContractExecution(
        lines=rows,
        executed_amount=executed_total,
        invoiced_amount=contract.invoiced_amount,
        settled_amount=contract.settled_amount,
        unsettled_invoiced=contract.invoiced_amount - contract.settled_amount,
        uninvoiced_amount=contract.total_amount - contract.invoiced_amount,
    )


def _chain(contract: Contract) -> Q:
    original_id = contract.original_id or contract.pk
    return Q(contract_id=original_id) | Q(contract__original_id=original_id)


def contract_stock_documents(contract: Contract) -> QuerySet[StockDocument]:
    """Goods receipts or issues booked against any revision of the contract."""
    return (
        StockDocument.objects.filter(_chain(contract))
        .select_related("warehouse")
        .order_by("-posting_date", "-id")
    )


def contract_invoices(contract: Contract) -> QuerySet[Invoice]:
    return Invoice.objects.filter(_chain(contract)).order_by("-invoice_date", "-id")


def contract_payments(contract: Contract) -> QuerySet[Payment]:
    return Payment.objects.filter(_chain(contract)).order_by("-paid_on", "-id")


@dataclass(frozen=True)
class LiveDocuments:
    """Documents not yet final that point at a contract (any revision)."""

    stock_drafts: int
    invoice_drafts: int
    open_payments: int  # draft or under approval
    open_amendments: int

    @property
    def blocks_termination(self) -> bool:
        # Termination stops delivery: goods still waiting to be booked and an amendment under
        # way must be settled first. Invoices and payments go on after termination.
        return bool(self.stock_drafts or self.open_amendments)

    @property
    def blocks_completion(self) -> bool:
        return bool(
            self.stock_drafts or self.invoice_drafts or self.open_payments or self.open_amendments
        )


def contract_live_documents(contract: Contract) -> LiveDocuments:
    chain = _chain(contract)
    original_id = contract.original_id or contract.pk
    return LiveDocuments(
        stock_drafts=StockDocument.objects.filter(chain, status=PostingStatus.DRAFT).count(),
        invoice_drafts=Invoice.objects.filter(chain, status=PostingStatus.DRAFT).count(),
        open_payments=Payment.objects.filter(
            chain, status__in=[ApprovedPostingStatus.DRAFT, ApprovedPostingStatus.PENDING]
        ).count(),
        open_amendments=Contract.objects.filter(
            Q(original_id=original_id), status__in=OPEN_STATUSES
        )
        .exclude(pk=original_id)
        .count(),
    )


def contract_kind_for_partner(partner: Partner) -> list[str]:
    """The contract kinds a partner may sign."""
    kinds: list[str] = []
    if partner.is_supplier:
        kinds.append(ContractKind.PURCHASE)
    if partner.is_customer:
        kinds.append(ContractKind.SALES)
    return kinds
