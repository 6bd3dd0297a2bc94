"""Trading API: money — invoices, payments and receipts, the partner ledger and opening
balances. Thin: selectors read through the data scope, services write."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from qinglian.core.api import ERROR_RESPONSES
from qinglian.core.errors import PermissionDenied
from qinglian.core.workbook import XLSX_CONTENT_TYPE
from qinglian.org.models import User

from ..selectors import contracts as contract_selectors
from ..selectors import money as selectors
from ..services import money as services

router = Router()


# ---------------------------------------------------------------- schemas


class InvoiceOut(Schema):
    id: int
    company_id: int
    direction: str
    invoice_code: str
    invoice_number: str
    partner_id: int
    contract_id: int | None
    amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    invoice_date: date
    due_date: date | None
    status: str
    reverses_id: int | None
    reason: str
    remarks: str
    posted_at: datetime | None
    version: int


class InvoiceIn(Schema):
    contract_id: int
    invoice_number: str = Field(max_length=40)
    invoice_code: str = Field("", max_length=20)
    invoice_date: date
    amount: Decimal
    tax_rate: Decimal | None = Field(None, description="0.13 for 13 %; empty: the contract's")
    remarks: str = ""


class InvoicePatch(Schema):
    version: int | None = None
    invoice_number: str | None = None
    invoice_code: str | None = None
    invoice_date: date | None = None
    amount: Decimal | None = None
    tax_rate: Decimal | None = None
    remarks: str | None = None


class InvoiceReverseIn(Schema):
    invoice_number: str = Field(max_length=40, description="the red-letter invoice's number")
    invoice_code: str = Field("", max_length=20)
    invoice_date: date | None = None
    reason: str = Field(max_length=255)


class PaymentOut(Schema):
    id: int
    company_id: int
    number: str
    direction: str
    kind: str
    partner_id: int
    contract_id: int | None
    invoice_id: int | None
    amount: Decimal
    paid_on: date
    status: str
    is_exception: bool
    exception_reason: str
    allowed_amount: Decimal | None
    bank_account: str
    approval_request_id: int | None
    reverses_id: int | None
    reason: str
    remarks: str
    posted_at: datetime | None
    version: int


class PaymentIn(Schema):
    contract_id: int | None = None
    company_id: int | None = Field(None, description="without a contract")
    partner_id: int | None = Field(None, description="without a contract")
    direction: str | None = Field(None, description="out | in, without a contract")
    amount: Decimal
    paid_on: date
    invoice_id: int | None = None
    is_exception: bool = False
    exception_reason: str = ""
    bank_account: str = Field("", max_length=40)
    remarks: str = ""


class PaymentPatch(Schema):
    version: int | None = None
    amount: Decimal | None = None
    paid_on: date | None = None
    invoice_id: int | None = None
    is_exception: bool | None = None
    exception_reason: str | None = None
    bank_account: str | None = None
    remarks: str | None = None


class PaymentReverseIn(Schema):
    reason: str = Field(max_length=255)
    reversed_on: date | None = None


class VersionIn(Schema):
    version: int | None = None


class AllowanceOut(Schema):
    prepayment_allowance: Decimal
    invoiced: Decimal
    delivered_value: Decimal
    ceiling: Decimal
    settled: Decimal
    reserved: Decimal
    allowed: Decimal


class BalanceOut(Schema):
    company_id: int
    partner_id: int
    receivable: Decimal
    payable: Decimal


class EntryOut(Schema):
    id: int
    company_id: int
    partner_id: int
    contract_id: int | None
    account: str
    kind: str
    amount: Decimal
    posting_date: date
    due_date: date | None
    voucher_type: str
    voucher_id: int


class OpenItemOut(Schema):
    company_id: int
    partner_id: int
    contract_id: int | None
    account: str
    voucher_type: str
    voucher_id: int
    posting_date: date
    due_date: date
    amount: Decimal
    outstanding: Decimal
    days_overdue: int


class TotalsOut(Schema):
    company_id: int
    receivable: Decimal
    payable: Decimal
    stored_receivable: Decimal
    stored_payable: Decimal


class OpeningIn(Schema):
    company_id: int
    partner_id: int
    account: str = Field(description="receivable | payable")
    amount: Decimal = Field(description="negative: an advance")
    posting_date: date
    due_date: date | None = None
    contract_id: int | None = None
    reference: str = Field("", max_length=100)


class OpeningOut(Schema):
    id: int
    company_id: int
    partner_id: int
    contract_id: int | None
    account: str
    amount: Decimal
    posting_date: date
    due_date: date | None
    reference: str
    reverses_id: int | None


class ImportCountsOut(Schema):
    rows: int
    receivable: Decimal
    payable: Decimal


class ImportProblemOut(Schema):
    sheet: str
    row: int | None
    column: str
    header: str
    message: str


class ImportResultOut(Schema):
    is_success: bool
    dry_run: bool
    counts: ImportCountsOut
    problems: list[ImportProblemOut]


class OpeningReverseIn(Schema):
    reason: str = Field(max_length=100)


class MoneyFilter(Schema):
    direction: str | None = None
    status: str | None = None
    company_id: int | None = None
    partner_id: int | None = None
    contract_id: int | None = None
    search: str = ""


class LedgerFilter(Schema):
    partner_id: int | None = None
    company_id: int | None = None
    contract_id: int | None = None
    account: str | None = None
    date_from: date | None = None
    date_to: date | None = None


class OpenItemFilter(Schema):
    partner_id: int | None = None
    company_id: int | None = None
    contract_id: int | None = None
    account: str | None = None
    as_of: date | None = None


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _patch(payload: Schema) -> tuple[int | None, dict[str, Any]]:
    data = payload.dict(exclude_unset=True)
    return data.pop("version", None), data


# ---------------------------------------------------------------- invoices


@router.get("/invoices", response={200: list[InvoiceOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def invoice_list(request: HttpRequest, filters: Query[MoneyFilter]) -> Any:
    return selectors.invoice_list(user=request.user, **filters.dict())


@router.get("/invoices/{invoice_id}", response={200: InvoiceOut, **ERROR_RESPONSES})
def invoice_detail(request: HttpRequest, invoice_id: int) -> Any:
    return selectors.invoice_access(user=request.user, id=invoice_id)


@router.post("/invoices", response={201: InvoiceOut, **ERROR_RESPONSES})
def invoice_create(request: HttpRequest, payload: InvoiceIn) -> Any:
    return 201, services.invoice_create(actor=_actor(request), **payload.dict())


@router.patch("/invoices/{invoice_id}", response={200: InvoiceOut, **ERROR_RESPONSES})
def invoice_update(request: HttpRequest, invoice_id: int, payload: InvoicePatch) -> Any:
    version, changes = _patch(payload)
    return services.invoice_update(
        actor=_actor(request), invoice_id=invoice_id, expected_version=version, **changes
    )


@router.post("/invoices/{invoice_id}/post", response={200: InvoiceOut, **ERROR_RESPONSES})
def invoice_post(request: HttpRequest, invoice_id: int, payload: VersionIn) -> Any:
    return services.invoice_post(
        actor=_actor(request), invoice_id=invoice_id, expected_version=payload.version
    )


@router.post("/invoices/{invoice_id}/cancel", response={200: InvoiceOut, **ERROR_RESPONSES})
def invoice_cancel(request: HttpRequest, invoice_id: int, payload: VersionIn) -> Any:
    return services.invoice_cancel(
        actor=_actor(request), invoice_id=invoice_id, expected_version=payload.version
    )


@router.post("/invoices/{invoice_id}/reverse", response={201: InvoiceOut, **ERROR_RESPONSES})
def invoice_reverse(request: HttpRequest, invoice_id: int, payload: InvoiceReverseIn) -> Any:
    return 201, services.invoice_reverse(
        actor=_actor(request), invoice_id=invoice_id, **payload.dict()
    )


# ---------------------------------------------------------------- payments and receipts


@router.get("/payments", response={200: list[PaymentOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def payment_list(request: HttpRequest, filters: Query[MoneyFilter]) -> Any:
    return selectors.payment_list(user=request.user, **filters.dict())


@router.get("/payments/{payment_id}", response={200: PaymentOut, **ERROR_RESPONSES})
def payment_detail(request: HttpRequest, payment_id: int) -> Any:
    return selectors.payment_access(user=request.user, id=payment_id)


@router.post("/payments", response={201: PaymentOut, **ERROR_RESPONSES})
def payment_create(request: HttpRequest, payload: PaymentIn) -> Any:
    return 201, services.payment_create(actor=_actor(request), **payload.dict())


@router.patch("/payments/{payment_id}", response={200: PaymentOut, **ERROR_RESPONSES})
def payment_update(request: HttpRequest, payment_id: int, payload: PaymentPatch) -> Any:
    version, changes = _patch(payload)
    return services.payment_update(
        actor=_actor(request), payment_id=payment_id, expected_version=version, **changes
    )


@router.post("/payments/{payment_id}/submit", response={200: PaymentOut, **ERROR_RESPONSES})
def payment_submit(request: HttpRequest, payment_id: int, payload: VersionIn) -> Any:
    return services.payment_submit(
        actor=_actor(request), payment_id=payment_id, expected_version=payload.version
    )


@router.post("/payments/{payment_id}/post", response={200: PaymentOut, **ERROR_RESPONSES})
def receipt_post(request: HttpRequest, payment_id: int, payload: VersionIn) -> Any:
    return services.receipt_post(
        actor=_actor(request), payment_id=payment_id, expected_version=payload.version
    )


@router.post("/payments/{payment_id}/cancel", response={200: PaymentOut, **ERROR_RESPONSES})
def payment_cancel(request: HttpRequest, payment_id: int, payload: VersionIn) -> Any:
    return services.payment_cancel(
        actor=_actor(request), payment_id=payment_id, expected_version=payload.version
    )


@router.post("/payments/{payment_id}/reverse", response={201: PaymentOut, **ERROR_RESPONSES})
def payment_reverse(request: HttpRequest, payment_id: int, payload: PaymentReverseIn) -> Any:
    return 201, services.payment_reverse(
        actor=_actor(request), payment_id=payment_id, **payload.dict()
    )


@router.get(
    "/contracts/{contract_id}/payment-allowance",
    response={200: AllowanceOut, **ERROR_RESPONSES},
)
def payment_allowance(request: HttpRequest, contract_id: int) -> Any:
    """What may still be paid against a contract without an approved exception."""
    contract = contract_selectors.contract_access(user=request.user, id=contract_id)
    return selectors.contract_payment_allowance(contract)


# ---------------------------------------------------------------- the partner ledger


@router.get("/partner-ledger/balances", response={200: list[BalanceOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def partner_balances(request: HttpRequest, company_id: int | None = None, search: str = "") -> Any:
    return selectors.partner_balance_list(user=request.user, company_id=company_id, search=search)


@router.get("/partner-ledger/entries", response={200: list[EntryOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def partner_entries(request: HttpRequest, filters: Query[LedgerFilter]) -> Any:
    return selectors.partner_ledger_entries(user=request.user, **filters.dict())


@router.get("/partner-ledger/open-items", response={200: list[OpenItemOut], **ERROR_RESPONSES})
def partner_open_items(request: HttpRequest, filters: Query[OpenItemFilter]) -> Any:
    """Open receivables and payables with due dates (first in, first out): ageing's input."""
    return selectors.open_items(user=request.user, **filters.dict())


