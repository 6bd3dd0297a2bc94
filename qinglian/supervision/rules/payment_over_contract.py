"""Rule 4 — payments beyond the contract or the invoices, and payments without an effective
contract.

Today's payment service refuses a payment beyond what the contract and its invoices allow
unless it is approved as an exception; history (imported, or from before the control) and the
exceptions themselves are what this rule looks at. Per contract (all its revisions), payments
to the supplier are replayed in the order they were made, reversals netted:

- over the contract: the amount paid after a payment exceeds the contract's ceiling (each
  line's amount plus its quantity tolerance, as the revision in force has it) by more than the
  tolerance;
- ahead of the invoices: the amount paid exceeds what could be paid on that day — the
  invoices dated up to it, or the prepayment share of a prepayment contract, or the goods
  received by then under payment-on-delivery terms (the payment service's own rule);
- not effective: the payment was made before the contract took effect, or the contract never
  did.

Payments without a contract may only settle opening payables: one that takes the payments
without a contract to a supplier beyond its opening payables with that company is reported on
its own. Reversed payments count in the totals but are not reported (they were corrected).
"""

from __future__ import annotations

import bisect
import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts
from qinglian.trading.enums import (
    ApprovedPostingStatus,
    ContractKind,
    InvoiceDirection,
    PaymentDirection,
    PaymentTerm,
    StockDocumentKind,
)

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ._approvals import amount_text
from ._trading import (
    CONTRACT,
    HUNDRED,
    PAYMENT,
    contract_link,
    days_before,
    document_of,
    money,
    partner_link,
    payment_link,
    start_of_day,
)

OVER_CONTRACT = "over_contract"
OVER_INVOICED = "over_invoiced"
NOT_EFFECTIVE = "not_effective"
NO_CONTRACT = "no_contract"
ZERO = Decimal(0)


@dataclass
class Dated:
    """Amounts by date, summed up to a day by bisection."""

    days: list[datetime.date] = field(default_factory=list)
    running: list[Decimal] = field(default_factory=list)

    @classmethod
    def of(cls, items: Iterable[tuple[datetime.date, Decimal]]) -> Dated:
        dated = cls()
        total = ZERO
        for day, amount in sorted(items, key=lambda item: item[0]):
            total += amount
            dated.days.append(day)
            dated.running.append(total)
        return dated

    def up_to(self, day: datetime.date) -> Decimal:
        index = bisect.bisect_right(self.days, day)
        return self.running[index - 1] if index else ZERO


@dataclass(frozen=True)
class Offence:
    payment: facts.PaymentFact
    paid_after: Decimal  # paid on the contract (or without one) after this payment
    allowed: Decimal | None  # what could be paid by then (None: not a question of amount)


def _ceilings(current_ids: set[int], *, narrow: bool) -> dict[int, Decimal]:
    """Contract id → its lines' amounts plus their quantity tolerance."""
    ceilings: dict[int, Decimal] = defaultdict(Decimal)
    for line in facts.contract_line_facts(contract_ids=current_ids if narrow else None):
        if line.contract_id not in current_ids:
            continue
        ceilings[line.contract_id] += money(
            line.amount * (1 + line.quantity_tolerance_percent / HUNDRED)
        )
    return ceilings


def _booked(payment: facts.PaymentFact, pending_id: int | None) -> bool:
    return payment.status in facts.BOOKED_PAYMENT_STATUSES or payment.id == pending_id


def _reportable(payment: facts.PaymentFact, parameters: Mapping[str, Any], start: Any) -> bool:
    return (
        payment.reverses_id is None
        and payment.amount > 0
        and payment.status != ApprovedPostingStatus.REVERSED
        and payment.paid_on >= start
        and (parameters["include_exceptions"] or not payment.is_exception)
    )


