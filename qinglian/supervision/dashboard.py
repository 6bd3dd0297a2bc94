"""The inspectors' dashboard, aggregated on the server: a handful of GROUP BY queries over the
findings and cases the reader may see. Every figure carries the URL of the list it stands for,
so a chart (ECharts in the browser) and its table both drill down to the findings or cases
behind it, and from there to each finding."""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from qinglian.core import clock

from . import registry
from .enums import SEVERITY_RANK, Area, CaseStatus, FindingStatus, Severity
from .models import Case, Finding
from .permissions import oversight_company_ids
from .selectors import company_labels, finding_visible


@dataclass(frozen=True)
class DashboardFilter:
    company_id: int | None = None
    months: int = 12


def _url(name: str, **query: Any) -> str:
    params = {key: value for key, value in query.items() if value not in (None, "")}
    return reverse(name) + (f"?{urlencode(params)}" if params else "")


def _findings(user: Any, filters: DashboardFilter) -> QuerySet[Finding]:
    queryset = finding_visible(user=user)
    if filters.company_id is not None:
        queryset = queryset.filter(company_id=filters.company_id)
    return queryset


def _cases(user: Any, filters: DashboardFilter) -> QuerySet[Case]:
    ids = oversight_company_ids(user)
    queryset = Case.objects.filter(finding__company_id__in=ids) if ids else Case.objects.none()
    if filters.company_id is not None:
        queryset = queryset.filter(company_id=filters.company_id)
    return queryset


def month_keys(today: datetime.date, months: int) -> list[str]:
    """The last `months` months up to today's, oldest first, as "YYYY-MM"."""
    keys = []
    year, month = today.year, today.month
    for _step in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(keys))


def _month_counts(queryset: QuerySet[Any], field: str) -> dict[str, int]:
    rows = (
        queryset.exclude(**{f"{field}__isnull": True})
        .annotate(month=TruncMonth(field, tzinfo=timezone.get_current_timezone()))
        .values("month")
        .annotate(n=Count("id"))
    )
    counts: dict[str, int] = {}
    for row in rows:
        month = row["month"]
        if month is None:
            continue
        key = f"{month.year:04d}-{month.month:02d}"
        counts[key] = counts.get(key, 0) + row["n"]
    return counts


