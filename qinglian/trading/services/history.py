"""Imported trading history (legacy intake): master data and posted documents as an old
purchase–sales–inventory and finance system recorded them, written in bulk and marked with the
import batch — never through the posting services and their controls (a shipment to an overdue
customer, a payment beyond its contract stay what they were).

The ledgers are rebuilt from the documents so reports add up: the stock ledger in chronological
order per (company, warehouse, commodity) under moving-average costing (`costing`: opening
stock and receipts at their own value net of VAT, issues and stocktake losses at the average,
stocktake gains at the average), with its balances and monthly totals; the partner ledger from
the invoices and payments, with its balances.

The caller (qinglian.legacy) maps the old rows to field values; this module writes trading's
own tables only."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from qinglian.core.history import insert_history, reserve_ids

from .. import costing
from ..costing import NegativeStock, SeriesCosting, Valuation
from ..enums import (
    InvoiceDirection,
    PartnerAccount,
    PartnerEntryKind,
    PaymentDirection,
    QualificationKind,
    StockDirection,
    StockDocumentKind,
    StockEntryKind,
)
from ..models.contracts import Contract, ContractLine
from ..models.credit import CreditException
from ..models.master import Commodity, PartnerStatusChange, Qualification, Warehouse
from ..models.master import Partner as PartnerModel
from ..models.money import Invoice, PartnerBalance, PartnerLedgerEntry, Payment
from ..models.stock import (
    StockBalance,
    StockDocument,
    StockDocumentLine,
    StockLedgerEntry,
    StockMonthlyTotal,
    StockOpening,
    Stocktake,
    StocktakeLine,
)
from .stock_ledger import direction_of

ZERO = Decimal("0")


class HistoryRefused(Exception):
    """The history cannot be booked as it stands (stock would fall below zero)."""


def partners_write(
    rows: Sequence[Mapping[str, Any]],
    *,
    qualification_expiry: Sequence[datetime.date | None],
    batch_id: str,
) -> list[int]:
    """Partners, with a qualification record for each known expiry date: the supplier
    qualification the old system checked, so a required kind (an operating permit) — its
    expiry stops supplies here and supervision's rule 6 judges uses after it."""
    ids = insert_history(PartnerModel, rows, batch_id=batch_id)
    qualifications = [
        {
            "partner_id": pk,
            "kind": QualificationKind.OPERATING_PERMIT,
            "name": "资质（历史导入）",
            "expires_on": expiry,
        }
        for pk, expiry in zip(ids, qualification_expiry, strict=True)
        if expiry is not None
    ]
    insert_history(Qualification, qualifications)
    return ids


def partner_status_write(rows: Sequence[Mapping[str, Any]], *, batch_id: str) -> int:
    """The partners' admission status history (PartnerStatusChange field values, each with
    `source_id`). Returns the rows written."""
    return len(insert_history(PartnerStatusChange, rows, batch_id=batch_id))


# Ids taken before the rows are written, for the approval requests that decided them: each
# request is then written once, already pointing at its document.
IDS_OF = {"contract": Contract, "payment": Payment, "credit_exception": CreditException}


def ids_reserve(kind: str, count: int) -> list[int]:
    """`count` ids of the documents of `kind` (a key of IDS_OF), for rows written later in
    this transaction that name them."""
    return reserve_ids(IDS_OF[kind], count)


def credit_exceptions_write(rows: Sequence[Mapping[str, Any]], *, batch_id: str) -> list[int]:
    """Credit exceptions as the old approval platform decided them (CreditException field
    values, each with `source_id`). Returns their ids in row order."""
    return insert_history(CreditException, rows, batch_id=batch_id)


def commodities_write(rows: Sequence[Mapping[str, Any]], *, batch_id: str) -> list[int]:
    return insert_history(Commodity, rows, batch_id=batch_id)


def warehouses_write(rows: Sequence[Mapping[str, Any]], *, batch_id: str) -> list[int]:
    return insert_history(Warehouse, rows, batch_id=batch_id)


