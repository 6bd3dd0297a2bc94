"""The port every service uses to write the audit trail.

The trail itself (hash chain, storage, verification) is the `audit` app. It sits above `org` in
the layering, yet `org` services must audit their changes too, so the writer is registered here
by `AuditConfig.ready()` — the same registry pattern approvals uses for business documents — and
services in any app call `audit_record(...)` inside their own transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db import models


class AuditWriter(Protocol):
    def __call__(
        self,
        *,
        actor: Any,
        action: str,
        company_id: int | None,
        target: models.Model | None,
        object_type: str,
        object_id: str,
        object_repr: str,
        changes: Mapping[str, Any],
    ) -> Any: ...


_writer: AuditWriter | None = None


def register_audit_writer(writer: AuditWriter) -> None:
    global _writer
    _writer = writer


def audit_record(
    *,
    actor: Any,
    action: str,
    company_id: int | None,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    changes: Mapping[str, Any] | None = None,
) -> Any:
    """Append one event; call it inside the transaction that makes the change.

    `action` is "app.entity.past-participle"; `changes` maps field -> [before, after].
    """
    if _writer is None:
        raise ImproperlyConfigured("No audit writer registered: is qinglian.audit installed?")
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = object_id or str(target.pk)
        object_repr = object_repr or str(target)
    return _writer(
        actor=actor,
        action=action,
        company_id=company_id,
        target=target,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        changes=changes or {},
    )


def diff_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The changed fields as {field: [before, after]}."""
    return {
        name: [before.get(name), value]
        for name, value in after.items()
        if before.get(name) != value
    }
