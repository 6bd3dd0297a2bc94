"""The approval pages: who may open a request and take each action (the authorization matrix),
and the happy paths a handler and the approvers walk through the pages."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest
from django.forms import FileField
from django.urls import reverse
from django.utils import timezone

from qinglian.approvals import services
from qinglian.approvals.enums import ActionKind, RequestStatus, StepStatus, TaskStatus
from qinglian.approvals.models import (
    ApprovalAction,
    ApprovalRequest,
    ApprovalTask,
    CarbonCopy,
    Notification,
)
from qinglian.approvals.tests.conftest import PAYMENT_DEFINITION
from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR

pytestmark = pytest.mark.usefixtures("english")


def submit(flow, amount="50000.00"):
    return services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data(amount)
    )


def task_of(request, user):
    return ApprovalTask.objects.get(request=request, assignee=user, superseded=False)


def state(request):
    """Everything an action could change."""
    request.refresh_from_db()
    return (
        request.status,
        request.current_round,
        sorted(
            ApprovalTask.objects.filter(request=request).values_list("id", "assignee_id", "status")
        ),
        ApprovalAction.objects.filter(request=request).count(),
        AuditEvent.objects.count(),
        Notification.objects.count(),
        CarbonCopy.objects.count(),
    )


def actor(flow, org, name):
    if name == "anonymous":
        return None
    return getattr(flow, name, None) or getattr(org, name)


def as_user(client, user):
    if user is not None:
        client.force_login(user)
    return client


# ---------------------------------------------------------------- who sees a request


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 302),
        ("no_role", 404),
        ("handler_b", 404),
        ("admin_a", 404),
        ("manager", 404),  # the general manager's step is skipped: not a party
        ("requester", 200),
        ("cost_1", 200),
        ("leader", 200),
        ("inspector", 200),
        ("auditor", 200),
    ],
)
def test_who_opens_the_request_page(client, flow, org, who, expected):
    request = submit(flow)
    url = reverse("approvals:detail", args=[request.pk])
    response = as_user(client, actor(flow, org, who)).get(url)
    assert response.status_code == expected
    if who == "anonymous":
        assert response.url.startswith(reverse("login"))


def test_the_pending_approver_gets_the_action_panel_and_nobody_else(client, flow, org):
    request = submit(flow)
    url = reverse("approvals:detail", args=[request.pk])
    panels = {}
    for who in ["requester", "cost_1", "leader", "inspector"]:
        client.force_login(actor(flow, org, who))
        page = client.get(url).content.decode()
        panels[who] = {
            "decide": 'data-testid="action-panel"' in page,
            "requester": 'data-testid="requester-panel"' in page,
            "comment": 'data-testid="comment-form"' in page,
            "audit": 'data-testid="audit-trail-link"' in page,
        }
    assert panels == {
        "requester": {"decide": False, "requester": True, "comment": True, "audit": False},
        "cost_1": {"decide": True, "requester": False, "comment": True, "audit": False},
        "leader": {"decide": False, "requester": False, "comment": True, "audit": False},
        "inspector": {"decide": False, "requester": False, "comment": False, "audit": True},
    }


# ---------------------------------------------------------------- who may act


def _task_action(name, flow):
    return {
        "approve": {"comment": "同意"},
        "reject": {"comment": "单价超出定额"},
        "return": {"comment": "补充进度证明", "to_step": ""},
        "transfer": {"to_user": flow.head.pk, "comment": "出差"},
        "add_signer": {"user": flow.head.pk, "position": "before", "comment": ""},
    }[name]


REQUEST_ACTIONS = {"withdraw": {"comment": ""}, "urge": {}, "comment": {"comment": "请尽快"}}
TASK_ACTIONS = ["approve", "reject", "return", "transfer", "add_signer"]
ALL_ACTIONS = TASK_ACTIONS + list(REQUEST_ACTIONS)

REFUSED_EVERYWHERE = {name: 404 for name in ALL_ACTIONS}
MATRIX = {
    "anonymous": {name: 302 for name in ALL_ACTIONS},
    "no_role": REFUSED_EVERYWHERE,
    "handler_b": REFUSED_EVERYWHERE,
    "admin_a": REFUSED_EVERYWHERE,
    "requester": {name: 403 for name in TASK_ACTIONS} | {name: 302 for name in REQUEST_ACTIONS},
    "cost_1": {name: 302 for name in TASK_ACTIONS} | {"withdraw": 403, "urge": 403, "comment": 302},
    "inspector": {name: 403 for name in ALL_ACTIONS},
    "auditor": {name: 403 for name in ALL_ACTIONS},
}


@pytest.mark.parametrize("action", ALL_ACTIONS)
@pytest.mark.parametrize("who", list(MATRIX))
def test_authorization_matrix_of_every_action(client, flow, org, who, action):
    """Every POST on cost_1's pending task (or on the request); a refusal changes nothing."""
    request = submit(flow)
    if action in REQUEST_ACTIONS:
        url = reverse(f"approvals:{action}", args=[request.pk])
        data = REQUEST_ACTIONS[action]
    else:
        url = reverse(f"approvals:{action}", args=[task_of(request, flow.cost_1).pk])
        data = _task_action(action, flow)
    before = state(request)
    response = as_user(client, actor(flow, org, who)).post(url, data)
    expected = MATRIX[who][action]
    assert response.status_code == expected, response.content.decode()[:500]
    if who == "anonymous":
        assert response.url.startswith(reverse("login"))
    if expected == 302 and who != "anonymous":
        assert response.url == reverse("approvals:detail", args=[request.pk])
        assert state(request) != before
    else:
        assert state(request) == before


