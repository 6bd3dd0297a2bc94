"""Rule 1: self-approval and segregation of duties, over imported history and the live engine."""

import pytest

from qinglian.approvals import services as approvals
from qinglian.approvals.enums import SelfApprovalRule
from qinglian.approvals.models import ApprovalTask, ApprovalTemplate
from qinglian.supervision.enums import Severity
from qinglian.supervision.tests.conftest import days_ago, history_request
from qinglian.supervision.tests.helpers import check, detect

RULE = "self_approval"


def kinds(hit):
    return sorted(item["kind"] for item in hit.figures["reasons"])


def test_requester_who_approved_own_request_is_a_high_finding(org, flows):
    own = history_request(
        requester=org.handler_a,
        amount="80000.00",
        submitted_at=days_ago(10),
        decisions=((org.handler_a, days_ago(9), 600, False),),
    )
    history_request(  # approved by someone else: clean
        requester=org.handler_a,
        amount="80000.00",
        submitted_at=days_ago(10),
        decisions=((flows.head_a, days_ago(9), 600, False),),
    )
    hits = detect(RULE)
    assert [(hit.subject_type, hit.subject_id) for hit in hits] == [
        ("approvals.request", str(own.pk))
    ]
    hit = hits[0]
    assert hit.severity == Severity.HIGH
    assert kinds(hit) == ["self_approved"]
    assert hit.company_id == org.company_a.pk
    assert hit.people == [org.handler_a.pk]
    assert [link.id for link in hit.documents] == [str(own.pk)]
    assert hit.figures["serial"] == own.serial


def test_automatic_approval_of_the_requester_counts_too(org, flows):
    own = history_request(
        requester=org.handler_a,
        amount="100.00",
        submitted_at=days_ago(3),
        automatic=(org.handler_a,),
    )
    assert [hit.subject_id for hit in detect(RULE)] == [str(own.pk)]


def test_outside_the_look_back_window_is_not_reported(org, flows):
    history_request(
        requester=org.handler_a,
        amount="80000.00",
        submitted_at=days_ago(40),
        decisions=((org.handler_a, days_ago(31), 60, False),),
    )
    assert detect(RULE, lookback_days=30) == []
    assert len(detect(RULE, lookback_days=32)) == 1


def test_smallest_amount_leaves_out_requests_just_below_it(org, flows):
    history_request(
        requester=org.handler_a,
        amount="999.99",
        submitted_at=days_ago(3),
        decisions=((org.handler_a, days_ago(2), 60, False),),
    )
    assert detect(RULE, min_amount="1000") == []
    assert len(detect(RULE, min_amount="999.99")) == 1


def test_payee_who_approves_through_the_engine_is_flagged(org, flows, frozen):
    request = approvals.request_submit(
        actor=org.handler_a,
        template_code="payment",
        form_data={"title": "劳务费", "amount": "12000.00", "payee": flows.head_a.pk},
    )
    task = ApprovalTask.objects.get(request=request, assignee=flows.head_a)
    frozen.advance(minutes=30)
    approvals.task_approve(actor=flows.head_a, task_id=task.pk)
    hits = detect(RULE)
    assert len(hits) == 1
    assert kinds(hits[0]) == ["named_person_approved"]
    assert hits[0].figures["reasons"][0]["field"] == "收款人"
    assert hits[0].severity == Severity.HIGH


def test_payee_who_is_not_an_approver_is_clean(org, flows, frozen):
    request = approvals.request_submit(
        actor=org.handler_a,
        template_code="payment",
        form_data={"title": "劳务费", "amount": "12000.00", "payee": flows.staff_a.pk},
    )
    task = ApprovalTask.objects.get(request=request, assignee=flows.head_a)
    approvals.task_approve(actor=flows.head_a, task_id=task.pk)
    assert detect(RULE) == []


def test_step_skipped_because_the_requester_was_its_only_approver(org, flows, frozen):
    ApprovalTemplate.objects.filter(code="payment").update(self_approval_rule=SelfApprovalRule.SKIP)
    request = approvals.request_submit(
        actor=flows.finance_a,
        template_code="payment",
        form_data={"title": "财务自己的付款", "amount": "3000.00"},
    )
    hits = detect(RULE)
    assert [hit.subject_id for hit in hits] == [str(request.pk)]
    assert kinds(hits[0]) == ["step_skipped"]
    assert hits[0].severity == Severity.MEDIUM
    # Near miss: the same trail, but inspectors chose not to report skipped steps.
    assert detect(RULE, include_skipped_steps=False) == []


def test_requester_routed_to_their_superior_is_clean(org, flows, frozen):
    """The default rule asks the requester's superior instead: a control, not a breach."""
    approvals.request_submit(
        actor=flows.finance_a,
        template_code="payment",
        form_data={"title": "财务自己的付款", "amount": "3000.00"},
    )
    assert detect(RULE) == []


def test_at_submission_a_payee_on_the_route_is_a_risk(org, flows, frozen):
    request = approvals.request_submit(
        actor=org.handler_a,
        template_code="payment",
        form_data={"title": "劳务费", "amount": "12000.00", "payee": flows.finance_a.pk},
    )
    hits = check(RULE, request.pk)
    assert [item["kind"] for item in hits[0].figures["reasons"]] == ["named_person_on_route"]
    clean = approvals.request_submit(
        actor=org.handler_a,
        template_code="payment",
        form_data={"title": "劳务费", "amount": "12000.00", "payee": flows.staff_a.pk},
    )
    assert check(RULE, clean.pk) == []


@pytest.mark.parametrize("document_id", ["x", "999999"])
def test_check_of_an_unknown_document_finds_nothing(org, flows, document_id):
    assert check(RULE, document_id) == []
