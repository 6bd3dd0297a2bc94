"""Forms of the stock pages: goods receipts and issues (a header and one row per contract
line), reversals, stocktakes (one row per commodity), the filters of the lists, balances,
ledger and summary, and the opening-stock import. They parse input; the services decide."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from qinglian.core import clock
from qinglian.core.errors import ApplicationError
from qinglian.core.forms import StyledFormMixin
from qinglian.org.models import Company

from .enums import (
    ApprovedPostingStatus,
    ContractKind,
    ContractStatus,
    PostingStatus,
    StockDirection,
    StockDocumentKind,
    StockEntryKind,
    StocktakeKind,
)
from .models import Commodity, Contract, Warehouse
from .permissions import TradingAction, companies_for, master_data_company_ids

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
LINE_PREFIX = "lines"
ACTION_FOR = {
    StockDocumentKind.RECEIPT: TradingAction.GOODS_RECEIPT,
    StockDocumentKind.ISSUE: TradingAction.GOODS_ISSUE,
}
CONTRACT_KIND_FOR = {
    StockDocumentKind.RECEIPT: ContractKind.PURCHASE,
    StockDocumentKind.ISSUE: ContractKind.SALES,
}


def _choices(form: forms.BaseForm, name: str) -> forms.ChoiceField:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return field


def _quantity_field(label: Any, *, required: bool = False, **extra: Any) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        widget=forms.NumberInput(attrs={"step": "0.001", "inputmode": "decimal"}),
        max_digits=18,
        decimal_places=3,
        **extra,
    )


class FilterForm(StyledFormMixin, forms.Form):
    """A GET filter: invalid input filters nothing rather than failing the page."""

    def value(self, name: str) -> Any:
        return self.cleaned_data.get(name) if self.is_valid() else None


# ---------------------------------------------------------------- receipts and issues


class DocumentFilterForm(FilterForm):
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All")), *StockDocumentKind.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *PostingStatus.choices]
    )
    search = forms.CharField(label=_("Search"), required=False, max_length=100)


def writable_contracts(user: Any, kind: str) -> list[Contract]:
    """Effective contracts of the kind the document needs, in companies where the user may
    post it."""
    company_ids = companies_for(user, ACTION_FOR[StockDocumentKind(kind)])
    return list(
        Contract.objects.filter(
            company_id__in=company_ids,
            kind=CONTRACT_KIND_FOR[StockDocumentKind(kind)],
            status=ContractStatus.EFFECTIVE,
        )
        .select_related("partner")
        .order_by("-id")[:200]
    )


class ContractChoiceForm(StyledFormMixin, forms.Form):
    """Step one of a new receipt or issue: which contract."""

    contract = forms.TypedChoiceField(label=_("Contract"), coerce=int)

    def __init__(self, *args: Any, user: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "contract").choices = [
            (c.pk, f"{c} · {c.partner.name}") for c in writable_contracts(user, kind)
        ]


class DocumentForm(StyledFormMixin, forms.Form):
    warehouse = forms.TypedChoiceField(label=_("Warehouse"), coerce=int)
    posting_date = forms.DateField(label=_("Date"), widget=DATE)
    remarks = forms.CharField(
        label=_("Remarks"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args: Any, company_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        warehouses = Warehouse.objects.filter(company_id=company_id, is_active=True).order_by(
            "code"
        )
        _choices(self, "warehouse").choices = [(w.pk, f"{w.code} {w.name}") for w in warehouses]
        self.fields["posting_date"].initial = clock.today()


class DocumentLineForm(StyledFormMixin, forms.Form):
    """One contract line: how much arrives or leaves now (blank: this line is not in the
    document)."""

    contract_line = forms.IntegerField(widget=forms.HiddenInput)
    quantity = _quantity_field(_("Document quantity"), min_value=Decimal("0.001"))
    weighed_quantity = _quantity_field(_("Weighed quantity"), min_value=Decimal("0"))
    difference_reason = forms.CharField(
        label=_("Reason for the difference"), required=False, max_length=255
    )


DocumentLineFormSet = forms.formset_factory(DocumentLineForm, extra=0)


def document_line_formset(
    data: Mapping[str, Any] | None, contract: Contract, existing: Sequence[Any] = ()
) -> Any:
    """One row per line of the contract; a draft's lines fill their rows."""
    by_line = {line.contract_line_id: line for line in existing}
    initial = []
    for line in contract.lines.select_related("commodity").order_by("line_number"):
        current = by_line.get(line.pk)
        initial.append(
            {
                "contract_line": line.pk,
                "quantity": current.quantity if current else None,
                "weighed_quantity": current.weighed_quantity if current else None,
                "difference_reason": current.difference_reason if current else "",
            }
        )
    formset = DocumentLineFormSet(data, initial=initial, prefix=LINE_PREFIX)
    lines = list(contract.lines.select_related("commodity").order_by("line_number"))
    for form, line in zip(formset.forms, lines, strict=False):
        form.contract_line_object = line  # type: ignore[attr-defined]  # for the template
    return formset


