"""Trading pages: stock — goods receipts and issues (a contract, then its lines), their posting,
cancelling and reversal; stocktakes and warehouse statements sent for approval; balances, the
ledger with its drill-down, the purchase–sales–inventory summary; opening stock from Excel.

Thin by rule: the scoped selectors read (out of scope is "not found"), one service call per POST
decides and refuses; the role checks here only keep a form from being shown to someone who may
not send it (the services check again).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from qinglian.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from qinglian.core.forms import add_service_errors
from qinglian.core.workbook import XLSX_CONTENT_TYPE
from qinglian.org.models import Company
from qinglian.org.scopes import can_read_audit

from .. import exports
from .. import forms_stock as forms
from ..enums import (
    ApprovedPostingStatus,
    PostingStatus,
    StockDocumentKind,
    StockEntryKind,
    StocktakeKind,
)
from ..models import Contract, ContractLine, Partner, Warehouse
from ..models.stock import StockDocument, Stocktake
from ..permissions import TradingAction, can, can_read, can_read_master_data, companies_for
from ..selectors import stock as selectors
from ..services import stock as services

PAGE_SIZE = 30
LEDGER_PAGE_SIZE = 100
require_GET_or_POST = require_http_methods(["GET", "HEAD", "POST"])
KIND_TITLES = {
    StockDocumentKind.RECEIPT: (_("Goods receipts"), _("New goods receipt")),
    StockDocumentKind.ISSUE: (_("Goods issues"), _("New goods issue")),
}


# ---------------------------------------------------------------- helpers


def _posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _page(
    request: HttpRequest, items: QuerySet[Any] | list[Any], size: int = PAGE_SIZE
) -> Page[Any]:
    return Paginator(items, size).get_page(request.GET.get("page"))


def _version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return None


def _act(request: HttpRequest, action: Callable[[], Any], done: str, back: str) -> HttpResponse:
    """A POST-only action: run the service, say what happened, go back to the page. A refusal
    the user can act on is shown as a message (scope and permission refusals become 404/403)."""
    try:
        action()
    except (ValidationFailed, Conflict) as error:
        details = [text for texts in error.fields.values() for text in texts if text]
        messages.error(request, " ".join([error.message, *details[:4]]))
    else:
        messages.success(request, done)
    return redirect(back)


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied(_("You may read this but not change it."))


def _can_write(user: Any, document: Any) -> bool:
    return can(user, forms.ACTION_FOR[StockDocumentKind(document.kind)], document.company_id)


def _kind(value: str) -> StockDocumentKind:
    try:
        return StockDocumentKind(value)
    except ValueError as error:
        raise NotFound(_("Not found.")) from error


# ---------------------------------------------------------------- receipts and issues


@login_required
@require_GET
def stock_document_list(request: HttpRequest) -> HttpResponse:
    form = forms.DocumentFilterForm(request.GET)
    documents = selectors.stock_document_list(
        user=request.user,
        kind=form.value("kind") or None,
        status=form.value("status") or None,
        search=form.value("search") or "",
    )
    return render(
        request,
        "trading/stock/document_list.html",
        {
            "form": form,
            "page_obj": _page(request, documents),
            "can_receive": bool(companies_for(request.user, TradingAction.GOODS_RECEIPT)),
            "can_issue": bool(companies_for(request.user, TradingAction.GOODS_ISSUE)),
        },
    )


@login_required
@require_GET
def stock_document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    document = selectors.stock_document_access(user=request.user, id=pk)
    action = forms.ACTION_FOR[StockDocumentKind(document.kind)]
    return render(
        request,
        "trading/stock/document_detail.html",
        {
            "document": document,
            "lines": selectors.stock_document_lines(document),
            "entries": _with_sources(
                selectors.stock_ledger_list(
                    user=request.user, voucher_type=document.kind, voucher_id=document.pk
                ).select_related("warehouse", "commodity")
            ),
            "reversal": selectors.stock_document_reversal(document),
            "can_write": can(request.user, action, document.company_id),
            "can_read_audit": can_read_audit(request.user, document.company_id),
            "reverse_form": forms.ReverseForm(initial={"version": document.version}),
        },
    )


def _contract_for(request: HttpRequest, kind: str, contract_id: int) -> Contract:
    contract = (
        Contract.objects.select_related("partner")
        .filter(pk=contract_id, kind=forms.CONTRACT_KIND_FOR[StockDocumentKind(kind)])
        .first()
    )
    if contract is None or not can_read(request.user, contract.company_id):
        raise NotFound(_("Contract not found."))
    _require(can(request.user, forms.ACTION_FOR[StockDocumentKind(kind)], contract.company_id))
    return contract


@login_required
@require_GET_or_POST
def stock_document_create(request: HttpRequest, kind: str) -> HttpResponse:
    kind = _kind(kind)
    _require(bool(companies_for(request.user, forms.ACTION_FOR[kind])))
    title = KIND_TITLES[kind][1]
    chooser = forms.ContractChoiceForm(request.GET or None, user=request.user, kind=kind)
    if not chooser.is_valid():
        return render(
            request,
            "trading/stock/document_start.html",
            {"chooser": chooser, "title": title, "kind": kind},
        )
    contract = _contract_for(request, kind, chooser.cleaned_data["contract"])
    form = forms.DocumentForm(
        _posted(request),
        company_id=contract.company_id,
        initial={"idempotency_key": uuid.uuid4().hex},
    )
    lines = forms.document_line_formset(_posted(request), contract)
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        submitted, positions = forms.document_lines(lines)
        try:
            document = services.stock_document_create(
                actor=request.user,
                kind=kind,
                contract_id=contract.pk,
                warehouse_id=form.cleaned_data["warehouse"],
                posting_date=form.cleaned_data["posting_date"],
                lines=submitted,
                remarks=form.cleaned_data["remarks"],
                post="post" in request.POST,
                idempotency_key=form.cleaned_data["idempotency_key"] or "",
            )
        except (ValidationFailed, Conflict) as error:
            forms.place_line_errors(form, lines, positions, error)
        else:
            done = _("Posted: %(number)s") if document.status == PostingStatus.POSTED else None
            messages.success(
                request, (done or _("Saved as a draft: %(number)s")) % {"number": document.number}
            )
            return redirect("trading:stock_document_detail", document.pk)
    return render(
        request,
        "trading/stock/document_form.html",
        {
            "form": form,
            "lines": lines,
            "contract": contract,
            "title": title,
            "kind": kind,
            "cancel_url": reverse("trading:stock_document_list") + f"?kind={kind}",
        },
    )


@login_required
@require_GET_or_POST
def stock_document_edit(request: HttpRequest, pk: int) -> HttpResponse:
    document = selectors.stock_document_access(user=request.user, id=pk)
    _require(
        can(request.user, forms.ACTION_FOR[StockDocumentKind(document.kind)], document.company_id)
    )
    if document.status != PostingStatus.DRAFT or document.contract is None:
        messages.info(
            request, _("Only a draft can be changed; correct a posted document by reversing it.")
        )
        return redirect("trading:stock_document_detail", document.pk)
    contract = document.contract
    form = forms.DocumentForm(
        _posted(request),
        company_id=document.company_id,
        initial={
            "warehouse": document.warehouse_id,
            "posting_date": document.posting_date,
            "remarks": document.remarks,
            "version": document.version,
        },
    )
    lines = forms.document_line_formset(
        _posted(request), contract, selectors.stock_document_lines(document)
    )
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        submitted, positions = forms.document_lines(lines)
        try:
            services.stock_document_update(
                actor=request.user,
                document_id=document.pk,
                warehouse_id=form.cleaned_data["warehouse"],
                posting_date=form.cleaned_data["posting_date"],
                lines=submitted,
                remarks=form.cleaned_data["remarks"],
                expected_version=form.cleaned_data["version"],
            )
            if "post" in request.POST:
                services.stock_document_post(actor=request.user, document_id=document.pk)
        except (ValidationFailed, Conflict) as error:
            forms.place_line_errors(form, lines, positions, error)
        else:
            messages.success(request, _("Saved."))
            return redirect("trading:stock_document_detail", document.pk)
    return render(
        request,
        "trading/stock/document_form.html",
        {
            "form": form,
            "lines": lines,
            "contract": contract,
            "document": document,
            "title": _("Edit %(number)s") % {"number": document.number},
            "kind": document.kind,
            "cancel_url": reverse("trading:stock_document_detail", args=[document.pk]),
        },
    )


@login_required
@require_POST
def stock_document_post(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        lambda: services.stock_document_post(
            actor=request.user, document_id=pk, expected_version=_version(request)
        ),
        _("Posted."),
        reverse("trading:stock_document_detail", args=[pk]),
    )


@login_required
@require_POST
def stock_document_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        lambda: services.stock_document_cancel(
            actor=request.user, document_id=pk, expected_version=_version(request)
        ),
        _("Cancelled."),
        reverse("trading:stock_document_detail", args=[pk]),
    )


@login_required
@require_GET_or_POST
def stock_document_reverse(request: HttpRequest, pk: int) -> HttpResponse:
    document = selectors.stock_document_access(user=request.user, id=pk)
    _require(
        can(request.user, forms.ACTION_FOR[StockDocumentKind(document.kind)], document.company_id)
    )
    form = forms.ReverseForm(_posted(request), initial={"version": document.version})
    if request.method == "POST" and form.is_valid():
        try:
            reversal = services.stock_document_reverse(
                actor=request.user,
                document_id=document.pk,
                reason=form.cleaned_data["reason"],
                posting_date=form.cleaned_data["posting_date"],
                expected_version=form.cleaned_data["version"],
            )
        except (ValidationFailed, Conflict) as error:
            add_service_errors(form, error)
            if error.message not in form.non_field_errors():
                form.add_error(None, error.message)
        else:
            messages.success(request, _("Reversed by %(number)s.") % {"number": reversal.number})
            return redirect("trading:stock_document_detail", reversal.pk)
    return render(
        request,
        "trading/stock/reverse.html",
        {"form": form, "document": document, "lines": selectors.stock_document_lines(document)},
    )


# ---------------------------------------------------------------- stocktakes


@login_required
@require_GET
def stocktake_list(request: HttpRequest) -> HttpResponse:
    form = forms.StocktakeFilterForm(request.GET)
    stocktakes = selectors.stocktake_list(
        user=request.user, kind=form.value("kind") or None, status=form.value("status") or None
    )
    return render(
        request,
        "trading/stock/stocktake_list.html",
        {
            "form": form,
            "page_obj": _page(request, stocktakes),
            "can_count": bool(companies_for(request.user, TradingAction.STOCKTAKE)),
        },
    )


@login_required
@require_GET
def stocktake_detail(request: HttpRequest, pk: int) -> HttpResponse:
    stocktake = selectors.stocktake_access(user=request.user, id=pk)
    lines = selectors.stocktake_lines(stocktake)
    return render(
        request,
        "trading/stock/stocktake_detail.html",
        {
            "stocktake": stocktake,
            "lines": lines,
            "entries": _with_sources(
                selectors.stock_ledger_list(
                    user=request.user, voucher_type="stocktake", voucher_id=stocktake.pk
                ).select_related("warehouse", "commodity")
            )
            if stocktake.status == ApprovedPostingStatus.POSTED
            else [],
            "can_write": can(request.user, TradingAction.STOCKTAKE, stocktake.company_id),
            "can_read_audit": can_read_audit(request.user, stocktake.company_id),
        },
    )


def _count_rows(warehouse: Warehouse, user: Any) -> list[dict[str, Any]]:
    """A row per commodity the warehouse holds (the count fills in what it finds)."""
    balances = selectors.stock_balance_list(user=user, warehouse_ids=[warehouse.pk])
    return [{"commodity": balance.commodity_id} for balance in balances]


@login_required
@require_GET_or_POST
def stocktake_create(request: HttpRequest) -> HttpResponse:
    _require(bool(companies_for(request.user, TradingAction.STOCKTAKE)))
    start = forms.StocktakeStartForm(request.GET or None, user=request.user)
    if not start.is_valid():
        return render(
            request,
            "trading/stock/stocktake_start.html",
            {"start": start, "title": _("New stocktake")},
        )
    warehouse = Warehouse.objects.select_related("company").get(pk=start.cleaned_data["warehouse"])
    commodities = forms.usable_commodities(warehouse.company)
    form = forms.StocktakeForm(
        _posted(request), initial={"counted_on": start.cleaned_data["counted_on"]}
    )
    lines = forms.count_line_formset(
        _posted(request),
        commodities=commodities,
        initial=_count_rows(warehouse, request.user),
    )
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        submitted, positions = forms.count_lines(lines)
        try:
            stocktake = services.stocktake_create(
                actor=request.user,
                warehouse_id=warehouse.pk,
                kind=start.cleaned_data["kind"],
                counted_on=form.cleaned_data["counted_on"],
                lines=submitted,
                remarks=form.cleaned_data["remarks"],
            )
        except (ValidationFailed, Conflict) as error:
            forms.place_line_errors(form, lines, positions, error)
        else:
            messages.success(
                request, _("Saved as a draft: %(number)s") % {"number": stocktake.number}
            )
            return redirect("trading:stocktake_detail", stocktake.pk)
    return render(
        request,
        "trading/stock/stocktake_form.html",
        {
            "form": form,
            "lines": lines,
            "warehouse": warehouse,
            "kind_label": StocktakeKind(start.cleaned_data["kind"]).label,
            "title": _("New stocktake"),
            "cancel_url": reverse("trading:stocktake_list"),
        },
    )


@login_required
@require_GET_or_POST
def stocktake_edit(request: HttpRequest, pk: int) -> HttpResponse:
    stocktake = selectors.stocktake_access(user=request.user, id=pk)
    _require(can(request.user, TradingAction.STOCKTAKE, stocktake.company_id))
    if stocktake.status not in (ApprovedPostingStatus.DRAFT, ApprovedPostingStatus.REJECTED):
        messages.info(request, _("Only a draft or rejected stocktake can be changed."))
        return redirect("trading:stocktake_detail", stocktake.pk)
    warehouse = stocktake.warehouse
    commodities = forms.usable_commodities(Company.objects.get(pk=stocktake.company_id))
    form = forms.StocktakeForm(
        _posted(request),
        initial={
            "counted_on": stocktake.counted_on,
            "remarks": stocktake.remarks,
            "version": stocktake.version,
        },
    )
    lines = forms.count_line_formset(
        _posted(request),
        commodities=commodities,
        initial=[
            {
                "commodity": line.commodity_id,
                "counted_quantity": line.counted_quantity,
                "unit_cost": line.unit_cost,
                "reason": line.reason,
            }
            for line in selectors.stocktake_lines(stocktake)
        ],
    )
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        submitted, positions = forms.count_lines(lines)
        try:
            services.stocktake_update(
                actor=request.user,
                stocktake_id=stocktake.pk,
                counted_on=form.cleaned_data["counted_on"],
                lines=submitted,
                remarks=form.cleaned_data["remarks"],
                expected_version=form.cleaned_data["version"],
            )
        except (ValidationFailed, Conflict) as error:
            forms.place_line_errors(form, lines, positions, error)
        else:
            messages.success(request, _("Saved."))
            return redirect("trading:stocktake_detail", stocktake.pk)
    return render(
        request,
        "trading/stock/stocktake_form.html",
        {
            "form": form,
            "lines": lines,
            "warehouse": warehouse,
            "stocktake": stocktake,
            "kind_label": stocktake.get_kind_display(),
            "title": _("Edit %(number)s") % {"number": stocktake.number},
            "cancel_url": reverse("trading:stocktake_detail", args=[stocktake.pk]),
        },
    )


@login_required
@require_POST
def stocktake_submit(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        lambda: services.stocktake_submit(
            actor=request.user, stocktake_id=pk, expected_version=_version(request)
        ),
        _("Sent for approval (or confirmed, when nothing differs)."),
        reverse("trading:stocktake_detail", args=[pk]),
    )


@login_required
@require_POST
def stocktake_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        lambda: services.stocktake_cancel(
            actor=request.user, stocktake_id=pk, expected_version=_version(request)
        ),
        _("Cancelled."),
        reverse("trading:stocktake_detail", args=[pk]),
    )


# ---------------------------------------------------------------- balances, ledger, summary


@login_required
@require_GET
def stock_balance_list(request: HttpRequest) -> HttpResponse:
    form = forms.BalanceFilterForm(request.GET, user=request.user)
    warehouse, commodity = form.value("warehouse"), form.value("commodity")
    balances = selectors.stock_balance_list(
        user=request.user,
        warehouse_ids=[warehouse] if warehouse else None,
        commodity_ids=[commodity] if commodity else None,
        include_empty=bool(form.value("include_empty")),
    )
    return render(
        request,
        "trading/stock/balance_list.html",
        {"form": form, "page_obj": _page(request, balances, LEDGER_PAGE_SIZE)},
    )


def _ledger_filters(request: HttpRequest, form: forms.LedgerFilterForm) -> dict[str, Any]:
    """The ledger list's filters: the form's, and the drill-down's from the reports (company,
    contract, contract line, counterparty), which have no field of their own."""
    return {
        "company_id": _int(request.GET.get("company")),
        "warehouse_id": form.value("warehouse"),
        "commodity_id": form.value("commodity"),
        "date_from": form.value("date_from"),
        "date_to": form.value("date_to"),
        "direction": form.value("direction") or None,
        "kind": form.value("kind") or None,
        "voucher_type": form.value("voucher_type") or None,
        "voucher_id": form.value("voucher_id"),
        "caused_by_id": form.value("caused_by"),
        "contract_id": _int(request.GET.get("contract")),
        "contract_line_id": _int(request.GET.get("contract_line")),
        "partner_id": _int(request.GET.get("partner")),
    }


DRILL_PARAMETERS = ("company", "contract", "contract_line", "partner")


def _drill_context(request: HttpRequest, filters: dict[str, Any]) -> dict[str, Any]:
    """What the page says about the drill-down filters it was opened with (names only of what
    the user may read; the filters themselves are scoped by the selector)."""
    user = request.user
    hidden = [(name, request.GET[name]) for name in DRILL_PARAMETERS if _int(request.GET.get(name))]
    labels = []
    if filters["company_id"] and can_read(user, filters["company_id"]):
        company = Company.objects.filter(pk=filters["company_id"]).first()
        labels.append(_("Company: %(name)s") % {"name": company.name if company else "—"})
    contract_id, line_number = filters["contract_id"], None
    if filters["contract_line_id"]:
        found = (
            ContractLine.objects.filter(pk=filters["contract_line_id"])
            .values_list("contract_id", "line_number")
            .first()
        )
        if found:
            contract_id, line_number = contract_id or found[0], found[1]
    contract = Contract.objects.filter(pk=contract_id).first() if contract_id else None
    if contract is not None and can_read(user, contract.company_id):
        label = _("Contract: %(number)s") % {"number": contract}
        if line_number:
            label += " · " + _("line %(number)d") % {"number": line_number}
        labels.append(label)
    partner = (
        Partner.objects.filter(pk=filters["partner_id"]).first() if filters["partner_id"] else None
    )
    if partner is not None and can_read_master_data(user, partner.company_id):
        labels.append(_("Counterparty: %(name)s") % {"name": partner.name})
    return {"drill_hidden": hidden, "drill_labels": labels}


def _restricted_to_documents(filters: dict[str, Any]) -> bool:
    """Only goods receipts and issues are listed: their lines' amounts can be added up."""
    return bool(
        filters["contract_id"]
        or filters["contract_line_id"]
        or filters["partner_id"]
        or filters["voucher_type"] in StockDocumentKind.values
        or filters["kind"] in StockDocumentKind.values
    )


