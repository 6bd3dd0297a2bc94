"""Approval endpoints, so other systems start and follow requests. Thin: a selector reads, one
service call writes; every action answers with the request's detail or the one error shape."""

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from django.http import HttpRequest
from ninja import Field, HeaderEx, P, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from qinglian.core.api import ERROR_RESPONSES
from qinglian.org.models import User

from . import selectors, services
from .definitions import FormField, Node
from .enums import ActionKind, AddSignerPosition, NodeMode, RequestStatus, StepStatus, TaskStatus

router = Router()

# ---------------------------------------------------------------- schemas


class PersonOut(Schema):
    id: int
    name: str


class TemplateOut(Schema):
    code: str
    name: str
    category: str
    description: str
    document_type: str = Field(
        description='The business document it approves ("" for a stand-alone form).'
    )
    version: int | None = Field(description="The current version's number.")
    fields: list[FormField]
    route: list[Node]

    @staticmethod
    def resolve_version(obj: Any) -> int | None:
        return obj.current_version.number if obj.current_version else None

    @staticmethod
    def resolve_fields(obj: Any) -> list[Any]:
        return obj.current_version.definition["fields"] if obj.current_version else []

    @staticmethod
    def resolve_route(obj: Any) -> list[Any]:
        return obj.current_version.definition["route"] if obj.current_version else []


class RequestSummaryOut(Schema):
    id: int
    serial: str
    title: str
    template_code: str = Field(alias="template.code")
    template_name: str = Field(alias="template.name")
    requester: PersonOut
    company_id: int
    status: RequestStatus
    amount: Decimal | None
    submitted_at: datetime
    finished_at: datetime | None


class TaskOut(Schema):
    id: int
    assignee: PersonOut
    status: TaskStatus
    is_added: bool = Field(description="Added by 加签.")
    superseded: bool = Field(description="From a run of the step that was sent back.")
    activated_at: datetime | None
    due_at: datetime | None
    decided_at: datetime | None
    comment: str
    decided_after_hours: bool | None
    decision_seconds: int | None


class StepOut(Schema):
    index: int
    node_key: str
    name: str
    mode: NodeMode
    status: StepStatus
    note: str
    activated_at: datetime | None
    decided_at: datetime | None
    tasks: list[TaskOut]

    @staticmethod
    def resolve_tasks(obj: Any) -> list[Any]:
        # Prefetched by the selector; earlier runs of a step that was sent back come first.
        return sorted(obj.tasks.all(), key=lambda task: (not task.superseded, task.order, task.pk))


class ActionOut(Schema):
    id: int
    kind: ActionKind
    actor: PersonOut | None = Field(description="None for the system.")
    task_id: int | None
    step_index: int | None
    comment: str
    data: dict[str, Any]
    created_at: datetime


class RequestDetailOut(RequestSummaryOut):
    version: int = Field(alias="version.number")
    department_id: int | None
    document_type: str
    document_id: str
    document_url: str | None = Field(
        description="The bound business document's page, when its type tells it (else null)."
    )
    current_round: int
    returned_from_step: int | None
    form_data: dict[str, Any]
    route: list[StepOut] = Field(description="The steps of the current round with their tasks.")
    actions: list[ActionOut] = Field(description="The trail, oldest first.")

    @staticmethod
    def resolve_document_url(obj: Any) -> str | None:
        found = selectors.request_document(request=obj)
        return found[1] if found else None

    @staticmethod
    def resolve_route(obj: Any) -> list[Any]:
        return selectors.request_route(request=obj)

    @staticmethod
    def resolve_actions(obj: Any) -> list[Any]:
        return list(selectors.request_trail(request=obj))


class InboxItemOut(Schema):
    """A task (its id is what /tasks/{id}/… acts on) and the request it belongs to."""

    id: int
    status: TaskStatus
    step_name: str = Field(alias="step.name")
    activated_at: datetime | None
    due_at: datetime | None
    decided_at: datetime | None
    comment: str
    request: RequestSummaryOut


class CcItemOut(Schema):
    id: int
    at: str = Field(description='"start" or "end" of the route.')
    created_at: datetime
    read_at: datetime | None
    request: RequestSummaryOut


class NotificationOut(Schema):
    id: int
    kind: str
    message: str
    request_id: int | None
    created_at: datetime


class RequestIn(Schema):
    template_code: str = Field(max_length=40)
    form_data: dict[str, Any]
    document_type: str = Field("", max_length=60)
    document_id: str = Field("", max_length=64)
    idempotency_key: str = Field(
        "",
        max_length=64,
        description="The same key twice returns the first request (the header wins).",
    )


class CommentIn(Schema):
    comment: str = Field("", max_length=2000)


class ReturnIn(Schema):
    comment: str = Field("", max_length=2000)
    to_step: int | None = Field(
        None, description="An earlier approved step's index; none sends it to the requester."
    )


class TransferIn(Schema):
    to_user_id: int
    comment: str = Field("", max_length=2000)


class AddSignerIn(Schema):
    user_id: int
    position: AddSignerPosition
    comment: str = Field("", max_length=2000)


class ResubmitIn(Schema):
    form_data: dict[str, Any]


def _actor(request: HttpRequest) -> User:
    """The authenticated user (both authenticators refuse anonymous requests)."""
    return cast(User, request.user)


DETAIL = {200: RequestDetailOut, **ERROR_RESPONSES}
NO_COMMENT = CommentIn(comment="")  # the body may be left out where nothing in it is required
TO_THE_REQUESTER = ReturnIn(comment="", to_step=None)


# ---------------------------------------------------------------- reads


