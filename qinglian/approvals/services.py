"""Every approval action: one atomic, audited service each.

Concurrency: every action locks the request row first (`select_for_update`), then re-reads its
tasks, so two approvers of an any-sign node acting at once are serialised and the second one is
told "already decided"; a repeated submission with the same idempotency key returns the first.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import ValidationError as PydanticValidationError

from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR, is_system
from qinglian.core.audit import audit_record
from qinglian.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from qinglian.core.rows import row_insert, row_update, rows_read, rows_save, select_list
from qinglian.org.enums import RoleCode
from qinglian.org.models import Company, Role, User
from qinglian.org.scopes import can_administer_org, data_scope, group_company_id

from . import registry, routing, selectors
from .definitions import (
    Definition,
    Node,
    clean_form_data,
    condition_holds,
    definition_problems,
    validation_problems,
)
from .enums import (
    OPEN_REQUEST_STATUSES,
    OPEN_TASK_STATUSES,
    ActionKind,
    AddSignerPosition,
    ApprovalErrorCode,
    ApproverKind,
    NodeMode,
    RequestStatus,
    SelfApprovalRule,
    StepStatus,
    TaskStatus,
)
from .models import (
    ApprovalAction,
    ApprovalRequest,
    ApprovalStep,
    ApprovalTask,
    ApprovalTemplate,
    Attachment,
    CarbonCopy,
    Notification,
    TemplateVersion,
)

WORKDAY_START_HOUR = 8
WORKDAY_END_HOUR = 19


# ---------------------------------------------------------------- templates


def _require_template_admin(actor: Any) -> int:
    """Routes and thresholds are set centrally: by an IT administrator of the group."""
    group_id = group_company_id()
    if is_system(actor):
        assert group_id is not None
        return group_id
    if group_id is None or not can_administer_org(actor, group_id):
        raise PermissionDenied(_("Only an IT administrator of the group edits approval flows."))
    return group_id


def parse_definition(definition: dict[str, Any]) -> Definition:
    """A definition as it may be saved, or ValidationFailed whose `fields` map each location
    ("route.1.condition.all.0.value") to its problems, the same for every editor."""
    try:
        parsed = Definition.model_validate(definition)
    except PydanticValidationError as error:
        raise ValidationFailed(
            _("The approval flow definition is not valid."), fields=validation_problems(error)
        ) from error
    problems = definition_problems(parsed)
    for location, messages in _definition_reference_problems(parsed).items():
        problems.setdefault(location, []).extend(messages)
    if problems:
        raise ValidationFailed(_("The approval flow definition is not valid."), fields=problems)
    return parsed


def _definition_reference_problems(definition: Definition) -> dict[str, list[str]]:
    """Roles and named people a definition's approvers point at must exist (people: active)."""
    approvers = [(f"route.{i}.approver", node.approver) for i, node in enumerate(definition.route)]
    approvers += [(f"cc.{i}.approver", copy.approver) for i, copy in enumerate(definition.cc)]
    wanted_roles = {approver.role for _path, approver in approvers if approver.role}
    wanted_users = {
        user_id
        for _path, approver in approvers
        if approver.kind == ApproverKind.USERS
        for user_id in approver.users
    }
    roles = set(RoleCode.values) | set(
        Role.objects.filter(code__in=wanted_roles).values_list("code", flat=True)
    )
    users = set(
        User.objects.filter(pk__in=wanted_users, is_active=True).values_list("pk", flat=True)
        if wanted_users
        else ()
    )
    problems: dict[str, list[str]] = {}
    for path, approver in approvers:
        if approver.kind == ApproverKind.ROLE and approver.role not in roles:
            problems[f"{path}.role"] = [_("is not a known role")]
        missing = [str(user_id) for user_id in approver.users if user_id not in users]
        if approver.kind == ApproverKind.USERS and missing:
            problems[f"{path}.users"] = [
                _("include people who are not active employees (%(ids)s)")
                % {"ids": ", ".join(missing)}
            ]
    return problems


