"""Helpers the trading rules share: links to trading documents, related parties (partners that
share a bank account, phone or address), employees' phone numbers."""

from __future__ import annotations

import datetime
import functools
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from qinglian.trading import facts

from ..registry import DocumentLink

CONTRACT = "trading.contract"
PAYMENT = "trading.payment"
INVOICE = "trading.invoice"
STOCK_DOCUMENT = "trading.stock_document"
STOCKTAKE = "trading.stocktake"
PARTNER = "trading.partner"
COMMODITY = "trading.commodity"
WAREHOUSE = "trading.warehouse"
CREDIT_EXCEPTION = "trading.credit_exception"
CREDIT_STANDING = "trading.credit"  # a customer's credit page (id: the partner's)
WARNING = "trading.warning"

# The URL name of each document type's page (for the finding page's links).
DOCUMENT_PAGES = {
    CONTRACT: "trading:contract_detail",
    PAYMENT: "trading:payment_detail",
    INVOICE: "trading:invoice_detail",
    STOCK_DOCUMENT: "trading:stock_document_detail",
    STOCKTAKE: "trading:stocktake_detail",
    PARTNER: "trading:partner_detail",
    COMMODITY: "trading:commodity_detail",
    WAREHOUSE: "trading:warehouse_detail",
    CREDIT_EXCEPTION: "trading:credit_exception_detail",
    CREDIT_STANDING: "trading:credit_detail",
    WARNING: "trading:warning_detail",
}

ATTRIBUTES = ("bank_account", "phone", "address")
HUNDRED = Decimal(100)


def contract_link(contract: facts.ContractFact) -> DocumentLink:
    return DocumentLink(CONTRACT, str(contract.id), contract.label, number=contract.number)


def payment_link(payment: facts.PaymentFact) -> DocumentLink:
    return DocumentLink(PAYMENT, str(payment.id), payment.number, number=payment.number)


def invoice_link(invoice: facts.InvoiceFact) -> DocumentLink:
    return DocumentLink(INVOICE, str(invoice.id), invoice.label, number=invoice.invoice_number)


def stock_document_link(document_id: int, number: str) -> DocumentLink:
    return DocumentLink(STOCK_DOCUMENT, str(document_id), number, number=number)


def stocktake_link(stocktake_id: int, number: str) -> DocumentLink:
    return DocumentLink(STOCKTAKE, str(stocktake_id), number, number=number)


def partner_link(partner_id: int, name: str) -> DocumentLink:
    return DocumentLink(PARTNER, str(partner_id), name)


def credit_exception_link(exception: facts.CreditExceptionFact) -> DocumentLink:
    return DocumentLink(
        CREDIT_EXCEPTION, str(exception.id), exception.number, number=exception.number
    )


def credit_standing_link(partner_id: int, name: str) -> DocumentLink:
    return DocumentLink(
        CREDIT_STANDING, str(partner_id), _("Credit standing: %(customer)s") % {"customer": name}
    )


def warehouse_link(warehouse_id: int, name: str) -> DocumentLink:
    return DocumentLink(WAREHOUSE, str(warehouse_id), name or str(warehouse_id))


def warning_link(warning_id: int, label: str) -> DocumentLink:
    return DocumentLink(WARNING, str(warning_id), label)


# The trading warning register names documents by their own short types.
WARNING_DOCUMENT_TYPES = {
    "stock_document": STOCK_DOCUMENT,
    "stocktake": STOCKTAKE,
    "payment": PAYMENT,
    "invoice": INVOICE,
}


def warning_document_link(
    document_type: str, document_id: int | None, label: str
) -> DocumentLink | None:
    """The page of a document a warning names ("stock_document", 12), if it has one."""
    linked = WARNING_DOCUMENT_TYPES.get(document_type)
    if linked is None or document_id is None:
        return None
    return DocumentLink(linked, str(document_id), label or str(document_id), number=label)


def local_today(now: datetime.datetime) -> datetime.date:
    return timezone.localdate(now)


def percent(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole in %, two decimals (whole > 0)."""
    return (part * HUNDRED / whole).quantize(Decimal("0.01"))


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


# ---------------------------------------------------------------- related parties


def attribute_keys(partner: facts.PartnerFact) -> dict[str, str]:
    """The normalised bank account, phone and address of a partner ("" when unusable)."""
    return {
        "bank_account": facts.normalise_bank_account(partner.bank_account),
        "phone": facts.normalise_phone(partner.phone),
        "address": facts.normalise_address(partner.address),
    }


@dataclass(frozen=True)
class SharedValue:
    """Partners (two or more) with one normalised bank account, phone or address."""

    attribute: str
    value: str
    partner_ids: tuple[int, ...]


def shared_values(
    partners: Iterable[facts.PartnerFact], attributes: Collection[str] = ATTRIBUTES
) -> list[SharedValue]:
    holders: dict[tuple[str, str], list[int]] = defaultdict(list)
    for partner in partners:
        for attribute, value in attribute_keys(partner).items():
            if value and attribute in attributes:
                holders[(attribute, value)].append(partner.id)
    return [
        SharedValue(attribute, value, tuple(sorted(set(ids))))
        for (attribute, value), ids in sorted(holders.items())
        if len(set(ids)) > 1
    ]


class RelatedParties:
    """Union-find over partners joined by a shared bank account, phone or address: `root(id)`
    names the group a partner belongs to (its smallest id)."""

    def __init__(self, shared: Iterable[SharedValue] = ()) -> None:
        self._parent: dict[int, int] = {}
        for item in shared:
            first = item.partner_ids[0]
            for other in item.partner_ids[1:]:
                self.join(first, other)

    def _find(self, partner_id: int) -> int:
        parent = self._parent.get(partner_id, partner_id)
        if parent == partner_id:
            return partner_id
        root = self._find(parent)
        self._parent[partner_id] = root
        return root

    def join(self, one: int, other: int) -> None:
        first, second = self._find(one), self._find(other)
        if first != second:
            low, high = sorted((first, second))
            self._parent[high] = low

    def root(self, partner_id: int) -> int:
        return self._find(partner_id)

    def members(self, partner_ids: Iterable[int]) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = defaultdict(list)
        for partner_id in partner_ids:
            groups[self.root(partner_id)].append(partner_id)
        return groups


def related_parties(*, enabled: bool = True) -> RelatedParties:
    """The related-party groups of every partner (none when not `enabled`)."""
    if not enabled:
        return RelatedParties()
    return RelatedParties(shared_values(facts.partner_facts()))


# ---------------------------------------------------------------- dates and documents


@functools.lru_cache(maxsize=4096)
def start_of_day(day: datetime.date) -> datetime.datetime:
    """A date as the moment a finding occurred: the start of that day in the group's time zone
    (the default one: rules run outside requests; cached, as making a time aware costs more
    than the rest of a hit)."""
    zone = timezone.get_default_timezone()
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()), zone)


def document_of(document_type: str, document_id: str) -> tuple[str, int] | None:
    """(trading document type, id) of a document named directly ("trading.payment", "12") or
    through the approval request that decides it ("approvals.request", "7")."""
    try:
        pk = int(document_id)
    except (TypeError, ValueError):
        return None
    if document_type == "approvals.request":
        return facts.document_for_request(pk)
    if document_type in DOCUMENT_PAGES:
        return document_type, pk
    return None


def days_before(now: datetime.datetime, days: int) -> datetime.date:
    """The local date `days` before `now`'s."""
    return local_today(now) - datetime.timedelta(days=days)
