"""Trading facts for supervision: read-only, in bulk, as plain values.

Supervision never reads trading's tables itself: it asks here. Every function streams plain
frozen dataclasses ordered by id (or returns small aggregates), so a rule over a million
documents holds no model objects, and nothing here writes. No data scope either: supervision
applies the inspector's scope to the findings it makes; these functions answer for the whole
group.

The normalisation supervision compares master data and invoices by lives here too, in one
place: phone numbers, bank accounts and addresses (hidden related parties, split purchases) and
invoice numbers (duplicate invoices).

A contract's *chain* is its first revision and every amendment of it (`Contract.original`):
documents are booked against the revision in force at the time, so execution is summed per
chain; `chain_id` is the id of the first revision.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce, ExtractYear, TruncDate, TruncMonth
from django.db.models.lookups import GreaterThanOrEqual, LessThan

from qinglian.approvals.models import ApprovalRequest
from qinglian.audit.models import AuditEvent

from .enums import (
    ApprovedPostingStatus,
    ContractStatus,
    PartnerAccount,
    PaymentDirection,
    PostingStatus,
    StockDocumentKind,
    StockEntryKind,
)
from .models import (
    Commodity,
    Contract,
    ContractLine,
    CreditException,
    CreditExceptionStatus,
    Invoice,
    Partner,
    PartnerContact,
    PartnerLedgerEntry,
    PartnerStatusChange,
    Payment,
    Qualification,
    StockDocument,
    StockDocumentLine,
    StockLedgerEntry,
    Stocktake,
    StocktakeLine,
    TradingWarning,
    TradingWarningResponsible,
    Warehouse,
)
from .models.money import OpeningBalance

# Re-exported: the qualification kinds a supplier's admission rests on.
from .selectors.master import REQUIRED_QUALIFICATION_KINDS as REQUIRED_QUALIFICATION_KINDS
from .selectors.money import LedgerItem, allocate_open_items
from .selectors.stock import exact_sum, exact_total

CHUNK = 2000
ZERO = Decimal("0")

# Contracts that took effect at some point (a superseded revision was effective before its
# amendment replaced it).
EVER_EFFECTIVE_STATUSES = frozenset(
    {
        ContractStatus.EFFECTIVE,
        ContractStatus.COMPLETED,
        ContractStatus.TERMINATED,
        ContractStatus.SUPERSEDED,
    }
)
NEVER_EFFECTIVE_STATUSES = (ContractStatus.DRAFT, ContractStatus.PENDING, ContractStatus.CANCELLED)
# In force: goods and money may be booked against these (one revision of a chain at most).
EXECUTABLE_STATUSES = (
    ContractStatus.EFFECTIVE,
    ContractStatus.COMPLETED,
    ContractStatus.TERMINATED,
)
# Submitted for approval or beyond: what an approver has seen.
SUBMITTED_CONTRACT_STATUSES = EVER_EFFECTIVE_STATUSES | {ContractStatus.PENDING}
# Booked documents: posted, or posted and later reversed (a reversal is itself posted).
BOOKED_STATUSES = (PostingStatus.POSTED, PostingStatus.REVERSED)
BOOKED_PAYMENT_STATUSES = (ApprovedPostingStatus.POSTED, ApprovedPostingStatus.REVERSED)

# The audit actions that move a partner's admission (their `changes` carry
# "admission_status": [before, after]).
ADMISSION_ACTIONS = (
    "trading.partner.admission_requested",
    "trading.partner.admitted",
    "trading.partner.admission_refused",
    "trading.partner.suspended",
    "trading.partner.blacklisted",
    "trading.partner.reinstated",
)


def _chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    chunk: list[int] = []
    for item in ids:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


FactT = TypeVar("FactT")


def _stream(
    rows: QuerySet[Any, tuple[Any, ...]],
    fact: Callable[[tuple[Any, ...]], FactT],
    *selections: tuple[Iterable[int] | None, Callable[[list[int]], Q]],
) -> Iterator[FactT]:
    """`fact(row)` for the rows of the first selection given — its ids, and the condition that
    picks the rows of a chunk of them — or for every row when none is given."""
    for ids, condition in selections:
        if ids is not None:
            for chunk in _chunks(sorted(set(ids))):
                for row in rows.filter(condition(chunk)).iterator(chunk_size=CHUNK):
                    yield fact(row)
            return
    for row in rows.iterator(chunk_size=CHUNK):
        yield fact(row)


def _of_contract_chains(chunk: list[int]) -> Q:
    """Documents against any revision of the contracts whose first revisions are `chunk`."""
    return Q(contract_id__in=chunk) | Q(contract__original_id__in=chunk)


# ---------------------------------------------------------------- normalisation (pure)

MIN_PHONE_DIGITS = 7
MIN_BANK_ACCOUNT_CHARACTERS = 6
MIN_ADDRESS_CHARACTERS = 6
_EXTENSION = re.compile(r"(转|分机|ext\.?|x|#).*$", re.IGNORECASE)
_DIGITS = frozenset("0123456789")
_ADDRESS_PREFIXES = ("中华人民共和国", "中国")
# Spaces and dashes of every width, underscores, slashes and dots.
_INVOICE_SEPARATORS = re.compile(r"[\s\u00a0\u3000\-‐‑‒–—―－_/.·]+")


def normalise_phone(value: str | None) -> str:
    """The digits a phone number is compared by: full-width digits folded, an extension
    ("转 123", "ext 5") and the country code (+86, 0086) dropped; "" when fewer than 7 digits
    remain (not a usable number)."""
    text = unicodedata.normalize("NFKC", value or "").strip()
    text = _EXTENSION.sub("", text)
    digits = "".join(char for char in text if char in _DIGITS)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13 and digits[2] == "1":
        digits = digits[2:]  # +86 in front of a mobile number
    return digits if len(digits) >= MIN_PHONE_DIGITS else ""


def normalise_bank_account(value: str | None) -> str:
    """Letters and digits of an account number, upper case; "" when shorter than 6."""
    text = unicodedata.normalize("NFKC", value or "").upper()
    account = "".join(char for char in text if char.isascii() and char.isalnum())
    return account if len(account) >= MIN_BANK_ACCOUNT_CHARACTERS else ""


def normalise_address(value: str | None) -> str:
    """An address without spaces, punctuation and a leading country name, full-width
    characters folded, case-folded; "" when under 6 characters remain (a city alone says
    nothing)."""
    text = unicodedata.normalize("NFKC", value or "").casefold()
    text = "".join(
        char
        for char in text
        if not char.isspace() and unicodedata.category(char)[0] not in ("P", "S", "Z", "C")
    )
    for prefix in _ADDRESS_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text if len(text) >= MIN_ADDRESS_CHARACTERS else ""


def normalise_invoice_number(value: str | None) -> str:
    """An invoice number (or code) as duplicates are compared: full-width characters folded,
    spaces, dashes, underscores, slashes and dots removed, upper case, leading zeros
    stripped ("" stays "")."""
    text = value or ""
    if not text.isascii():  # most numbers are: folding costs more than the rest
        text = unicodedata.normalize("NFKC", text)
    text = _INVOICE_SEPARATORS.sub("", text).upper()
    stripped = text.lstrip("0")
    return stripped or ("0" if text else "")


# ---------------------------------------------------------------- partners


@dataclass(frozen=True, slots=True)
class PartnerFact:
    id: int
    company_id: int
    code: str
    name: str
    uscc: str
    kind: str
    bank_account: str
    phone: str
    address: str
    admission_status: str
    admitted_on: datetime.date | None
    is_active: bool


def partner_facts(
    *, partner_ids: Collection[int] | None = None, active_only: bool = False
) -> Iterator[PartnerFact]:
    queryset = Partner.objects.all()
    if active_only:
        queryset = queryset.filter(is_active=True)
    rows = queryset.order_by("id").values_list(
        "id",
        "company_id",
        "code",
        "name",
        "uscc",
        "kind",
        "bank_account",
        "phone",
        "address",
        "admission_status",
        "admitted_on",
        "is_active",
    )
    if partner_ids is None:
        for row in rows.iterator(chunk_size=CHUNK):
            yield PartnerFact(*row)
        return
    for chunk in _chunks(sorted(set(partner_ids))):
        for row in rows.filter(pk__in=chunk):
            yield PartnerFact(*row)


def partner_names(partner_ids: Iterable[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for chunk in _chunks(sorted(set(partner_ids))):
        names.update(Partner.objects.filter(pk__in=chunk).values_list("pk", "name"))
    return names


@dataclass(frozen=True, slots=True)
class PartnerContactFact:
    id: int
    partner_id: int
    name: str
    phone: str


def partner_contact_facts(*, with_phone_only: bool = True) -> Iterator[PartnerContactFact]:
    queryset = PartnerContact.objects.all()
    if with_phone_only:
        queryset = queryset.exclude(phone="")
    rows = queryset.order_by("id").values_list("id", "partner_id", "name", "phone")
    for row in rows.iterator(chunk_size=CHUNK):
        yield PartnerContactFact(*row)


@dataclass(frozen=True, slots=True)
class QualificationFact:
    id: int
    partner_id: int
    kind: str
    name: str
    number: str
    issued_on: datetime.date | None
    expires_on: datetime.date | None


def qualification_facts(
    *, kinds: Collection[str] | None = None, partner_ids: Collection[int] | None = None
) -> Iterator[QualificationFact]:
    queryset = Qualification.objects.all()
    if kinds is not None:
        queryset = queryset.filter(kind__in=list(kinds))
    rows = queryset.order_by("id").values_list(
        "id", "partner_id", "kind", "name", "number", "issued_on", "expires_on"
    )
    if partner_ids is None:
        for row in rows.iterator(chunk_size=CHUNK):
            yield QualificationFact(*row)
        return
    for chunk in _chunks(sorted(set(partner_ids))):
        for row in rows.filter(partner_id__in=chunk):
            yield QualificationFact(*row)


@dataclass(frozen=True, slots=True)
class AdmissionChangeFact:
    """A move of a partner's admission as the audit trail recorded it."""

    partner_id: int
    at: datetime.datetime
    before: str
    after: str