@transaction.atomic
def template_save(
    *,
    actor: Any,
    code: str,
    name: str,
    definition: dict[str, Any],
    category: str = "",
    description: str = "",
    document_type: str = "",
    self_approval_rule: str = SelfApprovalRule.SUPERIOR,
    skip_repeated_approver: bool = True,
    resume_at_returning_node: bool = True,
    is_active: bool = True,
) -> ApprovalTemplate:
    """Create a template or change one. A changed definition becomes a new version; running
    requests keep the version they started with."""
    group_id = _require_template_admin(actor)
    parsed = parse_definition(definition)
    canonical = parsed.model_dump(mode="json")
    template = ApprovalTemplate.objects.select_for_update().filter(code=code).first()
    created = template is None
    if template is None:
        template = ApprovalTemplate(code=code)
    before = {
        "name": template.name,
        "is_active": template.is_active,
        "self_approval_rule": template.self_approval_rule,
    }
    template.name = name
    template.category = category
    template.description = description
    template.document_type = document_type
    template.self_approval_rule = self_approval_rule
    template.skip_repeated_approver = skip_repeated_approver
    template.resume_at_returning_node = resume_at_returning_node
    template.is_active = is_active
    template.save()
    current = template.current_version
    if current is None or current.definition != canonical:
        number = (template.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        version = TemplateVersion.objects.create(
            template=template,
            number=number,
            definition=canonical,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        template.current_version = version
        template.save(update_fields=["current_version"])
    audit_record(
        actor=actor,
        action="approvals.template.created" if created else "approvals.template.updated",
        company_id=group_id,
        target=template,
        changes={
            "name": [before["name"] or None, name],
            "is_active": [None if created else before["is_active"], is_active],
            "version": [
                None,
                template.current_version.number if template.current_version else None,
            ],
        },
    )
    return template


# ---------------------------------------------------------------- helpers


def _now() -> datetime.datetime:
    return clock.now()


def _is_after_hours(moment: datetime.datetime, zone: datetime.tzinfo | None = None) -> bool:
    """Outside working hours in `zone` (default: the current time zone)."""
    local = moment.astimezone(zone) if zone is not None else timezone.localtime(moment)
    return local.weekday() >= 5 or not (WORKDAY_START_HOUR <= local.hour < WORKDAY_END_HOUR)


def _action(
    request: ApprovalRequest,
    kind: str,
    *,
    actor: Any = None,
    task: ApprovalTask | None = None,
    comment: str = "",
    data: dict[str, Any] | None = None,
) -> ApprovalAction:
    action = ApprovalAction(
        request=request,
        task=task,
        step_index=task.step.index if task is not None else None,
        actor=actor if getattr(actor, "pk", None) else None,
        kind=kind,
        comment=comment,
        data=data or {},
        created_at=_now(),
    )
    row_insert(action)
    return action


def _audit(request: ApprovalRequest, actor: Any, verb: str, **changes: Any) -> None:
    audit_record(
        actor=actor,
        action=f"approvals.request.{verb}",
        company_id=request.company_id,
        target=request,
        changes={key: [None, value] for key, value in changes.items()},
    )


def _notify(users: Iterable[int], request: ApprovalRequest, kind: str, message: str) -> None:
    user_ids = list(dict.fromkeys(users))
    if not user_ids:
        return
    now = _now()
    for user_id in user_ids:  # mostly one
        row_insert(
            Notification(
                user_id=user_id, request=request, kind=kind, message=message[:300], created_at=now
            )
        )
    # The e-mail copy goes out from the queue (`notification_emails_send`, every minute): the
    # notice row is the outbox, written in this transaction, so a rolled-back change mails
    # nobody, a committed one is mailed even if this process dies, and no request waits for
    # the mail server.


def _lock_request(request_id: int) -> ApprovalRequest:
    # of=("self",): lock the request row only. Without it PostgreSQL also locks the joined
    # template row, and every action on any request of that flow, group-wide, queues behind it.
    try:
        return (
            ApprovalRequest.objects.select_for_update(of=("self",))
            .select_related("template")
            .get(pk=request_id)
        )
    except ApprovalRequest.DoesNotExist:
        raise NotFound(_("Approval request not found.")) from None


# The reads every decision runs, on the hot path of the engine. The ORM compiles a query anew on
# every call (more CPU than the database takes to answer these), so they are written once in
# SQL; `rows_read` builds the models and converts the values as the ORM does.
@functools.cache
def _hot_sql(vendor: str) -> dict[str, str]:
    quote = connection.ops.quote_name
    request, step, task = (
        quote(model._meta.db_table) for model in (ApprovalRequest, ApprovalStep, ApprovalTask)
    )
    # SQLite has no row locks: its transactions take the write lock at BEGIN (settings).
    for_update = " FOR UPDATE" if connection.features.has_select_for_update else ""
    # S608: identifiers from the models' meta, values as parameters.
    return {
        "lock": (
            f"SELECT {select_list(ApprovalRequest, 'r')} FROM {request} r "  # noqa: S608
            f"WHERE r.id = (SELECT request_id FROM {task} WHERE id = %s){for_update}"
        ),
        "round": (
            f"SELECT {select_list(ApprovalStep, 's')}, {select_list(ApprovalTask, 't')} "  # noqa: S608
            f"FROM {step} s LEFT JOIN {task} t ON t.step_id = s.id AND t.superseded = %s "
            f"WHERE s.request_id = %s AND s.round = %s "
            f"ORDER BY s.{quote('index')}, t.{quote('order')}, t.id"
        ),
    }


def _lock_request_of_task(task_id: int) -> ApprovalRequest | None:
    """Lock the request row of a task (that row alone) and read it."""
    found = rows_read(_hot_sql(connection.vendor)["lock"], [task_id], [ApprovalRequest])
    return found[0][0] if found else None


class _Round:
    """The steps of a request's current round with their live tasks, read once the request row
    is locked. Every write to a step or task goes through that lock, so while it is held these
    objects are the truth: the route walks and changes them in memory and notes what it
    changed; `flush()` writes it all, one statement per table. Flush before anything reads
    those rows from the database again."""

    def __init__(self, request: ApprovalRequest) -> None:
        self.steps: list[ApprovalStep] = []
        self.tasks: dict[int, list[ApprovalTask]] = {}  # by step id, in (order, id) order
        for step, task in rows_read(
            _hot_sql(connection.vendor)["round"],
            [False, request.pk, request.current_round],
            [ApprovalStep, ApprovalTask],
        ):
            if step.pk not in self.tasks:
                self.steps.append(step)
                self.tasks[step.pk] = []
            if task is not None:
                task.step = self.steps[-1]
                self.tasks[step.pk].append(task)
        self._changed: dict[tuple[type, int], tuple[ApprovalStep | ApprovalTask, set[str]]] = {}

    def task(self, task_id: int) -> ApprovalTask | None:
        return next((t for ts in self.tasks.values() for t in ts if t.pk == task_id), None)

    def first_step(self, status: str) -> ApprovalStep | None:
        return next((step for step in self.steps if step.status == status), None)

    def changed(self, row: ApprovalStep | ApprovalTask, fields: Iterable[str]) -> None:
        self._changed.setdefault((type(row), row.pk), (row, set()))[1].update(fields)

    def flush(self) -> None:
        for model in (ApprovalTask, ApprovalStep):
            rows_save(
                [
                    (row, fields)
                    for (kind, _pk), (row, fields) in self._changed.items()
                    if kind is model
                ]
            )
        self._changed.clear()


def _task_for_action(actor: Any, task_id: int) -> tuple[ApprovalRequest, ApprovalTask, _Round]:
    """Lock the task's request, read its current round, then check the task is the actor's and
    still to do."""
    request = _lock_request_of_task(task_id)
    if request is None:
        raise NotFound(_("Approval task not found."))
    current = _Round(request)
    task = current.task(task_id)
    if task is None:  # superseded, or of an earlier round: decided or cancelled long ago
        task = ApprovalTask.objects.select_related("step").get(pk=task_id)
    if task.assignee_id != actor.pk:
        if not selectors.can_see_request(actor, request):
            raise NotFound(_("Approval task not found."))
        raise PermissionDenied(
            _("Only the person this step is waiting for can decide it."),
            code=ApprovalErrorCode.NOT_YOUR_TASK,
        )
    if task.status == TaskStatus.WAITING and request.status == RequestStatus.IN_PROGRESS:
        raise Conflict(
            _("The request has not reached your step yet."), code=ApprovalErrorCode.NOT_REACHED
        )
    if task.status != TaskStatus.PENDING or request.status != RequestStatus.IN_PROGRESS:
        raise Conflict(
            _("This step has already been decided."), code=ApprovalErrorCode.ALREADY_DECIDED
        )
    return request, task, current


def _write(current: _Round | None, row: ApprovalStep | ApprovalTask, fields: list[str]) -> None:
    """Write these fields of a step or task now, or note them for the round's flush."""
    if current is None:
        row_update(row, fields)
    else:
        current.changed(row, fields)


def _close_task(
    task: ApprovalTask, status: str, comment: str = "", current: _Round | None = None
) -> None:
    now = _now()
    task.status = status
    task.decided_at = now
    task.comment = comment
    if status in (TaskStatus.APPROVED, TaskStatus.REJECTED, TaskStatus.RETURNED):
        task.decided_after_hours = _is_after_hours(now)
        if task.activated_at is not None:
            task.decision_seconds = max(0, int((now - task.activated_at).total_seconds()))
    _write(
        current,
        task,
        ["status", "decided_at", "comment", "decided_after_hours", "decision_seconds"],
    )


def _cancel_tasks(tasks: list[ApprovalTask], current: _Round) -> None:
    """Cancel these open tasks (no decision is needed from them any more)."""
    now = _now()
    for task in tasks:
        task.status, task.decided_at = TaskStatus.CANCELLED, now
        current.changed(task, ["status", "decided_at"])


def _activate_task(
    request: ApprovalRequest, task: ApprovalTask, current: _Round | None = None
) -> None:
    now = _now()
    task.status = TaskStatus.PENDING
    task.activated_at = now
    if task.step.time_limit_hours:
        task.due_at = now + datetime.timedelta(hours=task.step.time_limit_hours)
    _write(current, task, ["status", "activated_at", "due_at"])
    _notify(
        [task.assignee_id],
        request,
        "task",
        _("Waiting for your approval: %(title)s") % {"title": request.title},
    )


# ---------------------------------------------------------------- the route


def _live(step: ApprovalStep) -> Any:
    """The step's tasks of its current run (not those of a run that was sent back)."""
    return step.tasks.filter(superseded=False)


def _step_complete(step: ApprovalStep, tasks: list[ApprovalTask]) -> bool:
    tasks = [t for t in tasks if t.status != TaskStatus.TRANSFERRED]
    originals = [t for t in tasks if not t.is_added and t.status != TaskStatus.CANCELLED]
    added = [t for t in tasks if t.is_added and t.status != TaskStatus.CANCELLED]
    if any(t.status != TaskStatus.APPROVED for t in added):
        return False
    if step.mode == NodeMode.ANY:
        return any(t.status == TaskStatus.APPROVED for t in originals) or not originals
    return all(t.status == TaskStatus.APPROVED for t in originals)


def _open_next_tasks(
    request: ApprovalRequest, current: _Round, step: ApprovalStep, tasks: list[ApprovalTask]
) -> None:
    """Activate the step's tasks that may act now: everyone at an all-/any-sign step, the next
    person at a sequential step, and whoever a 加签 made wait once that signer has approved."""
    approved = {t.pk for t in tasks if t.status == TaskStatus.APPROVED}
    original_pending = any(t.status == TaskStatus.PENDING and not t.is_added for t in tasks)
    for task in tasks:
        if task.status != TaskStatus.WAITING:
            continue
        if task.waits_for_id is not None:
            if task.waits_for_id in approved:
                _activate_task(request, task, current)
            continue
        if step.mode != NodeMode.SEQUENTIAL or not original_pending:
            _activate_task(request, task, current)
            original_pending = original_pending or not task.is_added
            if step.mode == NodeMode.SEQUENTIAL:
                return


def _auto_approve_repeats(
    request: ApprovalRequest, current: _Round, step: ApprovalStep, tasks: list[ApprovalTask]
) -> int:
    """Where a person already approved at an earlier step, approve for them (the trail says
    so). Returns how many tasks were approved this way."""
    pending = [t for t in tasks if t.status == TaskStatus.PENDING]
    if not pending or step.index == 0:
        return 0
    approved_before = {
        t.assignee_id
        for earlier in current.steps
        if earlier.index < step.index
        for t in current.tasks[earlier.pk]
        if t.status == TaskStatus.APPROVED
    }
    repeated = [t for t in pending if t.assignee_id in approved_before]
    if not repeated or not request.template.skip_repeated_approver:
        return 0
    for task in repeated:
        _close_task(task, TaskStatus.APPROVED, _("Approved earlier in this request."), current)
        _action(
            request,
            ActionKind.AUTO_APPROVED,
            task=task,
            actor=None,
            data={"assignee": task.assignee_id},
        )
    return len(repeated)


def _run_route(request: ApprovalRequest, actor: Any, current: _Round | None = None) -> None:
    """Move the request forward as far as it goes: finish complete steps, open the next.
    `current` is the round as the caller has read and changed it (not flushed yet); None
    reads it afresh."""
    if current is None:
        current = _Round(request)
    step = current.first_step(StepStatus.ACTIVE)
    while True:
        if step is None:
            step = current.first_step(StepStatus.WAITING)
            if step is None:
                current.flush()
                _finish(request, RequestStatus.APPROVED, actor)
                return
            step.status = StepStatus.ACTIVE
            step.activated_at = _now()
            current.changed(step, ["status", "activated_at"])
        tasks = current.tasks[step.pk]
        if not _step_complete(step, tasks):
            _open_next_tasks(request, current, step, tasks)
            if _auto_approve_repeats(request, current, step, tasks):
                continue  # look again: the step may be complete, or its next person due
            if not _step_complete(step, tasks):
                current.flush()
                return
        step.status = StepStatus.APPROVED
        step.decided_at = _now()
        current.changed(step, ["status", "decided_at"])
        _cancel_tasks([t for t in tasks if t.status in OPEN_TASK_STATUSES], current)
        step = None


def _finish(request: ApprovalRequest, status: str, actor: Any) -> None:
    request.status = status
    request.finished_at = _now()
    request.lock_version += 1
    request.save(update_fields=["status", "finished_at", "lock_version"])
    request.tasks.filter(status__in=OPEN_TASK_STATUSES).update(
        status=TaskStatus.CANCELLED, decided_at=_now()
    )
    request.steps.filter(status__in=[StepStatus.WAITING, StepStatus.ACTIVE]).update(
        status=StepStatus.CANCELLED
    )
    if request.document_type:
        bound = registry.document_type(request.document_type)
        if bound is not None:
            callback = {
                RequestStatus.APPROVED: bound.on_approved,
                RequestStatus.REJECTED: bound.on_rejected,
                RequestStatus.WITHDRAWN: bound.on_withdrawn,
            }[RequestStatus(status)]
            callback(request=request, actor=actor)
    if status == RequestStatus.APPROVED:
        _carbon_copy(request, "end")
    _notify(
        [request.requester_id],
        request,
        "decided",
        _("%(title)s: %(status)s")
        % {"title": request.title, "status": RequestStatus(status).label},
    )
    _audit(request, actor, status)


def _carbon_copy(request: ApprovalRequest, at: str) -> None:
    definition = request.version.parsed()
    context = _context_for(request)
    user_ids: list[int] = []
    for cc in definition.cc:
        if cc.at == at:
            user_ids += routing.resolve(cc.approver, context)
    user_ids = [u for u in dict.fromkeys(user_ids) if u != request.requester_id]
    now = _now()
    for user_id in user_ids:
        CarbonCopy.objects.get_or_create(
            request=request, user_id=user_id, at=at, defaults={"created_at": now}
        )
    _notify(
        user_ids, request, "cc", _("For your information: %(title)s") % {"title": request.title}
    )


def _project_id(definition: Definition, data: dict[str, Any]) -> int | None:
    field = next((f for f in definition.fields if f.type == "project"), None)
    return data.get(field.key) if field is not None else None


def _context_for(request: ApprovalRequest) -> routing.RouteContext:
    definition = request.version.parsed()
    return routing.route_context(
        requester=request.requester, project_id=_project_id(definition, request.form_data)
    )


def _build_steps(
    request: ApprovalRequest, definition: Definition, round_number: int, actor: Any
) -> None:
    """Create the round's steps and their (waiting) tasks from the route and the form data."""
    context = _context_for(request)
    rule = request.template.self_approval_rule
    for index, node in enumerate(definition.route):
        step = ApprovalStep(
            request=request,
            round=round_number,
            index=index,
            node_key=node.key,
            name=node.name,
            mode=node.mode,
            time_limit_hours=node.time_limit_hours,
        )
        if not condition_holds(node.condition, request.form_data):
            step.status = StepStatus.SKIPPED
            step.note = _("Condition not met")
            step.save()
            continue
        approvers = routing.resolve(node.approver, context)
        if request.requester_id in approvers:
            approvers = _apply_self_rule(request, node, approvers, context, rule, index)
            step.note = (
                _("The requester was taken off this step")
                if rule == SelfApprovalRule.SKIP
                else _("Routed to the requester's superior")
            )
        if not approvers:
            if rule == SelfApprovalRule.SKIP and step.note:
                step.status = StepStatus.SKIPPED
                step.save()
                continue
            raise ValidationFailed(
                _(
                    "Nobody can approve the step “%(step)s”: check the approver rule and the "
                    "organisation (role holders, department heads)."
                )
                % {"step": node.name},
                code=ApprovalErrorCode.NO_APPROVER,
                fields={"route": [node.key]},
            )
        step.approver_ids = approvers
        step.save()
        _create_tasks(request, step, approvers)


def _apply_self_rule(
    request: ApprovalRequest,
    node: Node,
    approvers: list[int],
    context: routing.RouteContext,
    rule: str,
    index: int,
) -> list[int]:
    others = [user_id for user_id in approvers if user_id != request.requester_id]
    replacement: list[int] = []
    if rule == SelfApprovalRule.SUPERIOR:
        replacement = [u for u in routing.superior_of(context) if u not in others]
    _action(
        request,
        ActionKind.SELF_REROUTED,
        actor=None,
        data={"step": index, "node": node.key, "rule": rule, "replaced_by": replacement},
    )
    return others + replacement


def _create_tasks(request: ApprovalRequest, step: ApprovalStep, approvers: list[int]) -> None:
    ApprovalTask.objects.bulk_create(
        ApprovalTask(request=request, step=step, assignee_id=user_id, order=order * 10)
        for order, user_id in enumerate(approvers)
    )


REFERENCE_TYPES = ("person", "department", "project")


def _references_named(definition: Definition, data: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(problem key, type, id) of every person, department and project the form data names,
    detail-table cells included ("items.2.who")."""
    named: list[tuple[str, str, Any]] = []
    for field in definition.fields:
        value = data.get(field.key)
        if field.type in REFERENCE_TYPES and value is not None:
            named.append((field.key, field.type, value))
        elif field.type == "rows" and isinstance(value, list):
            for number, row in enumerate(value, start=1):
                for column in field.columns:
                    cell = row.get(column.key) if isinstance(row, dict) else None
                    if column.type in REFERENCE_TYPES and cell is not None:
                        named.append((f"{field.key}.{number}.{column.key}", column.type, cell))
    return named


def _check_references(actor: Any, definition: Definition, data: dict[str, Any]) -> None:
    """Person, department and project fields must name what the requester's pickers offer:
    active people and departments, and projects, of the requester's own company or scope."""
    named = _references_named(definition, data)
    if not named:
        return
    lists: dict[str, Any] = {
        "person": selectors.person_choice_list,
        "department": selectors.department_choice_list,
        "project": selectors.project_choice_list,
    }
    found: dict[str, set[Any]] = {}
    for kind in {kind for _key, kind, _value in named}:
        ids = [value for _key, other, value in named if other == kind]
        found[kind] = set(lists[kind](user=actor).filter(pk__in=ids).values_list("pk", flat=True))
    problems = {key: [_("Not found.")] for key, kind, value in named if value not in found[kind]}
    if problems:
        raise ValidationFailed(_("Please correct the highlighted fields."), fields=problems)


def _amount(definition: Definition, data: dict[str, Any]) -> Decimal | None:
    value = data.get(definition.amount_field) if definition.amount_field else None
    return Decimal(str(value)) if value not in (None, "") else None


def _title(
    template: ApprovalTemplate, definition: Definition, data: dict[str, Any], actor: Any
) -> str:
    base = str(data.get(definition.title_field) or "") if definition.title_field else ""
    return (base or f"{actor.name}的{template.name}")[:200]


# ---------------------------------------------------------------- attachments

ATTACHMENT_MAX_BYTES = 20 * 1024 * 1024
ATTACHMENT_MAX_FILES = 10  # with one comment
ATTACHMENT_EXTENSIONS = frozenset(
    {
        "pdf", "ofd", "txt", "csv", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "wps", "et",
        "jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "dwg", "dxf", "zip", "rar",
        "7z",
    }
)  # fmt: skip


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def attachment_problem(name: str, size: int | None) -> str | None:
    """What keeps a file from being attached (its type or size), or None. Pure: forms use it
    to answer early, the services to decide."""
    if _extension(name) not in ATTACHMENT_EXTENSIONS:
        return _("Files of this type cannot be attached (allowed: %(types)s).") % {
            "types": ", ".join(sorted(ATTACHMENT_EXTENSIONS))
        }
    if not size:
        return _("The file is empty.")
    if size > ATTACHMENT_MAX_BYTES:
        return _("A file may be at most %(size)d MB.") % {"size": ATTACHMENT_MAX_BYTES >> 20}
    return None


def _check_uploads(uploads: Mapping[str, Sequence[UploadedFile]]) -> None:
    """Refuse the files of each form field (or a comment's "attachments") whose type or size
    is not allowed."""
    problems: dict[str, list[str]] = {}
    for key, files in uploads.items():
        for upload in files:
            problem = attachment_problem(upload.name or "", upload.size)
            if problem:
                problems.setdefault(key, []).append(f"{upload.name}: {problem}")
    if problems:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            code=ApprovalErrorCode.INVALID_FORM,
            fields=problems,
        )


@contextmanager
def _stored_files() -> Iterator[list[str]]:
    """Collects the names of the files a service stores; when the service fails they are
    removed again (the rows naming them roll back with its transaction)."""
    names: list[str] = []
    try:
        yield names
    except BaseException:
        for name in names:
            default_storage.delete(name)
        raise


def _store(actor: Any, upload: UploadedFile, stored: list[str]) -> Attachment:
    """Store one checked upload under a name of our own (the person's file name is kept as
    `name`, never used as a path) and record it, not yet linked to a request."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    original = PurePath(upload.name or "file").name
    stem, dot, extension = original.rpartition(".")
    attachment = Attachment(
        name=f"{stem[: 199 - len(extension)]}{dot}{extension}" if dot else original[:200],
        size=upload.size or 0,
        content_type=(upload.content_type or "")[:100],
        sha256=digest.hexdigest(),
        uploaded_by=actor,
        uploaded_at=_now(),
    )
    attachment.file.save(f"{uuid.uuid4().hex}.{_extension(original)}", upload, save=False)
    stored.append(attachment.file.name)
    attachment.save()
    return attachment


def _link_attachments(
    request: ApprovalRequest, action: ApprovalAction, attachments: Iterable[Attachment], actor: Any
) -> None:
    """Tie newly stored files to the request and the action that brought them, audited."""
    for attachment in attachments:
        attachment.request, attachment.action = request, action
        attachment.save(update_fields=["request", "action"])
        _audit(
            request,
            actor,
            "attachment_added",
            attachment=attachment.pk,
            name=attachment.name,
            size=attachment.size,
            sha256=attachment.sha256,
        )


def _attachment_ids(definition: Definition, data: dict[str, Any]) -> dict[str, int]:
    """The attachment ids a form's data names, by problem key ("files.2.scan" in a table)."""
    found: dict[str, int] = {}
    for spec in definition.fields:
        value = data.get(spec.key)
        if spec.type == "attachment" and isinstance(value, int):
            found[spec.key] = value
        elif spec.type == "rows" and isinstance(value, list):
            for number, row in enumerate(value, start=1):
                for column in spec.columns:
                    cell = row.get(column.key) if isinstance(row, dict) else None
                    if column.type == "attachment" and isinstance(cell, int):
                        found[f"{spec.key}.{number}.{column.key}"] = cell
    return found


def _check_attachments(definition: Definition, data: dict[str, Any], allowed: set[int]) -> None:
    """A form may name only files uploaded with it, or already on its request."""
    problems = {
        key: [_("Not found.")]
        for key, attachment_id in _attachment_ids(definition, data).items()
        if attachment_id not in allowed
    }
    if problems:
        raise ValidationFailed(_("Please correct the highlighted fields."), fields=problems)


def _file_fields(
    definition: Definition, attachments: Mapping[str, UploadedFile] | None
) -> dict[str, UploadedFile]:
    files = dict(attachments or {})
    unknown = sorted(
        key for key in files if (spec := definition.field(key)) is None or spec.type != "attachment"
    )
    if unknown:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            fields={key: [_("Not a file field of this form.")] for key in unknown},
        )
    _check_uploads({key: [upload] for key, upload in files.items()})
    return files


# ---------------------------------------------------------------- submitting


@transaction.atomic
def request_submit(
    *,
    actor: Any,
    template_code: str,
    form_data: dict[str, Any],
    document_type: str = "",
    document_id: str = "",
    idempotency_key: str = "",
    attachments: Mapping[str, UploadedFile] | None = None,
) -> ApprovalRequest:
    """Start a request. `attachments` are the files of the form's attachment fields, by field
    key: stored with the request, their ids become those fields' values."""
    with _stored_files() as stored:
        return _submit(
            actor=actor,
            template_code=template_code,
            form_data=form_data,
            document_type=document_type,
            document_id=document_id,
            idempotency_key=idempotency_key,
            attachments=attachments,
            stored=stored,
        )


def _submit(
    *,
    actor: Any,
    template_code: str,
    form_data: dict[str, Any],
    document_type: str,
    document_id: str,
    idempotency_key: str,
    attachments: Mapping[str, UploadedFile] | None,
    stored: list[str],
) -> ApprovalRequest:
    if not getattr(actor, "is_authenticated", False) or actor.company_id is None:
        raise PermissionDenied(_("Only an employee of a company submits requests."))
    if idempotency_key:
        earlier = ApprovalRequest.objects.filter(
            requester_id=actor.pk, idempotency_key=idempotency_key
        ).first()
        if earlier is not None:
            return earlier
    template = (
        ApprovalTemplate.objects.select_related("current_version")
        .filter(code=template_code, is_active=True)
        .first()
    )
    if template is None or template.current_version is None:
        raise NotFound(_("Approval flow not found."))
    if template.document_type and not (document_type == template.document_type and document_id):
        raise ValidationFailed(
            _("This flow approves a business document; start it from that document."),
            fields={"document": [_("This field is required.")]},
        )
    if document_type:
        bound = registry.document_type(document_type)
        if bound is None:
            raise ValidationFailed(
                _("Unknown document type."), fields={"document": [document_type]}
            )
        owner = bound.company_of(document_id=document_id) if bound.company_of else actor.company_id
        if owner != actor.company_id and not data_scope(actor).can_read(owner):
            raise NotFound(_("Document not found."))
    definition = template.current_version.parsed()
    files = _file_fields(definition, attachments)
    new = {key: _store(actor, upload, stored) for key, upload in files.items()}
    form_data = {**form_data, **{key: attachment.pk for key, attachment in new.items()}}
    cleaned, problems = clean_form_data(definition, form_data)
    if problems:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            code=ApprovalErrorCode.INVALID_FORM,
            fields=problems,
        )
    _check_references(actor, definition, cleaned)
    _check_attachments(definition, cleaned, {attachment.pk for attachment in new.values()})
    now = _now()
    request = ApprovalRequest(
        serial=f"tmp-{actor.pk}-{now.timestamp()}",
        company_id=actor.company_id,
        template=template,
        version=template.current_version,
        requester=actor,
        department_id=actor.department_id,
        title=_title(template, definition, cleaned, actor),
        form_data=cleaned,
        amount=_amount(definition, cleaned),
        document_type=document_type,
        document_id=document_id,
        idempotency_key=idempotency_key,
        submitted_at=now,
    )
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError as error:
        if idempotency_key:  # a concurrent twin with the same key won
            raise Conflict(_("This request was already submitted.")) from error
        raise Conflict(
            _("This document already has an approval under way."),
            code=ApprovalErrorCode.CLOSED,
        ) from error
    request.serial = f"SP{timezone.localdate(now):%Y%m%d}-{request.pk:06d}"
    request.save(update_fields=["serial"])
    _build_steps(request, definition, 1, actor)
    submitted = _action(request, ActionKind.SUBMITTED, actor=actor)
    _audit(
        request,
        actor,
        "submitted",
        template=template.code,
        version=template.current_version.number,
        title=request.title,
    )
    _link_attachments(request, submitted, new.values(), actor)
    _carbon_copy(request, "start")
    _run_route(request, actor)
    return request


