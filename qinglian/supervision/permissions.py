"""Who may do what in supervision. Reads the user's data scope; no writes.

- Inspectors (纪委) triage findings, open and verify cases, run rules and edit rule parameters,
  for the companies their role covers (rule parameters are group-wide: an inspector whose scope
  includes the group).
- Auditors (内审) read findings, cases and the dashboard of their scope.
- The responsible unit — the case's responsible person, the head of its department, and the
  company's general manager or leader in charge — sees its own cases and submits rectification.
- Everyone else sees nothing.
"""

from __future__ import annotations

from typing import Any

from qinglian.org.enums import OVERSIGHT_ROLES, RoleCode
from qinglian.org.scopes import data_scope, group_company_id

UNIT_LEADER_ROLES = frozenset({RoleCode.GENERAL_MANAGER, RoleCode.LEADER_IN_CHARGE})


def oversight_company_ids(user: Any) -> frozenset[int]:
    scope = data_scope(user)
    ids: set[int] = set()
    for role in OVERSIGHT_ROLES:
        ids |= scope.companies_with_role(role)
    return frozenset(ids)


def inspector_company_ids(user: Any) -> frozenset[int]:
    return data_scope(user).companies_with_role(RoleCode.INSPECTOR)


def is_oversight(user: Any) -> bool:
    return bool(oversight_company_ids(user))


def is_inspector(user: Any, company_id: int | None = None) -> bool:
    ids = inspector_company_ids(user)
    return bool(ids) if company_id is None else company_id in ids


def can_edit_rules(user: Any) -> bool:
    """Rule parameters hold for the whole group: set by the group's inspectors."""
    group_id = group_company_id()
    return group_id is not None and group_id in inspector_company_ids(user)


def unit_leader_company_ids(user: Any) -> frozenset[int]:
    scope = data_scope(user)
    ids: set[int] = set()
    for role in UNIT_LEADER_ROLES:
        ids |= scope.companies_with_role(role)
    return frozenset(ids)


def is_case_responsible(user: Any, case: Any) -> bool:
    """The case's responsible person, the head of its department, or a leader of its company.
    `case.department` should be selected with the case."""
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return False
    if case.assignee_id == user.pk:
        return True
    if case.department_id is not None and case.department.head_id == user.pk:
        return True
    return case.company_id in unit_leader_company_ids(user)
