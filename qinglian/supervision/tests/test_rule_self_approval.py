"""Rule 1: self-approval and segregation of duties, over imported history and the live engine."""

import itertools
from decimal import Decimal

import pytest

from qinglian.approvals import history as approval_history
from qinglian.approvals import services as approvals
from qinglian.approvals.enums import SelfApprovalRule
from qinglian.approvals.history import HistoryStep
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


# ---------------------------------------------------------------- imported history: the payee


def imported_claim(*, requester, payee, approvers):
    """An expense claim as the legacy intake loads it: filed under a flow made for the history,
    its payee (the old payments' payee_employee) in the flow's person field."""
    versions = approval_history.history_versions({"expense": ("expense_claim", "费用报销")})
    template_id, version_id = versions["expense"]
    field = approval_history.person_fields({"expense": version_id})["expense"]
    source = f"OA-{next(_claims):05d}"
    submitted = days_ago(12)
    form = {"title": "差旅费报销", "amount": "2460.00", field: payee.pk}
    (pk,), _counts = approval_history.requests_write(
        [
            {
                "serial": source,
                "company_id": requester.company_id,
                "template_id": template_id,
                "version_id": version_id,
                "requester_id": requester.pk,
                "title": "差旅费报销",
                "form_data": form,
                "amount": Decimal("2460.00"),
                "status": "approved",
                "submitted_at": submitted,
                "finished_at": days_ago(10),
                "source_id": source,
            }
        ],
        {
            source: [
                HistoryStep(index, node, approver.pk, True, days_ago(11 - index), "")
                for index, (node, approver) in enumerate(approvers, start=1)
            ]
        },
        batch_id="legacy-test",
    )
    return pk


_claims = itertools.count(1)


def test_an_imported_claim_paid_to_its_approver_is_flagged(org, flows, frozen):
    claim = imported_claim(
        requester=flows.staff_a,
        payee=flows.finance_a,
        approvers=(("dept_head", flows.head_a), ("finance", flows.finance_a)),
    )
    hits = detect(RULE)
    assert [hit.subject_id for hit in hits] == [str(claim)]
    hit = hits[0]
    assert hit.severity == Severity.HIGH
    assert [
        (item["kind"], item["step"], item["user_id"], item["field"])
        for item in hit.figures["reasons"]
    ] == [("named_person_approved", "finance", flows.finance_a.pk, "收款人")]
    assert "甲财务" in hit.figures["reasons"][0]["user"]
    assert hit.people == [flows.staff_a.pk, flows.finance_a.pk]


def test_an_imported_claim_paid_to_its_requester_is_clean(org, flows, frozen):
    """The usual case: a claim reimburses the person who made it, others approve it."""
    imported_claim(
        requester=flows.staff_a,
        payee=flows.staff_a,
        approvers=(("dept_head", flows.head_a), ("finance", flows.finance_a)),
    )
    assert detect(RULE) == []


def test_an_imported_claim_paid_to_someone_else_who_did_not_approve_is_clean(org, flows, frozen):
    """Near miss: paid to a third person, who is not on the trail."""
    imported_claim(
        requester=flows.staff_a,
        payee=flows.leader_a,
        approvers=(("dept_head", flows.head_a), ("finance", flows.finance_a)),
    )
    assert detect(RULE) == []


def test_a_requester_paid_for_a_claim_they_approved_is_self_approval(org, flows, frozen):
    """Requester, payee and approver all one person: self-approval, not a second reason."""
    claim = imported_claim(
        requester=flows.head_a,
        payee=flows.head_a,
        approvers=(("dept_head", flows.head_a), ("finance", flows.finance_a)),
    )
    hits = detect(RULE)
    assert [(hit.subject_id, kinds(hit)) for hit in hits] == [(str(claim), ["self_approved"])]