# ---------------------------------------------------------------- deciding


@transaction.atomic
def task_approve(*, actor: Any, task_id: int, comment: str = "") -> ApprovalRequest:
    request, task, current = _task_for_action(actor, task_id)
    _close_task(task, TaskStatus.APPROVED, comment, current)
    _action(
        request, ActionKind.APPROVED, actor=actor, task=task, comment=comment, data=_facts(task)
    )
    if task.step.mode == NodeMode.ANY and not task.is_added:
        # One approval decides an any-sign step; signers added after this one still follow.
        _cancel_tasks(
            [
                other
                for other in current.tasks.get(task.step_id, [])
                if other.status in OPEN_TASK_STATUSES and other.waits_for_id != task.pk
            ],
            current,
        )
    _audit(request, actor, "approved", step=task.step.name, **_facts(task))
    _run_route(request, actor, current)
    return request


def _facts(task: ApprovalTask) -> dict[str, Any]:
    return {"after_hours": task.decided_after_hours, "seconds": task.decision_seconds}


@transaction.atomic
def task_reject(*, actor: Any, task_id: int, comment: str) -> ApprovalRequest:
    if not comment.strip():
        raise ValidationFailed(
            _("Say why you reject."), fields={"comment": [_("This field is required.")]}
        )
    request, task, _current = _task_for_action(actor, task_id)
    _close_task(task, TaskStatus.REJECTED, comment)
    task.step.status = StepStatus.REJECTED
    task.step.decided_at = _now()
    task.step.save(update_fields=["status", "decided_at"])
    _action(
        request, ActionKind.REJECTED, actor=actor, task=task, comment=comment, data=_facts(task)
    )
    _finish(request, RequestStatus.REJECTED, actor)
    return request


