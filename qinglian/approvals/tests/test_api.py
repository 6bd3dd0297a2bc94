"""The approvals API: an authorization matrix over every endpoint (anonymous, no role, another
company, another company's administrator, the requester, the pending approver, an approver not
yet reached, the group-wide inspector), then each action's answer, idempotent submission, token
authentication and the query budget of the lists."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from qinglian.approvals import services
from qinglian.approvals.enums import ApprovalErrorCode, RequestStatus, TaskStatus
from qinglian.approvals.models import (
    ApprovalAction,
    ApprovalRequest,
    ApprovalTask,
    Notification,
)
from qinglian.audit.models import AuditEvent
from qinglian.org.factories import make_user
from qinglian.org.services import api_token_create

BASE = "/api/approvals"
WHO = [
    "anonymous",
    "no_role",
    "handler_b",
    "admin_a",
    "requester",
    "pending",
    "waiting",
    "inspector",
]


def user_of(flow, org, who):
    return {
        "anonymous": None,
        "requester": flow.requester,
        "pending": flow.cost_1,  # asked at the first (any-sign) step
        "waiting": flow.leader,  # asked at the second step, not reached yet
    }.get(who, getattr(org, who, None))


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def post(client, url, body=None, **headers):
    data = json.dumps(body) if body is not None else ""
    return client.post(url, data=data, content_type="application/json", headers=headers)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response["X-Request-ID"]
    return body["error"]


def submit(flow, amount="50000.00", **kwargs):
    return services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data(amount), **kwargs
    )


def task_of(request, user):
    return ApprovalTask.objects.get(request=request, assignee=user, superseded=False)


def pending_ids(request):
    return sorted(
        ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING).values_list(
            "assignee_id", flat=True
        )
    )


def snapshot(request):
    """Everything an action could change."""
    request.refresh_from_db()
    return {
        "request": (request.status, request.current_round, request.lock_version),
        "tasks": sorted(ApprovalTask.objects.filter(request=request).values_list("pk", "status")),
        "actions": ApprovalAction.objects.filter(request=request).count(),
        "audit": AuditEvent.objects.count(),
        "notifications": Notification.objects.count(),
    }


# ---------------------------------------------------------------- the matrix: reads

READ_STATUS = {
    "anonymous": 401,
    "no_role": 404,
    "handler_b": 404,
    "admin_a": 404,
    "requester": 200,
    "pending": 200,
    "waiting": 200,
    "inspector": 200,
}
# who: (pending inbox, submitted, unread notifications) right after the submission
OWN_LISTS = {
    "no_role": (0, 0, 0),
    "handler_b": (0, 0, 0),
    "admin_a": (0, 0, 0),
    "requester": (0, 1, 0),
    "pending": (1, 0, 1),
    "waiting": (0, 0, 0),
    "inspector": (0, 0, 0),
}
LISTS = [
    "templates",
    "inbox/pending",
    "inbox/done",
    "requests/submitted",
    "requests/cc",
    "notifications",
]


@pytest.mark.parametrize("who", WHO)
def test_reads(flow, org, who):
    request = submit(flow)
    client = client_for(user_of(flow, org, who))
    response = client.get(f"{BASE}/requests/{request.pk}")
    if READ_STATUS[who] == 401:
        assert_error(response, 401, "not_authenticated")
        for path in LISTS:
            assert_error(client.get(f"{BASE}/{path}"), 401, "not_authenticated")
        return
    if READ_STATUS[who] == 404:
        error = assert_error(response, 404, "not_found")
        missing = assert_error(client.get(f"{BASE}/requests/999999"), 404, "not_found")
        assert error["message"] == missing["message"]  # out of scope looks like missing
    else:
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["id"], body["serial"], body["status"]) == (
            request.pk,
            request.serial,
            "in_progress",
        )
    lists = {path: client.get(f"{BASE}/{path}") for path in LISTS}
    assert {path: r.status_code for path, r in lists.items()} == dict.fromkeys(LISTS, 200)
    assert [t["code"] for t in lists["templates"].json()] == ["payment"]
    inbox, submitted, notices = OWN_LISTS[who]
    pending = lists["inbox/pending"].json()
    assert pending["count"] == inbox
    assert [item["request"]["id"] for item in pending["items"]] == [request.pk] * inbox
    assert lists["inbox/done"].json() == {"items": [], "count": 0}
    assert [r["id"] for r in lists["requests/submitted"].json()["items"]] == [
        request.pk
    ] * submitted
    assert lists["requests/cc"].json() == {"items": [], "count": 0}
    assert lists["notifications"].json()["count"] == notices


# ---------------------------------------------------------------- the matrix: actions


def _task_actions(flow, task):
    url = f"{BASE}/tasks/{task.pk}"
    return [
        (f"{url}/approve", {}),
        (f"{url}/reject", {"comment": "不同意"}),
        (f"{url}/return", {"comment": "补充材料"}),
        (f"{url}/transfer", {"to_user_id": flow.head.pk}),
        (f"{url}/add-signer", {"user_id": flow.head.pk, "position": "before"}),
    ]


def _request_actions(flow, request, *, comment=True):
    url = f"{BASE}/requests/{request.pk}"
    actions = [
        (f"{url}/withdraw", {}),
        (f"{url}/urge", None),
        (f"{url}/resubmit", {"form_data": flow.data()}),
    ]
    return [*actions, (f"{url}/comment", {"comment": "请尽快"})] if comment else actions


def _refused(flow, org, who, request):
    """(url, body, status, code) of every action `who` may not take on the fresh request."""
    mine = task_of(request, flow.cost_1)
    other = task_of(request, flow.cost_2)
    not_reached = task_of(request, flow.leader)
    every = _task_actions(flow, mine) + _request_actions(flow, request)
    if who == "anonymous":
        return [(url, body, 401, "not_authenticated") for url, body in every]
    if who in ("no_role", "handler_b", "admin_a"):
        missing = _task_actions(flow, ApprovalTask(pk=999999))
        return [(url, body, 404, "not_found") for url, body in every + missing]
    not_yours = [
        (url, body, 403, ApprovalErrorCode.NOT_YOUR_TASK) for url, body in _task_actions(flow, mine)
    ]
    not_requester = [
        (url, body, 403, "permission_denied")
        for url, body in _request_actions(flow, request, comment=False)
    ]
    if who == "inspector":  # reads everything, takes part in nothing
        comment = _request_actions(flow, request)[-1]
        return [*not_yours, *not_requester, (*comment, 403, "permission_denied")]
    if who == "requester":
        resubmit = _request_actions(flow, request)[2]
        return [*not_yours, (*resubmit, 409, ApprovalErrorCode.CLOSED)]
    if who == "pending":
        return [
            *[
                (url, body, 403, ApprovalErrorCode.NOT_YOUR_TASK)
                for url, body in _task_actions(flow, other)
            ],
            *not_requester,
        ]
    assert who == "waiting"
    return [
        *not_yours,
        *[
            (url, body, 409, ApprovalErrorCode.NOT_REACHED)
            for url, body in _task_actions(flow, not_reached)
        ],
        *not_requester,
    ]


@pytest.mark.parametrize("who", WHO)
def test_refused_actions_change_nothing(flow, org, who):
    request = submit(flow)
    refused = _refused(flow, org, who, request)
    before = snapshot(request)
    client = client_for(user_of(flow, org, who))
    for url, body, status, code in refused:
        assert_error(post(client, url, body), status, code)
    assert snapshot(request) == before
    assert pending_ids(request) == sorted([flow.cost_1.pk, flow.cost_2.pk])


def test_refused_submissions_change_nothing(flow, org):
    before = (ApprovalRequest.objects.count(), AuditEvent.objects.count())
    body = {"template_code": "payment", "form_data": flow.data()}
    assert_error(post(Client(), f"{BASE}/requests", body), 401, "not_authenticated")
    client = client_for(flow.requester)
    error = assert_error(
        post(client, f"{BASE}/requests", {**body, "form_data": {"amount": "1.234"}}),
        422,
        ApprovalErrorCode.INVALID_FORM,
    )
    assert set(error["fields"]) == {"title", "amount", "project"}
    error = assert_error(post(client, f"{BASE}/requests", {"form_data": {}}), 422, "invalid")
    assert list(error["fields"]) == ["template_code"]
    assert_error(
        post(client, f"{BASE}/requests", {**body, "template_code": "nope"}), 404, "not_found"
    )
    too_long = {"Idempotency-Key": "k" * 65}
    error = assert_error(post(client, f"{BASE}/requests", body, **too_long), 422, "invalid")
    assert list(error["fields"]) == ["header.Idempotency-Key"]
    assert (ApprovalRequest.objects.count(), AuditEvent.objects.count()) == before


# ---------------------------------------------------------------- the actions, allowed


def test_submit_approve_and_follow_the_request(flow):
    requester = client_for(flow.requester)
    response = post(
        requester, f"{BASE}/requests", {"template_code": "payment", "form_data": flow.data()}
    )
    assert response.status_code == 201, response.content
    detail = response.json()
    request = ApprovalRequest.objects.get()
    assert (detail["id"], detail["serial"], detail["title"]) == (
        request.pk,
        request.serial,
        "三号泊位进度款",
    )
    assert detail["form_data"] == {
        "title": "三号泊位进度款",
        "amount": "50000.00",
        "project": flow.project.pk,
    }
    assert detail["requester"] == {"id": flow.requester.pk, "name": flow.requester.name}
    assert [(s["node_key"], s["status"]) for s in detail["route"]] == [
        ("cost", "active"),
        ("leader", "waiting"),
        ("gm", "skipped"),
    ]
    assert [(t["assignee"]["name"], t["status"]) for t in detail["route"][0]["tasks"]] == [
        ("造价一", "pending"),
        ("造价二", "pending"),
    ]
    assert [a["kind"] for a in detail["actions"]] == ["submitted"]

    cost = client_for(flow.cost_1)
    [item] = cost.get(f"{BASE}/inbox/pending").json()["items"]
    assert (item["request"]["id"], item["step_name"], item["status"]) == (
        request.pk,
        "造价审核",
        "pending",
    )
    response = post(cost, f"{BASE}/tasks/{item['id']}/approve", {"comment": "造价已核"})
    assert response.status_code == 200, response.content
    step = response.json()["route"][0]
    assert step["status"] == "approved"
    decided, withdrawn = step["tasks"]
    assert (decided["status"], decided["comment"]) == ("approved", "造价已核")
    assert isinstance(decided["decided_after_hours"], bool)
    assert decided["decision_seconds"] >= 0
    assert decided["decided_at"]
    assert withdrawn["status"] == "cancelled"
    assert_error(
        post(cost, f"{BASE}/tasks/{item['id']}/approve"), 409, ApprovalErrorCode.ALREADY_DECIDED
    )

    leader = client_for(flow.leader)
    [item] = leader.get(f"{BASE}/inbox/pending").json()["items"]
    response = post(leader, f"{BASE}/tasks/{item['id']}/approve")  # no body at all
    assert response.status_code == 200, response.content
    detail = response.json()
    assert detail["status"] == "approved"
    assert detail["finished_at"]
    assert [a["kind"] for a in detail["actions"]] == ["submitted", "approved", "approved"]
    assert detail["actions"][1]["actor"] == {"id": flow.cost_1.pk, "name": "造价一"}

    [done] = cost.get(f"{BASE}/inbox/done").json()["items"]
    assert (done["request"]["id"], done["status"]) == (request.pk, "approved")
    [copied] = client_for(flow.finance).get(f"{BASE}/requests/cc").json()["items"]
    assert (copied["request"]["id"], copied["at"]) == (request.pk, "end")
    notices = requester.get(f"{BASE}/notifications").json()["items"]
    assert [(n["kind"], n["request_id"]) for n in notices] == [("decided", request.pk)]
    [mine] = requester.get(f"{BASE}/requests/submitted").json()["items"]
    assert (mine["id"], mine["status"], mine["template_code"]) == (
        request.pk,
        "approved",
        "payment",
    )


def test_the_same_submission_twice_is_one_request(flow):
    client = client_for(flow.requester)
    body = {"template_code": "payment", "form_data": flow.data()}
    first = post(client, f"{BASE}/requests", body, **{"Idempotency-Key": "oa-4711"})
    second = post(client, f"{BASE}/requests", body, **{"Idempotency-Key": "oa-4711"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert ApprovalRequest.objects.count() == 1
    by_body = {**body, "idempotency_key": "oa-4712"}
    third = post(client, f"{BASE}/requests", by_body)
    fourth = post(client, f"{BASE}/requests", by_body)
    assert third.json()["id"] == fourth.json()["id"] != first.json()["id"]
    assert ApprovalRequest.objects.count() == 2
    assert (
        AuditEvent.objects.filter(action="approvals.request.submitted").count(),
        ApprovalTask.objects.filter(assignee=flow.cost_1).count(),
    ) == (2, 2)


def test_reject_needs_a_reason_and_ends_the_request(flow):
    request = submit(flow)
    client = client_for(flow.cost_1)
    url = f"{BASE}/tasks/{task_of(request, flow.cost_1).pk}/reject"
    error = assert_error(post(client, url), 422, "invalid")
    assert list(error["fields"]) == ["comment"]
    response = post(client, url, {"comment": "单价超出定额"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected"
    other = f"{BASE}/tasks/{task_of(request, flow.cost_2).pk}/approve"
    assert_error(post(client_for(flow.cost_2), other), 409, ApprovalErrorCode.ALREADY_DECIDED)


def test_send_back_then_resubmit(flow):
    request = submit(flow)
    services.task_approve(actor=flow.cost_1, task_id=task_of(request, flow.cost_1).pk)
    leader = client_for(flow.leader)
    url = f"{BASE}/tasks/{task_of(request, flow.leader).pk}/return"
    error = assert_error(post(leader, url, {"comment": "x", "to_step": 2}), 422, "invalid")
    assert list(error["fields"]) == ["to_step"]
    response = post(leader, url, {"comment": "补充进度证明"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "returned"
    requester = client_for(flow.requester)
    url = f"{BASE}/requests/{request.pk}/resubmit"
    error = assert_error(
        post(requester, url, {"form_data": {"title": ""}}), 422, ApprovalErrorCode.INVALID_FORM
    )
    assert set(error["fields"]) == {"title", "amount", "project"}
    response = post(requester, url, {"form_data": flow.data()})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "in_progress"
    assert pending_ids(request) == [flow.leader.pk]  # back at the node that sent it back


def test_send_back_to_an_earlier_step(flow):
    request = submit(flow)
    services.task_approve(actor=flow.cost_1, task_id=task_of(request, flow.cost_1).pk)
    url = f"{BASE}/tasks/{task_of(request, flow.leader).pk}/return"
    response = post(client_for(flow.leader), url, {"comment": "请重新审核造价", "to_step": 0})
    assert response.status_code == 200, response.content
    cost = response.json()["route"][0]
    assert cost["status"] == "active"
    assert [(t["status"], t["superseded"]) for t in cost["tasks"]] == [
        ("approved", True),
        ("cancelled", True),
        ("pending", False),
        ("pending", False),
    ]
    assert pending_ids(request) == sorted([flow.cost_1.pk, flow.cost_2.pk])


def test_transfer_and_add_signer(flow, org):
    request = submit(flow)
    client = client_for(flow.cost_1)
    url = f"{BASE}/tasks/{task_of(request, flow.cost_1).pk}/transfer"
    error = assert_error(post(client, url, {"to_user_id": flow.requester.pk}), 422, "invalid")
    assert list(error["fields"]) == ["to_user"]
    error = assert_error(post(client, url, {}), 422, "invalid")
    assert list(error["fields"]) == ["to_user_id"]
    response = post(client, url, {"to_user_id": flow.head.pk, "comment": "出差"})
    assert response.status_code == 200, response.content
    assert pending_ids(request) == sorted([flow.cost_2.pk, flow.head.pk])
    services.task_approve(actor=flow.head, task_id=task_of(request, flow.head).pk)

    expert = make_user(company=org.company_a, name="外聘专家")
    leader = client_for(flow.leader)
    url = f"{BASE}/tasks/{task_of(request, flow.leader).pk}/add-signer"
    error = assert_error(
        post(leader, url, {"user_id": expert.pk, "position": "instead"}), 422, "invalid"
    )
    assert list(error["fields"]) == ["position"]
    response = post(leader, url, {"user_id": expert.pk, "position": "before"})
    assert response.status_code == 200, response.content
    leader_step = response.json()["route"][1]
    assert [(t["assignee"]["id"], t["status"]) for t in leader_step["tasks"]] == [
        (flow.leader.pk, "waiting"),
        (expert.pk, "pending"),
    ]
    assert response.json()["actions"][-1]["kind"] == "signer_added"


def test_urge_comment_and_withdraw(flow):
    request = submit(flow)
    client = client_for(flow.requester)
    url = f"{BASE}/requests/{request.pk}"
    assert post(client, f"{url}/urge").status_code == 200
    assert Notification.objects.filter(kind="urge").count() == 2  # both cost auditors
    assert_error(post(client, f"{url}/urge"), 409, "conflict")
    error = assert_error(post(client, f"{url}/comment", {"comment": " "}), 422, "invalid")
    assert list(error["fields"]) == ["comment"]
    response = post(client_for(flow.cost_2), f"{url}/comment", {"comment": "附件不清晰"})
    assert response.status_code == 200, response.content
    last = response.json()["actions"][-1]
    assert (last["kind"], last["comment"], last["actor"]["id"]) == (
        "commented",
        "附件不清晰",
        flow.cost_2.pk,
    )
    response = post(client, f"{url}/withdraw")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "withdrawn"
    assert pending_ids(request) == []
    assert_error(post(client, f"{url}/withdraw"), 409, ApprovalErrorCode.CLOSED)
    request.refresh_from_db()
    assert request.status == RequestStatus.WITHDRAWN


# ---------------------------------------------------------------- authentication


def test_bearer_token_works_without_csrf(flow):
    request = submit(flow)
    secret = api_token_create(actor=flow.cost_1, name="OA").secret
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {secret}"})
    [item] = client.get(f"{BASE}/inbox/pending").json()["items"]
    assert item["request"]["id"] == request.pk
    response = post(client, f"{BASE}/tasks/{item['id']}/approve", {"comment": "OA 审批"})
    assert response.status_code == 200, response.content
    assert pending_ids(request) == [flow.leader.pk]
    bad = Client(headers={"Authorization": "Bearer ql_wrong"})
    assert_error(bad.get(f"{BASE}/inbox/pending"), 401, "not_authenticated")


def test_session_writes_need_the_csrf_token(flow):
    request = submit(flow)
    client = Client(enforce_csrf_checks=True)
    client.force_login(flow.cost_1)
    response = post(client, f"{BASE}/tasks/{task_of(request, flow.cost_1).pk}/approve")
    assert response.status_code == 403
    assert pending_ids(request) == sorted([flow.cost_1.pk, flow.cost_2.pk])


# ---------------------------------------------------------------- schema and budgets


def test_openapi_documents_every_endpoint(flow):
    schema = client_for(flow.requester).get("/api/openapi.json").json()
    paths = {path for path in schema["paths"] if path.startswith(f"{BASE}/")}
    tasks = {f"{BASE}/tasks/{{task_id}}/{verb}" for verb in ("approve", "reject", "return")}
    tasks |= {f"{BASE}/tasks/{{task_id}}/{verb}" for verb in ("transfer", "add-signer")}
    requests = {
        f"{BASE}/requests/{{request_id}}/{verb}"
        for verb in ("withdraw", "urge", "comment", "resubmit")
    }
    reads = {
        f"{BASE}/{path}"
        for path in (*LISTS, "requests", "requests/{request_id}")
        if path != "requests"
    }
    assert paths == tasks | requests | reads | {f"{BASE}/requests"}
    detail = {"$ref": "#/components/schemas/RequestDetailOut"}
    submit_op = schema["paths"][f"{BASE}/requests"]["post"]
    assert submit_op["responses"]["201"]["content"]["application/json"]["schema"] == detail
    assert {"422", "409", "404", "403", "401"} <= set(submit_op["responses"])
    assert [p["name"] for p in submit_op["parameters"]] == ["Idempotency-Key"]
    for path in tasks | requests:
        responses = schema["paths"][path]["post"]["responses"]
        assert responses["200"]["content"]["application/json"]["schema"] == detail, path
        assert responses["409"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"
        }
    components = schema["components"]["schemas"]
    assert {"route", "actions", "form_data"} <= set(components["RequestDetailOut"]["properties"])
    assert {"decided_after_hours", "decision_seconds"} <= set(components["TaskOut"]["properties"])


def _queries(client, url):
    """The queries of one GET, less the session's own bookkeeping."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    ours = [
        query
        for query in captured.captured_queries
        if "django_session" not in query["sql"] and "SAVEPOINT" not in query["sql"]
    ]
    return len(ours), response.json()


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("cost_1", "inbox/pending"),
        ("cost_1", "inbox/done"),
        ("requester", "requests/submitted"),
        ("finance", "requests/cc"),
        ("cost_1", "notifications"),
    ],
)
def test_list_pages_cost_the_same_for_one_row_or_many(flow, who, path):
    client = client_for(getattr(flow, who))

    def two_more():
        submit(flow)  # waits for the cost auditors
        request = submit(flow)  # approved, copied to finance
        for approver in (flow.cost_1, flow.leader):
            services.task_approve(actor=approver, task_id=task_of(request, approver).pk)

    two_more()
    first, body = _queries(client, f"{BASE}/{path}")
    assert body["count"] >= 1
    two_more()
    two_more()
    count, body = _queries(client, f"{BASE}/{path}")
    assert body["count"] >= 3
    assert (first, count) == (3, 3)  # the user, the count, the page


def test_detail_costs_the_same_however_long_the_trail(flow):
    request = submit(flow)
    client = client_for(flow.requester)
    url = f"{BASE}/requests/{request.pk}"
    first, _ = _queries(client, url)
    for text in ("一", "二", "三"):
        services.request_comment(actor=flow.requester, request_id=request.pk, comment=text)
    services.task_approve(actor=flow.cost_1, task_id=task_of(request, flow.cost_1).pk)
    count, body = _queries(client, url)
    assert len(body["actions"]) == 5
    # the user; the request (its requester needs no scope check); steps; tasks with their
    # assignees; trail
    assert (first, count) == (5, 5)
