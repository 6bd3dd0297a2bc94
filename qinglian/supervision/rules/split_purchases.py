"""Rule 2 — split purchases and contracts.

A company that needs goods worth more than an approval threshold may sign several contracts,
each under it, with one counterparty — or with counterparties that are one in disguise (they
share a bank account, a phone number or an address) — within a short time. Each contract then
passes on the lower route; together they would have needed the higher authority.

The thresholds are those of the contract approval flows' route conditions on their amount field
(as rule 3 reads them) together with the group's own contract approval thresholds, which the
inspectors keep in the rule's parameters: imported history is filed under flows that carry no
conditions (the old systems' routes are not in the interchange format), and a group's rules of
authority bind whatever a flow models. Per company, kind of contract and group of
related counterparties, contracts are taken in the order they were signed; from each contract
on, the ones signed within the window are summed; when at least the minimum number of them
together cross a threshold they are one finding (anchored on the first contract, so a re-run —
or a later contract joining the group — finds the same finding again) and the next group starts
after the last of them. A group is reported once, at the highest threshold it crosses.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts
from qinglian.trading.enums import ContractKind, ContractStatus

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ._approvals import (
    AmountsParameter,
    Threshold,
    amount_text,
    flow_thresholds,
    lookback_parameter,
    merged_thresholds,
    threshold_origin,
)
from ._trading import (
    CONTRACT,
    HUNDRED,
    contract_link,
    days_before,
    document_of,
    partner_link,
    related_parties,
    shared_values,
    start_of_day,
)


def thresholds(parameters: Mapping[str, Any]) -> list[Threshold]:
    """Highest first: those of the contract approval flows (every version, the newest naming
    the node) and the group's."""
    found = flow_thresholds(template_codes=parameters["flow_codes"] or None)
    flow = (threshold for version in sorted(found, reverse=True) for threshold in found[version])
    return merged_thresholds(flow, parameters["group_thresholds"])[::-1]


def split_groups(
    contracts: Sequence[facts.ContractFact],
    threshold: Threshold,
    *,
    window_days: int,
    min_count: int,
    min_percent: Decimal,
) -> list[list[facts.ContractFact]]:
    """Groups of contracts (signed in order) each under `threshold` and at least
    `min_percent` of it, signed within `window_days` of the group's first, together crossing
    it. Pure."""
    floor = threshold.value * min_percent / HUNDRED
    eligible = [
        contract
        for contract in contracts
        if contract.total_amount >= floor and not threshold.crosses(contract.total_amount)
    ]
    eligible.sort(key=lambda contract: (contract.committed_on, contract.id))
    groups: list[list[facts.ContractFact]] = []
    start = 0
    while start < len(eligible):
        first = eligible[start].committed_on
        end = start
        while end + 1 < len(eligible) and (eligible[end + 1].committed_on - first).days <= (
            window_days
        ):
            end += 1
        members = eligible[start : end + 1]
        total = sum((contract.total_amount for contract in members), Decimal(0))
        if len(members) >= min_count and threshold.crosses(total):
            groups.append(members)
            start = end + 1
        else:
            start += 1
    return groups


def _current_contracts(
    parameters: Mapping[str, Any], start: datetime.date, partner_ids: Iterable[int] | None = None
) -> list[facts.ContractFact]:
    """The revision in force (or under approval) of every contract committed since `start`."""
    revisions = facts.contract_facts(
        kinds=parameters["contract_kinds"] or None,
        statuses=facts.SUBMITTED_CONTRACT_STATUSES,
        partner_ids=None if partner_ids is None else list(partner_ids),
    )
    chains = facts.contract_chains(revisions)
    return [
        chain.current
        for chain in chains.values()
        if chain.current.committed_on >= start and chain.current.status != ContractStatus.DRAFT
    ]