@transaction.atomic
def task_return(
    *, actor: Any, task_id: int, comment: str, to_step: int | None = None
) -> ApprovalRequest:
    """Send back to the requester (`to_step` None) or to an earlier step of this round."""
    if not comment.strip():
        raise ValidationFailed(
            _("Say what needs to change."), fields={"comment": [_("This field is required.")]}
        )
    request, task, _current = _task_for_action(actor, task_id)
    current = task.step
    _close_task(task, TaskStatus.RETURNED, comment)
    if to_step is None:
        request.tasks.filter(status__in=OPEN_TASK_STATUSES).update(
            status=TaskStatus.CANCELLED, decided_at=_now()
        )
        current.status = StepStatus.WAITING
        current.save(update_fields=["status"])
        request.status = RequestStatus.RETURNED
        request.returned_from_step = current.index
        request.lock_version += 1
        request.save(update_fields=["status", "returned_from_step", "lock_version"])
        _action(
            request,
            ActionKind.RETURNED,
            actor=actor,
            task=task,
            comment=comment,
            data={"to": "requester"},
        )
        _notify(
            [request.requester_id],
            request,
            "returned",
            _("Sent back to you: %(title)s") % {"title": request.title},
        )
        _audit(request, actor, "returned", to="requester", step=current.name)
        return request
    target = request.steps.filter(
        round=request.current_round, index=to_step, status=StepStatus.APPROVED
    ).first()
    if target is None or to_step >= current.index:
        raise ValidationFailed(
            _("Send back only to an earlier step that was approved."),
            fields={"to_step": [_("Not an earlier approved step.")]},
        )
    _reopen_from(request, target.index, until=current.index)
    _action(
        request,
        ActionKind.RETURNED,
        actor=actor,
        task=task,
        comment=comment,
        data={"to": target.index},
    )
    _audit(request, actor, "returned", to=target.name, step=current.name)
    _run_route(request, actor)
    return request


