"""Trading pages: master data — partners with contacts and qualifications, supplier admission
and sanctions, customer credit changes, commodities, warehouses, and the Excel import.

Thin by rule: the scoped selectors read (out of scope is "not found"), one service call per
POST decides and refuses; the permission checks here only keep a form from being shown to
someone who may not send it.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from qinglian.approvals.selectors import can_see_request
from qinglian.core import clock
from qinglian.core.errors import Conflict, PermissionDenied, ValidationFailed
from qinglian.core.forms import add_service_errors
from qinglian.core.workbook import MAX_FILE_BYTES, MAX_ROWS_PER_SHEET, XLSX_CONTENT_TYPE
from qinglian.org.scopes import can_read_audit

from .. import forms_master as forms
from .. import importing
from ..enums import AdmissionStatus, ApprovalDocumentStatus
from ..models import Partner
from ..permissions import (
    TradingAction,
    can,
    can_edit_master_data,
    companies_for,
)
from ..selectors import master as selectors
from ..services import master as services

PAGE_SIZE = 30
EXPIRING_DAYS = 30
SHOWN_PROBLEMS = 500
TEMPLATE_FILENAME = "qinglian-trading-master-import-template.xlsx"
T = TypeVar("T")
require_GET_or_POST = require_http_methods(["GET", "HEAD", "POST"])

# ---------------------------------------------------------------- helpers


def _posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _files(request: HttpRequest) -> Any:
    return request.FILES if request.method == "POST" else None


def _attempt(form: Any, action: Callable[[], T]) -> T | None:
    """Run one service call; a refusal the user can fix goes onto the form."""
    try:
        return action()
    except (ValidationFailed, Conflict) as error:
        add_service_errors(form, error)
        return None


def _succeeds(form: Any, action: Callable[[], Any]) -> bool:
    return _attempt(form, action) is not None


def _act(request: HttpRequest, action: Callable[[], Any], success: str) -> None:
    """A button's service call (no form): the outcome becomes a message."""
    try:
        action()
    except (ValidationFailed, Conflict) as error:
        details = [text for texts in error.fields.values() for text in texts if text]
        messages.error(request, " ".join([error.message, *details[:4]]))
    else:
        messages.success(request, success)


def _page(request: HttpRequest, queryset: QuerySet[Any]) -> Page[Any]:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _form_page(
    request: HttpRequest,
    form: Any,
    *,
    title: str,
    cancel_url: str,
    subtitle: str = "",
    multipart: bool = False,
) -> HttpResponse:
    return render(
        request,
        "trading/master/form.html",
        {
            "form": form,
            "title": title,
            "subtitle": subtitle,
            "cancel_url": cancel_url,
            "multipart": multipart,
        },
    )


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


def _may_edit_partner(user: Any, partner: Partner) -> bool:
    return can_edit_master_data(user, TradingAction.PARTNER_EDIT, partner.company_id)


def _partner_url(pk: int) -> str:
    return reverse("trading:partner_detail", args=[pk])


# ---------------------------------------------------------------- partners


@login_required
@require_GET
def partner_list(request: HttpRequest) -> HttpResponse:
    form = forms.PartnerFilterForm(request.GET)
    partners = selectors.partner_list(
        user=request.user,
        search=form.value("q"),
        kind=form.value("kind") or None,
        admission_status=form.value("admission") or None,
    )
    return render(
        request,
        "trading/master/partner_list.html",
        {
            "form": form,
            "page_obj": _page(request, partners),
            "can_create": bool(companies_for(request.user, TradingAction.PARTNER_EDIT)),
            "can_import": importing.can_import_master_data(request.user),
        },
    )


