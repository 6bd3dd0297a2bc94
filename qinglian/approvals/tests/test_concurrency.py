"""Concurrent approvers and submitters on PostgreSQL, with real threads and real row locks: a
decision takes effect once, whoever races for it, and the same submission makes one request.

The data is committed (transactional tests), so every thread — each on its own connection —
sees it."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from qinglian.approvals import services
from qinglian.approvals.enums import (
    ActionKind,
    ApprovalErrorCode,
    RequestStatus,
    StepStatus,
    TaskStatus,
)
from qinglian.approvals.models import (
    ApprovalAction,
    ApprovalRequest,
    ApprovalStep,
    ApprovalTask,
    Notification,
)
from qinglian.audit.models import AuditEvent
from qinglian.audit.services import audit_chain_verify
from qinglian.core.errors import Conflict
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_project, make_user

ROUNDS = 5  # races per test: each one a fresh request, so a lucky ordering cannot hide a bug

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgresql_only(transactional_db: None) -> None:
    """Real row locks; the tests using it carry the `postgres` marker."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite takes one database-wide write lock, so there are no "
            "row locks to race for (run with DATABASE_URL=postgres://...)"
        )


def _in_thread(work: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    return threading.Thread(target=run, daemon=True)


def _race(calls: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run the calls at the same instant, one thread each: ("ok", result) or ("conflict",
    code) per call, in the calls' order."""
    start = threading.Barrier(len(calls))
    outcomes: list[tuple[str, Any]] = [("not run", None)] * len(calls)
    errors: list[BaseException] = []

    def runner(index: int, call: Callable[[], Any]) -> Callable[[], None]:
        def work() -> None:
            start.wait(timeout=10)
            try:
                outcomes[index] = ("ok", call())
            except Conflict as refused:
                outcomes[index] = ("conflict", refused.code)

        return work

    threads = [_in_thread(runner(i, call), errors) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread never finished"
    assert errors == []
    return outcomes


def _submit(flow: Any, **kwargs: Any) -> ApprovalRequest:
    return services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data(), **kwargs
    )


def _task(request: ApprovalRequest, user: Any) -> ApprovalTask:
    return ApprovalTask.objects.get(request=request, assignee=user, superseded=False)


def _approve(user: Any, task: ApprovalTask) -> Callable[[], ApprovalRequest]:
    return lambda: services.task_approve(actor=user, task_id=task.pk, comment="同意")


def _assert_cost_step_decided_once(flow: Any, request: ApprovalRequest, winner: Any) -> None:
    """The first (any-sign) step approved by `winner` alone, the second step asked once."""
    request.refresh_from_db()
    assert request.status == RequestStatus.IN_PROGRESS
    cost, leader = ApprovalStep.objects.filter(request=request, round=1).order_by("index")[:2]
    assert cost.status == StepStatus.APPROVED
    assert cost.decided_at is not None
    loser = flow.cost_2 if winner == flow.cost_1 else flow.cost_1
    assert {t.assignee_id: t.status for t in cost.tasks.all()} == {
        winner.pk: TaskStatus.APPROVED,
        loser.pk: TaskStatus.CANCELLED,
    }
    approvals = ApprovalAction.objects.filter(request=request, kind=ActionKind.APPROVED)
    assert list(approvals.values_list("actor_id", flat=True)) == [winner.pk]
    audited = AuditEvent.objects.filter(
        action="approvals.request.approved", object_id=str(request.pk)
    )
    assert audited.count() == 1
    assert leader.status == StepStatus.ACTIVE
    assert list(leader.tasks.values_list("assignee_id", "status")) == [
        (flow.leader.pk, TaskStatus.PENDING)
    ]
    assert Notification.objects.filter(user=flow.leader, request=request, kind="task").count() == 1


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_two_any_sign_approvers_at_once_one_decision_counts(postgresql_only, flow, round_number):
    request = _submit(flow)
    outcomes = _race(
        [
            _approve(flow.cost_1, _task(request, flow.cost_1)),
            _approve(flow.cost_2, _task(request, flow.cost_2)),
        ]
    )
    assert sorted(kind for kind, _ in outcomes) == ["conflict", "ok"]
    assert [code for kind, code in outcomes if kind == "conflict"] == [
        ApprovalErrorCode.ALREADY_DECIDED
    ]
    winner = flow.cost_1 if outcomes[0][0] == "ok" else flow.cost_2
    _assert_cost_step_decided_once(flow, request, winner)
    assert audit_chain_verify().is_intact


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_the_same_approval_twice_at_once_takes_effect_once(postgresql_only, flow, round_number):
    request = _submit(flow)
    task = _task(request, flow.cost_1)
    outcomes = _race([_approve(flow.cost_1, task), _approve(flow.cost_1, task)])
    assert sorted(kind for kind, _ in outcomes) == ["conflict", "ok"]
    assert [code for kind, code in outcomes if kind == "conflict"] == [
        ApprovalErrorCode.ALREADY_DECIDED
    ]
    _assert_cost_step_decided_once(flow, request, flow.cost_1)
    task.refresh_from_db()
    assert task.comment == "同意"


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_the_same_submission_twice_at_once_makes_one_request(postgresql_only, flow, round_number):
    key = f"oa-{round_number}"
    outcomes = _race([lambda: _submit(flow, idempotency_key=key)] * 2)
    [request] = ApprovalRequest.objects.all()
    assert request.idempotency_key == key
    # The winner inserts; the twin either read the winner's commit before it started and got
    # the same request back, or raced it to the unique (requester, key) index and was told so.
    for kind, value in outcomes:
        assert (kind, value.pk if kind == "ok" else value) in {
            ("ok", request.pk),
            ("conflict", "conflict"),
        }
    assert ("ok", request.pk) in [(k, v.pk if k == "ok" else v) for k, v in outcomes]
    # nothing of the twin's survives: one route, one trail entry, one audit event, one notice
    assert ApprovalStep.objects.filter(request=request).count() == 3
    assert ApprovalTask.objects.count() == 3
    assert ApprovalAction.objects.filter(kind=ActionKind.SUBMITTED).count() == 1
    assert AuditEvent.objects.filter(action="approvals.request.submitted").count() == 1
    assert Notification.objects.filter(user=flow.cost_1, kind="task").count() == 1
    assert audit_chain_verify().is_intact


def test_the_second_approver_waits_for_the_first_and_is_told_it_is_decided(postgresql_only, flow):
    """The control for the races above: the request row lock really serialises the two."""
    request = _submit(flow)
    first, second = _task(request, flow.cost_1), _task(request, flow.cost_2)
    holding, release, second_done = threading.Event(), threading.Event(), threading.Event()
    refused: list[str] = []
    errors: list[BaseException] = []

    def hold() -> None:
        with transaction.atomic():
            services.task_approve(actor=flow.cost_1, task_id=first.pk)
            holding.set()
            assert release.wait(timeout=30), "never released"

    def approve_second() -> None:
        assert holding.wait(timeout=10)
        try:
            services.task_approve(actor=flow.cost_2, task_id=second.pk)
        except Conflict as error:
            refused.append(error.code)
        finally:
            second_done.set()

    threads = [_in_thread(hold, errors), _in_thread(approve_second, errors)]
    for thread in threads:
        thread.start()
    try:
        assert holding.wait(timeout=10)
        assert not second_done.wait(timeout=1), "the second approver did not wait for the lock"
    finally:
        release.set()
    assert second_done.wait(timeout=10)
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert refused == [ApprovalErrorCode.ALREADY_DECIDED]
    _assert_cost_step_decided_once(flow, request, flow.cost_1)


def test_approvers_of_different_requests_do_not_wait_for_each_other(postgresql_only, flow, org):
    """Two requests of one flow, in two companies: deciding one must not lock out the other
    (only the request row is locked — not the template it was read with)."""
    request_a = _submit(flow)
    leader_b = make_user(company=org.company_b, roles=(RoleCode.LEADER_IN_CHARGE,))
    cost_b = make_user(company=org.company_b, roles=(RoleCode.COST_AUDITOR,))
    project_b = make_project(company=org.company_b, leader=leader_b)
    request_b = services.request_submit(
        actor=org.handler_b,
        template_code="payment",
        form_data=flow.data(project=project_b.pk),
    )
    task_a, task_b = _task(request_a, flow.cost_1), _task(request_b, cost_b)
    holding, release, b_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold_a() -> None:
        with transaction.atomic():
            services.task_approve(actor=flow.cost_1, task_id=task_a.pk)
            holding.set()
            assert release.wait(timeout=30), "never released"

    def approve_b() -> None:
        assert holding.wait(timeout=10)
        services.task_approve(actor=cost_b, task_id=task_b.pk)
        b_done.set()

    holder, other = _in_thread(hold_a, errors), _in_thread(approve_b, errors)
    holder.start()
    other.start()
    try:
        assert b_done.wait(timeout=10), "deciding a request in B waited for one in A"
        assert holder.is_alive() and not release.is_set()
    finally:
        release.set()
        holder.join(timeout=30)
        other.join(timeout=30)
    assert errors == []
    assert _task(request_a, flow.cost_1).status == TaskStatus.APPROVED
    assert _task(request_b, cost_b).status == TaskStatus.APPROVED
    assert audit_chain_verify().is_intact
