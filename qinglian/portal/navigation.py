"""The navigation a user sees, by role. Pure: takes the scope, returns menu entries."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from qinglian.org.enums import OVERSIGHT_ROLES, RoleCode
from qinglian.org.scopes import DataScope


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    section: str  # the URL namespace/prefix that marks the entry active


UNIT_LEADER_ROLES = frozenset(
    {RoleCode.GENERAL_MANAGER, RoleCode.LEADER_IN_CHARGE, RoleCode.DEPARTMENT_HEAD}
)


TRADING_ROLES = frozenset(
    {RoleCode.PURCHASER, RoleCode.SALESPERSON, RoleCode.WAREHOUSE_KEEPER, RoleCode.FINANCE}
)


def navigation_for(scope: DataScope) -> list[NavItem]:
    items = [NavItem(_("Home"), "home", "home")]
    if scope.user_id is not None:
        items.append(NavItem(_("Approvals"), "approvals:inbox", "approvals"))
    if scope.read_company_ids:
        items += [
            NavItem(_("Companies"), "org:company_list", "org"),
            NavItem(_("Departments"), "org:department_list", "org"),
            NavItem(_("People"), "org:user_list", "org"),
            NavItem(_("Projects"), "org:project_list", "org"),
        ]
    roles = scope.role_codes
    if roles & (TRADING_ROLES | OVERSIGHT_ROLES):
        items.append(NavItem(_("Purchase–sales–inventory"), "trading:home", "trading"))
    if roles & OVERSIGHT_ROLES:
        items.append(NavItem(_("Supervision"), "supervision:dashboard", "supervision"))
    elif roles & UNIT_LEADER_ROLES:
        # The responsible unit's side of the closed loop: its own rectification cases.
        items.append(NavItem(_("Cases"), "supervision:case_list", "supervision"))
    if roles & {RoleCode.INSPECTOR, RoleCode.AUDITOR, RoleCode.IT_ADMIN}:
        items.append(NavItem(_("Audit trail"), "audit:event_list", "audit"))
    if RoleCode.IT_ADMIN in roles:
        items.append(NavItem(_("Roles"), "org:role_list", "org"))
        items.append(NavItem(_("Import"), "org:import", "org"))
    if scope.is_group_wide and roles & {RoleCode.IT_ADMIN, RoleCode.INSPECTOR}:
        # loading the old systems' history is group-wide work (the page checks again)
        items.append(NavItem(_("Legacy intake"), "legacy:import", "legacy"))
    return items
