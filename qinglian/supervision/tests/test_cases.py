"""Triage and the closed loop: dismissal (four eyes for high severity), cases from opening to
verified closure, rejection back to the unit, escalation of overdue cases. Every step audited;
every refusal leaves everything as it was."""

import datetime

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from qinglian.audit.models import AuditEvent
from qinglian.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from qinglian.supervision import services
from qinglian.supervision.enums import CaseEventKind, CaseStatus, FindingStatus, Severity
from qinglian.supervision.models import Case, CaseEvent, Finding, Rectification
from qinglian.supervision.tasks import supervision_cases_escalate
from qinglian.supervision.tests.conftest import NOW, days_ago, frozen_at_now, history_request


@pytest.fixture
def finding(org, flows, shared_layers):
    return shared_layers.get("finding", build_finding, org, flows)


def build_finding(org, flows):
    with frozen_at_now():
        return _finding(org)


def _finding(org):
    history_request(
        requester=org.handler_a,
        amount="80000.00",
        submitted_at=days_ago(5),
        decisions=((org.handler_a, days_ago(4), 600, False),),
    )
    services.run_rules(actor=org.inspector)
    return Finding.objects.get()


@pytest.fixture
def medium(finding):
    Finding.objects.filter(pk=finding.pk).update(severity=Severity.MEDIUM)
    finding.refresh_from_db()
    return finding


def snapshot(finding):
    finding.refresh_from_db()
    return (
        finding.status,
        finding.dismissal_reason,
        finding.dismissed_by_id,
        Case.objects.count(),
        Rectification.objects.count(),
        CaseEvent.objects.count(),
        AuditEvent.objects.count(),
    )


def actions():
    return list(
        AuditEvent.objects.filter(action__startswith="supervision.")
        .exclude(action="supervision.run.finished")
        .order_by("id")
        .values_list("action", flat=True)
    )


# ---------------------------------------------------------------- dismissal


def test_medium_finding_is_dismissed_by_one_inspector(medium, org):
    services.finding_dismiss(
        actor=org.inspector, finding_id=medium.pk, reason="已核实为系统测试数据"
    )
    medium.refresh_from_db()
    assert medium.status == FindingStatus.DISMISSED
    assert medium.dismissed_by_id == org.inspector.pk
    assert actions() == ["supervision.finding.dismissed"]
    event = AuditEvent.objects.get(action="supervision.finding.dismissed")
    assert event.company_id if hasattr(event, "company_id") else True
    assert event.changes["reason"] == [None, "已核实为系统测试数据"]


def test_high_finding_needs_a_second_inspector(finding, org, flows):
    assert finding.severity == Severity.HIGH
    services.finding_dismiss(actor=org.inspector, finding_id=finding.pk, reason="属于系统迁移数据")
    finding.refresh_from_db()
    assert finding.status == FindingStatus.DISMISSAL_REQUESTED
    assert finding.dismissed_by_id is None
    before = snapshot(finding)
    with pytest.raises(PermissionDenied) as error:
        services.finding_dismissal_confirm(actor=org.inspector, finding_id=finding.pk)
    assert error.value.code == "supervision.four_eyes"
    assert snapshot(finding) == before
    services.finding_dismissal_confirm(actor=flows.inspector_2, finding_id=finding.pk)
    finding.refresh_from_db()
    assert finding.status == FindingStatus.DISMISSED
    assert finding.dismissal_requested_by_id == org.inspector.pk
    assert finding.dismissed_by_id == flows.inspector_2.pk
    assert actions() == ["supervision.finding.dismissal_requested", "supervision.finding.dismissed"]


def test_a_declined_dismissal_reopens_the_finding(finding, org, flows):
    services.finding_dismiss(actor=org.inspector, finding_id=finding.pk, reason="误报")
    with pytest.raises(ValidationFailed):
        services.finding_dismissal_decline(
            actor=flows.inspector_2, finding_id=finding.pk, comment=""
        )
    services.finding_dismissal_decline(
        actor=flows.inspector_2, finding_id=finding.pk, comment="付款人确为审批人，需立案"
    )
    finding.refresh_from_db()
    assert (finding.status, finding.dismissal_reason, finding.dismissal_requested_by_id) == (
        FindingStatus.OPEN,
        "",
        None,
    )
    assert actions()[-1] == "supervision.finding.dismissal_declined"


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("auditor", PermissionDenied),  # reads, never triages
        ("handler_a", NotFound),
        ("no_role", NotFound),
        ("admin_group", NotFound),
    ],
)
def test_only_inspectors_triage(finding, org, who, error):
    before = snapshot(finding)
    with pytest.raises(error):
        services.finding_dismiss(actor=getattr(org, who), finding_id=finding.pk, reason="x")
    with pytest.raises(error):
        services.case_open(
            actor=getattr(org, who),
            finding_id=finding.pk,
            company_id=org.company_a.pk,
            deadline=datetime.date(2026, 4, 1),
            instructions="x",
        )
    assert snapshot(finding) == before


