"""Rule 13 — contracts executed without being effective, or beyond their quantity.

- Not effective: goods received or issued against a contract (and, optionally, money paid
  under it) on a day it was not in force: before it first took effect, when it never did (still
  a draft, under approval, cancelled), or after it was terminated. Rule 4 reports payments
  before a contract took effect one by one; here the contract is the finding, with every
  document booked against it out of force.
- Over-executed: a contract line received or issued (reversals netted, over all revisions of
  the contract) beyond its quantity plus its quantity tolerance — as the revision in force has
  them — plus the inspectors' extra margin.
"""

from __future__ import annotations

import datetime
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts
from qinglian.trading.enums import ContractStatus, PaymentDirection

from ..enums import Area, ParameterKind, Severity
from ..registry import DocumentLink, Hit, Parameter, Rule, RuleContext, register
from ._trading import (
    CONTRACT,
    HUNDRED,
    contract_link,
    days_before,
    partner_link,
    payment_link,
    start_of_day,
    stock_document_link,
)

NOT_EFFECTIVE = "not_effective"
OVER_EXECUTED = "over_executed"
ZERO = Decimal(0)


def out_of_force(chain: facts.ContractChain, day: datetime.date) -> str:
    """Why the contract was not in force on `day` ("" when it was). Pure."""
    if chain.effective_from is None:
        return "never_effective"
    if day < chain.effective_from:
        return "before_effective"
    if chain.terminated_on is not None and day > chain.terminated_on:
        return "after_termination"
    return ""


Booked = tuple[DocumentLink, datetime.date, str, Decimal, int]  # link, day, what, figure, by


def _candidates(
    parameters: Mapping[str, Any], start: datetime.date, terminated: list[int]
) -> dict[int, list[Booked]]:
    """Chain id → documents booked before the revision they name took effect, against one
    never effective, or on a terminated contract: a superset of those out of force."""
    candidates: dict[int, list[Booked]] = defaultdict(list)
    documents = itertools.chain(
        facts.stock_document_facts(
            with_contract=True, originals_only=True, since=start, before_contract_effective=True
        ),
        facts.stock_document_facts(originals_only=True, since=start, chain_ids=terminated),
    )
    seen: set[tuple[str, int]] = set()
    for document in documents:
        if document.chain_id is None or ("stock", document.id) in seen:
            continue
        seen.add(("stock", document.id))
        candidates[document.chain_id].append(
            (
                stock_document_link(document.id, document.number),
                document.posting_date,
                document.kind,
                document.total_quantity,
                document.created_by_id,
            )
        )
    if parameters["include_payments"]:
        directions = [PaymentDirection.OUT, PaymentDirection.IN]
        payments = itertools.chain(
            facts.payment_facts(
                directions=directions,
                with_contract=True,
                originals_only=True,
                since=start,
                before_contract_effective=True,
            ),
            facts.payment_facts(
                directions=directions, originals_only=True, since=start, chain_ids=terminated
            ),
        )
        for payment in payments:
            if payment.chain_id is None or ("payment", payment.id) in seen:
                continue
            seen.add(("payment", payment.id))
            candidates[payment.chain_id].append(
                (
                    payment_link(payment),
                    payment.paid_on,
                    "payment",
                    payment.amount,
                    payment.created_by_id,
                )
            )
    return candidates


