"""Rule 3 — amounts clustered just below an approval threshold.

A threshold is a point where a higher authority starts: every route condition that compares a
flow's amount field ("amount > 1,000,000 → the general manager approves too"), and the group's
own thresholds per flow, which the inspectors keep in the rule's parameters (imported history is
filed under flows that carry no conditions: the old systems' routes are not in the interchange
format). One person submitting several requests of one flow whose amounts lie in the band just
below one threshold, within a window of days, is the classic sign of amounts shaped to stay
under it. A run looks back over the whole history it holds (the look-back parameter) and slides
the window over it; a person's requests in every window that holds enough of them make one
finding per flow and threshold. At submission, a request in the band is flagged with how many
came before it within the window.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.approvals import facts

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ..selectors import people_labels
from ._approvals import (
    GROUP,
    FlowAmountsParameter,
    Threshold,
    amount_text,
    flow_thresholds,
    lookback_parameter,
    merged_thresholds,
    request_id_of,
    request_link,
    since,
)

HUNDRED = Decimal(100)

Key = tuple[int, str, Decimal]  # requester, flow code, threshold
Member = tuple[facts.RequestFact, Threshold]


class Thresholds:
    """The thresholds that apply to a request: its flow version's route conditions and the
    group's thresholds for its flow (one per amount, lowest first)."""

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        codes = parameters["template_codes"] or None
        self.flows = flow_thresholds(template_codes=codes)
        self.group: dict[str, list[Decimal]] = defaultdict(list)
        for code, value in parameters["group_thresholds"]:
            if codes is None or code in codes:
                self.group[code].append(value)
        self.flow_codes = {
            threshold.flow for items in self.flows.values() for threshold in items
        } | set(self.group)
        self._cache: dict[tuple[int, str], list[Threshold]] = {}

    def of(self, request: facts.RequestFact) -> list[Threshold]:
        key = (request.version_id, request.template_code)
        if key not in self._cache:
            self._cache[key] = merged_thresholds(
                self.flows.get(request.version_id, ()),
                self.group.get(request.template_code, ()),
                flow_code=request.template_code,
            )
        return self._cache[key]


def _in_band(
    context: RuleContext,
    *,
    start: datetime.datetime,
    requester_id: int | None = None,
    until_id: int | None = None,
) -> dict[Key, list[Member]]:
    """Per requester, flow and threshold: the requests submitted since `start` whose amount is
    just below it, in submission order."""
    parameters = context.parameters
    thresholds = Thresholds(parameters)
    found: dict[Key, list[Member]] = defaultdict(list)
    if not thresholds.flow_codes:
        return found
    band = parameters["band_percent"]
    for request in facts.request_facts(
        since=start, template_codes=sorted(thresholds.flow_codes), with_amount=True
    ):
        if requester_id is not None and request.requester_id != requester_id:
            continue
        if until_id is not None and request.id > until_id:
            continue
        assert request.amount is not None
        for threshold in thresholds.of(request):
            if threshold.just_below(request.amount, band):
                key = (request.requester_id, request.template_code, threshold.value)
                found[key].append((request, threshold))
                break
    for members in found.values():
        members.sort(key=lambda member: (member[0].submitted_at, member[0].id))
    return found


def _day(request: facts.RequestFact) -> datetime.date:
    return timezone.localtime(request.submitted_at).date()


def in_windows(members: Sequence[Member], *, window_days: int, min_count: int) -> list[Member]:
    """The members (in submission order) that lie in some window of `window_days` days, counted
    from one member's day, holding at least `min_count` of them. Pure."""
    days = [_day(request) for request, _threshold in members]
    chosen = [False] * len(members)
    end = 0
    for start in range(len(members)):
        end = max(end, start)
        while end + 1 < len(members) and (days[end + 1] - days[start]).days <= window_days:
            end += 1
        if end - start + 1 >= min_count:
            chosen[start : end + 1] = [True] * (end - start + 1)
    return [member for member, keep in zip(members, chosen, strict=True) if keep]


def _hit(key: Key, members: list[Member], context: RuleContext, labels: Mapping[int, str]) -> Hit:
    requester_id, template_code, value = key
    latest, threshold = members[-1]
    band = context.parameters["band_percent"]
    total = sum((request.amount or Decimal(0) for request, _t in members), Decimal(0))
    return Hit(
        subject_type="org.user",
        subject_id=str(requester_id),
        subject_label=_("%(person)s · %(template)s · below %(threshold)s")
        % {
            "person": labels.get(requester_id, str(requester_id)),
            "template": latest.template_name,
            "threshold": amount_text(value),
        },
        key=f"{template_code}:{format(value.normalize(), 'f')}",
        company_id=latest.company_id,
        department_id=latest.department_id,
        figures={
            "requester_id": requester_id,
            "requester": labels.get(requester_id, ""),
            "template": latest.template_name,
            "template_code": template_code,
            **threshold.figures(),
            "band_lower": (value * (1 - band / HUNDRED)).quantize(Decimal("0.01")),
            "window_days": context.parameters["window_days"],
            "count": len(members),
            "total": total,
            "requests": [
                {
                    "id": request.id,
                    "serial": request.serial,
                    "amount": request.amount,
                    "submitted_at": request.submitted_at,
                    "status": request.status,
                }
                for request, _t in members
            ],
        },
        documents=[request_link(request) for request, _t in members],
        people=[requester_id],
        occurred_at=latest.submitted_at,
    )


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    clusters: dict[Key, list[Member]] = {}
    for key, members in _in_band(
        context, start=since(context.now, parameters["lookback_days"])
    ).items():
        chosen = in_windows(
            members, window_days=parameters["window_days"], min_count=parameters["min_count"]
        )
        if chosen:
            clusters[key] = chosen
    labels = people_labels(key[0] for key in clusters)
    for key, members in sorted(clusters.items(), key=lambda item: item[1][0][0].id):
        yield _hit(key, members, context, labels)