def _detect(context: RuleContext, only_contract_id: int | None = None) -> Iterable[Hit]:
    parameters = context.parameters
    levels = thresholds(parameters)
    if not levels:
        return
    start = days_before(context.now, parameters["lookback_days"])
    related = related_parties(enabled=parameters["include_related"])
    partner_ids: set[int] | None = None
    if only_contract_id is not None:
        one = next(iter(facts.contract_facts(contract_ids=[only_contract_id])), None)
        if one is None:
            return
        root = related.root(one.partner_id)
        partner_ids = {
            fact.id for fact in facts.partner_facts() if related.root(fact.id) == root
        } | {one.partner_id}
    contracts = _current_contracts(parameters, start, partner_ids)
    by_counterparty: dict[tuple[int, str, int], list[facts.ContractFact]] = defaultdict(list)
    for contract in contracts:
        key = (contract.company_id, contract.kind, related.root(contract.partner_id))
        by_counterparty[key].append(contract)
    found: list[tuple[Threshold, list[facts.ContractFact]]] = []
    for members in by_counterparty.values():
        used: set[int] = set()
        for level in levels:
            remaining = [contract for contract in members if contract.id not in used]
            for group in split_groups(
                remaining,
                level,
                window_days=parameters["window_days"],
                min_count=parameters["min_count"],
                min_percent=parameters["min_percent_of_threshold"],
            ):
                used.update(contract.id for contract in group)
                found.append((level, group))
    if only_contract_id is not None:
        found = [
            (level, group)
            for level, group in found
            if any(contract.id == only_contract_id for contract in group)
        ]
    if not found:
        return
    partners = {
        fact.id: fact
        for fact in facts.partner_facts(
            partner_ids={contract.partner_id for _level, group in found for contract in group}
        )
    }
    for level, group in sorted(found, key=lambda item: item[1][0].id):
        yield _hit(level, group, partners, parameters)


def _hit(
    level: Threshold,
    group: list[facts.ContractFact],
    partners: Mapping[int, facts.PartnerFact],
    parameters: Mapping[str, Any],
) -> Hit:
    first, last = group[0], group[-1]
    total = sum((contract.total_amount for contract in group), Decimal(0))
    partner_ids = sorted({contract.partner_id for contract in group})
    members = [partners[pk] for pk in partner_ids if pk in partners]
    links = [
        {"attribute": item.attribute, "value": item.value, "partners": list(item.partner_ids)}
        for item in shared_values(members)
    ]
    name = partners[first.partner_id].name if first.partner_id in partners else ""
    return Hit(
        subject_type=CONTRACT,
        subject_id=str(first.chain_id),
        subject_label=_("%(number)s and %(more)s more with %(partner)s")
        % {"number": first.label, "more": len(group) - 1, "partner": name},
        key=format(level.value.normalize(), "f"),
        company_id=first.company_id,
        department_id=first.department_id,
        figures={
            "kind": first.kind,
            **level.figures(),
            "window_days": parameters["window_days"],
            "count": len(group),
            "total": total,
            "first_signed_on": first.committed_on,
            "last_signed_on": last.committed_on,
            "counterparties": [
                {"id": partner.id, "name": partner.name, "code": partner.code}
                for partner in members
            ],
            "shared": links,
            "contracts": [
                {
                    "id": contract.id,
                    "number": contract.label,
                    "partner": partners[contract.partner_id].name
                    if contract.partner_id in partners
                    else "",
                    "signed_on": contract.committed_on,
                    "amount": contract.total_amount,
                    "status": contract.status,
                }
                for contract in group
            ],
        },
        documents=[
            *(contract_link(contract) for contract in group),
            *(partner_link(partner.id, partner.name) for partner in members),
        ],
        people=list(dict.fromkeys(contract.owner_id for contract in group)),
        occurred_at=start_of_day(last.committed_on),
    )


def detect(context: RuleContext) -> Iterable[Hit]:
    return _detect(context)


def check_document(context: RuleContext, document_type: str, document_id: str) -> Iterable[Hit]:
    """A contract (or its approval request) that completes a split group."""
    document = document_of(document_type, document_id)
    if document is None or document[0] != CONTRACT:
        return []
    return list(_detect(context, only_contract_id=document[1]))


