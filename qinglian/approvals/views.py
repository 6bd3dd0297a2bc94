"""The approval pages, phone first: the inbox (to do, done, submitted by me, copied to me), a new
request from a template's form, and a request's page with its route, its trail and the actions
the viewer may take.

Thin by rule (STYLE.md): reads go through `selectors`, each POST makes one service call. The
services decide: their NotFound and PermissionDenied become the 404 and 403 pages (middleware);
a refusal the user can fix (ValidationFailed) goes onto the form; a Conflict (already decided,
closed, urged too recently) is shown on the request's page with status 409. An htmx request
from an inbox row gets that row back instead of a redirect.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.forms import Form
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from qinglian.core import clock
from qinglian.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from qinglian.core.forms import add_service_errors
from qinglian.org.scopes import can_read_audit, data_scope

from . import forms, selectors, services
from .definitions import Definition, FormField
from .enums import (
    OPEN_REQUEST_STATUSES,
    ActionKind,
    AddSignerPosition,
    RequestStatus,
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
)

PAGE_SIZE = 50
TABS = ("pending", "done", "submitted", "cc")
require_GET_or_POST = require_http_methods(["GET", "HEAD", "POST"])

# ---------------------------------------------------------------- helpers


def _posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _files(request: HttpRequest) -> Any:
    return request.FILES if request.method == "POST" else None


def _htmx_target(request: HttpRequest) -> str:
    htmx = getattr(request, "htmx", None)
    return str(htmx.target or "") if htmx else ""


def _row_id(task_id: int) -> str:
    return f"task-{task_id}"


def _request_id_of_task(user: Any, task_id: int) -> int:
    """The request a task belongs to, if the user may see that request."""
    return _request_of_task(user, task_id)[0]


def _request_of_task(user: Any, task_id: int) -> tuple[int, int]:
    """(id, company id) of the request a task belongs to, if the user may see that request."""
    found = (
        selectors.request_visible(user=user)
        .filter(tasks__id=task_id)
        .values_list("pk", "company_id")
        .first()
    )
    if found is None:
        raise NotFound(_("Approval task not found."))
    return found


def _startable(code: str) -> ApprovalTemplate:
    """An active stand-alone flow; one bound to a business document starts from the document."""
    template = selectors.template_list().filter(code=code).first()
    if template is None or template.current_version is None or template.document_type:
        raise NotFound(_("Approval flow not found."))
    return template


# ---------------------------------------------------------------- the inbox


def _inbox_lists(user: Any) -> dict[str, Any]:
    return {
        "pending": selectors.inbox_pending(user=user),
        "done": selectors.inbox_done(user=user),
        "submitted": selectors.requests_submitted(user=user),
        "cc": selectors.requests_cc(user=user),
    }


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    lists = _inbox_lists(request.user)
    tab = request.GET.get("tab", "")
    tab = tab if tab in TABS else "pending"
    labels = {
        "pending": _("To do"),
        "done": _("Done"),
        "submitted": _("Submitted by me"),
        "cc": _("Copied to me"),
    }
    counts = {name: lists[name].count() for name in TABS if name != "cc"}
    counts["cc"], cc_unread = selectors.requests_cc_counts(user=request.user)
    paginator = Paginator(lists[tab], PAGE_SIZE)
    paginator.count = counts[tab]  # counted once, for the tab and the pages
    page = paginator.get_page(request.GET.get("page"))
    unread = {"cc": cc_unread}  # copies not opened yet: a badge on their tab
    tabs = [(name, labels[name], counts[name], unread.get(name, 0)) for name in TABS]
    context = {"tab": tab, "tabs": tabs, "page_obj": page, "now": clock.now()}
    wants_part = _htmx_target(request) == "inbox-body"
    template = "approvals/inbox.html#inbox-body" if wants_part else "approvals/inbox.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


def _task_row(request: HttpRequest, task_id: int, *, message: str = "") -> HttpResponse:
    """An inbox row after a decision from it: the task as it now stands, and why if refused."""
    user = request.user
    task = (
        selectors.inbox_done(user=user).filter(pk=task_id).first()
        or selectors.inbox_pending(user=user).filter(pk=task_id).first()
    )
    lists = _inbox_lists(user)
    context = {
        "task": task,
        "task_id": task_id,
        "message": message,
        "now": clock.now(),
        # the tabs' counts move with the decision (htmx swaps them out of band)
        "row_counts": [(name, lists[name].count()) for name in ("pending", "done")],
    }
    return render(request, "approvals/inbox.html#task-row", context)


# ---------------------------------------------------------------- new requests


@login_required
@require_GET
def new(request: HttpRequest) -> HttpResponse:
    templates = [
        template
        for template in selectors.template_list()
        if not template.document_type and template.current_version_id is not None
    ]
    return render(request, "approvals/new.html", {"templates": templates})


@login_required
@require_GET_or_POST
def submit(request: HttpRequest, code: str) -> HttpResponse:
    template = _startable(code)
    assert template.current_version is not None
    definition = template.current_version.parsed()
    form = forms.RequestForm(
        _posted(request),
        _files(request),
        definition=definition,
        user=request.user,
        idempotency_key=forms.new_idempotency_key(),
    )
    if form.is_valid():
        try:
            created = services.request_submit(
                actor=request.user,
                template_code=template.code,
                form_data=form.form_data(),
                idempotency_key=form.idempotency_key,
                attachments=form.attachments(),
            )
        except (ValidationFailed, Conflict) as error:
            forms.add_request_errors(form, error)
        else:
            messages.success(request, _("Submitted: %(serial)s") % {"serial": created.serial})
            return redirect("approvals:detail", created.pk)
    context = {"form": form, "template": template, "title": template.name}
    return render(request, "approvals/form.html", context)


@login_required
@require_GET_or_POST
def resubmit(request: HttpRequest, pk: int) -> HttpResponse:
    """After a send-back: the requester edits the same form and sends it again."""
    approval = selectors.request_access(user=request.user, request_id=pk)
    if approval.requester_id != request.user.pk:
        raise PermissionDenied(_("Only the requester can do this."))
    if request.method != "POST" and approval.status != RequestStatus.RETURNED:
        messages.info(request, _("Only a request sent back to you can be resubmitted."))
        return redirect("approvals:detail", approval.pk)
    definition = approval.version.parsed()
    form = forms.RequestForm(
        _posted(request),
        _files(request),
        definition=definition,
        user=request.user,
        initial_data=approval.form_data,
    )
    if form.is_valid():
        try:
            services.request_resubmit(
                actor=request.user,
                request_id=approval.pk,
                form_data=form.form_data(),
                attachments=form.attachments(),
            )
        except (ValidationFailed, Conflict) as error:
            forms.add_request_errors(form, error)
        else:
            messages.success(request, _("Resubmitted."))
            return redirect("approvals:detail", approval.pk)
    context = {
        "form": form,
        "template": approval.template,
        "title": _("Resubmit %(serial)s") % {"serial": approval.serial},
        "approval": approval,
    }
    return render(request, "approvals/form.html", context)


# ---------------------------------------------------------------- the request's page


@dataclass
class ShownField:
    """One field of the request's form data, read-only."""

    label: str
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[tuple[str, str]]] = field(default_factory=list)  # (column, value)
    file: Attachment | None = None  # an attachment field's file, shown as a link


