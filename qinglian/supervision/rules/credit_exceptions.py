"""Rule 8 — credit exceptions (信用例外) granted repeatedly.

A credit exception lets one document past a customer's credit limit or overdue block. Granted
now and then it is credit control working; granted again and again by the same approver, or to
the same customer, it is the control switched off by hand — a favoured customer, or an approver
who signs whatever sales brings.

Two counts over the exceptions granted (approved; used since or given back unused) in the
look-back period, per company:
- per approver: the final approver recorded on the exception (or, for one decided without
  it — imported history — the last person who approved its request), or optionally every
  person who approved it on the route (finance review as well as the general manager);
- per customer.
Exceptions are taken in the order they were granted; from each on, those granted within the
window are counted; at least the minimum number of them is one finding, anchored on the first
(a re-run, or a later exception joining the group, finds the same finding again), and the next
group starts after the last of them.

While an exception is under approval, its approver is told how many the customer was granted
in the window before it.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.approvals import facts as approval_facts
from qinglian.trading import facts

from ..enums import Area, ParameterKind, Severity
from ..registry import DocumentLink, Hit, Parameter, Rule, RuleContext, register
from ..selectors import company_labels, people_labels
from ._approvals import REQUEST, amount_text, chunked, since
from ._trading import (
    CREDIT_EXCEPTION,
    PARTNER,
    credit_exception_link,
    document_of,
    local_today,
    partner_link,
)

APPROVER = "approver"
CUSTOMER = "customer"
USER = "org.user"
MAX_LISTED = 200


def granted_on(exception: facts.CreditExceptionFact) -> datetime.date:
    return local_today(exception.granted_at)


def repeated_groups(
    exceptions: Sequence[facts.CreditExceptionFact], *, window_days: int, min_count: int
) -> list[list[facts.CreditExceptionFact]]:
    """Groups of at least `min_count` exceptions granted within `window_days` days of the
    group's first (in the order granted); the next group starts after the last. Pure."""
    ordered = sorted(exceptions, key=lambda item: (item.granted_at, item.id))
    groups: list[list[facts.CreditExceptionFact]] = []
    start = 0
    while start < len(ordered):
        first = granted_on(ordered[start])
        end = start
        while end + 1 < len(ordered) and (granted_on(ordered[end + 1]) - first).days <= window_days:
            end += 1
        if end - start + 1 >= min_count:
            groups.append(ordered[start : end + 1])
            start = end + 1
        else:
            start += 1
    return groups


def _approvers(
    exceptions: Sequence[facts.CreditExceptionFact], *, every_approver: bool
) -> dict[int, list[int]]:
    """Exception id → the people who granted it: the final approver recorded on it, else the
    last person who approved its request; with `every_approver`, everyone who approved it."""
    found: dict[int, list[int]] = {}
    asked: dict[int, int] = {}  # request id → exception id
    for exception in exceptions:
        if exception.approved_by_id is not None and not every_approver:
            found[exception.id] = [exception.approved_by_id]
        elif exception.approval_request_id is not None:
            asked[exception.approval_request_id] = exception.id
        elif exception.approved_by_id is not None:
            found[exception.id] = [exception.approved_by_id]
    decided: dict[int, list[int]] = defaultdict(list)
    for chunk in chunked(sorted(asked)):
        for decision in approval_facts.decision_facts(request_ids=chunk):
            if decision.actor_id is not None:
                decided[asked[decision.request_id]].append(decision.actor_id)
    for exception in exceptions:
        if exception.id in found or exception.approval_request_id not in asked:
            continue
        people = decided.get(exception.id, [])
        if every_approver:
            people = list(dict.fromkeys([*people, *filter(None, [exception.approved_by_id])]))
        else:
            people = people[-1:]
        if people:
            found[exception.id] = people
    return found


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    exceptions = list(
        facts.credit_exception_facts(since=since(context.now, parameters["lookback_days"]))
    )
    if not exceptions:
        return
    approvers = _approvers(exceptions, every_approver=parameters["every_approver"])
    by_approver: dict[tuple[int, int], list[facts.CreditExceptionFact]] = defaultdict(list)
    by_customer: dict[tuple[int, int], list[facts.CreditExceptionFact]] = defaultdict(list)
    for exception in exceptions:
        for person in approvers.get(exception.id, []):
            by_approver[(exception.company_id, person)].append(exception)
        by_customer[(exception.company_id, exception.partner_id)].append(exception)
    found: list[tuple[str, int, list[facts.CreditExceptionFact]]] = []
    for (_company, person), members in sorted(by_approver.items()):
        for group in repeated_groups(
            members,
            window_days=parameters["approver_window_days"],
            min_count=parameters["approver_min_count"],
        ):
            found.append((APPROVER, person, group))
    for (_company, partner_id), members in sorted(by_customer.items()):
        for group in repeated_groups(
            members,
            window_days=parameters["customer_window_days"],
            min_count=parameters["customer_min_count"],
        ):
            found.append((CUSTOMER, partner_id, group))
    if not found:
        return
    yield from _hits(found, approvers, parameters)


