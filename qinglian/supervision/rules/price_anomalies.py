"""Rule 9 — sales below cost, and prices far off the month's average for the commodity.

- Below cost: a goods issue sold at a unit price excl. VAT below the unit cost the stock ledger
  charged for it — the moving-average cost booked when it was posted, corrected by the
  revaluations a later backdated receipt caused — by more than the margin.
- Off the average: per commodity, kind (receipt or issue) and calendar month, across the group,
  the average unit price excl. VAT of the other lines (weighted by quantity: the line itself
  left out, so one outlier cannot hide in its own average); a purchase dearer, or a sale
  cheaper, than that average by more than the deviation (either way, optionally) is reported,
  once the month has enough lines to make an average mean something.

Posted documents only (reversed ones were undone; reversals are no sales). Findings are per
document and check, with the lines concerned.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts
from qinglian.trading.enums import StockDocumentKind

from ..enums import Area, ParameterKind, Severity
from ..registry import DocumentLink, Hit, Parameter, Rule, RuleContext, register
from ._approvals import amount_text
from ._trading import (
    CONTRACT,
    HUNDRED,
    STOCK_DOCUMENT,
    days_before,
    money,
    start_of_day,
    stock_document_link,
)

BELOW_COST = "below_cost"
OFF_AVERAGE = "off_average"
PRICE = Decimal("0.0001")
ZERO = Decimal(0)
MonthKey = tuple[str, int, datetime.date]  # (kind, commodity, first day of the month)


@dataclass
class Totals:
    quantity: Decimal = ZERO
    value: Decimal = ZERO  # amounts excl. VAT
    lines: int = 0


def month_totals(totals: Iterable[facts.MonthlyPriceTotal]) -> dict[MonthKey, Totals]:
    """The month sums per kind and commodity, VAT rates folded in. Pure."""
    months: dict[MonthKey, Totals] = defaultdict(Totals)
    for total in totals:
        month = months[(total.kind, total.commodity_id, total.month)]
        month.quantity += total.quantity
        month.value += total.amount / (1 + total.tax_rate)
        month.lines += total.lines
    return months


def average_without(totals: Totals, quantity: Decimal, value: Decimal) -> Decimal | None:
    """The average unit price of the month's other lines (None when they hold nothing)."""
    rest = totals.quantity - quantity
    if rest <= 0:
        return None
    return (totals.value - value) / rest


@dataclass
class Flagged:
    document_id: int
    lines: list[dict[str, Any]] = field(default_factory=list)


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    start = days_before(context.now, parameters["lookback_days"])
    kinds = parameters["kinds"] or None
    check_cost = parameters["check_below_cost"]
    check_average = parameters["deviation_percent"] > 0
    months: dict[MonthKey, Totals] = {}
    if check_average:
        months = month_totals(facts.monthly_price_totals(kinds=kinds, since=start.replace(day=1)))
    revaluations = facts.issue_revaluations() if check_cost else {}
    margin = 1 - parameters["cost_margin_percent"] / HUNDRED
    deviation = parameters["deviation_percent"]
    issue = StockDocumentKind.ISSUE
    found: dict[tuple[int, str], Flagged] = {}
    for line in facts.priced_line_facts(kinds=kinds, since=start):
        net = line.unit_price_net
        if check_cost and line.kind == issue:
            cost = line.cost - revaluations.get(line.id, ZERO)
            # Compared to the cent: the ledger books costs to the cent.
            if money(net * line.quantity) < money(cost * margin):
                unit_cost = cost / line.quantity
                found.setdefault(
                    (line.document_id, BELOW_COST), Flagged(line.document_id)
                ).lines.append(
                    {
                        "line_id": line.id,
                        "commodity_id": line.commodity_id,
                        "quantity": line.quantity,
                        "unit_price": line.unit_price,
                        "unit_price_net": net.quantize(PRICE),
                        "unit_cost": unit_cost.quantize(PRICE),
                        "cost": cost,
                        "loss": (cost - net * line.quantity).quantize(Decimal("0.01")),
                    }
                )
        if not check_average:
            continue
        totals = months.get((line.kind, line.commodity_id, line.posting_date.replace(day=1)))
        if totals is None or totals.lines < parameters["min_lines"]:
            continue
        average = average_without(totals, line.quantity, line.amount_net)
        if average is None or average <= 0:
            continue
        off = (net - average) * HUNDRED / average
        risky = -off > deviation if line.kind == issue else off > deviation
        if risky or (parameters["both_ways"] and abs(off) > deviation):
            found.setdefault(
                (line.document_id, OFF_AVERAGE), Flagged(line.document_id)
            ).lines.append(
                {
                    "line_id": line.id,
                    "commodity_id": line.commodity_id,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "unit_price_net": net.quantize(PRICE),
                    "average_net": average.quantize(PRICE),
                    "deviation_percent": off.quantize(Decimal("0.01")),
                    "month_lines": totals.lines,
                }
            )
    if not found:
        return
    documents = {
        document.id: document
        for document in facts.stock_document_facts(
            statuses=None, document_ids={item.document_id for item in found.values()}
        )
    }
    commodities = facts.commodity_facts()
    names = facts.partner_names(document.partner_id for document in documents.values())
    contracts = {
        contract.id: contract
        for contract in facts.contract_facts(
            contract_ids={
                document.contract_id
                for document in documents.values()
                if document.contract_id is not None
            }
        )
    }
    for (document_id, check), item in sorted(found.items()):
        yield _hit(check, documents[document_id], item, commodities, names, contracts, parameters)