def admission_change_facts(
    *, partner_ids: Collection[int] | None = None
) -> Iterator[AdmissionChangeFact]:
    """Oldest first (by the trail's own order within one partner)."""
    queryset = AuditEvent.objects.filter(
        object_type="trading.partner", action__in=ADMISSION_ACTIONS
    )
    if partner_ids is not None:
        queryset = queryset.filter(object_id__in=[str(pk) for pk in partner_ids])
    rows = queryset.order_by("occurred_at", "id").values_list("object_id", "occurred_at", "changes")
    for object_id, at, changes in rows.iterator(chunk_size=CHUNK):
        moved = changes.get("admission_status") if isinstance(changes, dict) else None
        if not (isinstance(moved, list) and len(moved) == 2) or not str(object_id).isdigit():
            continue
        yield AdmissionChangeFact(int(object_id), at, str(moved[0] or ""), str(moved[1] or ""))


@dataclass(frozen=True, slots=True)
class PartnerStatusFact:
    """A partner's admission status from a day on, as imported history recorded it (the old
    systems' status history; moves made here are AdmissionChangeFacts)."""

    partner_id: int
    valid_from: datetime.date
    status: str


def partner_status_facts(
    *, partner_ids: Collection[int] | None = None
) -> Iterator[PartnerStatusFact]:
    """Oldest first within each partner."""
    rows = PartnerStatusChange.objects.order_by("partner_id", "valid_from", "id").values_list(
        "partner_id", "valid_from", "status"
    )
    yield from _stream(
        rows,
        lambda row: PartnerStatusFact(*row),
        (partner_ids, lambda chunk: Q(partner_id__in=chunk)),
    )


# ---------------------------------------------------------------- contracts


@dataclass(frozen=True, slots=True)
class ContractFact:
    id: int
    chain_id: int  # the first revision's id
    revision: int
    number: str
    company_id: int
    department_id: int | None
    kind: str
    partner_id: int
    status: str
    signed_on: datetime.date | None
    effective_on: datetime.date | None
    terminated_on: datetime.date | None
    end_on: datetime.date | None
    created_on: datetime.date
    payment_term: str
    prepayment_percent: Decimal
    total_quantity: Decimal
    total_amount: Decimal
    owner_id: int

    @property
    def label(self) -> str:
        return self.number if not self.revision else f"{self.number} ({self.revision})"

    @property
    def committed_on(self) -> datetime.date:
        """When the company committed to it: signed, else effective, else created."""
        return self.signed_on or self.effective_on or self.created_on


_CONTRACT_FIELDS = (
    "id",
    "original_id",
    "revision",
    "number",
    "company_id",
    "department_id",
    "kind",
    "partner_id",
    "status",
    "signed_on",
    "effective_on",
    "terminated_on",
    "end_on",
    "created_on",
    "payment_term",
    "prepayment_percent",
    "total_quantity",
    "total_amount",
    "owner_id",
)


def _contract_fact(row: tuple[object, ...]) -> ContractFact:
    values = list(row)
    values[1] = values[1] or values[0]  # chain id
    return ContractFact(*values)  # type: ignore[arg-type]


