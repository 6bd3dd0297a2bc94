"""Rule 11: approvals at unusual hours or unusually fast for the amount."""

import datetime

from django.utils import timezone

from qinglian.approvals import services as approvals
from qinglian.approvals.models import ApprovalTask
from qinglian.supervision.tests.conftest import days_ago, history_request
from qinglian.supervision.tests.helpers import check, detect

RULE = "unusual_approval_timing"


def decided(requester, approver, amount, *, seconds=3600, after_hours=False, days=5):
    return history_request(
        requester=requester,
        amount=amount,
        submitted_at=days_ago(days + 1),
        decisions=((approver, days_ago(days), seconds, after_hours),),
    )


def reasons(hit):
    return [item["reasons"] for item in hit.figures["decisions"]]


def test_large_amount_approved_after_hours(org, flows):
    late = decided(org.handler_a, flows.head_a, "50000.00", after_hours=True)
    decided(org.handler_a, flows.head_a, "49999.99", after_hours=True)  # just under the amount
    decided(org.handler_a, flows.head_a, "900000.00", after_hours=False)  # in working hours
    hits = detect(RULE)
    assert [hit.subject_id for hit in hits] == [str(late.pk)]
    assert reasons(hits[0]) == [["after_hours"]]
    assert hits[0].people == [flows.head_a.pk]


def test_large_amount_approved_within_seconds(org, flows):
    fast = decided(org.handler_a, flows.head_a, "100000.00", seconds=60)
    decided(org.handler_a, flows.head_a, "100000.00", seconds=61)  # one second slower
    decided(org.handler_a, flows.head_a, "99999.99", seconds=5)  # a smaller amount
    hits = detect(RULE)
    assert [hit.subject_id for hit in hits] == [str(fast.pk)]
    assert reasons(hits[0]) == [["fast"]]


def test_both_reasons_and_parameters(org, flows):
    both = decided(org.handler_a, flows.head_a, "300000.00", seconds=10, after_hours=True)
    assert reasons(detect(RULE)[0]) == [["after_hours", "fast"]]
    assert detect(RULE, fast_max_seconds=9, after_hours_min_amount="300000.01") == []
    assert [hit.subject_id for hit in detect(RULE, lookback_days=6)] == [str(both.pk)]
    assert detect(RULE, lookback_days=4) == []


def test_automatic_approvals_are_not_decisions(org, flows):
    history_request(
        requester=org.handler_a,
        amount="900000.00",
        submitted_at=days_ago(3),
        automatic=(flows.head_a,),
    )
    assert detect(RULE) == []


def test_the_engine_records_what_the_rule_reads(org, flows, frozen):
    evening = timezone.make_aware(datetime.datetime(2026, 3, 10, 21, 30))
    frozen.set(evening)
    request = approvals.request_submit(
        actor=org.handler_a,
        template_code="payment",
        form_data={"title": "夜间付款", "amount": "120000.00"},
    )
    task = ApprovalTask.objects.get(request=request, assignee=flows.head_a)
    frozen.advance(seconds=20)
    approvals.task_approve(actor=flows.head_a, task_id=task.pk)
    frozen.set(evening + datetime.timedelta(days=1))
    hits = detect(RULE)
    assert [hit.subject_id for hit in hits] == [str(request.pk)]
    assert reasons(hits[0]) == [["after_hours", "fast"]]
    assert hits[0].figures["decisions"][0]["seconds"] == 20
    assert [hit.subject_id for hit in check(RULE, request.pk)] == [str(request.pk)]


def test_the_summary_shows_local_time():
    from qinglian.supervision.rules.unusual_timing import summarize

    moment = datetime.datetime(2026, 3, 4, 15, 42, tzinfo=datetime.UTC)  # 23:42 in Shanghai
    text = summarize(
        {
            "serial": "SP-1",
            "amount": "975100.00",
            "decisions": [
                {"approver": "黄志明", "step": "分管领导", "decided_at": moment.isoformat()}
                | {"reasons": ["after_hours"], "seconds": 30}
            ],
        }
    )
    assert "2026-03-04 23:42" in text
    assert timezone.get_current_timezone_name() == "Asia/Shanghai"