def test_an_inspector_of_another_company_sees_no_finding(finding, org, flows):
    Finding.objects.filter(pk=finding.pk).update(company=org.company_b)
    before = snapshot(finding)
    with pytest.raises(NotFound):
        services.finding_dismiss(actor=flows.inspector_a, finding_id=finding.pk, reason="x")
    assert snapshot(finding) == before


def test_reason_is_required_and_status_is_checked(medium, org):
    before = snapshot(medium)
    with pytest.raises(ValidationFailed):
        services.finding_dismiss(actor=org.inspector, finding_id=medium.pk, reason="  ")
    assert snapshot(medium) == before
    services.finding_dismiss(actor=org.inspector, finding_id=medium.pk, reason="重复")
    with pytest.raises(Conflict):
        services.finding_dismiss(actor=org.inspector, finding_id=medium.pk, reason="重复")


# ---------------------------------------------------------------- the closed loop


def open_case(finding, org, *, deadline=datetime.date(2026, 4, 10), **extra):
    return services.case_open(
        actor=org.inspector,
        finding_id=finding.pk,
        company_id=org.company_a.pk,
        department_id=org.department_a.pk,
        deadline=deadline,
        instructions="说明自批原因，完善审批权限设置，并对相关责任人进行提醒谈话。",
        **extra,
    )


def evidence_file(name="整改报告.pdf"):
    return SimpleUploadedFile(name, b"%PDF-1.4 rectification", content_type="application/pdf")


def test_case_runs_from_opening_to_closure(finding, org, flows):
    case = open_case(finding, org)
    finding.refresh_from_db()
    assert finding.status == FindingStatus.IN_CASE
    assert case.status == CaseStatus.RECTIFYING
    assert case.serial == f"ZG20260311-{finding.pk}"
    # The department head (the responsible unit) submits, with a file.
    rectification = services.case_rectification_submit(
        actor=flows.head_a,
        case_id=case.pk,
        text="已调整审批流，谈话记录附后。",
        files=[evidence_file()],
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.VERIFYING
    attachment = rectification.attachments.get()
    assert attachment.name == "整改报告.pdf"
    assert attachment.size == len(b"%PDF-1.4 rectification")
    assert len(attachment.sha256) == 64
    # Rejected: back to the unit with a new deadline.
    services.case_verify(
        actor=org.inspector,
        case_id=case.pk,
        is_accepted=False,
        comment="缺少谈话记录签字页",
        new_deadline=datetime.date(2026, 4, 20),
    )
    case.refresh_from_db()
    assert (case.status, case.deadline) == (CaseStatus.RECTIFYING, datetime.date(2026, 4, 20))
    rectification.refresh_from_db()
    assert rectification.is_accepted is False
    # The general manager of A submits again; a second inspector accepts.
    services.case_rectification_submit(actor=flows.manager_a, case_id=case.pk, text="补充签字页。")
    services.case_verify(actor=flows.inspector_2, case_id=case.pk, is_accepted=True)
    case.refresh_from_db()
    finding.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    assert case.closed_by_id == flows.inspector_2.pk
    assert finding.status == FindingStatus.CLOSED
    assert list(case.rectifications.values_list("round", "is_accepted")) == [(1, False), (2, True)]
    assert list(case.events.values_list("kind", flat=True)) == [
        CaseEventKind.OPENED,
        CaseEventKind.RECTIFICATION_SUBMITTED,
        CaseEventKind.REJECTED,
        CaseEventKind.RECTIFICATION_SUBMITTED,
        CaseEventKind.ACCEPTED,
    ]
    assert actions() == [
        "supervision.case.opened",
        "supervision.finding.case_opened",
        "supervision.case.rectification_submitted",
        "supervision.case.rectification_rejected",
        "supervision.case.rectification_submitted",
        "supervision.case.closed",
        "supervision.finding.closed",
    ]


def test_case_open_checks_its_fields(finding, org, flows):
    before = snapshot(finding)
    with pytest.raises(ValidationFailed) as error:
        services.case_open(
            actor=org.inspector,
            finding_id=finding.pk,
            company_id=org.company_a.pk,
            department_id=org.department_b.pk,  # another company's department
            assignee_id=org.handler_b.pk,  # another company's employee
            deadline=datetime.date(2026, 3, 10),  # yesterday
            instructions=" ",
        )
    assert error.value.fields.keys() == {"instructions"}
    with pytest.raises(ValidationFailed) as error:
        services.case_open(
            actor=org.inspector,
            finding_id=finding.pk,
            company_id=org.company_a.pk,
            department_id=org.department_b.pk,
            assignee_id=org.handler_b.pk,
            deadline=datetime.date(2026, 3, 10),
            instructions="整改",
        )
    assert error.value.fields.keys() == {"department", "assignee", "deadline"}
    with pytest.raises(ValidationFailed) as error:  # outside an A-only inspector's scope
        services.case_open(
            actor=flows.inspector_a,
            finding_id=finding.pk,
            company_id=org.company_b.pk,
            deadline=datetime.date(2026, 4, 1),
            instructions="整改",
        )
    assert error.value.fields.keys() == {"company"}
    assert snapshot(finding) == before


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("handler_a", NotFound),
        ("handler_b", NotFound),
        ("no_role", NotFound),
        ("manager_b", NotFound),  # another company's leader
        ("auditor", PermissionDenied),  # sees the case, is not the unit
        ("inspector", PermissionDenied),
    ],
)
def test_only_the_responsible_unit_submits(finding, org, flows, who, error):
    from qinglian.org.models import User

    case = open_case(finding, org)
    before = snapshot(finding)
    actor = getattr(org, who, None) or User.objects.get(username=who)
    with pytest.raises(error):
        services.case_rectification_submit(actor=actor, case_id=case.pk, text="已整改")
    assert snapshot(finding) == before


