"""Forms of the contract pages: the header, the lines (a formset; HTMX adds and removes rows),
and the small forms of the lifecycle actions. They parse input; the services decide."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from qinglian.core.forms import StyledFormMixin
from qinglian.org.models import Company, Department, User

from .enums import AdmissionStatus, ContractKind, ContractStatus, PartnerKind, PaymentTerm
from .models import Commodity, Contract, Partner
from .permissions import TradingAction, companies_for, master_data_company_ids

LINE_PREFIX = "lines"
MAX_LINES = 500
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def model_field(form: forms.BaseForm, name: str) -> forms.ModelChoiceField[Any]:
    field = form.fields[name]
    assert isinstance(field, forms.ModelChoiceField)
    return field


def choice_field(form: forms.BaseForm, name: str) -> forms.ChoiceField:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return field


def contract_action(kind: str) -> TradingAction:
    return (
        TradingAction.PURCHASE_CONTRACT
        if kind == ContractKind.PURCHASE
        else TradingAction.SALES_CONTRACT
    )


class ContractFilterForm(StyledFormMixin, forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All")), *ContractKind.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Current")), *ContractStatus.choices]
    )
    search = forms.CharField(label=_("Search"), required=False, max_length=100)

    def value(self, name: str) -> str:
        return str(self.cleaned_data.get(name) or "") if self.is_valid() else ""


class ContractForm(StyledFormMixin, forms.Form):
    company = forms.TypedChoiceField(label=_("Company"), coerce=int)
    partner = forms.ModelChoiceField(label=_("Counterparty"), queryset=Partner.objects.none())
    number = forms.CharField(
        label=_("Contract number"),
        required=False,
        max_length=60,
        help_text=_("Leave empty to number it automatically."),
    )
    signed_on = forms.DateField(label=_("Signed on"), required=False, widget=DATE)
    delivery_start = forms.DateField(label=_("Delivery from"), required=False, widget=DATE)
    delivery_end = forms.DateField(label=_("Delivery until"), required=False, widget=DATE)
    end_on = forms.DateField(label=_("Expires on"), required=False, widget=DATE)
    payment_term = forms.ChoiceField(label=_("Payment terms"), choices=PaymentTerm.choices)
    prepayment_percent = forms.DecimalField(
        label=_("Prepayment (%)"),
        required=False,
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        decimal_places=2,
        max_digits=5,
    )
    credit_days = forms.IntegerField(
        label=_("Credit days"),
        required=False,
        min_value=0,
        max_value=3650,
        help_text=_("Days after the invoice; empty uses the partner's payment terms."),
    )
    owner = forms.ModelChoiceField(label=_("Person responsible"), queryset=User.objects.none())
    department = forms.ModelChoiceField(
        label=_("Department"), required=False, queryset=Department.objects.none()
    )
    remarks = forms.CharField(
        label=_("Remarks"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self, *args: Any, user: Any, kind: str, contract: Contract | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        company_ids = companies_for(user, contract_action(kind))
        if contract is not None:
            company_ids = [contract.company_id]
            del self.fields["number"]
        choice_field(self, "company").choices = list(
            Company.objects.filter(pk__in=company_ids).values_list("pk", "name")
        )
        if len(company_ids) == 1:
            self.fields["company"].initial = company_ids[0]
            self.fields["company"].widget = forms.HiddenInput()
        partners = Partner.objects.filter(
            company_id__in=master_data_company_ids(user), is_active=True
        )
        if kind == ContractKind.PURCHASE:
            partners = partners.filter(
                kind__in=[PartnerKind.SUPPLIER, PartnerKind.BOTH],
                admission_status=AdmissionStatus.ADMITTED,
            )
        else:
            partners = partners.filter(kind__in=[PartnerKind.CUSTOMER, PartnerKind.BOTH])
        if contract is not None:
            partners = Partner.objects.filter(Q(pk__in=partners) | Q(pk=contract.partner_id))
            if contract.amends_id:
                partners = Partner.objects.filter(pk=contract.partner_id)
        model_field(self, "partner").queryset = partners.order_by("name")
        model_field(self, "owner").queryset = User.objects.filter(
            company_id__in=company_ids, is_active=True
        ).order_by("name")
        self.fields["owner"].initial = getattr(user, "pk", None)
        model_field(self, "department").queryset = Department.objects.filter(
            company_id__in=company_ids, is_active=True
        ).order_by("name")

    def service_values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        values = {
            "partner_id": data["partner"].pk,
            "signed_on": data.get("signed_on"),
            "delivery_start": data.get("delivery_start"),
            "delivery_end": data.get("delivery_end"),
            "end_on": data.get("end_on"),
            "payment_term": data["payment_term"],
            "prepayment_percent": data.get("prepayment_percent") or Decimal("0"),
            "credit_days": data.get("credit_days") or 0,
            "owner_id": data["owner"].pk,
            "department_id": data["department"].pk if data.get("department") else None,
            "remarks": data.get("remarks") or "",
        }
        return values


class ContractLineForm(StyledFormMixin, forms.Form):
    line_number = forms.IntegerField(widget=forms.HiddenInput, required=False)
    commodity = forms.ModelChoiceField(label=_("Commodity"), queryset=Commodity.objects.none())
    quantity = forms.DecimalField(label=_("Quantity"), decimal_places=3, max_digits=18)
    unit_price = forms.DecimalField(
        label=_("Unit price incl. VAT"), decimal_places=4, max_digits=18
    )
    tax_percent = forms.DecimalField(
        label=_("VAT (%)"), required=False, decimal_places=2, max_digits=5, min_value=0
    )
    quantity_tolerance_percent = forms.DecimalField(
        label=_("Tolerance (%)"), required=False, decimal_places=2, max_digits=5, min_value=0
    )

    def __init__(self, *args: Any, commodities: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if commodities is not None:
            model_field(self, "commodity").queryset = commodities
        for name in ("quantity", "unit_price", "tax_percent", "quantity_tolerance_percent"):
            self.fields[name].widget.attrs.setdefault("inputmode", "decimal")

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        tax = data.get("tax_percent")
        return {
            "line_number": data.get("line_number"),
            "commodity_id": data["commodity"].pk,
            "quantity": data["quantity"],
            "unit_price": data["unit_price"],
            "tax_rate": (tax / 100) if tax is not None else None,
            "quantity_tolerance_percent": data.get("quantity_tolerance_percent"),
        }


ContractLineFormSet = forms.formset_factory(
    ContractLineForm, extra=0, max_num=MAX_LINES, absolute_max=MAX_LINES
)


def commodities_for(user: Any) -> Any:
    return Commodity.objects.filter(
        company_id__in=master_data_company_ids(user), is_active=True
    ).order_by("code")


_LINE_KEY = re.compile(rf"^{LINE_PREFIX}-(\d+)-")


def next_line_index(data: Any) -> int:
    """One past the highest row index in `data` (rows are numbered as the page adds them and
    keep their number when rows before them are removed)."""
    indexes = [int(match.group(1)) for key in data if (match := _LINE_KEY.match(key))]
    return min(max(indexes, default=-1) + 1, MAX_LINES)


def line_formset(data: Any, *, user: Any, contract: Contract | None = None) -> Any:
    """The lines of a contract. Every row is an "extra" form and the row count is taken from
    the rows actually sent, so a row removed from the page, or left empty, is simply not
    there."""
    form_kwargs = {"commodities": commodities_for(user)}
    if data is not None:
        data = data.copy()
        data[f"{LINE_PREFIX}-TOTAL_FORMS"] = str(next_line_index(data))
        data[f"{LINE_PREFIX}-INITIAL_FORMS"] = "0"
        data.setdefault(f"{LINE_PREFIX}-MIN_NUM_FORMS", "0")
        data.setdefault(f"{LINE_PREFIX}-MAX_NUM_FORMS", str(MAX_LINES))
        return ContractLineFormSet(data, prefix=LINE_PREFIX, form_kwargs=form_kwargs)
    initial = [
        {
            "line_number": line.line_number,
            "commodity": line.commodity_id,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "tax_percent": (line.tax_rate * 100).quantize(Decimal("0.01")),
            "quantity_tolerance_percent": line.quantity_tolerance_percent,
        }
        for line in (contract.lines.all() if contract is not None else [])
    ]
    factory = forms.formset_factory(ContractLineForm, extra=0 if initial else 1)
    return factory(initial=initial or None, prefix=LINE_PREFIX, form_kwargs=form_kwargs)


def empty_line_form(*, user: Any, index: int) -> ContractLineForm:
    return ContractLineForm(prefix=f"{LINE_PREFIX}-{index}", commodities=commodities_for(user))


class ReasonForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 2})
    )


class OptionalReasonForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=255, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class TerminateForm(ReasonForm):
    terminated_on = forms.DateField(label=_("Terminated on"), required=False, widget=DATE)