@login_required
@require_GET
def partner_detail(request: HttpRequest, pk: int) -> HttpResponse:
    partner = selectors.partner_access(user=request.user, id=pk)
    user = request.user
    today = clock.today()
    may_supply, supply_reason = selectors.partner_can_supply(partner, today)
    qualifications = [
        (q, selectors.is_expired(q.expires_on, today)) for q in partner.qualifications.all()
    ]
    return render(
        request,
        "trading/master/partner_detail.html",
        {
            "partner": partner,
            "contacts": partner.contacts.all(),
            "qualifications": qualifications,
            "may_supply": may_supply,
            "supply_reason": supply_reason,
            "admissions": selectors.supplier_admission_list(user=user, partner_id=pk)[:10],
            "credit_changes": selectors.credit_change_list(user=user, partner_id=pk)[:10],
            "can_edit": _may_edit_partner(user, partner),
            "can_apply": partner.is_supplier
            and partner.admission_status == AdmissionStatus.NOT_ADMITTED
            and bool(companies_for(user, TradingAction.SUPPLIER_ADMISSION)),
            "can_sanction": can_edit_master_data(
                user, TradingAction.SUPPLIER_SANCTION, partner.company_id
            ),
            "can_propose_credit": partner.is_customer
            and bool(companies_for(user, TradingAction.CREDIT_CHANGE)),
            "can_read_audit": can_read_audit(user, partner.company_id),
        },
    )


@login_required
@require_GET_or_POST
def partner_create(request: HttpRequest) -> HttpResponse:
    _require(
        bool(companies_for(request.user, TradingAction.PARTNER_EDIT)),
        _("Only purchasing, sales or finance staff register partners."),
    )
    form = forms.PartnerForm(_posted(request), user=request.user)
    if form.is_valid():
        data = dict(form.cleaned_data)
        company = data.pop("company")
        partner = _attempt(
            form,
            lambda: services.partner_create(actor=request.user, company_id=company.pk, **data),
        )
        if partner is not None:
            messages.success(request, _("Partner “%(name)s” registered.") % {"name": partner.name})
            return redirect("trading:partner_detail", partner.pk)
    return _form_page(
        request, form, title=_("New partner"), cancel_url=reverse("trading:partner_list")
    )


@login_required
@require_GET_or_POST
def partner_edit(request: HttpRequest, pk: int) -> HttpResponse:
    partner = selectors.partner_access(user=request.user, id=pk)
    _require(_may_edit_partner(request.user, partner), _("You may not change this partner."))
    initial = {
        name: getattr(partner, name)
        for name in (*services.PARTNER_FIELDS, "version")
        if name in forms.PartnerForm.base_fields
    }
    form = forms.PartnerForm(_posted(request), initial=initial, user=request.user, editing=True)
    if form.is_valid():
        changes = dict(form.cleaned_data)
        version = changes.pop("version")
        updated = _attempt(
            form,
            lambda: services.partner_update(
                actor=request.user, partner_id=pk, expected_version=version, **changes
            ),
        )
        if updated is not None:
            messages.success(request, _("Changes saved."))
            return redirect("trading:partner_detail", pk)
    return _form_page(
        request, form, title=_("Edit partner"), subtitle=partner.name, cancel_url=_partner_url(pk)
    )


# ---------------------------------------------------------------- contacts


@login_required
@require_GET_or_POST
def partner_contact_add(request: HttpRequest, pk: int) -> HttpResponse:
    partner = selectors.partner_access(user=request.user, id=pk)
    _require(_may_edit_partner(request.user, partner), _("You may not change this partner."))
    form = forms.ContactForm(_posted(request))
    if form.is_valid() and _succeeds(
        form,
        lambda: services.partner_contact_add(
            actor=request.user, partner_id=pk, **form.cleaned_data
        ),
    ):
        messages.success(request, _("Contact added."))
        return redirect("trading:partner_detail", pk)
    return _form_page(
        request, form, title=_("New contact"), subtitle=partner.name, cancel_url=_partner_url(pk)
    )


