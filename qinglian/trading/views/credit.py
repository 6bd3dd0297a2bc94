"""Trading pages: customer credit — the customers' exposure and standing, one customer's
exposure breakdown with its receivables ageing, credit exceptions (request, list, detail with
the approval status and the document that used it), and the credit policy.

Thin by rule: the scoped selectors read (out of scope is "not found"), one service call per
POST decides and refuses; the permission checks here only keep a form from being shown to
someone who may not send it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from qinglian.approvals.selectors import can_see_request
from qinglian.core.errors import Conflict, PermissionDenied, ValidationFailed
from qinglian.core.forms import add_service_errors
from qinglian.org.scopes import can_read_audit

from .. import forms_credit as forms
from ..models import CreditExceptionStatus
from ..permissions import TradingAction, can, companies_for
from ..selectors import credit as selectors
from ..services import credit as services

PAGE_SIZE = 30
require_GET_or_POST = require_http_methods(["GET", "HEAD", "POST"])


def _posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _act(request: HttpRequest, action: Callable[[], Any], success: str) -> None:
    """A button's service call (no form): the outcome becomes a message."""
    try:
        action()
    except (ValidationFailed, Conflict) as error:
        details = [text for texts in error.fields.values() for text in texts if text]
        messages.error(request, " ".join([error.message, *details[:4]]))
    else:
        messages.success(request, success)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- customers


@login_required
@require_GET
def credit_list(request: HttpRequest) -> HttpResponse:
    """The customers' credit standing, largest exposure first."""
    form = forms.CreditFilterForm(request.GET)
    standings = selectors.credit_exposure_list(
        user=request.user, blocked_only=form.value("blocked") == "True"
    )
    return render(
        request,
        "trading/credit/list.html",
        {
            "form": form,
            "page_obj": Paginator(standings, PAGE_SIZE).get_page(request.GET.get("page")),
            "can_request": bool(companies_for(request.user, TradingAction.CREDIT_CHANGE)),
        },
    )


@login_required
@require_GET
def credit_detail(request: HttpRequest, partner_id: int) -> HttpResponse:
    """One customer's exposure breakdown, standing, ageing (the user's companies) and recent
    credit exceptions."""
    standing = selectors.credit_exposure_get(user=request.user, partner_id=partner_id)
    ageing = selectors.receivable_ageing(user=request.user, partner_id=partner_id)
    exceptions = selectors.credit_exception_list(user=request.user, partner_id=partner_id)[:10]
    return render(
        request,
        "trading/credit/detail.html",
        {
            "standing": standing,
            "partner": standing.partner,
            "ageing": ageing,
            "buckets": selectors.AGEING_BUCKETS,
            "exceptions": exceptions,
            "can_request": bool(companies_for(request.user, TradingAction.CREDIT_CHANGE)),
        },
    )


# ---------------------------------------------------------------- credit exceptions


@login_required
@require_GET
def exception_list(request: HttpRequest) -> HttpResponse:
    form = forms.ExceptionFilterForm(request.GET)
    exceptions = selectors.credit_exception_list(
        user=request.user,
        status=form.value("status") or None,
        partner_id=_int(request.GET.get("partner")),
    )
    return render(
        request,
        "trading/credit/exception_list.html",
        {
            "form": form,
            "page_obj": Paginator(exceptions, PAGE_SIZE).get_page(request.GET.get("page")),
            "can_request": bool(companies_for(request.user, TradingAction.CREDIT_CHANGE)),
        },
    )


@login_required
@require_GET_or_POST
def exception_create(request: HttpRequest) -> HttpResponse:
    """Request a credit exception (created and sent to approval in one step)."""
    if not companies_for(request.user, TradingAction.CREDIT_CHANGE):
        raise PermissionDenied(_("Only sales or finance staff request credit exceptions."))
    partner_id = _int(request.POST.get("partner") or request.GET.get("partner"))
    initial = {
        "partner": partner_id,
        "contract": _int(request.GET.get("contract")),
        "stock_document": _int(request.GET.get("document")),
    }
    form = forms.CreditExceptionForm(
        _posted(request), initial=initial, user=request.user, partner_id=partner_id
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            exception = services.credit_exception_request(
                actor=request.user,
                company_id=data["company"].pk,
                partner_id=data["partner"].pk,
                amount=data["amount"],
                allow_overdue=data["allow_overdue"],
                valid_until=data["valid_until"],
                contract_id=data["contract"].pk if data["contract"] else None,
                stock_document_id=data["stock_document"],
                reason=data["reason"],
            )
        except (ValidationFailed, Conflict) as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("Credit exception %(number)s sent for approval.") % {"number": exception.number},
            )
            return redirect("trading:credit_exception_detail", exception.pk)
    cancel_url = (
        reverse("trading:credit_detail", args=[partner_id])
        if partner_id
        else reverse("trading:credit_exception_list")
    )
    return render(
        request,
        "trading/credit/form.html",
        {
            "form": form,
            "title": _("Request a credit exception"),
            "subtitle": _(
                "Lets one goods issue or sales contract through the credit limit or the overdue "
                "block; finance and the general manager decide."
            ),
            "cancel_url": cancel_url,
        },
    )


