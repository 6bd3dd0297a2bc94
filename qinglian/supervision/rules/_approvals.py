"""Helpers the approval rules share: links to requests, names of people, approval thresholds
(from the flows' route conditions and from the group's own rules) and the look-back window."""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.approvals import facts

from ..enums import ParameterKind
from ..registry import PARAMETER_CODE_PATTERN, DocumentLink, Parameter

REQUEST = "approvals.request"


def request_link(request: facts.RequestFact) -> DocumentLink:
    return DocumentLink(
        REQUEST, str(request.id), f"{request.serial} {request.title}"[:200], number=request.serial
    )


def chunked(ids: list[int], size: int = 2000) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def requests_by_id(ids: Iterable[int]) -> dict[int, facts.RequestFact]:
    found: dict[int, facts.RequestFact] = {}
    for chunk in chunked(list(dict.fromkeys(ids))):
        for request in facts.request_facts(request_ids=chunk):
            found[request.id] = request
    return found


def amount_text(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:,.2f}"


def since(now: datetime.datetime, days: int) -> datetime.datetime:
    """The start of the look-back: midnight (local time) `days` days before `now`'s day. Whole
    days, so a run's result depends on its day only and a re-run later that day may be skipped
    (`as_of="day"`)."""
    day = timezone.localdate(now) - datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def request_id_of(document_type: str, document_id: str) -> int | None:
    if document_type != REQUEST:
        return None
    try:
        return int(document_id)
    except ValueError:
        return None


# ---------------------------------------------------------------- how far back a run looks


def lookback_parameter() -> Parameter:
    """A run judges the whole history it holds: imported years included (ten years back by
    default), not only the last months. Inspectors may shorten it."""
    return Parameter(
        "lookback_days",
        gettext_lazy("Look back (days)"),
        ParameterKind.INTEGER,
        3650,
        minimum=1,
        maximum=36500,
        help=gettext_lazy(
            "How far back a run looks. The default, ten years, covers the history imported "
            "from the old systems as well."
        ),
    )


# ---------------------------------------------------------------- approval thresholds

FLOW = "flow"  # a route condition of the flow on its amount field
GROUP = "group"  # the group's threshold, as the inspectors entered it in the rule's parameters


@dataclass(frozen=True)
class Threshold:
    """An amount where a higher authority starts to approve, and where it comes from."""

    value: Decimal
    below_inclusive: bool  # the value itself stays on the lower route ("amount > value")
    source: str = GROUP
    node: str = ""  # FLOW: the node the condition brings in
    flow: str = ""  # the code of the flow it belongs to

    def crosses(self, amount: Decimal) -> bool:
        """Would `amount` take the higher route?"""
        return amount > self.value if self.below_inclusive else amount >= self.value

    def just_below(self, amount: Decimal, band_percent: Decimal) -> bool:
        """Within `band_percent` under the threshold and still on the lower route."""
        lower = self.value * (1 - band_percent / Decimal(100))
        return amount >= lower and not self.crosses(amount)

    def figures(self) -> dict[str, Any]:
        return {"threshold": self.value, "threshold_source": self.source, "node": self.node}


def flow_thresholds(*, template_codes: Collection[str] | None) -> dict[int, list[Threshold]]:
    """Per template version id, the thresholds of its route conditions."""
    return {
        version_id: [
            Threshold(item.value, item.below_inclusive, FLOW, item.node_name, item.template_code)
            for item in items
        ]
        for version_id, items in facts.amount_thresholds(template_codes=template_codes).items()
    }


def merged_thresholds(
    flow: Iterable[Threshold], group: Iterable[Decimal], *, flow_code: str = ""
) -> list[Threshold]:
    """The flow's thresholds and the group's, lowest first, one per amount: where both name
    one amount the flow's is kept (it names the node that approves above it). Pure."""
    found: dict[Decimal, Threshold] = {}
    for threshold in flow:
        found.setdefault(threshold.value, threshold)
    for value in group:
        found.setdefault(value, Threshold(value, below_inclusive=True, flow=flow_code))
    return sorted(found.values(), key=lambda threshold: threshold.value)