@router.get(
    "/partner-ledger/{partner_id}/totals", response={200: list[TotalsOut], **ERROR_RESPONSES}
)
def partner_totals(request: HttpRequest, partner_id: int, company_id: int | None = None) -> Any:
    partner = selectors.partner_ledger_access(user=request.user, partner_id=partner_id)
    return selectors.partner_ledger_totals(
        user=request.user, partner_id=partner.pk, company_id=company_id
    )


# ---------------------------------------------------------------- opening balances


@router.get("/opening-balances", response={200: list[OpeningOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def opening_balance_list(
    request: HttpRequest, company_id: int | None = None, partner_id: int | None = None
) -> Any:
    return selectors.opening_balance_list(
        user=request.user, company_id=company_id, partner_id=partner_id
    )


@router.post("/opening-balances", response={201: OpeningOut, **ERROR_RESPONSES})
def opening_balance_post(request: HttpRequest, payload: OpeningIn) -> Any:
    return 201, services.opening_balance_post(actor=_actor(request), **payload.dict())


@router.post(
    "/opening-balances/{opening_id}/reverse", response={201: OpeningOut, **ERROR_RESPONSES}
)
def opening_balance_reverse(
    request: HttpRequest, opening_id: int, payload: OpeningReverseIn
) -> Any:
    return 201, services.opening_balance_reverse(
        actor=_actor(request), opening_id=opening_id, reason=payload.reason
    )


@router.post("/opening-balances/import", response={200: ImportResultOut, **ERROR_RESPONSES})
def opening_balance_import(
    request: HttpRequest, file: File[UploadedFile], dry_run: Form[bool] = False
) -> Any:
    """Multipart: the workbook as `file`; `dry_run` checks without writing. All or nothing:
    `problems` name sheet, row and column; when there are any, nothing was written."""
    result = services.opening_balances_import(
        actor=_actor(request), source=file, filename=file.name or "", dry_run=dry_run
    )
    return {
        "is_success": result.is_success,
        "dry_run": result.dry_run,
        "counts": result.counts,
        "problems": result.problems,
    }


@router.get("/opening-balances/import/template", response={200: None, **ERROR_RESPONSES})
def opening_balance_import_template(request: HttpRequest) -> HttpResponse:
    if not services.can_import_opening_balances(request.user):
        raise PermissionDenied(_("Only finance enters opening balances."))
    return HttpResponse(
        services.opening_balances_template(),
        content_type=XLSX_CONTENT_TYPE,
        headers={
            "Content-Disposition": content_disposition_header(
                True, services.OPENING_TEMPLATE_FILENAME
            )
        },
    )