def document_lines(formset: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """The rows with a quantity, as the service takes them, and each one's form index."""
    lines: list[dict[str, Any]] = []
    positions: list[int] = []
    for index, form in enumerate(formset.forms):
        data = form.cleaned_data
        if not data or data.get("quantity") in (None, ""):
            continue
        lines.append(
            {
                "contract_line_id": data["contract_line"],
                "quantity": data["quantity"],
                "weighed_quantity": data.get("weighed_quantity"),
                "difference_reason": data.get("difference_reason", ""),
            }
        )
        positions.append(index)
    return lines, positions


def place_line_errors(
    form: forms.BaseForm, formset: Any, positions: Sequence[int], error: ApplicationError
) -> None:
    """A service's "lines.2.quantity" goes onto the second submitted row's quantity; the rest
    onto the form."""
    from qinglian.core.forms import add_service_errors

    rest: dict[str, list[str]] = {}
    for name, messages in error.fields.items():
        parts = name.split(".")
        if parts[0] == "lines" and len(parts) >= 2 and parts[1].isdigit():
            number = int(parts[1])
            if 1 <= number <= len(positions):
                row = formset.forms[positions[number - 1]]
                field = parts[2] if len(parts) > 2 else ""
                for message in messages:
                    row.add_error(field if field in row.fields else None, message)
                continue
        rest[name] = messages
    if rest or not error.fields:
        add_service_errors(form, type(error)(error.message, code=error.code, fields=rest))


class ReverseForm(StyledFormMixin, forms.Form):
    posting_date = forms.DateField(label=_("Reversal date"), widget=DATE)
    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["posting_date"].initial = clock.today()


# ---------------------------------------------------------------- stocktakes


class StocktakeFilterForm(FilterForm):
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All")), *StocktakeKind.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *ApprovedPostingStatus.choices]
    )


def writable_warehouses(user: Any, action: TradingAction) -> list[Warehouse]:
    return list(
        Warehouse.objects.filter(company_id__in=companies_for(user, action), is_active=True)
        .select_related("company")
        .order_by("company_id", "code")
    )


class StocktakeStartForm(StyledFormMixin, forms.Form):
    """Step one of a stocktake: where, when, and whether it is a count or a statement."""

    warehouse = forms.TypedChoiceField(label=_("Warehouse"), coerce=int)
    kind = forms.ChoiceField(label=_("Kind"), choices=StocktakeKind.choices)
    counted_on = forms.DateField(label=_("Counted on"), widget=DATE)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "warehouse").choices = [
            (w.pk, f"{w.company.short_name or w.company.name} · {w.code} {w.name}")
            for w in writable_warehouses(user, TradingAction.STOCKTAKE)
        ]
        self.fields["counted_on"].initial = clock.today()


