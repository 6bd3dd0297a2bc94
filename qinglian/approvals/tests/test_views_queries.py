"""Query budgets: the inbox and the request page cost the same whatever the number of rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from qinglian.approvals import services
from qinglian.approvals.models import ApprovalTask
from qinglian.org.factories import make_user

# Session, user, the user's company (page header), data scope (assignments, company paths), the
# four tab counts and the page's rows; the first page after login also saves the session.
INBOX_BUDGET = 13
# Session, user, scope, the request, visibility, route (steps, tasks with people), trail, files,
# names of the form's references, the person choices of transfer and add-signer, the cc check.
DETAIL_BUDGET = 20


def _queries(client, url: str, params: dict[str, str] | None = None) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(context.captured_queries)


def _submit(flow, count: int) -> None:
    for index in range(count):
        services.request_submit(
            actor=flow.requester,
            template_code="payment",
            form_data=flow.data(f"{1000 + index}.00"),
        )


@pytest.mark.parametrize("tab", ["pending", "done", "submitted", "cc"])
def test_the_inbox_does_not_grow_with_the_tasks(client, flow, tab):
    _submit(flow, 2)
    user = {"pending": flow.cost_1, "done": flow.cost_1, "submitted": flow.requester}.get(
        tab, flow.finance
    )

    def decide_all():
        for task in ApprovalTask.objects.filter(status="pending", assignee=flow.cost_1):
            services.task_approve(actor=flow.cost_1, task_id=task.pk)
        for task in ApprovalTask.objects.filter(status="pending", assignee=flow.leader):
            services.task_approve(actor=flow.leader, task_id=task.pk)

    if tab in ("done", "cc"):
        decide_all()
    client.force_login(user)
    url = reverse("approvals:inbox")
    assert _queries(client, url, {"tab": tab}) <= INBOX_BUDGET
    baseline = _queries(client, url, {"tab": tab})  # the session is not saved again
    assert baseline <= INBOX_BUDGET
    _submit(flow, 30)
    if tab in ("done", "cc"):
        decide_all()
    assert _queries(client, url, {"tab": tab}) == baseline
    page = client.get(url, {"tab": tab})
    assert len(page.context["page_obj"].object_list) == 32


@pytest.mark.parametrize("who", ["cost_1", "requester", "inspector"])
def test_the_request_page_does_not_grow_with_the_route_and_trail(client, flow, org, who):
    request = services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data()
    )
    viewer = getattr(flow, who, None) or getattr(org, who)
    client.force_login(viewer)
    url = reverse("approvals:detail", args=[request.pk])
    assert _queries(client, url) <= DETAIL_BUDGET
    baseline = _queries(client, url)  # the session is not saved again
    assert baseline <= DETAIL_BUDGET
    task = ApprovalTask.objects.get(request=request, assignee=flow.cost_1)
    for index in range(8):
        signer = make_user(company=org.company_a, name=f"专家{index}")
        services.task_add_signer(
            actor=flow.cost_1, task_id=task.pk, user_id=signer.pk, position="after"
        )
    for index in range(20):
        services.request_comment(
            actor=flow.requester, request_id=request.pk, comment=f"补充{index}"
        )
    assert _queries(client, url) == baseline