def _detect(
    context: RuleContext, *, only_payment: facts.PaymentFact | None = None
) -> Iterable[Hit]:
    parameters = context.parameters
    start = days_before(context.now, parameters["lookback_days"])
    tolerance = 1 + parameters["tolerance_percent"] / HUNDRED
    pending_id = only_payment.id if only_payment is not None else None
    chain_ids = (
        None
        if only_payment is None
        else ([only_payment.chain_id] if only_payment.chain_id is not None else [])
    )
    statuses = None if only_payment is not None else facts.BOOKED_PAYMENT_STATUSES
    by_chain: dict[int, list[facts.PaymentFact]] = defaultdict(list)
    without: dict[tuple[int, int], list[facts.PaymentFact]] = defaultdict(list)
    if only_payment is None or only_payment.chain_id is not None:
        for payment in facts.payment_facts(
            statuses=statuses, chain_ids=chain_ids, with_contract=True
        ):
            if _booked(payment, pending_id) and payment.chain_id is not None:
                by_chain[payment.chain_id].append(payment)
    if parameters["check_without_contract"] and (
        only_payment is None or only_payment.chain_id is None
    ):
        for payment in facts.payment_facts(
            statuses=statuses,
            with_contract=False,
            partner_ids=None if only_payment is None else [only_payment.partner_id],
        ):
            if only_payment is not None and payment.company_id != only_payment.company_id:
                continue
            if _booked(payment, pending_id):
                without[(payment.company_id, payment.partner_id)].append(payment)
    hits: list[Hit] = []
    if by_chain:
        hits.extend(
            _contract_hits(by_chain, parameters, start, tolerance, narrow=only_payment is not None)
        )
    if without:
        hits.extend(_uncontracted_hits(without, parameters, start, tolerance))
    if only_payment is not None:
        hits = [
            hit
            for hit in hits
            if any(
                link.type == PAYMENT and link.id == str(only_payment.id) for link in hit.documents
            )
        ]
    return sorted(hits, key=lambda hit: (hit.subject_type, int(hit.subject_id), hit.key))


def _contract_hits(
    by_chain: Mapping[int, list[facts.PaymentFact]],
    parameters: Mapping[str, Any],
    start: datetime.date,
    tolerance: Decimal,
    *,
    narrow: bool = False,
) -> list[Hit]:
    """`narrow`: few contracts (one document's check): read only their invoices."""
    revisions = (
        facts.contract_facts(chain_ids=list(by_chain))
        if narrow
        else facts.contract_facts(kinds=[ContractKind.PURCHASE])
    )
    chains = facts.contract_chains(revisions)
    ceilings = _ceilings({chain.current.id for chain in chains.values()}, narrow=narrow)
    invoiced: dict[int, list[tuple[datetime.date, Decimal]]] = defaultdict(list)
    delivered: dict[int, list[tuple[datetime.date, Decimal]]] = defaultdict(list)
    if parameters["check_invoiced"]:
        for invoice in facts.invoice_facts(
            directions=[InvoiceDirection.RECEIVED],
            with_contract=True,
            chain_ids=list(by_chain) if narrow else None,
        ):
            if invoice.chain_id is not None and invoice.chain_id in by_chain:
                invoiced[invoice.chain_id].append((invoice.invoice_date, invoice.amount))
        on_delivery = [
            chain_id
            for chain_id, chain in chains.items()
            if chain.current.payment_term == PaymentTerm.ON_DELIVERY
        ]
        if on_delivery:
            for document in facts.stock_document_facts(
                kinds=[StockDocumentKind.RECEIPT], chain_ids=on_delivery
            ):
                if document.chain_id is not None:
                    delivered[document.chain_id].append(
                        (document.posting_date, document.total_amount)
                    )
    names = facts.partner_names(chain.current.partner_id for chain in chains.values())
    hits: list[Hit] = []
    for chain_id, payments in by_chain.items():
        chain = chains.get(chain_id)
        if chain is None or chain.current.kind != ContractKind.PURCHASE:
            continue
        current = chain.current
        ceiling = ceilings.get(current.id, current.total_amount)
        prepayment = ZERO
        if current.payment_term == PaymentTerm.PREPAYMENT:
            prepayment = money(current.total_amount * current.prepayment_percent / HUNDRED)
        invoices = Dated.of(invoiced.get(chain_id, []))
        receipts = Dated.of(delivered.get(chain_id, []))
        offences: dict[str, list[Offence]] = defaultdict(list)
        paid = ZERO
        for payment in sorted(payments, key=lambda item: (item.paid_on, item.id)):
            paid += payment.amount
            if not _reportable(payment, parameters, start):
                continue
            if parameters["check_not_effective"] and (
                chain.effective_from is None or payment.paid_on < chain.effective_from
            ):
                offences[NOT_EFFECTIVE].append(Offence(payment, paid, None))
            if parameters["check_contract"] and paid > money(ceiling * tolerance):
                offences[OVER_CONTRACT].append(Offence(payment, paid, ceiling))
            if parameters["check_invoiced"]:
                allowed = max(
                    invoices.up_to(payment.paid_on),
                    prepayment,
                    receipts.up_to(payment.paid_on)
                    if current.payment_term == PaymentTerm.ON_DELIVERY
                    else ZERO,
                )
                if paid > money(allowed * tolerance):
                    offences[OVER_INVOICED].append(Offence(payment, paid, allowed))
        for reason, found in offences.items():
            hits.append(
                _contract_hit(reason, chain, ceiling, invoices, paid, found, parameters, names)
            )
    return hits


