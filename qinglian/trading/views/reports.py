"""Trading pages: the reports (an index, one page each, each exported to .xlsx with the same
figures). Filters are GET parameters; invalid ones fall back to the defaults.

Every figure is a link to the ledger entries it adds up — the stock ledger
(`trading:stock_ledger_list`) or a partner's ledger (`trading:partner_ledger_detail`), filtered
to exactly those entries, with their total under the list — and from there to the source
document, its approval trail and its audit events. The link builders below are shared with the
API (`api/reports.py`), which returns the same links.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from qinglian.core import clock
from qinglian.core.forms import StyledFormMixin

from .. import exports
from ..enums import (
    ContractKind,
    ContractStatus,
    PartnerAccount,
    PartnerEntryKind,
    StockDirection,
    StockDocumentKind,
)
from ..selectors import reports as selectors

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
CONTRACTS_PER_PAGE = 50
ALL = ("", gettext_lazy("All"))


# ---------------------------------------------------------------- drill-down links


def _with_query(url: str, params: dict[str, Any], anchor: str = "") -> str:
    clean = {
        name: value.isoformat() if isinstance(value, datetime.date) else value
        for name, value in params.items()
        if value not in (None, "")
    }
    return (f"{url}?{urlencode(clean)}" if clean else url) + anchor


def stock_ledger_url(**params: Any) -> str:
    """The stock ledger filtered by `params` (company, warehouse, commodity, date_from,
    date_to, direction, voucher_type, contract, contract_line, partner)."""
    return _with_query(reverse("trading:stock_ledger_list"), params, "#entries")


def partner_ledger_url(partner_id: int, params: dict[str, Any], anchor: str = "#entries") -> str:
    """A partner's ledger filtered by `params` (company, contract, account, kind, date_to;
    as_of and bucket for the open items)."""
    return _with_query(reverse("trading:partner_ledger_detail", args=[partner_id]), params, anchor)


def psi_links(report: selectors.PsiReport) -> None:
    """Opening: the entries before the period; in and out: the period's entries of that
    direction; closing: every entry up to the period's end."""
    day_before = report.date_from - datetime.timedelta(days=1)
    for row in [*report.rows, report.total]:
        series = {
            "company": row.company_id,
            "warehouse": row.warehouse_id,
            "commodity": row.commodity_id,
        }
        period = {"date_from": report.date_from, "date_to": report.date_to}
        row.links = {
            "opening": stock_ledger_url(**series, date_to=day_before),
            "in": stock_ledger_url(**series, **period, direction=StockDirection.IN),
            "out": stock_ledger_url(**series, **period, direction=StockDirection.OUT),
            "closing": stock_ledger_url(**series, date_to=report.date_to),
        }


def ageing_links(report: selectors.AgeingReport) -> None:
    """Each bucket: the partner's open items in it (the credits: its unapplied credits); the
    balance: its receivable entries up to the day. (The total row adds up the rows above; it
    has no single list.)"""
    for row in report.rows:
        if row.partner_id is None:
            continue
        common = {"company": row.company_id, "as_of": report.as_of}
        links = {
            key: partner_ledger_url(row.partner_id, {**common, "bucket": key}, "#open-items")
            for key in [*selectors.AGEING_KEYS, "overdue"]
        }
        links["balance"] = partner_ledger_url(
            row.partner_id,
            {
                "company": row.company_id,
                "account": PartnerAccount.RECEIVABLE,
                "date_to": report.as_of,
            },
        )
        row.links = links  # type: ignore[attr-defined]


def execution_links(contract: selectors.ContractExecution) -> None:
    detail = reverse("trading:contract_detail", args=[contract.contract_id])
    money = {"company": contract.company_id, "contract": contract.contract_id}
    contract.links = {
        "contract": detail,
        "executed": stock_ledger_url(contract=contract.contract_id),
        "invoiced": partner_ledger_url(
            contract.partner_id, {**money, "kind": PartnerEntryKind.INVOICE}
        ),
        "settled": partner_ledger_url(
            contract.partner_id, {**money, "kind": PartnerEntryKind.PAYMENT}
        ),
        "opening": partner_ledger_url(
            contract.partner_id, {**money, "kind": PartnerEntryKind.OPENING}
        ),
        "outstanding": partner_ledger_url(contract.partner_id, money),
    }
    for line in contract.lines:
        line.links = {"contract": detail, "executed": stock_ledger_url(contract_line=line.line_id)}


def margin_links(report: selectors.MarginReport) -> None:
    period = {"date_from": report.date_from, "date_to": report.date_to}
    for row in report.rows:
        row.links = {
            "contract": reverse("trading:contract_detail", args=[row.contract_id])
            if row.contract_id
            else "",
            "entries": stock_ledger_url(
                contract=row.chain_id, voucher_type=StockDocumentKind.ISSUE, **period
            ),
        }
    report.total.links = {
        "entries": stock_ledger_url(
            company=report.company_id, voucher_type=StockDocumentKind.ISSUE, **period
        )
    }


