"""Forms of the master-data pages (partners, admissions, credit, commodities, warehouses, the
import). They parse input; the services decide and write. Company choices are built from the
permission predicates, so a form never offers a company the user may not write under."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from qinglian.core.forms import StyledFormMixin
from qinglian.core.workbook import XLSX_CONTENT_TYPE
from qinglian.org.models import Company, User

from .enums import (
    AdmissionStatus,
    ApprovalDocumentStatus,
    CreditGrade,
    PartnerKind,
    QualificationKind,
    WarehouseKind,
)
from .permissions import (
    TradingAction,
    can_edit_master_data,
    companies_for,
    master_data_company_ids,
)

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def master_companies_for(user: Any, action: TradingAction) -> QuerySet[Company]:
    """Companies whose shared master data `user` may create for `action`: those in reach
    (own scope and ancestors) where the action's role is held in the company or below."""
    ids = [
        company_id
        for company_id in master_data_company_ids(user)
        if can_edit_master_data(user, action, company_id)
    ]
    return Company.objects.filter(pk__in=ids).order_by("path")


def document_companies_for(user: Any, action: TradingAction) -> QuerySet[Company]:
    """Companies where `user` holds the action's role (documents: warehouses, applications)."""
    return Company.objects.filter(pk__in=companies_for(user, action)).order_by("path")


class CompanyField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Company) -> str:
        return obj.name


class _ChoosesCompany(forms.Form):
    """A create form whose first field picks the owning company; hidden when only one fits."""

    def set_companies(self, companies: QuerySet[Company]) -> None:
        field = self.fields["company"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = companies
        first = companies.first()
        if first is not None and not self.is_bound:
            self.initial.setdefault("company", first.pk)
        if companies.count() == 1:
            field.widget = forms.HiddenInput()


# ---------------------------------------------------------------- filters (GET)


class SearchForm(StyledFormMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Name or code")}),
    )

    def value(self, name: str) -> str:
        """The cleaned value, or "" for an invalid or absent one (filters never fail)."""
        if not self.is_valid():
            return ""
        return str(self.cleaned_data.get(name) or "")


class PartnerFilterForm(SearchForm):
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("All kinds")), *PartnerKind.choices],
    )
    admission = forms.ChoiceField(
        label=_("Admission"),
        required=False,
        choices=[("", _("Any admission")), *AdmissionStatus.choices],
    )


class StatusFilterForm(SearchForm):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *ApprovalDocumentStatus.choices],
    )


class WarehouseFilterForm(SearchForm):
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All kinds")), *WarehouseKind.choices]
    )


class ExpiringFilterForm(StyledFormMixin, forms.Form):
    days = forms.IntegerField(
        label=_("Expiring within (days)"), required=False, min_value=0, max_value=3650
    )

    def days_value(self, default: int) -> int:
        if self.is_valid() and self.cleaned_data.get("days") is not None:
            return int(self.cleaned_data["days"])
        return default


# ---------------------------------------------------------------- partners


