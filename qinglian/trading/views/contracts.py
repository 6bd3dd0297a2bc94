"""Trading pages: contracts — list, detail with execution figures, create and edit with lines
(HTMX adds and removes rows), and the lifecycle actions.

Thin by rule: the scoped selectors read (out of scope is "not found"), one service call per
POST decides and refuses; the role checks here only keep a form from being shown to someone
who may not send it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from qinglian.core.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed
from qinglian.core.forms import add_service_errors
from qinglian.org.scopes import can_read_audit

from .. import forms_contracts as forms
from ..enums import ContractKind, ContractStatus
from ..models import Contract
from ..permissions import TradingAction, can, companies_for
from ..selectors import contracts as selectors
from ..selectors import money as money_selectors
from ..services import contracts as services

PAGE_SIZE = 30
T = TypeVar("T")
require_GET_or_POST = require_http_methods(["GET", "HEAD", "POST"])


# ---------------------------------------------------------------- helpers (money pages use them)


def posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def show_refusal(form: Any, error: ApplicationError) -> None:
    """A refusal on the form: field errors where they belong, and the service's own message on
    top unless it only says "correct the fields" (a duplicate invoice says which one)."""
    add_service_errors(form, error)
    generic = _("Please correct the highlighted fields.")
    if error.message != generic and error.message not in form.non_field_errors():
        form.add_error(None, error.message)


def attempt(form: Any, action: Callable[[], T]) -> T | None:
    """Run one service call; a refusal the user can fix goes onto the form."""
    try:
        return action()
    except (ValidationFailed, Conflict) as error:
        show_refusal(form, error)
        return None


def page_of(request: HttpRequest, queryset: QuerySet[Any]) -> Page[Any]:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def field_label(model: Any, name: str) -> str:
    """A service's field name as the reader knows it ("delivery_end" → "交货截止日")."""
    if name.split(".")[0] == "lines":
        return str(_("Lines"))
    try:
        return str(model._meta.get_field(name.removesuffix("_id")).verbose_name)
    except Exception:  # not a model field: the name is the best we have
        return name


def refusal_text(error: ApplicationError, model: Any) -> str:
    details = [
        f"{field_label(model, field)}: {text}"
        for field, texts in error.fields.items()
        for text in texts
        if text
    ]
    return " ".join([error.message, *details[:4]])


def act(
    request: HttpRequest, action: Callable[[], Any], done: str, back: str, model: Any = Contract
) -> HttpResponse:
    """A POST-only action: run the service, say what happened, go back to the document. A
    refusal is shown as a message (permission and scope refusals become 403 / 404)."""
    try:
        action()
    except (ValidationFailed, Conflict) as error:
        messages.error(request, refusal_text(error, model))
    else:
        messages.success(request, done)
    return redirect(back)


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied(_("You may read this but not change it."))