def contract_facts(
    *,
    kinds: Collection[str] | None = None,
    statuses: Collection[str] | None = None,
    contract_ids: Collection[int] | None = None,
    chain_ids: Collection[int] | None = None,
    partner_ids: Collection[int] | None = None,
    first_revisions_only: bool = False,
) -> Iterator[ContractFact]:
    """Contracts (every revision unless `first_revisions_only`), oldest id first within each
    chunk of the ids asked for. `chain_ids` selects whole chains."""
    queryset: QuerySet[Contract] = Contract.objects.all()
    if kinds is not None:
        queryset = queryset.filter(kind__in=list(kinds))
    if statuses is not None:
        queryset = queryset.filter(status__in=list(statuses))
    if first_revisions_only:
        queryset = queryset.filter(revision=0)
    # The local date of creation, converted by the database (in Python it costs more than the
    # rest of the row).
    rows = (
        queryset.annotate(created_on=TruncDate("created_at"))
        .order_by("id")
        .values_list(*_CONTRACT_FIELDS)
    )
    yield from _stream(
        rows,
        _contract_fact,
        (contract_ids, lambda chunk: Q(pk__in=chunk)),
        (chain_ids, lambda chunk: Q(pk__in=chunk) | Q(original_id__in=chunk)),
        (partner_ids, lambda chunk: Q(partner_id__in=chunk)),
    )


@dataclass(frozen=True, slots=True)
class ContractChain:
    """A contract with all its revisions, as supervision judges it."""

    chain_id: int
    current: ContractFact  # the revision in force (or the latest one when none ever was)
    effective_from: datetime.date | None  # the first revision's effective date; None: never
    terminated_on: datetime.date | None  # when the revision in force is terminated
    revision_ids: tuple[int, ...]


def contract_chains(contracts: Iterable[ContractFact]) -> dict[int, ContractChain]:
    """Group contract revisions into chains. Pure."""
    revisions: dict[int, list[ContractFact]] = {}
    for contract in contracts:
        revisions.setdefault(contract.chain_id, []).append(contract)
    chains: dict[int, ContractChain] = {}
    for chain_id, items in revisions.items():
        items.sort(key=lambda item: (item.revision, item.id))
        effective = [item for item in items if item.status in EVER_EFFECTIVE_STATUSES]
        in_force = [item for item in effective if item.status != ContractStatus.SUPERSEDED]
        current = in_force[-1] if in_force else (effective[-1] if effective else items[-1])
        dates = [item.effective_on for item in effective if item.effective_on is not None]
        effective_from = min(dates) if dates else None
        if effective and effective_from is None:
            # Effective without a recorded date (imported history): from its commitment.
            effective_from = effective[0].committed_on
        chains[chain_id] = ContractChain(
            chain_id=chain_id,
            current=current,
            effective_from=effective_from,
            terminated_on=(
                current.terminated_on if current.status == ContractStatus.TERMINATED else None
            ),
            revision_ids=tuple(item.id for item in items),
        )
    return chains


@dataclass(frozen=True, slots=True)
class ContractLineFact:
    id: int
    contract_id: int
    chain_id: int
    line_number: int
    commodity_id: int
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    amount: Decimal
    quantity_tolerance_percent: Decimal
    executed_quantity: Decimal


def contract_line_facts(
    *,
    contract_ids: Collection[int] | None = None,
    contract_statuses: Collection[str] | None = None,
) -> Iterator[ContractLineFact]:
    queryset = ContractLine.objects.all()
    if contract_statuses is not None:
        queryset = queryset.filter(contract__status__in=list(contract_statuses))
    rows = queryset.order_by("id").values_list(
        "id",
        "contract_id",
        "contract__original_id",
        "line_number",
        "commodity_id",
        "quantity",
        "unit_price",
        "tax_rate",
        "amount",
        "quantity_tolerance_percent",
        "executed_quantity",
    )

    def fact(row: tuple[object, ...]) -> ContractLineFact:
        values = list(row)
        values[2] = values[2] or values[1]
        return ContractLineFact(*values)  # type: ignore[arg-type]

    if contract_ids is None:
        for row in rows.iterator(chunk_size=CHUNK):
            yield fact(row)
        return
    for chunk in _chunks(sorted(set(contract_ids))):
        for row in rows.filter(contract_id__in=chunk):
            yield fact(row)


# ---------------------------------------------------------------- stock documents


@dataclass(frozen=True, slots=True)
class StockDocumentFact:
    id: int
    number: str
    company_id: int
    kind: str
    status: str
    warehouse_id: int
    contract_id: int | None
    chain_id: int | None
    partner_id: int
    posting_date: datetime.date
    reverses_id: int | None
    total_quantity: Decimal
    total_amount: Decimal
    keeper_id: int | None
    created_by_id: int


def stock_document_facts(
    *,
    kinds: Collection[str] | None = None,
    statuses: Collection[str] | None = BOOKED_STATUSES,
    with_contract: bool | None = None,
    originals_only: bool = False,
    document_ids: Collection[int] | None = None,
    chain_ids: Collection[int] | None = None,
    partner_ids: Collection[int] | None = None,
    since: datetime.date | None = None,
    before_contract_effective: bool = False,
) -> Iterator[StockDocumentFact]:
    """Receipts and issues (booked ones unless `statuses`). `originals_only` leaves reversals
    (红冲 documents) out. `before_contract_effective`: only those booked before the contract
    revision they name took effect, or against one that never did (a superset of those booked
    while the contract was not in force: its first revision may have been effective earlier)."""
    queryset: QuerySet[StockDocument] = StockDocument.objects.all()
    if before_contract_effective:
        queryset = queryset.filter(
            Q(contract__effective_on__isnull=True)
            | Q(posting_date__lt=F("contract__effective_on"))
            | Q(contract__status__in=NEVER_EFFECTIVE_STATUSES)
        )
    if kinds is not None:
        queryset = queryset.filter(kind__in=list(kinds))
    if statuses is not None:
        queryset = queryset.filter(status__in=list(statuses))
    if with_contract is not None:
        queryset = queryset.filter(contract__isnull=not with_contract)
    if originals_only:
        queryset = queryset.filter(reverses__isnull=True)
    if since is not None:
        queryset = queryset.filter(posting_date__gte=since)
    rows = queryset.order_by("id").values_list(
        "id",
        "number",
        "company_id",
        "kind",
        "status",
        "warehouse_id",
        "contract_id",
        "contract__original_id",
        "partner_id",
        "posting_date",
        "reverses_id",
        "total_quantity",
        "total_amount",
        "keeper_id",
        "created_by_id",
    )

    def fact(row: tuple[object, ...]) -> StockDocumentFact:
        values = list(row)
        values[7] = values[7] or values[6]
        return StockDocumentFact(*values)  # type: ignore[arg-type]

    yield from _stream(
        rows,
        fact,
        (document_ids, lambda chunk: Q(pk__in=chunk)),
        (chain_ids, _of_contract_chains),
        (partner_ids, lambda chunk: Q(partner_id__in=chunk)),
    )


