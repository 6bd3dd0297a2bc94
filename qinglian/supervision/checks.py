"""Risks of a single document, for the moment it is submitted or opened (the approval page).

`risks_for_document` answers what an approver should know: the live findings already about the
document, and what the rules that can check one document cheaply say about it now. It only
reads: nothing is recorded until a run finds the same. The approval page calls it once the
reader has been allowed to see the document (this module applies no data scope).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from qinglian.core import clock

from . import registry
from .enums import Severity
from .models import RuleSetting
from .selectors import document_findings


@dataclass(frozen=True)
class Risk:
    rule_code: str
    rule_number: int
    rule_title: str
    severity: str
    message: str
    finding_id: int | None  # a recorded finding, or None for a live check's warning


def _severity_order(risk: Risk) -> tuple[int, int]:
    rank = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}
    return rank.get(Severity(risk.severity), 3), risk.rule_number


def risks_for_document(
    *, document_type: str, document_id: str, now: datetime.datetime | None = None
) -> list[Risk]:
    """Highest severity first; one entry per rule and subject."""
    now = now or clock.now()
    risks: list[Risk] = []
    known: set[str] = set()
    for finding in document_findings(document_type=document_type, document_id=str(document_id)):
        rule = registry.rule_get(finding.rule_code)
        if rule is None:
            continue
        known.add(finding.fingerprint)
        risks.append(
            Risk(
                rule_code=rule.code,
                rule_number=rule.number,
                rule_title=str(rule.title),
                severity=finding.severity,
                message=rule.summarize(finding.evidence.get("figures", {})),
                finding_id=finding.pk,
            )
        )
    settings = {setting.rule_code: setting for setting in RuleSetting.objects.all()}
    for rule in registry.all_rules():
        setting = settings.get(rule.code)
        if rule.check_document is None or (setting is not None and not setting.is_enabled):
            continue
        context = registry.RuleContext(
            parameters=rule.values(setting.parameters if setting else {}), now=now
        )
        for hit in rule.check_document(context, document_type, str(document_id)):
            fingerprint = registry.fingerprint(rule.code, hit.subject_type, hit.subject_id, hit.key)
            if fingerprint in known:
                continue
            known.add(fingerprint)
            risks.append(
                Risk(
                    rule_code=rule.code,
                    rule_number=rule.number,
                    rule_title=str(rule.title),
                    severity=hit.severity or rule.severity,
                    message=rule.summarize(registry.jsonable(hit.figures)),
                    finding_id=None,
                )
            )
    return sorted(risks, key=_severity_order)


def risks_for_approval_request(*, request_id: int) -> list[Risk]:
    """The approval page's question: what should the approver of this request know?"""
    return risks_for_document(document_type="approvals.request", document_id=str(request_id))
