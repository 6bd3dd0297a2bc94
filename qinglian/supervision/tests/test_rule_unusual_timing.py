"""Rule 11: approvals at unusual hours or unusually fast for the amount."""

import datetime

import pytest
from django.utils import timezone

from qinglian.approvals import services as approvals
from qinglian.approvals.history import HistoryStep, history_versions, requests_write
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


def test_a_run_looks_back_over_years_of_history(org, flows):
    """Imported history is what inspectors want scanned: ten years back by default."""
    old = decided(org.handler_a, flows.head_a, "900000.00", after_hours=True, days=3000)
    assert [hit.subject_id for hit in detect(RULE)] == [str(old.pk)]
    assert len(detect(RULE, lookback_days=3001)) == 1
    assert detect(RULE, lookback_days=2999) == []  # decided a day before the first one looked at


SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def imported(org, flows, decided_at, *, seconds=3600):
    """A contract request as the legacy intake writes it: step times in Shanghai time."""
    flow = history_versions({"contract": ("trading_contract", "购销合同审批")})
    template_id, version_id = flow["contract"]
    submitted = decided_at - datetime.timedelta(seconds=seconds)
    ids, _counts = requests_write(
        [
            {
                "serial": f"OA{decided_at:%Y%m%d%H%M}",
                "company_id": org.company_a.pk,
                "template_id": template_id,
                "version_id": version_id,
                "requester_id": org.handler_a.pk,
                "department_id": None,
                "title": "历史合同",
                "form_data": {"title": "历史合同", "amount": "1600000.00"},
                "amount": "1600000.00",
                "status": "approved",
                "submitted_at": submitted,
                "finished_at": decided_at,
                "source_id": f"OA{decided_at:%Y%m%d%H%M}",
            }
        ],
        {
            f"OA{decided_at:%Y%m%d%H%M}": [
                HistoryStep(0, "legal", flows.head_a.pk, True, decided_at, "")
            ]
        },
        batch_id="test",
    )
    return ids[0]


@pytest.mark.parametrize(
    ("local", "flagged"),
    [
        (datetime.datetime(2025, 5, 10, 23, 12), True),  # a Saturday night
        (datetime.datetime(2025, 5, 12, 20, 30), True),  # Monday evening (12:30 UTC)
        (datetime.datetime(2025, 5, 13, 7, 59), True),  # Tuesday before eight
        (datetime.datetime(2025, 5, 12, 8, 0), False),  # Monday at eight (00:00 UTC)
        (datetime.datetime(2025, 5, 12, 18, 59), False),  # Monday before seven in the evening
    ],
)
def test_imported_decisions_are_judged_in_shanghai_time(org, flows, local, flagged):
    request_id = imported(org, flows, local.replace(tzinfo=SHANGHAI))
    hits = detect(RULE)
    assert [hit.subject_id for hit in hits] == ([str(request_id)] if flagged else [])
    if flagged:
        assert reasons(hits[0]) == [["after_hours"]]


def test_an_imported_approval_within_seconds(org, flows):
    moment = datetime.datetime(2025, 5, 12, 10, 53, 57, tzinfo=SHANGHAI)
    request_id = imported(org, flows, moment, seconds=31)
    hits = detect(RULE)
    assert [(hit.subject_id, reasons(hit)) for hit in hits] == [(str(request_id), [["fast"]])]
    assert hits[0].figures["decisions"][0]["seconds"] == 31
    assert detect(RULE, fast_max_seconds=30) == []


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