def version_of(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return None


# ---------------------------------------------------------------- list and detail


@login_required
@require_GET
def contract_list(request: HttpRequest) -> HttpResponse:
    form = forms.ContractFilterForm(request.GET)
    contracts = selectors.contract_list(
        user=request.user,
        kind=form.value("kind") or None,
        status=form.value("status") or None,
        search=form.value("search"),
    )
    return render(
        request,
        "trading/contracts/list.html",
        {
            "form": form,
            "page_obj": page_of(request, contracts),
            "can_purchase": bool(companies_for(request.user, TradingAction.PURCHASE_CONTRACT)),
            "can_sell": bool(companies_for(request.user, TradingAction.SALES_CONTRACT)),
        },
    )


@login_required
@require_GET
def contract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.contract_access(user=request.user, id=pk)
    can_write = can(request.user, forms.contract_action(contract.kind), contract.company_id)
    can_pay = can(request.user, TradingAction.PAYMENT, contract.company_id)
    can_invoice = can(request.user, TradingAction.INVOICE, contract.company_id)
    executable = contract.status in selectors.EXECUTABLE_STATUSES
    open_amendment = (
        Contract.objects.filter(amends=contract, status__in=selectors.OPEN_STATUSES).first()
        if contract.status == ContractStatus.EFFECTIVE
        else None
    )
    return render(
        request,
        "trading/contracts/detail.html",
        {
            "contract": contract,
            "execution": selectors.contract_execution(contract),
            "revisions": selectors.contract_revisions(contract),
            "current_id": selectors.contract_current_revision_id(contract),
            "stock_documents": selectors.contract_stock_documents(contract)[:50],
            "invoices": selectors.contract_invoices(contract).select_related("partner")[:50],
            "payments": selectors.contract_payments(contract)[:50],
            "allowance": (
                money_selectors.contract_payment_allowance(contract)
                if contract.kind == ContractKind.PURCHASE and executable
                else None
            ),
            "open_amendment": open_amendment,
            "can_write": can_write,
            "can_invoice": can_invoice and executable,
            "can_pay": can_pay and executable,
            "can_read_audit": can_read_audit(request.user, contract.company_id),
            "cancel_form": forms.OptionalReasonForm(),
            "terminate_form": forms.TerminateForm(),
        },
    )


# ---------------------------------------------------------------- create and edit


def _render_form(
    request: HttpRequest,
    *,
    form: forms.ContractForm,
    lines: Any,
    title: str,
    cancel_url: str,
    contract: Contract | None = None,
) -> HttpResponse:
    return render(
        request,
        "trading/contracts/form.html",
        {
            "form": form,
            "lines": lines,
            "title": title,
            "cancel_url": cancel_url,
            "contract": contract,
            "line_errors": _line_errors(lines),
        },
    )


def _line_errors(lines: Any) -> list[str]:
    return [str(error) for error in lines.non_form_errors()] if lines.is_bound else []


def _lines_of(lines: Any) -> list[dict[str, Any]]:
    return [form.service_values() for form in lines.forms if form.has_changed()]


def _place_line_errors(lines: Any, error: ApplicationError) -> None:
    """A service names line problems `lines.<n>.<field>` (n counts the lines sent, from 1)."""
    sent = [form for form in lines.forms if form.has_changed()]
    rest: dict[str, list[str]] = {}
    for key, texts in error.fields.items():
        parts = key.split(".")
        if parts[0] != "lines" or len(parts) < 2 or not parts[1].isdigit():
            rest[key] = texts
            continue
        index = int(parts[1]) - 1
        field = parts[2] if len(parts) > 2 else None
        field = {"tax_rate": "tax_percent"}.get(field or "", field)
        if 0 <= index < len(sent):
            target = field if field in sent[index].fields else None
            for text in texts:
                sent[index].add_error(target, text)
        else:
            rest[key] = texts
    error.fields = rest


@login_required
@require_GET_or_POST
def contract_create(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in ContractKind.values:
        raise PermissionDenied(_("Unknown contract kind."))
    require(bool(companies_for(request.user, forms.contract_action(kind))))
    form = forms.ContractForm(posted(request), user=request.user, kind=kind)
    lines = forms.line_formset(posted(request), user=request.user)
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        try:
            contract = services.contract_create(
                actor=request.user,
                company_id=form.cleaned_data["company"],
                kind=kind,
                number=form.cleaned_data.get("number") or "",
                lines=_lines_of(lines),
                **form.service_values(),
            )
        except (ValidationFailed, Conflict) as error:
            _place_line_errors(lines, error)
            show_refusal(form, error)
        else:
            messages.success(
                request, _("Contract %(number)s saved as a draft.") % {"number": contract}
            )
            return redirect("trading:contract_detail", contract.pk)
    return _render_form(
        request,
        form=form,
        lines=lines,
        title=_("New purchase contract")
        if kind == ContractKind.PURCHASE
        else _("New sales contract"),
        cancel_url=reverse("trading:contract_list"),
    )


@login_required
@require_GET_or_POST
def contract_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.contract_access(user=request.user, id=pk)
    require(can(request.user, forms.contract_action(contract.kind), contract.company_id))
    if contract.status != ContractStatus.DRAFT:
        messages.error(request, _("Only a draft can be edited."))
        return redirect("trading:contract_detail", contract.pk)
    initial = {
        "company": contract.company_id,
        "partner": contract.partner_id,
        "signed_on": contract.signed_on,
        "delivery_start": contract.delivery_start,
        "delivery_end": contract.delivery_end,
        "end_on": contract.end_on,
        "payment_term": contract.payment_term,
        "prepayment_percent": contract.prepayment_percent,
        "credit_days": contract.credit_days,
        "owner": contract.owner_id,
        "department": contract.department_id,
        "remarks": contract.remarks,
        "version": contract.version,
    }
    form = forms.ContractForm(
        posted(request), user=request.user, kind=contract.kind, contract=contract, initial=initial
    )
    lines = forms.line_formset(posted(request), user=request.user, contract=contract)
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        try:
            services.contract_update(
                actor=request.user,
                contract_id=contract.pk,
                expected_version=form.cleaned_data.get("version"),
                lines=_lines_of(lines),
                **form.service_values(),
            )
        except (ValidationFailed, Conflict) as error:
            _place_line_errors(lines, error)
            show_refusal(form, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("trading:contract_detail", contract.pk)
    return _render_form(
        request,
        form=form,
        lines=lines,
        title=_("Edit contract"),
        cancel_url=reverse("trading:contract_detail", args=[contract.pk]),
        contract=contract,
    )


@login_required
@require_GET
def contract_line_row(request: HttpRequest) -> HttpResponse:
    """HTMX: one more (empty) line row, numbered after the rows the page sends along."""
    require(
        bool(
            companies_for(request.user, TradingAction.PURCHASE_CONTRACT)
            or companies_for(request.user, TradingAction.SALES_CONTRACT)
        )
    )
    index = forms.next_line_index(request.GET)
    return render(
        request,
        "trading/contracts/_line_row.html",
        {"line": forms.empty_line_form(user=request.user, index=index)},
    )


@login_required
@require_GET
def contract_line_remove(request: HttpRequest) -> HttpResponse:
    """HTMX: a removed row is replaced by nothing (its fields are no longer sent)."""
    return HttpResponse("")


# ---------------------------------------------------------------- lifecycle actions


def _detail(contract_id: int) -> str:
    return reverse("trading:contract_detail", args=[contract_id])


@login_required
@require_POST
def contract_submit(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.contract_access(user=request.user, id=pk)
    return act(
        request,
        lambda: services.contract_submit(
            actor=request.user, contract_id=contract.pk, expected_version=version_of(request)
        ),
        _("Sent for approval (preliminary review and re-check)."),
        _detail(contract.pk),
    )


@login_required
@require_POST
def contract_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.contract_access(user=request.user, id=pk)
    form = forms.OptionalReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return act(
        request,
        lambda: services.contract_cancel(
            actor=request.user,
            contract_id=contract.pk,
            reason=reason,
            expected_version=version_of(request),
        ),
        _("Contract cancelled."),
        _detail(contract.pk),
    )


@login_required
@require_POST
def contract_terminate(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.contract_access(user=request.user, id=pk)
    form = forms.TerminateForm(request.POST)
    valid = form.is_valid()
    return act(
        request,
        lambda: services.contract_terminate(
            actor=request.user,
            contract_id=contract.pk,
            reason=form.cleaned_data.get("reason", "") if valid else "",
            terminated_on=form.cleaned_data.get("terminated_on") if valid else None,
            expected_version=version_of(request),
        ),
        _("Contract terminated."),
        _detail(contract.pk),
    )


@login_required
@require_POST
def contract_complete(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.contract_access(user=request.user, id=pk)
    return act(
        request,
        lambda: services.contract_complete(
            actor=request.user, contract_id=contract.pk, expected_version=version_of(request)
        ),
        _("Contract completed."),
        _detail(contract.pk),
    )


@login_required
@require_POST
def contract_amend(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.contract_access(user=request.user, id=pk)
    try:
        amendment = services.contract_amend(actor=request.user, contract_id=contract.pk)
    except (ValidationFailed, Conflict) as error:
        messages.error(request, error.message)
        return redirect("trading:contract_detail", contract.pk)
    messages.success(
        request,
        _("Amendment %(revision)s started: edit it, then submit it for approval.")
        % {"revision": amendment.revision},
    )
    return redirect("trading:contract_edit", amendment.pk)


urlpatterns: list[URLPattern] = [
    path("contracts/", contract_list, name="contract_list"),
    path("contracts/new/<str:kind>/", contract_create, name="contract_create"),
    path("contracts/line-row/", contract_line_row, name="contract_line_row"),
    path("contracts/line-remove/", contract_line_remove, name="contract_line_remove"),
    path("contracts/<int:pk>/", contract_detail, name="contract_detail"),
    path("contracts/<int:pk>/edit/", contract_edit, name="contract_edit"),
    path("contracts/<int:pk>/submit/", contract_submit, name="contract_submit"),
    path("contracts/<int:pk>/cancel/", contract_cancel, name="contract_cancel"),
    path("contracts/<int:pk>/terminate/", contract_terminate, name="contract_terminate"),
    path("contracts/<int:pk>/complete/", contract_complete, name="contract_complete"),
    path("contracts/<int:pk>/amend/", contract_amend, name="contract_amend"),
]
