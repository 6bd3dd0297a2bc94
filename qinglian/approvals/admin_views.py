"""Approval-flow administration: the group's IT administrators edit templates; each change of
the definition becomes a new version (running requests keep theirs).

Two editors save through the same service and its checks: the structured editor (rows for the
form's fields, cards for the route's nodes, conditions as field / operator / value rows) and,
for power users, the definition as JSON. The structured editor's add / remove / move / find
buttons post the whole editor back and get it redrawn (htmx swaps just the editor; without
JavaScript the page reloads), so nothing is lost and nothing is saved until "Save".
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from qinglian.core.errors import NotFound, PermissionDenied, ValidationFailed
from qinglian.core.forms import StyledFormMixin, add_service_errors
from qinglian.org import selectors as org_selectors
from qinglian.org.scopes import can_administer_group

from . import editor, selectors, services
from .definitions import Definition, problem_text
from .enums import ApproverKind, NodeMode, RoleScope, SelfApprovalRule
from .models import ApprovalTemplate

PEOPLE_FOUND = 20  # people a picker's search shows at most
MODES = ("structured", "json")


def _require_flow_admin(user: Any) -> None:
    if not can_administer_group(user):
        raise PermissionDenied(_("Only an IT administrator of the group edits approval flows."))


class TemplateMetaForm(StyledFormMixin, forms.Form):
    """What both editors share: the flow's name and its rules."""

    code = forms.SlugField(label=gettext_lazy("Code"), max_length=40)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    category = forms.CharField(label=gettext_lazy("Category"), max_length=40, required=False)
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    self_approval_rule = forms.ChoiceField(
        label=gettext_lazy("When the route reaches the requester"),
        choices=SelfApprovalRule.choices,
    )
    skip_repeated_approver = forms.BooleanField(
        label=gettext_lazy("Approve automatically where a person already approved earlier"),
        required=False,
    )
    resume_at_returning_node = forms.BooleanField(
        label=gettext_lazy("After a send-back, resume at the node that sent it back"),
        required=False,
    )
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False)


class TemplateForm(TemplateMetaForm):
    """The advanced editor: the form and route as JSON."""

    definition = forms.CharField(
        label=gettext_lazy("Form and route (JSON)"),
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "class": "font-monospace"}),
        help_text=gettext_lazy(
            "fields: key, label, type (text, textarea, number, money, date, choice, person, "
            "department, project, attachment, rows), required, choices. route: key, name, "
            "approver {kind: users | role | department_head | levels_up | leader_in_charge, "
            "role, users, levels}, mode (sequential | all | any), condition "
            '{"all"|"any": [{field, op: eq|ne|gt|gte|lt|lte|in|not_in|empty|not_empty, value}]}, '
            "time_limit_hours. cc: at (start | end), approver."
        ),
    )

    def clean_definition(self) -> dict[str, Any]:
        try:
            value = json.loads(self.cleaned_data["definition"])
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                _("Not valid JSON (line %(line)d, column %(column)d).")
                % {"line": error.lineno, "column": error.colno}
            ) from error
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Expected an object with fields and route."))
        return value


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    _require_flow_admin(request.user)
    templates = selectors.template_list(active_only=False).prefetch_related("versions")
    return render(request, "approvals/admin_template_list.html", {"templates": templates})


def _template(code: str | None) -> ApprovalTemplate | None:
    if code is None:
        return None
    template = selectors.template_list(active_only=False).filter(code=code).first()
    if template is None or template.current_version is None:
        raise NotFound(_("Approval flow not found."))
    return template


def _initial(template: ApprovalTemplate | None) -> dict[str, Any]:
    if template is None:
        return {
            "self_approval_rule": SelfApprovalRule.SUPERIOR,
            "skip_repeated_approver": True,
            "resume_at_returning_node": True,
            "is_active": True,
        }
    return {
        "code": template.code,
        "name": template.name,
        "category": template.category,
        "description": template.description,
        "self_approval_rule": template.self_approval_rule,
        "skip_repeated_approver": template.skip_repeated_approver,
        "resume_at_returning_node": template.resume_at_returning_node,
        "is_active": template.is_active,
    }


def _mode(request: HttpRequest) -> str:
    asked = request.POST.get("mode") or request.GET.get("mode")
    if asked in MODES:
        return str(asked)
    return "json" if "definition" in request.POST else "structured"


def _save(
    request: HttpRequest, template: ApprovalTemplate | None, form: forms.Form, definition: Any
) -> ApprovalTemplate:
    data = {name: value for name, value in form.cleaned_data.items() if name != "definition"}
    return services.template_save(
        actor=request.user,
        document_type=template.document_type if template else "",
        definition=definition,
        **data,
    )


def _saved(request: HttpRequest, saved: ApprovalTemplate) -> HttpResponse:
    messages.success(
        request,
        _("Saved %(name)s, version %(number)d.")
        % {"name": saved.name, "number": saved.current_version.number},  # type: ignore[union-attr]
    )
    return redirect("approvals:admin_templates")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def template_edit(request: HttpRequest, code: str | None = None) -> HttpResponse:
    _require_flow_admin(request.user)
    template = _template(code)
    if _mode(request) == "json":
        return _json_edit(request, template)
    return _structured_edit(request, template)


