"""The submission hook: the risks of one document, for the approval page."""

import pytest

from qinglian.approvals import services as approvals
from qinglian.supervision import services
from qinglian.supervision.checks import risks_for_approval_request, risks_for_document
from qinglian.supervision.enums import Severity
from qinglian.supervision.tests.conftest import days_ago, history_request

pytestmark = pytest.mark.usefixtures("english")


def test_a_recorded_finding_and_a_live_check(org, flows, frozen):
    own = history_request(
        requester=org.handler_a,
        amount="990000.00",
        submitted_at=days_ago(5),
        decisions=((org.handler_a, days_ago(4), 600, False),),
    )
    services.run_rules(actor=org.inspector)
    risks = risks_for_approval_request(request_id=own.pk)
    # The self-approval is a recorded finding; the amount just under a million is a live
    # warning (one request in the band: below the rule's count, but worth an approver's eye).
    assert [(r.rule_code, r.severity, r.finding_id is not None) for r in risks] == [
        ("self_approval", Severity.HIGH, True),
        ("threshold_clustering", Severity.MEDIUM, False),
    ]
    assert risks[0].message == (
        f"{own.serial} (990,000.00): the requester approved their own request at “审核”"
    )
    assert risks[1].message.startswith("1 requests of “付款” by 甲经办")


def test_a_clean_request_has_no_risk(org, flows, frozen):
    request = approvals.request_submit(
        actor=org.handler_a,
        template_code="payment",
        form_data={"title": "材料款", "amount": "120000.00", "payee": flows.staff_a.pk},
    )
    assert risks_for_approval_request(request_id=request.pk) == []


def test_a_disabled_rule_does_not_check(org, flows, frozen):
    request = approvals.request_submit(
        actor=org.handler_a,
        template_code="payment",
        form_data={"title": "进度款", "amount": "999000.00"},
    )
    assert [r.rule_code for r in risks_for_approval_request(request_id=request.pk)] == [
        "threshold_clustering"
    ]
    services.rule_parameters_update(
        actor=org.inspector,
        rule_code="threshold_clustering",
        parameters={
            "band_percent": "10",
            "min_count": 3,
            "window_days": 90,
            "lookback_days": 3650,
            "group_thresholds": [],
            "template_codes": [],
        },
        is_enabled=False,
    )
    assert risks_for_approval_request(request_id=request.pk) == []


def test_unknown_documents_have_no_risk(org, flows):
    assert risks_for_document(document_type="trading.contract", document_id="1") == []
    assert risks_for_document(document_type="approvals.request", document_id="nope") == []