@router.get("/templates", response={200: list[TemplateOut], **ERROR_RESPONSES})
def template_list(request: HttpRequest) -> Any:
    """The active approval flows: what each asks for and who approves it."""
    return selectors.template_list()


@router.get("/inbox/pending", response={200: list[InboxItemOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def inbox_pending(request: HttpRequest) -> Any:
    """待办: the tasks waiting for my decision, oldest first."""
    return selectors.inbox_pending(user=request.user)


@router.get("/inbox/done", response={200: list[InboxItemOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def inbox_done(request: HttpRequest) -> Any:
    """已办: the tasks I decided, latest first."""
    return selectors.inbox_done(user=request.user)


@router.get("/requests/submitted", response={200: list[RequestSummaryOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def requests_submitted(request: HttpRequest) -> Any:
    """我发起的: the requests I submitted, latest first."""
    # The requester is the reader: joined here so a page costs the same for any length.
    return selectors.requests_submitted(user=request.user).select_related("requester")


@router.get("/requests/cc", response={200: list[CcItemOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def requests_cc(request: HttpRequest) -> Any:
    """抄送我的: the requests copied to me, latest first."""
    return selectors.requests_cc(user=request.user)


@router.get("/requests/{request_id}", response=DETAIL)
def request_detail(request: HttpRequest, request_id: int) -> Any:
    """A request I take part in (or oversee): its form, the current round's route, its trail."""
    return selectors.request_access(user=request.user, request_id=request_id)


@router.get("/notifications", response={200: list[NotificationOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def notifications_unread(request: HttpRequest) -> Any:
    """My unread notices, latest first."""
    return selectors.notifications_unread(user=request.user)


# ---------------------------------------------------------------- the requester


@router.post("/requests", response={201: RequestDetailOut, **ERROR_RESPONSES})
def request_submit(
    request: HttpRequest,
    payload: RequestIn,
    idempotency_key: HeaderEx[str | None, P(alias="Idempotency-Key", max_length=64)] = None,
) -> Any:
    """Start a request. Sent again with the same `Idempotency-Key` header (or body field), it
    answers with the first request instead of starting another; a twin sent while the first is
    still being saved is answered 409 `conflict` (send it again to get the first request)."""
    return 201, services.request_submit(
        actor=_actor(request),
        template_code=payload.template_code,
        form_data=payload.form_data,
        document_type=payload.document_type,
        document_id=payload.document_id,
        idempotency_key=idempotency_key or payload.idempotency_key,
    )


@router.post("/requests/{request_id}/withdraw", response=DETAIL)
def request_withdraw(request: HttpRequest, request_id: int, payload: CommentIn = NO_COMMENT) -> Any:
    """The requester takes back an open request."""
    return services.request_withdraw(
        actor=_actor(request), request_id=request_id, comment=payload.comment
    )


@router.post("/requests/{request_id}/urge", response=DETAIL)
def request_urge(request: HttpRequest, request_id: int) -> Any:
    """催办: the requester reminds whoever the request waits for (once an hour)."""
    return services.request_urge(actor=_actor(request), request_id=request_id)


@router.post("/requests/{request_id}/comment", response=DETAIL)
def request_comment(request: HttpRequest, request_id: int, payload: CommentIn) -> Any:
    """A comment on the trail by a party to the request (oversight roles only read)."""
    action = services.request_comment(
        actor=_actor(request), request_id=request_id, comment=payload.comment
    )
    return selectors.request_access(user=request.user, request_id=action.request_id)


@router.post("/requests/{request_id}/resubmit", response=DETAIL)
def request_resubmit(request: HttpRequest, request_id: int, payload: ResubmitIn) -> Any:
    """The requester sends a request that was sent back again, with the corrected form."""
    return services.request_resubmit(
        actor=_actor(request), request_id=request_id, form_data=payload.form_data
    )


# ---------------------------------------------------------------- the approvers


@router.post("/tasks/{task_id}/approve", response=DETAIL)
def task_approve(request: HttpRequest, task_id: int, payload: CommentIn = NO_COMMENT) -> Any:
    """Approve my pending task."""
    return services.task_approve(actor=_actor(request), task_id=task_id, comment=payload.comment)


@router.post("/tasks/{task_id}/reject", response=DETAIL)
def task_reject(request: HttpRequest, task_id: int, payload: CommentIn = NO_COMMENT) -> Any:
    """Reject: the request ends. The comment (why) is required."""
    return services.task_reject(actor=_actor(request), task_id=task_id, comment=payload.comment)


@router.post("/tasks/{task_id}/return", response=DETAIL)
def task_return(request: HttpRequest, task_id: int, payload: ReturnIn = TO_THE_REQUESTER) -> Any:
    """Send back to the requester, or to an earlier approved step (`to_step`). The comment
    (what needs to change) is required."""
    return services.task_return(
        actor=_actor(request), task_id=task_id, comment=payload.comment, to_step=payload.to_step
    )


@router.post("/tasks/{task_id}/transfer", response=DETAIL)
def task_transfer(request: HttpRequest, task_id: int, payload: TransferIn) -> Any:
    """Hand my pending task to a colleague."""
    return services.task_transfer(
        actor=_actor(request),
        task_id=task_id,
        to_user_id=payload.to_user_id,
        comment=payload.comment,
    )


@router.post("/tasks/{task_id}/add-signer", response=DETAIL)
def task_add_signer(request: HttpRequest, task_id: int, payload: AddSignerIn) -> Any:
    """加签: ask someone else too, before me (I decide after them) or after me."""
    return services.task_add_signer(
        actor=_actor(request),
        task_id=task_id,
        user_id=payload.user_id,
        position=payload.position,
        comment=payload.comment,
    )