def _hit(
    check: str,
    document: facts.StockDocumentFact,
    item: Flagged,
    commodities: Mapping[int, facts.CommodityFact],
    names: Mapping[int, str],
    contracts: Mapping[int, facts.ContractFact],
    parameters: Mapping[str, Any],
) -> Hit:
    for row in item.lines:
        commodity = commodities.get(row["commodity_id"])
        row["commodity"] = commodity.label if commodity else ""
    contract = contracts.get(document.contract_id) if document.contract_id is not None else None
    partner = names.get(document.partner_id, "")
    documents = [stock_document_link(document.id, document.number)]
    if contract is not None:
        documents.append(
            DocumentLink(CONTRACT, str(contract.id), contract.label, number=contract.number)
        )
    figures: dict[str, Any] = {
        "check": check,
        "kind": document.kind,
        "number": document.number,
        "posting_date": document.posting_date,
        "partner": partner,
        "contract": contract.label if contract else "",
        "lines": item.lines,
    }
    if check == BELOW_COST:
        figures["loss"] = sum((row["loss"] for row in item.lines), ZERO)
        figures["cost_margin_percent"] = parameters["cost_margin_percent"]
    else:
        figures["deviation_percent"] = parameters["deviation_percent"]
    return Hit(
        subject_type=STOCK_DOCUMENT,
        subject_id=str(document.id),
        subject_label=f"{document.number} {partner}".strip(),
        key=check,
        company_id=document.company_id,
        department_id=contract.department_id if contract else None,
        figures=figures,
        documents=documents,
        people=[contract.owner_id] if contract else [],
        occurred_at=start_of_day(document.posting_date),
        severity=Severity.MEDIUM,
    )


def summarize(figures: Mapping[str, Any]) -> str:
    lines = figures.get("lines") or [{}]
    first = lines[0]
    values = {
        "number": figures.get("number", ""),
        "partner": figures.get("partner", ""),
        "commodity": first.get("commodity", ""),
        "price": amount_text(Decimal(str(first.get("unit_price_net") or 0))),
        "cost": amount_text(Decimal(str(first.get("unit_cost") or 0))),
        "average": amount_text(Decimal(str(first.get("average_net") or 0))),
        "deviation": first.get("deviation_percent", ""),
        "loss": amount_text(Decimal(str(figures.get("loss") or 0))),
        "count": len(lines),
    }
    if figures.get("check") == BELOW_COST:
        return (
            _(
                "%(number)s to %(partner)s: %(commodity)s sold at %(price)s excl. VAT below its "
                "cost of %(cost)s (%(count)s lines, %(loss)s yuan below cost)"
            )
            % values
        )
    return (
        _(
            "%(number)s (%(partner)s): %(commodity)s at %(price)s excl. VAT, %(deviation)s %% "
            "off the month's average of %(average)s (%(count)s lines)"
        )
        % values
    )


RULE = register(
    Rule(
        code="price_anomalies",
        number=9,
        title=gettext_lazy("Sales below cost and prices far off the average"),
        explanation=gettext_lazy(
            "Over the posted documents of the last %(lookback_days)s days (%(kinds)s): goods "
            "issues sold at a unit price excl. VAT more than %(cost_margin_percent)s below the "
            "unit cost the stock ledger charged for them (checked: %(check_below_cost)s); and "
            "lines whose unit price excl. VAT is more than %(deviation_percent)s off the "
            "quantity-weighted average of the other lines of the same commodity, kind and "
            "calendar month across the group (0: not checked), once the month has at least "
            "%(min_lines)s lines — purchases above and sales below it, or either way: "
            "%(both_ways)s."
        ),
        area=Area.MONEY,
        severity=Severity.MEDIUM,
        parameters=(
            Parameter(
                "check_below_cost",
                gettext_lazy("Sales below cost"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "cost_margin_percent",
                gettext_lazy("Below cost by more than (%)"),
                ParameterKind.DECIMAL,
                0,
                minimum=0,
                maximum=100,
                unit="%",
            ),
            Parameter(
                "deviation_percent",
                gettext_lazy("Off the month's average by more than (%)"),
                ParameterKind.DECIMAL,
                20,
                minimum=0,
                maximum=1000,
                unit="%",
            ),
            Parameter(
                "min_lines",
                gettext_lazy("Lines a month needs for an average (at least)"),
                ParameterKind.INTEGER,
                5,
                minimum=2,
                maximum=10_000,
            ),
            Parameter(
                "both_ways",
                gettext_lazy("Report deviations either way"),
                ParameterKind.BOOLEAN,
                False,
            ),
            Parameter(
                "kinds",
                gettext_lazy("Documents (receipt, issue)"),
                ParameterKind.CODES,
                [StockDocumentKind.RECEIPT.value, StockDocumentKind.ISSUE.value],
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
            "trading.stockdocument",
            "trading.stockdocumentline",
            "trading.stockledgerentry",
        ),
        as_of="day",
    )
)