class PartnerForm(StyledFormMixin, _ChoosesCompany):
    company = CompanyField(
        label=_("Owning company"),
        queryset=Company.objects.none(),
        help_text=_("Normally the group: the partner is then shared with every company."),
    )
    code = forms.CharField(label=_("Code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=PartnerKind.choices)
    uscc = forms.CharField(
        label=_("Unified social credit code"),
        max_length=18,
        required=False,
        help_text=_("18 characters, as printed on the business licence."),
    )
    bank_name = forms.CharField(label=_("Bank"), max_length=100, required=False)
    bank_account = forms.CharField(label=_("Bank account"), max_length=60, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    address = forms.CharField(label=_("Address"), max_length=255, required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["company"]
        else:
            del self.fields["is_active"]
            del self.fields["version"]
            self.set_companies(master_companies_for(user, TradingAction.PARTNER_EDIT))


class ContactForm(StyledFormMixin, forms.Form):
    name = forms.CharField(label=_("Contact"), max_length=60)
    position = forms.CharField(label=_("Position"), max_length=60, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    email = forms.CharField(label=_("E-mail"), max_length=254, required=False)


class QualificationForm(StyledFormMixin, forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=QualificationKind.choices)
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        help_text=_("Left blank, the kind names it."),
    )
    number = forms.CharField(label=_("Certificate number"), max_length=60, required=False)
    issued_on = forms.DateField(label=_("Issued on"), required=False, widget=DATE_INPUT)
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=DATE_INPUT,
        help_text=_("Valid up to and including this day; blank for no expiry."),
    )
    file = forms.FileField(
        label=_("Scan (PDF, JPEG or PNG)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )
    remove_file = forms.BooleanField(label=_("Remove the current scan"), required=False)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not editing:
            del self.fields["remove_file"]


class ReasonForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class SanctionForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 2})
    )


class AdmissionForm(StyledFormMixin, _ChoosesCompany):
    company = CompanyField(label=_("Applying company"), queryset=Company.objects.none())
    reason = forms.CharField(
        label=_("Why this supplier"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_companies(document_companies_for(user, TradingAction.SUPPLIER_ADMISSION))


class CreditChangeForm(StyledFormMixin, _ChoosesCompany):
    company = CompanyField(label=_("Proposing company"), queryset=Company.objects.none())
    credit_limit = forms.DecimalField(
        label=_("Credit limit"), min_value=0, max_digits=18, decimal_places=2
    )
    payment_days = forms.IntegerField(label=_("Payment terms (days)"), min_value=0, max_value=3650)
    credit_grade = forms.ChoiceField(
        label=_("Credit grade"), required=False, choices=[("", "—"), *CreditGrade.choices]
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_companies(document_companies_for(user, TradingAction.CREDIT_CHANGE))


# ---------------------------------------------------------------- commodities and warehouses


class CommodityForm(StyledFormMixin, _ChoosesCompany):
    company = CompanyField(
        label=_("Owning company"),
        queryset=Company.objects.none(),
        help_text=_("Normally the group: the commodity is then shared with every company."),
    )
    code = forms.CharField(label=_("Code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=100)
    spec = forms.CharField(label=_("Specification"), max_length=100, required=False)
    unit = forms.CharField(label=_("Unit"), max_length=10, initial="t")
    tolerance_percent = forms.DecimalField(
        label=_("Weighing tolerance (%)"),
        min_value=0,
        max_value=100,
        decimal_places=2,
        initial="0.30",
    )
    quantity_tolerance_percent = forms.DecimalField(
        label=_("Contract quantity tolerance (%)"),
        min_value=0,
        max_value=100,
        decimal_places=2,
        initial="5.00",
    )
    tax_rate = forms.DecimalField(
        label=_("VAT rate"),
        min_value=0,
        max_value=1,
        decimal_places=4,
        initial="0.1300",
        help_text=_("As a fraction: 0.13 for 13 %."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["company"]
        else:
            del self.fields["is_active"]
            del self.fields["version"]
            self.set_companies(master_companies_for(user, TradingAction.COMMODITY_EDIT))


class KeeperField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: User) -> str:
        return str(obj)


class WarehouseForm(StyledFormMixin, _ChoosesCompany):
    company = CompanyField(label=_("Company"), queryset=Company.objects.none())
    code = forms.CharField(label=_("Code"), max_length=40)
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), choices=WarehouseKind.choices)
    address = forms.CharField(label=_("Address"), max_length=255, required=False)
    keeper = KeeperField(label=_("Warehouse keeper"), queryset=User.objects.none(), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: Any, company_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keeper = self.fields["keeper"]
        assert isinstance(keeper, forms.ModelChoiceField)
        if company_id is not None:  # editing: the company stays
            del self.fields["company"]
            keeper.queryset = User.objects.filter(company_id=company_id, is_active=True)
        else:
            del self.fields["is_active"]
            del self.fields["version"]
            companies = document_companies_for(user, TradingAction.WAREHOUSE_EDIT)
            self.set_companies(companies)
            keeper.queryset = User.objects.filter(company__in=companies, is_active=True)
            keeper.help_text = _("A person of the warehouse's company.")
        keeper.queryset = keeper.queryset.order_by("employee_number")


# ---------------------------------------------------------------- the import


class WorkbookUploadForm(StyledFormMixin, forms.Form):
    file = forms.FileField(
        label=_("Workbook (.xlsx)"),
        widget=forms.FileInput(attrs={"accept": f".xlsx,{XLSX_CONTENT_TYPE}"}),
    )
    dry_run = forms.BooleanField(label=_("Only check the workbook, import nothing"), required=False)
