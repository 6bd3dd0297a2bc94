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

from qinglian.core.history import insert_history, update_history

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


def requests_write(
    rows: Sequence[Mapping[str, Any]],
    steps: Mapping[str, Sequence[HistoryStep]],
    *,
    batch_id: str,
) -> tuple[list[int], dict[str, int]]:
    """`rows`: ApprovalRequest field values (status as the old system named it: pending,
    approved, rejected, withdrawn), each with `source_id`; `steps`: source id → its decided
    steps in order. Writes the requests, one step, task and decision action per decided step,
    the submission action and (withdrawn) the withdrawal. Returns the new request ids in row
    order and the rows written per table."""
    values = [{**row, "status": STATUSES[row["status"]]} for row in rows]
    ids = insert_history(ApprovalRequest, values, batch_id=batch_id)
    step_rows: list[dict[str, Any]] = []
    planned: list[tuple[int, dict[str, Any], HistoryStep, datetime.datetime]] = []
    actions: list[dict[str, Any]] = []
    for row, pk in zip(values, ids, strict=True):
        actions.append(
            {
                "request_id": pk,
                "actor_id": row["requester_id"],
                "kind": ActionKind.SUBMITTED,
                "data": {"imported": True},
                "created_at": row["submitted_at"],
            }
        )
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
            planned.append((pk, row, step, arrived))
            arrived = max(arrived, step.decided_at)
        if row["status"] == RequestStatus.WITHDRAWN and row.get("finished_at"):
            actions.append(
                {
                    "request_id": pk,
                    "actor_id": row["requester_id"],
                    "kind": ActionKind.WITHDRAWN,
                    "data": {"imported": True},
                    "created_at": row["finished_at"],
                }
            )
    step_ids = insert_history(ApprovalStep, step_rows)
    tasks = []
    for (pk, _row, step, arrived), step_id in zip(planned, step_ids, strict=True):
        seconds = int((step.decided_at - arrived).total_seconds())
        tasks.append(
            {
                "request_id": pk,
                "step_id": step_id,
                "assignee_id": step.approver_id,
                "status": TaskStatus.APPROVED if step.approved else TaskStatus.REJECTED,
                "activated_at": arrived,
                "decided_at": step.decided_at,
                "comment": step.comment,
                "decided_after_hours": _is_after_hours(step.decided_at),
                "decision_seconds": max(seconds, 0),
            }
        )
    task_ids = insert_history(ApprovalTask, tasks)
    for (pk, _row, step, _arrived), task, task_id in zip(planned, tasks, task_ids, strict=True):
        actions.append(
            {
                "request_id": pk,
                "task_id": task_id,
                "step_index": step.index,
                "actor_id": step.approver_id,
                "kind": ActionKind.APPROVED if step.approved else ActionKind.REJECTED,
                "comment": step.comment,
                "data": {
                    "after_hours": task["decided_after_hours"],
                    "seconds": task["decision_seconds"],
                    "assignee": step.approver_id,
                    "imported": True,
                },
                "created_at": step.decided_at,
            }
        )
    actions.sort(key=lambda action: action["created_at"])
    insert_history(ApprovalAction, actions)
    return ids, {
        "approvals.approvalrequest": len(ids),
        "approvals.approvalstep": len(step_ids),
        "approvals.approvaltask": len(task_ids),
        "approvals.approvalaction": len(actions),
    }


def request_documents_write(links: Mapping[int, tuple[str, str]]) -> None:
    """Request id → (document type, document id): the trading document it decided, set once
    that exists."""
    update_history(
        ApprovalRequest,
        {pk: {"document_type": kind, "document_id": ref} for pk, (kind, ref) in links.items()},
        ["document_type", "document_id"],
    )