def _reopen_from(request: ApprovalRequest, first: int, *, until: int | None = None) -> None:
    """Run steps `first`..`until` (or to the end) of the current round again with fresh tasks."""
    steps = request.steps.filter(round=request.current_round, index__gte=first)
    if until is not None:
        steps = steps.filter(index__lte=until)
    for step in steps.exclude(status=StepStatus.SKIPPED).order_by("index"):
        step.tasks.filter(status__in=OPEN_TASK_STATUSES).update(
            status=TaskStatus.CANCELLED, decided_at=_now()
        )
        step.tasks.update(superseded=True)
        step.status = StepStatus.ACTIVE if step.index == first else StepStatus.WAITING
        step.activated_at = _now() if step.index == first else None
        step.decided_at = None
        step.save(update_fields=["status", "activated_at", "decided_at"])
        _create_tasks(request, step, list(step.approver_ids))


@transaction.atomic
def task_transfer(
    *, actor: Any, task_id: int, to_user_id: int, comment: str = ""
) -> ApprovalRequest:
    request, task, _current = _task_for_action(actor, task_id)
    target = _colleague(actor, request, to_user_id)
    if _live(task.step).filter(assignee=target, status__in=OPEN_TASK_STATUSES).exists():
        raise ValidationFailed(
            _("That person is already asked at this step."), fields={"to_user": [target.name]}
        )
    _close_task(task, TaskStatus.TRANSFERRED, comment)
    replacement = ApprovalTask.objects.create(
        request=request,
        step=task.step,
        assignee=target,
        order=task.order,
        is_added=task.is_added,
        waits_for=task.waits_for,
    )
    _activate_task(request, replacement)
    _action(
        request,
        ActionKind.TRANSFERRED,
        actor=actor,
        task=task,
        comment=comment,
        data={"to": target.pk, "to_name": target.name},
    )
    _audit(request, actor, "transferred", step=task.step.name, to=target.pk)
    return request