@dataclass(frozen=True, slots=True)
class StockLineFact:
    id: int
    document_id: int
    document_number: str
    company_id: int
    kind: str
    status: str
    posting_date: datetime.date
    reverses_id: int | None  # the document's
    contract_id: int | None
    chain_id: int | None
    contract_line_id: int | None
    contract_line_number: int | None
    partner_id: int
    warehouse_id: int
    commodity_id: int
    quantity: Decimal
    weighed_quantity: Decimal | None
    difference_reason: str
    unit_price: Decimal  # incl. VAT
    amount: Decimal  # incl. VAT
    cost: Decimal  # the stock value booked when posted (issues: moving-average cost)
    tax_rate: Decimal  # the contract line's, else the commodity's
    tolerance_percent: Decimal  # the commodity's weighing tolerance

    @property
    def unit_price_net(self) -> Decimal:
        """The unit price excl. VAT."""
        return self.unit_price / (1 + self.tax_rate)


def stock_line_facts(
    *,
    kinds: Collection[str] | None = None,
    statuses: Collection[str] | None = BOOKED_STATUSES,
    originals_only: bool = False,
    weighed_only: bool = False,
    with_contract_line: bool = False,
    document_ids: Collection[int] | None = None,
    since: datetime.date | None = None,
) -> Iterator[StockLineFact]:
    queryset: QuerySet[StockDocumentLine] = StockDocumentLine.objects.all()
    if kinds is not None:
        queryset = queryset.filter(document__kind__in=list(kinds))
    if statuses is not None:
        queryset = queryset.filter(document__status__in=list(statuses))
    if originals_only:
        queryset = queryset.filter(document__reverses__isnull=True)
    if weighed_only:
        queryset = queryset.filter(weighed_quantity__isnull=False)
    if with_contract_line:
        queryset = queryset.filter(contract_line__isnull=False)
    if since is not None:
        queryset = queryset.filter(document__posting_date__gte=since)
    rows = queryset.order_by("id").values_list(
        "id",
        "document_id",
        "document__number",
        "document__company_id",
        "document__kind",
        "document__status",
        "document__posting_date",
        "document__reverses_id",
        "document__contract_id",
        "document__contract__original_id",
        "contract_line_id",
        "contract_line__line_number",
        "document__partner_id",
        "document__warehouse_id",
        "commodity_id",
        "quantity",
        "weighed_quantity",
        "difference_reason",
        "unit_price",
        "amount",
        "cost",
        "contract_line__tax_rate",
        "commodity__tax_rate",
        "commodity__tolerance_percent",
    )

    def fact(row: tuple[object, ...]) -> StockLineFact:
        values = list(row)
        values[9] = values[9] or values[8]
        line_rate, commodity_rate = values[21], values[22]
        values[21:23] = [line_rate if line_rate is not None else commodity_rate]
        return StockLineFact(*values)  # type: ignore[arg-type]

    if document_ids is None:
        for row in rows.iterator(chunk_size=CHUNK):
            yield fact(row)
        return
    for chunk in _chunks(sorted(set(document_ids))):
        for row in rows.filter(document_id__in=chunk):
            yield fact(row)


@dataclass(frozen=True, slots=True)
class PricedLineFact:
    """A receipt or issue line as prices are judged: the few fields a scan over every line
    needs (the document's other fields come from `stock_line_facts` for the lines found)."""

    id: int
    document_id: int
    kind: str
    posting_date: datetime.date
    commodity_id: int
    quantity: Decimal
    unit_price: Decimal  # incl. VAT
    amount: Decimal  # incl. VAT
    cost: Decimal
    tax_rate: Decimal

    @property
    def unit_price_net(self) -> Decimal:
        return self.unit_price / (1 + self.tax_rate)

    @property
    def amount_net(self) -> Decimal:
        return self.amount / (1 + self.tax_rate)


def _priced_lines(
    kinds: Collection[str] | None, since: datetime.date | None
) -> QuerySet[StockDocumentLine]:
    """Posted receipts and issues (not reversals) with a positive quantity."""
    queryset = StockDocumentLine.objects.filter(
        document__status=PostingStatus.POSTED,
        document__reverses__isnull=True,
        quantity__gt=0,
    )
    if kinds is not None:
        queryset = queryset.filter(document__kind__in=list(kinds))
    if since is not None:
        queryset = queryset.filter(document__posting_date__gte=since)
    return queryset.annotate(rate=Coalesce("contract_line__tax_rate", "commodity__tax_rate"))


_PRICED_FIELDS = (
    "id",
    "document_id",
    "document__kind",
    "document__posting_date",
    "commodity_id",
    "quantity",
    "unit_price",
    "amount",
    "cost",
    "rate",
)


def priced_line_facts(
    *,
    kinds: Collection[str] | None = None,
    since: datetime.date | None = None,
    line_ids: Collection[int] | None = None,
) -> Iterator[PricedLineFact]:
    rows = _priced_lines(kinds, since).order_by("id").values_list(*_PRICED_FIELDS)
    if line_ids is None:
        for row in rows.iterator(chunk_size=CHUNK):
            yield PricedLineFact(*row)
        return
    for chunk in _chunks(sorted(set(line_ids))):
        for row in rows.filter(pk__in=chunk):
            yield PricedLineFact(*row)


@dataclass(frozen=True, slots=True)
class MonthlyPriceTotal:
    """The posted lines of one kind, commodity, calendar month and VAT rate, summed."""

    kind: str
    commodity_id: int
    month: datetime.date  # its first day
    tax_rate: Decimal
    quantity: Decimal
    amount: Decimal  # incl. VAT
    lines: int


def monthly_price_totals(
    *, kinds: Collection[str] | None = None, since: datetime.date | None = None
) -> Iterator[MonthlyPriceTotal]:
    """The sums behind the month's average prices, in the database (exact on SQLite too)."""
    rows = (
        _priced_lines(kinds, since)
        .annotate(month=TruncMonth("document__posting_date"))
        .values("document__kind", "commodity_id", "month", "rate")
        .annotate(
            total_quantity=exact_sum("quantity", 3),
            total_amount=exact_sum("amount", 2),
            count=Count("id"),
        )
        .order_by()
        .values_list(
            "document__kind",
            "commodity_id",
            "month",
            "rate",
            "total_quantity",
            "total_amount",
            "count",
        )
    )
    for kind, commodity_id, month, rate, quantity, amount, count in rows:
        if isinstance(month, datetime.datetime):
            month = month.date()
        yield MonthlyPriceTotal(
            kind,
            commodity_id,
            month,
            Decimal(rate),
            exact_total(quantity, 3),
            exact_total(amount, 2),
            count,
        )


