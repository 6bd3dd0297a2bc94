"""Trading API: master data — partners (contacts, qualifications, supply check, sanctions),
supplier admissions, credit changes, commodities, warehouses and the Excel import. Thin:
selectors read through the scopes, one service call per write."""

import datetime
from decimal import Decimal
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from qinglian.core import clock
from qinglian.core.api import ERROR_RESPONSES
from qinglian.core.errors import PermissionDenied
from qinglian.core.workbook import XLSX_CONTENT_TYPE
from qinglian.org.models import User

from .. import importing
from ..selectors import master as selectors
from ..services import master as services

router = Router()

# ---------------------------------------------------------------- schemas


class ContactOut(Schema):
    id: int
    name: str
    position: str
    phone: str
    email: str


class ContactIn(Schema):
    name: str = Field(max_length=60)
    position: str = ""
    phone: str = ""
    email: str = ""


class ContactPatch(Schema):
    name: str | None = None
    position: str | None = None
    phone: str | None = None
    email: str | None = None


class QualificationOut(Schema):
    id: int
    partner_id: int
    kind: str
    name: str
    number: str
    issued_on: datetime.date | None
    expires_on: datetime.date | None
    has_file: bool

    @staticmethod
    def resolve_has_file(obj: Any) -> bool:
        return bool(obj.file)


class QualificationPatch(Schema):
    kind: str | None = None
    name: str | None = None
    number: str | None = None
    issued_on: datetime.date | None = None
    expires_on: datetime.date | None = None


class PartnerOut(Schema):
    id: int
    company_id: int
    code: str
    name: str
    uscc: str
    kind: str
    bank_name: str
    bank_account: str
    phone: str
    address: str
    admission_status: str
    admission_reason: str
    admitted_on: datetime.date | None
    credit_limit: Decimal
    payment_days: int
    credit_grade: str
    is_active: bool
    version: int


class PartnerDetailOut(PartnerOut):
    contacts: list[ContactOut]
    qualifications: list[QualificationOut]

    @staticmethod
    def resolve_contacts(obj: Any) -> list[Any]:
        return list(obj.contacts.all())

    @staticmethod
    def resolve_qualifications(obj: Any) -> list[Any]:
        return list(obj.qualifications.all())


class PartnerIn(Schema):
    company_id: int
    code: str = Field(max_length=40)
    name: str = Field(max_length=200)
    kind: str
    uscc: str = ""
    bank_name: str = ""
    bank_account: str = ""
    phone: str = ""
    address: str = ""
    contacts: list[ContactIn] = []


class PartnerPatch(Schema):
    version: int | None = None
    code: str | None = None
    name: str | None = None
    kind: str | None = None
    uscc: str | None = None
    bank_name: str | None = None
    bank_account: str | None = None
    phone: str | None = None
    address: str | None = None
    is_active: bool | None = None


class PartnerFilter(Schema):
    search: str = ""
    kind: str | None = None
    admission_status: str | None = None
    company_id: int | None = None


class SupplyCheckOut(Schema):
    partner_id: int
    on_date: datetime.date
    may_supply: bool
    reason: str


class ReasonIn(Schema):
    reason: str


class ExpiringFilter(Schema):
    within_days: int = Field(30, ge=0, le=3650)
    include_expired: bool = True


class AdmissionOut(Schema):
    id: int
    number: str
    company_id: int
    partner_id: int
    status: str
    reason: str
    applicant_id: int
    approval_request_id: int | None
    submitted_at: datetime.datetime | None
    decided_at: datetime.datetime | None


class AdmissionIn(Schema):
    partner_id: int
    reason: str = ""
    company_id: int | None = None


class AdmissionPatch(Schema):
    reason: str


class StatusFilter(Schema):
    status: str | None = None
    partner_id: int | None = None
    search: str = ""


