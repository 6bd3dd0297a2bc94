"""Reads of the audit trail through the reader's data scope."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from qinglian.core.errors import NotFound, PermissionDenied
from qinglian.org.enums import RoleCode
from qinglian.org.scopes import can_read_audit, data_scope

from .models import AuditEvent

AUDIT_READER_ROLES = (RoleCode.INSPECTOR, RoleCode.AUDITOR, RoleCode.IT_ADMIN)


def _readable_company_ids(user: Any) -> set[int] | None:
    """Companies whose chains the user may read; None means every chain (system included)."""
    scope = data_scope(user)
    ids: set[int] = set()
    for role in AUDIT_READER_ROLES:
        ids |= scope.companies_with_role(role)
    if scope.is_group_wide and ids == set(scope.read_company_ids):
        return None
    return ids


def audit_event_list(
    *,
    user: Any,
    object_type: str = "",
    object_id: str = "",
    action: str = "",
    actor_id: int | None = None,
    company_id: int | None = None,
) -> QuerySet[AuditEvent]:
    if not can_read_audit(user):
        raise PermissionDenied(_("Only inspectors, auditors and IT administrators read the trail."))
    queryset = AuditEvent.objects.select_related("chain")
    readable = _readable_company_ids(user)
    if readable is not None:
        queryset = queryset.filter(chain__company_id__in=readable)
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if object_id:
        queryset = queryset.filter(object_id=object_id)
    if action:
        queryset = queryset.filter(action__startswith=action)
    if actor_id is not None:
        queryset = queryset.filter(actor_id=actor_id)
    if company_id is not None:
        queryset = queryset.filter(chain__company_id=company_id)
    return queryset


def audit_event_access(*, user: Any, event_id: int) -> AuditEvent:
    """Not found for a missing or out-of-scope event; a user without any audit role is refused
    (403) like on the list, since that answer does not depend on the id."""
    event = audit_event_list(user=user).filter(pk=event_id).first()
    if event is None:
        raise NotFound(_("Audit event not found."))
    return event


def object_trail(*, user: Any, object_type: str, object_id: str) -> QuerySet[AuditEvent]:
    """Every event of one object, oldest first (the "trail" link on any record)."""
    return audit_event_list(user=user, object_type=object_type, object_id=object_id).order_by(
        "occurred_at", "id"
    )