@login_required
@require_GET
def stock_ledger_list(request: HttpRequest) -> HttpResponse:
    form = forms.LedgerFilterForm(request.GET, user=request.user)
    filters = _ledger_filters(request, form)
    entries = selectors.stock_ledger_list(user=request.user, **filters)
    is_filtered = any(value for value in filters.values())
    with_amounts = _restricted_to_documents(filters)
    page = _page(request, entries.select_related("warehouse", "commodity"), LEDGER_PAGE_SIZE)
    page.object_list = _with_sources(page.object_list)
    if with_amounts:
        selectors.stock_entry_amounts(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "trading/stock/ledger_list.html",
        {
            "form": form,
            "page_obj": page,
            "show_amounts": with_amounts,
            "totals": selectors.stock_ledger_totals(entries, with_amounts=with_amounts)
            if is_filtered
            else None,
            "export_query": query.urlencode(),
            **_drill_context(request, filters),
        },
    )


@login_required
@require_GET
def stock_ledger_export(request: HttpRequest) -> FileResponse:
    """The filtered ledger as .xlsx, every entry (streamed from the database and written in
    constant memory: see qinglian/trading/exports.py)."""
    form = forms.LedgerFilterForm(request.GET, user=request.user)
    filters = _ledger_filters(request, form)
    entries = selectors.stock_ledger_list(user=request.user, **filters)
    labels = _drill_context(request, filters)["drill_labels"]
    parameters = [
        *labels,
        *(
            exports.parameter(form.fields[name].label or name, form.value(name))
            for name in ("date_from", "date_to", "direction", "kind")
            if form.value(name)
        ),
    ]
    return exports.ledger_xlsx(entries, parameters)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _with_sources(entries: Any) -> list[Any]:
    """The entries, each with `source_url` and `source_label`: the page and number of its
    source document (a revaluation's is the document of the entry it revalues)."""
    found = list(entries)
    documents = dict(
        StockDocument.objects.filter(
            pk__in={e.voucher_id for e in found if e.voucher_type in StockDocumentKind.values}
        ).values_list("pk", "number")
    )
    stocktakes = dict(
        Stocktake.objects.filter(
            pk__in={e.voucher_id for e in found if e.voucher_type == StockEntryKind.STOCKTAKE}
        ).values_list("pk", "number")
    )
    for entry in found:
        entry.source_url, entry.source_label = "", ""
        if entry.voucher_id in documents and entry.voucher_type in StockDocumentKind.values:
            entry.source_url = reverse("trading:stock_document_detail", args=[entry.voucher_id])
            entry.source_label = documents[entry.voucher_id]
        elif entry.voucher_id in stocktakes and entry.voucher_type == StockEntryKind.STOCKTAKE:
            entry.source_url = reverse("trading:stocktake_detail", args=[entry.voucher_id])
            entry.source_label = stocktakes[entry.voucher_id]
    return found