REFERENCE_TYPES = ("person", "department", "project")


def _references(definition: Definition, data: dict[str, Any]) -> dict[str, set[int]]:
    wanted: dict[str, set[int]] = {kind: set() for kind in REFERENCE_TYPES}

    def collect(specs: list[FormField], values: dict[str, Any]) -> None:
        for spec in specs:
            value = values.get(spec.key)
            if spec.type in wanted and isinstance(value, int):
                wanted[spec.type].add(value)
            elif spec.type == "rows" and isinstance(value, list):
                for row in value:
                    if isinstance(row, dict):
                        collect(spec.columns, row)

    collect(definition.fields, data)
    return wanted


def _shown_value(spec: FormField, value: Any, names: dict[str, dict[int, str]]) -> str:
    if value in (None, "", []):
        return "—"
    if spec.type in REFERENCE_TYPES:
        return names[spec.type].get(value) or f"#{value}"
    if spec.type == "money":
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return number_format(amount, decimal_pos=2, force_grouping=True)  # as |floatformat:"2g"
    if spec.type == "attachment":
        return _("Attachment no. %(number)s") % {"number": value}
    return str(value)


def _shown_fields(
    user: Any, approval: ApprovalRequest, definition: Definition, files: dict[int, Attachment]
) -> list[ShownField]:
    data = approval.form_data
    names = selectors.reference_names(
        user=user, company_id=approval.company_id, wanted=_references(definition, data)
    )
    shown: list[ShownField] = []
    for spec in definition.fields:
        value = data.get(spec.key)
        if spec.type == "attachment" and isinstance(value, int) and value in files:
            shown.append(ShownField(spec.label, files[value].name, file=files[value]))
            continue
        if spec.type != "rows":
            shown.append(ShownField(spec.label, _shown_value(spec, value, names)))
            continue
        rows = [
            [
                (column.label, _shown_value(column, row.get(column.key), names))
                for column in spec.columns
            ]
            for row in (value if isinstance(value, list) else [])
            if isinstance(row, dict)
        ]
        columns = [column.label for column in spec.columns]
        shown.append(ShownField(spec.label, "" if rows else "—", columns, rows))
    return shown


