"""Forms of the supervision pages: parsing only; the services decide."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from qinglian.core import clock
from qinglian.core.forms import StyledFormMixin

from . import registry
from .dashboard import DashboardFilter
from .enums import Area, CaseStatus, FindingStatus, ParameterKind, Severity
from .selectors import (
    CaseFilter,
    FindingFilter,
    companies_for_choice,
    departments_of,
    people_of,
)

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _choice_field(form: forms.Form, name: str) -> forms.ChoiceField:
    return cast(forms.ChoiceField, form.fields[name])


def _blank(label: Any) -> list[tuple[str, Any]]:
    return [("", label)]


def _company_choices(company_ids: Collection[int]) -> list[tuple[str, Any]]:
    return _blank(_("All companies")) + [
        (str(company.pk), company.short_name or company.name)
        for company in companies_for_choice(company_ids)
    ]


def _month_field(label: Any) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
    )


def clean_month(value: str) -> str:
    value = (value or "").strip()
    return value if MONTH.match(value) else ""


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class FindingFilterForm(StyledFormMixin, forms.Form):
    company = forms.ChoiceField(label=_("Company"), required=False)
    rule = forms.ChoiceField(label=_("Rule"), required=False)
    area = forms.ChoiceField(
        label=_("Area"), required=False, choices=_blank(_("All areas")) + Area.choices
    )
    severity = forms.ChoiceField(
        label=_("Severity"), required=False, choices=_blank(_("All")) + Severity.choices
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[
            ("", _("All")),
            ("live", _("Still waiting (open, dismissal pending, in a case)")),
            *FindingStatus.choices,
        ],
    )
    month = _month_field(_("Found in"))
    q = forms.CharField(label=_("Search"), required=False, max_length=100)

    def __init__(self, data: Any, *, company_ids: Collection[int]) -> None:
        super().__init__(data)
        _choice_field(self, "company").choices = _company_choices(company_ids)
        _choice_field(self, "rule").choices = _blank(_("All rules")) + [
            (rule.code, f"{rule.number}. {rule.title}") for rule in registry.all_rules()
        ]

    def filters(self) -> FindingFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return FindingFilter(
            company_id=_int_or_none(data.get("company")),
            area=data.get("area", ""),
            rule_code=data.get("rule", ""),
            severity=data.get("severity", ""),
            status=data.get("status", ""),
            month=clean_month(data.get("month", "")),
            search=(data.get("q") or "").strip(),
        )


class CaseFilterForm(StyledFormMixin, forms.Form):
    company = forms.ChoiceField(label=_("Company"), required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), ("open", _("Not closed")), *CaseStatus.choices],
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    escalated = forms.BooleanField(label=_("Escalated only"), required=False)
    month = _month_field(_("Opened in"))
    closed_month = _month_field(_("Closed in"))
    rule = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data: Any, *, company_ids: Collection[int]) -> None:
        super().__init__(data)
        _choice_field(self, "company").choices = _company_choices(company_ids)

    def filters(self) -> CaseFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return CaseFilter(
            company_id=_int_or_none(data.get("company")),
            status=data.get("status", ""),
            is_overdue=bool(data.get("overdue")),
            is_escalated=bool(data.get("escalated")),
            rule_code=(data.get("rule") or "").strip(),
            month=clean_month(data.get("month", "")),
            closed_month=clean_month(data.get("closed_month", "")),
        )


class DashboardFilterForm(StyledFormMixin, forms.Form):
    company = forms.ChoiceField(label=_("Company"), required=False)
    months = forms.TypedChoiceField(
        label=_("Trend over"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(6, _("6 months")), (12, _("12 months")), (24, _("24 months"))],
        initial=12,
    )

    def __init__(self, data: Any, *, company_ids: Collection[int]) -> None:
        super().__init__(data)
        _choice_field(self, "company").choices = _company_choices(company_ids)

    def filters(self) -> DashboardFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return DashboardFilter(
            company_id=_int_or_none(data.get("company")), months=data.get("months") or 12
        )


class ReasonForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class CommentForm(StyledFormMixin, forms.Form):
    comment = forms.CharField(
        label=_("Comment"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class CaseOpenForm(StyledFormMixin, forms.Form):
    company = forms.TypedChoiceField(label=_("Responsible company"), coerce=int)
    department = forms.TypedChoiceField(
        label=_("Responsible department"), coerce=int, required=False, empty_value=None
    )
    assignee = forms.TypedChoiceField(
        label=_("Responsible person"), coerce=int, required=False, empty_value=None
    )
    deadline = forms.DateField(
        label=_("Rectification deadline"),
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    instructions = forms.CharField(
        label=_("What must be rectified"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(
        self, data: Any, *, company_ids: Collection[int], initial: dict[str, Any] | None = None
    ) -> None:
        super().__init__(data, initial=initial)
        _choice_field(self, "company").choices = [
            (company.pk, company.short_name or company.name)
            for company in companies_for_choice(company_ids)
        ]
        _choice_field(self, "department").choices = _blank("—") + [
            (
                department.pk,
                f"{department.company.short_name or department.company.name} · {department.name}",
            )
            for department in departments_of(company_ids).select_related("company")
        ]
        _choice_field(self, "assignee").choices = _blank("—") + [
            (person.pk, f"{person.name or person.username}（{person.employee_number}）")
            for person in people_of(company_ids)
        ]
        self.fields["deadline"].widget.attrs["min"] = clock.today().isoformat()


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        if isinstance(data, (list, tuple)):
            return [super(MultipleFileField, self).clean(item, initial) for item in data if item]
        return [super().clean(data, initial)] if data else []


class RectificationForm(StyledFormMixin, forms.Form):
    text = forms.CharField(
        label=_("What was done"), max_length=5000, widget=forms.Textarea(attrs={"rows": 5})
    )
    attachments = MultipleFileField(
        label=_("Evidence (files)"),
        required=False,
        help_text=_("Up to 10 files of at most 20 MB each: decisions, receipts, photos."),
    )


class VerifyForm(StyledFormMixin, forms.Form):
    decision = forms.ChoiceField(
        label=_("Verdict"),
        choices=[("accept", _("Accept: close the case")), ("reject", _("Reject: rectify again"))],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required when rejecting: what is still missing."),
    )
    new_deadline = forms.DateField(
        label=_("New deadline (when rejecting)"),
        required=False,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )


class RuleParametersForm(StyledFormMixin, forms.Form):
    """One field per declared parameter, plus enabled, a reason and the version seen."""

    is_enabled = forms.BooleanField(label=_("Enabled"), required=False)
    reason = forms.CharField(
        label=_("Reason for the change"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, data: Any, *, rule: registry.Rule, initial: dict[str, Any]) -> None:
        super().__init__(data, initial=initial)
        self.rule = rule
        for parameter in rule.parameters:
            field: forms.Field
            if parameter.kind == ParameterKind.BOOLEAN:
                field = forms.BooleanField(required=False)
            elif parameter.kind == ParameterKind.CODES:
                field = forms.CharField(required=False, max_length=1000)
            else:
                attrs: dict[str, Any] = {"inputmode": "decimal"}
                if parameter.minimum is not None:
                    attrs["min"] = str(parameter.minimum)
                if parameter.maximum is not None:
                    attrs["max"] = str(parameter.maximum)
                field = forms.CharField(max_length=40, widget=forms.TextInput(attrs=attrs))
            field.label = str(parameter.label)
            field.help_text = str(parameter.help)
            self.fields[f"p_{parameter.key}"] = field
        self.order_fields(
            [f"p_{p.key}" for p in rule.parameters] + ["is_enabled", "reason", "version"]
        )

    @staticmethod
    def initial_for(rule: registry.Rule, stored: dict[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for parameter in rule.parameters:
            value = stored.get(parameter.key)
            if parameter.kind == ParameterKind.CODES:
                value = ", ".join(value or [])
            initial[f"p_{parameter.key}"] = value
        return initial

    def parameters(self) -> dict[str, Any]:
        return {
            parameter.key: self.cleaned_data.get(f"p_{parameter.key}")
            for parameter in self.rule.parameters
        }