class CreditChangeOut(Schema):
    id: int
    number: str
    company_id: int
    partner_id: int
    status: str
    previous_limit: Decimal
    previous_days: int
    previous_grade: str
    credit_limit: Decimal
    payment_days: int
    credit_grade: str
    reason: str
    requested_by_id: int
    approval_request_id: int | None
    decided_at: datetime.datetime | None


class CreditChangeIn(Schema):
    partner_id: int
    credit_limit: Decimal
    payment_days: int
    credit_grade: str = ""
    reason: str
    company_id: int | None = None


class CommodityOut(Schema):
    id: int
    company_id: int
    code: str
    name: str
    spec: str
    unit: str
    tolerance_percent: Decimal
    quantity_tolerance_percent: Decimal
    tax_rate: Decimal
    is_active: bool
    version: int


class CommodityIn(Schema):
    company_id: int
    code: str = Field(max_length=40)
    name: str = Field(max_length=100)
    spec: str = ""
    unit: str = "t"
    tolerance_percent: Decimal = Decimal("0.30")
    quantity_tolerance_percent: Decimal = Decimal("5.00")
    tax_rate: Decimal = Decimal("0.1300")


class CommodityPatch(Schema):
    version: int | None = None
    code: str | None = None
    name: str | None = None
    spec: str | None = None
    unit: str | None = None
    tolerance_percent: Decimal | None = None
    quantity_tolerance_percent: Decimal | None = None
    tax_rate: Decimal | None = None
    is_active: bool | None = None


class SearchFilter(Schema):
    search: str = ""
    company_id: int | None = None


class WarehouseOut(Schema):
    id: int
    company_id: int
    code: str
    name: str
    kind: str
    address: str
    keeper_id: int | None
    is_active: bool
    version: int


class WarehouseIn(Schema):
    company_id: int
    code: str = Field(max_length=40)
    name: str = Field(max_length=100)
    kind: str = "own"
    address: str = ""
    keeper_id: int | None = None


class WarehousePatch(Schema):
    version: int | None = None
    code: str | None = None
    name: str | None = None
    kind: str | None = None
    address: str | None = None
    keeper_id: int | None = None
    is_active: bool | None = None


class WarehouseFilter(SearchFilter):
    kind: str | None = None


class ImportProblemOut(Schema):
    sheet: str
    row: int | None
    column: str
    header: str
    message: str


class ImportCountsOut(Schema):
    partners: int
    contacts: int
    commodities: int


class ImportResultOut(Schema):
    is_success: bool
    dry_run: bool
    counts: ImportCountsOut
    problems: list[ImportProblemOut]


def _actor(request: HttpRequest) -> User:
    """The authenticated user (both authenticators refuse anonymous requests)."""
    return cast(User, request.user)


def _patch(payload: Schema) -> tuple[int | None, dict[str, Any]]:
    data = payload.dict(exclude_unset=True)
    return data.pop("version", None), data


# ---------------------------------------------------------------- partners