def concentration_links(report: selectors.ConcentrationReport) -> None:
    common = {
        "company": report.company_id,
        "voucher_type": StockDocumentKind.RECEIPT,
        "date_from": report.date_from,
        "date_to": report.date_to,
    }
    for row in report.rows:
        row.links = {"entries": stock_ledger_url(**common, partner=row.partner_id)}
    report.links = {"entries": stock_ledger_url(**common)}


# ---------------------------------------------------------------- filters


class ReportForm(StyledFormMixin, forms.Form):
    """A GET filter: invalid input falls back to the defaults rather than failing the page."""

    company = forms.TypedChoiceField(
        label=gettext_lazy("Company"), coerce=int, required=False, empty_value=None
    )

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data or None)
        self.user = user
        self._choose("company", selectors.report_companies(user))

    def _choose(self, name: str, choices: list[tuple[Any, Any]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [ALL, *choices]

    def value(self, name: str) -> Any:
        """The field's valid value, else its default (each field on its own)."""
        if self.is_bound and self.is_valid() is not None and name not in self.errors:
            value = self.cleaned_data.get(name)
            if value not in (None, ""):
                return value
        return self.fields[name].initial

    def parameters(self) -> list[str]:
        """The filters as text lines for an export's header."""
        lines = []
        for name, field in self.fields.items():
            value = self.value(name)
            if value in (None, ""):
                continue
            if isinstance(field, forms.ChoiceField):
                choices = cast(Any, field).choices
                value = {str(k): v for k, v in choices}.get(str(value), value)
            lines.append(exports.parameter(field.label or name, value))
        return lines


class PsiForm(ReportForm):
    date_from = forms.DateField(label=gettext_lazy("From"), required=False, widget=DATE)
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=DATE)
    group_by = forms.ChoiceField(
        label=gettext_lazy("Group by"),
        required=False,
        choices=[(g.value, g.label) for g in selectors.PsiGrouping],
        initial=selectors.PsiGrouping.SERIES.value,
    )
    warehouse = forms.TypedChoiceField(
        label=gettext_lazy("Warehouse"), coerce=int, required=False, empty_value=None
    )
    commodity = forms.TypedChoiceField(
        label=gettext_lazy("Commodity"), coerce=int, required=False, empty_value=None
    )

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data, user=user)
        today = clock.today()
        self.fields["date_from"].initial = today.replace(day=1)
        self.fields["date_to"].initial = today
        self._choose("warehouse", selectors.report_warehouses(user))
        self._choose("commodity", selectors.report_commodities(user))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end is before the start."))
        return cleaned


class AgeingForm(ReportForm):
    as_of = forms.DateField(label=gettext_lazy("As of"), required=False, widget=DATE)

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data, user=user)
        self.fields["as_of"].initial = clock.today()


class ExecutionForm(ReportForm):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), required=False)
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False)
    search = forms.CharField(label=gettext_lazy("Contract or counterparty"), required=False)

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data, user=user)
        self._choose("kind", list(ContractKind.choices))
        self._choose(
            "status",
            [(s.value, s.label) for s in ContractStatus if s in selectors.IN_FORCE],
        )


class MarginForm(ReportForm):
    date_from = forms.DateField(label=gettext_lazy("Issued from"), required=False, widget=DATE)
    date_to = forms.DateField(label=gettext_lazy("Issued until"), required=False, widget=DATE)


class ConcentrationForm(ReportForm):
    date_from = forms.DateField(label=gettext_lazy("From"), required=False, widget=DATE)
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=DATE)
    top = forms.IntegerField(
        label=gettext_lazy("Top"), required=False, min_value=0, max_value=1000, initial=10
    )

    def __init__(self, data: Any, *, user: Any) -> None:
        super().__init__(data, user=user)
        today = clock.today()
        self.fields["date_from"].initial = today.replace(month=1, day=1)
        self.fields["date_to"].initial = today


# ---------------------------------------------------------------- building each report


def build_psi(request: HttpRequest) -> tuple[PsiForm, selectors.PsiReport]:
    form = PsiForm(request.GET, user=request.user)
    report = selectors.psi_report(
        user=request.user,
        date_from=form.value("date_from"),
        date_to=form.value("date_to"),
        group_by=selectors.PsiGrouping(form.value("group_by") or selectors.PsiGrouping.SERIES),
        company_id=form.value("company"),
        warehouse_id=form.value("warehouse"),
        commodity_id=form.value("commodity"),
    )
    psi_links(report)
    return form, report


def build_ageing(request: HttpRequest) -> tuple[AgeingForm, selectors.AgeingReport]:
    form = AgeingForm(request.GET, user=request.user)
    report = selectors.receivable_ageing(
        user=request.user, as_of=form.value("as_of"), company_id=form.value("company")
    )
    ageing_links(report)
    return form, report


def execution_contracts(request: HttpRequest) -> tuple[ExecutionForm, Any]:
    form = ExecutionForm(request.GET, user=request.user)
    contracts = selectors.contract_execution_list(
        user=request.user,
        kind=form.value("kind") or None,
        status=form.value("status") or None,
        company_id=form.value("company"),
        search=form.value("search") or "",
    )
    return form, contracts


