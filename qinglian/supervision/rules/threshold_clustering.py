"""Rule 3 — amounts clustered just below an approval threshold.

The thresholds are read from the flows themselves: every route condition that compares the
flow's amount field ("amount > 1,000,000 → the general manager approves too") is a point where
a higher authority starts. One person submitting several requests of one flow whose amounts lie
in the band just below such a point, within a window, is the classic sign of amounts shaped to
stay under it. At submission, a request in the band is flagged with how many came before it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.approvals import facts

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ..selectors import people_labels
from ._approvals import amount_text, request_id_of, request_link, since

HUNDRED = Decimal(100)


def in_band(amount: Decimal, threshold: facts.AmountThreshold, band_percent: Decimal) -> bool:
    """Just below the threshold: within `band_percent` of it and still on the lower route."""
    lower = threshold.value * (1 - band_percent / HUNDRED)
    if amount < lower:
        return False
    return amount <= threshold.value if threshold.below_inclusive else amount < threshold.value


def _clusters(
    context: RuleContext, *, requester_id: int | None = None, until_id: int | None = None
) -> dict[tuple[int, str, Decimal], list[tuple[facts.RequestFact, facts.AmountThreshold]]]:
    parameters = context.parameters
    codes = parameters["template_codes"] or None
    thresholds = facts.amount_thresholds(template_codes=codes)
    clusters: dict[
        tuple[int, str, Decimal], list[tuple[facts.RequestFact, facts.AmountThreshold]]
    ] = defaultdict(list)
    if not thresholds:
        return clusters
    band = parameters["band_percent"]
    for request in facts.request_facts(
        since=since(context.now, parameters["window_days"]),
        template_codes=codes,
        with_amount=True,
    ):
        if requester_id is not None and request.requester_id != requester_id:
            continue
        if until_id is not None and request.id > until_id:
            continue
        assert request.amount is not None
        for threshold in thresholds.get(request.version_id, ()):
            if in_band(request.amount, threshold, band):
                key = (request.requester_id, request.template_code, threshold.value)
                clusters[key].append((request, threshold))
                break
    return clusters


def _hit(
    key: tuple[int, str, Decimal],
    members: list[tuple[facts.RequestFact, facts.AmountThreshold]],
    context: RuleContext,
    labels: Mapping[int, str],
) -> Hit:
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
        key=f"{template_code}:{value}",
        company_id=latest.company_id,
        department_id=latest.department_id,
        figures={
            "requester_id": requester_id,
            "requester": labels.get(requester_id, ""),
            "template": latest.template_name,
            "template_code": template_code,
            "threshold": value,
            "node": threshold.node_name,
            "band_lower": (value * (1 - band / HUNDRED)).quantize(Decimal("0.01")),
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
    clusters = {
        key: members
        for key, members in _clusters(context).items()
        if len(members) >= context.parameters["min_count"]
    }
    labels = people_labels(key[0] for key in clusters)
    for key, members in sorted(clusters.items(), key=lambda item: item[1][0][0].id):
        yield _hit(key, members, context, labels)


def check_document(context: RuleContext, document_type: str, document_id: str) -> Iterable[Hit]:
    """A request whose amount is just below a threshold: a risk however many came before."""
    request_id = request_id_of(document_type, document_id)
    if request_id is None:
        return []
    request = next(iter(facts.request_facts(request_ids=[request_id], with_amount=True)), None)
    if request is None:
        return []
    clusters = _clusters(context, requester_id=request.requester_id, until_id=request.id)
    labels = people_labels([request.requester_id])
    return [
        _hit(key, members, context, labels)
        for key, members in clusters.items()
        if any(member.id == request.id for member, _t in members)
    ]


def summarize(figures: Mapping[str, Any]) -> str:
    return _(
        "%(count)s requests of “%(template)s” by %(person)s between %(lower)s and %(threshold)s "
        "yuan, just below the threshold where “%(node)s” must approve (together %(total)s)"
    ) % {
        "count": figures.get("count", 0),
        "template": figures.get("template", ""),
        "person": figures.get("requester", ""),
        "lower": amount_text(Decimal(str(figures.get("band_lower", 0)))),
        "threshold": amount_text(Decimal(str(figures.get("threshold", 0)))),
        "node": figures.get("node", ""),
        "total": amount_text(Decimal(str(figures.get("total", 0)))),
    }


RULE = register(
    Rule(
        code="threshold_clustering",
        number=3,
        title=gettext_lazy("Amounts clustered just below an approval threshold"),
        explanation=gettext_lazy(
            "Reads the approval thresholds from the flows' route conditions on their amount "
            "field and flags a person who submitted at least %(min_count)s requests of one flow "
            "within %(window_days)s days whose amounts lie within %(band_percent)s below the "
            "same threshold. Flows checked: %(template_codes)s."
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
            Parameter(
                "template_codes",
                gettext_lazy("Flows (codes, empty: every flow with a threshold)"),
                ParameterKind.CODES,
                [],
            ),
        ),
        detect=detect,
        summarize=summarize,
        check_document=check_document,
    )
)
