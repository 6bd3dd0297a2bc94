"""Helpers the approval rules share: links to requests, names of people."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from decimal import Decimal

from qinglian.approvals import facts

from ..registry import DocumentLink

REQUEST = "approvals.request"


def request_link(request: facts.RequestFact) -> DocumentLink:
    return DocumentLink(
        REQUEST, str(request.id), f"{request.serial} {request.title}"[:200], number=request.serial
    )


def chunked(ids: list[int], size: int = 2000) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def requests_by_id(ids: Iterable[int]) -> dict[int, facts.RequestFact]:
    found: dict[int, facts.RequestFact] = {}
    for chunk in chunked(list(dict.fromkeys(ids))):
        for request in facts.request_facts(request_ids=chunk):
            found[request.id] = request
    return found


def amount_text(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:,.2f}"


def since(now: datetime.datetime, days: int) -> datetime.datetime:
    return now - datetime.timedelta(days=days)


def request_id_of(document_type: str, document_id: str) -> int | None:
    if document_type != REQUEST:
        return None
    try:
        return int(document_id)
    except ValueError:
        return None
