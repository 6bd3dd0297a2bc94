"""Links from the approvals engine back to trading documents: each registered document type
names the page of its document (`DocumentType.url_of`); the page checks access itself."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse


def page_of(url_name: str) -> Callable[..., str | None]:
    def url_of(*, document_id: str) -> str | None:
        return reverse(url_name, args=[int(document_id)]) if document_id.isdigit() else None

    return url_of