def _trail(
    actions: list[ApprovalAction],
    route: list[ApprovalStep],
    people: dict[int, str],
    files: list[Attachment],
) -> list[tuple[ApprovalAction, str, str, list[Attachment]]]:
    """Each action with the step it happened at, a note of what it did and the files it
    brought."""
    steps = {step.index: step.name for step in route}
    brought: dict[int, list[Attachment]] = {}
    for attachment in files:
        if attachment.action_id is not None:
            brought.setdefault(attachment.action_id, []).append(attachment)
    entries = []
    for action in actions:
        data = action.data if isinstance(action.data, dict) else {}
        note = ""
        if action.kind == ActionKind.TRANSFERRED:
            note = _("To %(name)s") % {"name": data.get("to_name", "")}
        elif action.kind == ActionKind.SIGNER_ADDED:
            note = (
                _("Asked %(name)s to approve first")
                if data.get("position") == AddSignerPosition.BEFORE
                else _("Asked %(name)s to approve next")
            ) % {"name": data.get("name", "")}
        elif action.kind == ActionKind.RETURNED:
            target = data.get("to")
            note = (
                _("Sent back to the requester")
                if target == "requester"
                else _("Sent back to “%(step)s”")
                % {"step": steps.get(target, target) if isinstance(target, int) else target}
            )
        elif action.kind in (ActionKind.AUTO_APPROVED, ActionKind.REMINDED, ActionKind.ESCALATED):
            note = people.get(data.get("assignee", 0), "")  # on whose behalf / who was late
        elif action.kind == ActionKind.RESUBMITTED:
            note = (
                _("Continues at the step that sent it back")
                if data.get("mode") == "resume"
                else _("The route starts again")
            )
        step = steps.get(action.step_index, "") if action.step_index is not None else ""
        entries.append((action, step, note, brought.get(action.pk, [])))
    return entries


def _my_task(
    user: Any, route: list[ApprovalStep]
) -> tuple[ApprovalTask | None, ApprovalStep | None]:
    """The viewer's task waiting for their decision, and its step."""
    for step in route:
        for task in step.tasks.all():
            if task.assignee_id == user.pk and task.status == TaskStatus.PENDING:
                return task, step
    return None, None


def _action_forms(
    user: Any,
    approval: ApprovalRequest,
    route: list[ApprovalStep],
    my_step: ApprovalStep | None,
) -> dict[str, Form]:
    """The unbound forms of the actions this viewer may take now (the services still decide)."""
    found: dict[str, Form] = {}
    if my_step is not None:
        earlier = [
            (step.index, step.name)
            for step in route
            if step.status == StepStatus.APPROVED and step.index < my_step.index
        ]
        others = [user.pk, approval.requester_id]
        found["approve"] = forms.ApproveForm(auto_id="approve-%s")
        found["reject"] = forms.RejectForm(auto_id="reject-%s")
        found["return"] = forms.ReturnForm(auto_id="return-%s", steps=earlier)
        company_id = approval.company_id
        found["transfer"] = forms.TransferForm(
            auto_id="transfer-%s", user=user, exclude=others, company_id=company_id
        )
        found["add_signer"] = forms.AddSignerForm(
            auto_id="add-signer-%s", user=user, exclude=others, company_id=company_id
        )
    is_requester = approval.requester_id == user.pk
    if is_requester and approval.status in OPEN_REQUEST_STATUSES:
        found["withdraw"] = forms.WithdrawForm(auto_id="withdraw-%s")
    if _may_comment(user, approval, route):
        found["comment"] = forms.CommentForm(auto_id="comment-%s")
    return found