def _payment_row(offence: Offence) -> dict[str, Any]:
    payment = offence.payment
    return {
        "id": payment.id,
        "number": payment.number,
        "paid_on": payment.paid_on,
        "amount": payment.amount,
        "paid_after": offence.paid_after,
        "allowed": offence.allowed,
        "is_exception": payment.is_exception,
    }


def _contract_hit(
    reason: str,
    chain: facts.ContractChain,
    ceiling: Decimal,
    invoices: Dated,
    paid: Decimal,
    found: list[Offence],
    parameters: Mapping[str, Any],
    names: Mapping[int, str],
) -> Hit:
    current = chain.current
    last = found[-1]
    severity = (
        Severity.MEDIUM
        if reason != NOT_EFFECTIVE and all(item.payment.is_exception for item in found)
        else Severity.HIGH
    )
    return Hit(
        subject_type=CONTRACT,
        subject_id=str(chain.chain_id),
        subject_label=f"{current.label} {names.get(current.partner_id, '')}".strip(),
        key=reason,
        company_id=current.company_id,
        department_id=current.department_id,
        figures={
            "reason": reason,
            "contract": current.label,
            "partner": names.get(current.partner_id, ""),
            "contract_status": current.status,
            "effective_from": chain.effective_from,
            "contract_amount": current.total_amount,
            "ceiling": ceiling,
            "invoiced": invoices.running[-1] if invoices.running else ZERO,
            "paid": paid,
            "excess": max(ZERO, last.paid_after - (last.allowed or ZERO))
            if last.allowed is not None
            else None,
            "tolerance_percent": parameters["tolerance_percent"],
            "payments": [_payment_row(item) for item in found],
        },
        documents=[
            contract_link(current),
            *(payment_link(item.payment) for item in found),
            partner_link(current.partner_id, names.get(current.partner_id, "")),
        ],
        people=list(dict.fromkeys([current.owner_id, *(i.payment.created_by_id for i in found)])),
        occurred_at=start_of_day(last.payment.paid_on),
        severity=severity,
    )


def _uncontracted_hits(
    without: Mapping[tuple[int, int], list[facts.PaymentFact]],
    parameters: Mapping[str, Any],
    start: datetime.date,
    tolerance: Decimal,
) -> list[Hit]:
    openings = facts.opening_payables()
    names = facts.partner_names(partner_id for _company, partner_id in without)
    hits: list[Hit] = []
    for (company_id, partner_id), payments in without.items():
        allowed = max(ZERO, openings.get((company_id, partner_id), ZERO))
        paid = ZERO
        for payment in sorted(payments, key=lambda item: (item.paid_on, item.id)):
            paid += payment.amount
            if not _reportable(payment, parameters, start) or paid <= money(allowed * tolerance):
                continue
            name = names.get(partner_id, "")
            hits.append(
                Hit(
                    subject_type=PAYMENT,
                    subject_id=str(payment.id),
                    subject_label=f"{payment.number} {name}".strip(),
                    key=NO_CONTRACT,
                    company_id=company_id,
                    figures={
                        "reason": NO_CONTRACT,
                        "partner": name,
                        "opening_payables": allowed,
                        "paid": paid,
                        "excess": paid - allowed,
                        "tolerance_percent": parameters["tolerance_percent"],
                        "payments": [_payment_row(Offence(payment, paid, allowed))],
                    },
                    documents=[payment_link(payment), partner_link(partner_id, name)],
                    people=[payment.created_by_id],
                    occurred_at=start_of_day(payment.paid_on),
                    severity=Severity.MEDIUM if payment.is_exception else Severity.HIGH,
                )
            )
    return hits


def detect(context: RuleContext) -> Iterable[Hit]:
    return _detect(context)


