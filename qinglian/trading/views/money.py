"""Trading pages: money — invoices, payments and receipts (with their reversals), the partner
ledger and opening balances. Thin: scoped selectors read, one service call per POST."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.dateparse import parse_date
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from qinglian.core import clock
from qinglian.core.errors import NotFound
from qinglian.core.workbook import MAX_FILE_BYTES, MAX_ROWS_PER_SHEET, XLSX_CONTENT_TYPE
from qinglian.org.scopes import can_read_audit

from .. import forms_money as forms
from ..enums import (
    ApprovedPostingStatus,
    PartnerAccount,
    PartnerEntryKind,
    PaymentDirection,
    PostingStatus,
)
from ..models import Contract, Invoice, Payment
from ..models.money import OpeningBalance
from ..permissions import TradingAction, can, companies_for, scoped
from ..selectors import contracts as contract_selectors
from ..selectors import money as selectors
from ..selectors import reports as report_selectors
from ..services import money as services
from .contracts import act, attempt, page_of, posted, require, require_GET_or_POST, version_of


def _contract_from_query(request: HttpRequest) -> Any:
    try:
        contract_id = int(request.GET.get("contract", ""))
    except ValueError:
        return None
    return contract_selectors.contract_access(user=request.user, id=contract_id)


# ---------------------------------------------------------------- invoices


@login_required
@require_GET
def invoice_list(request: HttpRequest) -> HttpResponse:
    form = forms.InvoiceFilterForm(request.GET)
    invoices = selectors.invoice_list(
        user=request.user,
        direction=form.value("direction") or None,
        status=form.value("status") or None,
        search=form.value("search"),
    )
    return render(
        request,
        "trading/money/invoice_list.html",
        {
            "form": form,
            "page_obj": page_of(request, invoices),
            "can_create": bool(companies_for(request.user, TradingAction.INVOICE)),
        },
    )


@login_required
@require_GET
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = selectors.invoice_access(user=request.user, id=pk)
    reversal = Invoice.objects.filter(reverses=invoice).first()
    return render(
        request,
        "trading/money/invoice_detail.html",
        {
            "invoice": invoice,
            "reversal": reversal,
            "can_write": can(request.user, TradingAction.INVOICE, invoice.company_id),
            "can_read_audit": can_read_audit(request.user, invoice.company_id),
            "entries": selectors.partner_ledger_entries(user=request.user).filter(
                voucher_type="invoice", voucher_id=invoice.pk
            ),
        },
    )


@login_required
@require_GET_or_POST
def invoice_create(request: HttpRequest) -> HttpResponse:
    require(bool(companies_for(request.user, TradingAction.INVOICE)))
    contract = _contract_from_query(request)
    initial = {"contract": contract.pk} if contract is not None else None
    form = forms.InvoiceForm(posted(request), user=request.user, initial=initial)
    if form.is_valid():
        invoice = attempt(
            form,
            lambda: services.invoice_create(
                actor=request.user,
                contract_id=form.cleaned_data["contract"].pk,
                **form.service_values(),
            ),
        )
        if invoice is not None:
            messages.success(request, _("Invoice saved as a draft; post it to book it."))
            return redirect("trading:invoice_detail", invoice.pk)
    back = (
        reverse("trading:contract_detail", args=[contract.pk])
        if contract is not None
        else reverse("trading:invoice_list")
    )
    return _form_page(request, form, title=_("New invoice"), cancel_url=back)


@login_required
@require_GET_or_POST
def invoice_edit(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = selectors.invoice_access(user=request.user, id=pk)
    require(can(request.user, TradingAction.INVOICE, invoice.company_id))
    if invoice.status != PostingStatus.DRAFT:
        messages.error(request, _("Posted documents cannot be changed; reverse it instead."))
        return redirect("trading:invoice_detail", invoice.pk)
    initial = {
        "invoice_code": invoice.invoice_code,
        "invoice_number": invoice.invoice_number,
        "invoice_date": invoice.invoice_date,
        "amount": invoice.amount,
        "tax_percent": invoice.tax_rate * 100,
        "remarks": invoice.remarks,
        "version": invoice.version,
    }
    form = forms.InvoiceForm(posted(request), user=request.user, editing=True, initial=initial)
    if form.is_valid():
        updated = attempt(
            form,
            lambda: services.invoice_update(
                actor=request.user,
                invoice_id=invoice.pk,
                expected_version=form.cleaned_data.get("version"),
                **form.service_values(),
            ),
        )
        if updated is not None:
            messages.success(request, _("Changes saved."))
            return redirect("trading:invoice_detail", invoice.pk)
    return _form_page(
        request,
        form,
        title=_("Edit invoice"),
        cancel_url=reverse("trading:invoice_detail", args=[invoice.pk]),
    )


@login_required
@require_POST
def invoice_post(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = selectors.invoice_access(user=request.user, id=pk)
    return act(
        request,
        lambda: services.invoice_post(
            actor=request.user, invoice_id=invoice.pk, expected_version=version_of(request)
        ),
        _("Invoice posted to the partner ledger."),
        reverse("trading:invoice_detail", args=[invoice.pk]),
        Invoice,
    )


@login_required
@require_POST
def invoice_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = selectors.invoice_access(user=request.user, id=pk)
    return act(
        request,
        lambda: services.invoice_cancel(
            actor=request.user, invoice_id=invoice.pk, expected_version=version_of(request)
        ),
        _("Invoice cancelled."),
        reverse("trading:invoice_detail", args=[invoice.pk]),
        Invoice,
    )


@login_required
@require_GET_or_POST
def invoice_reverse(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = selectors.invoice_access(user=request.user, id=pk)
    require(can(request.user, TradingAction.INVOICE, invoice.company_id))
    form = forms.InvoiceReverseForm(posted(request))
    if form.is_valid():
        reversal = attempt(
            form,
            lambda: services.invoice_reverse(
                actor=request.user,
                invoice_id=invoice.pk,
                invoice_number=form.cleaned_data["invoice_number"],
                invoice_code=form.cleaned_data.get("invoice_code") or "",
                invoice_date=form.cleaned_data.get("invoice_date"),
                reason=form.cleaned_data["reason"],
            ),
        )
        if reversal is not None:
            messages.success(request, _("Invoice reversed."))
            return redirect("trading:invoice_detail", reversal.pk)
    return _form_page(
        request,
        form,
        title=_("Reverse invoice (red-letter)"),
        subtitle=f"{invoice.invoice_number} · ¥{invoice.amount}",
        cancel_url=reverse("trading:invoice_detail", args=[invoice.pk]),
    )


def _form_page(
    request: HttpRequest, form: Any, *, title: str, cancel_url: str, subtitle: str = ""
) -> HttpResponse:
    return render(
        request,
        "trading/money/form.html",
        {"form": form, "title": title, "subtitle": subtitle, "cancel_url": cancel_url},
    )


# ---------------------------------------------------------------- payments and receipts


@login_required
@require_GET
def payment_list(request: HttpRequest) -> HttpResponse:
    form = forms.PaymentFilterForm(request.GET)
    payments = selectors.payment_list(
        user=request.user,
        direction=form.value("direction") or None,
        status=form.value("status") or None,
        search=form.value("search"),
    )
    return render(
        request,
        "trading/money/payment_list.html",
        {
            "form": form,
            "page_obj": page_of(request, payments),
            "can_create": bool(companies_for(request.user, TradingAction.PAYMENT)),
        },
    )


@login_required
@require_GET
def payment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    payment = selectors.payment_access(user=request.user, id=pk)
    allowance = None
    if payment.direction == PaymentDirection.OUT and payment.status in (
        ApprovedPostingStatus.DRAFT,
        ApprovedPostingStatus.PENDING,
    ):
        allowance = (
            selectors.contract_payment_allowance(payment.contract, exclude_payment_id=payment.pk)
            if payment.contract is not None
            else selectors.partner_payment_allowance(
                company_id=payment.company_id,
                partner_id=payment.partner_id,
                exclude_payment_id=payment.pk,
            )
        )
    return render(
        request,
        "trading/money/payment_detail.html",
        {
            "payment": payment,
            "allowance": allowance,
            "reversal": Payment.objects.filter(reverses=payment).first(),
            "can_write": can(request.user, TradingAction.PAYMENT, payment.company_id),
            "can_read_audit": can_read_audit(request.user, payment.company_id),
            "entries": selectors.partner_ledger_entries(user=request.user).filter(
                voucher_type="payment", voucher_id=payment.pk
            ),
        },
    )


@login_required
@require_GET_or_POST
def payment_create(request: HttpRequest) -> HttpResponse:
    require(bool(companies_for(request.user, TradingAction.PAYMENT)))
    contract = _contract_from_query(request)
    form = forms.PaymentForm(posted(request), user=request.user, contract=contract)
    if form.is_valid():
        payment = attempt(
            form,
            lambda: services.payment_create(
                actor=request.user, **form.target_values(), **form.service_values()
            ),
        )
        if payment is not None:
            messages.success(request, _("Saved as a draft."))
            return redirect("trading:payment_detail", payment.pk)
    back = (
        reverse("trading:contract_detail", args=[contract.pk])
        if contract is not None
        else reverse("trading:payment_list")
    )
    title = _("New payment or receipt")
    if contract is not None:
        title = (
            _("New payment")
            if selectors.payment_direction_for(contract.kind) == PaymentDirection.OUT
            else _("New receipt")
        )
    return _form_page(request, form, title=title, cancel_url=back)


@login_required
@require_GET_or_POST
def payment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    payment = selectors.payment_access(user=request.user, id=pk)
    require(can(request.user, TradingAction.PAYMENT, payment.company_id))
    if payment.status != ApprovedPostingStatus.DRAFT:
        messages.error(request, _("Only a draft can be edited."))
        return redirect("trading:payment_detail", payment.pk)
    initial = {
        "amount": payment.amount,
        "paid_on": payment.paid_on,
        "invoice": payment.invoice_id,
        "is_exception": payment.is_exception,
        "exception_reason": payment.exception_reason,
        "bank_account": payment.bank_account,
        "remarks": payment.remarks,
        "version": payment.version,
    }
    form = forms.PaymentForm(posted(request), user=request.user, editing=payment, initial=initial)
    if form.is_valid():
        updated = attempt(
            form,
            lambda: services.payment_update(
                actor=request.user,
                payment_id=payment.pk,
                expected_version=form.cleaned_data.get("version"),
                **form.service_values(),
            ),
        )
        if updated is not None:
            messages.success(request, _("Changes saved."))
            return redirect("trading:payment_detail", payment.pk)
    return _form_page(
        request,
        form,
        title=_("Edit payment") if payment.direction == PaymentDirection.OUT else _("Edit receipt"),
        subtitle=payment.number,
        cancel_url=reverse("trading:payment_detail", args=[payment.pk]),
    )


def _payment_action(request: HttpRequest, pk: int, service: Any, done: str) -> HttpResponse:
    payment = selectors.payment_access(user=request.user, id=pk)
    return act(
        request,
        lambda: service(
            actor=request.user, payment_id=payment.pk, expected_version=version_of(request)
        ),
        done,
        reverse("trading:payment_detail", args=[payment.pk]),
        Payment,
    )


@login_required
@require_POST
def payment_submit(request: HttpRequest, pk: int) -> HttpResponse:
    return _payment_action(request, pk, services.payment_submit, _("Sent for approval."))


@login_required
@require_POST
def receipt_post(request: HttpRequest, pk: int) -> HttpResponse:
    return _payment_action(
        request, pk, services.receipt_post, _("Receipt posted to the partner ledger.")
    )


@login_required
@require_POST
def payment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _payment_action(request, pk, services.payment_cancel, _("Cancelled."))


@login_required
@require_GET_or_POST
def payment_reverse(request: HttpRequest, pk: int) -> HttpResponse:
    payment = selectors.payment_access(user=request.user, id=pk)
    require(can(request.user, TradingAction.PAYMENT, payment.company_id))
    form = forms.PaymentReverseForm(posted(request))
    if form.is_valid():
        reversal = attempt(
            form,
            lambda: services.payment_reverse(
                actor=request.user,
                payment_id=payment.pk,
                reason=form.cleaned_data["reason"],
                reversed_on=form.cleaned_data.get("reversed_on"),
            ),
        )
        if reversal is not None:
            messages.success(request, _("Reversed."))
            return redirect("trading:payment_detail", reversal.pk)
    return _form_page(
        request,
        form,
        title=_("Reverse payment")
        if payment.direction == PaymentDirection.OUT
        else _("Reverse receipt"),
        subtitle=f"{payment.number} · ¥{payment.amount}",
        cancel_url=reverse("trading:payment_detail", args=[payment.pk]),
    )


# ---------------------------------------------------------------- the partner ledger


@login_required
@require_GET
def partner_ledger(request: HttpRequest) -> HttpResponse:
    form = forms.LedgerFilterForm(request.GET, user=request.user)
    balances = selectors.partner_balance_list(
        user=request.user, company_id=form.value("company"), search=form.value("search") or ""
    )
    return render(
        request,
        "trading/money/ledger_list.html",
        {
            "form": form,
            "page_obj": page_of(request, balances),
            "can_open": bool(companies_for(request.user, TradingAction.OPENING_BALANCES)),
        },
    )


DRILL_PARAMETERS = ("contract", "account", "kind", "date_from", "date_to", "as_of", "bucket")


def _drill_filters(request: HttpRequest) -> dict[str, Any]:
    """The drill-down filters a report's link opens the page with (no field of their own):
    the entries by contract, account, kind and dates; the open items on a day, one bucket."""
    get = request.GET
    account = get.get("account", "")
    kind = get.get("kind", "")
    bucket = get.get("bucket", "")
    return {
        "contract_id": _int(get.get("contract")),
        "account": account if account in PartnerAccount.values else None,
        "kind": kind if kind in PartnerEntryKind.values else None,
        "date_from": parse_date(get.get("date_from") or "")
        if _is_date(get.get("date_from"))
        else None,
        "date_to": parse_date(get.get("date_to") or "") if _is_date(get.get("date_to")) else None,
        "as_of": parse_date(get.get("as_of") or "") if _is_date(get.get("as_of")) else None,
        "bucket": bucket if bucket in report_selectors.AGEING_KEYS | {"overdue"} else None,
    }


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_date(value: Any) -> bool:
    try:
        return bool(value) and parse_date(value) is not None
    except ValueError:
        return False


def _open_items(
    request: HttpRequest, partner_id: int, company_id: int | None, drill: dict[str, Any]
) -> list[Any]:
    """The open items on the day (today by default): all, or one ageing bucket's — the items
    an ageing figure adds up ("overdue": every overdue bucket)."""
    as_of = drill["as_of"] or clock.today()
    bucket = drill["bucket"]
    if bucket == "overdue":
        return [
            item
            for key in report_selectors.OVERDUE_KEYS
            for item in report_selectors.open_items_in_bucket(
                user=request.user,
                partner_id=partner_id,
                company_id=company_id,
                as_of=as_of,
                bucket=key,
            )
        ]
    return report_selectors.open_items_in_bucket(
        user=request.user,
        partner_id=partner_id,
        company_id=company_id,
        as_of=as_of,
        bucket=bucket,
        account=drill["account"] or (PartnerAccount.RECEIVABLE if bucket else None),
    )


@login_required
@require_GET
def partner_ledger_detail(request: HttpRequest, partner_id: int) -> HttpResponse:
    partner = selectors.partner_ledger_access(user=request.user, partner_id=partner_id)
    form = forms.LedgerFilterForm(request.GET, user=request.user)
    company_id = form.value("company")
    drill = _drill_filters(request)
    entries = selectors.partner_ledger_entries(
        user=request.user,
        partner_id=partner.pk,
        company_id=company_id,
        contract_id=drill["contract_id"],
        account=drill["account"],
        kind=drill["kind"],
        date_from=drill["date_from"],
        date_to=drill["date_to"],
    )
    is_filtered = any(
        drill[name] for name in ("contract_id", "account", "kind", "date_from", "date_to")
    )
    open_items = _open_items(request, partner.pk, company_id, drill)
    contract = (
        scoped(Contract.objects.all(), request.user).filter(pk=drill["contract_id"]).first()
        if drill["contract_id"]
        else None
    )
    return render(
        request,
        "trading/money/ledger_detail.html",
        {
            "partner": partner,
            "form": form,
            "totals": selectors.partner_ledger_totals(
                user=request.user, partner_id=partner.pk, company_id=company_id
            ),
            "contracts": selectors.partner_contract_balances(
                user=request.user, partner_id=partner.pk, company_id=company_id
            ),
            "open_items": open_items,
            "open_items_total": sum((item.outstanding for item in open_items), Decimal("0")),
            "open_items_as_of": drill["as_of"] or clock.today(),
            "bucket_label": report_selectors.bucket_label(drill["bucket"]),
            "entry_totals": selectors.partner_ledger_entry_totals(entries) if is_filtered else None,
            "drill": drill,
            "drill_contract": contract,
            "drill_hidden": [
                (name, request.GET[name]) for name in DRILL_PARAMETERS if request.GET.get(name)
            ],
            "page_obj": page_of(request, entries.order_by("-posting_date", "-id")),
        },
    )


# ---------------------------------------------------------------- opening balances


@login_required
@require_GET
def opening_balance_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "trading/money/opening_list.html",
        {
            "page_obj": page_of(request, selectors.opening_balance_list(user=request.user)),
            "can_create": bool(companies_for(request.user, TradingAction.OPENING_BALANCES)),
            "reverse_form": forms.ReasonForm(),
            "reversed_ids": set(
                OpeningBalance.objects.filter(reverses__isnull=False).values_list(
                    "reverses_id", flat=True
                )
            ),
        },
    )


@login_required
@require_GET_or_POST
def opening_balance_create(request: HttpRequest) -> HttpResponse:
    require(bool(companies_for(request.user, TradingAction.OPENING_BALANCES)))
    form = forms.OpeningBalanceForm(posted(request), user=request.user)
    if form.is_valid():
        opening = attempt(
            form,
            lambda: services.opening_balance_post(actor=request.user, **form.service_values()),
        )
        if opening is not None:
            messages.success(request, _("Opening balance posted."))
            return redirect("trading:opening_balance_list")
    return _form_page(
        request,
        form,
        title=_("New opening balance"),
        cancel_url=reverse("trading:opening_balance_list"),
    )


@login_required
@require_POST
def opening_balance_reverse(request: HttpRequest, pk: int) -> HttpResponse:
    opening = selectors.opening_balance_list(user=request.user).filter(pk=pk).first()
    if opening is None:
        raise NotFound(_("Opening balance not found."))
    form = forms.ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return act(
        request,
        lambda: services.opening_balance_reverse(
            actor=request.user, opening_id=opening.pk, reason=reason
        ),
        _("Opening balance reversed."),
        reverse("trading:opening_balance_list"),
        OpeningBalance,
    )


SHOWN_PROBLEMS = 200


def _require_import(user: Any) -> None:
    require(services.can_import_opening_balances(user))


@login_required
@require_GET_or_POST
def opening_balance_import(request: HttpRequest) -> HttpResponse:
    _require_import(request.user)
    result = None
    form = forms.WorkbookUploadForm(
        posted(request), request.FILES if request.method == "POST" else None
    )
    if form.is_valid():
        upload = form.cleaned_data["file"]
        result = services.opening_balances_import(
            actor=request.user,
            source=upload,
            filename=upload.name or "",
            dry_run=form.cleaned_data["dry_run"],
        )
    return render(
        request,
        "trading/money/opening_import.html",
        {
            "form": form,
            "result": result,
            "problems": result.problems[:SHOWN_PROBLEMS] if result else [],
            "hidden_problems": max(0, len(result.problems) - SHOWN_PROBLEMS) if result else 0,
            "sheets": services.OPENING_SHEETS,
            "max_megabytes": MAX_FILE_BYTES // 2**20,
            "max_rows": MAX_ROWS_PER_SHEET,
        },
    )


@login_required
@require_GET
def opening_balance_import_template(request: HttpRequest) -> HttpResponse:
    _require_import(request.user)
    return HttpResponse(
        services.opening_balances_template(),
        content_type=XLSX_CONTENT_TYPE,
        headers={
            "Content-Disposition": content_disposition_header(
                True, services.OPENING_TEMPLATE_FILENAME
            )
        },
    )


urlpatterns: list[URLPattern] = [
    path("invoices/", invoice_list, name="invoice_list"),
    path("invoices/new/", invoice_create, name="invoice_create"),
    path("invoices/<int:pk>/", invoice_detail, name="invoice_detail"),
    path("invoices/<int:pk>/edit/", invoice_edit, name="invoice_edit"),
    path("invoices/<int:pk>/post/", invoice_post, name="invoice_post"),
    path("invoices/<int:pk>/cancel/", invoice_cancel, name="invoice_cancel"),
    path("invoices/<int:pk>/reverse/", invoice_reverse, name="invoice_reverse"),
    path("payments/", payment_list, name="payment_list"),
    path("payments/new/", payment_create, name="payment_create"),
    path("payments/<int:pk>/", payment_detail, name="payment_detail"),
    path("payments/<int:pk>/edit/", payment_edit, name="payment_edit"),
    path("payments/<int:pk>/submit/", payment_submit, name="payment_submit"),
    path("payments/<int:pk>/post/", receipt_post, name="receipt_post"),
    path("payments/<int:pk>/cancel/", payment_cancel, name="payment_cancel"),
    path("payments/<int:pk>/reverse/", payment_reverse, name="payment_reverse"),
    path("partner-ledger/", partner_ledger, name="partner_ledger"),
    path("partner-ledger/<int:partner_id>/", partner_ledger_detail, name="partner_ledger_detail"),
    path("opening-balances/", opening_balance_list, name="opening_balance_list"),
    path("opening-balances/new/", opening_balance_create, name="opening_balance_create"),
    path("opening-balances/import/", opening_balance_import, name="opening_balance_import"),
    path(
        "opening-balances/import/template/",
        opening_balance_import_template,
        name="opening_balance_import_template",
    ),
    path(
        "opening-balances/<int:pk>/reverse/",
        opening_balance_reverse,
        name="opening_balance_reverse",
    ),
]
