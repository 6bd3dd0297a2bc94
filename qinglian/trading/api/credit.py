"""Trading API: customer credit — a customer's exposure breakdown and standing, receivables
ageing, credit exceptions (request, list, detail with the approval status, submit, cancel) and
the credit policy. Thin: selectors read through the scopes, one service call per write."""

import datetime
from decimal import Decimal
from typing import Any, cast

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from qinglian.core.api import ERROR_RESPONSES
from qinglian.org.models import User

from ..selectors import credit as selectors
from ..services import credit as services

router = Router()

# ---------------------------------------------------------------- schemas


class PolicyOut(Schema):
    company_id: int | None = Field(description="whose policy row applies; null: the defaults")
    include_receivables: bool
    include_uninvoiced: bool
    include_open_orders: bool
    overdue_block_enabled: bool
    overdue_block_days: int
    overdue_block_amount: Decimal
    version: int | None


class ComponentsOut(Schema):
    receivable: Decimal
    uninvoiced: Decimal
    open_orders: Decimal


class StandingOut(Schema):
    partner_id: int
    partner_name: str
    credit_limit: Decimal
    limit_applies: bool = Field(description="false: no limit set (0, grade not D)")
    components: ComponentsOut
    exposure: Decimal
    headroom: Decimal | None
    over_limit: Decimal
    overdue_amount: Decimal = Field(description="debt more than the policy's days past due")
    is_over_limit: bool
    is_overdue_blocked: bool
    is_blocked: bool
    policy: PolicyOut
    updated_at: datetime.datetime | None


class AgeingRowOut(Schema):
    company_id: int | None
    company_name: str
    partner_id: int | None
    partner_name: str
    not_due: Decimal
    days_0_30: Decimal
    days_31_60: Decimal
    days_61_90: Decimal
    over_90: Decimal
    credits: Decimal
    overdue: Decimal
    open: Decimal
    balance: Decimal


class AgeingOut(Schema):
    as_of: datetime.date
    rows: list[AgeingRowOut]
    total: AgeingRowOut


class AgeingFilter(Schema):
    as_of: datetime.date | None = None
    partner_id: int | None = None
    company_id: int | None = None


class ExceptionOut(Schema):
    id: int
    number: str
    company_id: int
    partner_id: int
    contract_id: int | None
    stock_document_id: int | None
    status: str
    amount: Decimal
    allow_overdue: bool
    reason: str
    valid_until: datetime.date
    credit_limit: Decimal
    exposure: Decimal
    overdue_amount: Decimal
    requested_by_id: int
    approval_request_id: int | None
    approval_status: str | None
    submitted_at: datetime.datetime | None
    decided_at: datetime.datetime | None
    approved_by_id: int | None
    used_at: datetime.datetime | None
    used_by_id: int | None
    used_document_kind: str
    used_document_id: int | None
    used_document_number: str
    used_document_amount: Decimal | None
    used_exposure: Decimal | None
    used_limit: Decimal | None
    used_overdue_amount: Decimal | None
    version: int

    @staticmethod
    def resolve_approval_status(obj: Any) -> str | None:
        request = obj.approval_request
        return request.status if request is not None else None


class ExceptionFilter(Schema):
    status: str | None = None
    partner_id: int | None = None
    company_id: int | None = None


class ExceptionIn(Schema):
    partner_id: int
    amount: Decimal = Decimal("0")
    allow_overdue: bool = False
    valid_until: datetime.date
    reason: str = Field(max_length=2000)
    contract_id: int | None = None
    stock_document_id: int | None = None
    company_id: int | None = None
    submit: bool = Field(True, description="send it to approval at once (else a draft)")


class VersionIn(Schema):
    version: int | None = None
    reason: str = Field("", max_length=255)


class PolicyIn(Schema):
    company_id: int
    include_receivables: bool = True
    include_uninvoiced: bool = True
    include_open_orders: bool = True
    overdue_block_enabled: bool = True
    overdue_block_days: int = 30
    overdue_block_amount: Decimal = Decimal("0")
    version: int | None = None


def _actor(request: HttpRequest) -> User:
    """The authenticated user (both authenticators refuse anonymous requests)."""
    return cast(User, request.user)


def _policy(policy: selectors.PolicyValues) -> dict[str, Any]:
    return {
        "company_id": policy.company_id,
        "include_receivables": policy.include_receivables,
        "include_uninvoiced": policy.include_uninvoiced,
        "include_open_orders": policy.include_open_orders,
        "overdue_block_enabled": policy.overdue_block_enabled,
        "overdue_block_days": policy.overdue_block_days,
        "overdue_block_amount": policy.overdue_block_amount,
        "version": policy.version,
    }


def _standing(standing: selectors.CreditStanding) -> dict[str, Any]:
    return {
        "partner_id": standing.partner.pk,
        "partner_name": standing.partner.name,
        "credit_limit": standing.credit_limit,
        "limit_applies": standing.limit_applies,
        "components": {
            "receivable": standing.components.receivable,
            "uninvoiced": standing.components.uninvoiced,
            "open_orders": standing.components.open_orders,
        },
        "exposure": standing.exposure,
        "headroom": standing.headroom,
        "over_limit": standing.over_limit,
        "overdue_amount": standing.overdue_amount,
        "is_over_limit": standing.is_over_limit,
        "is_overdue_blocked": standing.is_overdue_blocked,
        "is_blocked": standing.is_blocked,
        "policy": _policy(standing.policy),
        "updated_at": standing.updated_at,
    }


