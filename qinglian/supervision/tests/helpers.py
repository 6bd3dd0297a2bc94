"""Test helpers: run one rule's detection with given parameters."""

from typing import Any

from qinglian.core import clock
from qinglian.supervision import registry


def detect(code: str, **parameters: Any) -> list[registry.Hit]:
    rule = registry.rule_get(code)
    assert rule is not None
    stored = rule.clean_parameters(parameters, partial=True)
    return list(rule.detect(registry.RuleContext(rule.values(stored), clock.now())))


def check(code: str, document_id: Any, **parameters: Any) -> list[registry.Hit]:
    rule = registry.rule_get(code)
    assert rule is not None and rule.check_document is not None
    stored = rule.clean_parameters(parameters, partial=True)
    context = registry.RuleContext(rule.values(stored), clock.now())
    return list(rule.check_document(context, "approvals.request", str(document_id)))
