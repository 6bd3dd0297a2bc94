"""Trading selectors: money (invoices, payments and receipts, the partner ledger). Reads, always
scoped to the user; the pure rules (payment allowance, open-item allocation) first."""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from qinglian.core import clock
from qinglian.core.errors import NotFound

from ..enums import (
    ApprovedPostingStatus,
    ContractKind,
    ContractStatus,
    InvoiceDirection,
    PartnerAccount,
    PartnerEntryKind,
    PaymentDirection,
    PaymentTerm,
)
from ..models import (
    Contract,
    Invoice,
    Partner,
    PartnerBalance,
    PartnerLedgerEntry,
    Payment,
)
from ..models.money import OpeningBalance
from ..permissions import can_read_master_data, scoped
from .stock import exact_sum, exact_total

ZERO = Decimal("0")
MONEY = Decimal("0.01")

# ---------------------------------------------------------------- pure rules


@dataclass(frozen=True)
class Allowance:
    """What may still be paid against a contract (or against a partner's opening payables)."""

    prepayment_allowance: Decimal
    invoiced: Decimal
    delivered_value: Decimal
    ceiling: Decimal
    settled: Decimal
    reserved: Decimal
    allowed: Decimal


def payment_allowance(
    *,
    payment_term: str,
    contract_amount: Decimal,
    prepayment_percent: Decimal,
    invoiced: Decimal,
    settled: Decimal,
    delivered_value: Decimal = ZERO,
    reserved: Decimal = ZERO,
) -> Allowance:
    """The one rule for how much may be paid to a supplier without an approved exception.

    - prepayment allowance = contract amount × prepayment % (prepayment terms only, else 0);
    - delivered value (goods received at contract prices) counts only under payment-on-delivery
      terms;
    - ceiling = max(invoiced, prepayment allowance, delivered value): before invoices arrive a
      prepayment contract may be paid up to its prepayment, afterwards up to what is invoiced;
    - allowed = ceiling − already paid (net of reversals) − payments under approval, never
      below zero.
    """
    prepayment = ZERO
    if payment_term == PaymentTerm.PREPAYMENT:
        prepayment = (contract_amount * prepayment_percent / 100).quantize(MONEY)
    delivered = delivered_value if payment_term == PaymentTerm.ON_DELIVERY else ZERO
    ceiling = max(invoiced, prepayment, delivered)
    return Allowance(
        prepayment_allowance=prepayment,
        invoiced=invoiced,
        delivered_value=delivered,
        ceiling=ceiling,
        settled=settled,
        reserved=reserved,
        allowed=max(ZERO, ceiling - settled - reserved),
    )


_SEPARATORS = re.compile(r"[\s\-‐‑–—_/]+")


def normalise_invoice_part(value: str) -> str:
    """Upper case without spaces and dashes; leading zeros are significant and kept."""
    return _SEPARATORS.sub("", value or "").upper()


def invoice_number_key(code: str, number: str) -> str:
    return f"{normalise_invoice_part(code)}/{normalise_invoice_part(number)}"


def due_date_for(
    invoice_date: datetime.date, *, credit_days: int, partner_days: int
) -> datetime.date:
    """An invoice falls due after the contract's credit days, or the partner's payment days
    when the contract gives none."""
    days = credit_days if credit_days > 0 else partner_days
    return invoice_date + datetime.timedelta(days=max(0, days))


Key = tuple[str, int]


@dataclass(frozen=True)
class LedgerItem:
    key: Key  # the voucher: ("invoice", 12)
    amount: Decimal  # positive: owed more; negative: paid or credited
    posting_date: datetime.date
    due_date: datetime.date | None = None
    against: Key | None = None  # a reversal names the voucher it reverses


@dataclass(frozen=True)
class OpenAmount:
    key: Key
    posting_date: datetime.date
    due_date: datetime.date
    amount: Decimal  # the charge (or credit) net of its reversals
    outstanding: Decimal  # still owed (negative: a credit not yet used)


