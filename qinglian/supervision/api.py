"""Supervision endpoints: rules and their parameters, runs, findings and their triage, cases
through the closed loop, the dashboard's figures and a document's risks. Thin: a selector
reads, one service call writes; every failure has the one error shape."""

from datetime import date, datetime
from typing import Any, cast

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from qinglian.approvals import selectors as approval_selectors
from qinglian.core.api import ERROR_RESPONSES
from qinglian.core.errors import NotFound, PermissionDenied
from qinglian.org.models import User

from . import checks, registry, selectors, services
from .dashboard import DashboardFilter, dashboard_data
from .enums import (
    Area,
    CaseEventKind,
    CaseStatus,
    FindingStatus,
    ParameterKind,
    RunStatus,
    RunTrigger,
    Severity,
)
from .permissions import oversight_company_ids

router = Router()

# ---------------------------------------------------------------- schemas


class ParameterOut(Schema):
    key: str
    label: str
    kind: ParameterKind
    default: Any
    minimum: str | None
    maximum: str | None
    value: Any = Field(description="The current value.")


class RuleOut(Schema):
    code: str
    number: int
    title: str
    area: Area
    severity: Severity
    is_enabled: bool
    version: int = Field(description="The current parameter version.")
    explanation: str = Field(description="With the current parameter values filled in.")
    parameters: list[ParameterOut]


class RuleUpdateIn(Schema):
    parameters: dict[str, Any]
    is_enabled: bool | None = None
    reason: str = Field("", max_length=500)
    expected_version: int | None = Field(
        None, description="The version you edited; another change meanwhile answers 409."
    )


class RunOut(Schema):
    id: int
    trigger: RunTrigger
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    rule_codes: list[str]
    is_full: bool
    ran_rule_codes: list[str] = Field(description="The rules detected in full (failed ones too).")
    skipped_rule_codes: list[str] = Field(
        description="The rules skipped as unchanged since their last run: findings seen again."
    )
    new_count: int
    seen_again_count: int
    stats: dict[str, Any]


class RunIn(Schema):
    rules: list[str] = Field(default=[], description="Rule codes; empty runs every enabled rule.")
    full: bool = Field(
        default=False, description="Run every rule in full, also those with unchanged inputs."
    )


class FindingSummaryOut(Schema):
    id: int
    rule_code: str
    area: Area
    severity: Severity
    status: FindingStatus
    company_id: int
    subject_type: str
    subject_id: str
    subject_label: str
    summary: str
    first_seen_at: datetime
    last_seen_at: datetime
    seen_count: int
    parameter_version: int

    @staticmethod
    def resolve_summary(obj: Any) -> str:
        rule = registry.rule_get(obj.rule_code)
        return rule.summarize(obj.evidence.get("figures", {})) if rule else obj.subject_label


class FindingDetailOut(FindingSummaryOut):
    explanation: str = Field(description="The rule's explanation with the parameters used.")
    evidence: dict[str, Any]
    dismissal_reason: str
    dismissal_requested_by_id: int | None
    dismissed_by_id: int | None
    case_id: int | None

    @staticmethod
    def resolve_explanation(obj: Any) -> str:
        rule = registry.rule_get(obj.rule_code)
        return rule.explain(obj.evidence.get("parameters", {})) if rule else ""

    @staticmethod
    def resolve_case_id(obj: Any) -> int | None:
        case = selectors.finding_case(finding=obj)
        return case.pk if case else None


class FindingFilterIn(Schema):
    company_id: int | None = None
    area: str = ""
    rule: str = ""
    severity: str = ""
    status: str = ""
    month: str = Field("", description="YYYY-MM: found in that month.")


class ReasonIn(Schema):
    reason: str = Field(max_length=5000)


class CommentIn(Schema):
    comment: str = Field("", max_length=5000)


class CaseOpenIn(Schema):
    company_id: int
    department_id: int | None = None
    assignee_id: int | None = None
    deadline: date
    instructions: str = Field(max_length=5000)


class VerifyIn(Schema):
    accepted: bool
    comment: str = Field("", max_length=5000)
    new_deadline: date | None = None


class AttachmentOut(Schema):
    id: int
    name: str
    size: int
    sha256: str


class RectificationOut(Schema):
    round: int
    text: str
    submitted_by_id: int
    submitted_at: datetime
    is_accepted: bool | None
    verified_by_id: int | None
    verified_at: datetime | None
    verification_comment: str
    attachments: list[AttachmentOut]

    @staticmethod
    def resolve_attachments(obj: Any) -> list[Any]:
        return list(obj.attachments.all())


