"""Audit endpoints: read the trail in scope, run a verification."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from qinglian.core.api import ERROR_RESPONSES
from qinglian.core.errors import PermissionDenied
from qinglian.org.scopes import can_verify_audit

from . import selectors
from .services import audit_chain_verify_run

router = Router()


class EventOut(Schema):
    id: int
    chain: str
    seq: int
    occurred_at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    changes: dict[str, Any]
    request_id: str
    ip_address: str | None
    prev_hash: str
    hash: str

    @staticmethod
    def resolve_chain(obj: Any) -> str:
        return obj.chain.key


class EventFilter(Schema):
    object_type: str = ""
    object_id: str = ""
    action: str = ""
    actor_id: int | None = None
    company_id: int | None = None


class BreakOut(Schema):
    chain: str
    seq: int
    event_id: int | None
    reason: str


class VerifyOut(Schema):
    intact: bool
    chains: int
    events: int
    first_break: BreakOut | None
    breaks: list[BreakOut]


@router.get("/events", response={200: list[EventOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def event_list(request: HttpRequest, filters: Query[EventFilter]) -> Any:
    return selectors.audit_event_list(user=request.user, **filters.dict())


@router.get("/events/{event_id}", response={200: EventOut, **ERROR_RESPONSES})
def event_detail(request: HttpRequest, event_id: int) -> Any:
    return selectors.audit_event_access(user=request.user, event_id=event_id)


@router.post("/verify", response={200: VerifyOut, **ERROR_RESPONSES})
def verify(request: HttpRequest) -> Any:
    if not can_verify_audit(request.user):
        raise PermissionDenied(_("Only inspectors and auditors run a chain verification."))
    report = audit_chain_verify_run(actor=request.user)
    return {
        "intact": report.is_intact,
        "chains": report.chains,
        "events": report.events,
        "first_break": report.first_break,
        "breaks": report.breaks,
    }