def _hits(
    found: list[tuple[str, int, list[facts.CreditExceptionFact]]],
    approvers: Mapping[int, list[int]],
    parameters: Mapping[str, Any],
) -> Iterable[Hit]:
    members = [exception for _reason, _subject, group in found for exception in group]
    names = facts.partner_names(exception.partner_id for exception in members)
    companies = company_labels({exception.company_id for exception in members})
    people = people_labels(
        [person for exception in members for person in approvers.get(exception.id, [])]
        + [exception.requested_by_id for exception in members]
    )
    for reason, subject, group in found:
        first, last = group[0], group[-1]
        company = companies.get(first.company_id, "")
        window = parameters[f"{reason}_window_days"]
        customers = list(dict.fromkeys(exception.partner_id for exception in group))
        granted_by = list(
            dict.fromkeys(person for item in group for person in approvers.get(item.id, []))
        )
        if reason == APPROVER:
            subject_type, label = (
                USER,
                _("%(approver)s granted %(count)s credit exceptions in %(company)s")
                % {"approver": people.get(subject, ""), "count": len(group), "company": company},
            )
        else:
            subject_type, label = (
                PARTNER,
                _("%(customer)s was granted %(count)s credit exceptions in %(company)s")
                % {"customer": names.get(subject, ""), "count": len(group), "company": company},
            )
        documents: list[DocumentLink] = [credit_exception_link(item) for item in group]
        documents += [
            DocumentLink(REQUEST, str(item.approval_request_id), item.number)
            for item in group
            if item.approval_request_id is not None
        ]
        documents += [partner_link(pk, names.get(pk, "")) for pk in customers]
        yield Hit(
            subject_type=subject_type,
            subject_id=str(subject),
            subject_label=label,
            key=f"{reason}:{first.company_id}:{first.id}",
            company_id=first.company_id,
            figures={
                "reason": reason,
                "company": company,
                "approver": people.get(subject, "") if reason == APPROVER else "",
                "customer": names.get(subject, "") if reason == CUSTOMER else "",
                "count": len(group),
                "window_days": window,
                "first_granted_on": granted_on(first),
                "last_granted_on": granted_on(last),
                "total_amount": sum((item.amount for item in group), Decimal(0)),
                "lifting_overdue_block": sum(1 for item in group if item.allow_overdue),
                "customers": [{"id": pk, "name": names.get(pk, "")} for pk in customers],
                "exceptions": [
                    {
                        "id": item.id,
                        "number": item.number,
                        "customer": names.get(item.partner_id, ""),
                        "granted_on": granted_on(item),
                        "amount": item.amount,
                        "allow_overdue": item.allow_overdue,
                        "credit_limit": item.credit_limit,
                        "exposure": item.exposure,
                        "overdue_amount": item.overdue_amount,
                        "status": item.status,
                        "requested_by": people.get(item.requested_by_id, ""),
                        "approved_by": [
                            people.get(person, "") for person in approvers.get(item.id, [])
                        ],
                        "used_for": item.used_document_number,
                    }
                    for item in group[:MAX_LISTED]
                ],
            },
            documents=documents,
            people=list(
                dict.fromkeys(
                    ([subject] if reason == APPROVER else [])
                    + granted_by
                    + [item.requested_by_id for item in group]
                )
            ),
            occurred_at=last.granted_at,
        )