class CaseEventOut(Schema):
    kind: CaseEventKind
    actor_id: int | None
    comment: str
    data: dict[str, Any]
    created_at: datetime


class CaseSummaryOut(Schema):
    id: int
    serial: str
    finding_id: int
    company_id: int
    department_id: int | None
    assignee_id: int | None
    status: CaseStatus
    deadline: date
    opened_at: datetime
    closed_at: datetime | None
    escalation_level: int


class CaseDetailOut(CaseSummaryOut):
    instructions: str
    finding: FindingSummaryOut
    rectifications: list[RectificationOut]
    events: list[CaseEventOut]

    @staticmethod
    def resolve_rectifications(obj: Any) -> list[Any]:
        return selectors.case_rectifications(case=obj)

    @staticmethod
    def resolve_events(obj: Any) -> list[Any]:
        return list(selectors.case_events(case=obj))


class CaseFilterIn(Schema):
    company_id: int | None = None
    status: str = ""
    overdue: bool = False


class RiskOut(Schema):
    rule_code: str
    rule_number: int
    rule_title: str
    severity: Severity
    message: str
    finding_id: int | None


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _require_oversight(request: HttpRequest) -> None:
    if not oversight_company_ids(request.user):
        raise PermissionDenied(_("Only discipline inspectors and internal auditors see this."))


def _rule_out(view: selectors.RuleView) -> dict[str, Any]:
    rule = view.rule
    return {
        "code": rule.code,
        "number": rule.number,
        "title": str(rule.title),
        "area": rule.area,
        "severity": rule.severity,
        "is_enabled": view.is_enabled,
        "version": view.version,
        "explanation": view.explanation,
        "parameters": [
            {
                "key": p.key,
                "label": str(p.label),
                "kind": p.kind,
                "default": p.clean(p.default),
                "minimum": None if p.minimum is None else str(p.minimum),
                "maximum": None if p.maximum is None else str(p.maximum),
                "value": view.parameters.get(p.key),
            }
            for p in rule.parameters
        ],
    }


FINDING = {200: FindingDetailOut, **ERROR_RESPONSES}
CASE = {200: CaseDetailOut, **ERROR_RESPONSES}
NO_COMMENT = CommentIn(comment="")

# ---------------------------------------------------------------- rules and runs


@router.get("/rules", response={200: list[RuleOut], **ERROR_RESPONSES})
def rule_list(request: HttpRequest) -> Any:
    """Every rule with its current parameters (oversight roles)."""
    _require_oversight(request)
    return [_rule_out(view) for view in selectors.rule_list()]


@router.get("/rules/{code}", response={200: RuleOut, **ERROR_RESPONSES})
def rule_detail(request: HttpRequest, code: str) -> Any:
    _require_oversight(request)
    return _rule_out(selectors.rule_get(rule_code=code))


@router.put("/rules/{code}", response={200: RuleOut, **ERROR_RESPONSES})
def rule_update(request: HttpRequest, code: str, payload: RuleUpdateIn) -> Any:
    """Change a rule's parameters (the group's inspectors): a new, audited version."""
    services.rule_parameters_update(
        actor=_actor(request),
        rule_code=code,
        parameters=payload.parameters,
        is_enabled=payload.is_enabled,
        reason=payload.reason,
        expected_version=payload.expected_version,
    )
    return _rule_out(selectors.rule_get(rule_code=code))