def _ageing_row(row: selectors.AgeingRow) -> dict[str, Any]:
    return {
        "company_id": row.company_id,
        "company_name": row.company_name,
        "partner_id": row.partner_id,
        "partner_name": row.partner_name,
        "not_due": row.not_due,
        "days_0_30": row.days_0_30,
        "days_31_60": row.days_31_60,
        "days_61_90": row.days_61_90,
        "over_90": row.over_90,
        "credits": row.credits,
        "overdue": row.overdue,
        "open": row.open,
        "balance": row.balance,
    }


# ---------------------------------------------------------------- exposure and ageing


@router.get("/credit/customers", response={200: list[StandingOut], **ERROR_RESPONSES})
def credit_customers(request: HttpRequest, blocked_only: bool = False) -> Any:
    """Customers' credit standing (master data the user reads), largest exposure first."""
    return [
        _standing(standing)
        for standing in selectors.credit_exposure_list(user=request.user, blocked_only=blocked_only)
    ]


@router.get("/credit/customers/{partner_id}", response={200: StandingOut, **ERROR_RESPONSES})
def credit_customer(request: HttpRequest, partner_id: int) -> Any:
    """One customer's exposure breakdown, limit and overdue standing."""
    return _standing(selectors.credit_exposure_get(user=request.user, partner_id=partner_id))


@router.get("/credit/ageing", response={200: AgeingOut, **ERROR_RESPONSES})
def credit_ageing(request: HttpRequest, filters: Query[AgeingFilter]) -> Any:
    """Receivables ageing of the user's companies, per company and customer, with totals."""
    report = selectors.receivable_ageing(user=request.user, **filters.dict())
    return {
        "as_of": report.as_of,
        "rows": [_ageing_row(row) for row in report.rows],
        "total": _ageing_row(report.total),
    }


# ---------------------------------------------------------------- credit exceptions


@router.get("/credit/exceptions", response={200: list[ExceptionOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def credit_exception_list(request: HttpRequest, filters: Query[ExceptionFilter]) -> Any:
    return selectors.credit_exception_list(user=request.user, **filters.dict()).select_related(
        "approval_request"
    )


@router.get("/credit/exceptions/{exception_id}", response={200: ExceptionOut, **ERROR_RESPONSES})
def credit_exception_detail(request: HttpRequest, exception_id: int) -> Any:
    return selectors.credit_exception_access(user=request.user, id=exception_id)


@router.post("/credit/exceptions", response={201: ExceptionOut, **ERROR_RESPONSES})
def credit_exception_create(request: HttpRequest, payload: ExceptionIn) -> Any:
    """Request a credit exception (sent to approval unless `submit` is false)."""
    data = payload.dict()
    service = (
        services.credit_exception_request
        if data.pop("submit")
        else services.credit_exception_create
    )
    exception = service(actor=_actor(request), **data)
    return 201, selectors.credit_exception_access(user=request.user, id=exception.pk)


@router.post(
    "/credit/exceptions/{exception_id}/submit", response={200: ExceptionOut, **ERROR_RESPONSES}
)
def credit_exception_submit(request: HttpRequest, exception_id: int, payload: VersionIn) -> Any:
    services.credit_exception_submit(
        actor=_actor(request), exception_id=exception_id, expected_version=payload.version
    )
    return selectors.credit_exception_access(user=request.user, id=exception_id)


@router.post(
    "/credit/exceptions/{exception_id}/cancel", response={200: ExceptionOut, **ERROR_RESPONSES}
)
def credit_exception_cancel(request: HttpRequest, exception_id: int, payload: VersionIn) -> Any:
    services.credit_exception_cancel(
        actor=_actor(request),
        exception_id=exception_id,
        reason=payload.reason,
        expected_version=payload.version,
    )
    return selectors.credit_exception_access(user=request.user, id=exception_id)


# ---------------------------------------------------------------- the credit policy


@router.get("/credit/policy", response={200: PolicyOut, **ERROR_RESPONSES})
def credit_policy(request: HttpRequest, company_id: int) -> Any:
    """The policy in force for customers the company owns (its own, inherited or default)."""
    return _policy(selectors.credit_policy_get(user=request.user, company_id=company_id).policy)


@router.put("/credit/policy", response={200: PolicyOut, **ERROR_RESPONSES})
def credit_policy_update(request: HttpRequest, payload: PolicyIn) -> Any:
    """The company's general manager sets its credit policy (audited)."""
    data = payload.dict()
    company_id, version = data.pop("company_id"), data.pop("version")
    services.credit_policy_save(
        actor=_actor(request), company_id=company_id, expected_version=version, **data
    )
    return _policy(selectors.credit_policy_get(user=request.user, company_id=company_id).policy)
