"""Rule 1 — self-approval and segregation of duties (requester, approver and payee overlap).

Three facts from the approval trail, per request:
- the requester approved their own request (possible in imported history, or through a
  transfer or an added signer that landed on them);
- a person named in the form (a payee, a beneficiary; in imported history the employee an
  expense claim was paid to) other than the requester approved the request;
- the flow's self-approval rule took the requester off a step and nobody else was left, so the
  step was skipped and nobody independent checked it (optional).
At submission the check also warns when a person named in the form is on the route.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.approvals import facts
from qinglian.approvals.enums import ActionKind

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ..selectors import people_labels
from ._approvals import (
    REQUEST,
    amount_text,
    chunked,
    request_id_of,
    request_link,
    requests_by_id,
    since,
)

SELF_APPROVED = "self_approved"
NAMED_APPROVER = "named_person_approved"
NAMED_ON_ROUTE = "named_person_on_route"
STEP_SKIPPED = "step_skipped"
HIGH_REASONS = frozenset({SELF_APPROVED, NAMED_APPROVER})


def _detect(
    context: RuleContext, request_ids: list[int] | None = None, *, at_submission: bool = False
) -> Iterable[Hit]:
    parameters = context.parameters
    start = None if request_ids is not None else since(context.now, parameters["lookback_days"])
    reasons: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for decision in facts.decision_facts(
        since=start,
        kinds=(ActionKind.APPROVED, ActionKind.AUTO_APPROVED),
        request_ids=request_ids,
        by_requester_only=True,
    ):
        reasons[decision.request_id].append(
            {"kind": SELF_APPROVED, "step": decision.step_name, "user_id": decision.assignee_id}
        )
    # People named in the form (a payee: whom an expense claim reimburses) other than the
    # requester — a claim paid to its own requester is the usual case — who approved it.
    named: dict[int, list[facts.PersonFieldFact]] = defaultdict(list)
    for person in facts.person_field_facts(since=start, request_ids=request_ids):
        named[person.request_id].append(person)
    if named:
        requesters = {r.id: r.requester_id for r in requests_by_id(named).values()}
        named = {
            request_id: others
            for request_id, people in named.items()
            if (others := [p for p in people if p.user_id != requesters.get(request_id)])
        }
        decisions = (
            decision
            for chunk in chunked(list(named))
            for decision in facts.decision_facts(request_ids=chunk)
        )
        for decision in decisions:
            for person in named[decision.request_id]:
                if decision.actor_id == person.user_id:
                    reasons[decision.request_id].append(
                        {
                            "kind": NAMED_APPROVER,
                            "step": decision.step_name,
                            "user_id": person.user_id,
                            "field": person.field_label,
                        }
                    )
        if at_submission:
            for step in facts.route_step_facts(request_ids=list(named)[:2000]):
                for person in named[step.request_id]:
                    if person.user_id in step.approver_ids:
                        reasons[step.request_id].append(
                            {
                                "kind": NAMED_ON_ROUTE,
                                "step": step.step_name,
                                "user_id": person.user_id,
                                "field": person.field_label,
                            }
                        )
    if parameters["include_skipped_steps"]:
        for reroute in facts.self_reroute_facts(since=start, request_ids=request_ids):
            if reroute.step_skipped:
                reasons[reroute.request_id].append(
                    {
                        "kind": STEP_SKIPPED,
                        "step": reroute.node_key,
                        "step_index": reroute.step_index,
                        "user_id": reroute.requester_id,
                    }
                )
    if not reasons:
        return
    requests = requests_by_id(reasons)
    labels = people_labels(
        [item["user_id"] for items in reasons.values() for item in items if item["user_id"]]
        + [request.requester_id for request in requests.values()]
    )
    minimum = parameters["min_amount"]
    for request_id, found in sorted(reasons.items()):
        request = requests.get(request_id)
        if request is None:
            continue
        if minimum and (request.amount is None or request.amount < minimum):
            continue
        unique = list({tuple(sorted(item.items())): item for item in found}.values())
        for item in unique:
            item["user"] = labels.get(item["user_id"], "")
        kinds = {item["kind"] for item in unique}
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
                "requester_id": request.requester_id,
                "requester": labels.get(request.requester_id, ""),
                "reasons": unique,
            },
            documents=[request_link(request)],
            people=list(
                dict.fromkeys([request.requester_id, *(item["user_id"] for item in unique)])
            ),
            occurred_at=request.submitted_at,
            severity=Severity.HIGH if kinds & HIGH_REASONS else Severity.MEDIUM,
        )


def detect(context: RuleContext) -> Iterable[Hit]:
    return _detect(context)


def check_document(context: RuleContext, document_type: str, document_id: str) -> Iterable[Hit]:
    request_id = request_id_of(document_type, document_id)
    if request_id is None:
        return []
    return list(_detect(context, [request_id], at_submission=True))


def _reason_text(item: Mapping[str, Any]) -> str:
    values = {key: item.get(key, "") for key in ("step", "user", "field")}
    kind = item.get("kind")
    if kind == SELF_APPROVED:
        return _("the requester approved their own request at “%(step)s”") % values
    if kind == NAMED_APPROVER:
        return _("%(user)s, named as “%(field)s” in the form, approved it at “%(step)s”") % values
    if kind == NAMED_ON_ROUTE:
        return (
            _("%(user)s, named as “%(field)s” in the form, is an approver at “%(step)s”") % values
        )
    return _("the step “%(step)s” was skipped: the requester was its only approver") % values


def summarize(figures: Mapping[str, Any]) -> str:
    reasons = "; ".join(_reason_text(item) for item in figures.get("reasons", []))
    amount = figures.get("amount")
    return _("%(serial)s (%(amount)s): %(reasons)s") % {
        "serial": figures.get("serial", ""),
        "amount": amount_text(None if amount is None else Decimal(str(amount))),
        "reasons": reasons,
    }


RULE = register(
    Rule(
        code="self_approval",
        number=1,
        title=gettext_lazy("Self-approval and segregation of duties"),
        explanation=gettext_lazy(
            "Looks at the approval trail of the last %(lookback_days)s days for requests that "
            "the requester approved personally, that a person named in the form (a payee, a "
            "beneficiary) approved, or — when “%(include_skipped_steps)s” — where a step was "
            "skipped because the requester was its only approver. Requests under "
            "%(min_amount)s yuan are left out (0: none)."
        ),
        area=Area.POWER,
        severity=Severity.HIGH,
        parameters=(
            Parameter(
                "lookback_days",
                gettext_lazy("Look back (days)"),
                ParameterKind.INTEGER,
                365,
                minimum=1,
                maximum=3650,
            ),
            Parameter(
                "include_skipped_steps",
                gettext_lazy("Report steps skipped because the requester was the only approver"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "min_amount",
                gettext_lazy("Smallest amount (yuan)"),
                ParameterKind.DECIMAL,
                0,
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
            "approvals.templateversion",
            "org.user",
        ),
        as_of="day",
        check_document=check_document,
    )
)