@router.get("/runs", response={200: list[RunOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def run_list(request: HttpRequest) -> Any:
    _require_oversight(request)
    return selectors.run_list(user=request.user)


@router.post("/runs", response={201: RunOut, **ERROR_RESPONSES})
def run_start(request: HttpRequest, payload: RunIn) -> Any:
    """Run the rules now (inspectors); answers when the run has finished."""
    return 201, services.run_rules(
        actor=_actor(request),
        trigger=RunTrigger.MANUAL,
        rule_codes=payload.rules or None,
        full=payload.full,
    )


# ---------------------------------------------------------------- findings


@router.get("/findings", response={200: list[FindingSummaryOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def finding_list(request: HttpRequest, filters: Query[FindingFilterIn]) -> Any:
    """Findings of the reader's oversight scope, latest first."""
    _require_oversight(request)
    return selectors.finding_list(
        user=request.user,
        filters=selectors.FindingFilter(
            company_id=filters.company_id,
            area=filters.area,
            rule_code=filters.rule,
            severity=filters.severity,
            status=filters.status,
            month=filters.month,
        ),
    )


@router.get("/findings/{finding_id}", response=FINDING)
def finding_detail(request: HttpRequest, finding_id: int) -> Any:
    return selectors.finding_access(user=request.user, finding_id=finding_id)


@router.post("/findings/{finding_id}/dismiss", response=FINDING)
def finding_dismiss(request: HttpRequest, finding_id: int, payload: ReasonIn) -> Any:
    """Dismiss with a reason; a high-severity finding then waits for a second inspector."""
    return services.finding_dismiss(
        actor=_actor(request), finding_id=finding_id, reason=payload.reason
    )


@router.post("/findings/{finding_id}/dismissal/confirm", response=FINDING)
def dismissal_confirm(
    request: HttpRequest, finding_id: int, payload: CommentIn = NO_COMMENT
) -> Any:
    """The second inspector confirms a proposed dismissal (four eyes)."""
    return services.finding_dismissal_confirm(
        actor=_actor(request), finding_id=finding_id, comment=payload.comment
    )


@router.post("/findings/{finding_id}/dismissal/decline", response=FINDING)
def dismissal_decline(request: HttpRequest, finding_id: int, payload: CommentIn) -> Any:
    """Decline a proposed dismissal (the comment is required): the finding is open again."""
    return services.finding_dismissal_decline(
        actor=_actor(request), finding_id=finding_id, comment=payload.comment
    )


@router.post("/findings/{finding_id}/case", response={201: CaseDetailOut, **ERROR_RESPONSES})
def case_open(request: HttpRequest, finding_id: int, payload: CaseOpenIn) -> Any:
    """Open a case: the responsible company (department, person) rectifies by the deadline."""
    return 201, services.case_open(
        actor=_actor(request),
        finding_id=finding_id,
        company_id=payload.company_id,
        department_id=payload.department_id,
        assignee_id=payload.assignee_id,
        deadline=payload.deadline,
        instructions=payload.instructions,
    )


# ---------------------------------------------------------------- cases


@router.get("/cases", response={200: list[CaseSummaryOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def case_list(request: HttpRequest, filters: Query[CaseFilterIn]) -> Any:
    """Cases the reader oversees or answers for, latest first."""
    return selectors.case_list(
        user=request.user,
        filters=selectors.CaseFilter(
            company_id=filters.company_id, status=filters.status, is_overdue=filters.overdue
        ),
    )


@router.get("/cases/{case_id}", response=CASE)
def case_detail(request: HttpRequest, case_id: int) -> Any:
    return selectors.case_access(user=request.user, case_id=case_id)


@router.post("/cases/{case_id}/rectification", response=CASE)
def case_rectification(
    request: HttpRequest,
    case_id: int,
    text: Form[str],
    files: File[list[UploadedFile]] = None,  # type: ignore[assignment]
) -> Any:
    """The responsible unit submits its rectification (multipart: `text`, `files`)."""
    services.case_rectification_submit(
        actor=_actor(request), case_id=case_id, text=text, files=list(files or [])
    )
    return selectors.case_access(user=request.user, case_id=case_id)


@router.post("/cases/{case_id}/verify", response=CASE)
def case_verify(request: HttpRequest, case_id: int, payload: VerifyIn) -> Any:
    """An inspector verifies: accepted closes the case, rejected sends it back (comment
    required)."""
    services.case_verify(
        actor=_actor(request),
        case_id=case_id,
        is_accepted=payload.accepted,
        comment=payload.comment,
        new_deadline=payload.new_deadline,
    )
    return selectors.case_access(user=request.user, case_id=case_id)


# ---------------------------------------------------------------- dashboard and risks


@router.get("/dashboard", response={200: dict[str, Any], **ERROR_RESPONSES})
def dashboard(request: HttpRequest, company_id: int | None = None, months: int = 12) -> Any:
    """The dashboard's figures; each carries the URL of the list behind it."""
    _require_oversight(request)
    months = min(max(months, 1), 60)
    return dashboard_data(
        user=request.user, filters=DashboardFilter(company_id=company_id, months=months)
    )


@router.get("/risks", response={200: list[RiskOut], **ERROR_RESPONSES})
def document_risks(request: HttpRequest, document_type: str, document_id: str) -> Any:
    """What supervision says about one document: recorded findings and live checks. For an
    approval request, whoever may open the request may ask."""
    if document_type == "approvals.request":
        if not document_id.isdigit():
            raise NotFound(_("Not found."))
        approval_selectors.request_access(user=request.user, request_id=int(document_id))
    else:
        _require_oversight(request)
    return checks.risks_for_document(document_type=document_type, document_id=document_id)
