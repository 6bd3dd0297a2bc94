"""Trading pages: the warning register — counts per kind, the filterable list, a warning with
links to what it concerns and its acknowledge and resolve forms, a company's thresholds.

Thin by rule: the scoped selectors read (out of scope is "not found"), one service call per POST
decides and refuses; the permission checks here only decide which forms to show.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from qinglian.core.errors import Conflict, PermissionDenied, ValidationFailed
from qinglian.core.forms import add_service_errors
from qinglian.org.enums import RoleCode
from qinglian.org.models import Company
from qinglian.org.scopes import can_read_audit, data_scope

from .. import forms_warnings as forms
from ..models.warnings import TradingWarning, WarningState
from ..selectors import warnings as selectors
from ..services import warnings as services
from ..services.warnings_detection import THRESHOLD_FIELDS

PAGE_SIZE = 30
DOCUMENT_PAGES = {
    "stock_document": "trading:stock_document_detail",
    "stocktake": "trading:stocktake_detail",
    "payment": "trading:payment_detail",
    "invoice": "trading:invoice_detail",
}


def _document_url(warning: TradingWarning) -> str:
    if warning.document_id is None:
        return ""
    name = DOCUMENT_PAGES.get(warning.document_type)
    try:
        if name is not None:
            return reverse(name, args=[warning.document_id])
        if warning.document_type == "opening":
            return reverse("trading:opening_balance_list")
    except NoReverseMatch:
        return ""
    return ""


def _version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return None


def _rows(warnings: Any) -> list[dict[str, Any]]:
    return [
        {"warning": warning, "message": selectors.warning_message(warning)} for warning in warnings
    ]


@login_required
@require_GET
def warning_list(request: HttpRequest) -> HttpResponse:
    scope = data_scope(request.user)
    form = forms.WarningFilterForm(request.GET or None, company_ids=sorted(scope.read_company_ids))
    company = form.value("company")
    company_id = int(company) if company else None
    mine = bool(form.value("mine"))
    counts = selectors.warning_counts(
        user=request.user, company_id=company_id, responsible_to_me=mine
    )
    warnings = selectors.warning_list(
        user=request.user,
        kind=form.value("kind") or None,
        code=form.value("code") or None,
        state=form.value("state") or None,
        company_id=company_id,
        responsible_to_me=mine,
    )
    page_obj = Paginator(warnings, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "trading/warnings/list.html",
        {
            "form": form,
            "counts": counts,
            "page_obj": page_obj,
            "rows": _rows(page_obj.object_list),
            "kind": form.value("kind") or "",
            "is_oversight": scope.is_oversight,
            "can_set_thresholds": any(
                services.can_edit_thresholds(request.user, company_id)
                for company_id in scope.read_company_ids
            ),
        },
    )


@login_required
@require_GET
def warning_detail(request: HttpRequest, pk: int) -> HttpResponse:
    warning = selectors.warning_access(user=request.user, id=pk)
    responsible = [row.user for row in warning.responsible.all()]
    can_handle = services.can_handle(
        request.user, warning, responsible=[user.pk for user in responsible]
    )
    return render(
        request,
        "trading/warnings/detail.html",
        {
            "warning": warning,
            "message": selectors.warning_message(warning),
            "responsible": responsible,
            "responsible_role": (
                RoleCode(warning.responsible_role).label
                if warning.responsible_role in RoleCode.values
                else warning.responsible_role
            ),
            "document_url": _document_url(warning),
            "can_handle": can_handle,
            "can_acknowledge": can_handle and warning.state == WarningState.OPEN,
            "can_resolve": can_handle and warning.state != WarningState.RESOLVED,
            "acknowledge_form": forms.AcknowledgeForm(initial={"version": warning.version}),
            "resolve_form": forms.ResolveForm(initial={"version": warning.version}),
            "can_read_audit": can_read_audit(request.user, warning.company_id),
        },
    )


def _act(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    """Run the service; a refusal the user can act on becomes a message (scope and permission
    refusals become 404 and 403)."""
    try:
        action()
    except (ValidationFailed, Conflict) as error:
        details = [text for texts in error.fields.values() for text in texts if text]
        messages.error(request, " ".join(dict.fromkeys([error.message, *details[:3]])))
    else:
        messages.success(request, done)
    return redirect("trading:warning_detail", pk)


@login_required
@require_POST
def warning_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda: services.warning_acknowledge(
            actor=request.user,
            warning_id=pk,
            note=request.POST.get("note", ""),
            expected_version=_version(request),
        ),
        _("Acknowledged."),
    )


@login_required
@require_POST
def warning_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda: services.warning_resolve(
            actor=request.user,
            warning_id=pk,
            reason=request.POST.get("reason", ""),
            expected_version=_version(request),
        ),
        _("Resolved."),
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def warning_thresholds(request: HttpRequest) -> HttpResponse:
    """A company's thresholds: its managers change them, everyone else in scope reads them."""
    scope = data_scope(request.user)
    companies = list(
        Company.objects.filter(pk__in=scope.read_company_ids).order_by("path").only("pk", "name")
    )
    if not companies:
        raise PermissionDenied(_("You have no company to set thresholds for."))
    try:
        chosen = int(request.GET.get("company", ""))
    except ValueError:
        chosen = next(
            (c.pk for c in companies if services.can_edit_thresholds(request.user, c.pk)),
            companies[0].pk,
        )
    row = selectors.warning_thresholds_get(user=request.user, company_id=chosen)
    can_edit = services.can_edit_thresholds(request.user, chosen)
    initial = {name: getattr(row, name) for name in THRESHOLD_FIELDS}
    form = forms.ThresholdsForm(
        request.POST if request.method == "POST" else None,
        initial={**initial, "version": row.version},
    )
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(_("You may read these thresholds but not change them."))
        if form.is_valid():
            try:
                services.warning_thresholds_update(
                    actor=request.user,
                    company_id=chosen,
                    values=form.values(),
                    expected_version=form.cleaned_data.get("version"),
                )
            except (ValidationFailed, Conflict) as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Thresholds saved."))
                return redirect(reverse("trading:warning_thresholds") + f"?company={chosen}")
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request,
        "trading/warnings/thresholds.html",
        {
            "form": form,
            "companies": companies,
            "chosen": chosen,
            "can_edit": can_edit,
            "thresholds": row,
        },
    )


urlpatterns: list[URLPattern] = [
    path("warnings/", warning_list, name="warning_list"),
    path("warnings/thresholds/", warning_thresholds, name="warning_thresholds"),
    path("warnings/<int:pk>/", warning_detail, name="warning_detail"),
    path("warnings/<int:pk>/acknowledge/", warning_acknowledge, name="warning_acknowledge"),
    path("warnings/<int:pk>/resolve/", warning_resolve, name="warning_resolve"),
]
