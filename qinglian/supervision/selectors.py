"""Reads of supervision for a user. Findings are read by the oversight roles of their company's
scope; a case also by its responsible unit; everyone else finds nothing ("not found")."""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from qinglian.core import clock
from qinglian.core.errors import NotFound
from qinglian.org.models import Company, Department, User

from . import registry
from .enums import LIVE_FINDING_STATUSES, CaseStatus
from .models import (
    Case,
    CaseEvent,
    Finding,
    FindingDocument,
    Rectification,
    RectificationAttachment,
    RuleParameterVersion,
    RuleSetting,
    Run,
)
from .permissions import oversight_company_ids, unit_leader_company_ids

# ---------------------------------------------------------------- labels


def people_labels(user_ids: Iterable[int]) -> dict[int, str]:
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    return {
        pk: f"{name or username}（{number}）"
        for pk, name, username, number in User.objects.filter(pk__in=ids).values_list(
            "pk", "name", "username", "employee_number"
        )
    }


def people_identifiers(user_ids: Iterable[int]) -> dict[int, str]:
    """Employee numbers: the identifiers other systems know people by."""
    ids = list(dict.fromkeys(user_ids))
    return dict(User.objects.filter(pk__in=ids).values_list("pk", "employee_number"))


def company_labels(company_ids: Iterable[int] | None = None) -> dict[int, str]:
    queryset = Company.objects.all()
    if company_ids is not None:
        queryset = queryset.filter(pk__in=list(company_ids))
    return {
        pk: short or name for pk, short, name in queryset.values_list("pk", "short_name", "name")
    }


def company_codes(company_ids: Iterable[int]) -> dict[int, str]:
    return dict(Company.objects.filter(pk__in=list(company_ids)).values_list("pk", "code"))


def companies_for_choice(company_ids: Collection[int]) -> QuerySet[Company]:
    return Company.objects.filter(pk__in=list(company_ids)).order_by("path")


def departments_of(company_ids: Collection[int]) -> QuerySet[Department]:
    return Department.objects.filter(company_id__in=list(company_ids), is_active=True).order_by(
        "company__path", "path"
    )


def people_of(company_ids: Collection[int]) -> QuerySet[User]:
    return User.objects.filter(company_id__in=list(company_ids), is_active=True).order_by(
        "employee_number"
    )


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class RuleView:
    rule: registry.Rule
    version: int
    is_enabled: bool
    parameters: dict[str, Any]  # stored values, defaults filled in
    explanation: str
    updated_at: datetime.datetime | None
    updated_by: str


def _rule_view(rule: registry.Rule, setting: RuleSetting | None) -> RuleView:
    stored = {**rule.defaults(), **(setting.parameters if setting else {})}
    stored = {key: value for key, value in stored.items() if key in rule.parameter_keys()}
    return RuleView(
        rule=rule,
        version=setting.version if setting else 1,
        is_enabled=setting.is_enabled if setting else True,
        parameters=stored,
        explanation=rule.explain(stored),
        updated_at=setting.updated_at if setting else None,
        updated_by=(
            (setting.updated_by.name or setting.updated_by.username)
            if setting is not None and setting.updated_by is not None
            else ""
        ),
    )


def rule_list() -> list[RuleView]:
    """Every registered rule with its current parameters (the defaults until first changed)."""
    settings = {
        setting.rule_code: setting for setting in RuleSetting.objects.select_related("updated_by")
    }
    return [_rule_view(rule, settings.get(rule.code)) for rule in registry.all_rules()]


def rule_get(*, rule_code: str) -> RuleView:
    rule = registry.rule_get(rule_code)
    if rule is None:
        raise NotFound(_("Rule not found."))
    setting = RuleSetting.objects.select_related("updated_by").filter(rule_code=rule_code).first()
    return _rule_view(rule, setting)


def rule_versions(*, rule_code: str) -> QuerySet[RuleParameterVersion]:
    return RuleParameterVersion.objects.filter(rule_code=rule_code).select_related("created_by")


def rule_version_parameters(*, rule_code: str, number: int) -> dict[str, Any] | None:
    return (
        RuleParameterVersion.objects.filter(rule_code=rule_code, number=number)
        .values_list("parameters", flat=True)
        .first()
    )


# ---------------------------------------------------------------- findings


@dataclass(frozen=True)
class FindingFilter:
    company_id: int | None = None
    area: str = ""
    rule_code: str = ""
    severity: str = ""
    status: str = ""  # a FindingStatus, or "live" for those still waiting for someone
    month: str = ""  # "YYYY-MM": found in that month
    search: str = ""


def month_bounds(month: str) -> tuple[datetime.datetime, datetime.datetime] | None:
    """The local month "YYYY-MM" as [start, end) aware datetimes; None when not a month."""
    try:
        year, number = (int(part) for part in month.split("-"))
        start = datetime.date(year, number, 1)
    except (TypeError, ValueError):
        return None
    end = datetime.date(year + (number == 12), number % 12 + 1, 1)
    zone = timezone.get_current_timezone()
    return (
        datetime.datetime.combine(start, datetime.time.min, tzinfo=zone),
        datetime.datetime.combine(end, datetime.time.min, tzinfo=zone),
    )


def finding_visible(*, user: Any) -> QuerySet[Finding]:
    ids = oversight_company_ids(user)
    if not ids:
        return Finding.objects.none()
    return Finding.objects.filter(company_id__in=ids)