class StocktakeForm(StyledFormMixin, forms.Form):
    counted_on = forms.DateField(label=_("Counted on"), widget=DATE)
    remarks = forms.CharField(
        label=_("Remarks"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class CountLineForm(StyledFormMixin, forms.Form):
    """One commodity: what was counted (blank: not counted)."""

    commodity = forms.TypedChoiceField(label=_("Commodity"), coerce=int, required=False)
    counted_quantity = _quantity_field(_("Counted quantity"), min_value=Decimal("0"))
    unit_cost = forms.DecimalField(
        label=_("Unit cost excl. VAT"),
        required=False,
        min_value=Decimal("0"),
        max_digits=18,
        decimal_places=4,
        help_text=_("Only for goods found where the books show none."),
    )
    reason = forms.CharField(label=_("Reason for the variance"), required=False, max_length=255)

    def __init__(self, *args: Any, commodities: Sequence[Commodity] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "commodity").choices = [
            ("", "—"),
            *((c.pk, f"{c.code} {c}") for c in commodities),
        ]


CountLineFormSet = forms.formset_factory(CountLineForm, extra=0)


def usable_commodities(company: Company) -> list[Commodity]:
    """Active commodities the company may use: its own and its ancestors'."""
    ancestors = [int(part) for part in company.path.strip("/").split("/") if part]
    return list(Commodity.objects.filter(company_id__in=ancestors, is_active=True).order_by("code"))


def count_line_formset(
    data: Mapping[str, Any] | None,
    *,
    commodities: Sequence[Commodity],
    initial: Sequence[Mapping[str, Any]],
    blank_rows: int = 3,
) -> Any:
    rows = [*initial, *({} for _ in range(blank_rows))]
    return CountLineFormSet(
        data,
        initial=rows,
        prefix=LINE_PREFIX,
        form_kwargs={"commodities": commodities},
    )


def count_lines(formset: Any) -> tuple[list[dict[str, Any]], list[int]]:
    lines: list[dict[str, Any]] = []
    positions: list[int] = []
    for index, form in enumerate(formset.forms):
        data = form.cleaned_data
        if not data or not data.get("commodity") or data.get("counted_quantity") is None:
            continue
        lines.append(
            {
                "commodity_id": data["commodity"],
                "counted_quantity": data["counted_quantity"],
                "unit_cost": data.get("unit_cost"),
                "reason": data.get("reason", ""),
            }
        )
        positions.append(index)
    return lines, positions


# ---------------------------------------------------------------- balances, ledger, summary


class BalanceFilterForm(FilterForm):
    warehouse = forms.TypedChoiceField(label=_("Warehouse"), coerce=int, required=False)
    commodity = forms.TypedChoiceField(label=_("Commodity"), coerce=int, required=False)
    include_empty = forms.BooleanField(label=_("Show empty"), required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from .permissions import scoped

        warehouses = scoped(Warehouse.objects.all(), user).order_by("company_id", "code")
        _choices(self, "warehouse").choices = [
            ("", _("All")),
            *((w.pk, f"{w.code} {w.name}") for w in warehouses),
        ]
        commodities = Commodity.objects.filter(
            company_id__in=master_data_company_ids(user)
        ).order_by("code")
        _choices(self, "commodity").choices = [
            ("", _("All")),
            *((c.pk, f"{c.code} {c}") for c in commodities),
        ]


class LedgerFilterForm(BalanceFilterForm):
    date_from = forms.DateField(label=_("From"), required=False, widget=DATE)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE)
    direction = forms.ChoiceField(
        label=_("In or out"), required=False, choices=[("", _("All")), *StockDirection.choices]
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All")), *StockEntryKind.choices]
    )
    voucher_type = forms.CharField(required=False, widget=forms.HiddenInput)
    voucher_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    caused_by = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["include_empty"]


class SummaryFilterForm(BalanceFilterForm):
    date_from = forms.DateField(label=_("From"), widget=DATE)
    date_to = forms.DateField(label=_("To"), widget=DATE)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["include_empty"]
        today = clock.today()
        self.fields["date_from"].initial = today.replace(day=1)
        self.fields["date_to"].initial = today

    def period(self) -> tuple[datetime.date, datetime.date]:
        today = clock.today()
        if self.is_valid():
            return self.cleaned_data["date_from"], self.cleaned_data["date_to"]
        return today.replace(day=1), today


# ---------------------------------------------------------------- opening stock


class OpeningImportForm(StyledFormMixin, forms.Form):
    file = forms.FileField(
        label=_("Workbook (.xlsx)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}),
    )
    dry_run = forms.BooleanField(label=_("Only check, write nothing"), required=False)
