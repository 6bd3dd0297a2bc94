"""Approval facts for supervision: read-only, in bulk, as plain values.

Supervision never reads the engine's tables itself: it asks here. Every function streams plain
frozen dataclasses ordered by id (so a rule over a million requests holds no model objects) and
nothing here writes. The engine records the facts supervision needs as it goes: who decided
what and when, whether the decision fell outside working hours and how long it took
(`ApprovalTask.decided_after_hours`, `decision_seconds`, mirrored in the action's data), and
where its self-approval rule took the requester off the route (`SELF_REROUTED` actions).

No data scope here: supervision applies the inspector's scope to the findings it makes; these
functions answer for the whole group.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import F, Q, QuerySet

from .enums import ActionKind, StepStatus
from .models import ApprovalAction, ApprovalRequest, ApprovalStep, TemplateVersion

CHUNK = 2000
HUMAN_DECISIONS = (ActionKind.APPROVED, ActionKind.REJECTED, ActionKind.RETURNED)


def _chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    chunk: list[int] = []
    for item in ids:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class RequestFact:
    id: int
    serial: str
    title: str
    company_id: int
    department_id: int | None
    requester_id: int
    template_code: str
    template_name: str
    version_id: int
    amount: Decimal | None
    status: str
    submitted_at: datetime.datetime


_REQUEST_FIELDS = (
    "id",
    "serial",
    "title",
    "company_id",
    "department_id",
    "requester_id",
    "template__code",
    "template__name",
    "version_id",
    "amount",
    "status",
    "submitted_at",
)


def request_facts(
    *,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    template_codes: Collection[str] | None = None,
    statuses: Collection[str] | None = None,
    company_ids: Collection[int] | None = None,
    request_ids: Collection[int] | None = None,
    with_amount: bool = False,
) -> Iterator[RequestFact]:
    """Submitted requests (any status unless `statuses`), oldest id first. `since`/`until`
    bound the submission time (until exclusive)."""
    queryset: QuerySet[ApprovalRequest] = ApprovalRequest.objects.all()
    if since is not None:
        queryset = queryset.filter(submitted_at__gte=since)
    if until is not None:
        queryset = queryset.filter(submitted_at__lt=until)
    if template_codes:
        queryset = queryset.filter(template__code__in=list(template_codes))
    if statuses:
        queryset = queryset.filter(status__in=list(statuses))
    if company_ids is not None:
        queryset = queryset.filter(company_id__in=list(company_ids))
    if request_ids is not None:
        queryset = queryset.filter(pk__in=list(request_ids))
    if with_amount:
        queryset = queryset.filter(amount__isnull=False)
    rows = queryset.order_by("id").values_list(*_REQUEST_FIELDS)
    for row in rows.iterator(chunk_size=CHUNK):
        yield RequestFact(*row)


def request_source_ids(request_ids: Iterable[int]) -> dict[int, str]:
    """Request id → the old system's identifier of the imported requests among `request_ids`
    (one statement per 2,000 ids); requests made here have none and are left out."""
    found: dict[int, str] = {}
    for chunk in _chunks(sorted(set(request_ids))):
        found.update(
            ApprovalRequest.objects.filter(pk__in=chunk)
            .exclude(source_id="")
            .values_list("pk", "source_id")
        )
    return found


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True)
class DecisionFact:
    """One decision on a request's trail: by a person, or automatic (actor None)."""

    action_id: int
    request_id: int
    task_id: int | None
    actor_id: int | None
    assignee_id: int | None
    kind: str
    step_index: int | None
    step_name: str
    decided_at: datetime.datetime
    after_hours: bool | None  # decided outside working hours (the engine's fact)
    seconds: int | None  # from the task reaching the person to their decision
    company_id: int
    requester_id: int
    amount: Decimal | None  # the request's amount


