"""What supervision hands out: the JSON lines of a run, and the monthly report (Excel)."""

from __future__ import annotations

import datetime
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import xlsxwriter
from django.utils import timezone
from django.utils.translation import gettext as _

from qinglian.core import clock

from . import registry, sources
from .enums import SEVERITY_RANK, Area, CaseStatus, FindingStatus, Severity
from .models import Case, Finding, Run
from .permissions import oversight_company_ids
from .selectors import (
    company_codes,
    company_labels,
    finding_visible,
    month_bounds,
    people_identifiers,
    run_findings,
)

# ---------------------------------------------------------------- a run as JSON lines


def _subject_identifier(finding: Finding, codes: dict[int, str], people: dict[int, str]) -> str:
    if finding.subject_type == "org.company":
        return codes.get(int(finding.subject_id), finding.subject_id)
    if finding.subject_type == "org.user":
        return people.get(int(finding.subject_id), finding.subject_id)
    for document in finding.evidence.get("documents", []):
        if (
            document.get("type") == finding.subject_type
            and document.get("id") == finding.subject_id
        ):
            return str(document.get("source_id") or document.get("number") or finding.subject_id)
    return finding.subject_id


def run_finding_lines(run: Run) -> Iterator[dict[str, Any]]:
    """One dict per finding the run hit (new, or seen again), ready for `json.dumps`."""
    findings = list(run_findings(run=run))
    codes = company_codes(
        {f.company_id for f in findings}
        | {int(f.subject_id) for f in findings if f.subject_type == "org.company"}
    )
    people = people_identifiers(int(f.subject_id) for f in findings if f.subject_type == "org.user")
    for finding in findings:
        rule = registry.rule_get(finding.rule_code)
        evidence = finding.evidence
        yield {
            "rule": finding.rule_code,
            "rule_number": rule.number if rule else None,
            "severity": finding.severity,
            "area": finding.area,
            "finding": finding.pk,
            "status": "new" if finding.first_run_id == run.pk else "seen_again",
            "company": codes.get(finding.company_id, ""),
            "subject": {
                "type": finding.subject_type,
                "id": finding.subject_id,
                "identifier": _subject_identifier(finding, codes, people),
                "label": finding.subject_label,
            },
            "documents": [
                {
                    key: document[key]
                    for key in ("type", "id", "number", "source_id")
                    if document.get(key)
                }
                for document in evidence.get("documents", [])
            ],
            "people": [
                person.get("employee_number") or str(person.get("id"))
                for person in evidence.get("people", [])
            ],
            "parameter_version": finding.parameter_version,
            # the old systems' identifiers of the imported records involved
            "source_ids": sources.grouped(evidence),
        }


# ---------------------------------------------------------------- the monthly report


@dataclass
class MonthlyReport:
    month: str
    start: datetime.datetime
    end: datetime.datetime
    findings: list[Finding]
    cases_opened: list[Case]
    cases_closed: list[Case]
    overdue: list[Case]
    by_company: list[tuple[str, int, int, int]]  # company, findings, cases opened, cases closed
    by_rule: list[tuple[str, int]]
    by_severity: list[tuple[str, int]]
    by_area: list[tuple[str, int]]


def previous_month(today: datetime.date | None = None) -> str:
    today = today or clock.today()
    first = today.replace(day=1) - datetime.timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def monthly_report(*, user: Any, month: str) -> MonthlyReport | None:
    """Findings found and cases opened or closed in `month` ("YYYY-MM") in the reader's scope,
    and the cases overdue now. None when `month` is not a month."""
    bounds = month_bounds(month)
    if bounds is None:
        return None
    start, end = bounds
    ids = oversight_company_ids(user)
    findings = list(
        finding_visible(user=user)
        .filter(first_seen_at__gte=start, first_seen_at__lt=end)
        .select_related("company")
        .order_by("company__path", "rule_code", "id")
    )
    cases = Case.objects.filter(finding__company_id__in=ids).select_related(
        "company", "finding", "department"
    )
    opened = list(cases.filter(opened_at__gte=start, opened_at__lt=end).order_by("opened_at"))
    closed = list(cases.filter(closed_at__gte=start, closed_at__lt=end).order_by("closed_at"))
    overdue = list(
        cases.filter(status=CaseStatus.RECTIFYING, deadline__lt=clock.today()).order_by("deadline")
    )
    labels = company_labels(ids)
    found_by_company = Counter(f.company_id for f in findings)
    opened_by_company = Counter(c.company_id for c in opened)
    closed_by_company = Counter(c.company_id for c in closed)
    company_ids = sorted(
        set(found_by_company) | set(opened_by_company) | set(closed_by_company),
        key=lambda cid: (-found_by_company[cid], cid),
    )
    rule_counts = Counter(f.rule_code for f in findings)
    severity_counts = Counter(f.severity for f in findings)
    area_counts = Counter(f.area for f in findings)
    return MonthlyReport(
        month=month,
        start=start,
        end=end,
        findings=findings,
        cases_opened=opened,
        cases_closed=closed,
        overdue=overdue,
        by_company=[
            (
                labels.get(cid, str(cid)),
                found_by_company[cid],
                opened_by_company[cid],
                closed_by_company[cid],
            )
            for cid in company_ids
        ],
        by_rule=[
            (f"{rule.number}. {rule.title}", rule_counts[rule.code])
            for rule in registry.all_rules()
            if rule_counts[rule.code]
        ],
        by_severity=[
            (str(severity.label), severity_counts[severity])
            for severity in sorted(Severity, key=lambda s: -SEVERITY_RANK[s])
        ],
        by_area=[(str(area.label), area_counts[area]) for area in Area],
    )


