"""Rule 6 — a supplier used without admission, or with expired qualifications, at the time.

A supplier is used when a purchase contract with it is signed, goods are received from it and
money is paid to it. Its admission on a day is read from its admission history: the status
history imported with it (the old systems' status from a day on; before the first, pending),
then the audit trail of its admission here (applied, admitted, refused, suspended,
blacklisted, reinstated) — the status after the last move on or before that day, or before the
first move the status it had then. A supplier with no recorded moves counts as admitted from
its admission date — or always, when it is admitted without one — and as in its present status
otherwise.

A required qualification (business licence, operating permit, quality certificate) has expired
on a day when the supplier held one of that kind that expired before it and none of that kind
valid on it (a renewal recorded as a new certificate covers the day).

Findings are per contract (its signing, and the receipts and payments booked against it) and
reason; documents without a contract are findings of their own.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts
from qinglian.trading.enums import AdmissionStatus, ContractKind, StockDocumentKind

from ..enums import Area, ParameterKind, Severity
from ..registry import DocumentLink, Hit, Parameter, Rule, RuleContext, register
from ._trading import (
    CONTRACT,
    PAYMENT,
    STOCK_DOCUMENT,
    contract_link,
    days_before,
    local_today,
    partner_link,
    payment_link,
    start_of_day,
    stock_document_link,
)

NOT_ADMITTED = "not_admitted"
QUALIFICATION = "qualification_expired"


class AdmissionHistory:
    """A partner's admission status on any day. Pure once built.

    Its moves are the imported status history (the old systems' status from a day on; before
    the first, pending) followed by the moves the audit trail recorded here."""

    def __init__(
        self,
        partners: Mapping[int, facts.PartnerFact],
        changes: Iterable[facts.AdmissionChangeFact],
        statuses: Iterable[facts.PartnerStatusFact] = (),
    ) -> None:
        self.partners = partners
        self.moves: dict[int, list[tuple[datetime.date, str, str]]] = defaultdict(list)
        for status in statuses:
            moves = self.moves[status.partner_id]
            before = moves[-1][2] if moves else AdmissionStatus.PENDING
            moves.append((status.valid_from, before, status.status))
        for change in changes:
            day = timezone.localdate(change.at)
            self.moves[change.partner_id].append((day, change.before, change.after))
        for moves in self.moves.values():
            moves.sort(key=lambda move: move[0])  # stable: imported first on a shared day

    def status_on(self, partner_id: int, day: datetime.date) -> str:
        moves = self.moves.get(partner_id)
        if moves:
            status = moves[0][1]
            for moved_on, _before, after in moves:
                if moved_on > day:
                    break
                status = after
            return status
        partner = self.partners.get(partner_id)
        if partner is None:
            return AdmissionStatus.NOT_ADMITTED
        if partner.admitted_on is not None:
            if day >= partner.admitted_on:
                return AdmissionStatus.ADMITTED
            return AdmissionStatus.NOT_ADMITTED
        return partner.admission_status

    def admitted_throughout(
        self, partner_id: int, start: datetime.date, end: datetime.date
    ) -> bool:
        """Admitted on every day from `start` to `end`."""
        if self.status_on(partner_id, start) != AdmissionStatus.ADMITTED:
            return False
        moves = self.moves.get(partner_id)
        if moves:
            return all(
                after == AdmissionStatus.ADMITTED
                for moved_on, _before, after in moves
                if start < moved_on <= end
            )
        # Without moves the status changes once at most (at the admission date).
        return self.status_on(partner_id, end) == AdmissionStatus.ADMITTED


def expired_kinds(
    qualifications: Iterable[facts.QualificationFact], day: datetime.date
) -> list[tuple[str, str, datetime.date]]:
    """(kind, name, expired on) of each required kind the supplier no longer held valid on
    `day`. Pure."""
    by_kind: dict[str, list[facts.QualificationFact]] = defaultdict(list)
    for qualification in qualifications:
        by_kind[qualification.kind].append(qualification)
    expired = []
    for kind, items in sorted(by_kind.items()):
        covered = any(
            (item.issued_on is None or item.issued_on <= day)
            and (item.expires_on is None or item.expires_on >= day)
            for item in items
        )
        lapsed = [item for item in items if item.expires_on is not None and item.expires_on < day]
        if not covered and lapsed:
            last = max(lapsed, key=lambda item: (item.expires_on or day, item.id))
            assert last.expires_on is not None
            expired.append((kind, last.name, last.expires_on))
    return expired


@dataclass(frozen=True)
class Use:
    link: DocumentLink
    day: datetime.date
    what: str  # "contract", "receipt", "payment"
    created_by_id: int


def _subject(
    document_type: str, document_id: int, chain: facts.ContractFact | None
) -> tuple[str, int]:
    return (CONTRACT, chain.chain_id) if chain is not None else (document_type, document_id)


def at_risk(
    partners: Mapping[int, facts.PartnerFact],
    history: AdmissionHistory,
    qualifications: Mapping[int, list[facts.QualificationFact]],
    start: datetime.date,
    today: datetime.date,
) -> set[int]:
    """The partners that were not admitted, or held an expired qualification, on some day
    since `start`: only their documents need a look. Pure."""
    risky = {
        partner_id
        for partner_id, items in qualifications.items()
        if any(item.expires_on is not None and item.expires_on < today for item in items)
    }
    for partner_id in set(partners) | set(history.moves):
        if not history.admitted_throughout(partner_id, start, today):
            risky.add(partner_id)
    return risky


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    start = days_before(context.now, parameters["lookback_days"])
    partners = {partner.id: partner for partner in facts.partner_facts()}
    history = AdmissionHistory(
        partners, facts.admission_change_facts(), facts.partner_status_facts()
    )
    qualifications: dict[int, list[facts.QualificationFact]] = defaultdict(list)
    if parameters["check_qualifications"]:
        for qualification in facts.qualification_facts(kinds=facts.REQUIRED_QUALIFICATION_KINDS):
            qualifications[qualification.partner_id].append(qualification)
    risky = at_risk(partners, history, qualifications, start, local_today(context.now))
    if not risky:
        return
    contracts = {
        contract.chain_id: contract
        for contract in facts.contract_facts(
            kinds=[ContractKind.PURCHASE], first_revisions_only=True, partner_ids=risky
        )
    }
    uses: dict[int, list[tuple[tuple[str, int], Use]]] = defaultdict(list)  # by partner
    if parameters["check_contracts"]:
        for contract in contracts.values():
            if contract.status in facts.EVER_EFFECTIVE_STATUSES and contract.committed_on >= start:
                uses[contract.partner_id].append(
                    (
                        (CONTRACT, contract.chain_id),
                        Use(
                            contract_link(contract),
                            contract.committed_on,
                            "contract",
                            contract.owner_id,
                        ),
                    )
                )
    if parameters["check_receipts"]:
        for document in facts.stock_document_facts(
            kinds=[StockDocumentKind.RECEIPT], originals_only=True, since=start, partner_ids=risky
        ):
            chain = contracts.get(document.chain_id) if document.chain_id else None
            uses[document.partner_id].append(
                (
                    _subject(STOCK_DOCUMENT, document.id, chain),
                    Use(
                        stock_document_link(document.id, document.number),
                        document.posting_date,
                        "receipt",
                        document.created_by_id,
                    ),
                )
            )
    if parameters["check_payments"]:
        for payment in facts.payment_facts(originals_only=True, since=start, partner_ids=risky):
            chain = contracts.get(payment.chain_id) if payment.chain_id else None
            uses[payment.partner_id].append(
                (
                    _subject(PAYMENT, payment.id, chain),
                    Use(payment_link(payment), payment.paid_on, "payment", payment.created_by_id),
                )
            )
    found: dict[tuple[str, int, str], list[tuple[Use, dict[str, Any]]]] = defaultdict(list)
    partner_of: dict[tuple[str, int, str], int] = {}
    for partner_id, items in uses.items():
        for subject, use in items:
            status = history.status_on(partner_id, use.day)
            if status != AdmissionStatus.ADMITTED:
                key = (*subject, NOT_ADMITTED)
                found[key].append((use, {"status": status}))
                partner_of[key] = partner_id
                continue
            expired = expired_kinds(qualifications.get(partner_id, ()), use.day)
            if expired:
                key = (*subject, QUALIFICATION)
                found[key].append(
                    (
                        use,
                        {
                            "expired": [
                                {"kind": kind, "name": name, "expired_on": on}
                                for kind, name, on in expired
                            ]
                        },
                    )
                )
                partner_of[key] = partner_id
    company_of = _companies(found, contracts)
    for key in sorted(found):
        subject_type, subject_id, reason = key
        partner = partners.get(partner_of[key])
        entries = sorted(found[key], key=lambda item: (item[0].day, item[0].link.type))
        chain = contracts.get(subject_id) if subject_type == CONTRACT else None
        name = partner.name if partner else ""
        yield Hit(
            subject_type=subject_type,
            subject_id=str(subject_id),
            subject_label=f"{chain.label if chain else entries[0][0].link.label} {name}".strip(),
            key=reason,
            company_id=company_of[key],
            department_id=chain.department_id if chain else None,
            figures={
                "reason": reason,
                "partner": name,
                "partner_code": partner.code if partner else "",
                "admission_now": partner.admission_status if partner else "",
                "admitted_on": partner.admitted_on if partner else None,
                "uses": [
                    {
                        "what": use.what,
                        "number": use.link.label,
                        "on": use.day,
                        **details,
                    }
                    for use, details in entries
                ],
            },
            documents=[
                *([contract_link(chain)] if chain else []),
                *(use.link for use, _details in entries),
                partner_link(partner_of[key], name),
            ],
            people=list(
                dict.fromkeys(
                    [*([chain.owner_id] if chain else []), *(u.created_by_id for u, _d in entries)]
                )
            ),
            occurred_at=start_of_day(entries[-1][0].day),
            severity=Severity.HIGH if reason == NOT_ADMITTED else Severity.MEDIUM,
        )


def _companies(
    found: Mapping[tuple[str, int, str], Any], contracts: Mapping[int, facts.ContractFact]
) -> dict[tuple[str, int, str], int]:
    """The company each finding belongs to: its contract's, or its document's."""
    company_of: dict[tuple[str, int, str], int] = {}
    receipts = [key[1] for key in found if key[0] == STOCK_DOCUMENT]
    payments = [key[1] for key in found if key[0] == PAYMENT]
    documents = {d.id: d.company_id for d in facts.stock_document_facts(document_ids=receipts)}
    paid = {p.id: p.company_id for p in facts.payment_facts(payment_ids=payments, statuses=None)}
    for key in found:
        subject_type, subject_id, _reason = key
        if subject_type == CONTRACT:
            company_of[key] = contracts[subject_id].company_id
        elif subject_type == STOCK_DOCUMENT:
            company_of[key] = documents[subject_id]
        else:
            company_of[key] = paid[subject_id]
    return company_of


def summarize(figures: Mapping[str, Any]) -> str:
    uses = figures.get("uses") or []
    numbers = "、".join(str(use.get("number", "")) for use in uses[:5])
    values = {
        "partner": figures.get("partner", ""),
        "count": len(uses),
        "numbers": numbers + ("…" if len(uses) > 5 else ""),
    }
    if figures.get("reason") == NOT_ADMITTED:
        statuses = sorted({str(use.get("status", "")) for use in uses})
        labels = "、".join(
            str(AdmissionStatus(status).label) if status in AdmissionStatus.values else status
            for status in statuses
        )
        return _("%(partner)s was used %(count)s times while %(status)s: %(numbers)s") % {
            **values,
            "status": labels,
        }
    return (
        _("%(partner)s was used %(count)s times with an expired qualification: %(numbers)s")
        % values
    )


RULE = register(
    Rule(
        code="supplier_not_admitted",
        number=6,
        title=gettext_lazy("Supplier used without admission or with expired qualifications"),
        explanation=gettext_lazy(
            "Over the last %(lookback_days)s days, checks each purchase contract at its "
            "signing (%(check_contracts)s), each goods receipt (%(check_receipts)s) and each "
            "payment to a supplier (%(check_payments)s) against the supplier's admission on "
            "that day, read from its admission history (the status history imported with it, "
            "then the audit trail of its admission), and — when "
            "qualifications are checked (%(check_qualifications)s) — against its business "
            "licence, operating permit and quality certificate valid on that day."
        ),
        area=Area.MATTERS,
        severity=Severity.HIGH,
        parameters=(
            Parameter(
                "check_contracts",
                gettext_lazy("Purchase contracts"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "check_receipts", gettext_lazy("Goods receipts"), ParameterKind.BOOLEAN, True
            ),
            Parameter(
                "check_payments",
                gettext_lazy("Payments to suppliers"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "check_qualifications",
                gettext_lazy("Expired qualifications"),
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
            "trading.partner",
            "trading.partnerstatuschange",
            "trading.payment",
            "trading.qualification",
            "trading.stockdocument",
        ),
        as_of="day",
    )
)