def check_document(context: RuleContext, document_type: str, document_id: str) -> Iterable[Hit]:
    """A credit exception under approval (or its request): how many the customer was granted
    by the company within the customer window before it, this one counted."""
    document = document_of(document_type, document_id)
    if document is None or document[0] != CREDIT_EXCEPTION:
        return []
    current = next(
        iter(facts.credit_exception_facts(exception_ids=[document[1]], granted_only=False)),
        None,
    )
    if current is None:
        return []
    parameters = context.parameters
    window = parameters["customer_window_days"]
    start = context.now - datetime.timedelta(days=window)
    earlier = [
        item
        for item in facts.credit_exception_facts(since=start, partner_ids=[current.partner_id])
        if item.company_id == current.company_id and item.id != current.id
    ]
    if len(earlier) + 1 < parameters["customer_min_count"]:
        return []
    group = [*sorted(earlier, key=lambda item: (item.granted_at, item.id)), current]
    return list(
        _hits(
            [(CUSTOMER, current.partner_id, group)],
            _approvers(earlier, every_approver=False),
            parameters,
        )
    )


def summarize(figures: Mapping[str, Any]) -> str:
    values = {
        "count": figures.get("count", 0),
        "first": figures.get("first_granted_on", ""),
        "last": figures.get("last_granted_on", ""),
        "total": amount_text(Decimal(str(figures.get("total_amount") or 0))),
        "window": figures.get("window_days", ""),
    }
    if figures.get("reason") == APPROVER:
        return _(
            "%(approver)s granted %(count)s credit exceptions between %(first)s and %(last)s "
            "(within %(window)s days), exceptions of %(total)s yuan in all, to %(customers)s"
        ) % {
            **values,
            "approver": figures.get("approver", ""),
            "customers": "、".join(item.get("name", "") for item in figures.get("customers", [])),
        }
    return _(
        "%(customer)s was granted %(count)s credit exceptions between %(first)s and %(last)s "
        "(within %(window)s days), exceptions of %(total)s yuan in all"
    ) % {**values, "customer": figures.get("customer", "")}


RULE = register(
    Rule(
        code="credit_exceptions",
        number=8,
        title=gettext_lazy("Credit exceptions granted repeatedly"),
        explanation=gettext_lazy(
            "Per company, takes the credit exceptions granted in the last %(lookback_days)s "
            "days (approved; used since or given back unused) and flags an approver who "
            "granted at least %(approver_min_count)s of them within %(approver_window_days)s "
            "days of the first (the final approver, or every approver on the route: "
            "%(every_approver)s), and a customer granted at least %(customer_min_count)s within "
            "%(customer_window_days)s days of the first."
        ),
        area=Area.POWER,
        severity=Severity.MEDIUM,
        parameters=(
            Parameter(
                "approver_min_count",
                gettext_lazy("Exceptions granted by one approver (at least)"),
                ParameterKind.INTEGER,
                5,
                minimum=2,
                maximum=1000,
            ),
            Parameter(
                "approver_window_days",
                gettext_lazy("Approver window (days)"),
                ParameterKind.INTEGER,
                30,
                minimum=1,
                maximum=365,
            ),
            Parameter(
                "customer_min_count",
                gettext_lazy("Exceptions granted to one customer (at least)"),
                ParameterKind.INTEGER,
                3,
                minimum=2,
                maximum=1000,
            ),
            Parameter(
                "customer_window_days",
                gettext_lazy("Customer window (days)"),
                ParameterKind.INTEGER,
                90,
                minimum=1,
                maximum=365,
            ),
            Parameter(
                "every_approver",
                gettext_lazy("Count every approver on the route, not only the final one"),
                ParameterKind.BOOLEAN,
                False,
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
            "approvals.approvalaction",
            "approvals.approvalrequest",
            "approvals.approvalstep",
            "approvals.approvaltask",
            "org.company",
            "org.user",
            "trading.creditexception",
            "trading.partner",
        ),
        as_of="day",
        check_document=check_document,
    )
)
