"""Imported approval history (legacy intake): requests as an old approval platform recorded
them — their original route steps, approvers, decisions and times — written in bulk, never run
through the engine. The facts supervision reads (`facts.decision_facts`) come out as they would
for requests decided here: one task and one decision action per step, with the after-hours flag
and the seconds from the task reaching the approver to the decision.

The caller (qinglian.legacy) maps the old rows to field values; this module writes approvals'
own tables only."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from qinglian.core.history import insert_begins, insert_history, reserve_ids

from .definitions import Definition
from .enums import ActionKind, NodeMode, RequestStatus, StepStatus, TaskStatus
from .models import (
    ApprovalAction,
    ApprovalRequest,
    ApprovalStep,
    ApprovalTask,
    ApprovalTemplate,
    TemplateVersion,
)
from .services import _is_after_hours

# The route of a flow created only to hold imported requests (the product ships none of that
# type in this installation): named people, never used to start a request.
HISTORY_DEFINITION: dict[str, Any] = {
    "fields": [
        {"key": "title", "label": "标题", "type": "text", "required": True},
        {"key": "amount", "label": "金额", "type": "money"},
        # The person an expense claim was paid to (the old systems' payee_employee).
        {"key": "payee", "label": "收款人", "type": "person"},
    ],
    "route": [{"key": "history", "name": "历史审批", "approver": {"kind": "department_head"}}],
    "title_field": "title",
    "amount_field": "amount",
}


def history_versions(flows: Mapping[str, tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """For each key, (template code, name): the template of that code and its current version;
    a template missing here is created (inactive, named "… (历史)") with one version. Returns
    key → (template id, version id)."""
    found: dict[str, tuple[int, int]] = {}
    for key, (code, name) in flows.items():
        template = ApprovalTemplate.objects.filter(code=code).first()
        if template is None:
            definition = Definition.model_validate(HISTORY_DEFINITION).model_dump(mode="json")
            template = ApprovalTemplate.objects.create(
                code=code, name=f"{name}（历史）", category="历史", is_active=False
            )
            version = TemplateVersion.objects.create(
                template=template, number=1, definition=definition
            )
            template.current_version = version
            template.save(update_fields=["current_version"])
        version_id = template.current_version_id or (
            TemplateVersion.objects.filter(template=template)
            .order_by("-number")
            .values_list("pk", flat=True)
            .first()
        )
        if version_id is None:
            raise ValueError(f"approval template {code} has no version")
        found[key] = (template.pk, version_id)
    return found


def person_fields(version_ids: Mapping[str, int]) -> dict[str, str]:
    """For each key, the form field an imported request's payee (a person) is written to in
    that template version: its field `payee` if that is a person field, else its first person
    field (the shipped expense claim's `claimant`, 实际报销人). Keys whose version has no
    person field are left out."""
    definitions = dict(
        TemplateVersion.objects.filter(pk__in=set(version_ids.values())).values_list(
            "pk", "definition"
        )
    )
    found: dict[str, str] = {}
    for key, version_id in version_ids.items():
        definition = definitions.get(version_id)
        fields = definition.get("fields", []) if isinstance(definition, Mapping) else []
        people = [
            str(item["key"])
            for item in fields
            if isinstance(item, Mapping) and item.get("type") == "person" and item.get("key")
        ]
        if people:
            found[key] = "payee" if "payee" in people else people[0]
    return found


@dataclass(frozen=True)
class HistoryStep:
    """One decided step of an imported request."""

    index: int
    node: str
    approver_id: int
    approved: bool
    decided_at: datetime.datetime
    comment: str


STATUSES = {
    "pending": RequestStatus.IN_PROGRESS,
    "approved": RequestStatus.APPROVED,
    "rejected": RequestStatus.REJECTED,
    "withdrawn": RequestStatus.WITHDRAWN,
}


def request_ids_reserve(count: int) -> list[int]:
    """`count` request ids, for the records that point at imported requests (contracts,
    payments, credit exceptions) and that they point at, written in either order."""
    return reserve_ids(ApprovalRequest, count)


def requests_write(
    rows: Sequence[Mapping[str, Any]],
    steps: Mapping[str, Sequence[HistoryStep]],
    *,
    batch_id: str,
) -> tuple[list[int], dict[str, int]]:
    """`rows`: ApprovalRequest field values (status as the old system named it: pending,
    approved, rejected, withdrawn), each with `source_id`, and each its `id` when ids were
    reserved (`core.history.reserve_ids`) for records that point at the requests; `steps`:
    source id → its decided steps in order. Writes the requests, one step, task and decision
    action per decided step, the submission action and (withdrawn) the withdrawal. Returns
    the request ids in row order and the rows written per table."""
    if not batch_id:
        raise ValueError("imported approval requests need their import batch")
    values = [{**row, "status": STATUSES[row["status"]]} for row in rows]
    ids = insert_history(ApprovalRequest, values, batch_id=batch_id)
    step_rows: list[dict[str, Any]] = []
    planned: list[tuple[HistoryStep, int, datetime.datetime]] = []
    for row, pk in zip(values, ids, strict=True):
        arrived = row["submitted_at"]
        for step in steps.get(row["source_id"], ()):
            step_rows.append(
                {
                    "request_id": pk,
                    "round": 1,
                    "index": step.index,
                    "node_key": step.node[:40],
                    "name": step.node[:60],
                    "mode": NodeMode.SEQUENTIAL,
                    "status": StepStatus.APPROVED if step.approved else StepStatus.REJECTED,
                    "approver_ids": [step.approver_id],
                    "activated_at": arrived,
                    "decided_at": step.decided_at,
                }
            )
            planned.append((step, pk, arrived))
            arrived = max(arrived, step.decided_at)
    step_ids = insert_history(ApprovalStep, step_rows)
    del step_rows
    zone = timezone.get_current_timezone()
    tasks = []
    for (step, pk, arrived), step_id in zip(planned, step_ids, strict=True):
        tasks.append(
            {
                "request_id": pk,
                "step_id": step_id,
                "assignee_id": step.approver_id,
                "status": TaskStatus.APPROVED if step.approved else TaskStatus.REJECTED,
                "activated_at": arrived,
                "decided_at": step.decided_at,
                "comment": step.comment,
                "decided_after_hours": _is_after_hours(step.decided_at, zone),
                "decision_seconds": max(int((step.decided_at - arrived).total_seconds()), 0),
            }
        )
    task_ids = insert_history(ApprovalTask, tasks)
    del tasks, planned
    actions = _actions_write(batch_id, ids, task_ids)
    return ids, {
        "approvals.approvalrequest": len(ids),
        "approvals.approvalstep": len(step_ids),
        "approvals.approvaltask": len(task_ids),
        "approvals.approvalaction": actions,
    }


def _actions_write(batch_id: str, request_ids: Sequence[int], task_ids: Sequence[int]) -> int:
    """The trail of the requests just written, from them and their tasks, in one statement:
    each request's submission, one decision per task (with what a decision here records:
    after hours, seconds, assignee) and, for a withdrawn request, its withdrawal — in the
    order they happened. Returns the number of actions written."""
    if not request_ids:
        return 0
    quote = connection.ops.quote_name
    request = quote(ApprovalRequest._meta.db_table)
    step = quote(ApprovalStep._meta.db_table)
    task = quote(ApprovalTask._meta.db_table)
    action = quote(ApprovalAction._meta.db_table)
    if connection.vendor == "postgresql":
        imported = "'{\"imported\": true}'::jsonb"
        decided = (
            "jsonb_build_object('after_hours', t.decided_after_hours, 'seconds', "
            "t.decision_seconds, 'assignee', t.assignee_id, 'imported', true)"
        )
    else:
        imported = "json_object('imported', json('true'))"
        decided = (
            "json_object('after_hours', json(CASE WHEN t.decided_after_hours THEN 'true' "
            "ELSE 'false' END), 'seconds', t.decision_seconds, 'assignee', t.assignee_id, "
            "'imported', json('true'))"
        )
    # The requests (and tasks) of this batch: its id range, and its mark (ids another
    # session took meanwhile may fall inside the range).
    of_batch = "r.import_batch = %s AND r.id BETWEEN %s AND %s"
    sql = f"""
        INSERT INTO {action} (request_id, task_id, step_index, actor_id, kind, comment, data,
                              created_at)
        SELECT request_id, task_id, step_index, actor_id, kind, comment, data, created_at
        FROM (
            SELECT r.id AS request_id, NULL AS task_id, NULL AS step_index,
                   r.requester_id AS actor_id, %s AS kind, '' AS comment, {imported} AS data,
                   r.submitted_at AS created_at, 0 AS part
            FROM {request} r WHERE {of_batch}
            UNION ALL
            SELECT t.request_id, t.id, s.{quote("index")}, t.assignee_id,
                   CASE WHEN t.status = %s THEN %s ELSE %s END, t.comment, {decided},
                   t.decided_at, 1
            FROM {task} t
            JOIN {step} s ON s.id = t.step_id
            JOIN {request} r ON r.id = t.request_id
            WHERE t.id BETWEEN %s AND %s AND {of_batch}
            UNION ALL
            SELECT r.id, NULL, NULL, r.requester_id, %s, '', {imported}, r.finished_at, 2
            FROM {request} r
            WHERE {of_batch} AND r.status = %s AND r.finished_at IS NOT NULL
        ) trail
        ORDER BY created_at, request_id, part, step_index
    """  # noqa: S608 — table names from the models, values as parameters
    first, last = min(request_ids), max(request_ids)
    batch: list[str | int] = [batch_id, first, last]
    parameters: list[str | int] = [
        ActionKind.SUBMITTED,
        *batch,
        TaskStatus.APPROVED,
        ActionKind.APPROVED,
        ActionKind.REJECTED,
        min(task_ids, default=0),
        max(task_ids, default=-1),
        *batch,
        ActionKind.WITHDRAWN,
        *batch,
        RequestStatus.WITHDRAWN,
    ]
    insert_begins(ApprovalAction, len(request_ids) + len(task_ids))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The planner's statistics of tables just loaded say they are empty: it would
            # join them row by row (at a million rows, for many minutes). Sampled now, in
            # this transaction, they show the rows and it hashes.
            cursor.execute(f"ANALYZE {request}, {step}, {task}")
        cursor.execute(sql, parameters)
        return int(cursor.rowcount)