def check_document(context: RuleContext, document_type: str, document_id: str) -> Iterable[Hit]:
    """A request whose amount is just below a threshold: a risk however many came before it
    within the window."""
    request_id = request_id_of(document_type, document_id)
    if request_id is None:
        return []
    request = next(iter(facts.request_facts(request_ids=[request_id], with_amount=True)), None)
    if request is None:
        return []
    window = context.parameters["window_days"]
    start = since(request.submitted_at, window + 1)
    hits = []
    for key, members in _in_band(
        context, start=start, requester_id=request.requester_id, until_id=request.id
    ).items():
        if not any(member.id == request.id for member, _t in members):
            continue
        recent = [member for member in members if (_day(request) - _day(member[0])).days <= window]
        hits.append(_hit(key, recent, context, people_labels([request.requester_id])))
    return hits


def summarize(figures: Mapping[str, Any]) -> str:
    values = {
        "count": figures.get("count", 0),
        "template": figures.get("template", ""),
        "person": figures.get("requester", ""),
        "lower": amount_text(Decimal(str(figures.get("band_lower", 0)))),
        "threshold": amount_text(Decimal(str(figures.get("threshold", 0)))),
        "node": figures.get("node", ""),
        "total": amount_text(Decimal(str(figures.get("total", 0)))),
    }
    if figures.get("threshold_source") == GROUP:
        return (
            _(
                "%(count)s requests of “%(template)s” by %(person)s between %(lower)s and "
                "%(threshold)s yuan, just below the group's approval threshold set in the "
                "rule's parameters (together %(total)s)"
            )
            % values
        )
    return (
        _(
            "%(count)s requests of “%(template)s” by %(person)s between %(lower)s and "
            "%(threshold)s yuan, just below the threshold where “%(node)s” must approve "
            "(together %(total)s)"
        )
        % values
    )


RULE = register(
    Rule(
        code="threshold_clustering",
        number=3,
        title=gettext_lazy("Amounts clustered just below an approval threshold"),
        explanation=gettext_lazy(
            "Over the requests submitted in the last %(lookback_days)s days, flags a person "
            "who submitted at least %(min_count)s requests of one flow within %(window_days)s "
            "days whose amounts lie within %(band_percent)s below the same approval threshold. "
            "Thresholds: those of the flows' route conditions on their amount field, and the "
            "group's thresholds per flow in yuan (%(group_thresholds)s). Flows checked: "
            "%(template_codes)s."
        ),
        area=Area.MONEY,
        severity=Severity.MEDIUM,
        parameters=(
            Parameter(
                "band_percent",
                gettext_lazy("Band below the threshold (%)"),
                ParameterKind.DECIMAL,
                10,
                minimum=Decimal("0.1"),
                maximum=50,
                unit="%",
            ),
            Parameter(
                "min_count",
                gettext_lazy("Requests in the band (at least)"),
                ParameterKind.INTEGER,
                3,
                minimum=2,
                maximum=100,
            ),
            Parameter(
                "window_days",
                gettext_lazy("Window (days)"),
                ParameterKind.INTEGER,
                90,
                minimum=1,
                maximum=730,
            ),
            lookback_parameter(),
            FlowAmountsParameter(
                "group_thresholds",
                gettext_lazy("The group's approval thresholds per flow (flow code:yuan)"),
                ParameterKind.CODES,
                [
                    "engineering_payment:1000000",
                    "expense_claim:5000",
                    "trading_contract:1000000",
                    "trading_contract:5000000",
                ],
                help=gettext_lazy(
                    "Amounts above which the group's rules of authority send a request of a "
                    "flow to a higher level, as flow code:amount separated by commas "
                    "(expense_claim:5000, trading_contract:1000000). Used together with the "
                    "thresholds in the flows' route conditions, so that history imported from "
                    "the old systems, whose flows carry none, is checked too."
                ),
            ),
            Parameter(
                "template_codes",
                gettext_lazy("Flows (codes, empty: every flow with a threshold)"),
                ParameterKind.CODES,
                [],
            ),
        ),
        detect=detect,
        summarize=summarize,
        reads=(
            "approvals.approvalrequest",
            "approvals.approvaltemplate",
            "approvals.templateversion",
            "org.user",
        ),
        as_of="day",
        check_document=check_document,
    )
)
