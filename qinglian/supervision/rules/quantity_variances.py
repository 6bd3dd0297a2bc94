"""Rule 10 — stocktake variances and weighing differences beyond tolerance.

- A stocktake (or a third-party warehouse's statement) whose counted quantity of a commodity
  differs from the book by more than the tolerance, in % of the book (goods found where the
  book is empty always exceed it) — submitted, posted or reversed, explained or not: a variance
  beyond tolerance is what the inspectors look at even when it was approved.
- A posted goods receipt or issue whose weighbridge reading differs from the document quantity
  by more than the tolerance, in % of the document quantity — even with a stated reason (a
  reversed one was corrected).

The tolerance is each commodity's own (its weighing and stocktake tolerance) unless the
inspector sets one for all; a minimum difference in quantity keeps rounding out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts
from qinglian.trading.enums import ApprovedPostingStatus, PostingStatus

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ._trading import (
    HUNDRED,
    STOCK_DOCUMENT,
    STOCKTAKE,
    days_before,
    start_of_day,
    stock_document_link,
    stocktake_link,
)

STOCKTAKE_VARIANCE = "stocktake"
WEIGHING = "weighing"
STOCKTAKE_STATUSES = (
    ApprovedPostingStatus.PENDING,
    ApprovedPostingStatus.POSTED,
    ApprovedPostingStatus.REVERSED,
)
RATIO = Decimal("0.01")


def difference_percent(reference: Decimal, other: Decimal) -> Decimal | None:
    """|other − reference| in % of the reference; None when the reference is zero and the
    other is not (any difference is beyond every tolerance). Pure."""
    if reference == 0:
        return Decimal(0) if other == 0 else None
    return abs(other - reference) * HUNDRED / abs(reference)


def beyond(
    reference: Decimal, other: Decimal, tolerance: Decimal, minimum: Decimal
) -> tuple[bool, Decimal | None]:
    percent = difference_percent(reference, other)
    if abs(other - reference) <= minimum:
        return False, percent
    return (percent is None or percent > tolerance), percent


def _tolerance(parameters: Mapping[str, Any], own: Decimal) -> Decimal:
    value: Decimal = (
        own if parameters["use_commodity_tolerance"] else parameters["tolerance_percent"]
    )
    return value


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    start = days_before(context.now, parameters["lookback_days"])
    minimum = parameters["min_quantity"]
    stocktakes: dict[int, list[tuple[facts.StocktakeLineFact, Decimal, Decimal | None]]] = (
        defaultdict(list)
    )
    if parameters["check_stocktakes"]:
        for line in facts.stocktake_line_facts(statuses=STOCKTAKE_STATUSES, since=start):
            tolerance = _tolerance(parameters, line.tolerance_percent)
            over, percent = beyond(line.book_quantity, line.counted_quantity, tolerance, minimum)
            if over:
                stocktakes[line.stocktake_id].append((line, tolerance, percent))
    weighings: dict[int, list[tuple[facts.StockLineFact, Decimal, Decimal | None]]] = defaultdict(
        list
    )
    if parameters["check_weighing"]:
        for stock_line in facts.stock_line_facts(
            statuses=(PostingStatus.POSTED,), originals_only=True, weighed_only=True, since=start
        ):
            assert stock_line.weighed_quantity is not None
            tolerance = _tolerance(parameters, stock_line.tolerance_percent)
            over, percent = beyond(
                stock_line.quantity, stock_line.weighed_quantity, tolerance, minimum
            )
            if over:
                weighings[stock_line.document_id].append((stock_line, tolerance, percent))
    if not stocktakes and not weighings:
        return
    commodities = facts.commodity_facts()

    def commodity(commodity_id: int) -> str:
        found = commodities.get(commodity_id)
        return found.label if found else ""

    for stocktake_id, lines in sorted(stocktakes.items()):
        first = lines[0][0]
        yield Hit(
            subject_type=STOCKTAKE,
            subject_id=str(stocktake_id),
            subject_label=first.number,
            key=STOCKTAKE_VARIANCE,
            company_id=first.company_id,
            figures={
                "check": STOCKTAKE_VARIANCE,
                "number": first.number,
                "kind": first.kind,
                "status": first.status,
                "counted_on": first.counted_on,
                "lines": [
                    {
                        "commodity": commodity(line.commodity_id),
                        "book_quantity": line.book_quantity,
                        "counted_quantity": line.counted_quantity,
                        "variance": line.variance,
                        "variance_percent": None if percent is None else percent.quantize(RATIO),
                        "tolerance_percent": tolerance,
                        "value": line.cost,
                        "reason": line.reason,
                    }
                    for line, tolerance, percent in lines
                ],
            },
            documents=[stocktake_link(stocktake_id, first.number)],
            people=[first.counter_id],
            occurred_at=start_of_day(first.counted_on),
            severity=Severity.MEDIUM,
        )
    for document_id, weighed in sorted(weighings.items()):
        head = weighed[0][0]
        yield Hit(
            subject_type=STOCK_DOCUMENT,
            subject_id=str(document_id),
            subject_label=head.document_number,
            key=WEIGHING,
            company_id=head.company_id,
            figures={
                "check": WEIGHING,
                "number": head.document_number,
                "kind": head.kind,
                "posting_date": head.posting_date,
                "lines": [
                    {
                        "commodity": commodity(line.commodity_id),
                        "quantity": line.quantity,
                        "weighed_quantity": line.weighed_quantity,
                        "difference_percent": None if percent is None else percent.quantize(RATIO),
                        "tolerance_percent": tolerance,
                        "reason": line.difference_reason,
                    }
                    for line, tolerance, percent in weighed
                ],
            },
            documents=[stock_document_link(document_id, head.document_number)],
            occurred_at=start_of_day(head.posting_date),
            severity=Severity.MEDIUM,
        )


def summarize(figures: Mapping[str, Any]) -> str:
    lines = figures.get("lines") or [{}]
    first = lines[0]
    if figures.get("check") == STOCKTAKE_VARIANCE:
        return _(
            "%(number)s: %(commodity)s counted %(counted)s against %(book)s on the books "
            "(%(percent)s %% off, tolerance %(tolerance)s %%; %(count)s lines beyond)"
        ) % {
            "number": figures.get("number", ""),
            "commodity": first.get("commodity", ""),
            "counted": first.get("counted_quantity", ""),
            "book": first.get("book_quantity", ""),
            "percent": first.get("variance_percent") or "∞",
            "tolerance": first.get("tolerance_percent", ""),
            "count": len(lines),
        }
    return _(
        "%(number)s: %(commodity)s weighed %(weighed)s against %(quantity)s on the document "
        "(%(percent)s %% off, tolerance %(tolerance)s %%; %(count)s lines beyond)"
    ) % {
        "number": figures.get("number", ""),
        "commodity": first.get("commodity", ""),
        "weighed": first.get("weighed_quantity", ""),
        "quantity": first.get("quantity", ""),
        "percent": first.get("difference_percent") or "∞",
        "tolerance": first.get("tolerance_percent", ""),
        "count": len(lines),
    }


RULE = register(
    Rule(
        code="quantity_variances",
        number=10,
        title=gettext_lazy("Stocktake variances and weighing differences beyond tolerance"),
        explanation=gettext_lazy(
            "Over the last %(lookback_days)s days: stocktakes and warehouse statements "
            "(submitted, posted or reversed) whose counted quantity differs from the book by "
            "more than the tolerance in %% of the book (checked: %(check_stocktakes)s), and "
            "posted goods receipts and issues whose weighed quantity differs from the document "
            "quantity by more than the tolerance in %% of the document (checked: "
            "%(check_weighing)s), explained or not. The tolerance is each commodity's own: "
            "%(use_commodity_tolerance)s; otherwise %(tolerance_percent)s. Differences of at "
            "most %(min_quantity)s are left out."
        ),
        area=Area.MATTERS,
        severity=Severity.MEDIUM,
        parameters=(
            Parameter(
                "check_stocktakes",
                gettext_lazy("Stocktake variances"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "check_weighing",
                gettext_lazy("Weighing differences"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "use_commodity_tolerance",
                gettext_lazy("Use each commodity's tolerance"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "tolerance_percent",
                gettext_lazy("Tolerance for all commodities (%)"),
                ParameterKind.DECIMAL,
                Decimal("0.3"),
                minimum=0,
                maximum=100,
                unit="%",
            ),
            Parameter(
                "min_quantity",
                gettext_lazy("Smallest difference in quantity"),
                ParameterKind.DECIMAL,
                0,
                minimum=0,
                maximum=10**9,
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
            "trading.stockdocument",
            "trading.stockdocumentline",
            "trading.stocktake",
            "trading.stocktakeline",
        ),
        as_of="day",
    )
)