def allocate_open_items(items: Iterable[LedgerItem]) -> list[OpenAmount]:
    """Open items of one account of one partner (and contract), first in first out.

    A reversal cancels the voucher it names; what remains positive are charges and what
    remains negative are credits. Credits, oldest first, settle the charges that fall due
    first. The result lists the charges still (partly) owed and the credits not used up, in
    due-date order."""
    listed = list(items)
    facts: dict[Key, tuple[datetime.date, datetime.date]] = {}
    for item in listed:
        facts.setdefault(item.key, (item.posting_date, item.due_date or item.posting_date))
    net: dict[Key, Decimal] = defaultdict(lambda: ZERO)
    for item in listed:
        target = item.against if item.against is not None and item.against in facts else item.key
        net[target] += item.amount
    charges = sorted(
        (key for key, amount in net.items() if amount > 0),
        key=lambda key: (facts[key][1], facts[key][0], key),
    )
    credits = sorted(
        (key for key, amount in net.items() if amount < 0),
        key=lambda key: (facts[key][0], key),
    )
    outstanding = {key: net[key] for key in charges}
    remaining_credit = {key: -net[key] for key in credits}
    charge_index = 0
    for credit in credits:
        while remaining_credit[credit] > 0 and charge_index < len(charges):
            charge = charges[charge_index]
            used = min(remaining_credit[credit], outstanding[charge])
            outstanding[charge] -= used
            remaining_credit[credit] -= used
            if outstanding[charge] == 0:
                charge_index += 1
    result = [
        OpenAmount(key, facts[key][0], facts[key][1], net[key], outstanding[key])
        for key in charges
        if outstanding[key] > 0
    ] + [
        OpenAmount(key, facts[key][0], facts[key][1], net[key], -remaining_credit[key])
        for key in credits
        if remaining_credit[key] > 0
    ]
    return sorted(result, key=lambda item: (item.due_date, item.posting_date, item.key))


# ---------------------------------------------------------------- invoices


def invoice_list(
    *,
    user: Any,
    direction: str | None = None,
    status: str | None = None,
    company_id: int | None = None,
    partner_id: int | None = None,
    contract_id: int | None = None,
    search: str = "",
) -> QuerySet[Invoice]:
    invoices = scoped(Invoice.objects.all(), user).select_related("partner", "contract", "company")
    if direction:
        invoices = invoices.filter(direction=direction)
    if status:
        invoices = invoices.filter(status=status)
    if company_id:
        invoices = invoices.filter(company_id=company_id)
    if partner_id:
        invoices = invoices.filter(partner_id=partner_id)
    if contract_id:
        invoices = invoices.filter(_chain_of(contract_id))
    if search.strip():
        term = search.strip()
        invoices = invoices.filter(
            Q(invoice_number__icontains=term)
            | Q(partner__name__icontains=term)
            | Q(contract__number__icontains=term)
        )
    return invoices.order_by("-invoice_date", "-id")


def invoice_access(*, user: Any, id: int) -> Invoice:
    invoice = (
        scoped(Invoice.objects.all(), user)
        .select_related("partner", "contract", "company", "reverses", "created_by", "posted_by")
        .filter(pk=id)
        .first()
    )
    if invoice is None:
        raise NotFound(_("Invoice not found."))
    return invoice


def _chain_of(contract_id: int) -> Q:
    original_id = (
        Contract.objects.filter(pk=contract_id).values_list("original_id", flat=True).first()
        or contract_id
    )
    return Q(contract_id=original_id) | Q(contract__original_id=original_id)


# ---------------------------------------------------------------- payments and receipts


def payment_list(
    *,
    user: Any,
    direction: str | None = None,
    status: str | None = None,
    company_id: int | None = None,
    partner_id: int | None = None,
    contract_id: int | None = None,
    search: str = "",
) -> QuerySet[Payment]:
    payments = scoped(Payment.objects.all(), user).select_related("partner", "contract", "company")
    if direction:
        payments = payments.filter(direction=direction)
    if status:
        payments = payments.filter(status=status)
    if company_id:
        payments = payments.filter(company_id=company_id)
    if partner_id:
        payments = payments.filter(partner_id=partner_id)
    if contract_id:
        payments = payments.filter(_chain_of(contract_id))
    if search.strip():
        term = search.strip()
        payments = payments.filter(
            Q(number__icontains=term)
            | Q(partner__name__icontains=term)
            | Q(contract__number__icontains=term)
        )
    return payments.order_by("-paid_on", "-id")


def payment_access(*, user: Any, id: int) -> Payment:
    payment = (
        scoped(Payment.objects.all(), user)
        .select_related(
            "partner",
            "contract",
            "company",
            "invoice",
            "reverses",
            "approval_request",
            "created_by",
            "posted_by",
        )
        .filter(pk=id)
        .first()
    )
    if payment is None:
        raise NotFound(_("Payment not found."))
    return payment


