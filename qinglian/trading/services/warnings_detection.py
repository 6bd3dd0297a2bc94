"""Detection of the trading warnings: the rules (pure, no ORM) and one detector per warning
code, each reading one company set-wise — a fixed number of queries whatever the number of
contracts, documents or ledger entries — and returning hits (`Hit`: the code, a stable subject,
the measured figure and its threshold, the links and the responsible people). Writing them is
`services.warnings`' business.

Each rule has its boundary: a figure exactly at the threshold does not warn (an expiry exactly
N days ahead does; see the rules' docstrings).

Subjects (`Subjects`) narrow a detection to some contract chains, partners or stocktakes — the
cheap refresh after a posting.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal
from typing import Any

from django.db.models import F, Max, Min, Q

from qinglian.org.enums import RoleCode

from .. import costing
from ..enums import (
    ApprovedPostingStatus,
    ContractKind,
    ContractStatus,
    CreditGrade,
    PaymentKind,
    PaymentTerm,
    PostingStatus,
    StockDocumentKind,
)
from ..models import (
    Contract,
    ContractLine,
    Partner,
    PartnerBalance,
    Payment,
    Qualification,
    StockDocument,
)
from ..models.stock import StocktakeLine
from ..models.warnings import (
    WarningCode,
    WarningUnit,
)
from ..selectors import credit as credit_selectors
from ..selectors.master import REQUIRED_QUALIFICATION_KINDS

ZERO = Decimal("0")
MILLI = Decimal("0.001")
# Contracts goods and money are booked against (the revision in force of each chain).
IN_FORCE_STATUSES = (
    ContractStatus.EFFECTIVE,
    ContractStatus.COMPLETED,
    ContractStatus.TERMINATED,
)
CONTRACT_CODES = (
    WarningCode.CONTRACT_EXPIRING,
    WarningCode.CONTRACT_OVER_EXECUTED,
    WarningCode.CONTRACT_UNDER_EXECUTED,
    WarningCode.CONTRACT_NOT_EFFECTIVE,
    WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED,
    WarningCode.DELIVERY_OVERDUE,
    WarningCode.ISSUED_BEFORE_PREPAYMENT,
)
PARTNER_CODES = (WarningCode.CREDIT_OVER_LIMIT, WarningCode.RECEIVABLE_OVERDUE)


# ---------------------------------------------------------------- rules (pure)


@dataclass(frozen=True)
class Thresholds:
    contract_expiring_days: int = 30
    overdue_grace_days: int = 0
    overdue_min_amount: Decimal = ZERO
    credit_usage_percent: Decimal = Decimal("100")
    # None: each commodity's own stocktake tolerance.
    stock_variance_tolerance_percent: Decimal | None = None


DEFAULT_THRESHOLDS = Thresholds()
THRESHOLD_FIELDS = tuple(Thresholds.__dataclass_fields__)


def contract_allowance(quantity: Decimal, tolerance_percent: Decimal) -> Decimal:
    """The most a contract line may be executed (the stock services' rule)."""
    return costing.contract_allowance(quantity, tolerance_percent)


def contract_minimum(quantity: Decimal, tolerance_percent: Decimal) -> Decimal:
    """The least that counts as full execution of a contract line: its quantity less the
    tolerance, rounded up to the kilogram."""
    short = quantity * tolerance_percent / 100
    return (quantity - short).quantize(MILLI, rounding=ROUND_UP)


def is_over_executed(executed: Decimal, quantity: Decimal, tolerance_percent: Decimal) -> bool:
    return executed > contract_allowance(quantity, tolerance_percent)


def is_under_executed(executed: Decimal, quantity: Decimal, tolerance_percent: Decimal) -> bool:
    return executed < contract_minimum(quantity, tolerance_percent)


def is_expiring(end_on: datetime.date | None, on_date: datetime.date, within_days: int) -> bool:
    """Expires today or within `within_days` days (not yet expired)."""
    return end_on is not None and on_date <= end_on <= on_date + datetime.timedelta(within_days)


def days_overdue(due_date: datetime.date, on_date: datetime.date) -> int:
    return max(0, (on_date - due_date).days)


def is_overdue(due_date: datetime.date, on_date: datetime.date, grace_days: int) -> bool:
    """Overdue beyond the grace: more than `grace_days` days past the due date."""
    return days_overdue(due_date, on_date) > grace_days


def credit_threshold(limit: Decimal, usage_percent: Decimal) -> Decimal:
    return costing.money(limit * usage_percent / 100)


def is_over_credit(exposure: Decimal, limit: Decimal, usage_percent: Decimal) -> bool:
    """Exposure beyond `usage_percent` % of the credit limit. Only customers whose limit
    applies reach this (`selectors.credit.credit_limit_applies`: a limit above 0, or grade D
    where 0 is the limit)."""
    return exposure > credit_threshold(limit, usage_percent)


def prepayment_required(total_amount: Decimal, percent: Decimal) -> Decimal:
    return costing.money(total_amount * percent / 100)


def variance_percent(book: Decimal, counted: Decimal) -> Decimal:
    """The stocktake variance in % of the book (the stock services' rule)."""
    return costing.difference_percent(book, counted)


def is_variance_beyond(book: Decimal, counted: Decimal, tolerance_percent: Decimal) -> bool:
    return counted != book and variance_percent(book, counted) > tolerance_percent


def _quantity(value: Decimal) -> str:
    return str(value.quantize(MILLI))


def _amount(value: Decimal) -> str:
    return str(costing.money(value))


# ---------------------------------------------------------------- detection


@dataclass
class Hit:
    """One warning condition found by a detector."""

    company_id: int
    code: str
    subject: str  # stable per code: the fingerprint is "<code>:<subject>"
    measured: Decimal
    threshold: Decimal
    unit: str
    partner_id: int | None = None
    contract_id: int | None = None
    contract_original_id: int | None = None
    warehouse_id: int | None = None
    commodity_id: int | None = None
    document_type: str = ""
    document_id: int | None = None
    document_label: str = ""
    reference_date: datetime.date | None = None
    details: dict[str, Any] = field(default_factory=dict)
    responsible_user_ids: frozenset[int] = frozenset()
    responsible_role: str = ""

    @property
    def fingerprint(self) -> str:
        return f"{self.code}:{self.subject}"


@dataclass(frozen=True)
class Subjects:
    """What a refresh looks at within a company; None: everything."""

    contract_original_ids: frozenset[int] | None = None
    partner_ids: frozenset[int] | None = None
    stocktake_ids: frozenset[int] | None = None

    def contract_q(self, prefix: str = "") -> Q:
        """Contracts (through `prefix`) of the chains and partners asked for. Through a
        relation the chains' contracts are a subquery, so the related rows are found by their
        contract index (an OR across the join would scan the company's rows)."""
        q = Q()
        if self.contract_original_ids is not None:
            ids = sorted(self.contract_original_ids)
            chains = Q(original_id__in=ids) | Q(pk__in=ids)
            if prefix:
                q &= Q(**{f"{prefix}pk__in": Contract.objects.filter(chains).values("pk")})
            else:
                q &= chains
        if self.partner_ids is not None:
            q &= Q(**{f"{prefix}partner_id__in": sorted(self.partner_ids)})
        return q

    def partner_q(self, field_name: str = "partner_id") -> Q:
        if self.partner_ids is None:
            return Q()
        return Q(**{f"{field_name}__in": sorted(self.partner_ids)})

    def warning_q(self) -> Q:
        """The stored warnings this refresh may find again (or find cleared)."""
        q = Q()
        if self.contract_original_ids is not None:
            q &= Q(contract_original_id__in=sorted(self.contract_original_ids))
        if self.partner_ids is not None:
            q &= Q(partner_id__in=sorted(self.partner_ids))
        if self.stocktake_ids is not None:
            q &= Q(document_type="stocktake", document_id__in=sorted(self.stocktake_ids))
        return q


EVERYTHING = Subjects()


@dataclass
class Context:
    """One detection: a company, a day, its thresholds, the subjects looked at."""

    company_id: int
    on_date: datetime.date
    thresholds: Thresholds
    subjects: Subjects = EVERYTHING
    _short: list[dict[str, Any]] | None = None

    def short_lines(self) -> list[dict[str, Any]]:
        """Contract lines short of their minimum past a deadline (read once, used twice)."""
        if self._short is None:
            self._short = _short_lines(self.company_id, self.on_date, self.subjects)
        return self._short


def chain_id(row: Mapping[str, Any], prefix: str = "") -> int:
    return int(row[f"{prefix}original_id"] or row[f"{prefix}id"])


def _contract_label(row: Mapping[str, Any], prefix: str = "") -> str:
    number, revision = row[f"{prefix}number"], row[f"{prefix}revision"]
    return number if not revision else f"{number} ({revision})"


def _contract_hit(row: Mapping[str, Any], prefix: str = "", **values: Any) -> Hit:
    """A hit about a contract: its links and its owner, from a `values()` row."""
    return Hit(
        partner_id=row[f"{prefix}partner_id"],
        contract_id=row[f"{prefix}id"],
        contract_original_id=chain_id(row, prefix),
        responsible_user_ids=frozenset({row[f"{prefix}owner_id"]}),
        **values,
    )


CONTRACT_FIELDS = (
    "id",
    "original_id",
    "number",
    "revision",
    "kind",
    "status",
    "partner_id",
    "owner_id",
    "end_on",
    "delivery_end",
    "effective_on",
    "terminated_on",
    "total_amount",
    "prepayment_percent",
)


def _contract_values(prefix: str) -> list[str]:
    return [f"{prefix}{name}" for name in CONTRACT_FIELDS]


def detect_contract_expiring(ctx: Context) -> list[Hit]:
    days = ctx.thresholds.contract_expiring_days
    rows = (
        Contract.objects.filter(
            ctx.subjects.contract_q(),
            company_id=ctx.company_id,
            status=ContractStatus.EFFECTIVE,
            end_on__gte=ctx.on_date,
            end_on__lte=ctx.on_date + datetime.timedelta(days=days),
        )
        .values(*CONTRACT_FIELDS)
        .order_by("id")
    )
    hits = []
    for row in rows:
        left = (row["end_on"] - ctx.on_date).days
        hits.append(
            _contract_hit(
                row,
                company_id=ctx.company_id,
                code=WarningCode.CONTRACT_EXPIRING,
                subject=f"c{chain_id(row)}",
                measured=Decimal(left),
                threshold=Decimal(days),
                unit=WarningUnit.DAYS,
                reference_date=row["end_on"],
                details={"contract": _contract_label(row), "days_left": left},
            )
        )
    return hits


LINE_FIELDS = (
    "id",
    "line_number",
    "commodity_id",
    "commodity__name",
    "commodity__spec",
    "quantity",
    "quantity_tolerance_percent",
    "executed_quantity",
)


def _lines(company_id: int, subjects: Subjects, *conditions: Q, **filters: Any) -> list[Any]:
    return list(
        ContractLine.objects.filter(
            subjects.contract_q("contract__"),
            *conditions,
            contract__company_id=company_id,
            **filters,
        )
        .values(*LINE_FIELDS, *_contract_values("contract__"))
        .order_by("contract_id", "line_number")
    )


def _commodity(row: Mapping[str, Any]) -> str:
    return f"{row['commodity__name']} {row['commodity__spec']}".strip()


def detect_contract_over_executed(ctx: Context) -> list[Hit]:
    hits = []
    for row in _lines(
        ctx.company_id,
        ctx.subjects,
        contract__status__in=IN_FORCE_STATUSES,
        executed_quantity__gt=F("quantity"),
    ):
        allowance = contract_allowance(row["quantity"], row["quantity_tolerance_percent"])
        if not row["executed_quantity"] > allowance:
            continue
        hits.append(
            _contract_hit(
                row,
                "contract__",
                company_id=ctx.company_id,
                code=WarningCode.CONTRACT_OVER_EXECUTED,
                subject=f"c{chain_id(row, 'contract__')}:l{row['line_number']}",
                measured=row["executed_quantity"],
                threshold=allowance,
                unit=WarningUnit.QUANTITY,
                commodity_id=row["commodity_id"],
                details={
                    "contract": _contract_label(row, "contract__"),
                    "line": row["line_number"],
                    "commodity": _commodity(row),
                    "quantity": _quantity(row["quantity"]),
                    "tolerance_percent": str(row["quantity_tolerance_percent"]),
                    "executed": _quantity(row["executed_quantity"]),
                    "allowance": _quantity(allowance),
                },
            )
        )
    return hits


def _short_lines(
    company_id: int, on_date: datetime.date, subjects: Subjects
) -> list[dict[str, Any]]:
    """Lines of effective contracts past their expiry or delivery deadline that are executed
    less than their quantity less the tolerance (one query for both detectors)."""
    rows = _lines(
        company_id,
        subjects,
        Q(contract__end_on__lt=on_date) | Q(contract__delivery_end__lt=on_date),
        contract__status=ContractStatus.EFFECTIVE,
        executed_quantity__lt=F("quantity"),
    )
    short = []
    for row in rows:
        minimum = contract_minimum(row["quantity"], row["quantity_tolerance_percent"])
        if row["executed_quantity"] < minimum:
            short.append({**row, "minimum": minimum})
    return short


def detect_contract_under_executed(ctx: Context) -> list[Hit]:
    rows = ctx.short_lines()
    hits = []
    for row in rows:
        end_on = row["contract__end_on"]
        if end_on is None or not end_on < ctx.on_date:
            continue
        hits.append(
            _contract_hit(
                row,
                "contract__",
                company_id=ctx.company_id,
                code=WarningCode.CONTRACT_UNDER_EXECUTED,
                subject=f"c{chain_id(row, 'contract__')}:l{row['line_number']}",
                measured=row["executed_quantity"],
                threshold=row["minimum"],
                unit=WarningUnit.QUANTITY,
                commodity_id=row["commodity_id"],
                reference_date=end_on,
                details={
                    "contract": _contract_label(row, "contract__"),
                    "line": row["line_number"],
                    "commodity": _commodity(row),
                    "quantity": _quantity(row["quantity"]),
                    "tolerance_percent": str(row["quantity_tolerance_percent"]),
                    "executed": _quantity(row["executed_quantity"]),
                    "minimum": _quantity(row["minimum"]),
                },
            )
        )
    return hits


def detect_delivery_overdue(ctx: Context) -> list[Hit]:
    rows = ctx.short_lines()
    by_contract: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        deadline = row["contract__delivery_end"]
        if deadline is not None and deadline < ctx.on_date:
            by_contract[row["contract__id"]].append(row)
    hits = []
    for lines in by_contract.values():
        row = lines[0]
        delivered = sum((line["executed_quantity"] for line in lines), ZERO)
        required = sum((line["minimum"] for line in lines), ZERO)
        deadline = row["contract__delivery_end"]
        hits.append(
            _contract_hit(
                row,
                "contract__",
                company_id=ctx.company_id,
                code=WarningCode.DELIVERY_OVERDUE,
                subject=f"c{chain_id(row, 'contract__')}",
                measured=delivered,
                threshold=required,
                unit=WarningUnit.QUANTITY,
                reference_date=deadline,
                details={
                    "contract": _contract_label(row, "contract__"),
                    "contract_kind": row["contract__kind"],
                    "days_late": (ctx.on_date - deadline).days,
                    "delivered": _quantity(delivered),
                    "required": _quantity(required),
                    "lines": [
                        {
                            "line": line["line_number"],
                            "commodity": _commodity(line),
                            "quantity": _quantity(line["quantity"]),
                            "executed": _quantity(line["executed_quantity"]),
                            "minimum": _quantity(line["minimum"]),
                        }
                        for line in lines
                    ],
                },
            )
        )
    return hits


def _standing_documents_q() -> Q:
    """Posted documents that still stand: neither reversed nor a reversal."""
    return Q(status=PostingStatus.POSTED, reverses__isnull=True)


def _window(row: Mapping[str, Any] | None, start: datetime.date | None) -> tuple[Any, Any]:
    """(from, until) of a contract chain in force: its first effective date and the expiry or
    termination of the revision in force (None: open-ended); (None, None) if never in force."""
    if row is None or start is None:
        return None, None
    ends = [day for day in (row["end_on"], row["terminated_on"]) if day]
    return start, (min(ends) if ends else None)


def _outside(
    day: datetime.date, start: datetime.date | None, end: datetime.date | None, *, goods: bool
) -> str:
    """Why a booking dated `day` lies outside the chain's period in force ("" when inside).
    Money may still be settled after the end (a receivable falls due after the delivery); goods
    may not move after it."""
    if start is None:
        return "never_effective"
    if day < start:
        return "before_effective"
    if goods and end is not None and day > end:
        return "after_end"
    return ""


def detect_contract_not_effective(ctx: Context) -> list[Hit]:
    """Goods or money booked against a contract outside the period it was in force: before
    it took effect (its first revision's effective date), goods after its expiry or
    termination, or anything against a contract that never took effect. Reads the first and
    last booking date per contract, and the documents only of the contracts that fail."""
    starts: dict[int, datetime.date] = {}
    current: dict[int, dict[str, Any]] = {}
    first: dict[int, dict[str, Any]] = {}
    for row in (
        Contract.objects.filter(ctx.subjects.contract_q(), company_id=ctx.company_id)
        .exclude(status=ContractStatus.CANCELLED)
        .values(*CONTRACT_FIELDS)
        .order_by("revision", "id")
    ):
        chain = chain_id(row)
        first.setdefault(chain, row)
        if row["effective_on"] is not None and (
            chain not in starts or row["effective_on"] < starts[chain]
        ):
            starts[chain] = row["effective_on"]
        if row["status"] in IN_FORCE_STATUSES:
            current[chain] = row
    windows = {chain: _window(current.get(chain), starts.get(chain)) for chain in first}
    goods = StockDocument.objects.filter(
        _standing_documents_q(),
        ctx.subjects.contract_q("contract__"),
        company_id=ctx.company_id,
        contract__isnull=False,
    )
    money = Payment.objects.filter(
        ctx.subjects.contract_q("contract__"),
        company_id=ctx.company_id,
        status=ApprovedPostingStatus.POSTED,
        reverses__isnull=True,
        contract__isnull=False,
    )
    failing: set[int] = set()
    for queryset, date_field, is_goods in (
        (goods, "posting_date", True),
        (money, "paid_on", False),
    ):
        for row in (
            queryset.values("contract__id", "contract__original_id")
            .annotate(first=Min(date_field), last=Max(date_field))
            .order_by()
        ):
            chain = chain_id(row, "contract__")
            if chain not in windows:
                continue
            start, end = windows[chain]
            if _outside(row["first"], start, end, goods=is_goods) or _outside(
                row["last"], start, end, goods=is_goods
            ):
                failing.add(chain)
    if not failing:
        return []
    chain_q = Q(contract__original_id__in=sorted(failing)) | Q(contract_id__in=sorted(failing))
    outside: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for queryset, date_field, is_goods, document_type in (
        (goods, "posting_date", True, "stock_document"),
        (money, "paid_on", False, "payment"),
    ):
        for row in queryset.filter(chain_q).values(
            "id", "number", date_field, "contract__id", "contract__original_id"
        ):
            chain = chain_id(row, "contract__")
            start, end = windows[chain]
            reason = _outside(row[date_field], start, end, goods=is_goods)
            if reason:
                outside[chain].append(
                    {
                        "type": document_type,
                        "id": row["id"],
                        "number": row["number"],
                        "date": row[date_field].isoformat(),
                        "reason": reason,
                    }
                )
    hits = []
    for chain, documents in sorted(outside.items()):
        documents.sort(key=lambda item: (item["date"], item["type"], item["id"]))
        earliest = documents[0]
        contract = current.get(chain) or first[chain]
        start, end = windows[chain]
        hits.append(
            _contract_hit(
                contract,
                company_id=ctx.company_id,
                code=WarningCode.CONTRACT_NOT_EFFECTIVE,
                subject=f"c{chain}",
                measured=Decimal(len(documents)),
                threshold=ZERO,
                unit=WarningUnit.DOCUMENTS,
                document_type=earliest["type"],
                document_id=earliest["id"],
                document_label=earliest["number"],
                reference_date=start,
                details={
                    "contract": _contract_label(contract),
                    "effective_on": start.isoformat() if start else None,
                    "end_on": end.isoformat() if end else None,
                    "documents": documents[:20],
                },
            )
        )
    return hits


def detect_counterparty_qualification_expired(ctx: Context) -> list[Hit]:
    """Effective contracts whose counterparty holds a required qualification (the supply
    rule's) that has expired."""
    contracts = list(
        Contract.objects.filter(
            ctx.subjects.contract_q(), company_id=ctx.company_id, status=ContractStatus.EFFECTIVE
        )
        .values(*CONTRACT_FIELDS)
        .order_by("id")
    )
    if not contracts:
        return []
    expired: dict[int, list[Any]] = defaultdict(list)
    for row in (
        Qualification.objects.filter(
            partner_id__in=Contract.objects.filter(
                ctx.subjects.contract_q(),
                company_id=ctx.company_id,
                status=ContractStatus.EFFECTIVE,
            ).values("partner_id"),
            kind__in=sorted(REQUIRED_QUALIFICATION_KINDS),
            expires_on__lt=ctx.on_date,
        )
        .values("id", "partner_id", "name", "kind", "expires_on")
        .order_by("expires_on", "id")
    ):
        expired[row["partner_id"]].append(row)
    hits = []
    for contract in contracts:
        found = expired.get(contract["partner_id"])
        if not found:
            continue
        oldest = found[0]
        hits.append(
            _contract_hit(
                contract,
                company_id=ctx.company_id,
                code=WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED,
                subject=f"c{chain_id(contract)}",
                measured=Decimal((ctx.on_date - oldest["expires_on"]).days),
                threshold=ZERO,
                unit=WarningUnit.DAYS,
                reference_date=oldest["expires_on"],
                details={
                    "contract": _contract_label(contract),
                    "qualifications": [
                        {
                            "id": item["id"],
                            "name": item["name"],
                            "kind": item["kind"],
                            "expires_on": item["expires_on"].isoformat(),
                        }
                        for item in found
                    ],
                },
            )
        )
    return hits


def detect_issued_before_prepayment(ctx: Context) -> list[Hit]:
    """Sales contracts on prepayment terms whose first goods issue (still standing) left before
    the receipts dated up to that day covered the agreed prepayment."""
    contracts = {
        chain_id(row): row
        for row in Contract.objects.filter(
            ctx.subjects.contract_q(),
            company_id=ctx.company_id,
            kind=ContractKind.SALES,
            status__in=IN_FORCE_STATUSES,
            payment_term=PaymentTerm.PREPAYMENT,
            prepayment_percent__gt=0,
        ).values(*CONTRACT_FIELDS)
    }
    if not contracts:
        return []
    chains = sorted(contracts)
    chain_q = Q(contract__original_id__in=chains) | Q(contract_id__in=chains)
    first_issue: dict[int, datetime.date] = {}
    for row in (
        StockDocument.objects.filter(
            chain_q,
            _standing_documents_q(),
            company_id=ctx.company_id,
            kind=StockDocumentKind.ISSUE,
            posting_date__lte=ctx.on_date,
        )
        .values("contract__original_id", "contract_id")
        .annotate(first=Min("posting_date"))
    ):
        chain = int(row["contract__original_id"] or row["contract_id"])
        if chain not in first_issue or row["first"] < first_issue[chain]:
            first_issue[chain] = row["first"]
    if not first_issue:
        return []
    received: dict[int, Decimal] = defaultdict(Decimal)
    for receipt in Payment.objects.filter(
        chain_q,
        company_id=ctx.company_id,
        kind=PaymentKind.CUSTOMER_RECEIPT,
        status__in=(ApprovedPostingStatus.POSTED, ApprovedPostingStatus.REVERSED),
        paid_on__lte=max(first_issue.values()),
    ).values("contract__original_id", "contract_id", "paid_on", "amount"):
        chain = int(receipt["contract__original_id"] or receipt["contract_id"])
        if chain in first_issue and receipt["paid_on"] <= first_issue[chain]:
            received[chain] += receipt["amount"]
    late: dict[int, tuple[Decimal, Decimal]] = {}
    for chain in first_issue:
        contract = contracts[chain]
        required = prepayment_required(contract["total_amount"], contract["prepayment_percent"])
        if received[chain] < required:
            late[chain] = (received[chain], required)
    if not late:
        return []
    documents: dict[int, Any] = {}
    late_q = Q(contract__original_id__in=sorted(late)) | Q(contract_id__in=sorted(late))
    for issue in (
        StockDocument.objects.filter(
            late_q,
            _standing_documents_q(),
            company_id=ctx.company_id,
            kind=StockDocumentKind.ISSUE,
            posting_date__in=sorted({first_issue[chain] for chain in late}),
        )
        .values("id", "number", "posting_date", "contract__original_id", "contract_id")
        .order_by("posting_date", "id")
    ):
        chain = int(issue["contract__original_id"] or issue["contract_id"])
        if chain in late and issue["posting_date"] == first_issue[chain]:
            documents.setdefault(chain, issue)
    hits = []
    for chain, (paid, required) in sorted(late.items()):
        contract = contracts[chain]
        document = documents.get(chain, {})
        hits.append(
            _contract_hit(
                contract,
                company_id=ctx.company_id,
                code=WarningCode.ISSUED_BEFORE_PREPAYMENT,
                subject=f"c{chain}",
                measured=costing.money(paid),
                threshold=required,
                unit=WarningUnit.AMOUNT,
                document_type="stock_document" if document else "",
                document_id=document.get("id"),
                document_label=document.get("number", ""),
                reference_date=first_issue[chain],
                details={
                    "contract": _contract_label(contract),
                    "prepayment_percent": str(contract["prepayment_percent"]),
                    "contract_amount": _amount(contract["total_amount"]),
                    "received": _amount(paid),
                    "required": _amount(required),
                    "issued_on": first_issue[chain].isoformat(),
                },
            )
        )
    return hits


def detect_stock_variance(ctx: Context) -> list[Hit]:
    """Stocktake and warehouse-statement lines not yet posted (draft, under approval or
    rejected) whose variance is beyond the tolerance: the company's, or the commodity's."""
    stocktake_q = Q()
    if ctx.subjects.stocktake_ids is not None:
        stocktake_q = Q(stocktake_id__in=sorted(ctx.subjects.stocktake_ids))
    rows = (
        StocktakeLine.objects.filter(
            stocktake_q,
            stocktake__company_id=ctx.company_id,
            stocktake__status__in=(
                ApprovedPostingStatus.DRAFT,
                ApprovedPostingStatus.PENDING,
                ApprovedPostingStatus.REJECTED,
            ),
        )
        .exclude(counted_quantity=F("book_quantity"))
        .values(
            "id",
            "commodity_id",
            "commodity__name",
            "commodity__spec",
            "commodity__tolerance_percent",
            "book_quantity",
            "counted_quantity",
            "stocktake_id",
            "stocktake__number",
            "stocktake__kind",
            "stocktake__counted_on",
            "stocktake__warehouse_id",
            "stocktake__warehouse__keeper_id",
            "stocktake__counter_id",
        )
        .order_by("stocktake_id", "id")
    )
    hits = []
    for row in rows:
        tolerance = ctx.thresholds.stock_variance_tolerance_percent
        if tolerance is None:
            tolerance = row["commodity__tolerance_percent"]
        book, counted = row["book_quantity"], row["counted_quantity"]
        if not is_variance_beyond(book, counted, tolerance):
            continue
        people = {row["stocktake__warehouse__keeper_id"], row["stocktake__counter_id"]}
        hits.append(
            Hit(
                company_id=ctx.company_id,
                code=WarningCode.STOCK_VARIANCE,
                subject=f"s{row['stocktake_id']}:m{row['commodity_id']}",
                measured=variance_percent(book, counted).quantize(MILLI),
                threshold=tolerance,
                unit=WarningUnit.PERCENT,
                warehouse_id=row["stocktake__warehouse_id"],
                commodity_id=row["commodity_id"],
                document_type="stocktake",
                document_id=row["stocktake_id"],
                document_label=row["stocktake__number"],
                reference_date=row["stocktake__counted_on"],
                details={
                    "commodity": _commodity(row),
                    "stocktake_kind": row["stocktake__kind"],
                    "book": _quantity(book),
                    "counted": _quantity(counted),
                    "variance": _quantity(counted - book),
                },
                responsible_user_ids=frozenset(person for person in people if person),
                responsible_role=RoleCode.WAREHOUSE_KEEPER,
            )
        )
    return hits


# ---------------------------------------------------------------- receivables and credit


def _sales_owners(company_id: int, partner_ids: Iterable[int]) -> dict[int, set[int]]:
    """The owners of the company's effective sales contracts with each customer."""
    owners: dict[int, set[int]] = defaultdict(set)
    ids = sorted(set(partner_ids))
    if not ids:
        return owners
    for partner_id, owner_id in Contract.objects.filter(
        company_id=company_id,
        kind=ContractKind.SALES,
        status=ContractStatus.EFFECTIVE,
        partner_id__in=ids,
    ).values_list("partner_id", "owner_id"):
        owners[partner_id].add(owner_id)
    return owners


def open_receivables(
    company_id: int, on_date: datetime.date, partner_ids: Iterable[int] | None = None
) -> list[credit_selectors.OpenReceivable]:
    """A company's open receivables as of `on_date` (of some customers): the credit
    selectors' one definition and set-wise reading (`selectors.credit.open_receivables`), so
    the overdue warnings, the ageing and the overdue block agree."""
    return credit_selectors.open_receivables(
        as_of=on_date, company_id=company_id, partner_ids=partner_ids
    )


def detect_receivable_overdue(ctx: Context) -> list[Hit]:
    """Customers owing the company receivables more than the grace days past due, in total
    above the minimum amount (open items: `open_receivables`, the credit selectors'
    definition; the ageing buckets are theirs too); one warning per customer and company."""
    grace = ctx.thresholds.overdue_grace_days
    items = open_receivables(ctx.company_id, ctx.on_date, ctx.subjects.partner_ids)
    per_partner: dict[int, list[credit_selectors.OpenReceivable]] = defaultdict(list)
    for item in items:
        if is_overdue(item.due_date, ctx.on_date, grace):
            per_partner[item.partner_id].append(item)
    owners = _sales_owners(ctx.company_id, per_partner)
    hits = []
    for partner_id, overdue in sorted(per_partner.items()):
        amount = sum((item.outstanding for item in overdue), ZERO)
        if not amount > ctx.thresholds.overdue_min_amount:
            continue
        buckets: dict[str, Decimal] = defaultdict(Decimal)
        for item in overdue:
            buckets[credit_selectors.ageing_bucket(item.days_overdue)] += item.outstanding
        oldest = min(overdue, key=lambda item: (item.due_date, item.voucher_id))
        hits.append(
            Hit(
                company_id=ctx.company_id,
                code=WarningCode.RECEIVABLE_OVERDUE,
                subject=f"p{partner_id}",
                measured=costing.money(amount),
                threshold=ctx.thresholds.overdue_min_amount,
                unit=WarningUnit.AMOUNT,
                partner_id=partner_id,
                document_type=oldest.voucher_type,
                document_id=oldest.voucher_id,
                reference_date=oldest.due_date,
                details={
                    "grace_days": grace,
                    "oldest_days": oldest.days_overdue,
                    "items": len(overdue),
                    "buckets": {
                        key: _amount(buckets[key])
                        for key, _label in credit_selectors.AGEING_BUCKETS
                        if key in buckets
                    },
                },
                responsible_user_ids=frozenset(owners.get(partner_id, ())),
                responsible_role=RoleCode.FINANCE,
            )
        )
    return hits


@dataclass(frozen=True)
class Exposure:
    partner_id: int
    exposure: Decimal
    limit: Decimal
    components: Any  # selectors.credit.Components
    policy: Any  # selectors.credit.PolicyValues


def credit_exposures(company_id: int, partner_ids: Iterable[int] | None = None) -> list[Exposure]:
    """The group-wide credit exposure (the credit selectors' definition and policy formula)
    of the customers with a credit limit that do business with `company_id`, computed from
    the sources set-wise: the receivable balances over every company, and the sales contracts
    in force (issued, invoiced, still to deliver) — a fixed number of queries."""
    dealing = Q(
        pk__in=Contract.objects.filter(
            company_id=company_id, kind=ContractKind.SALES, status__in=IN_FORCE_STATUSES
        ).values("partner_id")
    ) | Q(
        pk__in=PartnerBalance.objects.filter(company_id=company_id)
        .exclude(receivable=0)
        .values("partner_id")
    )
    partners = Partner.objects.filter(dealing).filter(
        Q(credit_limit__gt=0) | Q(credit_grade=CreditGrade.D)
    )
    if partner_ids is not None:
        partners = partners.filter(pk__in=sorted(set(partner_ids)))
    listed = list(partners)
    if not listed:
        return []
    ids = [partner.pk for partner in listed]
    receivable: dict[int, Decimal] = defaultdict(Decimal)
    for partner_id, amount in PartnerBalance.objects.filter(partner_id__in=ids).values_list(
        "partner_id", "receivable"
    ):
        receivable[partner_id] += amount
    contracts: dict[int, dict[str, Any]] = {}
    for row in ContractLine.objects.filter(
        contract__partner_id__in=ids,
        contract__kind=ContractKind.SALES,
        contract__status__in=IN_FORCE_STATUSES,
    ).values(
        "contract_id",
        "contract__partner_id",
        "contract__status",
        "contract__total_amount",
        "contract__invoiced_amount",
        "executed_quantity",
        "unit_price",
    ):
        contract = contracts.setdefault(
            row["contract_id"],
            {
                "partner_id": row["contract__partner_id"],
                "amount": row["contract__total_amount"],
                "invoiced": row["contract__invoiced_amount"],
                "is_open": row["contract__status"] == ContractStatus.EFFECTIVE,
                "issued": ZERO,
            },
        )
        contract["issued"] += row["executed_quantity"] * row["unit_price"]
    uninvoiced: dict[int, Decimal] = defaultdict(Decimal)
    open_orders: dict[int, Decimal] = defaultdict(Decimal)
    for contract in contracts.values():
        open_order, not_invoiced = credit_selectors.order_exposure(
            amount=contract["amount"],
            issued=contract["issued"].quantize(Decimal("0.01")),
            invoiced=contract["invoiced"],
            is_open=contract["is_open"],
        )
        open_orders[contract["partner_id"]] += open_order
        uninvoiced[contract["partner_id"]] += not_invoiced
    policies: dict[int, Any] = {}
    result = []
    for partner in listed:
        if partner.company_id not in policies:
            policies[partner.company_id] = credit_selectors.credit_policy_for(
                company_id=partner.company_id
            )
        policy = policies[partner.company_id]
        components = credit_selectors.Components(
            receivable=costing.money(receivable[partner.pk]),
            uninvoiced=uninvoiced[partner.pk],
            open_orders=open_orders[partner.pk],
        )
        result.append(
            Exposure(
                partner_id=partner.pk,
                exposure=components.exposure(policy),
                limit=partner.credit_limit,
                components=components,
                policy=policy,
            )
        )
    return result


def detect_credit_over_limit(ctx: Context) -> list[Hit]:
    """Customers whose group-wide exposure is beyond the credit-usage threshold of their limit
    (100 %: the credit block's own line), one warning per customer and company dealing with
    it (the same figures in each: the limit is group-wide)."""
    usage = ctx.thresholds.credit_usage_percent
    over = [
        exposure
        for exposure in credit_exposures(ctx.company_id, ctx.subjects.partner_ids)
        if is_over_credit(exposure.exposure, exposure.limit, usage)
    ]
    owners = _sales_owners(ctx.company_id, (exposure.partner_id for exposure in over))
    hits = []
    for exposure in sorted(over, key=lambda item: item.partner_id):
        components = exposure.components
        hits.append(
            Hit(
                company_id=ctx.company_id,
                code=WarningCode.CREDIT_OVER_LIMIT,
                subject=f"p{exposure.partner_id}",
                measured=exposure.exposure,
                threshold=credit_threshold(exposure.limit, usage),
                unit=WarningUnit.AMOUNT,
                partner_id=exposure.partner_id,
                details={
                    "credit_limit": _amount(exposure.limit),
                    "usage_percent": str(usage),
                    "receivable": _amount(components.receivable),
                    "uninvoiced": _amount(components.uninvoiced),
                    "open_orders": _amount(components.open_orders),
                    "formula": [
                        name
                        for name, included in (
                            ("receivable", exposure.policy.include_receivables),
                            ("uninvoiced", exposure.policy.include_uninvoiced),
                            ("open_orders", exposure.policy.include_open_orders),
                        )
                        if included
                    ],
                },
                responsible_user_ids=frozenset(owners.get(exposure.partner_id, ())),
                responsible_role=RoleCode.FINANCE,
            )
        )
    return hits


DETECTORS: dict[str, Callable[[Context], list[Hit]]] = {
    WarningCode.CREDIT_OVER_LIMIT: detect_credit_over_limit,
    WarningCode.RECEIVABLE_OVERDUE: detect_receivable_overdue,
    WarningCode.CONTRACT_EXPIRING: detect_contract_expiring,
    WarningCode.CONTRACT_OVER_EXECUTED: detect_contract_over_executed,
    WarningCode.CONTRACT_UNDER_EXECUTED: detect_contract_under_executed,
    WarningCode.CONTRACT_NOT_EFFECTIVE: detect_contract_not_effective,
    WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED: detect_counterparty_qualification_expired,
    WarningCode.DELIVERY_OVERDUE: detect_delivery_overdue,
    WarningCode.ISSUED_BEFORE_PREPAYMENT: detect_issued_before_prepayment,
    WarningCode.STOCK_VARIANCE: detect_stock_variance,
}


def detect(ctx: Context, codes: Iterable[str]) -> list[Hit]:
    """Every hit of `codes` in one company."""
    wanted = set(codes)
    hits: list[Hit] = []
    for code, detector in DETECTORS.items():
        if code in wanted:
            hits.extend(detector(ctx))
    return hits