def check_document(context: RuleContext, document_type: str, document_id: str) -> Iterable[Hit]:
    """A payment (or its approval request) as if it were paid now: would it go beyond?"""
    document = document_of(document_type, document_id)
    if document is None or document[0] != PAYMENT:
        return []
    payment = next(
        iter(
            facts.payment_facts(
                directions=[PaymentDirection.OUT], statuses=None, payment_ids=[document[1]]
            )
        ),
        None,
    )
    if payment is None:
        return []
    return _detect(context, only_payment=payment)


def summarize(figures: Mapping[str, Any]) -> str:
    reason = figures.get("reason")
    payments = figures.get("payments") or [{}]
    values = {
        "contract": figures.get("contract", ""),
        "partner": figures.get("partner", ""),
        "count": len(payments),
        "paid": amount_text(Decimal(str(figures.get("paid") or 0))),
        "ceiling": amount_text(Decimal(str(figures.get("ceiling") or 0))),
        "invoiced": amount_text(Decimal(str(figures.get("invoiced") or 0))),
        "allowed": amount_text(Decimal(str(payments[-1].get("allowed") or 0))),
        "after": amount_text(Decimal(str(payments[-1].get("paid_after") or 0))),
        "opening": amount_text(Decimal(str(figures.get("opening_payables") or 0))),
        "effective": figures.get("effective_from") or _("never"),
        "number": payments[-1].get("number", ""),
    }
    if reason == OVER_CONTRACT:
        return (
            _(
                "%(contract)s (%(partner)s): %(paid)s yuan paid against a ceiling of "
                "%(ceiling)s yuan (%(count)s payments beyond it)"
            )
            % values
        )
    if reason == OVER_INVOICED:
        return (
            _(
                "%(contract)s (%(partner)s): %(count)s payments ahead of the invoices; after "
                "%(number)s %(after)s yuan were paid while %(allowed)s yuan could be"
            )
            % values
        )
    if reason == NOT_EFFECTIVE:
        return (
            _(
                "%(contract)s (%(partner)s): %(count)s payments made while the contract was not "
                "effective (effective from: %(effective)s)"
            )
            % values
        )
    return (
        _(
            "%(number)s to %(partner)s without a contract: %(after)s yuan paid without contracts "
            "against %(opening)s yuan of opening payables"
        )
        % values
    )


RULE = register(
    Rule(
        code="payment_over_contract",
        number=4,
        title=gettext_lazy("Payments beyond the contract or the invoices, or without a contract"),
        explanation=gettext_lazy(
            "Replays every contract's payments to the supplier in date order, reversals netted, "
            "and reports the payments of the last %(lookback_days)s days after which more was "
            "paid than the contract's ceiling (its lines plus their quantity tolerance; "
            "checked: %(check_contract)s), or than the invoices dated up to that day, the "
            "prepayment share or the goods received under payment-on-delivery terms allowed "
            "(checked: %(check_invoiced)s), each by more than %(tolerance_percent)s; payments "
            "made before the contract took effect (checked: %(check_not_effective)s); and "
            "payments without a contract beyond the supplier's opening payables (checked: "
            "%(check_without_contract)s). Payments approved as exceptions are included: "
            "%(include_exceptions)s."
        ),
        area=Area.MONEY,
        severity=Severity.HIGH,
        parameters=(
            Parameter(
                "tolerance_percent",
                gettext_lazy("Tolerance (%)"),
                ParameterKind.DECIMAL,
                0,
                minimum=0,
                maximum=100,
                unit="%",
            ),
            Parameter(
                "check_contract",
                gettext_lazy("Payments beyond the contract"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "check_invoiced",
                gettext_lazy("Payments ahead of the invoices"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "check_not_effective",
                gettext_lazy("Payments before the contract took effect"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "check_without_contract",
                gettext_lazy("Payments without a contract beyond the opening payables"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "include_exceptions",
                gettext_lazy("Include payments approved as exceptions"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "lookback_days",
                gettext_lazy("Look back (days)"),
                ParameterKind.INTEGER,
                365,
                minimum=1,
                maximum=3650,
            ),
        ),
        detect=detect,
        summarize=summarize,
        reads=(
            "trading.contract",
            "trading.contractline",
            "trading.invoice",
            "trading.openingbalance",
            "trading.partner",
            "trading.payment",
            "trading.stockdocument",
        ),
        as_of="day",
        check_document=check_document,
    )
)