def _optional_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def decision_facts(
    *,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    kinds: Collection[str] = (ActionKind.APPROVED,),
    request_ids: Collection[int] | None = None,
    by_requester_only: bool = False,
    after_hours_or_within_seconds: int | None = None,
) -> Iterator[DecisionFact]:
    """Decisions (approved by default; automatic ones only when `kinds` names
    AUTO_APPROVED), oldest first. `by_requester_only`: the decisions whose task belonged to the
    request's own requester — a segregation-of-duties breach. `after_hours_or_within_seconds`:
    only those decided outside working hours or within that many seconds."""
    queryset = ApprovalAction.objects.filter(kind__in=list(kinds))
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    if request_ids is not None:
        queryset = queryset.filter(request_id__in=list(request_ids))
    if by_requester_only:
        queryset = queryset.filter(
            Q(task__assignee_id=F("request__requester_id")) | Q(actor_id=F("request__requester_id"))
        )
    if after_hours_or_within_seconds is not None:
        queryset = queryset.filter(
            Q(task__decided_after_hours=True)
            | Q(task__decision_seconds__lte=after_hours_or_within_seconds)
        )
    rows = queryset.order_by("id").values_list(
        "id",
        "request_id",
        "task_id",
        "actor_id",
        "task__assignee_id",
        "kind",
        "step_index",
        "task__step__name",
        "created_at",
        "task__decided_after_hours",
        "task__decision_seconds",
        "data",
        "request__company_id",
        "request__requester_id",
        "request__amount",
    )
    for row in rows.iterator(chunk_size=CHUNK):
        (action_id, request_id, task_id, actor_id, assignee_id, kind, index, step_name) = row[:8]
        decided_at, after_hours, seconds, data, company_id, requester_id, amount = row[8:]
        data = data if isinstance(data, dict) else {}
        if after_hours is None and isinstance(data.get("after_hours"), bool):
            after_hours = data["after_hours"]
        if seconds is None:
            seconds = _optional_int(data.get("seconds"))
        if assignee_id is None:
            assignee_id = _optional_int(data.get("assignee")) or actor_id
        yield DecisionFact(
            action_id=action_id,
            request_id=request_id,
            task_id=task_id,
            actor_id=actor_id,
            assignee_id=assignee_id,
            kind=kind,
            step_index=index,
            step_name=step_name or "",
            decided_at=decided_at,
            after_hours=after_hours,
            seconds=seconds,
            company_id=company_id,
            requester_id=requester_id,
            amount=amount,
        )


# ---------------------------------------------------------------- the self-approval rule's trail


@dataclass(frozen=True)
class SelfRerouteFact:
    """The engine found the requester among a step's approvers and applied the flow's
    self-approval rule: took them off ("skip") or asked their superior ("superior")."""

    request_id: int
    requester_id: int
    step_index: int
    node_key: str
    rule: str
    replaced_by: tuple[int, ...]
    step_skipped: bool  # nobody else was left: the step was skipped, nobody independent checked
    at: datetime.datetime


def self_reroute_facts(
    *,
    since: datetime.datetime | None = None,
    request_ids: Collection[int] | None = None,
) -> Iterator[SelfRerouteFact]:
    queryset = ApprovalAction.objects.filter(kind=ActionKind.SELF_REROUTED)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if request_ids is not None:
        queryset = queryset.filter(request_id__in=list(request_ids))
    rows = list(
        queryset.order_by("id").values_list(
            "request_id", "request__requester_id", "data", "created_at"
        )
    )
    skipped: set[tuple[int, int]] = set()
    for chunk in _chunks(dict.fromkeys(row[0] for row in rows)):
        skipped |= set(
            ApprovalStep.objects.filter(
                request_id__in=chunk, status=StepStatus.SKIPPED
            ).values_list("request_id", "index")
        )
    for request_id, requester_id, data, at in rows:
        data = data if isinstance(data, dict) else {}
        index = _optional_int(data.get("step"))
        if index is None:
            continue
        replaced = tuple(
            user_id
            for user_id in (_optional_int(item) for item in data.get("replaced_by") or [])
            if user_id is not None
        )
        yield SelfRerouteFact(
            request_id=request_id,
            requester_id=requester_id,
            step_index=index,
            node_key=str(data.get("node", "")),
            rule=str(data.get("rule", "")),
            replaced_by=replaced,
            step_skipped=(request_id, index) in skipped,
            at=at,
        )


# ---------------------------------------------------------------- who is on the route


@dataclass(frozen=True)
class RouteStepFact:
    """A step of a request's current round and the people it asks (resolved at submission)."""

    request_id: int
    step_index: int
    step_name: str
    status: str
    approver_ids: tuple[int, ...]