def contracts_write(
    rows: Sequence[Mapping[str, Any]],
    lines: Sequence[Sequence[Mapping[str, Any]]],
    *,
    batch_id: str,
) -> tuple[list[int], list[list[int]]]:
    """Contracts (revision 0, their own original) and their lines (`lines[i]` belong to
    `rows[i]`). Returns the contract ids and each contract's line ids."""
    ids = insert_history(Contract, rows, batch_id=batch_id, own_id=["original_id"])
    flat = [{**line, "contract_id": pk} for pk, own in zip(ids, lines, strict=True) for line in own]
    line_ids = iter(insert_history(ContractLine, flat))
    return ids, [[next(line_ids) for _line in own] for own in lines]


# ---------------------------------------------------------------- stock


@dataclass
class StockLineIn:
    """A document line: StockDocumentLine values without document and cost; `tax_rate` to
    value a receipt net of VAT."""

    values: dict[str, Any]
    tax_rate: Decimal


@dataclass
class StockDocumentIn:
    values: dict[str, Any]  # StockDocument values (kind, company_id, warehouse_id, …)
    moment: datetime.datetime
    lines: list[StockLineIn] = field(default_factory=list)


@dataclass
class StocktakeIn:
    values: dict[str, Any]  # Stocktake values
    moment: datetime.datetime
    lines: list[dict[str, Any]] = field(default_factory=list)  # commodity_id, book/counted


@dataclass
class OpeningIn:
    values: dict[str, Any]  # StockOpening values (company_id, number, posting_date, …)
    moment: datetime.datetime
    lines: list[tuple[int, int, Decimal, Decimal]] = field(default_factory=list)
    # (warehouse id, commodity id, quantity, unit cost)


@dataclass
class _Move:
    moment: datetime.datetime
    order: int
    company_id: int
    warehouse_id: int
    commodity_id: int
    posting_date: datetime.date
    kind: str
    quantity: Decimal
    valuation: Valuation
    own_value: Decimal
    owner: Any  # the line's holder (StockLineIn, a stocktake line dict, or an opening index)
    voucher: Any  # the header it belongs to
    value: Decimal = ZERO