def finding_list(*, user: Any, filters: FindingFilter | None = None) -> QuerySet[Finding]:
    filters = filters or FindingFilter()
    queryset = finding_visible(user=user)
    if filters.company_id is not None:
        queryset = queryset.filter(company_id=filters.company_id)
    if filters.area:
        queryset = queryset.filter(area=filters.area)
    if filters.rule_code:
        queryset = queryset.filter(rule_code=filters.rule_code)
    if filters.severity:
        queryset = queryset.filter(severity=filters.severity)
    if filters.status == "live":
        queryset = queryset.filter(status__in=LIVE_FINDING_STATUSES)
    elif filters.status:
        queryset = queryset.filter(status=filters.status)
    bounds = month_bounds(filters.month) if filters.month else None
    if bounds is not None:
        queryset = queryset.filter(first_seen_at__gte=bounds[0], first_seen_at__lt=bounds[1])
    if filters.search:
        queryset = queryset.filter(subject_label__icontains=filters.search)
    return queryset.select_related("company").order_by("-first_seen_at", "-id")


def finding_access(*, user: Any, finding_id: int) -> Finding:
    finding = (
        finding_visible(user=user)
        .select_related(
            "company", "department", "dismissal_requested_by", "dismissed_by", "first_run"
        )
        .filter(pk=finding_id)
        .first()
    )
    if finding is None:
        raise NotFound(_("Finding not found."))
    return finding


def finding_case(*, finding: Finding) -> Case | None:
    return Case.objects.filter(finding_id=finding.pk).first()


def document_findings(
    *, document_type: str, document_id: str, live_only: bool = True
) -> QuerySet[Finding]:
    """Findings about one document. Not scoped: callers have checked the reader may see the
    document (the approval page), and show only the rule and the risk."""
    queryset = Finding.objects.filter(
        documents__document_type=document_type, documents__document_id=document_id
    )
    if live_only:
        queryset = queryset.filter(status__in=LIVE_FINDING_STATUSES)
    return queryset.distinct().order_by("-first_seen_at", "-id")


def finding_documents(*, finding: Finding) -> QuerySet[FindingDocument]:
    return finding.documents.all()


# ---------------------------------------------------------------- cases


@dataclass(frozen=True)
class CaseFilter:
    company_id: int | None = None
    status: str = ""  # a CaseStatus, or "open" for rectifying and verifying
    is_overdue: bool = False
    is_escalated: bool = False
    rule_code: str = ""
    month: str = ""  # opened in that month
    closed_month: str = ""


def case_visible(*, user: Any) -> QuerySet[Case]:
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return Case.objects.none()
    condition = Q(assignee_id=user.pk) | Q(department__head_id=user.pk)
    leader_of = unit_leader_company_ids(user)
    if leader_of:
        condition |= Q(company_id__in=leader_of)
    oversight = oversight_company_ids(user)
    if oversight:
        # Inspectors follow cases about their companies' findings and cases assigned to them.
        condition |= Q(company_id__in=oversight) | Q(finding__company_id__in=oversight)
    return Case.objects.filter(condition)


def case_list(*, user: Any, filters: CaseFilter | None = None) -> QuerySet[Case]:
    filters = filters or CaseFilter()
    queryset = case_visible(user=user)
    if filters.company_id is not None:
        queryset = queryset.filter(company_id=filters.company_id)
    if filters.status == "open":
        queryset = queryset.exclude(status=CaseStatus.CLOSED)
    elif filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.is_overdue:
        queryset = queryset.filter(status=CaseStatus.RECTIFYING, deadline__lt=clock.today())
    if filters.is_escalated:
        queryset = queryset.filter(escalation_level__gt=0)
    if filters.rule_code:
        queryset = queryset.filter(finding__rule_code=filters.rule_code)
    for month, field in ((filters.month, "opened_at"), (filters.closed_month, "closed_at")):
        bounds = month_bounds(month) if month else None
        if bounds is not None:
            queryset = queryset.filter(**{f"{field}__gte": bounds[0], f"{field}__lt": bounds[1]})
    return queryset.select_related("company", "department", "finding").order_by("-opened_at", "-id")


def case_access(*, user: Any, case_id: int) -> Case:
    case = (
        case_visible(user=user)
        .select_related(
            "company", "department", "assignee", "finding", "finding__company", "opened_by"
        )
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise NotFound(_("Case not found."))
    return case


def case_rectifications(*, case: Case) -> list[Rectification]:
    return list(
        case.rectifications.select_related("submitted_by", "verified_by")
        .prefetch_related("attachments")
        .order_by("round")
    )


def case_events(*, case: Case) -> QuerySet[CaseEvent]:
    return case.events.select_related("actor").order_by("created_at", "id")


def attachment_access(*, user: Any, case_id: int, attachment_id: int) -> RectificationAttachment:
    case = case_access(user=user, case_id=case_id)
    attachment = RectificationAttachment.objects.filter(
        pk=attachment_id, rectification__case_id=case.pk
    ).first()
    if attachment is None:
        raise NotFound(_("Attachment not found."))
    return attachment


# ---------------------------------------------------------------- runs


def run_list(*, user: Any) -> QuerySet[Run]:
    if not oversight_company_ids(user):
        return Run.objects.none()
    return Run.objects.select_related("started_by").order_by("-started_at", "-id")


def run_findings(*, run: Run) -> QuerySet[Finding]:
    """The findings a run hit: new ones and those seen again."""
    return (
        Finding.objects.filter(last_run_id=run.pk)
        .select_related("company")
        .order_by("rule_code", "id")
    )


def open_findings_by_rule(*, user: Any) -> dict[str, int]:
    rows = (
        finding_visible(user=user)
        .filter(status__in=LIVE_FINDING_STATUSES)
        .values("rule_code")
        .annotate(n=Count("id"))
    )
    return {row["rule_code"]: row["n"] for row in rows}