@pytest.mark.parametrize("action", TASK_ACTIONS)
def test_an_approver_whose_step_is_not_reached_cannot_act_yet(client, flow, action):
    request = submit(flow)
    waiting = task_of(request, flow.leader)
    assert waiting.status == TaskStatus.WAITING
    before = state(request)
    client.force_login(flow.leader)
    response = client.post(
        reverse(f"approvals:{action}", args=[waiting.pk]), _task_action(action, flow)
    )
    assert response.status_code == 409
    assert "The request has not reached your step yet." in response.content.decode()
    assert state(request) == before


def test_an_approver_cannot_decide_someone_elses_task(client, flow):
    request = submit(flow)
    before = state(request)
    client.force_login(flow.cost_2)
    response = client.post(
        reverse("approvals:approve", args=[task_of(request, flow.cost_1).pk]), {"comment": ""}
    )
    assert response.status_code == 403
    assert state(request) == before


def test_unknown_task_and_request_are_not_found(client, flow):
    client.force_login(flow.cost_1)
    assert client.post(reverse("approvals:approve", args=[99999])).status_code == 404
    assert client.get(reverse("approvals:detail", args=[99999])).status_code == 404
    assert client.post(reverse("approvals:urge", args=[99999])).status_code == 404


def test_actions_refuse_get(client, flow):
    request = submit(flow)
    client.force_login(flow.cost_1)
    task = task_of(request, flow.cost_1)
    assert client.get(reverse("approvals:approve", args=[task.pk])).status_code == 405
    assert client.get(reverse("approvals:withdraw", args=[request.pk])).status_code == 405


# ---------------------------------------------------------------- the inbox


def test_inbox_tabs_count_and_list(client, flow):
    first = submit(flow)
    submit(flow, "60000.00")
    services.task_approve(actor=flow.cost_1, task_id=task_of(first, flow.cost_1).pk)
    client.force_login(flow.cost_1)
    response = client.get(reverse("approvals:inbox"))
    assert response.status_code == 200
    assert [(name, count) for name, _label, count, _unread in response.context["tabs"]] == [
        ("pending", 1),
        ("done", 1),
        ("submitted", 0),
        ("cc", 0),
    ]
    page = response.content.decode()
    assert page.count('data-testid="task-row"') == 1
    assert reverse("approvals:new") in page
    done = client.get(reverse("approvals:inbox"), {"tab": "done"})
    assert done.content.decode().count('data-testid="done-row"') == 1
    client.force_login(flow.requester)
    mine = client.get(reverse("approvals:inbox"), {"tab": "submitted"})
    assert mine.content.decode().count('data-testid="submitted-row"') == 2


