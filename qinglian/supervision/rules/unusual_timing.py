"""Rule 11 — approvals at unusual hours or unusually fast for the amount.

Reads the facts the approval engine records on every decision: whether it fell outside
working hours (weekdays 08:00–19:00, the engine's definition) and how many seconds passed from
the task reaching the approver to the decision. A large amount approved at night, or approved
within seconds, suggests nobody read it (or that someone else holds the approver's phone).
Imported history carries the same facts (the loader computes them from the old systems' step
times, read in Shanghai time), and a run looks back over all of it (ten years by default).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
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
    REQUEST,
    amount_text,
    lookback_parameter,
    request_id_of,
    request_link,
    requests_by_id,
    since,
)

AFTER_HOURS = "after_hours"
FAST = "fast"


def _reasons(decision: facts.DecisionFact, parameters: Mapping[str, Any]) -> list[str]:
    amount = decision.amount
    if amount is None:
        return []
    found = []
    if decision.after_hours and amount >= parameters["after_hours_min_amount"]:
        found.append(AFTER_HOURS)
    if (
        decision.seconds is not None
        and decision.seconds <= parameters["fast_max_seconds"]
        and amount >= parameters["fast_min_amount"]
    ):
        found.append(FAST)
    return found


def _detect(context: RuleContext, request_ids: list[int] | None = None) -> Iterable[Hit]:
    parameters = context.parameters
    by_request: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for decision in facts.decision_facts(
        since=None if request_ids is not None else since(context.now, parameters["lookback_days"]),
        request_ids=request_ids,
        after_hours_or_within_seconds=parameters["fast_max_seconds"],
    ):
        if decision.actor_id is None:
            continue  # approved automatically: nobody decided at that moment
        reasons = _reasons(decision, parameters)
        if reasons:
            by_request[decision.request_id].append(
                {
                    "reasons": reasons,
                    "approver_id": decision.actor_id,
                    "step": decision.step_name,
                    "decided_at": decision.decided_at,
                    "seconds": decision.seconds,
                }
            )
    if not by_request:
        return
    requests = requests_by_id(by_request)
    labels = people_labels(item["approver_id"] for items in by_request.values() for item in items)
    for request_id, decisions in sorted(by_request.items()):
        request = requests.get(request_id)
        if request is None:
            continue
        for item in decisions:
            item["approver"] = labels.get(item["approver_id"], "")
        yield Hit(
            subject_type=REQUEST,
            subject_id=str(request.id),
            subject_label=f"{request.serial} {request.title}",
            company_id=request.company_id,
            department_id=request.department_id,
            figures={
                "serial": request.serial,
                "title": request.title,
                "template": request.template_name,
                "amount": request.amount,
                "decisions": decisions,
            },
            documents=[request_link(request)],
            people=list(dict.fromkeys(item["approver_id"] for item in decisions)),
            occurred_at=decisions[-1]["decided_at"],
        )


def detect(context: RuleContext) -> Iterable[Hit]:
    return _detect(context)


def check_document(context: RuleContext, document_type: str, document_id: str) -> Iterable[Hit]:
    """On a request's page: decisions already taken on it that were unusual."""
    request_id = request_id_of(document_type, document_id)
    return [] if request_id is None else list(_detect(context, [request_id]))


def _local_minute(value: Any) -> str:
    """A stored moment (ISO text, UTC) as the inspector reads it: local time, to the minute."""
    try:
        moment = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "")[:16].replace("T", " ")
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d %H:%M")


def summarize(figures: Mapping[str, Any]) -> str:
    parts = []
    for item in figures.get("decisions", []):
        values = {
            "approver": item.get("approver", ""),
            "step": item.get("step", ""),
            "at": _local_minute(item.get("decided_at")),
            "seconds": item.get("seconds"),
        }
        if AFTER_HOURS in item.get("reasons", []):
            parts.append(_("%(approver)s approved “%(step)s” out of hours (%(at)s)") % values)
        if FAST in item.get("reasons", []):
            parts.append(
                _("%(approver)s approved “%(step)s” %(seconds)s seconds after receiving it")
                % values
            )
    amount = figures.get("amount")
    return _("%(serial)s (%(amount)s yuan): %(parts)s") % {
        "serial": figures.get("serial", ""),
        "amount": amount_text(None if amount is None else Decimal(str(amount))),
        "parts": "; ".join(parts),
    }


RULE = register(
    Rule(
        code="unusual_approval_timing",
        number=11,
        title=gettext_lazy("Approvals at unusual hours or unusually fast for the amount"),
        explanation=gettext_lazy(
            "Looks at the approvals of the last %(lookback_days)s days. Flags a request of at "
            "least %(after_hours_min_amount)s yuan approved outside working hours (weekdays "
            "08:00–19:00, as the approval engine records it), and a request of at least "
            "%(fast_min_amount)s yuan approved within %(fast_max_seconds)s seconds of reaching "
            "the approver."
        ),
        area=Area.POWER,
        severity=Severity.MEDIUM,
        parameters=(
            lookback_parameter(),
            Parameter(
                "after_hours_min_amount",
                gettext_lazy("Out-of-hours approvals from (yuan)"),
                ParameterKind.DECIMAL,
                50000,
                minimum=0,
                maximum=10**12,
            ),
            Parameter(
                "fast_max_seconds",
                gettext_lazy("Fast: approved within (seconds)"),
                ParameterKind.INTEGER,
                60,
                minimum=1,
                maximum=86400,
            ),
            Parameter(
                "fast_min_amount",
                gettext_lazy("Fast approvals from (yuan)"),
                ParameterKind.DECIMAL,
                100000,
                minimum=0,
                maximum=10**12,
            ),
        ),
        detect=detect,
        summarize=summarize,
        reads=(
            "approvals.approvalaction",
            "approvals.approvalrequest",
            "approvals.approvalstep",
            "approvals.approvaltask",
            "approvals.approvaltemplate",
            "org.user",
        ),
        as_of="day",
        check_document=check_document,
    )
)