def build_margin(request: HttpRequest) -> tuple[MarginForm, selectors.MarginReport]:
    form = MarginForm(request.GET, user=request.user)
    report = selectors.deal_margin(
        user=request.user,
        date_from=form.value("date_from"),
        date_to=form.value("date_to"),
        company_id=form.value("company"),
    )
    margin_links(report)
    return form, report


def build_concentration(
    request: HttpRequest,
) -> tuple[ConcentrationForm, selectors.ConcentrationReport]:
    form = ConcentrationForm(request.GET, user=request.user)
    top = form.value("top")
    report = selectors.supplier_concentration(
        user=request.user,
        date_from=form.value("date_from"),
        date_to=form.value("date_to"),
        company_id=form.value("company"),
        top=10 if top is None else top,
    )
    concentration_links(report)
    return form, report


# ---------------------------------------------------------------- pages


REPORTS: list[tuple[Any, Any, str]] = [
    (
        gettext_lazy("Purchase–sales–inventory summary"),
        gettext_lazy("Opening, in, out and closing — quantity and value — for a period."),
        "trading:report_psi",
    ),
    (
        gettext_lazy("Receivables ageing"),
        gettext_lazy("Open receivables per customer by days past due."),
        "trading:report_ageing",
    ),
    (
        gettext_lazy("Contract execution"),
        gettext_lazy("Contracted against executed, invoiced and settled, per contract line."),
        "trading:report_execution",
    ),
    (
        gettext_lazy("Deal margin"),
        gettext_lazy(
            "Revenue net of VAT against the cost of the goods issued, per sales contract."
        ),
        "trading:report_margin",
    ),
    (
        gettext_lazy("Supplier concentration"),
        gettext_lazy("Purchases per supplier with shares, cumulative share and HHI."),
        "trading:report_concentration",
    ),
]


@login_required
@require_GET
def report_index(request: HttpRequest) -> HttpResponse:
    return render(request, "trading/reports/index.html", {"reports": REPORTS})


def _page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    query = request.GET.copy()
    query.pop("page", None)
    context["export_query"] = query.urlencode()
    return render(request, f"trading/reports/{template}", context)


@login_required
@require_GET
def report_psi(request: HttpRequest) -> HttpResponse:
    form, report = build_psi(request)
    return _page(request, "psi.html", {"form": form, "report": report})


@login_required
@require_GET
def report_ageing(request: HttpRequest) -> HttpResponse:
    form, report = build_ageing(request)
    return _page(
        request,
        "ageing.html",
        {"form": form, "report": report, "buckets": selectors.AGEING_BUCKETS},
    )


@login_required
@require_GET
def report_execution(request: HttpRequest) -> HttpResponse:
    form, contracts = execution_contracts(request)
    page = Paginator(contracts, CONTRACTS_PER_PAGE).get_page(request.GET.get("page"))
    executions = selectors.contract_execution(list(page.object_list))
    for execution in executions:
        execution_links(execution)
    return _page(
        request,
        "execution.html",
        {"form": form, "page_obj": page, "contracts": executions},
    )


@login_required
@require_GET
def report_margin(request: HttpRequest) -> HttpResponse:
    form, report = build_margin(request)
    return _page(request, "margin.html", {"form": form, "report": report})


@login_required
@require_GET
def report_concentration(request: HttpRequest) -> HttpResponse:
    form, report = build_concentration(request)
    return _page(request, "concentration.html", {"form": form, "report": report})


# ---------------------------------------------------------------- exports


def _export(
    build: Callable[[HttpRequest], tuple[Any, Any]], write: Callable[[Any, list[str]], Any]
) -> Callable[[HttpRequest], FileResponse]:
    @login_required
    @require_GET
    def view(request: HttpRequest) -> FileResponse:
        form, report = build(request)
        response: FileResponse = write(report, form.parameters())
        return response

    return view


report_psi_export = _export(build_psi, exports.psi_xlsx)
report_ageing_export = _export(build_ageing, exports.ageing_xlsx)
report_execution_export = _export(execution_contracts, exports.execution_xlsx)
report_margin_export = _export(build_margin, exports.margin_xlsx)
report_concentration_export = _export(build_concentration, exports.concentration_xlsx)


urlpatterns: list[URLPattern] = [
    path("reports/", report_index, name="report_index"),
    path("reports/psi/", report_psi, name="report_psi"),
    path("reports/psi/export/", report_psi_export, name="report_psi_export"),
    path("reports/ageing/", report_ageing, name="report_ageing"),
    path("reports/ageing/export/", report_ageing_export, name="report_ageing_export"),
    path("reports/contract-execution/", report_execution, name="report_execution"),
    path(
        "reports/contract-execution/export/",
        report_execution_export,
        name="report_execution_export",
    ),
    path("reports/deal-margin/", report_margin, name="report_margin"),
    path("reports/deal-margin/export/", report_margin_export, name="report_margin_export"),
    path("reports/supplier-concentration/", report_concentration, name="report_concentration"),
    path(
        "reports/supplier-concentration/export/",
        report_concentration_export,
        name="report_concentration_export",
    ),
]