def _may_comment(user: Any, approval: ApprovalRequest, route: list[ApprovalStep]) -> bool:
    """Parties comment; oversight roles only read (unless they are a party themselves)."""
    if not data_scope(user).is_oversight or approval.requester_id == user.pk:
        return True
    if any(task.assignee_id == user.pk for step in route for task in step.tasks.all()):
        return True
    return selectors.requests_cc(user=user).filter(request_id=approval.pk).exists()


def _detail_page(
    request: HttpRequest,
    request_id: int,
    *,
    bound: tuple[str, Form] | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    """The request's page; `bound` is an action's form that failed, shown open with its errors."""
    user = request.user
    approval = selectors.request_access(user=user, request_id=request_id)
    if getattr(approval, "viewer_cc_unread", False):  # copied in: opening it reads the copy
        services.request_cc_read(actor=user, request_id=approval.pk)
    definition = approval.version.parsed()
    route = selectors.request_route(request=approval)
    people = {task.assignee_id: task.assignee.name for s in route for task in s.tasks.all()}
    files = list(selectors.request_attachments(request=approval))
    trail = _trail(list(selectors.request_trail(request=approval)), route, people, files)
    my_task, my_step = _my_task(user, route)
    action_forms = _action_forms(user, approval, route, my_step)
    open_action = ""
    if bound is not None:
        name, form = bound
        if name in action_forms:
            action_forms[name] = form
            open_action = name
        else:  # not an action this viewer has on the page: say why it failed on top
            error = error or _form_errors(form)
    is_requester = approval.requester_id == user.pk
    context = {
        "approval": approval,
        "fields": _shown_fields(
            user, approval, definition, {attachment.pk: attachment for attachment in files}
        ),
        "route": route,
        "trail": trail,
        "my_task": my_task,
        "my_step": my_step,
        "forms": action_forms,
        "open_action": open_action,
        "error": error,
        "is_requester": is_requester,
        "can_urge": is_requester and approval.status == RequestStatus.IN_PROGRESS,
        "can_resubmit": is_requester and approval.status == RequestStatus.RETURNED,
        "can_read_audit": can_read_audit(user, approval.company_id),
        "document": selectors.request_document(request=approval),
    }
    return render(request, "approvals/detail.html", context, status=status)


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, pk)


# ---------------------------------------------------------------- actions


def _act(
    request: HttpRequest,
    *,
    request_id: int,
    name: str,
    form: Form | None,
    call: Callable[[dict[str, Any]], object],
    done: str,
    row_task_id: int | None = None,
) -> HttpResponse:
    """Validate `form`, make the one service call, and answer: the inbox row for htmx from a
    row, else back to the request's page (with the form's errors or the conflict if refused)."""
    row = (
        row_task_id
        if row_task_id is not None and _htmx_target(request) == _row_id(row_task_id)
        else None
    )
    if form is None or form.is_valid():
        try:
            call(form.cleaned_data if form is not None else {})
        except Conflict as error:
            return _refused(request, request_id, error.message, row=row, status=409)
        except ValidationFailed as error:
            if form is None or row is not None:
                return _refused(request, request_id, error.message, row=row, status=422)
            add_service_errors(form, error)
        else:
            if row is not None:
                return _task_row(request, row)
            messages.success(request, done)
            return redirect("approvals:detail", request_id)
    assert form is not None
    if row is not None:
        return _task_row(request, row, message=_form_errors(form))
    return _detail_page(request, request_id, bound=(name, form))


def _form_errors(form: Form) -> str:
    return " ".join(str(message) for errors in form.errors.values() for message in errors)


def _refused(
    request: HttpRequest, request_id: int, message: str, *, row: int | None, status: int
) -> HttpResponse:
    if row is not None:  # htmx swaps only a 2xx answer: the row carries the refusal
        return _task_row(request, row, message=message)
    return _detail_page(request, request_id, error=message, status=status)