@login_required
@require_GET_or_POST
def partner_contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contact = selectors.contact_access(user=request.user, id=pk)
    partner = contact.partner
    _require(_may_edit_partner(request.user, partner), _("You may not change this partner."))
    initial = {name: getattr(contact, name) for name in services.CONTACT_FIELDS}
    form = forms.ContactForm(_posted(request), initial=initial)
    if form.is_valid() and _succeeds(
        form,
        lambda: services.partner_contact_update(
            actor=request.user, contact_id=pk, **form.cleaned_data
        ),
    ):
        messages.success(request, _("Changes saved."))
        return redirect("trading:partner_detail", partner.pk)
    return _form_page(
        request,
        form,
        title=_("Edit contact"),
        subtitle=partner.name,
        cancel_url=_partner_url(partner.pk),
    )


@login_required
@require_POST
def partner_contact_remove(request: HttpRequest, pk: int) -> HttpResponse:
    contact = selectors.contact_access(user=request.user, id=pk)
    services.partner_contact_remove(actor=request.user, contact_id=pk)
    messages.success(request, _("Contact “%(name)s” removed.") % {"name": contact.name})
    return redirect("trading:partner_detail", contact.partner_id)


# ---------------------------------------------------------------- qualifications


@login_required
@require_GET_or_POST
def qualification_add(request: HttpRequest, pk: int) -> HttpResponse:
    partner = selectors.partner_access(user=request.user, id=pk)
    _require(_may_edit_partner(request.user, partner), _("You may not change this partner."))
    form = forms.QualificationForm(_posted(request), _files(request))
    if form.is_valid() and _succeeds(
        form,
        lambda: services.qualification_add(actor=request.user, partner_id=pk, **form.cleaned_data),
    ):
        messages.success(request, _("Qualification added."))
        return redirect("trading:partner_detail", pk)
    return _form_page(
        request,
        form,
        title=_("New qualification"),
        subtitle=partner.name,
        cancel_url=_partner_url(pk),
        multipart=True,
    )


@login_required
@require_GET_or_POST
def qualification_edit(request: HttpRequest, pk: int) -> HttpResponse:
    qualification = selectors.qualification_access(user=request.user, id=pk)
    partner = qualification.partner
    _require(_may_edit_partner(request.user, partner), _("You may not change this partner."))
    initial = {name: getattr(qualification, name) for name in services.QUALIFICATION_FIELDS}
    form = forms.QualificationForm(_posted(request), _files(request), initial=initial, editing=True)
    if form.is_valid():
        data = dict(form.cleaned_data)
        file, remove_file = data.pop("file"), data.pop("remove_file")
        if _succeeds(
            form,
            lambda: services.qualification_update(
                actor=request.user,
                qualification_id=pk,
                file=file or None,
                remove_file=remove_file,
                **data,
            ),
        ):
            messages.success(request, _("Changes saved."))
            return redirect("trading:partner_detail", partner.pk)
    return _form_page(
        request,
        form,
        title=_("Edit qualification"),
        subtitle=partner.name,
        cancel_url=_partner_url(partner.pk),
        multipart=True,
    )


@login_required
@require_POST
def qualification_remove(request: HttpRequest, pk: int) -> HttpResponse:
    qualification = selectors.qualification_access(user=request.user, id=pk)
    partner_id = qualification.partner_id
    try:
        services.qualification_remove(actor=request.user, qualification_id=pk)
    except Conflict as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Qualification removed."))
    return redirect("trading:partner_detail", partner_id)