def _colleague(actor: Any, request: ApprovalRequest, user_id: int) -> User:
    target = User.objects.filter(pk=user_id, is_active=True).first()
    if target is None or not (
        target.company_id == request.company_id or data_scope(actor).can_read(target.company_id)
    ):
        raise ValidationFailed(_("Person not found."), fields={"to_user": [_("Not found.")]})
    if target.pk == request.requester_id:
        raise ValidationFailed(
            _("The requester cannot approve their own request."),
            fields={"to_user": [_("This is the requester.")]},
        )
    if target.pk == actor.pk:
        raise ValidationFailed(_("Choose someone else."), fields={"to_user": [_("That is you.")]})
    return target


@transaction.atomic
def task_add_signer(
    *, actor: Any, task_id: int, user_id: int, position: str, comment: str = ""
) -> ApprovalRequest:
    """加签: ask someone else too, before me (I decide after them) or after me."""
    request, task, _current = _task_for_action(actor, task_id)
    target = _colleague(actor, request, user_id)
    if _live(task.step).filter(assignee=target, status__in=OPEN_TASK_STATUSES).exists():
        raise ValidationFailed(
            _("That person is already asked at this step."), fields={"user": [target.name]}
        )
    added = ApprovalTask.objects.create(
        request=request,
        step=task.step,
        assignee=target,
        order=task.order,
        is_added=True,
        waits_for=task if position == AddSignerPosition.AFTER else None,
    )
    if position == AddSignerPosition.BEFORE:
        task.status = TaskStatus.WAITING
        task.waits_for = added
        task.save(update_fields=["status", "waits_for"])
        _activate_task(request, added)
    _action(
        request,
        ActionKind.SIGNER_ADDED,
        actor=actor,
        task=task,
        comment=comment,
        data={"user": target.pk, "name": target.name, "position": position},
    )
    _audit(request, actor, "signer_added", step=task.step.name, user=target.pk, position=position)
    return request


