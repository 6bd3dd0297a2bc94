"""Reads of approvals. A request is visible to its requester, to everyone on its route (asked
now or before), to its cc list, and read-only to the oversight roles whose scope covers its
company — to nobody else, however senior."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from qinglian.core.errors import NotFound
from qinglian.org.enums import OVERSIGHT_ROLES
from qinglian.org.models import Department, Project, User
from qinglian.org.scopes import data_scope

from . import registry
from .enums import TaskStatus
from .models import (
    ApprovalAction,
    ApprovalRequest,
    ApprovalTask,
    ApprovalTemplate,
    Attachment,
    CarbonCopy,
    Notification,
)


def _oversight_company_ids(user: Any) -> set[int]:
    scope = data_scope(user)
    ids: set[int] = set()
    for role in OVERSIGHT_ROLES:
        ids |= scope.companies_with_role(role)
    return ids


def can_see_request(user: Any, request: ApprovalRequest) -> bool:
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return False
    if request.requester_id == user.pk or request.company_id in _oversight_company_ids(user):
        return True
    return (
        ApprovalTask.objects.filter(request_id=request.pk, assignee_id=user.pk).exists()
        or CarbonCopy.objects.filter(request_id=request.pk, user_id=user.pk).exists()
    )


def request_visible(*, user: Any) -> QuerySet[ApprovalRequest]:
    """Every request the user may open."""
    if not getattr(user, "is_authenticated", False):
        return ApprovalRequest.objects.none()
    party = (
        Q(requester_id=user.pk)
        | Exists(ApprovalTask.objects.filter(request_id=OuterRef("pk"), assignee_id=user.pk))
        | Exists(CarbonCopy.objects.filter(request_id=OuterRef("pk"), user_id=user.pk))
    )
    oversight = _oversight_company_ids(user)
    condition = party | Q(company_id__in=oversight) if oversight else party
    return ApprovalRequest.objects.filter(condition)


def request_access(*, user: Any, request_id: int) -> ApprovalRequest:
    """The request, if the user may open it; `viewer_cc_unread` tells whether the user was
    copied in on it and has not opened it since."""
    unread = CarbonCopy.objects.filter(
        request_id=OuterRef("pk"), user_id=getattr(user, "pk", None) or 0, read_at__isnull=True
    )
    request = (
        ApprovalRequest.objects.select_related("template", "version", "requester", "company")
        .annotate(viewer_cc_unread=Exists(unread))
        .filter(pk=request_id)
        .first()
    )
    if request is None or not can_see_request(user, request):
        raise NotFound(_("Approval request not found."))
    return request


def inbox_pending(*, user: Any) -> QuerySet[ApprovalTask]:
    """待办: tasks waiting for this user's decision, oldest first."""
    return (
        ApprovalTask.objects.filter(assignee_id=user.pk, status=TaskStatus.PENDING)
        .select_related("request", "request__requester", "request__template", "step")
        .order_by("activated_at", "id")
    )


def inbox_done(*, user: Any) -> QuerySet[ApprovalTask]:
    """已办: tasks this user decided (approved, rejected, sent back or transferred)."""
    return (
        ApprovalTask.objects.filter(
            assignee_id=user.pk,
            status__in=[
                TaskStatus.APPROVED,
                TaskStatus.REJECTED,
                TaskStatus.RETURNED,
                TaskStatus.TRANSFERRED,
            ],
        )
        .select_related("request", "request__requester", "request__template", "step")
        .order_by("-decided_at", "-id")
    )


def requests_submitted(*, user: Any) -> QuerySet[ApprovalRequest]:
    """我发起的."""
    return (
        ApprovalRequest.objects.filter(requester_id=user.pk)
        .select_related("template", "requester")
        .order_by("-submitted_at", "-id")
    )


def requests_cc(*, user: Any) -> QuerySet[CarbonCopy]:
    """抄送我的."""
    return (
        CarbonCopy.objects.filter(user_id=user.pk)
        .select_related("request", "request__requester", "request__template")
        .order_by("-created_at", "-id")
    )


def requests_cc_counts(*, user: Any) -> tuple[int, int]:
    """抄送我的: how many copies, and how many of them not opened yet (one query)."""
    counts = CarbonCopy.objects.filter(user_id=user.pk).aggregate(
        total=Count("id"), unread=Count("id", filter=Q(read_at__isnull=True))
    )
    return counts["total"], counts["unread"]