def _reserved(payments: QuerySet[Payment], exclude_payment_id: int | None) -> Decimal:
    pending = payments.filter(direction=PaymentDirection.OUT, status=ApprovedPostingStatus.PENDING)
    if exclude_payment_id is not None:
        pending = pending.exclude(pk=exclude_payment_id)
    return pending.aggregate(total=Sum("amount"))["total"] or ZERO


def contract_payment_allowance(
    contract: Contract, *, exclude_payment_id: int | None = None, include_reserved: bool = True
) -> Allowance:
    """The allowance of a contract's revision in force (read under its row lock when it
    guards a payment)."""
    delivered = sum(
        (
            (line.executed_quantity * line.unit_price).quantize(MONEY)
            for line in contract.lines.all()
        ),
        ZERO,
    )
    reserved = (
        _reserved(Payment.objects.filter(_chain_of(contract.pk)), exclude_payment_id)
        if include_reserved
        else ZERO
    )
    return payment_allowance(
        payment_term=contract.payment_term,
        contract_amount=contract.total_amount,
        prepayment_percent=contract.prepayment_percent,
        invoiced=contract.invoiced_amount,
        settled=contract.settled_amount,
        delivered_value=delivered,
        reserved=reserved,
    )


def partner_payment_allowance(
    *,
    company_id: int,
    partner_id: int,
    exclude_payment_id: int | None = None,
    include_reserved: bool = True,
) -> Allowance:
    """Payments without a contract settle only the partner's opening payables without one."""
    entries = PartnerLedgerEntry.objects.filter(
        company_id=company_id,
        partner_id=partner_id,
        contract__isnull=True,
        account=PartnerAccount.PAYABLE,
    )
    opening = (
        entries.filter(kind=PartnerEntryKind.OPENING).aggregate(total=Sum("amount"))["total"]
        or ZERO
    )
    paid = -(
        entries.filter(kind=PartnerEntryKind.PAYMENT).aggregate(total=Sum("amount"))["total"]
        or ZERO
    )
    reserved = (
        _reserved(
            Payment.objects.filter(
                company_id=company_id, partner_id=partner_id, contract__isnull=True
            ),
            exclude_payment_id,
        )
        if include_reserved
        else ZERO
    )
    return payment_allowance(
        payment_term="",
        contract_amount=ZERO,
        prepayment_percent=ZERO,
        invoiced=opening,
        settled=paid,
        reserved=reserved,
    )


# ---------------------------------------------------------------- the partner ledger


def partner_balance_list(
    *,
    user: Any,
    company_id: int | None = None,
    search: str = "",
    nonzero_only: bool = True,
) -> QuerySet[PartnerBalance]:
    balances = scoped(PartnerBalance.objects.all(), user).select_related("partner", "company")
    if company_id:
        balances = balances.filter(company_id=company_id)
    if search.strip():
        term = search.strip()
        balances = balances.filter(Q(partner__name__icontains=term) | Q(partner__code=term))
    if nonzero_only:
        balances = balances.exclude(receivable=0, payable=0)
    return balances.order_by("partner__name", "company_id")


def partner_ledger_access(*, user: Any, partner_id: int) -> Partner:
    """A partner whose ledger the user may open (master data they read)."""
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None or not can_read_master_data(user, partner.company_id):
        raise NotFound(_("Partner not found."))
    return partner


def partner_ledger_entries(
    *,
    user: Any,
    partner_id: int | None = None,
    company_id: int | None = None,
    contract_id: int | None = None,
    account: str | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    kind: str | None = None,
) -> QuerySet[PartnerLedgerEntry]:
    """Entries in ledger order; `contract_id` takes every revision of the contract, `kind`
    is an entry kind (invoice, payment, opening)."""
    entries = scoped(PartnerLedgerEntry.objects.all(), user).select_related(
        "contract", "company", "partner"
    )
    if partner_id:
        entries = entries.filter(partner_id=partner_id)
    if company_id:
        entries = entries.filter(company_id=company_id)
    if contract_id:
        entries = entries.filter(_chain_of(contract_id))
    if account:
        entries = entries.filter(account=account)
    if date_from:
        entries = entries.filter(posting_date__gte=date_from)
    if date_to:
        entries = entries.filter(posting_date__lte=date_to)
    if kind:
        entries = entries.filter(kind=kind)
    return entries.order_by("posting_date", "id")


