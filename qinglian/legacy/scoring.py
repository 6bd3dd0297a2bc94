"""Scoring supervision's findings against the violations the generator planted
(`planted.json`): what `bench/detection.py` reports and a test asserts.

A finding (a line of `supervision_run --json`) names the source identifiers it involves,
grouped as documents, partners, people and companies; a planted case names its records by the
folder's tables, grouped the same way. A finding **involves** a planted case when both are of
the same rule and, at the most specific group in which both name something (documents, then
partners, people, companies), they share an identifier. A planted case is recalled when a
finding of its rule involves it; a finding is a true positive when it involves a planted case
of its rule.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

# planted.json's tables → the groups of `source_ids` in a finding line
GROUP_OF_TABLE = {
    "approval_requests": "documents",
    "contracts": "documents",
    "goods_receipts": "documents",
    "goods_issues": "documents",
    "invoices": "documents",
    "payments": "documents",
    "receivables": "documents",
    "stocktakes": "documents",
    "partners": "partners",
    "employees": "people",
    "companies": "companies",
}
GROUPS = ("documents", "partners", "people", "companies")


def case_groups(case: dict[str, Any]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {group: set() for group in GROUPS}
    for table, ids in case["ids"].items():
        groups[GROUP_OF_TABLE.get(table, "documents")].update(str(i) for i in ids)
    return groups


def finding_groups(line: dict[str, Any]) -> dict[str, set[str]]:
    source_ids = line.get("source_ids") or {}
    return {group: {str(i) for i in source_ids.get(group) or []} for group in GROUPS}


def involves(finding: dict[str, set[str]], case: dict[str, set[str]]) -> bool:
    """Shared identifiers at the most specific group both name something in."""
    for group in GROUPS:
        if finding[group] and case[group]:
            return bool(finding[group] & case[group])
    return False


def ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def score(
    planted: list[dict[str, Any]], lines: list[dict[str, Any]], rule_seconds: dict[str, float]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Per-rule figures, overall figures, and the verdicts (for --dump)."""
    cases_by_rule: dict[str, list[tuple[int, dict[str, set[str]]]]] = defaultdict(list)
    for index, case in enumerate(planted):
        cases_by_rule[case["rule"]].append((index, case_groups(case)))
    recalled: set[int] = set()
    finding_verdicts = []
    found_by_rule: dict[str, int] = defaultdict(int)
    true_by_rule: dict[str, int] = defaultdict(int)
    for line in lines:
        rule = line["rule"]
        groups = finding_groups(line)
        matched = [index for index, case in cases_by_rule.get(rule, []) if involves(groups, case)]
        recalled.update(matched)
        found_by_rule[rule] += 1
        if matched:
            true_by_rule[rule] += 1
        finding_verdicts.append({**line, "matches": matched})
    rules: dict[str, Any] = {}
    for rule in sorted(set(cases_by_rule) | set(found_by_rule) | set(rule_seconds)):
        cases = cases_by_rule.get(rule, [])
        hit = sum(1 for index, _groups in cases if index in recalled)
        rules[rule] = {
            "planted": len(cases),
            "recalled": hit,
            "found": found_by_rule[rule],
            "true_positives": true_by_rule[rule],
            "recall": ratio(hit, len(cases)),
            "precision": ratio(true_by_rule[rule], found_by_rule[rule]) if cases else None,
            "seconds": round(rule_seconds.get(rule, 0.0), 3),
        }
    scored = [code for code, figures in rules.items() if figures["planted"]]
    planted_total = sum(rules[code]["planted"] for code in scored)
    recalled_total = sum(rules[code]["recalled"] for code in scored)
    found_total = sum(rules[code]["found"] for code in scored)
    true_total = sum(rules[code]["true_positives"] for code in scored)
    overall = {
        "planted": planted_total,
        "recalled": recalled_total,
        "found": found_total,
        "true_positives": true_total,
        "recall": ratio(recalled_total, planted_total),
        "precision": ratio(true_total, found_total),
        "unplanted_findings": {
            code: figures["found"]
            for code, figures in rules.items()
            if not figures["planted"] and figures["found"]
        },
        "below_target": sorted(
            code
            for code in scored
            if (rules[code]["recall"] or 0) < 0.95 or (rules[code]["precision"] or 0) < 0.9
        ),
    }
    verdicts = {
        "planted": [{**case, "recalled": index in recalled} for index, case in enumerate(planted)],
        "findings": finding_verdicts,
    }
    return rules, overall, verdicts
