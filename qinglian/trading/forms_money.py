"""Forms of the money pages: invoices, payments and receipts, reversals, opening balances and
the ledger filters. They parse input; the services decide."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from qinglian.core.forms import StyledFormMixin
from qinglian.core.workbook import XLSX_CONTENT_TYPE
from qinglian.org.models import Company

from .enums import (
    ApprovedPostingStatus,
    InvoiceDirection,
    PartnerAccount,
    PaymentDirection,
    PostingStatus,
)
from .forms_contracts import choice_field, model_field
from .models import Contract, Partner
from .permissions import TradingAction, companies_for, master_data_company_ids, scoped
from .selectors import money as selectors

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MONEY_INPUT = {"inputmode": "decimal"}


def _value(form: forms.Form, name: str) -> str:
    return str(form.cleaned_data.get(name) or "") if form.is_valid() else ""


class InvoiceFilterForm(StyledFormMixin, forms.Form):
    direction = forms.ChoiceField(
        label=_("Direction"), required=False, choices=[("", _("All")), *InvoiceDirection.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *PostingStatus.choices]
    )
    search = forms.CharField(label=_("Search"), required=False, max_length=100)

    def value(self, name: str) -> str:
        return _value(self, name)


class PaymentFilterForm(StyledFormMixin, forms.Form):
    direction = forms.ChoiceField(
        label=_("Direction"), required=False, choices=[("", _("All")), *PaymentDirection.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *ApprovedPostingStatus.choices]
    )
    search = forms.CharField(label=_("Search"), required=False, max_length=100)

    def value(self, name: str) -> str:
        return _value(self, name)


class LedgerFilterForm(StyledFormMixin, forms.Form):
    company = forms.TypedChoiceField(
        label=_("Company"), required=False, coerce=int, empty_value=None
    )
    search = forms.CharField(label=_("Partner"), required=False, max_length=100)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        companies = scoped(Company.objects.all(), user, field="id").order_by("path")
        choice_field(self, "company").choices = [
            ("", _("All")),
            *companies.values_list("pk", "name"),
        ]

    def value(self, name: str) -> Any:
        return self.cleaned_data.get(name) if self.is_valid() else None


def _contract_label(contract: Contract) -> str:
    return f"{contract} · {contract.partner.name}"


class ContractChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Contract) -> str:
        return _contract_label(obj)


class InvoiceForm(StyledFormMixin, forms.Form):
    contract = ContractChoiceField(label=_("Contract"), queryset=Contract.objects.none())
    invoice_code = forms.CharField(label=_("Invoice code"), required=False, max_length=20)
    invoice_number = forms.CharField(
        label=_("Invoice number"),
        max_length=40,
        help_text=_("As printed on the invoice (leading zeros kept)."),
    )
    invoice_date = forms.DateField(label=_("Invoice date"), widget=DATE)
    amount = forms.DecimalField(
        label=_("Amount incl. VAT"), decimal_places=2, max_digits=18, min_value=Decimal("0.01")
    )
    tax_percent = forms.DecimalField(
        label=_("VAT (%)"),
        required=False,
        decimal_places=2,
        max_digits=5,
        min_value=0,
        help_text=_("Empty takes the contract's rate."),
    )
    remarks = forms.CharField(
        label=_("Remarks"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["amount"].widget.attrs.update(MONEY_INPUT)
        if editing:
            del self.fields["contract"]
            return
        model_field(self, "contract").queryset = selectors.contracts_for_money(user=user).filter(
            company_id__in=companies_for(user, TradingAction.INVOICE)
        )

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        tax = data.get("tax_percent")
        return {
            "invoice_code": data.get("invoice_code") or "",
            "invoice_number": data["invoice_number"],
            "invoice_date": data["invoice_date"],
            "amount": data["amount"],
            "tax_rate": (tax / 100) if tax is not None else None,
            "remarks": data.get("remarks") or "",
        }


class InvoiceReverseForm(StyledFormMixin, forms.Form):
    invoice_code = forms.CharField(
        label=_("Red-letter invoice code"), required=False, max_length=20
    )
    invoice_number = forms.CharField(label=_("Red-letter invoice number"), max_length=40)
    invoice_date = forms.DateField(label=_("Invoice date"), required=False, widget=DATE)
    reason = forms.CharField(
        label=_("Reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 2})
    )


class PaymentForm(StyledFormMixin, forms.Form):
    contract = ContractChoiceField(
        label=_("Contract"), required=False, queryset=Contract.objects.none()
    )
    company = forms.TypedChoiceField(
        label=_("Company"), required=False, coerce=int, empty_value=None
    )
    partner = forms.ModelChoiceField(
        label=_("Counterparty"), required=False, queryset=Partner.objects.none()
    )
    direction = forms.ChoiceField(
        label=_("Direction"), required=False, choices=PaymentDirection.choices
    )
    amount = forms.DecimalField(
        label=_("Amount"), decimal_places=2, max_digits=18, min_value=Decimal("0.01")
    )
    paid_on = forms.DateField(label=_("Date"), widget=DATE)
    invoice = forms.TypedChoiceField(
        label=_("Invoice"), required=False, coerce=int, empty_value=None
    )
    is_exception = forms.BooleanField(
        label=_("Exception beyond the allowed amount"),
        required=False,
        help_text=_("Only with a reason; the approval then goes one level higher."),
    )
    exception_reason = forms.CharField(
        label=_("Reason for the exception"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    bank_account = forms.CharField(label=_("Bank account"), required=False, max_length=40)
    remarks = forms.CharField(
        label=_("Remarks"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        *args: Any,
        user: Any,
        contract: Contract | None = None,
        editing: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["amount"].widget.attrs.update(MONEY_INPUT)
        companies = companies_for(user, TradingAction.PAYMENT)
        invoices = selectors.invoice_list(user=user, status=PostingStatus.POSTED).filter(
            reverses__isnull=True
        )
        if editing is not None:
            for name in ("contract", "company", "partner", "direction"):
                del self.fields[name]
            invoices = invoices.filter(partner_id=editing.partner_id, company_id=editing.company_id)
            if editing.contract_id:
                invoices = invoices.filter(
                    contract__original_id=editing.contract.original_id or editing.contract_id
                )
            if editing.direction != PaymentDirection.OUT:
                del self.fields["is_exception"]
                del self.fields["exception_reason"]
        elif contract is not None:
            model_field(self, "contract").queryset = Contract.objects.filter(
                pk=contract.pk
            ).select_related("partner")
            self.fields["contract"].initial = contract.pk
            self.fields["contract"].required = True
            for name in ("company", "partner", "direction"):
                del self.fields[name]
            invoices = invoices.filter(contract__original_id=contract.original_id or contract.pk)
            if selectors.payment_direction_for(contract.kind) != PaymentDirection.OUT:
                del self.fields["is_exception"]
                del self.fields["exception_reason"]
        else:
            del self.fields["contract"]
            self.fields["company"].required = True
            self.fields["partner"].required = True
            self.fields["direction"].required = True
            choice_field(self, "company").choices = list(
                Company.objects.filter(pk__in=companies).values_list("pk", "name")
            )
            model_field(self, "partner").queryset = Partner.objects.filter(
                company_id__in=master_data_company_ids(user), is_active=True
            ).order_by("name")
            invoices = invoices.none()
        choice_field(self, "invoice").choices = [
            ("", "—"),
            *[
                (invoice.pk, f"{invoice.invoice_number} · ¥{invoice.amount}")
                for invoice in invoices[:200]
            ],
        ]

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        values: dict[str, Any] = {
            "amount": data["amount"],
            "paid_on": data["paid_on"],
            "invoice_id": data.get("invoice"),
            "bank_account": data.get("bank_account") or "",
            "remarks": data.get("remarks") or "",
        }
        if "is_exception" in self.fields:
            values["is_exception"] = bool(data.get("is_exception"))
            values["exception_reason"] = data.get("exception_reason") or ""
        return values

    def target_values(self) -> dict[str, Any]:
        """Where a new payment goes: its contract, or company, partner and direction."""
        data = self.cleaned_data
        if "contract" in self.fields:
            return {"contract_id": data["contract"].pk}
        return {
            "company_id": data["company"],
            "partner_id": data["partner"].pk,
            "direction": data["direction"],
        }


class PaymentReverseForm(StyledFormMixin, forms.Form):
    reversed_on = forms.DateField(label=_("Date"), required=False, widget=DATE)
    reason = forms.CharField(
        label=_("Reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 2})
    )


class OpeningBalanceForm(StyledFormMixin, forms.Form):
    company = forms.TypedChoiceField(label=_("Company"), coerce=int)
    partner = forms.ModelChoiceField(label=_("Counterparty"), queryset=Partner.objects.none())
    account = forms.ChoiceField(label=_("Account"), choices=PartnerAccount.choices)
    amount = forms.DecimalField(
        label=_("Amount"),
        decimal_places=2,
        max_digits=18,
        help_text=_("Negative for an advance (paid or received before invoicing)."),
    )
    posting_date = forms.DateField(label=_("Opening date"), widget=DATE)
    due_date = forms.DateField(label=_("Due date"), required=False, widget=DATE)
    contract = ContractChoiceField(
        label=_("Contract"), required=False, queryset=Contract.objects.none()
    )
    reference = forms.CharField(label=_("Reference"), required=False, max_length=100)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        companies = companies_for(user, TradingAction.OPENING_BALANCES)
        choice_field(self, "company").choices = list(
            Company.objects.filter(pk__in=companies).values_list("pk", "name")
        )
        if len(companies) == 1:
            self.fields["company"].initial = companies[0]
            self.fields["company"].widget = forms.HiddenInput()
        model_field(self, "partner").queryset = Partner.objects.filter(
            company_id__in=master_data_company_ids(user), is_active=True
        ).order_by("name")
        model_field(self, "contract").queryset = selectors.contracts_for_money(user=user).filter(
            company_id__in=companies
        )

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "company_id": data["company"],
            "partner_id": data["partner"].pk,
            "account": data["account"],
            "amount": data["amount"],
            "posting_date": data["posting_date"],
            "due_date": data.get("due_date"),
            "contract_id": data["contract"].pk if data.get("contract") else None,
            "reference": data.get("reference") or "",
        }


class ReasonForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=100)


class WorkbookUploadForm(StyledFormMixin, forms.Form):
    file = forms.FileField(
        label=_("Workbook (.xlsx)"),
        widget=forms.FileInput(attrs={"accept": f".xlsx,{XLSX_CONTENT_TYPE}"}),
    )
    dry_run = forms.BooleanField(label=_("Only check the workbook, import nothing"), required=False)
