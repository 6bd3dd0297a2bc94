"""What the home page shows, by role."""

from __future__ import annotations

from typing import Any

from qinglian.audit.selectors import audit_event_list
from qinglian.org.enums import RoleCode
from qinglian.org.scopes import can_read_audit, data_scope
from qinglian.org.selectors import company_overview, own_role_assignments, project_list


def home_view_data(*, user: Any) -> dict[str, Any]:
    scope = data_scope(user)
    data: dict[str, Any] = {
        "is_group_wide": scope.is_group_wide,
        "is_oversight": scope.is_oversight,
        "is_it_admin": scope.has_role(RoleCode.IT_ADMIN),
        "my_roles": list(own_role_assignments(user=user)),
        "companies": company_overview(user=user) if scope.read_company_ids else [],
        "my_projects": list(project_list(user=user).filter(leader_id=user.pk)[:10]),
        "recent_events": [],
    }
    if can_read_audit(user):
        data["recent_events"] = list(audit_event_list(user=user)[:10])
    return data
