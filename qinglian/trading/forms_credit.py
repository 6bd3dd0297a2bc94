"""Forms of the credit pages (exceptions, the credit policy, filters). They parse input; the
services decide and write. Choices come from the permission predicates and scoped selectors,
so a form never offers a company, customer or contract the user may not use."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from qinglian.core import clock
from qinglian.core.forms import StyledFormMixin
from qinglian.org.models import Company

from .enums import PartnerKind
from .forms_master import CompanyField, document_companies_for
from .models import Contract, CreditExceptionStatus, Partner
from .permissions import TradingAction, master_data_company_ids
from .selectors import credit as selectors

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class _FilterForm(StyledFormMixin, forms.Form):
    def value(self, name: str) -> str:
        """The cleaned value, or "" for an invalid or absent one (filters never fail)."""
        if not self.is_valid():
            return ""
        return str(self.cleaned_data.get(name) or "")


class CreditFilterForm(_FilterForm):
    blocked = forms.BooleanField(label=_("Only blocked customers"), required=False)


class ExceptionFilterForm(_FilterForm):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *CreditExceptionStatus.choices],
    )


class PartnerField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Partner) -> str:
        return f"{obj.code} {obj.name}"


class ContractField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Contract) -> str:
        return f"{obj} · {obj.get_status_display()} · {obj.total_amount}"


def customers_for(user: Any) -> QuerySet[Partner]:
    """Active customers whose master data the user reads."""
    return Partner.objects.filter(
        company_id__in=master_data_company_ids(user),
        kind__in=[PartnerKind.CUSTOMER, PartnerKind.BOTH],
        is_active=True,
    ).order_by("code")


class CreditExceptionForm(StyledFormMixin, forms.Form):
    company = CompanyField(label=_("Requesting company"), queryset=Company.objects.none())
    partner = PartnerField(label=_("Customer"), queryset=Partner.objects.none())
    amount = forms.DecimalField(
        label=_("Amount allowed over the credit limit"),
        min_value=0,
        max_digits=18,
        decimal_places=2,
        initial=0,
        help_text=_("0 when only the overdue block is to be lifted."),
    )
    allow_overdue = forms.BooleanField(
        label=_("Lift the overdue block"),
        required=False,
        help_text=_("Lets one shipment or contract through although the customer owes overdue."),
    )
    valid_until = forms.DateField(label=_("Valid until"), widget=DATE_INPUT)
    contract = ContractField(
        label=_("Only for this sales contract"),
        required=False,
        queryset=Contract.objects.none(),
        help_text=_("Leave empty for the next goods issue or sales contract of the customer."),
    )
    stock_document = forms.IntegerField(required=False, widget=forms.HiddenInput())
    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, user: Any, partner_id: int | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        companies = document_companies_for(user, TradingAction.CREDIT_CHANGE)
        company_field = self.fields["company"]
        assert isinstance(company_field, forms.ModelChoiceField)
        company_field.queryset = companies
        first = companies.first()
        if first is not None and not self.is_bound:
            self.initial.setdefault("company", first.pk)
        if companies.count() == 1:
            company_field.widget = forms.HiddenInput()
        partner_field = self.fields["partner"]
        assert isinstance(partner_field, forms.ModelChoiceField)
        partner_field.queryset = customers_for(user)
        contract_field = self.fields["contract"]
        assert isinstance(contract_field, forms.ModelChoiceField)
        contract_field.queryset = selectors.sales_contracts_for_exception(
            user=user, partner_id=partner_id
        )
        if not self.is_bound:
            self.initial.setdefault("valid_until", clock.today())


class CreditPolicyForm(StyledFormMixin, forms.Form):
    include_receivables = forms.BooleanField(label=_("Count open receivables"), required=False)
    include_uninvoiced = forms.BooleanField(
        label=_("Count goods issued but not invoiced"), required=False
    )
    include_open_orders = forms.BooleanField(
        label=_("Count open sales orders"),
        required=False,
        help_text=_("What effective sales contracts still promise beyond what was issued."),
    )
    overdue_block_enabled = forms.BooleanField(
        label=_("Block customers with overdue debt"), required=False
    )
    overdue_block_days = forms.IntegerField(
        label=_("Blocked when debt is more than this many days past due"),
        min_value=0,
        max_value=3650,
    )
    overdue_block_amount = forms.DecimalField(
        label=_("…and exceeds this amount"), min_value=0, max_digits=18, decimal_places=2
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput())