def summarize(figures: Mapping[str, Any]) -> str:
    names = "、".join(item.get("name", "") for item in figures.get("counterparties", []))
    values = {
        "count": figures.get("count", 0),
        "partners": names,
        "first": figures.get("first_signed_on", ""),
        "last": figures.get("last_signed_on", ""),
        "threshold": amount_text(Decimal(str(figures.get("threshold", 0)))),
        "total": amount_text(Decimal(str(figures.get("total", 0)))),
        "origin": threshold_origin(figures),
    }
    if not values["origin"]:  # recorded before findings kept the threshold's source
        return (
            _(
                "%(count)s contracts with %(partners)s signed between %(first)s and %(last)s, "
                "each at most %(threshold)s yuan, together %(total)s yuan"
            )
            % values
        )
    return (
        _(
            "%(count)s contracts with %(partners)s signed between %(first)s and %(last)s, each "
            "at most %(threshold)s yuan, together %(total)s yuan (threshold: %(origin)s)"
        )
        % values
    )


RULE = register(
    Rule(
        code="split_purchases",
        number=2,
        title=gettext_lazy("Split purchases and contracts"),
        explanation=gettext_lazy(
            "Per company and kind of contract (%(contract_kinds)s), takes the contracts "
            "submitted for approval or in force that were signed in the last %(lookback_days)s "
            "days, groups those with one counterparty (counterparties sharing a bank account, "
            "phone number or address count as one: %(include_related)s) and flags at "
            "least %(min_count)s of them signed within %(window_days)s days of the first that "
            "are each under an approval threshold (and at least %(min_percent_of_threshold)s of "
            "it) but together over it. Thresholds: every amount threshold in the route "
            "conditions of the flows %(flow_codes)s, and the group's contract approval "
            "thresholds in yuan: %(group_thresholds)s."
        ),
        area=Area.POWER,
        severity=Severity.HIGH,
        parameters=(
            AmountsParameter(
                "group_thresholds",
                gettext_lazy("The group's contract approval thresholds (yuan)"),
                ParameterKind.CODES,
                ["1000000", "5000000"],
                help=gettext_lazy(
                    "Amounts above which the group's rules of authority send a contract to a "
                    "higher level, separated by commas (1000000, 5000000). Used together with "
                    "the thresholds in the contract flows' route conditions, so that history "
                    "imported from the old systems, whose flows carry none, is checked too."
                ),
            ),
            Parameter(
                "flow_codes",
                gettext_lazy("Contract approval flows (codes)"),
                ParameterKind.CODES,
                ["trading_contract"],
            ),
            Parameter(
                "window_days",
                gettext_lazy("Window (days)"),
                ParameterKind.INTEGER,
                30,
                minimum=1,
                maximum=365,
            ),
            Parameter(
                "min_count",
                gettext_lazy("Contracts in a group (at least)"),
                ParameterKind.INTEGER,
                2,
                minimum=2,
                maximum=100,
            ),
            Parameter(
                "min_percent_of_threshold",
                gettext_lazy("Smallest contract counted (percent of the threshold)"),
                ParameterKind.DECIMAL,
                10,
                minimum=0,
                maximum=100,
                unit="%",
            ),
            Parameter(
                "include_related",
                gettext_lazy(
                    "Counterparties sharing a bank account, phone or address count as one"
                ),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "contract_kinds",
                gettext_lazy("Kinds of contract (purchase, sales)"),
                ParameterKind.CODES,
                [ContractKind.PURCHASE.value, ContractKind.SALES.value],
            ),
            lookback_parameter(),
        ),
        detect=detect,
        summarize=summarize,
        reads=(
            "approvals.approvalrequest",
            "approvals.approvaltemplate",
            "approvals.templateversion",
            "trading.contract",
            "trading.partner",
        ),
        as_of="day",
        check_document=check_document,
    )
)
