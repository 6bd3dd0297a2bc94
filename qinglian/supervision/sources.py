"""The identifiers old systems knew the records of a finding by (legacy intake).

Imported history keeps the old system's identifier verbatim (`source_id`); a finding about an
imported contract, partner, person or company carries it in its evidence, next to each link,
so an inspector can find the record in the old files. Looked up set-wise: one statement per
kind of record (per 2,000 ids), however many links a run records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from qinglian.approvals import facts as approval_facts
from qinglian.org.models import Company, User
from qinglian.trading import facts as trading_facts

from .rules._approvals import REQUEST
from .rules._trading import (
    COMMODITY,
    CONTRACT,
    CREDIT_STANDING,
    INVOICE,
    PARTNER,
    PAYMENT,
    STOCK_DOCUMENT,
    STOCKTAKE,
    WAREHOUSE,
)

USER = "org.user"
COMPANY = "org.company"

# What the `--json` lines group the identifiers by.
DOCUMENTS = "documents"
PARTNERS = "partners"
PEOPLE = "people"
COMPANIES = "companies"
GROUPS = (DOCUMENTS, PARTNERS, PEOPLE, COMPANIES)

CHUNK = 2000

Lookup = Callable[[Iterable[int]], dict[int, str]]


def _org_source_ids(model: Any, ids: Iterable[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), CHUNK):
        found.update(
            model.objects.filter(pk__in=wanted[start : start + CHUNK])
            .exclude(source_id="")
            .values_list("pk", "source_id")
        )
    return found


# Each kind of record that may be imported: how to look its identifiers up.
LOOKUPS: dict[str, Lookup] = {
    "approvals.request": approval_facts.request_source_ids,
    **{
        f"trading.{kind}": partial(trading_facts.source_ids, kind)
        for kind in sorted(trading_facts.IMPORTED_KINDS)
    },
    USER: partial(_org_source_ids, User),
    COMPANY: partial(_org_source_ids, Company),
}

# A link's type → (the kind of record it names, the group it is listed under). A customer's
# credit standing is named by the customer's id.
LINK_TYPES: dict[str, tuple[str, str]] = {
    REQUEST: ("approvals.request", DOCUMENTS),
    CONTRACT: ("trading.contract", DOCUMENTS),
    PAYMENT: ("trading.payment", DOCUMENTS),
    INVOICE: ("trading.invoice", DOCUMENTS),
    STOCK_DOCUMENT: ("trading.stock_document", DOCUMENTS),
    STOCKTAKE: ("trading.stocktake", DOCUMENTS),
    COMMODITY: ("trading.commodity", DOCUMENTS),
    WAREHOUSE: ("trading.warehouse", DOCUMENTS),
    PARTNER: ("trading.partner", PARTNERS),
    CREDIT_STANDING: ("trading.partner", PARTNERS),
    USER: (USER, PEOPLE),
    COMPANY: (COMPANY, COMPANIES),
}


def group_of(link_type: str) -> str:
    """The group a link of this type is listed under (documents unless it names a partner,
    a person or a company)."""
    known = LINK_TYPES.get(link_type)
    return known[1] if known else DOCUMENTS


def _pk(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass
class SourceIds:
    """The identifiers found: `of(link type, id)` is "" for records made here."""

    found: dict[tuple[str, int], str] = field(default_factory=dict)

    def of(self, link_type: str, link_id: Any) -> str:
        known = LINK_TYPES.get(link_type)
        pk = _pk(link_id)
        if known is None or pk is None:
            return ""
        return self.found.get((known[0], pk), "")


def source_ids(links: Iterable[tuple[str, Any]]) -> SourceIds:
    """The identifiers of the records `links` name ((link type, id) pairs), one statement per
    kind of record named; types that are never imported cost nothing."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for link_type, link_id in links:
        known = LINK_TYPES.get(link_type)
        pk = _pk(link_id)
        if known is not None and pk is not None:
            wanted[known[0]].add(pk)
    found: dict[tuple[str, int], str] = {}
    for kind, ids in sorted(wanted.items()):
        found.update(((kind, pk), source) for pk, source in LOOKUPS[kind](ids).items())
    return SourceIds(found)


def grouped(evidence: Mapping[str, Any]) -> dict[str, list[str]]:
    """The identifiers a finding's evidence carries, by group, each once, in the order the
    evidence names them: its documents, partners, people and companies (with the finding's
    own company and its subject)."""
    groups: dict[str, list[str]] = {group: [] for group in GROUPS}

    def add(group: str, value: Any) -> None:
        if value and str(value) not in groups[group]:
            groups[group].append(str(value))

    subject = evidence.get("subject") or {}
    add(group_of(str(subject.get("type", ""))), subject.get("source_id"))
    for document in evidence.get("documents") or []:
        add(group_of(str(document.get("type", ""))), document.get("source_id"))
    for person in evidence.get("people") or []:
        add(PEOPLE, person.get("source_id"))
    add(COMPANIES, (evidence.get("company") or {}).get("source_id"))
    return groups