def threshold_origin(figures: Mapping[str, Any]) -> str:
    """Where a finding's threshold came from, in the reader's language ("" for findings
    recorded before the source was kept)."""
    source = figures.get("threshold_source")
    if source == GROUP:
        return _("the group's approval threshold set in the rule's parameters")
    if source == FLOW:
        return _("the flow's route condition where “%(node)s” must approve") % {
            "node": figures.get("node", "")
        }
    return ""


# Amounts are listed with commas, so a comma inside a number ("1,000,000") is refused rather
# than read as three amounts.
_SEPARATORS = re.compile(r"[,，;；、\s]+")
_PAIR = re.compile(r"\s*[:：=]\s*")
_GROUPED_DIGITS = re.compile(r"\d[,，]\d{3}(?!\d)")
_LARGEST_AMOUNT = Decimal(10**12)


def _tokens(raw: Any) -> list[str]:
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    tokens: list[str] = []
    for item in items:
        text = "" if item is None else str(item)
        if _GROUPED_DIGITS.search(text):
            raise ValueError(
                _("Write amounts without thousands separators (1000000, not 1,000,000).")
            )
        tokens.extend(token for token in _SEPARATORS.split(_PAIR.sub(":", text)) if token)
    return tokens


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(0)
    if not value.is_finite() or value <= 0 or value > _LARGEST_AMOUNT:
        raise ValueError(_("Not an amount in yuan: %(value)s") % {"value": text})
    return value


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _grouped(value: Decimal) -> str:
    return f"{value.normalize():,f}"


@dataclass(frozen=True)
class AmountsParameter(Parameter):
    """Amounts in yuan (approval thresholds), edited as a list like codes: "1000000, 5000000".
    Stored as plain decimal strings, lowest first; the rule reads a list of Decimals."""

    def clean(self, raw: Any) -> list[str]:
        values = sorted({_amount(token) for token in _tokens(raw)})
        return [_plain(value) for value in values]

    def value(self, stored: Any) -> list[Decimal]:
        return [Decimal(str(item)) for item in stored or []]

    def display(self, stored: Any) -> str:
        amounts = self.value(stored)
        return " / ".join(_grouped(value) for value in amounts) if amounts else str(_("(none)"))


@dataclass(frozen=True)
class FlowAmountsParameter(Parameter):
    """Amounts in yuan per approval flow, edited as a list like codes: "expense_claim:5000,
    trading_contract:1000000". Stored as "code:amount" strings; the rule reads a list of
    (flow code, Decimal)."""

    def clean(self, raw: Any) -> list[str]:
        pairs: set[tuple[str, Decimal]] = set()
        for token in _tokens(raw):
            code, separator, amount = token.partition(":")
            if not separator or not PARAMETER_CODE_PATTERN.match(code):
                raise ValueError(
                    _("Expected flow code:amount, e.g. expense_claim:5000, not %(value)s")
                    % {"value": token}
                )
            pairs.add((code, _amount(amount)))
        return [f"{code}:{_plain(value)}" for code, value in sorted(pairs)]

    def value(self, stored: Any) -> list[tuple[str, Decimal]]:
        pairs = []
        for item in stored or []:
            code, _separator, amount = str(item).partition(":")
            pairs.append((code, Decimal(amount)))
        return pairs

    def display(self, stored: Any) -> str:
        by_flow: dict[str, list[Decimal]] = {}
        for code, value in self.value(stored):
            by_flow.setdefault(code, []).append(value)
        if not by_flow:
            return str(_("(none)"))
        return "; ".join(
            f"{code}: {' / '.join(_grouped(value) for value in values)}"
            for code, values in by_flow.items()
        )