@dataclass(frozen=True)
class EntryTotals:
    count: int
    amount: Decimal


def partner_ledger_entry_totals(entries: QuerySet[PartnerLedgerEntry]) -> EntryTotals:
    """How many entries a filtered list (`partner_ledger_entries`) holds and their sum: what a
    report figure that links to the list adds up to."""
    sums = entries.order_by().aggregate(count=Count("pk"), amount=exact_sum("amount", 2))
    return EntryTotals(count=int(sums["count"] or 0), amount=exact_total(sums["amount"], 2))


@dataclass(frozen=True)
class PartnerTotals:
    company_id: int
    company_name: str
    receivable: Decimal  # the sum of the ledger
    payable: Decimal
    stored_receivable: Decimal  # the PartnerBalance row
    stored_payable: Decimal

    @property
    def is_consistent(self) -> bool:
        return self.receivable == self.stored_receivable and self.payable == self.stored_payable


def partner_ledger_totals(
    *, user: Any, partner_id: int, company_id: int | None = None
) -> list[PartnerTotals]:
    """Per company: receivable and payable as the sum of the ledger beside the stored
    balance (they are equal; the page shows both so a reader can see it)."""
    sums: dict[int, dict[str, Decimal]] = defaultdict(lambda: {"receivable": ZERO, "payable": ZERO})
    entries = partner_ledger_entries(user=user, partner_id=partner_id, company_id=company_id)
    for row in entries.order_by().values("company_id", "account").annotate(total=Sum("amount")):
        sums[row["company_id"]][row["account"]] = row["total"] or ZERO
    balances = {
        balance.company_id: balance
        for balance in partner_balance_list(
            user=user, company_id=company_id, nonzero_only=False
        ).filter(partner_id=partner_id)
    }
    result = []
    for company_id_ in sorted(set(sums) | set(balances)):
        stored = balances.get(company_id_)
        result.append(
            PartnerTotals(
                company_id=company_id_,
                company_name=str(stored.company) if stored else "",
                receivable=sums[company_id_]["receivable"].quantize(MONEY),
                payable=sums[company_id_]["payable"].quantize(MONEY),
                stored_receivable=(stored.receivable if stored else ZERO).quantize(MONEY),
                stored_payable=(stored.payable if stored else ZERO).quantize(MONEY),
            )
        )
    return result


@dataclass(frozen=True)
class ContractLedgerRow:
    contract_id: int | None  # the first revision (None: entries without a contract)
    number: str
    kind: str
    receivable: Decimal
    payable: Decimal


def partner_contract_balances(
    *, user: Any, partner_id: int, company_id: int | None = None
) -> list[ContractLedgerRow]:
    """Receivable and payable per contract (all revisions together) of one partner."""
    rows: dict[int | None, dict[str, Decimal]] = defaultdict(
        lambda: {"receivable": ZERO, "payable": ZERO}
    )
    entries = partner_ledger_entries(user=user, partner_id=partner_id, company_id=company_id)
    for row in (
        entries.order_by()
        .values("contract__original_id", "contract_id", "account")
        .annotate(total=Sum("amount"))
    ):
        key = row["contract__original_id"] or row["contract_id"]
        rows[key][row["account"]] += row["total"] or ZERO
    contracts = {
        contract.pk: contract
        for contract in Contract.objects.filter(pk__in=[key for key in rows if key])
    }
    return [
        ContractLedgerRow(
            contract_id=key,
            number=contracts[key].number if key in contracts else "",
            kind=contracts[key].kind if key in contracts else "",
            receivable=amounts["receivable"].quantize(MONEY),
            payable=amounts["payable"].quantize(MONEY),
        )
        for key, amounts in sorted(rows.items(), key=lambda item: (item[0] is None, item[0] or 0))
    ]


@dataclass(frozen=True)
class OpenItem:
    """One open receivable or payable — the input of ageing (issue 5)."""

    company_id: int
    partner_id: int
    contract_id: int | None  # the first revision of the contract
    account: str
    voucher_type: str
    voucher_id: int
    posting_date: datetime.date
    due_date: datetime.date
    amount: Decimal
    outstanding: Decimal
    days_overdue: int  # 0 when not yet due; credits are never overdue