def _over_lines(parameters: Mapping[str, Any]) -> dict[int, list[dict[str, Any]]]:
    """Chain id → its lines executed beyond their allowance (as the revision in force has
    them)."""
    executed = facts.executed_quantities()
    if not executed:
        return {}
    extra = parameters["extra_tolerance_percent"]
    over: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in facts.contract_line_facts(contract_statuses=facts.EXECUTABLE_STATUSES):
        done = executed.get((line.chain_id, line.line_number))
        if done is None:
            continue
        allowance = line.quantity * (1 + (line.quantity_tolerance_percent + extra) / HUNDRED)
        if done > allowance:
            over[line.chain_id].append(
                {
                    "line": line.line_number,
                    "commodity_id": line.commodity_id,
                    "quantity": line.quantity,
                    "tolerance_percent": line.quantity_tolerance_percent,
                    "allowance": allowance.quantize(Decimal("0.001")),
                    "executed": done,
                    "excess": (done - allowance).quantize(Decimal("0.001")),
                }
            )
    return over


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    start = days_before(context.now, parameters["lookback_days"])
    candidates: dict[int, list[Booked]] = {}
    if parameters["check_not_effective"]:
        terminated = sorted(
            {
                contract.chain_id
                for contract in facts.contract_facts(statuses=[ContractStatus.TERMINATED])
            }
        )
        candidates = _candidates(parameters, start, terminated)
    over = _over_lines(parameters) if parameters["check_over_execution"] else {}
    if not candidates and not over:
        return
    chains = facts.contract_chains(facts.contract_facts(chain_ids=set(candidates) | set(over)))
    names = facts.partner_names(chain.current.partner_id for chain in chains.values())
    hits = _not_effective(chains, candidates, names)
    if over:
        hits.extend(_over_executed(chains, over, parameters, names))
    yield from sorted(hits, key=lambda hit: (int(hit.subject_id), hit.key))


def _not_effective(
    chains: Mapping[int, facts.ContractChain],
    candidates: Mapping[int, list[Booked]],
    names: Mapping[int, str],
) -> list[Hit]:
    found: dict[int, list[tuple[DocumentLink, datetime.date, str, str, Decimal, int]]] = (
        defaultdict(list)
    )
    for chain_id, booked in candidates.items():
        chain = chains.get(chain_id)
        if chain is None:
            continue
        for link, day, what, figure, creator in booked:
            why = out_of_force(chain, day)
            if why:
                found[chain_id].append((link, day, what, why, figure, creator))
    hits = []
    for chain_id, items in found.items():
        chain = chains[chain_id]
        current = chain.current
        items.sort(key=lambda item: (item[1], item[0].type, int(item[0].id)))
        name = names.get(current.partner_id, "")
        hits.append(
            Hit(
                subject_type=CONTRACT,
                subject_id=str(chain_id),
                subject_label=f"{current.label} {name}".strip(),
                key=NOT_EFFECTIVE,
                company_id=current.company_id,
                department_id=current.department_id,
                figures={
                    "check": NOT_EFFECTIVE,
                    "contract": current.label,
                    "partner": name,
                    "status": current.status,
                    "effective_from": chain.effective_from,
                    "terminated_on": chain.terminated_on,
                    "documents": [
                        {
                            "what": what,
                            "number": link.label,
                            "on": day,
                            "why": why,
                            "quantity_or_amount": figure,
                        }
                        for link, day, what, why, figure, _creator in items
                    ],
                },
                documents=[
                    contract_link(current),
                    *(item[0] for item in items),
                    partner_link(current.partner_id, name),
                ],
                people=list(dict.fromkeys([current.owner_id, *(item[5] for item in items)])),
                occurred_at=start_of_day(items[-1][1]),
                severity=Severity.HIGH,
            )
        )
    return hits