def test_inbox_lists_cc_after_approval(client, flow):
    request = submit(flow)
    services.task_approve(actor=flow.cost_1, task_id=task_of(request, flow.cost_1).pk)
    services.task_approve(actor=flow.leader, task_id=task_of(request, flow.leader).pk)
    client.force_login(flow.finance)
    response = client.get(reverse("approvals:inbox"), {"tab": "cc"})
    assert response.content.decode().count('data-testid="cc-row"') == 1
    # the cc reads the request and may comment; it is a party
    detail = client.get(reverse("approvals:detail", args=[request.pk]))
    assert 'data-testid="comment-form"' in detail.content.decode()
    reply = client.post(reverse("approvals:comment", args=[request.pk]), {"comment": "已付款"})
    assert reply.status_code == 302
    assert request.actions.filter(kind=ActionKind.COMMENTED, actor=flow.finance).exists()


def test_opening_a_copied_request_reads_the_copy(client, flow, org):
    request = submit(flow)
    services.task_approve(actor=flow.cost_1, task_id=task_of(request, flow.cost_1).pk)
    services.task_approve(actor=flow.leader, task_id=task_of(request, flow.leader).pk)
    copy_of = CarbonCopy.objects.get(request=request, user=flow.finance)
    assert copy_of.read_at is None
    client.force_login(flow.requester)  # someone else opening it reads nobody's copy
    client.get(reverse("approvals:detail", args=[request.pk]))
    copy_of.refresh_from_db()
    assert copy_of.read_at is None

    client.force_login(flow.finance)
    inbox = client.get(reverse("approvals:inbox"), {"tab": "pending"})
    tabs = {name: (count, unread) for name, _label, count, unread in inbox.context["tabs"]}
    assert tabs["cc"] == (1, 1)
    assert 'data-testid="unread-cc"' in inbox.content.decode()
    client.get(reverse("approvals:detail", args=[request.pk]))
    copy_of.refresh_from_db()
    first_read = copy_of.read_at
    assert first_read is not None
    inbox = client.get(reverse("approvals:inbox"), {"tab": "cc"})
    assert {name: unread for name, _label, _count, unread in inbox.context["tabs"]}["cc"] == 0
    assert 'data-testid="unread-cc"' not in inbox.content.decode()
    client.get(reverse("approvals:detail", args=[request.pk]))
    copy_of.refresh_from_db()
    assert copy_of.read_at == first_read  # read once