def _json_edit(request: HttpRequest, template: ApprovalTemplate | None) -> HttpResponse:
    definition = (
        template.current_version.definition  # type: ignore[union-attr]
        if template is not None
        else {"fields": [], "route": [], "cc": []}
    )
    initial = {
        **_initial(template),
        "definition": json.dumps(definition, ensure_ascii=False, indent=2),
    }
    form = TemplateForm(request.POST if request.method == "POST" else None, initial=initial)
    if template is not None:
        form.fields["code"].disabled = True
    if form.is_valid():
        try:
            saved = _save(request, template, form, form.cleaned_data["definition"])
        except ValidationFailed as error:
            add_service_errors(form, error)
            for path, problems in error.fields.items():
                if path not in form.fields:
                    for problem in problems:
                        form.add_error("definition", f"{problem_text(path, problem)} ({path})")
        else:
            return _saved(request, saved)
    return _page(request, template, form, mode="json")


def _structured_edit(request: HttpRequest, template: ApprovalTemplate | None) -> HttpResponse:
    action = request.POST.get("editor_action", "") if request.method == "POST" else ""
    if request.method != "POST":
        form: TemplateMetaForm = TemplateMetaForm(initial=_initial(template))
        state = (
            editor.state_from_definition(template.current_version.definition)  # type: ignore[union-attr]
            if template is not None
            else editor.new_state()
        )
    elif action:  # a row added, removed, moved or a person looked up: redraw, save nothing
        boxes = ("skip_repeated_approver", "resume_at_returning_node", "is_active")
        initial = {**_initial(template), **request.POST.dict()}
        initial.update({name: name in request.POST for name in boxes})  # unchecked: not posted
        form = TemplateMetaForm(initial=initial)
        state = editor.apply_action(editor.state_from_post(request.POST), action)
    else:
        form = TemplateMetaForm(request.POST, initial=_initial(template))
        state = editor.state_from_post(request.POST)
    if template is not None:
        form.fields["code"].disabled = True
    if request.method == "POST" and not action:
        definition = editor.definition_from_state(state)
        try:
            if not form.is_valid():  # still check the rows, to show every problem at once
                services.parse_definition(definition)
            else:
                return _saved(request, _save(request, template, form, definition))
        except ValidationFailed as error:
            own = {path: texts for path, texts in error.fields.items() if path in form.fields}
            if own or not error.fields:
                add_service_errors(form, type(error)(error.message, fields=own))
            state.problems = editor.attach_problems(
                state, {path: texts for path, texts in error.fields.items() if path not in own}
            )
    _people(request.user, state)
    if action and getattr(request, "htmx", False):
        return render(
            request,
            "approvals/admin_template_edit.html#editor",
            _context(request, template, form, state),
        )
    return _page(request, template, form, mode="structured", state=state)


def _person_label(person: Any) -> str:
    company = person.company.short_name or person.company.name if person.company else ""
    return f"{person}{' · ' + company if company else ''}"


def _people(user: Any, state: editor.EditorState) -> None:
    """Names of the people the pickers hold, and who each picker's search finds (as far as
    the administrator's scope reaches; an id outside it shows as a number)."""
    approvers = state.approvers()
    wanted = {user_id for row in approvers for user_id in row.users if isinstance(user_id, int)}
    people = org_selectors.user_list(user=user).filter(pk__in=wanted) if wanted else []
    labels = {person.pk: _person_label(person) for person in people}
    for row in approvers:
        row.chosen = [
            (user_id, labels.get(user_id, f"#{user_id}"))
            for user_id in row.users
            if isinstance(user_id, int)
        ]
        if row.search and row.kind == ApproverKind.USERS:
            found = org_selectors.user_list(user=user, search=row.search, active_only=True)
            row.found = [
                (person.pk, _person_label(person))
                for person in found.exclude(pk__in=row.users)[:PEOPLE_FOUND]
            ]


def _context_roles() -> list[tuple[str, str]]:
    return [(role.code, role.label) for role in org_selectors.role_list()]


def _context(
    request: HttpRequest,
    template: ApprovalTemplate | None,
    form: forms.Form,
    state: editor.EditorState | None,
) -> dict[str, Any]:
    return {
        "form": form,
        "template": template,
        "state": state,
        "choices": {
            "field_types": editor.FIELD_TYPE_CHOICES,
            "column_types": editor.COLUMN_TYPE_CHOICES,
            "operators": editor.OPERATOR_CHOICES,
            "matches": editor.MATCH_CHOICES,
            "cc_at": editor.CC_AT_CHOICES,
            "kinds": ApproverKind.choices,
            "scopes": RoleScope.choices,
            "modes": NodeMode.choices,
            "roles": _context_roles(),
            "fields": state.field_options() if state is not None else [],
        },
    }


def _page(
    request: HttpRequest,
    template: ApprovalTemplate | None,
    form: forms.Form,
    *,
    mode: str,
    state: editor.EditorState | None = None,
) -> HttpResponse:
    preview = None
    if template is not None:
        definition = Definition.model_validate(template.current_version.definition)  # type: ignore[union-attr]
        roles = dict(_context_roles())
        preview = [
            {
                "node": node,
                "kind": ApproverKind(node.approver.kind).label,
                "role": roles.get(node.approver.role, node.approver.role),
                "mode": NodeMode(node.mode).label,
                "condition": editor.condition_text(definition, node.condition),
            }
            for node in definition.route
        ]
    context = {**_context(request, template, form, state), "mode": mode, "preview": preview}
    return render(request, "approvals/admin_template_edit.html", context)