@router.get("/partners", response={200: list[PartnerOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def partner_list(request: HttpRequest, filters: Query[PartnerFilter]) -> Any:
    return selectors.partner_list(
        user=request.user,
        search=filters.search,
        kind=filters.kind,
        admission_status=filters.admission_status,
        company_id=filters.company_id,
    )


@router.get("/partners/{partner_id}", response={200: PartnerDetailOut, **ERROR_RESPONSES})
def partner_detail(request: HttpRequest, partner_id: int) -> Any:
    return selectors.partner_access(user=request.user, id=partner_id)


@router.post("/partners", response={201: PartnerDetailOut, **ERROR_RESPONSES})
def partner_create(request: HttpRequest, payload: PartnerIn) -> Any:
    data = payload.dict()
    partner = services.partner_create(actor=_actor(request), **data)
    return 201, selectors.partner_access(user=request.user, id=partner.pk)


@router.patch("/partners/{partner_id}", response={200: PartnerDetailOut, **ERROR_RESPONSES})
def partner_update(request: HttpRequest, partner_id: int, payload: PartnerPatch) -> Any:
    version, changes = _patch(payload)
    services.partner_update(
        actor=_actor(request), partner_id=partner_id, expected_version=version, **changes
    )
    return selectors.partner_access(user=request.user, id=partner_id)


@router.get(
    "/partners/{partner_id}/supply-check", response={200: SupplyCheckOut, **ERROR_RESPONSES}
)
def partner_supply_check(
    request: HttpRequest, partner_id: int, on_date: datetime.date | None = None
) -> Any:
    """May the partner appear on a purchase contract on `on_date` (default today)?"""
    partner = selectors.partner_access(user=request.user, id=partner_id)
    day = on_date or clock.today()
    may_supply, reason = selectors.partner_can_supply(partner, day)
    return {"partner_id": partner.pk, "on_date": day, "may_supply": may_supply, "reason": reason}


@router.post("/partners/{partner_id}/suspend", response={200: PartnerOut, **ERROR_RESPONSES})
def partner_suspend(request: HttpRequest, partner_id: int, payload: ReasonIn) -> Any:
    return services.partner_suspend(
        actor=_actor(request), partner_id=partner_id, reason=payload.reason
    )


@router.post("/partners/{partner_id}/blacklist", response={200: PartnerOut, **ERROR_RESPONSES})
def partner_blacklist(request: HttpRequest, partner_id: int, payload: ReasonIn) -> Any:
    return services.partner_blacklist(
        actor=_actor(request), partner_id=partner_id, reason=payload.reason
    )


@router.post("/partners/{partner_id}/reinstate", response={200: PartnerOut, **ERROR_RESPONSES})
def partner_reinstate(request: HttpRequest, partner_id: int, payload: ReasonIn) -> Any:
    return services.partner_reinstate(
        actor=_actor(request), partner_id=partner_id, reason=payload.reason
    )


# ---------------------------------------------------------------- contacts


@router.post("/partners/{partner_id}/contacts", response={201: ContactOut, **ERROR_RESPONSES})
def contact_add(request: HttpRequest, partner_id: int, payload: ContactIn) -> Any:
    return 201, services.partner_contact_add(
        actor=_actor(request), partner_id=partner_id, **payload.dict()
    )


@router.patch("/contacts/{contact_id}", response={200: ContactOut, **ERROR_RESPONSES})
def contact_update(request: HttpRequest, contact_id: int, payload: ContactPatch) -> Any:
    return services.partner_contact_update(
        actor=_actor(request), contact_id=contact_id, **payload.dict(exclude_unset=True)
    )


@router.delete("/contacts/{contact_id}", response={204: None, **ERROR_RESPONSES})
def contact_remove(request: HttpRequest, contact_id: int) -> Any:
    services.partner_contact_remove(actor=_actor(request), contact_id=contact_id)
    return 204, None


# ---------------------------------------------------------------- qualifications


@router.get("/qualifications/expiring", response={200: list[QualificationOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def qualification_expiring(request: HttpRequest, filters: Query[ExpiringFilter]) -> Any:
    return selectors.qualification_expiring_list(
        user=request.user,
        within_days=filters.within_days,
        today=clock.today(),
        include_expired=filters.include_expired,
    )


@router.post(
    "/partners/{partner_id}/qualifications",
    response={201: QualificationOut, **ERROR_RESPONSES},
)
def qualification_add(
    request: HttpRequest,
    partner_id: int,
    kind: Form[str],
    name: Form[str] = "",
    number: Form[str] = "",
    issued_on: Form[datetime.date | None] = None,
    expires_on: Form[datetime.date | None] = None,
    file: File[UploadedFile] = None,  # type: ignore[assignment]
) -> Any:
    """Multipart: the fields, and optionally the scan as `file` (PDF, JPEG or PNG)."""
    return 201, services.qualification_add(
        actor=_actor(request),
        partner_id=partner_id,
        kind=kind,
        name=name,
        number=number,
        issued_on=issued_on,
        expires_on=expires_on,
        file=file,
    )


@router.patch(
    "/qualifications/{qualification_id}", response={200: QualificationOut, **ERROR_RESPONSES}
)
def qualification_update(
    request: HttpRequest, qualification_id: int, payload: QualificationPatch
) -> Any:
    return services.qualification_update(
        actor=_actor(request),
        qualification_id=qualification_id,
        **payload.dict(exclude_unset=True),
    )


@router.delete("/qualifications/{qualification_id}", response={204: None, **ERROR_RESPONSES})
def qualification_remove(request: HttpRequest, qualification_id: int) -> Any:
    services.qualification_remove(actor=_actor(request), qualification_id=qualification_id)
    return 204, None


# ---------------------------------------------------------------- supplier admission


@router.get("/admissions", response={200: list[AdmissionOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def admission_list(request: HttpRequest, filters: Query[StatusFilter]) -> Any:
    return selectors.supplier_admission_list(
        user=request.user,
        status=filters.status,
        partner_id=filters.partner_id,
        search=filters.search,
    )


@router.get("/admissions/{admission_id}", response={200: AdmissionOut, **ERROR_RESPONSES})
def admission_detail(request: HttpRequest, admission_id: int) -> Any:
    return selectors.supplier_admission_access(user=request.user, id=admission_id)


@router.post("/admissions", response={201: AdmissionOut, **ERROR_RESPONSES})
def admission_create(request: HttpRequest, payload: AdmissionIn) -> Any:
    return 201, services.supplier_admission_create(actor=_actor(request), **payload.dict())


@router.patch("/admissions/{admission_id}", response={200: AdmissionOut, **ERROR_RESPONSES})
def admission_update(request: HttpRequest, admission_id: int, payload: AdmissionPatch) -> Any:
    return services.supplier_admission_update(
        actor=_actor(request), admission_id=admission_id, reason=payload.reason
    )


@router.post("/admissions/{admission_id}/submit", response={200: AdmissionOut, **ERROR_RESPONSES})
def admission_submit(request: HttpRequest, admission_id: int) -> Any:
    return services.supplier_admission_submit(actor=_actor(request), admission_id=admission_id)


@router.post("/admissions/{admission_id}/cancel", response={200: AdmissionOut, **ERROR_RESPONSES})
def admission_cancel(request: HttpRequest, admission_id: int) -> Any:
    return services.supplier_admission_cancel(actor=_actor(request), admission_id=admission_id)


# ---------------------------------------------------------------- credit changes


@router.get("/credit-changes", response={200: list[CreditChangeOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def credit_change_list(request: HttpRequest, filters: Query[StatusFilter]) -> Any:
    return selectors.credit_change_list(
        user=request.user,
        status=filters.status,
        partner_id=filters.partner_id,
        search=filters.search,
    )


@router.get("/credit-changes/{change_id}", response={200: CreditChangeOut, **ERROR_RESPONSES})
def credit_change_detail(request: HttpRequest, change_id: int) -> Any:
    return selectors.credit_change_access(user=request.user, id=change_id)


@router.post("/credit-changes", response={201: CreditChangeOut, **ERROR_RESPONSES})
def credit_change_create(request: HttpRequest, payload: CreditChangeIn) -> Any:
    return 201, services.credit_change_create(actor=_actor(request), **payload.dict())


@router.post(
    "/credit-changes/{change_id}/submit", response={200: CreditChangeOut, **ERROR_RESPONSES}
)
def credit_change_submit(request: HttpRequest, change_id: int) -> Any:
    return services.credit_change_submit(actor=_actor(request), change_id=change_id)


@router.post(
    "/credit-changes/{change_id}/cancel", response={200: CreditChangeOut, **ERROR_RESPONSES}
)
def credit_change_cancel(request: HttpRequest, change_id: int) -> Any:
    return services.credit_change_cancel(actor=_actor(request), change_id=change_id)


# ---------------------------------------------------------------- commodities


@router.get("/commodities", response={200: list[CommodityOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def commodity_list(request: HttpRequest, filters: Query[SearchFilter]) -> Any:
    return selectors.commodity_list(
        user=request.user, search=filters.search, company_id=filters.company_id
    )


@router.get("/commodities/{commodity_id}", response={200: CommodityOut, **ERROR_RESPONSES})
def commodity_detail(request: HttpRequest, commodity_id: int) -> Any:
    return selectors.commodity_access(user=request.user, id=commodity_id)


@router.post("/commodities", response={201: CommodityOut, **ERROR_RESPONSES})
def commodity_create(request: HttpRequest, payload: CommodityIn) -> Any:
    return 201, services.commodity_create(actor=_actor(request), **payload.dict())


@router.patch("/commodities/{commodity_id}", response={200: CommodityOut, **ERROR_RESPONSES})
def commodity_update(request: HttpRequest, commodity_id: int, payload: CommodityPatch) -> Any:
    version, changes = _patch(payload)
    return services.commodity_update(
        actor=_actor(request), commodity_id=commodity_id, expected_version=version, **changes
    )


# ---------------------------------------------------------------- warehouses


@router.get("/warehouses", response={200: list[WarehouseOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def warehouse_list(request: HttpRequest, filters: Query[WarehouseFilter]) -> Any:
    return selectors.warehouse_list(
        user=request.user,
        search=filters.search,
        company_id=filters.company_id,
        kind=filters.kind,
    )


@router.get("/warehouses/{warehouse_id}", response={200: WarehouseOut, **ERROR_RESPONSES})
def warehouse_detail(request: HttpRequest, warehouse_id: int) -> Any:
    return selectors.warehouse_access(user=request.user, id=warehouse_id)


@router.post("/warehouses", response={201: WarehouseOut, **ERROR_RESPONSES})
def warehouse_create(request: HttpRequest, payload: WarehouseIn) -> Any:
    return 201, services.warehouse_create(actor=_actor(request), **payload.dict())


@router.patch("/warehouses/{warehouse_id}", response={200: WarehouseOut, **ERROR_RESPONSES})
def warehouse_update(request: HttpRequest, warehouse_id: int, payload: WarehousePatch) -> Any:
    version, changes = _patch(payload)
    return services.warehouse_update(
        actor=_actor(request), warehouse_id=warehouse_id, expected_version=version, **changes
    )


# ---------------------------------------------------------------- the import


@router.post("/master-data/import", response={200: ImportResultOut, **ERROR_RESPONSES})
def master_import(
    request: HttpRequest, file: File[UploadedFile], dry_run: Form[bool] = False
) -> Any:
    """Multipart: the workbook as `file`; `dry_run` checks without writing. All or nothing:
    `problems` name sheet, row and column; when there are any, nothing was written."""
    if not importing.can_import_master_data(request.user):
        raise PermissionDenied(
            _("Only those who maintain partners or commodities may import them.")
        )
    result = importing.master_workbook_import(
        actor=_actor(request), source=file, filename=file.name or "", dry_run=dry_run
    )
    return {
        "is_success": result.is_success,
        "dry_run": result.dry_run,
        "counts": result.counts,
        "problems": result.problems,
    }


@router.get("/master-data/import/template", response={200: None, **ERROR_RESPONSES})
def master_import_template(request: HttpRequest) -> HttpResponse:
    if not importing.can_import_master_data(request.user):
        raise PermissionDenied(
            _("Only those who maintain partners or commodities may import them.")
        )
    return HttpResponse(
        importing.template_workbook(),
        content_type=XLSX_CONTENT_TYPE,
        headers={
            "Content-Disposition": content_disposition_header(
                True, "qinglian-trading-master-import-template.xlsx"
            )
        },
    )