@login_required
@require_GET
def qualification_file(request: HttpRequest, pk: int) -> FileResponse:
    """The scan, to whoever reads the partner."""
    qualification = selectors.qualification_access(user=request.user, id=pk)
    if not qualification.file:
        raise Http404(_("No scan on file."))
    name = qualification.file.name.rsplit("/", 1)[-1]
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(qualification.file.open("rb"), content_type=content_type, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def qualification_expiring(request: HttpRequest) -> HttpResponse:
    form = forms.ExpiringFilterForm(request.GET)
    days = form.days_value(EXPIRING_DAYS)
    today = clock.today()
    qualifications = selectors.qualification_expiring_list(
        user=request.user, within_days=days, today=today
    )
    page = _page(request, qualifications)
    return render(
        request,
        "trading/master/qualification_expiring.html",
        {
            "form": form,
            "days": days,
            "page_obj": page,
            "rows": [(q, selectors.is_expired(q.expires_on, today)) for q in page],
        },
    )


# ---------------------------------------------------------------- sanctions


def _sanction_page(
    request: HttpRequest,
    pk: int,
    service: Callable[..., Partner],
    title: str,
    done: str,
) -> HttpResponse:
    partner = selectors.partner_access(user=request.user, id=pk)
    _require(
        can_edit_master_data(request.user, TradingAction.SUPPLIER_SANCTION, partner.company_id),
        _("Only the general manager or the leader in charge may do this."),
    )
    form = forms.SanctionForm(_posted(request))
    if form.is_valid():
        try:
            service(actor=request.user, partner_id=pk, reason=form.cleaned_data["reason"])
        except (ValidationFailed, Conflict) as error:
            add_service_errors(form, error)
        else:
            messages.success(request, done)
            return redirect("trading:partner_detail", pk)
    return _form_page(
        request, form, title=title, subtitle=partner.name, cancel_url=_partner_url(pk)
    )


@login_required
@require_GET_or_POST
def partner_suspend(request: HttpRequest, pk: int) -> HttpResponse:
    return _sanction_page(
        request, pk, services.partner_suspend, _("Suspend supplier"), _("Supplier suspended.")
    )


@login_required
@require_GET_or_POST
def partner_blacklist(request: HttpRequest, pk: int) -> HttpResponse:
    return _sanction_page(
        request, pk, services.partner_blacklist, _("Blacklist partner"), _("Partner blacklisted.")
    )


@login_required
@require_GET_or_POST
def partner_reinstate(request: HttpRequest, pk: int) -> HttpResponse:
    return _sanction_page(
        request, pk, services.partner_reinstate, _("Reinstate supplier"), _("Supplier reinstated.")
    )


# ---------------------------------------------------------------- supplier admission


@login_required
@require_GET
def admission_list(request: HttpRequest) -> HttpResponse:
    form = forms.StatusFilterForm(request.GET)
    admissions = selectors.supplier_admission_list(
        user=request.user, status=form.value("status") or None, search=form.value("q")
    )
    return render(
        request,
        "trading/master/admission_list.html",
        {"form": form, "page_obj": _page(request, admissions)},
    )


@login_required
@require_GET_or_POST
def admission_create(request: HttpRequest, pk: int) -> HttpResponse:
    partner = selectors.partner_access(user=request.user, id=pk)
    _require(
        bool(companies_for(request.user, TradingAction.SUPPLIER_ADMISSION)),
        _("Only purchasers apply for supplier admission."),
    )
    form = forms.AdmissionForm(_posted(request), user=request.user)
    if form.is_valid():
        admission = _attempt(
            form,
            lambda: services.supplier_admission_create(
                actor=request.user,
                partner_id=pk,
                reason=form.cleaned_data["reason"],
                company_id=form.cleaned_data["company"].pk,
            ),
        )
        if admission is not None:
            messages.success(
                request,
                _("Application %(number)s drafted; check the qualifications and submit it.")
                % {"number": admission.number},
            )
            return redirect("trading:admission_detail", admission.pk)
    return _form_page(
        request,
        form,
        title=_("Apply for supplier admission"),
        subtitle=partner.name,
        cancel_url=_partner_url(pk),
    )


@login_required
@require_GET
def admission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    admission = selectors.supplier_admission_access(user=request.user, id=pk)
    partner = selectors.partner_access(user=request.user, id=admission.partner_id)
    today = clock.today()
    request_ = admission.approval_request
    return render(
        request,
        "trading/master/admission_detail.html",
        {
            "admission": admission,
            "partner": partner,
            "qualifications": [
                (q, selectors.is_expired(q.expires_on, today)) for q in partner.qualifications.all()
            ],
            "can_act": can(request.user, TradingAction.SUPPLIER_ADMISSION, admission.company_id)
            and admission.status == ApprovalDocumentStatus.DRAFT,
            "can_edit_partner": _may_edit_partner(request.user, partner),
            "approval_visible": request_ is not None and can_see_request(request.user, request_),
            "can_read_audit": can_read_audit(request.user, admission.company_id),
        },
    )


@login_required
@require_GET_or_POST
def admission_edit(request: HttpRequest, pk: int) -> HttpResponse:
    admission = selectors.supplier_admission_access(user=request.user, id=pk)
    _require(
        can(request.user, TradingAction.SUPPLIER_ADMISSION, admission.company_id),
        _("Only a purchaser of the applying company may do this."),
    )
    form = forms.ReasonForm(_posted(request), initial={"reason": admission.reason})
    form.fields["reason"].required = False
    if form.is_valid() and _succeeds(
        form,
        lambda: services.supplier_admission_update(
            actor=request.user, admission_id=pk, reason=form.cleaned_data["reason"]
        ),
    ):
        messages.success(request, _("Changes saved."))
        return redirect("trading:admission_detail", pk)
    return _form_page(
        request,
        form,
        title=_("Edit application"),
        subtitle=admission.number,
        cancel_url=reverse("trading:admission_detail", args=[pk]),
    )


@login_required
@require_POST
def admission_submit(request: HttpRequest, pk: int) -> HttpResponse:
    selectors.supplier_admission_access(user=request.user, id=pk)
    _act(
        request,
        lambda: services.supplier_admission_submit(actor=request.user, admission_id=pk),
        _("Application submitted for approval."),
    )
    return redirect("trading:admission_detail", pk)


@login_required
@require_POST
def admission_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    selectors.supplier_admission_access(user=request.user, id=pk)
    _act(
        request,
        lambda: services.supplier_admission_cancel(actor=request.user, admission_id=pk),
        _("Application cancelled."),
    )
    return redirect("trading:admission_detail", pk)


# ---------------------------------------------------------------- customer credit


@login_required
@require_GET
def credit_change_list(request: HttpRequest) -> HttpResponse:
    form = forms.StatusFilterForm(request.GET)
    changes = selectors.credit_change_list(
        user=request.user, status=form.value("status") or None, search=form.value("q")
    )
    return render(
        request,
        "trading/master/credit_change_list.html",
        {"form": form, "page_obj": _page(request, changes)},
    )


@login_required
@require_GET_or_POST
def credit_change_create(request: HttpRequest, pk: int) -> HttpResponse:
    partner = selectors.partner_access(user=request.user, id=pk)
    _require(
        bool(companies_for(request.user, TradingAction.CREDIT_CHANGE)),
        _("Only sales or finance staff propose credit terms."),
    )
    initial = {
        "credit_limit": partner.credit_limit,
        "payment_days": partner.payment_days,
        "credit_grade": partner.credit_grade,
    }
    form = forms.CreditChangeForm(_posted(request), initial=initial, user=request.user)
    if form.is_valid():
        data = dict(form.cleaned_data)
        company = data.pop("company")
        change = _attempt(
            form,
            lambda: services.credit_change_create(
                actor=request.user, partner_id=pk, company_id=company.pk, **data
            ),
        )
        if change is not None:
            messages.success(
                request,
                _("Credit change %(number)s drafted; submit it for approval.")
                % {"number": change.number},
            )
            return redirect("trading:credit_change_detail", change.pk)
    return _form_page(
        request,
        form,
        title=_("Propose new credit terms"),
        subtitle=partner.name,
        cancel_url=_partner_url(pk),
    )


@login_required
@require_GET
def credit_change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    change = selectors.credit_change_access(user=request.user, id=pk)
    request_ = change.approval_request
    return render(
        request,
        "trading/master/credit_change_detail.html",
        {
            "change": change,
            "can_act": can(request.user, TradingAction.CREDIT_CHANGE, change.company_id)
            and change.status == ApprovalDocumentStatus.DRAFT,
            "approval_visible": request_ is not None and can_see_request(request.user, request_),
            "can_read_audit": can_read_audit(request.user, change.company_id),
        },
    )


@login_required
@require_POST
def credit_change_submit(request: HttpRequest, pk: int) -> HttpResponse:
    selectors.credit_change_access(user=request.user, id=pk)
    _act(
        request,
        lambda: services.credit_change_submit(actor=request.user, change_id=pk),
        _("Credit change submitted for approval."),
    )
    return redirect("trading:credit_change_detail", pk)


@login_required
@require_POST
def credit_change_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    selectors.credit_change_access(user=request.user, id=pk)
    _act(
        request,
        lambda: services.credit_change_cancel(actor=request.user, change_id=pk),
        _("Credit change cancelled."),
    )
    return redirect("trading:credit_change_detail", pk)


# ---------------------------------------------------------------- commodities


@login_required
@require_GET
def commodity_list(request: HttpRequest) -> HttpResponse:
    form = forms.SearchForm(request.GET)
    commodities = selectors.commodity_list(user=request.user, search=form.value("q"))
    return render(
        request,
        "trading/master/commodity_list.html",
        {
            "form": form,
            "page_obj": _page(request, commodities),
            "can_create": bool(companies_for(request.user, TradingAction.COMMODITY_EDIT)),
            "can_import": importing.can_import_master_data(request.user),
        },
    )


@login_required
@require_GET
def commodity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    commodity = selectors.commodity_access(user=request.user, id=pk)
    return render(
        request,
        "trading/master/commodity_detail.html",
        {
            "commodity": commodity,
            "can_edit": can_edit_master_data(
                request.user, TradingAction.COMMODITY_EDIT, commodity.company_id
            ),
            "can_read_audit": can_read_audit(request.user, commodity.company_id),
        },
    )


@login_required
@require_GET_or_POST
def commodity_create(request: HttpRequest) -> HttpResponse:
    _require(
        bool(companies_for(request.user, TradingAction.COMMODITY_EDIT)),
        _("Only purchasing, sales or warehouse staff maintain commodities."),
    )
    form = forms.CommodityForm(_posted(request), user=request.user)
    if form.is_valid():
        data = dict(form.cleaned_data)
        company = data.pop("company")
        commodity = _attempt(
            form,
            lambda: services.commodity_create(actor=request.user, company_id=company.pk, **data),
        )
        if commodity is not None:
            messages.success(request, _("Commodity “%(name)s” created.") % {"name": commodity})
            return redirect("trading:commodity_detail", commodity.pk)
    return _form_page(
        request, form, title=_("New commodity"), cancel_url=reverse("trading:commodity_list")
    )


@login_required
@require_GET_or_POST
def commodity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    commodity = selectors.commodity_access(user=request.user, id=pk)
    _require(
        can_edit_master_data(request.user, TradingAction.COMMODITY_EDIT, commodity.company_id),
        _("You may not change this commodity."),
    )
    initial = {name: getattr(commodity, name) for name in (*services.COMMODITY_FIELDS, "version")}
    form = forms.CommodityForm(_posted(request), initial=initial, user=request.user, editing=True)
    if form.is_valid():
        changes = dict(form.cleaned_data)
        version = changes.pop("version")
        if _succeeds(
            form,
            lambda: services.commodity_update(
                actor=request.user, commodity_id=pk, expected_version=version, **changes
            ),
        ):
            messages.success(request, _("Changes saved."))
            return redirect("trading:commodity_detail", pk)
    return _form_page(
        request,
        form,
        title=_("Edit commodity"),
        subtitle=str(commodity),
        cancel_url=reverse("trading:commodity_detail", args=[pk]),
    )


# ---------------------------------------------------------------- warehouses


@login_required
@require_GET
def warehouse_list(request: HttpRequest) -> HttpResponse:
    form = forms.WarehouseFilterForm(request.GET)
    warehouses = selectors.warehouse_list(
        user=request.user, search=form.value("q"), kind=form.value("kind") or None
    )
    return render(
        request,
        "trading/master/warehouse_list.html",
        {
            "form": form,
            "page_obj": _page(request, warehouses),
            "can_create": bool(companies_for(request.user, TradingAction.WAREHOUSE_EDIT)),
        },
    )


@login_required
@require_GET
def warehouse_detail(request: HttpRequest, pk: int) -> HttpResponse:
    warehouse = selectors.warehouse_access(user=request.user, id=pk)
    return render(
        request,
        "trading/master/warehouse_detail.html",
        {
            "warehouse": warehouse,
            "can_edit": can(request.user, TradingAction.WAREHOUSE_EDIT, warehouse.company_id),
            "can_read_audit": can_read_audit(request.user, warehouse.company_id),
        },
    )


@login_required
@require_GET_or_POST
def warehouse_create(request: HttpRequest) -> HttpResponse:
    _require(
        bool(companies_for(request.user, TradingAction.WAREHOUSE_EDIT)),
        _("Only warehouse keepers maintain warehouses."),
    )
    form = forms.WarehouseForm(_posted(request), user=request.user)
    if form.is_valid():
        data = dict(form.cleaned_data)
        company, keeper = data.pop("company"), data.pop("keeper")
        warehouse = _attempt(
            form,
            lambda: services.warehouse_create(
                actor=request.user,
                company_id=company.pk,
                keeper_id=keeper.pk if keeper else None,
                **data,
            ),
        )
        if warehouse is not None:
            messages.success(request, _("Warehouse “%(name)s” created.") % {"name": warehouse})
            return redirect("trading:warehouse_detail", warehouse.pk)
    return _form_page(
        request, form, title=_("New warehouse"), cancel_url=reverse("trading:warehouse_list")
    )


@login_required
@require_GET_or_POST
def warehouse_edit(request: HttpRequest, pk: int) -> HttpResponse:
    warehouse = selectors.warehouse_access(user=request.user, id=pk)
    _require(
        can(request.user, TradingAction.WAREHOUSE_EDIT, warehouse.company_id),
        _("Only a warehouse keeper of the company may do this."),
    )
    initial = {
        "code": warehouse.code,
        "name": warehouse.name,
        "kind": warehouse.kind,
        "address": warehouse.address,
        "keeper": warehouse.keeper_id,
        "is_active": warehouse.is_active,
        "version": warehouse.version,
    }
    form = forms.WarehouseForm(
        _posted(request), initial=initial, user=request.user, company_id=warehouse.company_id
    )
    if form.is_valid():
        changes = dict(form.cleaned_data)
        version, keeper = changes.pop("version"), changes.pop("keeper")
        if _succeeds(
            form,
            lambda: services.warehouse_update(
                actor=request.user,
                warehouse_id=pk,
                expected_version=version,
                keeper_id=keeper.pk if keeper else None,
                **changes,
            ),
        ):
            messages.success(request, _("Changes saved."))
            return redirect("trading:warehouse_detail", pk)
    return _form_page(
        request,
        form,
        title=_("Edit warehouse"),
        subtitle=warehouse.name,
        cancel_url=reverse("trading:warehouse_detail", args=[pk]),
    )


# ---------------------------------------------------------------- the import


def _require_import_right(user: Any) -> None:
    _require(
        importing.can_import_master_data(user),
        _("Only those who maintain partners or commodities may import them."),
    )


@login_required
@require_GET_or_POST
def master_import(request: HttpRequest) -> HttpResponse:
    _require_import_right(request.user)
    result = None
    form = forms.WorkbookUploadForm(_posted(request), _files(request))
    if form.is_valid():
        upload = form.cleaned_data["file"]
        result = importing.master_workbook_import(
            actor=request.user,
            source=upload,
            filename=upload.name or "",
            dry_run=form.cleaned_data["dry_run"],
        )
    return render(
        request,
        "trading/master/import.html",
        {
            "form": form,
            "result": result,
            "problems": result.problems[:SHOWN_PROBLEMS] if result else [],
            "hidden_problems": max(0, len(result.problems) - SHOWN_PROBLEMS) if result else 0,
            "sheets": importing.SHEETS,
            "max_megabytes": MAX_FILE_BYTES // 2**20,
            "max_rows": MAX_ROWS_PER_SHEET,
        },
    )


@login_required
@require_GET
def master_import_template(request: HttpRequest) -> HttpResponse:
    _require_import_right(request.user)
    return HttpResponse(
        importing.template_workbook(),
        content_type=XLSX_CONTENT_TYPE,
        headers={"Content-Disposition": content_disposition_header(True, TEMPLATE_FILENAME)},
    )


urlpatterns: list[URLPattern] = [
    path("partners/", partner_list, name="partner_list"),
    path("partners/new/", partner_create, name="partner_create"),
    path("partners/<int:pk>/", partner_detail, name="partner_detail"),
    path("partners/<int:pk>/edit/", partner_edit, name="partner_edit"),
    path("partners/<int:pk>/contacts/new/", partner_contact_add, name="partner_contact_add"),
    path("partners/<int:pk>/qualifications/new/", qualification_add, name="qualification_add"),
    path("partners/<int:pk>/suspend/", partner_suspend, name="partner_suspend"),
    path("partners/<int:pk>/blacklist/", partner_blacklist, name="partner_blacklist"),
    path("partners/<int:pk>/reinstate/", partner_reinstate, name="partner_reinstate"),
    path("partners/<int:pk>/admission/new/", admission_create, name="admission_create"),
    path("partners/<int:pk>/credit/new/", credit_change_create, name="credit_change_create"),
    path("contacts/<int:pk>/edit/", partner_contact_edit, name="partner_contact_edit"),
    path("contacts/<int:pk>/remove/", partner_contact_remove, name="partner_contact_remove"),
    path("qualifications/expiring/", qualification_expiring, name="qualification_expiring"),
    path("qualifications/<int:pk>/edit/", qualification_edit, name="qualification_edit"),
    path("qualifications/<int:pk>/remove/", qualification_remove, name="qualification_remove"),
    path("qualifications/<int:pk>/file/", qualification_file, name="qualification_file"),
    path("admissions/", admission_list, name="admission_list"),
    path("admissions/<int:pk>/", admission_detail, name="admission_detail"),
    path("admissions/<int:pk>/edit/", admission_edit, name="admission_edit"),
    path("admissions/<int:pk>/submit/", admission_submit, name="admission_submit"),
    path("admissions/<int:pk>/cancel/", admission_cancel, name="admission_cancel"),
    path("credit-changes/", credit_change_list, name="credit_change_list"),
    path("credit-changes/<int:pk>/", credit_change_detail, name="credit_change_detail"),
    path("credit-changes/<int:pk>/submit/", credit_change_submit, name="credit_change_submit"),
    path("credit-changes/<int:pk>/cancel/", credit_change_cancel, name="credit_change_cancel"),
    path("commodities/", commodity_list, name="commodity_list"),
    path("commodities/new/", commodity_create, name="commodity_create"),
    path("commodities/<int:pk>/", commodity_detail, name="commodity_detail"),
    path("commodities/<int:pk>/edit/", commodity_edit, name="commodity_edit"),
    path("warehouses/", warehouse_list, name="warehouse_list"),
    path("warehouses/new/", warehouse_create, name="warehouse_create"),
    path("warehouses/<int:pk>/", warehouse_detail, name="warehouse_detail"),
    path("warehouses/<int:pk>/edit/", warehouse_edit, name="warehouse_edit"),
    path("master-data/import/", master_import, name="master_import"),
    path("master-data/import/template/", master_import_template, name="master_import_template"),
]