def test_inbox_tab_switch_by_htmx_returns_only_the_body(client, flow):
    submit(flow)
    client.force_login(flow.cost_1)
    response = client.get(
        reverse("approvals:inbox"),
        {"tab": "done"},
        headers={"HX-Request": "true", "HX-Target": "inbox-body"},
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="inbox-body"')
    assert "<html" not in body
    assert "HX-Target" in response["Vary"]


def test_approve_from_the_inbox_with_htmx_swaps_the_row(client, flow):
    request = submit(flow)
    task = task_of(request, flow.cost_1)
    client.force_login(flow.cost_1)
    response = client.post(
        reverse("approvals:approve", args=[task.pk]),
        headers={"HX-Request": "true", "HX-Target": f"task-{task.pk}"},
    )
    assert response.status_code == 200
    row = response.content.decode()
    assert row.lstrip().startswith(f'<li class="list-group-item approval-item" id="task-{task.pk}"')
    assert "<html" not in row
    assert 'data-status="approved"' in row
    assert 'data-testid="approve-button"' not in row
    assert 'id="count-pending" data-testid="count-pending" hx-swap-oob="true">0</span>' in row
    assert 'id="count-done" data-testid="count-done" hx-swap-oob="true">1</span>' in row
    task.refresh_from_db()
    assert task.status == TaskStatus.APPROVED
    assert [t.assignee for t in ApprovalTask.objects.filter(status=TaskStatus.PENDING)] == [
        flow.leader
    ]


def test_a_second_tap_on_a_decided_row_says_so_and_changes_nothing(client, flow):
    request = submit(flow)
    other = task_of(request, flow.cost_2)
    services.task_approve(actor=flow.cost_1, task_id=task_of(request, flow.cost_1).pk)
    before = state(request)
    client.force_login(flow.cost_2)
    response = client.post(
        reverse("approvals:approve", args=[other.pk]),
        headers={"HX-Request": "true", "HX-Target": f"task-{other.pk}"},
    )
    assert response.status_code == 200  # htmx swaps only 2xx: the row carries the refusal
    assert "This step has already been decided." in response.content.decode()
    assert state(request) == before


def test_approve_without_htmx_redirects_to_the_request(client, flow):
    request = submit(flow)
    client.force_login(flow.cost_1)
    response = client.post(
        reverse("approvals:approve", args=[task_of(request, flow.cost_1).pk]), {"comment": "已核"}
    )
    assert response.status_code == 302
    assert response.url == reverse("approvals:detail", args=[request.pk])
    assert task_of(request, flow.cost_1).comment == "已核"
    page = client.get(response.url).content.decode()
    assert "Approved." in page  # the message


# ---------------------------------------------------------------- new requests


def test_new_request_lists_stand_alone_flows_only(client, flow, document_calls):
    services.template_save(
        actor=SYSTEM_ACTOR,
        code="contract",
        name="合同审批",
        definition=PAYMENT_DEFINITION,
        document_type="test.document",
    )
    client.force_login(flow.requester)
    page = client.get(reverse("approvals:new")).content.decode()
    assert reverse("approvals:submit", args=["payment"]) in page
    assert reverse("approvals:submit", args=["contract"]) not in page
    assert client.get(reverse("approvals:submit", args=["contract"])).status_code == 404
    assert client.get(reverse("approvals:submit", args=["nope"])).status_code == 404


def test_submit_through_the_form(client, flow, org):
    client.force_login(flow.requester)
    url = reverse("approvals:submit", args=["payment"])
    form = client.get(url).context["form"]
    assert set(form.fields) == {"title", "amount", "project", "_idempotency_key"}
    # only projects in the handler's scope are offered
    assert {p.company_id for p in form.fields["project"].queryset} == {org.company_a.pk}
    key = form["_idempotency_key"].value()
    assert len(key) == 32
    response = client.post(
        url,
        {
            "title": "三号泊位进度款",
            "amount": "50000",
            "project": flow.project.pk,
            "_idempotency_key": key,
        },
    )
    request = ApprovalRequest.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("approvals:detail", args=[request.pk])
    assert request.form_data == {
        "title": "三号泊位进度款",
        "amount": "50000.00",
        "project": flow.project.pk,
    }
    assert (request.requester, request.idempotency_key) == (flow.requester, key)
    assert {t.assignee for t in ApprovalTask.objects.filter(status=TaskStatus.PENDING)} == {
        flow.cost_1,
        flow.cost_2,
    }


def test_a_double_submit_with_the_same_key_counts_once(client, flow):
    client.force_login(flow.requester)
    url = reverse("approvals:submit", args=["payment"])
    data = {"title": "进度款", "amount": "100", "project": flow.project.pk}
    data["_idempotency_key"] = client.get(url).context["form"]["_idempotency_key"].value()
    first = client.post(url, data)
    second = client.post(url, data)
    assert ApprovalRequest.objects.count() == 1
    assert (
        first.url
        == second.url
        == reverse("approvals:detail", args=[ApprovalRequest.objects.get().pk])
    )


def test_submit_shows_form_errors_and_creates_nothing(client, flow, org):
    client.force_login(flow.requester)
    url = reverse("approvals:submit", args=["payment"])
    other = org.project_a.__class__.objects.create(
        company=org.company_b, code="PB", name="乙项目", leader=org.handler_b
    )
    response = client.post(url, {"title": "", "amount": "12.345", "project": other.pk})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"title", "amount", "project"}
    assert ApprovalRequest.objects.count() == 0
    assert AuditEvent.objects.filter(action__startswith="approvals.request").count() == 0


def test_a_route_nobody_can_approve_is_shown_on_the_form(client, flow):
    definition: dict[str, Any] = copy.deepcopy(PAYMENT_DEFINITION)
    definition["route"][0]["approver"] = {"kind": "role", "role": "warehouse_keeper"}
    services.template_save(
        actor=SYSTEM_ACTOR, code="payment", name="工程款支付", definition=definition
    )
    client.force_login(flow.requester)
    response = client.post(
        reverse("approvals:submit", args=["payment"]),
        {"title": "进度款", "amount": "100", "project": flow.project.pk},
    )
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert any("Nobody can approve the step" in str(error) for error in errors)
    assert ApprovalRequest.objects.count() == 0