def issue_revaluations() -> dict[int, Decimal]:
    """Issue line id → the sum of the revaluation entries booked for it since it was posted
    (a backdated receipt changes the moving average an issue left at). An issue entry's value
    is negative, so a negative sum means the issue cost more than its line says: the ledger's
    cost of the line is `line.cost - sum`. Revaluations are few (a partial index holds them)."""
    rows = (
        StockLedgerEntry.objects.filter(
            kind=StockEntryKind.REVALUATION,
            voucher_type=StockEntryKind.ISSUE,
            voucher_line_id__isnull=False,
        )
        .values("voucher_line_id")
        .annotate(total=exact_sum("value", 2))
        .values_list("voucher_line_id", "total")
    )
    return {int(line_id or 0): exact_total(total, 2) for line_id, total in rows}


def executed_quantities(*, kinds: Collection[str] | None = None) -> dict[tuple[int, int], Decimal]:
    """(contract chain id, contract line number) → the booked quantity received or issued
    against it, reversals netted (summed in the database)."""
    queryset = StockDocumentLine.objects.filter(
        document__status__in=BOOKED_STATUSES, contract_line__isnull=False
    )
    if kinds is not None:
        queryset = queryset.filter(document__kind__in=list(kinds))
    rows = (
        queryset.annotate(
            chain=Coalesce("contract_line__contract__original_id", "contract_line__contract_id")
        )
        .values("chain", "contract_line__line_number")
        .annotate(total=exact_sum("quantity", 3))
        .values_list("chain", "contract_line__line_number", "total")
    )
    return {(chain, number): exact_total(total, 3) for chain, number, total in rows}


def purchase_totals_by_year(
    *, since_year: int, kinds: Collection[str] = (StockDocumentKind.RECEIPT,)
) -> Iterator[tuple[int, int, int, Decimal, int]]:
    """(company id, partner id, calendar year, booked amount incl. VAT net of reversals, number
    of documents) of receipts (or `kinds`) from `since_year` on, summed in the database."""
    rows = (
        StockDocument.objects.filter(
            kind__in=list(kinds),
            status__in=BOOKED_STATUSES,
            posting_date__gte=datetime.date(since_year, 1, 1),
        )
        .annotate(year=ExtractYear("posting_date"))
        .values("company_id", "partner_id", "year")
        .annotate(total=exact_sum("total_amount", 2), count=Count("id"))
        .order_by("company_id", "partner_id", "year")
        .values_list("company_id", "partner_id", "year", "total", "count")
    )
    for company_id, partner_id, year, total, count in rows:
        yield company_id, partner_id, int(year), exact_total(total, 2), count


# ---------------------------------------------------------------- stocktakes


@dataclass(frozen=True, slots=True)
class StocktakeLineFact:
    id: int
    stocktake_id: int
    number: str
    company_id: int
    warehouse_id: int
    kind: str
    status: str
    counted_on: datetime.date
    counter_id: int
    commodity_id: int
    book_quantity: Decimal
    counted_quantity: Decimal
    reason: str
    cost: Decimal
    tolerance_percent: Decimal  # the commodity's

    @property
    def variance(self) -> Decimal:
        return self.counted_quantity - self.book_quantity


def stocktake_line_facts(
    *, statuses: Collection[str] | None = None, since: datetime.date | None = None
) -> Iterator[StocktakeLineFact]:
    queryset: QuerySet[StocktakeLine] = StocktakeLine.objects.all()
    if statuses is not None:
        queryset = queryset.filter(stocktake__status__in=list(statuses))
    if since is not None:
        queryset = queryset.filter(stocktake__counted_on__gte=since)
    rows = queryset.order_by("id").values_list(
        "id",
        "stocktake_id",
        "stocktake__number",
        "stocktake__company_id",
        "stocktake__warehouse_id",
        "stocktake__kind",
        "stocktake__status",
        "stocktake__counted_on",
        "stocktake__counter_id",
        "commodity_id",
        "book_quantity",
        "counted_quantity",
        "reason",
        "cost",
        "commodity__tolerance_percent",
    )
    for row in rows.iterator(chunk_size=CHUNK):
        yield StocktakeLineFact(*row)


# ---------------------------------------------------------------- commodities


@dataclass(frozen=True, slots=True)
class CommodityFact:
    id: int
    code: str
    name: str
    spec: str
    unit: str
    tolerance_percent: Decimal
    quantity_tolerance_percent: Decimal
    tax_rate: Decimal

    @property
    def label(self) -> str:
        return f"{self.name} {self.spec}".strip()


def commodity_facts() -> dict[int, CommodityFact]:
    """Every commodity by id (master data: few)."""
    rows = Commodity.objects.order_by("id").values_list(
        "id",
        "code",
        "name",
        "spec",
        "unit",
        "tolerance_percent",
        "quantity_tolerance_percent",
        "tax_rate",
    )
    return {row[0]: CommodityFact(*row) for row in rows.iterator(chunk_size=CHUNK)}


# ---------------------------------------------------------------- invoices


@dataclass(frozen=True, slots=True)
class InvoiceFact:
    id: int
    company_id: int
    direction: str
    invoice_number: str
    invoice_code: str
    partner_id: int
    contract_id: int | None
    chain_id: int | None
    amount: Decimal
    invoice_date: datetime.date
    status: str
    reverses_id: int | None
    created_by_id: int

    @property
    def label(self) -> str:
        return f"{self.invoice_code} {self.invoice_number}".strip()


def invoice_facts(
    *,
    directions: Collection[str] | None = None,
    statuses: Collection[str] | None = BOOKED_STATUSES,
    originals_only: bool = False,
    with_contract: bool | None = None,
    invoice_ids: Collection[int] | None = None,
    chain_ids: Collection[int] | None = None,
    since: datetime.date | None = None,
) -> Iterator[InvoiceFact]:
    """Invoices (booked ones unless `statuses`); `originals_only` leaves reversals out."""
    queryset: QuerySet[Invoice] = Invoice.objects.all()
    if directions is not None:
        queryset = queryset.filter(direction__in=list(directions))
    if statuses is not None:
        queryset = queryset.filter(status__in=list(statuses))
    if originals_only:
        queryset = queryset.filter(reverses__isnull=True)
    if with_contract is not None:
        queryset = queryset.filter(contract__isnull=not with_contract)
    if since is not None:
        queryset = queryset.filter(invoice_date__gte=since)
    rows = queryset.order_by("id").values_list(
        "id",
        "company_id",
        "direction",
        "invoice_number",
        "invoice_code",
        "partner_id",
        "contract_id",
        "contract__original_id",
        "amount",
        "invoice_date",
        "status",
        "reverses_id",
        "created_by_id",
    )

    def fact(row: tuple[object, ...]) -> InvoiceFact:
        values = list(row)
        values[7] = values[7] or values[6]
        return InvoiceFact(*values)  # type: ignore[arg-type]

    yield from _stream(
        rows,
        fact,
        (invoice_ids, lambda chunk: Q(pk__in=chunk)),
        (chain_ids, _of_contract_chains),
    )


