"""Reads of the organisation, always through the user's data scope.

`<entity>_access` answers NotFound for missing and out-of-scope alike.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from qinglian.core.errors import NotFound

from .models import ApiToken, Company, Department, Project, Role, RoleAssignment, User
from .scopes import data_scope


def company_list(*, user: Any, search: str = "") -> QuerySet[Company]:
    queryset = data_scope(user).apply(Company.objects.select_related("parent"), "id")
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search) | Q(code__icontains=search) | Q(uscc__icontains=search)
        )
    return queryset


def company_access(*, user: Any, company_id: int) -> Company:
    company = company_list(user=user).filter(pk=company_id).first()
    if company is None:
        raise NotFound(_("Company not found."))
    return company


def company_overview(*, user: Any) -> list[dict[str, Any]]:
    """Per visible company: users, departments and projects (the group-wide home cards)."""
    companies = company_list(user=user).annotate(
        user_count=Count("users", filter=Q(users__is_active=True), distinct=True),
        department_count=Count("departments", distinct=True),
        project_count=Count("projects", distinct=True),
    )
    return [
        {
            "company": company,
            "users": company.user_count,
            "departments": company.department_count,
            "projects": company.project_count,
        }
        for company in companies
    ]


def department_list(
    *, user: Any, company_id: int | None = None, search: str = ""
) -> QuerySet[Department]:
    queryset = data_scope(user).apply(
        Department.objects.select_related("company", "parent", "head")
    )
    if company_id is not None:
        queryset = queryset.filter(company_id=company_id)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(code__icontains=search))
    return queryset


def department_access(*, user: Any, department_id: int) -> Department:
    department = department_list(user=user).filter(pk=department_id).first()
    if department is None:
        raise NotFound(_("Department not found."))
    return department


def user_list(
    *,
    user: Any,
    company_id: int | None = None,
    department_id: int | None = None,
    search: str = "",
    active_only: bool = False,
) -> QuerySet[User]:
    queryset = data_scope(user).apply(User.objects.select_related("company", "department"))
    if company_id is not None:
        queryset = queryset.filter(company_id=company_id)
    if department_id is not None:
        queryset = queryset.filter(department_id=department_id)
    if active_only:
        queryset = queryset.filter(is_active=True)
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search)
            | Q(username__icontains=search)
            | Q(employee_number__icontains=search)
            | Q(phone__icontains=search)
        )
    return queryset


def user_access(*, user: Any, user_id: int) -> User:
    found = user_list(user=user).filter(pk=user_id).first()
    if found is None:
        raise NotFound(_("User not found."))
    return found


def role_list() -> QuerySet[Role]:
    """Roles are reference data every signed-in user may read."""
    return Role.objects.all()


def role_list_with_holders(*, user: Any) -> QuerySet[Role]:
    """Roles with the number of people in the reader's scope who hold each."""
    scope = data_scope(user)
    holders = Q(roleassignment__user__is_active=True)
    if not scope.is_group_wide:
        holders &= Q(roleassignment__user__company_id__in=scope.read_company_ids)
    return Role.objects.annotate(
        holder_count=Count("roleassignment__user", filter=holders, distinct=True)
    )


def role_access(*, role_id: int) -> Role:
    role = Role.objects.filter(pk=role_id).first()
    if role is None:
        raise NotFound(_("Role not found."))
    return role


def role_assignment_list(*, user: Any, user_id: int | None = None) -> QuerySet[RoleAssignment]:
    queryset = data_scope(user).apply(
        RoleAssignment.objects.select_related("user", "role", "company", "granted_by"),
        "user__company_id",
    )
    if user_id is not None:
        queryset = queryset.filter(user_id=user_id)
    return queryset


def role_assignment_access(*, user: Any, assignment_id: int) -> RoleAssignment:
    assignment = role_assignment_list(user=user).filter(pk=assignment_id).first()
    if assignment is None:
        raise NotFound(_("Role assignment not found."))
    return assignment


def own_role_assignments(*, user: Any) -> QuerySet[RoleAssignment]:
    """A user's own roles, whatever their scope (shown on their home page)."""
    return RoleAssignment.objects.filter(user_id=user.pk).select_related("role", "company")


def project_list(
    *, user: Any, company_id: int | None = None, search: str = ""
) -> QuerySet[Project]:
    queryset = data_scope(user).apply(
        Project.objects.select_related("company", "leader", "department")
    )
    if company_id is not None:
        queryset = queryset.filter(company_id=company_id)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(code__icontains=search))
    return queryset


def project_access(*, user: Any, project_id: int) -> Project:
    project = project_list(user=user).filter(pk=project_id).first()
    if project is None:
        raise NotFound(_("Project not found."))
    return project


def api_token_list(*, user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user_id=user.pk)