def _reversal_targets(entries: Iterable[Mapping[str, Any]]) -> dict[Key, Key]:
    """Which voucher each reversal voucher reverses."""
    ids: dict[str, set[int]] = defaultdict(set)
    for entry in entries:
        if entry["voucher_type"] in ("invoice", "payment", "opening"):
            ids[entry["voucher_type"]].add(entry["voucher_id"])
    targets: dict[Key, Key] = {}
    for model, voucher_type in (
        (Invoice, "invoice"),
        (Payment, "payment"),
        (OpeningBalance, "opening"),
    ):
        if not ids[voucher_type]:
            continue
        for pk, reverses_id in (
            model.objects.filter(pk__in=ids[voucher_type], reverses__isnull=False)
            .values_list("pk", "reverses_id")
            .iterator()
        ):
            targets[(voucher_type, pk)] = (voucher_type, reverses_id)
    return targets


def open_items(
    *,
    user: Any,
    company_id: int | None = None,
    partner_id: int | None = None,
    contract_id: int | None = None,
    account: str | None = None,
    as_of: datetime.date | None = None,
) -> list[OpenItem]:
    """Open receivables and payables with their due dates as of a day (entries posted up to
    it), per company, partner, account and contract, settled first in first out."""
    as_of = as_of or clock.today()
    entries = list(
        partner_ledger_entries(
            user=user,
            partner_id=partner_id,
            company_id=company_id,
            contract_id=contract_id,
            account=account,
            date_to=as_of,
        ).values(
            "company_id",
            "partner_id",
            "account",
            "contract__original_id",
            "contract_id",
            "voucher_type",
            "voucher_id",
            "amount",
            "posting_date",
            "due_date",
        )
    )
    targets = _reversal_targets(entries)
    groups: dict[tuple[int, int, str, int | None], list[LedgerItem]] = defaultdict(list)
    for entry in entries:
        key: Key = (entry["voucher_type"], entry["voucher_id"])
        group = (
            entry["company_id"],
            entry["partner_id"],
            entry["account"],
            entry["contract__original_id"] or entry["contract_id"],
        )
        groups[group].append(
            LedgerItem(
                key=key,
                amount=entry["amount"],
                posting_date=entry["posting_date"],
                due_date=entry["due_date"],
                against=targets.get(key),
            )
        )
    result = []
    for (company, partner, account_, contract), items in groups.items():
        for item in allocate_open_items(items):
            overdue = (as_of - item.due_date).days if item.outstanding > 0 else 0
            result.append(
                OpenItem(
                    company_id=company,
                    partner_id=partner,
                    contract_id=contract,
                    account=account_,
                    voucher_type=item.key[0],
                    voucher_id=item.key[1],
                    posting_date=item.posting_date,
                    due_date=item.due_date,
                    amount=item.amount,
                    outstanding=item.outstanding,
                    days_overdue=max(0, overdue),
                )
            )
    return sorted(result, key=lambda item: (item.due_date, item.company_id, item.partner_id))


def opening_balance_list(
    *, user: Any, company_id: int | None = None, partner_id: int | None = None
) -> QuerySet[OpeningBalance]:
    balances = scoped(OpeningBalance.objects.all(), user).select_related(
        "partner", "contract", "company"
    )
    if company_id:
        balances = balances.filter(company_id=company_id)
    if partner_id:
        balances = balances.filter(partner_id=partner_id)
    return balances.order_by("-posting_date", "-id")


def account_for_contract_kind(kind: str) -> str:
    return PartnerAccount.PAYABLE if kind == ContractKind.PURCHASE else PartnerAccount.RECEIVABLE


def invoice_direction_for(kind: str) -> str:
    return InvoiceDirection.RECEIVED if kind == ContractKind.PURCHASE else InvoiceDirection.ISSUED


def payment_direction_for(kind: str) -> str:
    return PaymentDirection.OUT if kind == ContractKind.PURCHASE else PaymentDirection.IN


def contracts_for_money(*, user: Any, kind: str | None = None) -> QuerySet[Contract]:
    """Contracts money may be booked against (effective, completed or terminated)."""
    contracts = scoped(
        Contract.objects.filter(
            status__in=[
                ContractStatus.EFFECTIVE,
                ContractStatus.COMPLETED,
                ContractStatus.TERMINATED,
            ]
        ),
        user,
    )
    if kind:
        contracts = contracts.filter(kind=kind)
    return contracts.select_related("partner").order_by("-id")