def same_amount_and_date_invoice_ids(
    *, directions: Collection[str] | None = None, originals_only: bool = True
) -> list[int]:
    """Ids of booked invoices that share direction, partner, amount and date with another
    (grouped in the database: only the candidates come back)."""
    queryset: QuerySet[Invoice] = Invoice.objects.filter(status__in=BOOKED_STATUSES)
    if directions is not None:
        queryset = queryset.filter(direction__in=list(directions))
    if originals_only:
        queryset = queryset.filter(reverses__isnull=True)
    groups = (
        queryset.values("direction", "partner_id", "amount", "invoice_date")
        .annotate(count=Count("id"))
        .filter(count__gt=1)
        .values_list("direction", "partner_id", "amount", "invoice_date")
    )
    keys = {(d, p, a, on) for d, p, a, on in groups}
    if not keys:
        return []
    partner_ids = sorted({key[1] for key in keys})
    found: list[int] = []
    for chunk in _chunks(partner_ids):
        rows = queryset.filter(partner_id__in=chunk).values_list(
            "id", "direction", "partner_id", "amount", "invoice_date"
        )
        for pk, direction, partner_id, amount, on in rows.iterator(chunk_size=CHUNK):
            if (direction, partner_id, amount, on) in keys:
                found.append(pk)
    return sorted(found)


# ---------------------------------------------------------------- payments


@dataclass(frozen=True, slots=True)
class PaymentFact:
    id: int
    number: str
    company_id: int
    direction: str
    partner_id: int
    contract_id: int | None
    chain_id: int | None
    invoice_id: int | None
    amount: Decimal
    paid_on: datetime.date
    status: str
    is_exception: bool
    allowed_amount: Decimal | None
    reverses_id: int | None
    bank_account: str
    created_by_id: int


def payment_facts(
    *,
    directions: Collection[str] | None = (PaymentDirection.OUT,),
    statuses: Collection[str] | None = BOOKED_PAYMENT_STATUSES,
    originals_only: bool = False,
    with_contract: bool | None = None,
    payment_ids: Collection[int] | None = None,
    chain_ids: Collection[int] | None = None,
    partner_ids: Collection[int] | None = None,
    since: datetime.date | None = None,
    before_contract_effective: bool = False,
) -> Iterator[PaymentFact]:
    """Payments to suppliers (unless `directions`), booked ones unless `statuses`;
    `originals_only` leaves reversals out; `before_contract_effective` as for stock
    documents."""
    queryset: QuerySet[Payment] = Payment.objects.all()
    if before_contract_effective:
        queryset = queryset.filter(
            Q(contract__effective_on__isnull=True)
            | Q(paid_on__lt=F("contract__effective_on"))
            | Q(contract__status__in=NEVER_EFFECTIVE_STATUSES)
        )
    if directions is not None:
        queryset = queryset.filter(direction__in=list(directions))
    if statuses is not None:
        queryset = queryset.filter(status__in=list(statuses))
    if originals_only:
        queryset = queryset.filter(reverses__isnull=True)
    if with_contract is not None:
        queryset = queryset.filter(contract__isnull=not with_contract)
    if since is not None:
        queryset = queryset.filter(paid_on__gte=since)
    rows = queryset.order_by("id").values_list(
        "id",
        "number",
        "company_id",
        "direction",
        "partner_id",
        "contract_id",
        "contract__original_id",
        "invoice_id",
        "amount",
        "paid_on",
        "status",
        "is_exception",
        "allowed_amount",
        "reverses_id",
        "bank_account",
        "created_by_id",
    )

    def fact(row: tuple[object, ...]) -> PaymentFact:
        values = list(row)
        values[6] = values[6] or values[5]
        return PaymentFact(*values)  # type: ignore[arg-type]

    yield from _stream(
        rows,
        fact,
        (payment_ids, lambda chunk: Q(pk__in=chunk)),
        (chain_ids, _of_contract_chains),
        (partner_ids, lambda chunk: Q(partner_id__in=chunk)),
    )


def opening_payables() -> dict[tuple[int, int], Decimal]:
    """(company id, partner id) → the opening payables recorded for the partner (net of their
    reversals): what may be paid without a contract."""
    rows = (
        OpeningBalance.objects.filter(account=PartnerAccount.PAYABLE)
        .values("company_id", "partner_id")
        .annotate(total=exact_sum("amount", 2))
        .values_list("company_id", "partner_id", "total")
    )
    return {
        (company_id, partner_id): exact_total(total, 2) for company_id, partner_id, total in rows
    }


# ---------------------------------------------------------------- documents behind an approval


def document_for_request(request_id: int) -> tuple[str, int] | None:
    """The trading document an approval request decides ("trading.contract", id), if any."""
    row = (
        ApprovalRequest.objects.filter(pk=request_id, document_type__startswith="trading.")
        .values_list("document_type", "document_id")
        .first()
    )
    if row is None or not str(row[1]).isdigit():
        return None
    return str(row[0]), int(row[1])


# ---------------------------------------------------------------- credit exceptions

# Granted: approved (and perhaps used since), or given back unused after it was approved.
_GRANTED_CREDIT_EXCEPTIONS = Q(
    status__in=(CreditExceptionStatus.APPROVED, CreditExceptionStatus.USED)
) | Q(status=CreditExceptionStatus.CANCELLED, approved_by__isnull=False)


@dataclass(frozen=True, slots=True)
class CreditExceptionFact:
    """A credit exception (信用例外) as supervision judges it: who asked, who gave the final
    approval and when, the customer's standing when it was requested, what it let through."""

    id: int
    number: str
    company_id: int
    partner_id: int
    contract_id: int | None
    stock_document_id: int | None
    status: str
    amount: Decimal
    allow_overdue: bool
    valid_until: datetime.date
    credit_limit: Decimal  # the customer's standing when it was requested
    exposure: Decimal
    overdue_amount: Decimal
    requested_by_id: int
    approval_request_id: int | None
    approved_by_id: int | None  # the final approver (None: the system, or imported history)
    granted_at: datetime.datetime  # decided, else submitted, else created
    used_document_kind: str
    used_document_id: int | None
    used_document_number: str