@login_required
@require_GET
def exception_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exception = selectors.credit_exception_access(user=request.user, id=pk)
    approval = exception.approval_request
    may_write = can(request.user, TradingAction.CREDIT_CHANGE, exception.company_id)
    return render(
        request,
        "trading/credit/exception_detail.html",
        {
            "exception": exception,
            "can_submit": may_write and exception.status == CreditExceptionStatus.DRAFT,
            "can_cancel": may_write
            and exception.status in (CreditExceptionStatus.DRAFT, CreditExceptionStatus.APPROVED),
            "approval_visible": approval is not None and can_see_request(request.user, approval),
            "can_read_audit": can_read_audit(request.user, exception.company_id),
        },
    )


@login_required
@require_POST
def exception_submit(request: HttpRequest, pk: int) -> HttpResponse:
    selectors.credit_exception_access(user=request.user, id=pk)
    _act(
        request,
        lambda: services.credit_exception_submit(actor=request.user, exception_id=pk),
        _("Credit exception sent for approval."),
    )
    return redirect("trading:credit_exception_detail", pk)


@login_required
@require_POST
def exception_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    selectors.credit_exception_access(user=request.user, id=pk)
    _act(
        request,
        lambda: services.credit_exception_cancel(
            actor=request.user, exception_id=pk, reason=request.POST.get("reason", "")
        ),
        _("Credit exception cancelled."),
    )
    return redirect("trading:credit_exception_detail", pk)


# ---------------------------------------------------------------- the credit policy


@login_required
@require_GET
def policy_list(request: HttpRequest) -> HttpResponse:
    policies = selectors.credit_policy_list(user=request.user)
    return render(
        request,
        "trading/credit/policy_list.html",
        {
            "policies": [
                (item, services.can_edit_credit_policy(request.user, item.company.pk))
                for item in policies
            ],
        },
    )


@login_required
@require_GET_or_POST
def policy_edit(request: HttpRequest, company_id: int) -> HttpResponse:
    current = selectors.credit_policy_get(user=request.user, company_id=company_id)
    if not services.can_edit_credit_policy(request.user, company_id):
        raise PermissionDenied(_("Only the general manager of the company sets its credit policy."))
    policy = current.policy
    initial = {
        "include_receivables": policy.include_receivables,
        "include_uninvoiced": policy.include_uninvoiced,
        "include_open_orders": policy.include_open_orders,
        "overdue_block_enabled": policy.overdue_block_enabled,
        "overdue_block_days": policy.overdue_block_days,
        "overdue_block_amount": policy.overdue_block_amount,
        "version": policy.version if current.is_own else None,
    }
    form = forms.CreditPolicyForm(_posted(request), initial=initial)
    if form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            services.credit_policy_save(
                actor=request.user, company_id=company_id, expected_version=version, **data
            )
        except (ValidationFailed, Conflict) as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Credit policy saved."))
            return redirect("trading:credit_policy_list")
    return render(
        request,
        "trading/credit/form.html",
        {
            "form": form,
            "title": _("Credit policy"),
            "subtitle": current.company.name,
            "cancel_url": reverse("trading:credit_policy_list"),
        },
    )


urlpatterns: list[URLPattern] = [
    path("credit/", credit_list, name="credit_list"),
    path("credit/<int:partner_id>/", credit_detail, name="credit_detail"),
    path("credit/exceptions/", exception_list, name="credit_exception_list"),
    path("credit/exceptions/new/", exception_create, name="credit_exception_create"),
    path("credit/exceptions/<int:pk>/", exception_detail, name="credit_exception_detail"),
    path("credit/exceptions/<int:pk>/submit/", exception_submit, name="credit_exception_submit"),
    path("credit/exceptions/<int:pk>/cancel/", exception_cancel, name="credit_exception_cancel"),
    path("credit/policy/", policy_list, name="credit_policy_list"),
    path("credit/policy/<int:company_id>/", policy_edit, name="credit_policy_edit"),
]
