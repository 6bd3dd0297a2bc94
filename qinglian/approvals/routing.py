"""Who approves: resolving a node's approver rule against the organisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from qinglian.org.enums import RoleCode
from qinglian.org.models import Company, Department, Project, RoleAssignment, User

from .definitions import Approver
from .enums import ApproverKind, RoleScope


@dataclass(frozen=True)
class RouteContext:
    requester: User
    company: Company
    department: Department | None
    project: Project | None


def _ancestor_ids(company: Company) -> list[int]:
    """The company and its ancestors, nearest first ("/1/4/9/" → [9, 4, 1])."""
    return [int(part) for part in reversed(company.path.strip("/").split("/")) if part]


def role_holders(role: str, company: Company) -> list[int]:
    """Active holders of `role` for `company`: those assigned at the company itself, else at the
    nearest ancestor whose assignment covers its subsidiaries (a group finance officer is not a
    subsidiary's finance step while the subsidiary has its own)."""
    rows = (
        RoleAssignment.objects.filter(role__code=role, user__is_active=True)
        .filter(
            Q(company_id=company.pk)
            | Q(company_id__in=_ancestor_ids(company)[1:], include_subtree=True)
        )
        .values_list("company_id", "user_id")
        .order_by("user__employee_number")
    )
    by_company: dict[int, list[int]] = {}
    for company_id, user_id in rows:
        by_company.setdefault(company_id, []).append(user_id)
    for company_id in _ancestor_ids(company):
        if by_company.get(company_id):
            return by_company[company_id]
    return []


def department_head(department: Department | None, *, above_user: int | None) -> int | None:
    """The head of `department`, or of the nearest department above it whose head is not
    `above_user` (the head of a department reports to the head above)."""
    while department is not None:
        if department.head_id is not None and department.head_id != above_user:
            return department.head_id
        department = department.parent
    return None


def superior_of(context: RouteContext) -> list[int]:
    """The requester's superior: their department head (the one above when they are the head),
    else the company's general manager."""
    head = department_head(context.department, above_user=context.requester.pk)
    if head is not None:
        return [head]
    return [
        user_id
        for user_id in role_holders(RoleCode.GENERAL_MANAGER, context.company)
        if user_id != context.requester.pk
    ]


def resolve(approver: Approver, context: RouteContext) -> list[int]:
    """The user ids a node asks, in a stable order, without repeats."""
    ids: list[int] = []
    if approver.kind == ApproverKind.USERS:
        active = set(
            User.objects.filter(pk__in=approver.users, is_active=True).values_list("pk", flat=True)
        )
        ids = [user_id for user_id in approver.users if user_id in active]
    elif approver.kind == ApproverKind.ROLE:
        company = context.company
        if approver.scope == RoleScope.PROJECT_COMPANY and context.project is not None:
            company = context.project.company
        ids = role_holders(approver.role, company)
    elif approver.kind == ApproverKind.DEPARTMENT_HEAD:
        # The head of a top-level department reports to the company's general manager.
        ids = superior_of(context)
    elif approver.kind == ApproverKind.LEVELS_UP:
        department = context.department
        for _level in range(approver.levels):
            head = department_head(department, above_user=context.requester.pk)
            if head is not None:
                ids.append(head)
            department = department.parent if department is not None else None
    elif approver.kind == ApproverKind.LEADER_IN_CHARGE:
        if context.project is not None:
            ids = [context.project.leader_id]
        else:
            ids = role_holders(RoleCode.LEADER_IN_CHARGE, context.company)
    return list(dict.fromkeys(ids))


def route_context(*, requester: Any, project_id: int | None) -> RouteContext:
    department = (
        Department.objects.select_related("parent__parent__parent")
        .filter(pk=requester.department_id)
        .first()
        if requester.department_id
        else None
    )
    project = (
        Project.objects.select_related("company").filter(pk=project_id).first()
        if project_id
        else None
    )
    return RouteContext(
        requester=requester, company=requester.company, department=department, project=project
    )