def _over_executed(
    chains: Mapping[int, facts.ContractChain],
    over: Mapping[int, list[dict[str, Any]]],
    parameters: Mapping[str, Any],
    names: Mapping[int, str],
) -> list[Hit]:
    commodities = facts.commodity_facts()
    documents: dict[int, list[facts.StockDocumentFact]] = defaultdict(list)
    for document in facts.stock_document_facts(chain_ids=list(over)):
        if document.chain_id is not None:
            documents[document.chain_id].append(document)
    hits = []
    for chain_id, lines in sorted(over.items()):
        if chain_id not in chains:
            continue
        current = chains[chain_id].current
        for row in lines:
            commodity = commodities.get(row["commodity_id"])
            row["commodity"] = commodity.label if commodity else ""
        booked = sorted(documents.get(chain_id, []), key=lambda item: (item.posting_date, item.id))
        name = names.get(current.partner_id, "")
        hits.append(
            Hit(
                subject_type=CONTRACT,
                subject_id=str(chain_id),
                subject_label=f"{current.label} {name}".strip(),
                key=OVER_EXECUTED,
                company_id=current.company_id,
                department_id=current.department_id,
                figures={
                    "check": OVER_EXECUTED,
                    "contract": current.label,
                    "partner": name,
                    "kind": current.kind,
                    "extra_tolerance_percent": parameters["extra_tolerance_percent"],
                    "lines": lines,
                },
                documents=[
                    contract_link(current),
                    *(stock_document_link(item.id, item.number) for item in booked),
                    partner_link(current.partner_id, name),
                ],
                people=list(
                    dict.fromkeys([current.owner_id, *(item.created_by_id for item in booked)])
                ),
                occurred_at=start_of_day(booked[-1].posting_date) if booked else None,
                severity=Severity.MEDIUM,
            )
        )
    return hits


WHY = {
    "never_effective": gettext_lazy("never effective"),
    "before_effective": gettext_lazy("before it took effect"),
    "after_termination": gettext_lazy("after it was terminated"),
}


def summarize(figures: Mapping[str, Any]) -> str:
    if figures.get("check") == NOT_EFFECTIVE:
        documents = figures.get("documents") or [{}]
        reasons = "、".join(
            str(WHY.get(str(why), why))
            for why in dict.fromkeys(str(item.get("why", "")) for item in documents)
        )
        return _(
            "%(contract)s (%(partner)s): %(count)s documents booked while it was not in force "
            "(%(why)s)"
        ) % {
            "contract": figures.get("contract", ""),
            "partner": figures.get("partner", ""),
            "count": len(documents),
            "why": reasons,
        }
    lines = figures.get("lines") or [{}]
    first = lines[0]
    return _(
        "%(contract)s (%(partner)s): %(commodity)s executed %(executed)s against %(allowance)s "
        "allowed (%(count)s lines beyond)"
    ) % {
        "contract": figures.get("contract", ""),
        "partner": figures.get("partner", ""),
        "commodity": first.get("commodity", ""),
        "executed": first.get("executed", ""),
        "allowance": first.get("allowance", ""),
        "count": len(lines),
    }


RULE = register(
    Rule(
        code="contract_execution",
        number=13,
        title=gettext_lazy("Contracts executed without being effective, or beyond their quantity"),
        explanation=gettext_lazy(
            "Reports contracts with goods receipts or issues — and payments, when they are "
            "included (%(include_payments)s) — booked in the last %(lookback_days)s days on a "
            "day the contract was not in force: before it took effect, never effective, or "
            "after its termination (checked: %(check_not_effective)s); and contract lines "
            "received or issued, reversals netted, beyond their quantity plus their quantity "
            "tolerance plus %(extra_tolerance_percent)s (checked: %(check_over_execution)s)."
        ),
        area=Area.MATTERS,
        severity=Severity.HIGH,
        parameters=(
            Parameter(
                "check_not_effective",
                gettext_lazy("Documents booked while the contract was not in force"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "include_payments",
                gettext_lazy("Count payments too (rule 4 reports them one by one)"),
                ParameterKind.BOOLEAN,
                False,
            ),
            Parameter(
                "check_over_execution",
                gettext_lazy("Lines executed beyond their quantity and tolerance"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "extra_tolerance_percent",
                gettext_lazy("Extra margin over the line's tolerance (%)"),
                ParameterKind.DECIMAL,
                0,
                minimum=0,
                maximum=100,
                unit="%",
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
            "trading.commodity",
            "trading.contract",
            "trading.contractline",
            "trading.partner",
            "trading.payment",
            "trading.stockdocument",
            "trading.stockdocumentline",
        ),
        as_of="day",
    )
)
