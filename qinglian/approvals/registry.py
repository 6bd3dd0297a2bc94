"""Business documents bound to approvals. Apps register their document types in
`AppConfig.ready()`; the engine calls back on the final decision, inside the decision's
transaction, and never imports those apps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise

Callback = Callable[..., None]  # (*, request: ApprovalRequest, actor: user or None) -> None


def _nothing(**kwargs: Any) -> None:
    return None


@dataclass(frozen=True)
class DocumentType:
    key: str  # "trading.contract"
    label: str | Promise  # translatable: shown as the button "open the document (label)"
    on_approved: Callback
    on_rejected: Callback = _nothing
    on_withdrawn: Callback = _nothing
    # (*, document_id) -> company id that owns the document, to check the requester's scope
    company_of: Callable[..., int | None] | None = None
    # (*, document_id) -> the document's page ("/trading/contracts/7/"), linked from the request;
    # None when it has none. The page checks its own access.
    url_of: Callable[..., str | None] | None = None


_registry: dict[str, DocumentType] = {}


def register_document_type(document_type: DocumentType) -> None:
    if document_type.key in _registry and _registry[document_type.key] != document_type:
        raise ValueError(f"document type {document_type.key} is already registered")
    _registry[document_type.key] = document_type


def document_type(key: str) -> DocumentType | None:
    return _registry.get(key)


def unregister_document_type(key: str) -> None:
    """For tests."""
    _registry.pop(key, None)
