"""Rule 16 — trading warnings left unattended (预警未处理).

Trading raises warnings (预警) — credit overrun, overdue receivables, contracts expiring or
executed beyond their terms, late deliveries, goods issued before the prepayment, stocktake
variances — to the people responsible, who acknowledge and resolve them. A warning nobody
acknowledged for weeks, or one acknowledged and left unresolved for months, is a control that
rings without anyone answering; and some kinds an inspector wants to see at once, whoever is
dealing with them. Trading warnings and approval facts feed the same queue: each such warning
becomes one finding (per warning: a re-run finds the same finding again), its evidence linking
the warning's page, what it concerns and the documents it names.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts
from qinglian.trading.models.warnings import (
    KIND_OF_CODE,
    UNRESOLVED_STATES,
    WarningCode,
    WarningKind,
    WarningState,
    codes_of_kind,
)

from ..enums import Area, ParameterKind, Severity
from ..registry import DocumentLink, Hit, Parameter, Rule, RuleContext, register
from ..selectors import company_labels, people_labels
from ._trading import (
    COMMODITY,
    WARNING,
    contract_link,
    partner_link,
    warehouse_link,
    warning_document_link,
    warning_link,
)

NOT_ACKNOWLEDGED = "not_acknowledged"
NOT_RESOLVED = "not_resolved"
SELECTED = "selected"
# Followed at once by default: warnings that record a control already breached (goods or money
# booked against a contract not in force, goods issued before the agreed prepayment).
MAX_DOCUMENTS = 20


def selected_codes(selected: Iterable[str]) -> set[str]:
    """Warning codes from an inspector's list of kinds ("credit") and codes
    ("contract_expiring"); anything else is ignored. Pure."""
    codes: set[str] = set()
    for item in selected:
        if item in WarningKind.values:
            codes.update(codes_of_kind(item))
        elif item in KIND_OF_CODE:
            codes.add(item)
    return codes


def reason_of(
    warning: facts.WarningFact,
    *,
    now: datetime.datetime,
    open_days: int,
    unresolved_days: int,
    codes: set[str],
) -> str | None:
    """Why a warning is a finding (None: it is not). Pure."""
    if warning.state not in UNRESOLVED_STATES:
        return None
    age = now - warning.first_seen_at
    if warning.state == WarningState.OPEN and age > datetime.timedelta(days=open_days):
        return NOT_ACKNOWLEDGED
    if (
        warning.state == WarningState.ACKNOWLEDGED
        and unresolved_days
        and age > datetime.timedelta(days=unresolved_days)
    ):
        return NOT_RESOLVED
    if warning.code in codes:
        return SELECTED
    return None


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    now = context.now
    codes = selected_codes(parameters["selected"])
    candidates: dict[int, facts.WarningFact] = {}
    asked: list[tuple[list[str], list[str] | None, datetime.datetime | None]] = [
        ([WarningState.OPEN], None, now - datetime.timedelta(days=parameters["open_days"]))
    ]
    if parameters["unresolved_days"]:
        cutoff = now - datetime.timedelta(days=parameters["unresolved_days"])
        asked.append(([WarningState.ACKNOWLEDGED], None, cutoff))
    if codes:
        asked.append((list(UNRESOLVED_STATES), sorted(codes), None))
    for states, only, before in asked:
        for warning in facts.warning_facts(states=states, codes=only, first_seen_before=before):
            candidates[warning.id] = warning
    found: list[tuple[facts.WarningFact, str]] = []
    for warning in sorted(candidates.values(), key=lambda item: item.id):
        reason = reason_of(
            warning,
            now=now,
            open_days=parameters["open_days"],
            unresolved_days=parameters["unresolved_days"],
            codes=codes,
        )
        if reason is not None:
            found.append((warning, reason))
    if not found:
        return
    warnings = [warning for warning, _reason in found]
    responsible = facts.warning_responsible_ids(warning.id for warning in warnings)
    names = facts.partner_names(warning.partner_id for warning in warnings if warning.partner_id)
    warehouses = facts.warehouse_names(
        warning.warehouse_id for warning in warnings if warning.warehouse_id
    )
    companies = company_labels({warning.company_id for warning in warnings})
    people = people_labels(
        [warning.acknowledged_by_id for warning in warnings if warning.acknowledged_by_id]
    )
    contracts = {
        contract.id: contract
        for contract in facts.contract_facts(
            contract_ids={warning.contract_id for warning in warnings if warning.contract_id}
        )
    }
    commodities = (
        facts.commodity_facts() if any(warning.commodity_id for warning in warnings) else {}
    )
    for warning, reason in found:
        yield _hit(
            warning,
            reason,
            now=now,
            responsible=responsible.get(warning.id, []),
            partner=names.get(warning.partner_id or 0, ""),
            warehouse=warehouses.get(warning.warehouse_id or 0, ""),
            company=companies.get(warning.company_id, ""),
            acknowledged_by=people.get(warning.acknowledged_by_id or 0, ""),
            contract=contracts.get(warning.contract_id or 0),
            commodity=commodities.get(warning.commodity_id or 0),
        )


def _code_label(code: str) -> str:
    return str(WarningCode(code).label) if code in WarningCode.values else code


def _documents(
    warning: facts.WarningFact,
    label: str,
    partner: str,
    warehouse: str,
    contract: facts.ContractFact | None,
    commodity: facts.CommodityFact | None,
) -> list[DocumentLink]:
    documents = [warning_link(warning.id, label)]
    named = warning_document_link(
        warning.document_type, warning.document_id, warning.document_label
    )
    if named is not None:
        documents.append(named)
    listed = warning.details.get("documents")
    for item in (listed if isinstance(listed, list) else [])[:MAX_DOCUMENTS]:
        if not isinstance(item, dict) or not str(item.get("id", "")).isdigit():
            continue
        link = warning_document_link(
            str(item.get("type", "")), int(item["id"]), str(item.get("number", ""))
        )
        if link is not None:
            documents.append(link)
    if contract is not None:
        documents.append(contract_link(contract))
    if warning.partner_id:
        documents.append(partner_link(warning.partner_id, partner))
    if warning.warehouse_id:
        documents.append(warehouse_link(warning.warehouse_id, warehouse))
    if commodity is not None:
        documents.append(DocumentLink(COMMODITY, str(commodity.id), commodity.label))
    return documents


def _hit(
    warning: facts.WarningFact,
    reason: str,
    *,
    now: datetime.datetime,
    responsible: list[int],
    partner: str,
    warehouse: str,
    company: str,
    acknowledged_by: str,
    contract: facts.ContractFact | None,
    commodity: facts.CommodityFact | None,
) -> Hit:
    what = _code_label(warning.code)
    about = warning.document_label or (contract.label if contract else "") or partner
    label = f"{what}：{about}" if about else what
    return Hit(
        subject_type=WARNING,
        subject_id=str(warning.id),
        subject_label=_("%(warning)s · %(company)s") % {"warning": label, "company": company},
        company_id=warning.company_id,
        figures={
            "reason": reason,
            "warning_id": warning.id,
            "code": warning.code,
            "kind": warning.kind,
            "state": warning.state,
            "is_present": warning.is_present,
            "company": company,
            "about": about,
            "partner": partner,
            "contract": contract.label if contract else "",
            "commodity": commodity.label if commodity else "",
            "warehouse": warehouse,
            "measured": warning.measured_value,
            "threshold": warning.threshold_value,
            "unit": warning.unit,
            "reference_date": warning.reference_date,
            "first_seen_at": warning.first_seen_at,
            "last_seen_at": warning.last_seen_at,
            "days_since_first_seen": (now - warning.first_seen_at).days,
            "acknowledged_at": warning.acknowledged_at,
            "acknowledged_by": acknowledged_by,
            "reopened_count": warning.reopened_count,
            "responsible_role": warning.responsible_role,
            "details": warning.details,
        },
        documents=_documents(warning, label, partner, warehouse, contract, commodity),
        people=list(
            dict.fromkeys(
                [
                    *responsible,
                    *([warning.acknowledged_by_id] if warning.acknowledged_by_id else []),
                ]
            )
        ),
        occurred_at=warning.first_seen_at,
    )


def summarize(figures: Mapping[str, Any]) -> str:
    values = {
        "warning": _code_label(str(figures.get("code", ""))),
        "about": figures.get("about", ""),
        "company": figures.get("company", ""),
        "days": figures.get("days_since_first_seen", ""),
        "measured": _number(figures.get("measured")),
        "threshold": _number(figures.get("threshold")),
    }
    reason = figures.get("reason")
    if reason == NOT_ACKNOWLEDGED:
        text = _(
            "Warning “%(warning)s” on %(about)s (%(company)s) has not been acknowledged "
            "%(days)s days after it was raised (measured %(measured)s, threshold %(threshold)s)"
        )
    elif reason == NOT_RESOLVED:
        text = _(
            "Warning “%(warning)s” on %(about)s (%(company)s) was acknowledged but is still "
            "unresolved %(days)s days after it was raised (measured %(measured)s, threshold "
            "%(threshold)s)"
        )
    else:
        text = _(
            "Warning “%(warning)s” on %(about)s (%(company)s), a kind the inspectors follow, is "
            "unresolved (raised %(days)s days ago; measured %(measured)s, threshold "
            "%(threshold)s)"
        )
    return text % values


def _number(value: Any) -> str:
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except ArithmeticError:
        return str(value or "")


RULE = register(
    Rule(
        code="trading_warnings",
        number=16,
        title=gettext_lazy("Trading warnings left unattended"),
        explanation=gettext_lazy(
            "Takes the trading warnings not yet resolved and flags each one still not "
            "acknowledged more than %(open_days)s days after it was first raised, each one "
            "acknowledged but unresolved more than %(unresolved_days)s days after it was first "
            "raised (0: not checked), and at once every unresolved warning of the kinds or "
            "warnings the inspectors follow: %(selected)s. One finding per warning."
        ),
        area=Area.MATTERS,
        severity=Severity.MEDIUM,
        parameters=(
            Parameter(
                "open_days",
                gettext_lazy("Not acknowledged after (days)"),
                ParameterKind.INTEGER,
                14,
                minimum=1,
                maximum=3650,
            ),
            Parameter(
                "unresolved_days",
                gettext_lazy("Acknowledged but unresolved after (days, 0: not checked)"),
                ParameterKind.INTEGER,
                90,
                minimum=0,
                maximum=3650,
            ),
            Parameter(
                "selected",
                gettext_lazy(
                    "Kinds or warnings followed at once (credit, overdue, contract, shipment, "
                    "warehouse, or a warning's code; none: leave empty)"
                ),
                ParameterKind.CODES,
                [
                    WarningCode.CONTRACT_NOT_EFFECTIVE.value,
                    WarningCode.ISSUED_BEFORE_PREPAYMENT.value,
                ],
            ),
        ),
        detect=detect,
        summarize=summarize,
        # not declared: warnings are refreshed in place, without an audit event when
        # none opens or resolves, so nothing tells that they changed: always run
        reads=None,
        as_of="moment",
    )
)
