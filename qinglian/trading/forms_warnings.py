"""Forms of the warning pages: the list's filter, acknowledging and resolving a warning, and a
company's thresholds. They parse input; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from qinglian.core.forms import StyledFormMixin
from qinglian.org.models import Company

from .models.warnings import WarningCode, WarningKind, WarningState


class WarningFilterForm(StyledFormMixin, forms.Form):
    """A GET filter: invalid input filters nothing rather than failing the page."""

    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All")), *WarningKind.choices]
    )
    code = forms.ChoiceField(
        label=_("Warning"), required=False, choices=[("", _("All")), *WarningCode.choices]
    )
    state = forms.ChoiceField(
        label=_("State"),
        required=False,
        choices=[
            ("unresolved", _("Not resolved")),
            ("", _("All")),
            *WarningState.choices,
        ],
    )
    company = forms.ChoiceField(label=_("Company"), required=False)
    mine = forms.BooleanField(label=_("Mine only"), required=False)

    def __init__(self, *args: Any, company_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["company"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("", _("All")),
            *Company.objects.filter(pk__in=company_ids).order_by("path").values_list("pk", "name"),
        ]
        if len(company_ids) < 2:
            field.widget = forms.HiddenInput()

    def value(self, name: str) -> Any:
        if not self.is_bound:
            return "unresolved" if name == "state" else None
        return self.cleaned_data.get(name) if self.is_valid() else None


class AcknowledgeForm(StyledFormMixin, forms.Form):
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What you are doing about it (optional)."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class ResolveForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("How it was resolved"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class ThresholdsForm(StyledFormMixin, forms.Form):
    contract_expiring_days = forms.IntegerField(
        label=_("Warn this many days before a contract expires"), min_value=0, max_value=3650
    )
    overdue_grace_days = forms.IntegerField(
        label=_("Receivables overdue by more than this many days"), min_value=0, max_value=3650
    )
    overdue_min_amount = forms.DecimalField(
        label=_("Overdue amounts above (CNY)"), min_value=0, max_digits=18, decimal_places=2
    )
    credit_usage_percent = forms.DecimalField(
        label=_("Credit exposure above this percentage of the limit"),
        min_value=0,
        max_value=1000,
        max_digits=6,
        decimal_places=2,
    )
    stock_variance_tolerance_percent = forms.DecimalField(
        label=_("Stocktake variance tolerance (%)"),
        required=False,
        min_value=0,
        max_value=1000,
        max_digits=6,
        decimal_places=2,
        help_text=_("Empty: each commodity's own tolerance."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def values(self) -> dict[str, Any]:
        return {name: value for name, value in self.cleaned_data.items() if name != "version"}