def route_step_facts(*, request_ids: Collection[int]) -> Iterator[RouteStepFact]:
    rows = (
        ApprovalStep.objects.filter(
            request_id__in=list(request_ids), round=F("request__current_round")
        )
        .order_by("request_id", "index")
        .values_list("request_id", "index", "name", "status", "approver_ids")
    )
    for request_id, index, name, status, approver_ids in rows.iterator(chunk_size=CHUNK):
        ids = tuple(
            user_id
            for user_id in (_optional_int(item) for item in approver_ids or [])
            if user_id is not None
        )
        yield RouteStepFact(request_id, index, name, status, ids)


# ---------------------------------------------------------------- people named in forms


@dataclass(frozen=True)
class PersonFieldFact:
    """A person named in a request's form (a payee, a beneficiary, a person in charge)."""

    request_id: int
    field_key: str
    field_label: str
    user_id: int


def _person_fields(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(item.get("key")), str(item.get("label", "")))
        for item in definition.get("fields", [])
        if isinstance(item, Mapping) and item.get("type") == "person"
    ]


def person_field_facts(
    *,
    since: datetime.datetime | None = None,
    request_ids: Collection[int] | None = None,
) -> Iterator[PersonFieldFact]:
    fields_by_version = {
        version_id: fields
        for version_id, definition in TemplateVersion.objects.values_list("id", "definition")
        if (fields := _person_fields(definition if isinstance(definition, Mapping) else {}))
    }
    if not fields_by_version:
        return
    queryset = ApprovalRequest.objects.filter(version_id__in=list(fields_by_version))
    if since is not None:
        queryset = queryset.filter(submitted_at__gte=since)
    if request_ids is not None:
        queryset = queryset.filter(pk__in=list(request_ids))
    rows = queryset.order_by("id").values_list("id", "version_id", "form_data")
    for request_id, version_id, form_data in rows.iterator(chunk_size=CHUNK):
        data = form_data if isinstance(form_data, Mapping) else {}
        for key, label in fields_by_version[version_id]:
            user_id = _optional_int(data.get(key))
            if user_id is not None:
                yield PersonFieldFact(request_id, key, label, user_id)


# ---------------------------------------------------------------- thresholds in the routes


@dataclass(frozen=True)
class AmountThreshold:
    """An amount where a flow's route changes: a node's condition compares the template's
    amount field with this value. `below_inclusive`: the value itself stays on the lower route
    (a "gt" or "lte" condition)."""

    template_code: str
    version_id: int
    node_key: str
    node_name: str
    value: Decimal
    below_inclusive: bool


def _comparisons(condition: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(condition, Mapping):
        return
    if "field" in condition:
        yield condition
    for key in ("all", "any"):
        for part in condition.get(key) or []:
            yield from _comparisons(part)


def thresholds_in(definition: Mapping[str, Any]) -> list[tuple[str, str, Decimal, bool]]:
    """(node key, node name, value, below inclusive) for every ordering comparison of the
    definition's amount field in its route's conditions. Pure."""
    amount_field = definition.get("amount_field") or ""
    if not amount_field:
        return []
    found: list[tuple[str, str, Decimal, bool]] = []
    for node in definition.get("route") or []:
        if not isinstance(node, Mapping):
            continue
        for comparison in _comparisons(node.get("condition")):
            op = comparison.get("op")
            if comparison.get("field") != amount_field or op not in ("gt", "gte", "lt", "lte"):
                continue
            try:
                value = Decimal(str(comparison.get("value")))
            except InvalidOperation:
                continue
            if not value.is_finite() or value <= 0:
                continue
            key, name = str(node.get("key", "")), str(node.get("name", ""))
            found.append((key, name, value, op in ("gt", "lte")))
    return found


def amount_thresholds(
    *, template_codes: Collection[str] | None = None
) -> dict[int, tuple[AmountThreshold, ...]]:
    """The thresholds of every template version, by version id (versions are few)."""
    queryset = TemplateVersion.objects.all()
    if template_codes:
        queryset = queryset.filter(template__code__in=list(template_codes))
    result: dict[int, tuple[AmountThreshold, ...]] = {}
    for version_id, code, definition in queryset.values_list("id", "template__code", "definition"):
        found = thresholds_in(definition if isinstance(definition, Mapping) else {})
        if found:
            result[version_id] = tuple(
                AmountThreshold(code, version_id, key, name, value, inclusive)
                for key, name, value, inclusive in found
            )
    return result