EXPENSE = {
    "fields": [
        {"key": "title", "label": "报销事由", "type": "text", "required": True},
        {"key": "kind", "label": "费用类型", "type": "choice", "choices": ["差旅", "办公"]},
        {"key": "spent_on", "label": "日期", "type": "date"},
        {"key": "copies", "label": "份数", "type": "number"},
        {"key": "note", "label": "说明", "type": "textarea"},
        {"key": "payee", "label": "收款人", "type": "person"},
        {"key": "department", "label": "部门", "type": "department"},
        {
            "key": "items",
            "label": "明细",
            "type": "rows",
            "required": True,
            "columns": [
                {"key": "item", "label": "项目", "type": "text", "required": True},
                {"key": "amount", "label": "金额", "type": "money"},
            ],
        },
        {"key": "receipt", "label": "附件", "type": "attachment"},
    ],
    "route": [{"key": "head", "name": "部门负责人", "approver": {"kind": "department_head"}}],
    "title_field": "title",
}


@pytest.fixture
def expense(flow):
    services.template_save(
        actor=SYSTEM_ACTOR, code="expense", name="费用报销", category="财务", definition=EXPENSE
    )
    return "expense"


def test_every_field_type_and_a_detail_table(client, flow, org, expense):
    client.force_login(flow.requester)
    url = reverse("approvals:submit", args=[expense])
    page = client.get(url)
    form = page.context["form"]
    assert "items-5-amount" in form.fields and "items-6-amount" not in form.fields
    assert isinstance(form.fields["receipt"], FileField)  # optional: none is sent below
    assert 'enctype="multipart/form-data"' in page.content.decode()
    response = client.post(
        url,
        {
            "title": "出差报销",
            "kind": "差旅",
            "spent_on": "2025-03-04",
            "copies": "2",
            "note": "北京",
            "payee": flow.cost_1.pk,
            "department": org.department_a.pk,
            "items-1-item": "机票",
            "items-1-amount": "1200.5",
            "items-3-item": "酒店",
            "items-3-amount": "",
            "_idempotency_key": form["_idempotency_key"].value(),
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    request = ApprovalRequest.objects.get()
    assert request.form_data == {
        "title": "出差报销",
        "kind": "差旅",
        "spent_on": "2025-03-04",
        "copies": "2",
        "note": "北京",
        "payee": flow.cost_1.pk,
        "department": org.department_a.pk,
        "items": [{"item": "机票", "amount": "1200.50"}, {"item": "酒店", "amount": None}],
        "receipt": None,
    }
    client.force_login(flow.head)
    detail = client.get(reverse("approvals:detail", args=[request.pk]))
    shown = {field.label: field for field in detail.context["fields"]}
    assert shown["收款人"].text == flow.cost_1.name
    assert shown["部门"].text == org.department_a.name
    assert shown["明细"].rows == [
        [("项目", "机票"), ("金额", "1,200.50")],
        [("项目", "酒店"), ("金额", "—")],
    ]


def test_a_detail_table_problem_lands_on_its_cell(client, flow, expense):
    client.force_login(flow.requester)
    url = reverse("approvals:submit", args=[expense])
    response = client.post(
        url, {"title": "报销", "items-2-item": "机票", "items-4-amount": "30"}
    )  # the second line sent is form row 4; its required "item" is blank
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == ["items-4-item"]
    assert ApprovalRequest.objects.count() == 0
    empty = client.post(url, {"title": "报销"})
    assert empty.context["form"].table_errors == {"items": ["This field is required."]}
    assert 'class="invalid-feedback d-block">This field is required.' in empty.content.decode()


# ---------------------------------------------------------------- deciding on the request page


def test_reject_needs_a_comment(client, flow):
    request = submit(flow)
    task = task_of(request, flow.cost_1)
    before = state(request)
    client.force_login(flow.cost_1)
    response = client.post(reverse("approvals:reject", args=[task.pk]), {"comment": "  "})
    assert response.status_code == 200
    assert response.context["open_action"] == "reject"
    assert response.context["forms"]["reject"].errors == {"comment": ["This field is required."]}
    assert '<details class="approval-more" open data-testid="reject-panel">' in (
        response.content.decode()
    )
    assert state(request) == before
    response = client.post(reverse("approvals:reject", args=[task.pk]), {"comment": "超定额"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED


def test_send_back_to_the_requester_and_resubmit(client, flow):
    request = submit(flow)
    services.task_approve(actor=flow.cost_1, task_id=task_of(request, flow.cost_1).pk)
    client.force_login(flow.leader)
    response = client.post(
        reverse("approvals:return", args=[task_of(request, flow.leader).pk]),
        {"comment": "补充进度证明", "to_step": ""},
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.RETURNED

    client.force_login(flow.requester)
    detail = client.get(reverse("approvals:detail", args=[request.pk])).content.decode()
    assert 'data-testid="resubmit"' in detail
    assert 'data-testid="urge"' not in detail
    url = reverse("approvals:resubmit", args=[request.pk])
    form = client.get(url).context["form"]
    assert form["title"].value() == "三号泊位进度款"
    assert form["project"].value() == flow.project.pk
    response = client.post(
        url, {"title": "三号泊位进度款（补证明）", "amount": "50000.00", "project": flow.project.pk}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.title) == (
        RequestStatus.IN_PROGRESS,
        "三号泊位进度款（补证明）",
    )
    assert [t.assignee for t in ApprovalTask.objects.filter(status=TaskStatus.PENDING)] == [
        flow.leader
    ]
    # once resubmitted, the page no longer offers it
    again = client.get(url)
    assert again.status_code == 302
    assert again.url == reverse("approvals:detail", args=[request.pk])


def test_only_the_requester_opens_the_resubmit_form(client, flow):
    request = submit(flow)
    client.force_login(flow.cost_1)
    assert client.get(reverse("approvals:resubmit", args=[request.pk])).status_code == 403
    client.force_login(flow.manager)
    assert client.get(reverse("approvals:resubmit", args=[request.pk])).status_code == 404


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 302),
        ("no_role", 404),
        ("handler_b", 404),
        ("admin_a", 404),
        ("leader", 403),
        ("inspector", 403),
        ("requester", 302),
    ],
)
def test_who_may_resubmit(client, flow, org, who, expected):
    request = submit(flow)
    services.task_return(
        actor=flow.cost_1, task_id=task_of(request, flow.cost_1).pk, comment="补充"
    )
    before = state(request)
    response = as_user(client, actor(flow, org, who)).post(
        reverse("approvals:resubmit", args=[request.pk]),
        {"title": "改过", "amount": "50000.00", "project": flow.project.pk},
    )
    assert response.status_code == expected
    if who == "requester":
        assert response.url == reverse("approvals:detail", args=[request.pk])
        assert state(request) != before
    else:
        assert state(request) == before


def test_send_back_to_an_earlier_step(client, flow):
    request = submit(flow)
    services.task_approve(actor=flow.cost_1, task_id=task_of(request, flow.cost_1).pk)
    task = task_of(request, flow.leader)
    client.force_login(flow.leader)
    page = client.get(reverse("approvals:detail", args=[request.pk]))
    return_form = page.context["forms"]["return"]
    assert list(return_form.fields["to_step"].widget.choices) == [
        ("", "The requester"),
        (0, "造价审核"),
    ]
    before = state(request)
    later = client.post(
        reverse("approvals:return", args=[task.pk]), {"comment": "重审", "to_step": "2"}
    )
    assert later.status_code == 200
    assert later.context["forms"]["return"].errors["to_step"] == ["Not an earlier approved step."]
    assert state(request) == before
    response = client.post(
        reverse("approvals:return", args=[task.pk]), {"comment": "请重新审核造价", "to_step": "0"}
    )
    assert response.status_code == 302
    assert {t.assignee for t in ApprovalTask.objects.filter(status=TaskStatus.PENDING)} == {
        flow.cost_1,
        flow.cost_2,
    }


def test_transfer_and_add_signer_through_the_page(client, flow, org):
    request = submit(flow)
    client.force_login(flow.cost_1)
    refused = client.post(
        reverse("approvals:transfer", args=[task_of(request, flow.cost_1).pk]),
        {"to_user": flow.requester.pk},
    )
    assert refused.status_code == 200
    assert refused.context["forms"]["transfer"].errors["to_user"] == ["This is the requester."]
    response = client.post(
        reverse("approvals:transfer", args=[task_of(request, flow.cost_1).pk]),
        {"to_user": flow.head.pk, "comment": "出差"},
    )
    assert response.status_code == 302
    assert {t.assignee for t in ApprovalTask.objects.filter(status=TaskStatus.PENDING)} == {
        flow.cost_2,
        flow.head,
    }
    client.force_login(flow.head)
    response = client.post(
        reverse("approvals:add_signer", args=[task_of(request, flow.head).pk]),
        {"user": flow.manager.pk, "position": "before"},
    )
    assert response.status_code == 302
    assert task_of(request, flow.manager).status == TaskStatus.PENDING
    trail = client.get(reverse("approvals:detail", args=[request.pk])).context["trail"]
    notes = [(action.kind, note) for action, _step, note, _files in trail]
    assert (ActionKind.TRANSFERRED, f"To {flow.head.name}") in notes
    assert (ActionKind.SIGNER_ADDED, f"Asked {flow.manager.name} to approve first") in notes


def test_withdraw_and_urge(client, flow):
    request = submit(flow)
    client.force_login(flow.requester)
    urge = reverse("approvals:urge", args=[request.pk])
    assert client.post(urge).status_code == 302
    before = state(request)
    again = client.post(urge)
    assert again.status_code == 409
    assert "You urged less than an hour ago." in again.content.decode()
    assert state(request) == before
    page = client.get(reverse("approvals:detail", args=[request.pk])).content.decode()
    assert 'data-confirm="Withdraw this request?' in page
    response = client.post(reverse("approvals:withdraw", args=[request.pk]), {"comment": "重填"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.WITHDRAWN
    closed = client.post(reverse("approvals:withdraw", args=[request.pk]), {"comment": ""})
    assert closed.status_code == 409


def test_comment_needs_text_or_a_file(client, flow):
    request = submit(flow)
    before = state(request)
    client.force_login(flow.requester)
    response = client.post(reverse("approvals:comment", args=[request.pk]), {"comment": ""})
    assert response.status_code == 200
    assert response.context["open_action"] == "comment"
    assert response.context["forms"]["comment"].errors == {
        "comment": ["Write a comment or attach a file."]
    }
    assert state(request) == before


# ---------------------------------------------------------------- what the page shows


def test_the_page_shows_the_whole_route_and_the_trail(client, flow, org, monkeypatch):
    request = submit(flow)
    services.request_comment(actor=flow.requester, request_id=request.pk, comment="谢谢")
    today = timezone.localdate()
    saturday = today + datetime.timedelta(days=(5 - today.weekday()) % 7 + 7)
    saturday_night = timezone.make_aware(datetime.datetime.combine(saturday, datetime.time(23)))
    monkeypatch.setattr(clock, "now", lambda: saturday_night)
    services.task_approve(
        actor=flow.cost_2, task_id=task_of(request, flow.cost_2).pk, comment="造价已核"
    )
    monkeypatch.undo()
    client.force_login(org.inspector)
    response = client.get(reverse("approvals:detail", args=[request.pk]))
    page = response.content.decode()
    route = response.context["route"]
    assert [(s.node_key, s.status) for s in route] == [
        ("cost", StepStatus.APPROVED),
        ("leader", StepStatus.ACTIVE),
        ("gm", StepStatus.SKIPPED),
    ]
    assert page.count('data-testid="route-step"') == 3
    assert page.count('data-testid="route-task"') == 3  # cost_1 (cancelled), cost_2, leader
    assert page.count('data-testid="after-hours"') == 1
    assert page.count('aria-current="step"') == 1  # the leader, pending
    assert 'data-testid="step-note">Condition not met' in page
    assert "造价已核" in page and "谢谢" in page
    assert "All-sign" not in page and "Any-sign" in page
    kinds = [action.kind for action, _step, _note, _files in response.context["trail"]]
    assert kinds == [ActionKind.SUBMITTED, ActionKind.COMMENTED, ActionKind.APPROVED]
    trail_link = (
        f"{reverse('audit:object_trail')}?object_type=approvals.approvalrequest&amp;"
        f"object_id={request.pk}"
    )
    assert trail_link in page
    assert flow.project.name in page  # the project field shown by name
    assert "¥50,000.00" in page