def finding_summary(finding: Finding) -> str:
    rule = registry.rule_get(finding.rule_code)
    if rule is None:
        return finding.subject_label
    return rule.summarize(finding.evidence.get("figures", {}))


def _local(moment: datetime.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def rectification_rate(report: MonthlyReport) -> float | None:
    """The share of the month's opened cases that are closed now (None: no case opened)."""
    opened = report.cases_opened
    if not opened:
        return None
    return sum(1 for case in opened if case.status == CaseStatus.CLOSED) / len(opened)


def summary_rows(report: MonthlyReport) -> list[tuple[str, int]]:
    return [
        (_("Findings found"), len(report.findings)),
        (_("Cases opened"), len(report.cases_opened)),
        (_("Cases closed"), len(report.cases_closed)),
        (_("Cases overdue now"), len(report.overdue)),
    ]


def breakdowns(report: MonthlyReport) -> list[tuple[str, list[tuple[str, int]]]]:
    return [
        (_("By severity"), report.by_severity),
        (_("By area"), report.by_area),
        (_("By rule"), report.by_rule),
    ]


def company_columns() -> list[str]:
    return [_("Company"), _("Findings"), _("Cases opened"), _("Cases closed")]


def finding_columns() -> list[tuple[str, int]]:
    """The findings table's headings with their Excel column widths."""
    return [
        (_("No."), 8),
        (_("Found"), 17),
        (_("Company"), 16),
        (_("Rule"), 30),
        (_("Area"), 8),
        (_("Severity"), 8),
        (_("Status"), 16),
        (_("Subject"), 30),
        (_("What was found"), 70),
        (_("Parameter version"), 10),
    ]


FINDING_SUMMARY_COLUMN = 8  # "What was found": long text


def finding_row(finding: Finding) -> list[Any]:
    rule = registry.rule_get(finding.rule_code)
    return [
        finding.pk,
        _local(finding.first_seen_at),
        finding.company.short_name or finding.company.name,
        f"{rule.number}. {rule.title}" if rule else finding.rule_code,
        str(Area(finding.area).label),
        str(Severity(finding.severity).label),
        str(FindingStatus(finding.status).label),
        finding.subject_label,
        finding_summary(finding),
        finding.parameter_version,
    ]


def case_columns() -> list[tuple[str, int]]:
    """The case tables' headings with their Excel column widths."""
    return [
        (_("Case"), 18),
        (_("Company"), 16),
        (_("Department"), 14),
        (_("Finding"), 30),
        (_("Status"), 20),
        (_("Deadline"), 12),
        (_("Opened"), 17),
        (_("Closed"), 17),
        (_("Escalations"), 10),
    ]


def case_row(case: Case) -> list[Any]:
    return [
        case.serial,
        case.company.short_name or case.company.name,
        case.department.name if case.department else "",
        case.finding.subject_label,
        str(CaseStatus(case.status).label),
        case.deadline.isoformat(),
        _local(case.opened_at),
        _local(case.closed_at),
        case.escalation_level,
    ]


def case_tables(report: MonthlyReport) -> list[tuple[str, list[Case]]]:
    return [
        (_("Cases opened"), report.cases_opened),
        (_("Cases closed"), report.cases_closed),
        (_("Overdue"), report.overdue),
    ]


def report_title(report: MonthlyReport) -> str:
    return _("Supervision monthly report %(month)s") % {"month": report.month}


def generated_line() -> str:
    return _("Generated %(at)s") % {"at": _local(clock.now())}


def monthly_report_xlsx(report: MonthlyReport) -> bytes:
    """The report as an Excel workbook (XlsxWriter, constant memory: rows written in order)."""
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"constant_memory": True, "in_memory": False})
    bold = workbook.add_format({"bold": True})
    title = workbook.add_format({"bold": True, "font_size": 14})
    header = workbook.add_format({"bold": True, "bg_color": "#F2DCDB", "border": 1})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    percent = workbook.add_format({"num_format": "0.0%"})

    summary = workbook.add_worksheet(_("Summary")[:31])
    summary.set_column(0, 0, 36)
    summary.set_column(1, 3, 14)
    summary.write(0, 0, report_title(report), title)
    summary.write(1, 0, generated_line())
    row = 3
    for label, value in summary_rows(report):
        summary.write(row, 0, label, bold)
        summary.write(row, 1, value)
        row += 1
    summary.write(row, 0, _("Rectification rate of the cases opened"), bold)
    rate = rectification_rate(report)
    if rate is not None:
        summary.write_number(row, 1, rate, percent)
    row += 2
    for heading, pairs in breakdowns(report):
        summary.write(row, 0, heading, header)
        summary.write(row, 1, _("Findings"), header)
        row += 1
        for label, count in pairs:
            summary.write(row, 0, label)
            summary.write(row, 1, count)
            row += 1
        row += 1
    summary.write_row(row, 0, company_columns(), header)
    row += 1
    for company, found, opened, closed in report.by_company:
        summary.write_row(row, 0, [company, found, opened, closed])
        row += 1

    def table_sheet(
        name: str, columns: list[tuple[str, int]], rows: Iterator[list[Any]], wrapped: int = -1
    ) -> None:
        sheet = workbook.add_worksheet(name[:31])
        for index, (label, width) in enumerate(columns):
            sheet.set_column(index, index, width)
            sheet.write(0, index, label, header)
        for number, values in enumerate(rows, start=1):
            for index, value in enumerate(values):
                sheet.write(number, index, value, wrap if index == wrapped else None)

    table_sheet(
        _("Findings"),
        finding_columns(),
        (finding_row(f) for f in report.findings),
        wrapped=FINDING_SUMMARY_COLUMN,
    )
    for name, cases in case_tables(report):
        table_sheet(name, case_columns(), (case_row(case) for case in cases))
    workbook.close()
    return output.getvalue()