def request_document(*, request: ApprovalRequest) -> tuple[str, str] | None:
    """(label, page) of the business document a request approves, when it is bound to one
    whose type tells its page; only a path on this site or an http(s) address is offered."""
    if not (request.document_type and request.document_id):
        return None
    document_type = registry.document_type(request.document_type)
    if document_type is None or document_type.url_of is None:
        return None
    url = document_type.url_of(document_id=request.document_id)
    if not url or not _is_safe_link(str(url)):
        return None
    return str(document_type.label), str(url)


def _is_safe_link(url: str) -> bool:
    if any(character.isspace() or ord(character) < 32 for character in url):
        return False
    if url.startswith("/"):
        return not url.startswith(("//", "/\\"))
    return url.startswith(("https://", "http://"))


def request_trail(*, request: ApprovalRequest) -> QuerySet[ApprovalAction]:
    return request.actions.select_related("actor", "task").order_by("created_at", "id")


def request_route(*, request: ApprovalRequest) -> list[Any]:
    """The steps of the current round with their tasks (who acted when, who is pending)."""
    tasks = ApprovalTask.objects.select_related("assignee").order_by("order", "id")
    return list(
        request.steps.filter(round=request.current_round)
        .prefetch_related(Prefetch("tasks", queryset=tasks))
        .order_by("index")
    )


def request_attachments(*, request: ApprovalRequest) -> QuerySet[Attachment]:
    """The files on a request (its form's and its comments'), oldest first."""
    return Attachment.objects.filter(request_id=request.pk).order_by("uploaded_at", "id")


def attachment_access(*, user: Any, attachment_id: int) -> Attachment:
    """A file, for whoever may open its request; "not found" for everyone else alike."""
    attachment = Attachment.objects.select_related("request").filter(pk=attachment_id).first()
    if attachment is None or attachment.request is None:
        raise NotFound(_("File not found."))
    if not can_see_request(user, attachment.request):
        raise NotFound(_("File not found."))
    return attachment


def template_list(*, active_only: bool = True) -> QuerySet[ApprovalTemplate]:
    queryset = ApprovalTemplate.objects.select_related("current_version")
    return queryset.filter(is_active=True) if active_only else queryset


def notifications_unread(*, user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True)


# ---------------------------------------------------------------- what a request may name


def _nameable(user: Any, queryset: QuerySet[Any], company_id: int | None) -> QuerySet[Any]:
    """Rows of the user's data scope, plus those of `company_id` (by default the user's own
    company): any employee names a colleague, a department or a project of their company on a
    request, role or not — never another company's outside their scope."""
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    scope = data_scope(user)
    if scope.is_group_wide:
        return queryset
    own = company_id if company_id is not None else user.company_id
    companies = set(scope.read_company_ids) | ({own} if own is not None else set())
    return queryset.filter(company_id__in=companies)


def person_choice_list(*, user: Any, company_id: int | None = None) -> QuerySet[User]:
    """Active people a request's person field (or a transfer) may name."""
    people = User.objects.select_related("company", "department").filter(is_active=True)
    return _nameable(user, people, company_id)


def department_choice_list(*, user: Any, company_id: int | None = None) -> QuerySet[Department]:
    """Active departments a request's department field may name."""
    departments = Department.objects.select_related("company", "parent", "head").filter(
        is_active=True
    )
    return _nameable(user, departments, company_id)


def project_choice_list(*, user: Any, company_id: int | None = None) -> QuerySet[Project]:
    """Projects a request's project field may name."""
    projects = Project.objects.select_related("company", "leader", "department")
    return _nameable(user, projects, company_id)


def reference_names(
    *, user: Any, company_id: int, wanted: dict[str, set[int]]
) -> dict[str, dict[int, str]]:
    """Names of the people, departments and projects a request's form names, for a viewer of
    the request: those of the request's company and of the viewer's scope (the rest show as a
    number)."""
    bases: dict[str, QuerySet[Any]] = {
        "person": User.objects.all(),
        "department": Department.objects.all(),
        "project": Project.objects.all(),
    }
    names: dict[str, dict[int, str]] = {kind: {} for kind in bases}
    for kind, base in bases.items():
        if wanted.get(kind):
            found = _nameable(user, base, company_id).filter(pk__in=wanted[kind])
            names[kind] = dict(found.values_list("pk", "name"))
    return names
