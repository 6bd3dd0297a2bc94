"""Data scopes: which companies a user may read, and where they may administer the org.

Every list, detail page, API and export in every app reads through `data_scope(user)`:
a user sees the records of the companies their role assignments cover (the assigned company
and, by default, its subtree); inspectors and auditors read their whole scope — the group when
assigned at the root — and never write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from .enums import OVERSIGHT_ROLES, RoleCode
from .models import Company, RoleAssignment

M = TypeVar("M", bound=Model)
_CACHE_ATTRIBUTE = "_qinglian_data_scope"


@dataclass(frozen=True)
class DataScope:
    user_id: int | None
    read_company_ids: frozenset[int]
    # company id -> role codes the user holds there (write decisions ask this)
    roles_by_company: dict[int, frozenset[str]]
    is_group_wide: bool

    @property
    def role_codes(self) -> frozenset[str]:
        return (
            frozenset().union(*self.roles_by_company.values())
            if self.roles_by_company
            else (frozenset())
        )

    def can_read(self, company_id: int | None) -> bool:
        return company_id is not None and company_id in self.read_company_ids

    def has_role(self, role: str, company_id: int | None = None) -> bool:
        if company_id is None:
            return role in self.role_codes
        return role in self.roles_by_company.get(company_id, frozenset())

    def companies_with_role(self, role: str) -> frozenset[int]:
        return frozenset(cid for cid, roles in self.roles_by_company.items() if role in roles)

    @property
    def is_oversight(self) -> bool:
        return bool(self.role_codes & OVERSIGHT_ROLES)

    def apply(self, queryset: QuerySet[M], field: str = "company_id") -> QuerySet[M]:
        """Filter `queryset` to the companies this scope reads."""
        if self.is_group_wide:
            return queryset
        return queryset.filter(Q(**{f"{field}__in": self.read_company_ids}))


EMPTY_SCOPE = DataScope(None, frozenset(), {}, False)


def _compute(user_id: int) -> DataScope:
    assignments = list(
        RoleAssignment.objects.filter(user_id=user_id, user__is_active=True)
        .select_related("company", "role")
        .only("include_subtree", "company__path", "company__id", "role__code")
    )
    if not assignments:
        return DataScope(user_id, frozenset(), {}, False)
    companies = list(Company.objects.values_list("id", "path"))
    roles_by_company: dict[int, set[str]] = {}
    for assignment in assignments:
        root_path = assignment.company.path
        for company_id, path in companies:
            covered = (
                path.startswith(root_path)
                if assignment.include_subtree
                else company_id == assignment.company.id
            )
            if covered:
                roles_by_company.setdefault(company_id, set()).add(assignment.role.code)
    read_ids = frozenset(roles_by_company)
    return DataScope(
        user_id=user_id,
        read_company_ids=read_ids,
        roles_by_company={cid: frozenset(roles) for cid, roles in roles_by_company.items()},
        is_group_wide=len(read_ids) == len(companies),
    )


def data_scope(user: Any) -> DataScope:
    """The user's scope, computed once per user object (so once per request)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return EMPTY_SCOPE
    cached = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is None:
        cached = _compute(user.pk)
        setattr(user, _CACHE_ATTRIBUTE, cached)
    return cached


def forget_data_scope(user: Any) -> None:
    if hasattr(user, _CACHE_ATTRIBUTE):
        delattr(user, _CACHE_ATTRIBUTE)


def can_administer_org(user: Any, company_id: int | None) -> bool:
    """IT administrators manage companies, departments, users and roles in their scope."""
    return company_id is not None and data_scope(user).has_role(RoleCode.IT_ADMIN, company_id)


def group_company_id() -> int | None:
    """The root of the company tree (the group itself)."""
    return Company.objects.filter(parent__isnull=True).values_list("pk", flat=True).first()


def can_administer_group(user: Any) -> bool:
    """Group-wide reference data (roles, approval flows) is set centrally, by the group's IT
    administrators."""
    return can_administer_org(user, group_company_id())


def can_read_audit(user: Any, company_id: int | None = None) -> bool:
    """Inspectors, auditors and IT administrators read the audit trail of their scope."""
    scope = data_scope(user)
    roles = (
        scope.role_codes
        if company_id is None
        else scope.roles_by_company.get(company_id, frozenset())
    )
    return bool(set(roles) & {RoleCode.INSPECTOR, RoleCode.AUDITOR, RoleCode.IT_ADMIN})


def can_verify_audit(user: Any) -> bool:
    """Running a chain verification is for the oversight roles."""
    return data_scope(user).is_oversight
