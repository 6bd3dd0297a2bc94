"""Trading API: stock — goods receipts and issues (create, post, cancel, reverse), stocktakes
(create, change, submit for approval, cancel), balances, the ledger, the purchase–sales–
inventory summary, opening stock. Thin: selectors read through the data scope, services write.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from ninja import Field, File, Form, HeaderEx, P, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from qinglian.core.api import ERROR_RESPONSES
from qinglian.core.errors import PermissionDenied
from qinglian.core.workbook import XLSX_CONTENT_TYPE
from qinglian.org.models import User

from ..selectors import stock as selectors
from ..services import stock as services

router = Router()


# ---------------------------------------------------------------- schemas


class DocumentLineOut(Schema):
    id: int
    line_number: int
    contract_line_id: int | None
    commodity_id: int
    quantity: Decimal
    weighed_quantity: Decimal | None
    difference_reason: str
    unit_price: Decimal
    amount: Decimal
    cost: Decimal = Field(description="Stock value: what came in, or what went out at cost.")


class DocumentOut(Schema):
    id: int
    company_id: int
    number: str
    kind: str
    status: str
    warehouse_id: int
    contract_id: int | None
    partner_id: int
    posting_date: date
    reverses_id: int | None
    total_quantity: Decimal
    total_amount: Decimal
    total_cost: Decimal
    remarks: str
    posted_at: datetime | None
    version: int


class DocumentDetailOut(DocumentOut):
    lines: list[DocumentLineOut]

    @staticmethod
    def resolve_lines(obj: Any) -> list[Any]:
        return selectors.stock_document_lines(obj)


class DocumentLineIn(Schema):
    contract_line_id: int | None = Field(None, description="or the commodity, when on one line")
    commodity_id: int | None = None
    quantity: Decimal = Field(description="the document quantity, booked to stock")
    weighed_quantity: Decimal | None = None
    difference_reason: str = Field("", max_length=255)


class DocumentIn(Schema):
    kind: str = Field(description="receipt | issue")
    contract_id: int
    warehouse_id: int
    posting_date: date
    lines: list[DocumentLineIn]
    remarks: str = ""
    post: bool = Field(False, description="post at once (otherwise a draft)")
    idempotency_key: str = Field("", max_length=64)


class DocumentUpdateIn(Schema):
    version: int | None = None
    warehouse_id: int
    posting_date: date
    lines: list[DocumentLineIn]
    remarks: str = ""


class VersionIn(Schema):
    version: int | None = None


class ReverseIn(Schema):
    reason: str = Field(max_length=500)
    posting_date: date | None = Field(None, description="default: today")
    version: int | None = None


class CountLineIn(Schema):
    commodity_id: int
    counted_quantity: Decimal
    reason: str = Field("", max_length=255)
    unit_cost: Decimal | None = Field(None, description="for goods found where none is booked")


class CountLineOut(Schema):
    id: int
    commodity_id: int
    book_quantity: Decimal
    counted_quantity: Decimal
    variance: Decimal
    reason: str
    unit_cost: Decimal | None
    cost: Decimal


class StocktakeIn(Schema):
    warehouse_id: int
    kind: str = Field("count", description="count | statement")
    counted_on: date
    lines: list[CountLineIn]
    remarks: str = ""


class StocktakeUpdateIn(Schema):
    version: int | None = None
    counted_on: date
    lines: list[CountLineIn]
    remarks: str = ""


class StocktakeOut(Schema):
    id: int
    company_id: int
    number: str
    kind: str
    warehouse_id: int
    counted_on: date
    status: str
    approval_request_id: int | None
    remarks: str
    posted_at: datetime | None
    version: int


class StocktakeDetailOut(StocktakeOut):
    lines: list[CountLineOut]

    @staticmethod
    def resolve_lines(obj: Any) -> list[Any]:
        return selectors.stocktake_lines(obj)


class BalanceOut(Schema):
    company_id: int
    warehouse_id: int
    commodity_id: int
    quantity: Decimal
    value: Decimal
    unit_cost: Decimal | None
    last_posting_date: date | None


class EntryOut(Schema):
    id: int
    company_id: int
    warehouse_id: int
    commodity_id: int
    posting_date: date
    kind: str
    direction: str
    quantity: Decimal
    value: Decimal
    voucher_type: str
    voucher_id: int
    voucher_line_id: int | None
    reverses_id: int | None
    revalues_id: int | None
    caused_by_id: int | None


class PsiRowOut(Schema):
    company_id: int
    warehouse_id: int
    commodity_id: int
    company: str
    warehouse: str
    commodity: str
    unit: str
    opening_quantity: Decimal
    opening_value: Decimal
    in_quantity: Decimal
    in_value: Decimal
    out_quantity: Decimal
    out_value: Decimal
    closing_quantity: Decimal
    closing_value: Decimal


class OpeningLineIn(Schema):
    warehouse_id: int
    commodity_id: int
    quantity: Decimal
    unit_cost: Decimal = Field(description="excl. VAT")


class OpeningIn(Schema):
    company_id: int
    posting_date: date
    lines: list[OpeningLineIn]
    source: str = Field("", max_length=255)


class OpeningOut(Schema):
    id: int
    company_id: int
    number: str
    posting_date: date
    total_quantity: Decimal
    total_value: Decimal
    source: str


class ImportProblemOut(Schema):
    sheet: str
    row: int | None
    column: str
    header: str
    message: str


class ImportCountsOut(Schema):
    rows: int
    batches: int
    quantity: Decimal
    value: Decimal


class ImportResultOut(Schema):
    is_success: bool
    dry_run: bool
    counts: ImportCountsOut
    problems: list[ImportProblemOut]


class DocumentFilter(Schema):
    kind: str | None = None
    status: str | None = None
    company_id: int | None = None
    warehouse_id: int | None = None
    contract_id: int | None = None
    search: str = ""
    date_from: date | None = None
    date_to: date | None = None


class StocktakeFilter(Schema):
    kind: str | None = None
    status: str | None = None
    company_id: int | None = None
    warehouse_id: int | None = None


class BalanceFilter(Schema):
    company_id: int | None = None
    warehouse_id: int | None = None
    commodity_id: int | None = None
    include_empty: bool = False


class LedgerFilter(Schema):
    company_id: int | None = None
    warehouse_id: int | None = None
    commodity_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    voucher_type: str | None = None
    voucher_id: int | None = None
    direction: str | None = None
    kind: str | None = None
    caused_by_id: int | None = None


class SummaryFilter(Schema):
    date_from: date
    date_to: date
    company_id: int | None = None
    warehouse_id: int | None = None
    commodity_id: int | None = None


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _one(value: int | None) -> list[int] | None:
    return [value] if value else None


# ---------------------------------------------------------------- receipts and issues


@router.get("/stock/documents", response={200: list[DocumentOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def stock_document_list(request: HttpRequest, filters: Query[DocumentFilter]) -> Any:
    return selectors.stock_document_list(user=request.user, **filters.dict())


@router.get("/stock/documents/{document_id}", response={200: DocumentDetailOut, **ERROR_RESPONSES})
def stock_document_detail(request: HttpRequest, document_id: int) -> Any:
    return selectors.stock_document_access(user=request.user, id=document_id)


@router.post("/stock/documents", response={201: DocumentDetailOut, **ERROR_RESPONSES})
def stock_document_create(
    request: HttpRequest,
    payload: DocumentIn,
    idempotency_key: HeaderEx[str | None, P(alias="Idempotency-Key", max_length=64)] = None,
) -> Any:
    """Create a receipt or issue as a draft, or — with `post` — create and post it. Sent again
    with the same `Idempotency-Key` header (or body field), it returns the first document."""
    data = payload.dict()
    data["idempotency_key"] = idempotency_key or data["idempotency_key"]
    return 201, services.stock_document_create(actor=_actor(request), **data)


@router.put("/stock/documents/{document_id}", response={200: DocumentDetailOut, **ERROR_RESPONSES})
def stock_document_update(request: HttpRequest, document_id: int, payload: DocumentUpdateIn) -> Any:
    data = payload.dict()
    version = data.pop("version")
    return services.stock_document_update(
        actor=_actor(request), document_id=document_id, expected_version=version, **data
    )


@router.post(
    "/stock/documents/{document_id}/post", response={200: DocumentDetailOut, **ERROR_RESPONSES}
)
def stock_document_post(request: HttpRequest, document_id: int, payload: VersionIn) -> Any:
    return services.stock_document_post(
        actor=_actor(request), document_id=document_id, expected_version=payload.version
    )


@router.post(
    "/stock/documents/{document_id}/cancel", response={200: DocumentOut, **ERROR_RESPONSES}
)
def stock_document_cancel(request: HttpRequest, document_id: int, payload: VersionIn) -> Any:
    return services.stock_document_cancel(
        actor=_actor(request), document_id=document_id, expected_version=payload.version
    )


@router.post(
    "/stock/documents/{document_id}/reverse",
    response={201: DocumentDetailOut, **ERROR_RESPONSES},
)
def stock_document_reverse(request: HttpRequest, document_id: int, payload: ReverseIn) -> Any:
    """Reverse (红冲) a posted document: the answer is the reversal."""
    return 201, services.stock_document_reverse(
        actor=_actor(request),
        document_id=document_id,
        reason=payload.reason,
        posting_date=payload.posting_date,
        expected_version=payload.version,
    )


# ---------------------------------------------------------------- stocktakes


@router.get("/stock/stocktakes", response={200: list[StocktakeOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def stocktake_list(request: HttpRequest, filters: Query[StocktakeFilter]) -> Any:
    return selectors.stocktake_list(user=request.user, **filters.dict())


@router.get(
    "/stock/stocktakes/{stocktake_id}", response={200: StocktakeDetailOut, **ERROR_RESPONSES}
)
def stocktake_detail(request: HttpRequest, stocktake_id: int) -> Any:
    return selectors.stocktake_access(user=request.user, id=stocktake_id)


@router.post("/stock/stocktakes", response={201: StocktakeDetailOut, **ERROR_RESPONSES})
def stocktake_create(request: HttpRequest, payload: StocktakeIn) -> Any:
    return 201, services.stocktake_create(actor=_actor(request), **payload.dict())


@router.put(
    "/stock/stocktakes/{stocktake_id}", response={200: StocktakeDetailOut, **ERROR_RESPONSES}
)
def stocktake_update(request: HttpRequest, stocktake_id: int, payload: StocktakeUpdateIn) -> Any:
    data = payload.dict()
    version = data.pop("version")
    return services.stocktake_update(
        actor=_actor(request), stocktake_id=stocktake_id, expected_version=version, **data
    )


@router.post(
    "/stock/stocktakes/{stocktake_id}/submit",
    response={200: StocktakeDetailOut, **ERROR_RESPONSES},
)
def stocktake_submit(request: HttpRequest, stocktake_id: int, payload: VersionIn) -> Any:
    """Send the variances for approval; a count without variance is confirmed at once."""
    return services.stocktake_submit(
        actor=_actor(request), stocktake_id=stocktake_id, expected_version=payload.version
    )


@router.post(
    "/stock/stocktakes/{stocktake_id}/cancel", response={200: StocktakeOut, **ERROR_RESPONSES}
)
def stocktake_cancel(request: HttpRequest, stocktake_id: int, payload: VersionIn) -> Any:
    return services.stocktake_cancel(
        actor=_actor(request), stocktake_id=stocktake_id, expected_version=payload.version
    )


# ---------------------------------------------------------------- balances, ledger, summary


@router.get("/stock/balances", response={200: list[BalanceOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def stock_balance_list(request: HttpRequest, filters: Query[BalanceFilter]) -> Any:
    return selectors.stock_balance_list(
        user=request.user,
        company_ids=_one(filters.company_id),
        warehouse_ids=_one(filters.warehouse_id),
        commodity_ids=_one(filters.commodity_id),
        include_empty=filters.include_empty,
    )


@router.get("/stock/ledger", response={200: list[EntryOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def stock_ledger_list(request: HttpRequest, filters: Query[LedgerFilter]) -> Any:
    """Entries in ledger order: a series over a period (with `direction`, the entries behind a
    summary figure), a voucher's entries, or the revaluations one backdated entry caused."""
    return selectors.stock_ledger_list(user=request.user, **filters.dict())


