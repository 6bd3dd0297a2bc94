"""Trading API: contracts. Thin: selectors read through the data scope, services write."""

from datetime import date
from decimal import Decimal
from typing import Any, cast

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from qinglian.core.api import ERROR_RESPONSES
from qinglian.org.models import User

from ..selectors import contracts as selectors
from ..services import contracts as services

router = Router()


class ContractLineIn(Schema):
    line_number: int | None = None
    commodity_id: int
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal | None = Field(None, description="0.13 for 13 %; empty: the commodity's")
    quantity_tolerance_percent: Decimal | None = None


class ContractLineOut(Schema):
    id: int
    line_number: int
    commodity_id: int
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    amount: Decimal
    quantity_tolerance_percent: Decimal
    executed_quantity: Decimal


class ContractSummaryOut(Schema):
    id: int
    company_id: int
    number: str
    revision: int
    original_id: int | None
    amends_id: int | None
    kind: str
    partner_id: int
    status: str
    signed_on: date | None
    effective_on: date | None
    delivery_start: date | None
    delivery_end: date | None
    end_on: date | None
    terminated_on: date | None
    completed_on: date | None
    status_reason: str
    payment_term: str
    prepayment_percent: Decimal
    credit_days: int
    total_quantity: Decimal
    total_amount: Decimal
    total_tax: Decimal
    invoiced_amount: Decimal
    settled_amount: Decimal
    owner_id: int
    department_id: int | None
    approval_request_id: int | None
    remarks: str
    version: int


class ContractOut(ContractSummaryOut):
    lines: list[ContractLineOut]

    @staticmethod
    def resolve_lines(obj: Any) -> list[Any]:
        return list(obj.lines.all())


class ContractIn(Schema):
    company_id: int
    kind: str = Field(description="purchase | sales")
    partner_id: int
    payment_term: str = Field(description="prepayment | on_delivery | credit")
    number: str = Field("", max_length=60, description="empty: numbered automatically")
    signed_on: date | None = None
    delivery_start: date | None = None
    delivery_end: date | None = None
    end_on: date | None = None
    prepayment_percent: Decimal = Decimal("0")
    credit_days: int = 0
    owner_id: int | None = None
    department_id: int | None = None
    remarks: str = ""
    lines: list[ContractLineIn] = []


class ContractPatch(Schema):
    version: int | None = None
    partner_id: int | None = None
    signed_on: date | None = None
    delivery_start: date | None = None
    delivery_end: date | None = None
    end_on: date | None = None
    payment_term: str | None = None
    prepayment_percent: Decimal | None = None
    credit_days: int | None = None
    owner_id: int | None = None
    department_id: int | None = None
    remarks: str | None = None
    lines: list[ContractLineIn] | None = Field(None, description="replaces every line")


class VersionIn(Schema):
    version: int | None = None


class ReasonIn(Schema):
    version: int | None = None
    reason: str = Field("", max_length=255)


class TerminateIn(ReasonIn):
    terminated_on: date | None = None


class ContractFilter(Schema):
    kind: str | None = None
    status: str | None = None
    company_id: int | None = None
    partner_id: int | None = None
    search: str = ""


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


@router.get("/contracts", response={200: list[ContractSummaryOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def contract_list(request: HttpRequest, filters: Query[ContractFilter]) -> Any:
    return selectors.contract_list(
        user=request.user,
        kind=filters.kind,
        status=filters.status,
        company_id=filters.company_id,
        partner_id=filters.partner_id,
        search=filters.search,
    )


@router.get("/contracts/{contract_id}", response={200: ContractOut, **ERROR_RESPONSES})
def contract_detail(request: HttpRequest, contract_id: int) -> Any:
    return selectors.contract_access(user=request.user, id=contract_id)


@router.post("/contracts", response={201: ContractOut, **ERROR_RESPONSES})
def contract_create(request: HttpRequest, payload: ContractIn) -> Any:
    data = payload.dict()
    lines = data.pop("lines")
    if data.get("owner_id") is None:
        data.pop("owner_id")
    return 201, services.contract_create(actor=_actor(request), lines=lines, **data)


@router.patch("/contracts/{contract_id}", response={200: ContractOut, **ERROR_RESPONSES})
def contract_update(request: HttpRequest, contract_id: int, payload: ContractPatch) -> Any:
    data = payload.dict(exclude_unset=True)
    version = data.pop("version", None)
    return services.contract_update(
        actor=_actor(request), contract_id=contract_id, expected_version=version, **data
    )


@router.post("/contracts/{contract_id}/submit", response={200: ContractOut, **ERROR_RESPONSES})
def contract_submit(request: HttpRequest, contract_id: int, payload: VersionIn) -> Any:
    return services.contract_submit(
        actor=_actor(request), contract_id=contract_id, expected_version=payload.version
    )


@router.post("/contracts/{contract_id}/cancel", response={200: ContractOut, **ERROR_RESPONSES})
def contract_cancel(request: HttpRequest, contract_id: int, payload: ReasonIn) -> Any:
    return services.contract_cancel(
        actor=_actor(request),
        contract_id=contract_id,
        reason=payload.reason,
        expected_version=payload.version,
    )


@router.post("/contracts/{contract_id}/terminate", response={200: ContractOut, **ERROR_RESPONSES})
def contract_terminate(request: HttpRequest, contract_id: int, payload: TerminateIn) -> Any:
    return services.contract_terminate(
        actor=_actor(request),
        contract_id=contract_id,
        reason=payload.reason,
        terminated_on=payload.terminated_on,
        expected_version=payload.version,
    )


@router.post("/contracts/{contract_id}/complete", response={200: ContractOut, **ERROR_RESPONSES})
def contract_complete(request: HttpRequest, contract_id: int, payload: VersionIn) -> Any:
    return services.contract_complete(
        actor=_actor(request), contract_id=contract_id, expected_version=payload.version
    )


@router.post("/contracts/{contract_id}/amend", response={201: ContractOut, **ERROR_RESPONSES})
def contract_amend(request: HttpRequest, contract_id: int) -> Any:
    return 201, services.contract_amend(actor=_actor(request), contract_id=contract_id)