def test_the_named_person_may_submit(finding, org, flows):
    case = open_case(finding, org, assignee_id=flows.staff_a.pk)
    services.case_rectification_submit(actor=flows.staff_a, case_id=case.pk, text="已整改")
    assert Case.objects.get().status == CaseStatus.VERIFYING


def test_verification_rules(finding, org, flows):
    case = open_case(finding, org)
    with pytest.raises(Conflict):  # nothing submitted yet
        services.case_verify(actor=org.inspector, case_id=case.pk, is_accepted=True)
    services.case_rectification_submit(actor=flows.head_a, case_id=case.pk, text="已整改")
    before = snapshot(finding)
    with pytest.raises(ValidationFailed):  # a rejection says why
        services.case_verify(actor=org.inspector, case_id=case.pk, is_accepted=False)
    with pytest.raises(PermissionDenied):  # the auditor reads only
        services.case_verify(actor=org.auditor, case_id=case.pk, is_accepted=True)
    with pytest.raises(PermissionDenied):  # the unit cannot verify itself
        services.case_verify(actor=flows.head_a, case_id=case.pk, is_accepted=True)
    assert snapshot(finding) == before


def test_too_many_files_are_refused(finding, org, flows):
    case = open_case(finding, org)
    before = snapshot(finding)
    with pytest.raises(ValidationFailed) as error:
        services.case_rectification_submit(
            actor=flows.head_a,
            case_id=case.pk,
            text="已整改",
            files=[evidence_file(f"{n}.pdf") for n in range(11)],
        )
    assert "attachments" in error.value.fields
    assert snapshot(finding) == before


def test_opening_a_case_mails_the_unit(finding, org, flows, django_capture_on_commit_callbacks):
    org.handler_a.__class__.objects.filter(pk=flows.head_a.pk).update(email="head@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        case = open_case(finding, org)
    assert [message.to for message in mail.outbox] == [["head@example.com"]]
    assert case.serial in mail.outbox[0].subject


# ---------------------------------------------------------------- escalation


def test_overdue_cases_escalate_once_then_weekly(finding, org, flows, frozen):
    case = open_case(finding, org, deadline=datetime.date(2026, 3, 20))
    frozen.set(NOW.replace(day=20, hour=23))  # the deadline day itself: not overdue yet
    assert supervision_cases_escalate.call_local() == 0
    frozen.set(NOW.replace(day=21, hour=9))
    assert supervision_cases_escalate.call_local() == 1
    assert supervision_cases_escalate.call_local() == 0  # once
    case.refresh_from_db()
    assert case.escalation_level == 1
    event = case.events.get(kind=CaseEventKind.ESCALATED)
    assert event.data == {"level": 1, "days_overdue": 1}
    assert actions()[-1] == "supervision.case.escalated"
    frozen.set(NOW.replace(day=27, hour=9))
    assert supervision_cases_escalate.call_local() == 0  # six days later
    frozen.set(NOW.replace(day=28, hour=9))
    assert supervision_cases_escalate.call_local() == 1  # a week later
    case.refresh_from_db()
    assert case.escalation_level == 2


def test_submitted_and_closed_cases_do_not_escalate(finding, org, flows, frozen):
    case = open_case(finding, org, deadline=datetime.date(2026, 3, 12))
    services.case_rectification_submit(actor=flows.head_a, case_id=case.pk, text="已整改")
    frozen.set(NOW + datetime.timedelta(days=10))
    assert supervision_cases_escalate.call_local() == 0
    # Rejected after the deadline: overdue again, so it escalates.
    services.case_verify(actor=org.inspector, case_id=case.pk, is_accepted=False, comment="不全")
    assert supervision_cases_escalate.call_local() == 1