@login_required
@require_GET
def stock_summary(request: HttpRequest) -> HttpResponse:
    form = forms.SummaryFilterForm(request.GET or None, user=request.user)
    date_from, date_to = form.period()
    warehouse, commodity = form.value("warehouse"), form.value("commodity")
    rows = selectors.psi_summary(
        user=request.user,
        date_from=date_from,
        date_to=date_to,
        warehouse_ids=[warehouse] if warehouse else None,
        commodity_ids=[commodity] if commodity else None,
    )
    return render(
        request,
        "trading/stock/summary.html",
        {
            "form": form,
            "rows": rows,
            "date_from": date_from,
            "date_to": date_to,
            "date_before": date_from - datetime.timedelta(days=1),
        },
    )


# ---------------------------------------------------------------- opening stock


@login_required
@require_GET
def stock_opening_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "trading/stock/opening_list.html",
        {
            "page_obj": _page(request, selectors.stock_opening_list(user=request.user)),
            "can_import": services.can_import_opening_stock(request.user),
        },
    )


@login_required
@require_GET_or_POST
def stock_opening_import(request: HttpRequest) -> HttpResponse:
    _require(services.can_import_opening_stock(request.user))
    form = forms.OpeningImportForm(_posted(request), request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        result = services.stock_opening_import(
            actor=request.user,
            source=upload,
            filename=upload.name or "",
            dry_run=form.cleaned_data["dry_run"],
        )
        if result.is_success and not result.dry_run:
            messages.success(
                request,
                _("Imported %(rows)d rows in %(batches)d opening batches.")
                % {"rows": result.counts.rows, "batches": result.counts.batches},
            )
            return redirect("trading:stock_opening_list")
    return render(request, "trading/stock/opening_import.html", {"form": form, "result": result})


@login_required
@require_GET
def stock_opening_template(request: HttpRequest) -> HttpResponse:
    _require(services.can_import_opening_stock(request.user))
    return HttpResponse(
        services.stock_opening_template(),
        content_type=XLSX_CONTENT_TYPE,
        headers={"Content-Disposition": content_disposition_header(True, "期初库存导入模板.xlsx")},
    )


urlpatterns: list[URLPattern] = [
    path("stock/", stock_balance_list, name="stock_balance_list"),
    path("stock/documents/", stock_document_list, name="stock_document_list"),
    path(
        "stock/receipts/new/",
        stock_document_create,
        {"kind": StockDocumentKind.RECEIPT.value},
        name="stock_receipt_create",
    ),
    path(
        "stock/issues/new/",
        stock_document_create,
        {"kind": StockDocumentKind.ISSUE.value},
        name="stock_issue_create",
    ),
    path("stock/documents/<int:pk>/", stock_document_detail, name="stock_document_detail"),
    path("stock/documents/<int:pk>/edit/", stock_document_edit, name="stock_document_edit"),
    path("stock/documents/<int:pk>/post/", stock_document_post, name="stock_document_post"),
    path("stock/documents/<int:pk>/cancel/", stock_document_cancel, name="stock_document_cancel"),
    path(
        "stock/documents/<int:pk>/reverse/", stock_document_reverse, name="stock_document_reverse"
    ),
    path("stock/stocktakes/", stocktake_list, name="stocktake_list"),
    path("stock/stocktakes/new/", stocktake_create, name="stocktake_create"),
    path("stock/stocktakes/<int:pk>/", stocktake_detail, name="stocktake_detail"),
    path("stock/stocktakes/<int:pk>/edit/", stocktake_edit, name="stocktake_edit"),
    path("stock/stocktakes/<int:pk>/submit/", stocktake_submit, name="stocktake_submit"),
    path("stock/stocktakes/<int:pk>/cancel/", stocktake_cancel, name="stocktake_cancel"),
    path("stock/ledger/", stock_ledger_list, name="stock_ledger_list"),
    path("stock/ledger/export/", stock_ledger_export, name="stock_ledger_export"),
    path("stock/summary/", stock_summary, name="stock_summary"),
    path("stock/openings/", stock_opening_list, name="stock_opening_list"),
    path("stock/openings/import/", stock_opening_import, name="stock_opening_import"),
    path(
        "stock/openings/import/template/",
        stock_opening_template,
        name="stock_opening_template",
    ),
]
