"""Trading services: contracts. Writes only; each service is atomic and audited."""

from __future__ import annotations

from typing import Any

# Approval flows this area ships (kwargs of approvals.services.template_save, minus actor).
APPROVAL_FLOWS: list[dict[str, Any]] = []


def register_document_types() -> None:
    """Register this area's approval-bound document types (called from AppConfig.ready)."""