def stock_history_write(
    openings: Sequence[OpeningIn],
    documents: Sequence[StockDocumentIn],
    stocktakes: Sequence[StocktakeIn],
    *,
    batch_id: str,
) -> dict[str, int]:
    """Value every movement in chronological order per series, write the documents with their
    values, then the ledger, the balances and the monthly totals. Raises HistoryRefused when
    stock would fall below zero. Returns rows written per table."""
    moves: list[_Move] = []
    order = 0
    for opening in openings:
        company = opening.values["company_id"]
        for index, (warehouse, commodity, quantity, unit_cost) in enumerate(opening.lines):
            order += 1
            moves.append(
                _Move(
                    opening.moment, order, company, warehouse, commodity,
                    opening.values["posting_date"], StockEntryKind.OPENING, quantity,
                    Valuation.FIXED, costing.money(quantity * unit_cost), index, opening,
                )
            )  # fmt: skip
    for document in documents:
        values = document.values
        receipt = values["kind"] == StockDocumentKind.RECEIPT
        for line in document.lines:
            order += 1
            quantity = line.values["quantity"]
            moves.append(
                _Move(
                    document.moment, order, values["company_id"], values["warehouse_id"],
                    line.values["commodity_id"], values["posting_date"],
                    StockEntryKind.RECEIPT if receipt else StockEntryKind.ISSUE,
                    quantity if receipt else -quantity,
                    Valuation.FIXED if receipt else Valuation.AVERAGE,
                    costing.net_value(quantity, line.values["unit_price"], line.tax_rate)
                    if receipt else ZERO,
                    line, document,
                )
            )  # fmt: skip
    for stocktake in stocktakes:
        values = stocktake.values
        for count in stocktake.lines:
            variance = count["counted_quantity"] - count["book_quantity"]
            if variance == 0:
                continue
            order += 1
            moves.append(
                _Move(
                    stocktake.moment, order, values["company_id"], values["warehouse_id"],
                    count["commodity_id"], values["counted_on"], StockEntryKind.STOCKTAKE,
                    variance, Valuation.AVERAGE if variance < 0 else Valuation.GAIN, ZERO,
                    count, stocktake,
                )
            )  # fmt: skip
    moves.sort(key=lambda move: (move.moment, move.order))
    series: dict[tuple[int, int, int], SeriesCosting] = {}
    last_dates: dict[tuple[int, int, int], datetime.date] = {}
    for move in moves:
        key = (move.company_id, move.warehouse_id, move.commodity_id)
        state = series.get(key)
        if state is None:
            state = series[key] = SeriesCosting()
        try:
            move.value = state.apply(
                move.order, move.quantity, move.valuation, move.own_value, on=move.posting_date
            )
        except NegativeStock as error:
            raise HistoryRefused(
                f"stock of warehouse {move.warehouse_id}, commodity {move.commodity_id} would be "
                f"{error.quantity} on {move.posting_date}"
            ) from error
        last_dates[key] = move.posting_date
        if move.kind in (StockEntryKind.RECEIPT, StockEntryKind.ISSUE):
            move.owner.values["cost"] = move.value if move.quantity > 0 else -move.value
        elif move.kind == StockEntryKind.STOCKTAKE:
            move.owner["cost"] = move.value
    written: dict[str, int] = {}
    # Headers, then lines, with their values.
    opening_ids = insert_history(
        StockOpening,
        [
            {
                **opening.values,
                "total_quantity": sum((line[2] for line in opening.lines), ZERO),
                "total_value": sum(
                    (costing.money(line[2] * line[3]) for line in opening.lines), ZERO
                ),
            }
            for opening in openings
        ],
        batch_id=batch_id,
    )
    for document in documents:
        document.values["total_cost"] = sum(
            (line.values.get("cost", ZERO) for line in document.lines), ZERO
        )
    document_ids = insert_history(
        StockDocument, [document.values for document in documents], batch_id=batch_id
    )
    line_rows = [
        {**line.values, "document_id": pk}
        for pk, document in zip(document_ids, documents, strict=True)
        for line in document.lines
    ]
    line_ids = iter(insert_history(StockDocumentLine, line_rows))
    for document in documents:
        for line in document.lines:
            line.values["id"] = next(line_ids)
    stocktake_ids = insert_history(
        Stocktake, [stocktake.values for stocktake in stocktakes], batch_id=batch_id
    )
    count_rows = [
        {**line, "stocktake_id": pk}
        for pk, stocktake in zip(stocktake_ids, stocktakes, strict=True)
        for line in stocktake.lines
    ]
    count_ids = iter(insert_history(StocktakeLine, count_rows))
    for stocktake in stocktakes:
        for count in stocktake.lines:
            count["id"] = next(count_ids)
    headers = {id(opening): pk for opening, pk in zip(openings, opening_ids, strict=True)}
    headers.update({id(doc): pk for doc, pk in zip(documents, document_ids, strict=True)})
    headers.update({id(take): pk for take, pk in zip(stocktakes, stocktake_ids, strict=True)})
    # The ledger, oldest first (within a date the id orders a series' entries).
    entries = []
    months: dict[tuple[int, int, int, datetime.date], list[Decimal]] = {}
    for move in moves:
        direction = direction_of(move.kind, move.quantity)
        if move.kind == StockEntryKind.OPENING:
            line_id = None
        elif move.kind == StockEntryKind.STOCKTAKE:
            line_id = move.owner["id"]
        else:
            line_id = move.owner.values["id"]
        entries.append(
            {
                "company_id": move.company_id,
                "warehouse_id": move.warehouse_id,
                "commodity_id": move.commodity_id,
                "posting_date": move.posting_date,
                "kind": move.kind,
                "direction": direction,
                "quantity": move.quantity,
                "value": move.value,
                "voucher_type": move.kind,
                "voucher_id": headers[id(move.voucher)],
                "voucher_line_id": line_id,
            }
        )
        slot = (move.company_id, move.warehouse_id, move.commodity_id,
                move.posting_date.replace(day=1))  # fmt: skip
        total = months.get(slot)
        if total is None:
            total = months[slot] = [ZERO, ZERO, ZERO, ZERO]
        if direction == StockDirection.IN:
            total[0] += move.quantity
            total[1] += move.value
        else:
            total[2] -= move.quantity
            total[3] -= move.value
    written["trading.stockledgerentry"] = len(insert_history(StockLedgerEntry, entries))
    written["trading.stockbalance"] = len(
        insert_history(
            StockBalance,
            [
                {
                    "company_id": key[0],
                    "warehouse_id": key[1],
                    "commodity_id": key[2],
                    "quantity": state.quantity,
                    "value": state.value,
                    "last_posting_date": last_dates[key],
                }
                for key, state in series.items()
            ],
        )
    )
    written["trading.stockmonthlytotal"] = len(
        insert_history(
            StockMonthlyTotal,
            [
                {
                    "company_id": slot[0],
                    "warehouse_id": slot[1],
                    "commodity_id": slot[2],
                    "month": slot[3],
                    "in_quantity": total[0],
                    "in_value": total[1],
                    "out_quantity": total[2],
                    "out_value": total[3],
                }
                for slot, total in months.items()
            ],
        )
    )
    written["trading.stockopening"] = len(opening_ids)
    written["trading.stockdocument"] = len(document_ids)
    written["trading.stockdocumentline"] = len(line_rows)
    written["trading.stocktake"] = len(stocktake_ids)
    written["trading.stocktakeline"] = len(count_rows)
    return written