@router.get("/stock/summary", response={200: list[PsiRowOut], **ERROR_RESPONSES})
def stock_summary(request: HttpRequest, filters: Query[SummaryFilter]) -> Any:
    """进销存汇总: opening, in, out and closing, quantity and value, per company, warehouse
    and commodity of your scope."""
    return selectors.psi_summary(
        user=request.user,
        date_from=filters.date_from,
        date_to=filters.date_to,
        company_ids=_one(filters.company_id),
        warehouse_ids=_one(filters.warehouse_id),
        commodity_ids=_one(filters.commodity_id),
    )


# ---------------------------------------------------------------- opening stock


@router.get("/stock/openings", response={200: list[OpeningOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def stock_opening_list(request: HttpRequest, company_id: int | None = None) -> Any:
    return selectors.stock_opening_list(user=request.user, company_id=company_id)


@router.post("/stock/openings", response={201: OpeningOut, **ERROR_RESPONSES})
def stock_opening_post(request: HttpRequest, payload: OpeningIn) -> Any:
    return 201, services.stock_opening_post(actor=_actor(request), **payload.dict())


@router.post("/stock/openings/import", response={200: ImportResultOut, **ERROR_RESPONSES})
def stock_opening_import(
    request: HttpRequest, file: File[UploadedFile], dry_run: Form[bool] = False
) -> Any:
    """Multipart: the workbook as `file`; `dry_run` checks without writing. All or nothing:
    `problems` name sheet, row and column; when there are any, nothing was written."""
    result = services.stock_opening_import(
        actor=_actor(request), source=file, filename=file.name or "", dry_run=dry_run
    )
    return {
        "is_success": result.is_success,
        "dry_run": result.dry_run,
        "counts": result.counts,
        "problems": result.problems,
    }


@router.get("/stock/openings/import/template", response={200: None, **ERROR_RESPONSES})
def stock_opening_template(request: HttpRequest) -> HttpResponse:
    if not services.can_import_opening_stock(request.user):
        raise PermissionDenied(_("Only finance enters opening stock."))
    return HttpResponse(
        services.stock_opening_template(),
        content_type=XLSX_CONTENT_TYPE,
        headers={"Content-Disposition": content_disposition_header(True, "opening-stock.xlsx")},
    )
