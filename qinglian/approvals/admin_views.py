"""Approval-flow administration: the group's IT administrators edit templates; each change of
the definition becomes a new version (running requests keep theirs)."""

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
from qinglian.org.scopes import can_administer_group

from . import selectors, services
from .definitions import Definition
from .enums import SelfApprovalRule


def _require_flow_admin(user: Any) -> None:
    if not can_administer_group(user):
        raise PermissionDenied(_("Only an IT administrator of the group edits approval flows."))


class TemplateForm(StyledFormMixin, forms.Form):
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


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def template_edit(request: HttpRequest, code: str | None = None) -> HttpResponse:
    _require_flow_admin(request.user)
    template = None
    initial: dict[str, Any] = {
        "self_approval_rule": SelfApprovalRule.SUPERIOR,
        "skip_repeated_approver": True,
        "resume_at_returning_node": True,
        "is_active": True,
        "definition": json.dumps(
            {"fields": [], "route": [], "cc": []}, ensure_ascii=False, indent=2
        ),
    }
    if code is not None:
        template = selectors.template_list(active_only=False).filter(code=code).first()
        if template is None or template.current_version is None:
            raise NotFound(_("Approval flow not found."))
        initial = {
            "code": template.code,
            "name": template.name,
            "category": template.category,
            "description": template.description,
            "self_approval_rule": template.self_approval_rule,
            "skip_repeated_approver": template.skip_repeated_approver,
            "resume_at_returning_node": template.resume_at_returning_node,
            "is_active": template.is_active,
            "definition": json.dumps(
                template.current_version.definition, ensure_ascii=False, indent=2
            ),
        }
    form = TemplateForm(request.POST if request.method == "POST" else None, initial=initial)
    if template is not None:
        form.fields["code"].disabled = True
    if form.is_valid():
        data = dict(form.cleaned_data)
        try:
            saved = services.template_save(
                actor=request.user,
                document_type=template.document_type if template else "",
                **data,
            )
        except ValidationFailed as error:
            add_service_errors(form, error)
            for path, problems in error.fields.items():
                for problem in problems:
                    form.add_error("definition", f"{path}: {problem}")
        else:
            messages.success(
                request,
                _("Saved %(name)s, version %(number)d.")
                % {"name": saved.name, "number": saved.current_version.number},  # type: ignore[union-attr]
            )
            return redirect("approvals:admin_templates")
    preview = None
    if template is not None:
        preview = Definition.model_validate(template.current_version.definition)  # type: ignore[union-attr]
    return render(
        request,
        "approvals/admin_template_edit.html",
        {"form": form, "template": template, "preview": preview},
    )