# ---------------------------------------------------------------- the requester


def _own_request(actor: Any, request_id: int) -> ApprovalRequest:
    request = _lock_request(request_id)
    if not selectors.can_see_request(actor, request):
        raise NotFound(_("Approval request not found."))
    if request.requester_id != actor.pk:
        raise PermissionDenied(_("Only the requester can do this."))
    return request


@transaction.atomic
def request_withdraw(*, actor: Any, request_id: int, comment: str = "") -> ApprovalRequest:
    request = _own_request(actor, request_id)
    if request.status not in OPEN_REQUEST_STATUSES:
        raise Conflict(_("The request is already closed."), code=ApprovalErrorCode.CLOSED)
    _action(request, ActionKind.WITHDRAWN, actor=actor, comment=comment)
    _finish(request, RequestStatus.WITHDRAWN, actor)
    return request


@transaction.atomic
def request_resubmit(
    *,
    actor: Any,
    request_id: int,
    form_data: dict[str, Any],
    attachments: Mapping[str, UploadedFile] | None = None,
) -> ApprovalRequest:
    """After a send-back: the route resumes at the node that sent it back when the template
    allows it and the edited form leads through the same nodes; otherwise it starts again.
    An attachment field left out of `form_data` and `attachments` keeps its file."""
    with _stored_files() as stored:
        return _resubmit(actor, request_id, form_data, attachments, stored)


def _resubmit(
    actor: Any,
    request_id: int,
    form_data: dict[str, Any],
    attachments: Mapping[str, UploadedFile] | None,
    stored: list[str],
) -> ApprovalRequest:
    request = _own_request(actor, request_id)
    if request.status != RequestStatus.RETURNED:
        raise Conflict(
            _("Only a request sent back to you can be resubmitted."), code=ApprovalErrorCode.CLOSED
        )
    definition = request.version.parsed()
    files = _file_fields(definition, attachments)
    new = {key: _store(actor, upload, stored) for key, upload in files.items()}
    kept = {
        spec.key: request.form_data.get(spec.key)
        for spec in definition.fields
        if spec.type == "attachment" and spec.key not in form_data
    }
    form_data = {**kept, **form_data, **{key: item.pk for key, item in new.items()}}
    cleaned, problems = clean_form_data(definition, form_data)
    if problems:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            code=ApprovalErrorCode.INVALID_FORM,
            fields=problems,
        )
    _check_references(actor, definition, cleaned)
    on_request = set(request.attachments.values_list("pk", flat=True))
    _check_attachments(definition, cleaned, on_request | {item.pk for item in new.values()})
    same_route = [condition_holds(n.condition, cleaned) for n in definition.route] == [
        condition_holds(n.condition, request.form_data) for n in definition.route
    ] and _project_id(definition, cleaned) == _project_id(definition, request.form_data)
    changed = cleaned != request.form_data
    request.form_data = cleaned
    request.title = _title(request.template, definition, cleaned, actor)
    request.amount = _amount(definition, cleaned)
    request.status = RequestStatus.IN_PROGRESS
    request.lock_version += 1
    resume_at = request.returned_from_step
    request.returned_from_step = None
    if request.template.resume_at_returning_node and same_route and resume_at is not None:
        request.save()
        _reopen_from(request, resume_at)
        mode = "resume"
    else:
        request.steps.filter(
            round=request.current_round, status__in=[StepStatus.WAITING, StepStatus.ACTIVE]
        ).update(status=StepStatus.CANCELLED)
        request.current_round += 1
        request.save()
        _build_steps(request, definition, request.current_round, actor)
        first = (
            request.steps.filter(round=request.current_round, status=StepStatus.WAITING)
            .order_by("index")
            .first()
        )
        if first is not None:
            first.status = StepStatus.ACTIVE
            first.activated_at = _now()
            first.save(update_fields=["status", "activated_at"])
        mode = "restart"
    resubmitted = _action(
        request, ActionKind.RESUBMITTED, actor=actor, data={"mode": mode, "changed": changed}
    )
    _audit(request, actor, "resubmitted", mode=mode)
    _link_attachments(request, resubmitted, new.values(), actor)
    _run_route(request, actor)
    return request


@transaction.atomic
def request_urge(*, actor: Any, request_id: int) -> ApprovalRequest:
    """催办: remind whoever the request waits for (at most once an hour)."""
    request = _own_request(actor, request_id)
    if request.status != RequestStatus.IN_PROGRESS:
        raise Conflict(_("The request is not waiting for anyone."), code=ApprovalErrorCode.CLOSED)
    last = request.actions.filter(kind=ActionKind.URGED).order_by("-created_at").first()
    if last is not None and _now() - last.created_at < datetime.timedelta(hours=1):
        raise Conflict(_("You urged less than an hour ago."))
    waiting = list(
        request.tasks.filter(status=TaskStatus.PENDING).values_list("assignee_id", flat=True)
    )
    _notify(waiting, request, "urge", _("Please decide: %(title)s") % {"title": request.title})
    _action(request, ActionKind.URGED, actor=actor, data={"notified": waiting})
    return request


@transaction.atomic
def request_comment(
    *, actor: Any, request_id: int, comment: str, files: Sequence[UploadedFile] = ()
) -> ApprovalAction:
    """A party's comment on the trail, with files attached to it (a comment, files, or both)."""
    with _stored_files() as stored:
        return _comment(actor, request_id, comment, files, stored)


def _comment(
    actor: Any, request_id: int, comment: str, files: Sequence[UploadedFile], stored: list[str]
) -> ApprovalAction:
    request = _lock_request(request_id)
    if not selectors.can_see_request(actor, request):
        raise NotFound(_("Approval request not found."))
    if data_scope(actor).is_oversight and not _is_party(actor, request):
        raise PermissionDenied(_("Oversight roles read requests; they do not take part."))
    if not comment.strip() and not files:
        raise ValidationFailed(
            _("Write a comment."), fields={"comment": [_("This field is required.")]}
        )
    if len(files) > ATTACHMENT_MAX_FILES:
        raise ValidationFailed(
            _("At most %(count)d files at a time.") % {"count": ATTACHMENT_MAX_FILES},
            fields={"attachments": [_("Too many files.")]},
        )
    _check_uploads({"attachments": files})
    action = _action(request, ActionKind.COMMENTED, actor=actor, comment=comment.strip())
    _link_attachments(request, action, [_store(actor, upload, stored) for upload in files], actor)
    parties = {request.requester_id} | set(
        request.tasks.exclude(status=TaskStatus.WAITING).values_list("assignee_id", flat=True)
    )
    _notify(
        parties - {actor.pk},
        request,
        "comment",
        _("New comment on %(title)s") % {"title": request.title},
    )
    return action


