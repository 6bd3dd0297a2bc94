"""Trading API: the warning register — list, counts per kind and state, one warning,
acknowledge, resolve; a company's thresholds. Thin: selectors read through the data scope,
services write."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from qinglian.core.api import ERROR_RESPONSES
from qinglian.org.models import User

from ..selectors import warnings as selectors
from ..services import warnings as services

router = Router()


class WarningOut(Schema):
    id: int
    company_id: int
    kind: str
    code: str
    fingerprint: str
    state: str
    is_present: bool = Field(description="whether the condition held at the latest detection")
    partner_id: int | None
    contract_id: int | None = Field(description="the contract revision in force when detected")
    contract_original_id: int | None
    warehouse_id: int | None
    commodity_id: int | None
    document_type: str
    document_id: int | None
    document_label: str
    measured_value: Decimal
    threshold_value: Decimal
    unit: str
    reference_date: date | None
    message: str
    responsible_role: str
    first_seen_at: datetime
    last_seen_at: datetime
    cleared_at: datetime | None
    acknowledged_by_id: int | None
    acknowledged_at: datetime | None
    acknowledgement_note: str
    resolved_by_id: int | None
    resolved_at: datetime | None
    resolution_note: str
    is_auto_resolved: bool
    reopened_count: int
    version: int

    @staticmethod
    def resolve_message(obj: Any) -> str:
        return selectors.warning_message(obj)


class WarningDetailOut(WarningOut):
    details: dict[str, Any]
    responsible_user_ids: list[int]

    @staticmethod
    def resolve_responsible_user_ids(obj: Any) -> list[int]:
        return [row.user_id for row in obj.responsible.all()]


class WarningFilter(Schema):
    kind: str | None = None
    code: str | None = None
    state: str | None = Field(None, description="open | acknowledged | resolved | unresolved")
    company_id: int | None = None
    partner_id: int | None = None
    contract_id: int | None = Field(None, description="any revision of the contract")
    mine: bool = Field(False, description="only the warnings I am responsible for")


class CountFilter(Schema):
    company_id: int | None = None
    partner_id: int | None = None
    contract_id: int | None = None
    mine: bool = False


class KindCountOut(Schema):
    kind: str
    label: str
    open: int
    acknowledged: int
    resolved: int
    unresolved: int


class CountsOut(Schema):
    kinds: list[KindCountOut]
    open: int
    acknowledged: int
    resolved: int
    unresolved: int


class AcknowledgeIn(Schema):
    note: str = Field("", max_length=2000)
    version: int | None = None


class ResolveIn(Schema):
    reason: str = Field(max_length=2000)
    version: int | None = None


class ThresholdsOut(Schema):
    company_id: int
    contract_expiring_days: int
    overdue_grace_days: int
    overdue_min_amount: Decimal
    credit_usage_percent: Decimal
    stock_variance_tolerance_percent: Decimal | None
    version: int


class ThresholdsIn(Schema):
    company_id: int
    contract_expiring_days: int | None = None
    overdue_grace_days: int | None = None
    overdue_min_amount: Decimal | None = None
    credit_usage_percent: Decimal | None = None
    stock_variance_tolerance_percent: Decimal | None = Field(
        None, description="null with clear_stock_variance_tolerance: each commodity's own"
    )
    clear_stock_variance_tolerance: bool = False
    version: int | None = None


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _counts(counts: selectors.WarningCounts) -> dict[str, Any]:
    return {
        "kinds": [
            {
                "kind": item.kind,
                "label": item.label,
                "open": item.open,
                "acknowledged": item.acknowledged,
                "resolved": item.resolved,
                "unresolved": item.unresolved,
            }
            for item in counts.kinds
        ],
        "open": counts.open,
        "acknowledged": counts.acknowledged,
        "resolved": counts.resolved,
        "unresolved": counts.unresolved,
    }


@router.get("/warnings", response={200: list[WarningOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def warning_list(request: HttpRequest, filters: Query[WarningFilter]) -> Any:
    """Warnings of the companies the user reads: unresolved first, latest detected first."""
    data = filters.dict()
    return selectors.warning_list(user=request.user, responsible_to_me=data.pop("mine"), **data)


@router.get("/warnings/counts", response={200: CountsOut, **ERROR_RESPONSES})
def warning_counts(request: HttpRequest, filters: Query[CountFilter]) -> Any:
    """Warnings counted per kind (credit, overdue, contract, shipment, warehouse) and state."""
    data = filters.dict()
    return _counts(
        selectors.warning_counts(user=request.user, responsible_to_me=data.pop("mine"), **data)
    )


@router.get("/warnings/thresholds", response={200: ThresholdsOut, **ERROR_RESPONSES})
def warning_thresholds(request: HttpRequest, company_id: int) -> Any:
    return selectors.warning_thresholds_get(user=request.user, company_id=company_id)


@router.put("/warnings/thresholds", response={200: ThresholdsOut, **ERROR_RESPONSES})
def warning_thresholds_update(request: HttpRequest, payload: ThresholdsIn) -> Any:
    """A company's general manager or leader in charge sets its thresholds (audited)."""
    data = payload.dict()
    company_id, version = data.pop("company_id"), data.pop("version")
    clear = data.pop("clear_stock_variance_tolerance")
    values = {name: value for name, value in data.items() if value is not None}
    if clear:
        values["stock_variance_tolerance_percent"] = None
    return services.warning_thresholds_update(
        actor=_actor(request), company_id=company_id, values=values, expected_version=version
    )


@router.get("/warnings/{warning_id}", response={200: WarningDetailOut, **ERROR_RESPONSES})
def warning_detail(request: HttpRequest, warning_id: int) -> Any:
    return selectors.warning_access(user=request.user, id=warning_id)


@router.post(
    "/warnings/{warning_id}/acknowledge", response={200: WarningDetailOut, **ERROR_RESPONSES}
)
def warning_acknowledge(request: HttpRequest, warning_id: int, payload: AcknowledgeIn) -> Any:
    services.warning_acknowledge(
        actor=_actor(request),
        warning_id=warning_id,
        note=payload.note,
        expected_version=payload.version,
    )
    return selectors.warning_access(user=request.user, id=warning_id)


@router.post("/warnings/{warning_id}/resolve", response={200: WarningDetailOut, **ERROR_RESPONSES})
def warning_resolve(request: HttpRequest, warning_id: int, payload: ResolveIn) -> Any:
    services.warning_resolve(
        actor=_actor(request),
        warning_id=warning_id,
        reason=payload.reason,
        expected_version=payload.version,
    )
    return selectors.warning_access(user=request.user, id=warning_id)