def credit_exception_facts(
    *,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    granted_only: bool = True,
    exception_ids: Collection[int] | None = None,
    partner_ids: Collection[int] | None = None,
    used_by_goods_issue_ids: Collection[int] | None = None,
) -> Iterator[CreditExceptionFact]:
    """Credit exceptions, oldest id first within each chunk of the ids asked for:
    `granted_only` (the default) those approved — still unused, used since, or given back
    after the approval; `since`/`until` bound when they were granted (until exclusive).
    `used_by_goods_issue_ids`: the exceptions those goods issues used."""
    queryset: QuerySet[CreditException] = CreditException.objects.all()
    if granted_only:
        queryset = queryset.filter(_GRANTED_CREDIT_EXCEPTIONS)
    granted_at = Coalesce("decided_at", "submitted_at", "created_at")
    if since is not None:
        queryset = queryset.filter(Q(GreaterThanOrEqual(granted_at, since)))
    if until is not None:
        queryset = queryset.filter(Q(LessThan(granted_at, until)))
    rows = (
        queryset.annotate(granted_at=granted_at)
        .order_by("id")
        .values_list(
            "id",
            "number",
            "company_id",
            "partner_id",
            "contract_id",
            "stock_document_id",
            "status",
            "amount",
            "allow_overdue",
            "valid_until",
            "credit_limit",
            "exposure",
            "overdue_amount",
            "requested_by_id",
            "approval_request_id",
            "approved_by_id",
            "granted_at",
            "used_document_kind",
            "used_document_id",
            "used_document_number",
        )
    )
    yield from _stream(
        rows,
        lambda row: CreditExceptionFact(*row),
        (exception_ids, lambda chunk: Q(pk__in=chunk)),
        (partner_ids, lambda chunk: Q(partner_id__in=chunk)),
        (
            used_by_goods_issue_ids,
            lambda chunk: Q(used_document_kind="goods_issue", used_document_id__in=chunk),
        ),
    )


# ---------------------------------------------------------------- overdue receivables


@dataclass(frozen=True, slots=True)
class OverdueItemFact:
    """A receivable charge still (partly) open on a day, more than the days asked past due."""

    contract_id: int | None  # the first revision of the contract
    voucher_type: str  # "invoice", "opening"
    voucher_id: int
    posting_date: datetime.date
    due_date: datetime.date
    outstanding: Decimal
    days_overdue: int


@dataclass(frozen=True, slots=True)
class OverdueOnDateFact:
    """What a customer owed a company on a day, more than `more_than_days` past due."""

    company_id: int
    partner_id: int
    on: datetime.date
    more_than_days: int
    amount: Decimal
    items: tuple[OverdueItemFact, ...]  # the oldest due first


Key = tuple[str, int]


def _receivable_reversals(partner_ids: list[int]) -> dict[Key, Key]:
    """Which voucher each reversal of these partners' vouchers reverses (reversals are few)."""
    targets: dict[Key, Key] = {}
    for model, voucher_type in (
        (Invoice, "invoice"),
        (Payment, "payment"),
        (OpeningBalance, "opening"),
    ):
        rows = model.objects.filter(partner_id__in=partner_ids, reverses__isnull=False).values_list(
            "pk", "reverses_id"
        )
        for pk, reverses_id in rows.iterator(chunk_size=CHUNK):
            targets[(voucher_type, pk)] = (voucher_type, reverses_id)
    return targets


def _owing_days(
    items: list[LedgerItem], days: list[datetime.date], more_than_days: int
) -> list[datetime.date]:
    """The days (of `days`, ascending) on which the receivable ledger `items` of one company,
    customer and contract has something more than `more_than_days` past due. Pure.

    The open items of a day settle the charges in due-date order with every credit posted by
    then (`selectors.money.allocate_open_items`), so what is overdue — a prefix of that order —
    is max(0, overdue charges − credits), each voucher net of its reversals: one sweep over the
    days, no allocation per day. An entry counts for a day from when it is both posted and, for
    a charge, past due by more than the days allowed."""
    first: dict[Key, LedgerItem] = {}
    own: dict[Key, Decimal] = defaultdict(Decimal)
    for item in items:
        first.setdefault(item.key, item)
        own[item.key] += item.amount
    charges: list[tuple[datetime.date, Decimal]] = []
    credits: list[tuple[datetime.date, Decimal]] = []
    grace = datetime.timedelta(days=more_than_days + 1)
    for item in items:
        target = item.against if item.against is not None and item.against in first else item.key
        if own[target] > 0:
            head = first[target]
            overdue_from = (head.due_date or head.posting_date) + grace
            charges.append((max(item.posting_date, overdue_from), item.amount))
        elif own[target] < 0:
            credits.append((item.posting_date, item.amount))
    charges.sort(key=lambda pair: pair[0])
    credits.sort(key=lambda pair: pair[0])
    owing: list[datetime.date] = []
    overdue = credit = ZERO
    charge_index = credit_index = 0
    for day in days:
        while charge_index < len(charges) and charges[charge_index][0] <= day:
            overdue += charges[charge_index][1]
            charge_index += 1
        while credit_index < len(credits) and credits[credit_index][0] <= day:
            credit += credits[credit_index][1]
            credit_index += 1
        if overdue + credit > 0:
            owing.append(day)
    return owing