@login_required
@require_POST
def approve(request: HttpRequest, task_id: int) -> HttpResponse:
    return _act(
        request,
        request_id=_request_id_of_task(request.user, task_id),
        name="approve",
        form=forms.ApproveForm(request.POST, auto_id="approve-%s"),
        call=lambda data: services.task_approve(
            actor=request.user, task_id=task_id, comment=data["comment"]
        ),
        done=_("Approved."),
        row_task_id=task_id,
    )


@login_required
@require_POST
def reject(request: HttpRequest, task_id: int) -> HttpResponse:
    return _act(
        request,
        request_id=_request_id_of_task(request.user, task_id),
        name="reject",
        form=forms.RejectForm(request.POST, auto_id="reject-%s"),
        call=lambda data: services.task_reject(
            actor=request.user, task_id=task_id, comment=data["comment"]
        ),
        done=_("Rejected."),
    )


@login_required
@require_POST
def send_back(request: HttpRequest, task_id: int) -> HttpResponse:
    return _act(
        request,
        request_id=_request_id_of_task(request.user, task_id),
        name="return",
        form=forms.ReturnForm(request.POST, auto_id="return-%s", steps=None),
        call=lambda data: services.task_return(
            actor=request.user, task_id=task_id, comment=data["comment"], to_step=data["to_step"]
        ),
        done=_("Sent back."),
    )


@login_required
@require_POST
def transfer(request: HttpRequest, task_id: int) -> HttpResponse:
    request_id, company_id = _request_of_task(request.user, task_id)
    return _act(
        request,
        request_id=request_id,
        name="transfer",
        form=forms.TransferForm(
            request.POST,
            auto_id="transfer-%s",
            user=request.user,
            exclude=[request.user.pk],
            company_id=company_id,
        ),
        call=lambda data: services.task_transfer(
            actor=request.user,
            task_id=task_id,
            to_user_id=data["to_user"].pk,
            comment=data["comment"],
        ),
        done=_("Transferred."),
    )


@login_required
@require_POST
def add_signer(request: HttpRequest, task_id: int) -> HttpResponse:
    request_id, company_id = _request_of_task(request.user, task_id)
    return _act(
        request,
        request_id=request_id,
        name="add_signer",
        form=forms.AddSignerForm(
            request.POST,
            auto_id="add-signer-%s",
            user=request.user,
            exclude=[request.user.pk],
            company_id=company_id,
        ),
        call=lambda data: services.task_add_signer(
            actor=request.user,
            task_id=task_id,
            user_id=data["user"].pk,
            position=data["position"],
            comment=data["comment"],
        ),
        done=_("Signer added."),
    )


def _visible_request_id(request: HttpRequest, pk: int) -> int:
    return selectors.request_access(user=request.user, request_id=pk).pk


@login_required
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        request_id=_visible_request_id(request, pk),
        name="withdraw",
        form=forms.WithdrawForm(request.POST, auto_id="withdraw-%s"),
        call=lambda data: services.request_withdraw(
            actor=request.user, request_id=pk, comment=data["comment"]
        ),
        done=_("Withdrawn."),
    )


@login_required
@require_POST
def urge(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        request_id=_visible_request_id(request, pk),
        name="urge",
        form=None,
        call=lambda data: services.request_urge(actor=request.user, request_id=pk),
        done=_("Reminder sent."),
    )


@login_required
@require_POST
def comment(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        request_id=_visible_request_id(request, pk),
        name="comment",
        form=forms.CommentForm(request.POST, request.FILES, auto_id="comment-%s"),
        call=lambda data: services.request_comment(
            actor=request.user, request_id=pk, comment=data["comment"], files=data["attachments"]
        ),
        done=_("Comment added."),
    )


# ---------------------------------------------------------------- files


@login_required
@require_GET
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """A request's file, for whoever may open the request (404 for everyone else). Always a
    download, typed by its extension, never shown inline."""
    attachment = selectors.attachment_access(user=request.user, attachment_id=pk)
    content_type = mimetypes.guess_type(attachment.name)[0] or "application/octet-stream"
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.name,
        content_type=content_type,
    )
    response["Cache-Control"] = "private, no-store"
    return response