# ---------------------------------------------------------------- money


def money_history_write(
    invoices: Sequence[Mapping[str, Any]],
    payments: Sequence[Mapping[str, Any]],
    *,
    batch_id: str,
) -> tuple[list[int], list[int], dict[str, int]]:
    """Posted invoices and payments (each payment's `invoice_index`, when not None, is the
    index of the invoice it names in `invoices`), then the partner ledger and balances:
    an invoice moves the payable (received) or receivable (issued) by its amount, a payment or
    receipt by minus its amount. Returns invoice ids, payment ids and rows per table."""
    invoice_ids = insert_history(Invoice, invoices, batch_id=batch_id)
    payment_rows = []
    for payment in payments:
        row = dict(payment)
        index = row.pop("invoice_index", None)
        row["invoice_id"] = invoice_ids[index] if index is not None else None
        payment_rows.append(row)
    payment_ids = insert_history(Payment, payment_rows, batch_id=batch_id)
    entries = []
    balances: dict[tuple[int, int], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for invoice, pk in zip(invoices, invoice_ids, strict=True):
        receivable = invoice["direction"] == InvoiceDirection.ISSUED
        entries.append(
            {
                "company_id": invoice["company_id"],
                "partner_id": invoice["partner_id"],
                "contract_id": invoice.get("contract_id"),
                "account": PartnerAccount.RECEIVABLE if receivable else PartnerAccount.PAYABLE,
                "kind": PartnerEntryKind.INVOICE,
                "amount": invoice["amount"],
                "posting_date": invoice["invoice_date"],
                "due_date": invoice.get("due_date"),
                "voucher_type": "invoice",
                "voucher_id": pk,
            }
        )
    for payment, pk in zip(payment_rows, payment_ids, strict=True):
        receivable = payment["direction"] == PaymentDirection.IN
        entries.append(
            {
                "company_id": payment["company_id"],
                "partner_id": payment["partner_id"],
                "contract_id": payment.get("contract_id"),
                "account": PartnerAccount.RECEIVABLE if receivable else PartnerAccount.PAYABLE,
                "kind": PartnerEntryKind.PAYMENT,
                "amount": -payment["amount"],
                "posting_date": payment["paid_on"],
                "due_date": None,
                "voucher_type": "payment",
                "voucher_id": pk,
            }
        )
    entries.sort(key=lambda entry: entry["posting_date"])
    for entry in entries:
        slot = balances[(entry["company_id"], entry["partner_id"])]
        slot[0 if entry["account"] == PartnerAccount.RECEIVABLE else 1] += entry["amount"]
    written = {
        "trading.invoice": len(invoice_ids),
        "trading.payment": len(payment_ids),
        "trading.partnerledgerentry": len(insert_history(PartnerLedgerEntry, entries)),
        "trading.partnerbalance": len(
            insert_history(
                PartnerBalance,
                [
                    {
                        "company_id": key[0],
                        "partner_id": key[1],
                        "receivable": total[0],
                        "payable": total[1],
                    }
                    for key, total in sorted(balances.items())
                ],
            )
        ),
    }
    return invoice_ids, payment_ids, written