def receivables_overdue_on(
    days: Iterable[tuple[int, int, datetime.date]], *, more_than_days: int
) -> dict[tuple[int, int, datetime.date], OverdueOnDateFact]:
    """For each (company id, customer id, day) asked, the receivables the customer owed the
    company that day more than `more_than_days` days past due — by the credit selectors'
    definition as of that day (entries posted up to it, settled first in first out by due date
    per contract, a reversal cancelling what it reverses). Only the days with something
    overdue come back. Read set-wise: per chunk of customers their receivable ledger up to the
    last day asked and the reversals among their vouchers; the days are swept, and only those
    that owe are allocated item by item (for the evidence)."""
    wanted: dict[tuple[int, int], set[datetime.date]] = defaultdict(set)
    for company_id, partner_id, on in days:
        wanted[(company_id, partner_id)].add(on)
    if not wanted:
        return {}
    last = max(max(dates) for dates in wanted.values())
    company_ids = sorted({company_id for company_id, _partner in wanted})
    result: dict[tuple[int, int, datetime.date], OverdueOnDateFact] = {}
    for chunk in _chunks(sorted({partner_id for _company, partner_id in wanted})):
        targets = _receivable_reversals(chunk)
        groups: dict[tuple[int, int, int | None], list[LedgerItem]] = defaultdict(list)
        rows = (
            PartnerLedgerEntry.objects.filter(
                account=PartnerAccount.RECEIVABLE,
                partner_id__in=chunk,
                company_id__in=company_ids,
                posting_date__lte=last,
            )
            .order_by("id")
            .values_list(
                "company_id",
                "partner_id",
                "contract_id",
                "contract__original_id",
                "voucher_type",
                "voucher_id",
                "amount",
                "posting_date",
                "due_date",
            )
        )
        for row in rows.iterator(chunk_size=CHUNK):
            company_id, partner_id, contract_id, original_id, voucher_type, voucher_id = row[:6]
            if (company_id, partner_id) not in wanted:
                continue
            key = (voucher_type, voucher_id)
            groups[(company_id, partner_id, original_id or contract_id)].append(
                LedgerItem(
                    key=key,
                    amount=row[6],
                    posting_date=row[7],
                    due_date=row[8],
                    against=targets.get(key),
                )
            )
        found: dict[tuple[int, int, datetime.date], list[OverdueItemFact]] = defaultdict(list)
        for (company_id, partner_id, chain), items in groups.items():
            dates = sorted(wanted[(company_id, partner_id)])
            for on in _owing_days(items, dates, more_than_days):
                posted = [item for item in items if item.posting_date <= on]
                for item in allocate_open_items(posted):
                    late = (on - item.due_date).days
                    if item.outstanding > 0 and late > more_than_days:
                        found[(company_id, partner_id, on)].append(
                            OverdueItemFact(
                                contract_id=chain,
                                voucher_type=item.key[0],
                                voucher_id=item.key[1],
                                posting_date=item.posting_date,
                                due_date=item.due_date,
                                outstanding=item.outstanding,
                                days_overdue=late,
                            )
                        )
        for (company_id, partner_id, on), overdue in found.items():
            overdue.sort(key=lambda item: (item.due_date, item.voucher_type, item.voucher_id))
            result[(company_id, partner_id, on)] = OverdueOnDateFact(
                company_id=company_id,
                partner_id=partner_id,
                on=on,
                more_than_days=more_than_days,
                amount=sum((item.outstanding for item in overdue), ZERO),
                items=tuple(overdue),
            )
    return result


# ---------------------------------------------------------------- warnings


@dataclass(frozen=True, slots=True)
class WarningFact:
    """A trading warning (预警) and where it stands: what it concerns, the figure measured and
    its threshold, when it was first and last detected, whether anyone acknowledged it."""

    id: int
    company_id: int
    kind: str
    code: str
    state: str
    is_present: bool
    partner_id: int | None
    contract_id: int | None  # the revision in force when last detected
    chain_id: int | None  # its first revision
    warehouse_id: int | None
    commodity_id: int | None
    document_type: str  # "stock_document", "stocktake", "payment", "invoice", "opening", ""
    document_id: int | None
    document_label: str
    measured_value: Decimal
    threshold_value: Decimal
    unit: str
    reference_date: datetime.date | None
    details: dict[str, Any]
    responsible_role: str
    first_seen_at: datetime.datetime
    last_seen_at: datetime.datetime
    acknowledged_by_id: int | None
    acknowledged_at: datetime.datetime | None
    reopened_count: int


def warning_facts(
    *,
    states: Collection[str] | None = None,
    codes: Collection[str] | None = None,
    first_seen_before: datetime.datetime | None = None,
    warning_ids: Collection[int] | None = None,
) -> Iterator[WarningFact]:
    """Trading warnings (any state unless `states`; any code unless `codes`), oldest id first;
    `first_seen_before`: first detected before that moment."""
    queryset: QuerySet[TradingWarning] = TradingWarning.objects.all()
    if states is not None:
        queryset = queryset.filter(state__in=list(states))
    if codes is not None:
        queryset = queryset.filter(code__in=list(codes))
    if first_seen_before is not None:
        queryset = queryset.filter(first_seen_at__lt=first_seen_before)
    rows = queryset.order_by("id").values_list(
        "id",
        "company_id",
        "kind",
        "code",
        "state",
        "is_present",
        "partner_id",
        "contract_id",
        "contract_original_id",
        "warehouse_id",
        "commodity_id",
        "document_type",
        "document_id",
        "document_label",
        "measured_value",
        "threshold_value",
        "unit",
        "reference_date",
        "details",
        "responsible_role",
        "first_seen_at",
        "last_seen_at",
        "acknowledged_by_id",
        "acknowledged_at",
        "reopened_count",
    )

    def fact(row: tuple[Any, ...]) -> WarningFact:
        values = list(row)
        values[8] = values[8] or values[7]  # chain id
        values[18] = values[18] if isinstance(values[18], dict) else {}
        return WarningFact(*values)

    yield from _stream(rows, fact, (warning_ids, lambda chunk: Q(pk__in=chunk)))


def warning_responsible_ids(warning_ids: Iterable[int]) -> dict[int, list[int]]:
    """Warning id → the people named responsible for it (not those holding its role)."""
    people: dict[int, list[int]] = defaultdict(list)
    for chunk in _chunks(sorted(set(warning_ids))):
        rows = (
            TradingWarningResponsible.objects.filter(warning_id__in=chunk)
            .order_by("warning_id", "user_id")
            .values_list("warning_id", "user_id")
        )
        for warning_id, user_id in rows:
            people[warning_id].append(user_id)
    return dict(people)


def warehouse_names(warehouse_ids: Iterable[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for chunk in _chunks(sorted(set(warehouse_ids))):
        names.update(Warehouse.objects.filter(pk__in=chunk).values_list("pk", "name"))
    return names


# ---------------------------------------------------------------- imported history


# The trading records an import of old history may have loaded, by the short name supervision
# links them with: each keeps the old system's identifier verbatim in `source_id`.
_IMPORTED: dict[str, Any] = {
    "partner": Partner,
    "commodity": Commodity,
    "warehouse": Warehouse,
    "contract": Contract,
    "stock_document": StockDocument,
    "stocktake": Stocktake,
    "invoice": Invoice,
    "payment": Payment,
}
IMPORTED_KINDS = frozenset(_IMPORTED)


def source_ids(kind: str, ids: Iterable[int]) -> dict[int, str]:
    """id → the old system's identifier of the imported `kind` records among `ids` (one
    statement per 2,000 ids); records made here have none and are left out."""
    model = _IMPORTED[kind]
    found: dict[int, str] = {}
    for chunk in _chunks(sorted(set(ids))):
        found.update(
            model.objects.filter(pk__in=chunk).exclude(source_id="").values_list("pk", "source_id")
        )
    return found
