"""Imported approval history (approvals.history.requests_write): each request's trail is
written as a decision here would have written it — the submission, one decision per step with
its after-hours flag, seconds and assignee, and a withdrawal — in the order it happened; only
for the batch's own requests, whatever other requests took ids in between; and a request can
be written under an id reserved for it beforehand."""

from __future__ import annotations

import datetime

import pytest

from qinglian.approvals.enums import RequestStatus
from qinglian.approvals.history import (
    HistoryStep,
    history_versions,
    request_ids_reserve,
    requests_write,
)
from qinglian.approvals.models import ApprovalAction, ApprovalRequest, ApprovalTask
from qinglian.org.factories import make_company, make_user

pytestmark = pytest.mark.django_db

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2025, 6, day, hour, minute, tzinfo=SHANGHAI)


def request_row(pk: int, source: str, company, requester, status: str, submitted, finished):
    template_id, version_id = history_versions({"expense": ("expense_claim", "费用报销")})[
        "expense"
    ]
    return {
        "id": pk,
        "serial": source,
        "company_id": company.pk,
        "template_id": template_id,
        "version_id": version_id,
        "requester_id": requester.pk,
        "department_id": None,
        "title": "差旅费报销",
        "form_data": {"title": "差旅费报销"},
        "amount": "860.00",
        "status": status,
        "submitted_at": submitted,
        "finished_at": finished,
        "source_id": source,
    }


def trail(request_id: int) -> list[tuple[object, ...]]:
    return [
        (action.kind, action.actor_id, action.step_index, action.data, action.created_at)
        for action in ApprovalAction.objects.filter(request_id=request_id).order_by("pk")
    ]


def test_the_trail_is_written_as_it_happened_for_the_batch_only():
    company = make_company()
    requester, head, finance = (make_user(company=company) for _ in range(3))
    first, between, last = request_ids_reserve(3)
    # A request made here meanwhile, under an id inside the batch's range: not the batch's.
    template_id, version_id = history_versions({"expense": ("expense_claim", "费用报销")})[
        "expense"
    ]
    ApprovalRequest.objects.create(
        pk=between,
        serial="LIVE-1",
        company=company,
        template_id=template_id,
        version_id=version_id,
        requester=requester,
        title="现在的申请",
        status=RequestStatus.IN_PROGRESS,
        submitted_at=at(2, 9),
    )
    approved = request_row(first, "OA-1", company, requester, "approved", at(2, 9), at(3, 10))
    withdrawn = request_row(last, "OA-2", company, requester, "withdrawn", at(2, 10), at(2, 15))
    ids, counts = requests_write(
        [approved, withdrawn],
        {
            "OA-1": [
                HistoryStep(1, "dept_head", head.pk, True, at(2, 21, 30), "同意"),  # after hours
                HistoryStep(2, "finance", finance.pk, True, at(3, 10), ""),
            ],
            "OA-2": [HistoryStep(1, "dept_head", head.pk, True, at(2, 11), "")],
        },
        batch_id="batch-1",
    )

    assert ids == [first, last]
    assert counts == {
        "approvals.approvalrequest": 2,
        "approvals.approvalstep": 3,
        "approvals.approvaltask": 3,
        "approvals.approvalaction": 6,
    }
    assert ApprovalRequest.objects.get(pk=first).source_id == "OA-1"
    assert ApprovalAction.objects.filter(request_id=between).count() == 0
    tasks = {task.step.index: task for task in ApprovalTask.objects.filter(request_id=first)}
    assert trail(first) == [
        ("submitted", requester.pk, None, {"imported": True}, at(2, 9)),
        (
            "approved",
            head.pk,
            1,
            {"after_hours": True, "seconds": 45000, "assignee": head.pk, "imported": True},
            at(2, 21, 30),
        ),
        (
            "approved",
            finance.pk,
            2,
            {"after_hours": False, "seconds": 45000, "assignee": finance.pk, "imported": True},
            at(3, 10),
        ),
    ]
    assert [
        action.task_id
        for action in ApprovalAction.objects.filter(request_id=first, task__isnull=False)
    ] == [tasks[1].pk, tasks[2].pk]
    assert ApprovalAction.objects.get(request_id=first, step_index=1).comment == "同意"
    assert trail(last) == [
        ("submitted", requester.pk, None, {"imported": True}, at(2, 10)),
        (
            "approved",
            head.pk,
            1,
            {"after_hours": False, "seconds": 3600, "assignee": head.pk, "imported": True},
            at(2, 11),
        ),
        ("withdrawn", requester.pk, None, {"imported": True}, at(2, 15)),
    ]
    # ids follow the moments across the batch, as the trail of requests decided here does
    moments = list(
        ApprovalAction.objects.filter(request_id__in=ids)
        .order_by("pk")
        .values_list("created_at", flat=True)
    )
    assert moments == sorted(moments)


def test_history_needs_its_batch():
    with pytest.raises(ValueError, match="import batch"):
        requests_write([], {}, batch_id="")