def request_cc_read(*, actor: Any, request_id: int) -> int:
    """The viewer opened a request they were copied in on: their copies of it count as read.
    A read receipt, not a change of the request: not audited. Returns how many were marked."""
    return CarbonCopy.objects.filter(
        request_id=request_id, user_id=actor.pk, read_at__isnull=True
    ).update(read_at=_now())


def _is_party(actor: Any, request: ApprovalRequest) -> bool:
    return (
        request.requester_id == actor.pk
        or request.tasks.filter(assignee_id=actor.pk).exists()
        or request.ccs.filter(user_id=actor.pk).exists()
    )


# ---------------------------------------------------------------- e-mail (a scheduled job)

EMAIL_BATCH = 200


def notification_emails_send(*, batch: int = EMAIL_BATCH) -> int:
    """Send the e-mail copy of every notice not mailed yet, oldest first: one message per
    notice, to its recipient alone. A batch is marked mailed after the mail server took it, so
    a failure sends it again on the next run instead of never. Returns how many were sent."""
    sent = 0
    while True:
        notices = list(
            Notification.objects.filter(emailed_at__isnull=True)
            .select_related("user", "request")
            .order_by("id")[:batch]
        )
        if not notices:
            return sent
        messages = [
            EmailMessage(
                subject=f"[清廉] {notice.message}"[:150],
                body=notice.message
                + (f"\n\n{notice.request.serial} {notice.request.title}" if notice.request else ""),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[notice.user.email],
            )
            for notice in notices
            if notice.user.email
        ]
        if messages:
            with get_connection() as mail:  # one connection for the batch
                mail.send_messages(messages)
        Notification.objects.filter(
            pk__in=[notice.pk for notice in notices], emailed_at__isnull=True
        ).update(emailed_at=_now())
        sent += len(messages)


# ---------------------------------------------------------------- deadlines (scheduled jobs)

ESCALATE_AFTER = datetime.timedelta(hours=24)


def _overdue_task_ids(*, due_before: datetime.datetime, unflagged: str) -> list[int]:
    """Pending tasks of running requests whose time limit passed before `due_before` and that
    were not yet reminded / escalated (`unflagged` names that timestamp field)."""
    return list(
        ApprovalTask.objects.filter(
            status=TaskStatus.PENDING,
            due_at__lt=due_before,
            request__status=RequestStatus.IN_PROGRESS,
            **{f"{unflagged}__isnull": True},
        )
        .order_by("due_at", "id")
        .values_list("pk", flat=True)
    )


def _lock_overdue_task(
    task_id: int, *, due_before: datetime.datetime, unflagged: str
) -> tuple[ApprovalRequest, ApprovalTask] | None:
    """Lock the task's request like every action does, then re-check the task: a decision, a
    send-back or another run of the job may have come first."""
    request_id = (
        ApprovalTask.objects.filter(pk=task_id)
        .order_by()
        .values_list("request_id", flat=True)
        .first()
    )
    if request_id is None:
        return None
    request = _lock_request(request_id)
    task = ApprovalTask.objects.select_related("step", "assignee").get(pk=task_id)
    if (
        request.status != RequestStatus.IN_PROGRESS
        or task.status != TaskStatus.PENDING
        or task.due_at is None
        or task.due_at >= due_before
        or getattr(task, unflagged) is not None
    ):
        return None
    return request, task


@transaction.atomic
def _task_remind(task_id: int, now: datetime.datetime) -> bool:
    locked = _lock_overdue_task(task_id, due_before=now, unflagged="reminded_at")
    if locked is None:
        return False
    request, task = locked
    assert task.due_at is not None
    task.reminded_at = now
    task.save(update_fields=["reminded_at"])
    _notify(
        [task.assignee_id],
        request,
        "reminder",
        _("Past its time limit, please decide: %(title)s") % {"title": request.title},
    )
    due = task.due_at.isoformat()
    _action(
        request,
        ActionKind.REMINDED,
        task=task,
        data={"assignee": task.assignee_id, "due_at": due},
    )
    _audit(request, SYSTEM_ACTOR, "reminded", step=task.step.name, assignee=task.assignee_id)
    return True


def task_remind_overdue(*, now: datetime.datetime | None = None) -> int:
    """Remind, once, whoever holds a pending task past its time limit (`ApprovalTask.due_at`).
    One transaction per task; a task reminded before is left alone, so a second run does
    nothing new. Returns how many tasks were reminded."""
    moment = now or _now()
    return sum(
        _task_remind(task_id, moment)
        for task_id in _overdue_task_ids(due_before=moment, unflagged="reminded_at")
    )


def _escalation_recipients(assignee: User) -> list[int]:
    """Whom to tell that `assignee` is late: their superior (their department head, the head
    above when they head it, else their company's general manager), and for a general manager
    the general manager of the company above."""
    context = routing.route_context(requester=assignee, project_id=None)
    recipients = routing.superior_of(context)
    parent_id = context.company.parent_id
    if not recipients and parent_id is not None:
        parent = Company.objects.get(pk=parent_id)
        recipients = [
            user_id
            for user_id in routing.role_holders(RoleCode.GENERAL_MANAGER, parent)
            if user_id != assignee.pk
        ]
    return recipients


@transaction.atomic
def _task_escalate(task_id: int, now: datetime.datetime) -> bool:
    locked = _lock_overdue_task(task_id, due_before=now - ESCALATE_AFTER, unflagged="escalated_at")
    if locked is None:
        return False
    request, task = locked
    assert task.due_at is not None
    recipients = _escalation_recipients(task.assignee)
    task.escalated_at = now
    task.save(update_fields=["escalated_at"])
    for user_id in recipients:  # copied in, so the superior can open what they are told about
        CarbonCopy.objects.get_or_create(
            request=request, user_id=user_id, at="escalate", defaults={"created_at": now}
        )
    hours = int((now - task.due_at).total_seconds() // 3600)
    _notify(
        recipients,
        request,
        "escalation",
        _("%(name)s is %(hours)d hours past the time limit on: %(title)s")
        % {"name": task.assignee.name, "hours": hours, "title": request.title},
    )
    _action(
        request,
        ActionKind.ESCALATED,
        task=task,
        data={
            "assignee": task.assignee_id,
            "due_at": task.due_at.isoformat(),
            "notified": recipients,
        },
    )
    _audit(
        request,
        SYSTEM_ACTOR,
        "escalated",
        step=task.step.name,
        assignee=task.assignee_id,
        notified=recipients,
    )
    return True


def task_escalate_overdue(*, now: datetime.datetime | None = None) -> int:
    """Tell the superior of whoever holds a pending task more than `ESCALATE_AFTER` past its
    time limit, once per task. One transaction per task; returns how many were escalated."""
    moment = now or _now()
    return sum(
        _task_escalate(task_id, moment)
        for task_id in _overdue_task_ids(
            due_before=moment - ESCALATE_AFTER, unflagged="escalated_at"
        )
    )