def dashboard_data(*, user: Any, filters: DashboardFilter | None = None) -> dict[str, Any]:
    filters = filters or DashboardFilter()
    company = filters.company_id
    findings = _findings(user, filters)
    cases = _cases(user, filters)
    companies = company_labels(oversight_company_ids(user))
    severities = sorted(Severity, key=lambda s: -SEVERITY_RANK[s])

    by_company_severity: dict[int, dict[str, int]] = {}
    for row in findings.values("company_id", "severity").annotate(n=Count("id")):
        by_company_severity.setdefault(row["company_id"], {})[row["severity"]] = row["n"]
    company_ids = sorted(
        by_company_severity, key=lambda cid: (-sum(by_company_severity[cid].values()), cid)
    )
    finding_list = "supervision:finding_list"
    by_company = {
        "id": "by-company",
        "type": "bar",
        "title": _("Findings by company"),
        "categories": [companies.get(cid, str(cid)) for cid in company_ids],
        "series": [
            {
                "name": str(severity.label),
                "key": str(severity),
                "stack": "severity",
                "data": [
                    {
                        "value": by_company_severity[cid].get(severity, 0),
                        "url": _url(finding_list, company=cid, severity=severity),
                    }
                    for cid in company_ids
                ],
            }
            for severity in severities
        ],
        "total_url": [_url(finding_list, company=cid) for cid in company_ids],
    }

    def pie(chart_id: str, title: str, field: str, labels: Mapping[str, str], param: str) -> Any:
        counts = {row[field]: row["n"] for row in findings.values(field).annotate(n=Count("id"))}
        return {
            "id": chart_id,
            "type": "pie",
            "title": title,
            "data": [
                {
                    "name": labels.get(key, key),
                    "key": key,
                    "value": counts[key],
                    "url": _url(finding_list, company=company, **{param: key}),
                }
                for key in labels
                if counts.get(key)
            ],
        }

    by_area = pie(
        "by-area", _("Findings by area"), "area", {a.value: str(a.label) for a in Area}, "area"
    )
    by_severity = pie(
        "by-severity",
        _("Findings by severity"),
        "severity",
        {s.value: str(s.label) for s in severities},
        "severity",
    )
    by_status = pie(
        "by-status",
        _("Findings by status"),
        "status",
        {s.value: str(s.label) for s in FindingStatus},
        "status",
    )
    rule_counts = {
        row["rule_code"]: row["n"] for row in findings.values("rule_code").annotate(n=Count("id"))
    }
    rules = [rule for rule in registry.all_rules() if rule_counts.get(rule.code)]
    by_rule = {
        "id": "by-rule",
        "type": "bar",
        "horizontal": True,
        "title": _("Findings by rule"),
        "categories": [f"{rule.number}. {rule.title}" for rule in rules],
        "series": [
            {
                "name": _("Findings"),
                "key": "findings",
                "data": [
                    {
                        "value": rule_counts[rule.code],
                        "url": _url(finding_list, company=company, rule=rule.code),
                    }
                    for rule in rules
                ],
            }
        ],
    }

    months = month_keys(clock.today(), filters.months)
    found = _month_counts(findings, "first_seen_at")
    opened = _month_counts(cases, "opened_at")
    closed = _month_counts(cases.filter(status=CaseStatus.CLOSED), "closed_at")
    case_list = "supervision:case_list"
    trend = {
        "id": "trend",
        "type": "line",
        "title": _("Trend by month"),
        "categories": months,
        "series": [
            {
                "name": _("Findings"),
                "key": "findings",
                "data": [
                    {"value": found.get(m, 0), "url": _url(finding_list, company=company, month=m)}
                    for m in months
                ],
            },
            {
                "name": _("Cases opened"),
                "key": "opened",
                "data": [
                    {"value": opened.get(m, 0), "url": _url(case_list, company=company, month=m)}
                    for m in months
                ],
            },
            {
                "name": _("Cases closed"),
                "key": "closed",
                "data": [
                    {
                        "value": closed.get(m, 0),
                        "url": _url(case_list, company=company, closed_month=m),
                    }
                    for m in months
                ],
            },
        ],
    }

    case_counts: dict[int, dict[str, int]] = {}
    for row in cases.values("company_id", "status").annotate(n=Count("id")):
        case_counts.setdefault(row["company_id"], {})[row["status"]] = row["n"]
    case_companies = sorted(case_counts, key=lambda cid: (-sum(case_counts[cid].values()), cid))
    cases_by_company = {
        "id": "cases-by-company",
        "type": "bar",
        "title": _("Cases by company and status"),
        "categories": [companies.get(cid, str(cid)) for cid in case_companies],
        "series": [
            {
                "name": str(status.label),
                "key": str(status),
                "stack": "status",
                "data": [
                    {
                        "value": case_counts[cid].get(status, 0),
                        "url": _url(case_list, company=cid, status=status),
                    }
                    for cid in case_companies
                ],
            }
            for status in CaseStatus
        ],
    }

    durations = [
        (closed_at - opened_at).total_seconds() / 86400
        for opened_at, closed_at in cases.filter(status=CaseStatus.CLOSED).values_list(
            "opened_at", "closed_at"
        )
        if closed_at is not None
    ]
    total_cases = sum(sum(counts.values()) for counts in case_counts.values())
    closed_cases = sum(counts.get(CaseStatus.CLOSED, 0) for counts in case_counts.values())
    rate_by_company = {
        "id": "rectification-rate",
        "type": "bar",
        "percent": True,
        "title": _("Rectification rate by company (closed / all cases)"),
        "categories": [companies.get(cid, str(cid)) for cid in case_companies],
        "series": [
            {
                "name": _("Rectification rate"),
                "key": "rate",
                "data": [
                    {
                        "value": round(
                            100
                            * case_counts[cid].get(CaseStatus.CLOSED, 0)
                            / sum(case_counts[cid].values()),
                            1,
                        ),
                        "url": _url(case_list, company=cid),
                    }
                    for cid in case_companies
                ],
            }
        ],
    }
    overdue = cases.filter(status=CaseStatus.RECTIFYING, deadline__lt=clock.today()).count()
    kpis = {
        "findings": sum(sum(counts.values()) for counts in by_company_severity.values()),
        "findings_url": _url(finding_list, company=company),
        "open_findings": findings.filter(status=FindingStatus.OPEN).count(),
        "open_findings_url": _url(finding_list, company=company, status=FindingStatus.OPEN),
        "cases": total_cases,
        "cases_url": _url(case_list, company=company),
        "closed_cases": closed_cases,
        "rectification_rate": round(100 * closed_cases / total_cases, 1) if total_cases else None,
        "average_days_to_close": round(statistics.fmean(durations), 1) if durations else None,
        "median_days_to_close": round(statistics.median(durations), 1) if durations else None,
        "overdue": overdue,
        "overdue_url": _url(case_list, company=company, overdue=1),
        "escalated": cases.filter(escalation_level__gt=0).exclude(status=CaseStatus.CLOSED).count(),
        "escalated_url": _url(case_list, company=company, escalated=1, status="open"),
    }
    return {
        "kpis": kpis,
        "charts": [
            by_company,
            by_rule,
            by_area,
            by_severity,
            trend,
            cases_by_company,
            rate_by_company,
            by_status,
        ],
    }
