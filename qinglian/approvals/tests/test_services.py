import copy

import pytest

from qinglian.approvals import selectors, services
from qinglian.approvals.enums import (
    ActionKind,
    ApprovalErrorCode,
    RequestStatus,
    StepStatus,
    TaskStatus,
)
from qinglian.approvals.models import ApprovalRequest, ApprovalTask, CarbonCopy, Notification
from qinglian.approvals.tests.conftest import PAYMENT_DEFINITION
from qinglian.audit.models import AuditEvent
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from qinglian.org.enums import RoleCode
from qinglian.org.factories import grant, make_user


def submit(flow, amount="50000.00", **kwargs):
    return services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data(amount), **kwargs
    )


def pending(request, user=None):
    tasks = ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING)
    if user is not None:
        tasks = tasks.filter(assignee=user)
    return list(tasks.order_by("id"))


def approve(request, user, comment=""):
    [task] = pending(request, user)
    return services.task_approve(actor=user, task_id=task.pk, comment=comment)


def step_states(request):
    request.refresh_from_db()
    return [
        (step.node_key, step.status)
        for step in request.steps.filter(round=request.current_round).order_by("index")
    ]


def test_engineering_payment_runs_its_route_and_copies_finance_at_the_end(flow):
    request = submit(flow)
    assert request.serial.startswith("SP")
    assert request.title == "三号泊位进度款"
    assert step_states(request) == [
        ("cost", StepStatus.ACTIVE),
        ("leader", StepStatus.WAITING),
        ("gm", StepStatus.SKIPPED),
    ]
    assert {t.assignee for t in pending(request)} == {flow.cost_1, flow.cost_2}
    approve(request, flow.cost_2, "造价已核")
    # any-sign: one approval decides the step, the other person's task is withdrawn
    assert ApprovalTask.objects.get(request=request, assignee=flow.cost_1).status == "cancelled"
    assert [t.assignee for t in pending(request)] == [flow.leader]
    approve(request, flow.leader)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert request.finished_at is not None
    assert CarbonCopy.objects.filter(request=request, user=flow.finance, at="end").exists()
    assert Notification.objects.filter(user=flow.requester, request=request, kind="decided")
    kinds = list(request.actions.values_list("kind", flat=True))
    assert kinds == [ActionKind.SUBMITTED, ActionKind.APPROVED, ActionKind.APPROVED]
    actions = set(
        AuditEvent.objects.filter(
            object_type="approvals.approvalrequest", object_id=str(request.pk)
        ).values_list("action", flat=True)
    )
    assert actions == {
        "approvals.request.submitted",
        "approvals.request.approved",
    }
    decided = ApprovalTask.objects.get(request=request, assignee=flow.leader)
    assert decided.decided_after_hours is not None
    assert decided.decision_seconds is not None


def test_large_amounts_add_the_general_manager(flow):
    request = submit(flow, amount="1200000.00")
    assert ("gm", StepStatus.WAITING) in step_states(request)
    approve(request, flow.cost_1)
    approve(request, flow.leader)
    assert [t.assignee for t in pending(request)] == [flow.manager]
    approve(request, flow.manager)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED


def test_a_running_request_keeps_its_template_version(flow):
    first = submit(flow)
    changed = copy.deepcopy(PAYMENT_DEFINITION)
    changed["route"].insert(
        0, {"key": "head", "name": "部门负责人", "approver": {"kind": "department_head"}}
    )
    template = services.template_save(
        actor=SYSTEM_ACTOR, code="payment", name="工程款支付", definition=changed
    )
    assert template.current_version.number == 2
    second = submit(flow)
    assert first.version.number == 1 and second.version.number == 2
    assert [s for s, _ in step_states(first)] == ["cost", "leader", "gm"]
    assert [s for s, _ in step_states(second)] == ["head", "cost", "leader", "gm"]
    assert [t.assignee for t in pending(second)] == [flow.head]


def test_the_requester_never_approves_their_own_request_superior_rule(flow):
    grant(flow.requester, RoleCode.COST_AUDITOR, flow.requester.company)
    request = submit(flow)
    assignees = {t.assignee for t in pending(request)}
    assert flow.requester not in assignees
    assert flow.head in assignees  # the superior takes the requester's place
    rerouted = request.actions.get(kind=ActionKind.SELF_REROUTED)
    assert rerouted.data["replaced_by"] == [flow.head.pk]
    step = request.steps.get(node_key="cost")
    assert step.note


def test_the_requester_never_approves_their_own_request_skip_rule(flow, org):
    services.template_save(
        actor=SYSTEM_ACTOR,
        code="payment",
        name="工程款支付",
        definition=PAYMENT_DEFINITION,
        self_approval_rule="skip",
    )
    solo = make_user(company=org.company_a, roles=(RoleCode.COST_AUDITOR,), name="独审")
    definition = copy.deepcopy(PAYMENT_DEFINITION)
    definition["route"][0]["approver"] = {"kind": "users", "users": [flow.requester.pk]}
    services.template_save(
        actor=SYSTEM_ACTOR,
        code="payment",
        name="工程款支付",
        definition=definition,
        self_approval_rule="skip",
    )
    request = submit(flow)
    assert step_states(request)[0] == ("cost", StepStatus.SKIPPED)
    assert [t.assignee for t in pending(request)] == [flow.leader]
    assert solo not in {t.assignee for t in pending(request)}


def _with_mode(mode):
    definition = copy.deepcopy(PAYMENT_DEFINITION)
    definition["route"][0]["mode"] = mode
    services.template_save(
        actor=SYSTEM_ACTOR, code="payment", name="工程款支付", definition=definition
    )


def test_all_sign_needs_everyone(flow):
    _with_mode("all")
    request = submit(flow)
    approve(request, flow.cost_1)
    assert [t.assignee for t in pending(request)] == [flow.cost_2]
    approve(request, flow.cost_2)
    assert [t.assignee for t in pending(request)] == [flow.leader]


def test_sequential_asks_one_after_another(flow):
    _with_mode("sequential")
    request = submit(flow)
    assert [t.assignee for t in pending(request)] == [flow.cost_1]
    approve(request, flow.cost_1)
    assert [t.assignee for t in pending(request)] == [flow.cost_2]
    approve(request, flow.cost_2)
    assert [t.assignee for t in pending(request)] == [flow.leader]


def test_reject_ends_the_request_and_nobody_acts_after_it(flow):
    request = submit(flow)
    [task] = pending(request, flow.cost_1)
    with pytest.raises(ValidationFailed):
        services.task_reject(actor=flow.cost_1, task_id=task.pk, comment=" ")
    services.task_reject(actor=flow.cost_1, task_id=task.pk, comment="单价超出定额")
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED
    other = ApprovalTask.objects.get(request=request, assignee=flow.cost_2)
    assert other.status == TaskStatus.CANCELLED
    with pytest.raises(Conflict) as refused:
        services.task_approve(actor=flow.cost_2, task_id=other.pk)
    assert refused.value.code == ApprovalErrorCode.ALREADY_DECIDED


def test_send_back_to_the_requester_then_resume_at_the_returning_node(flow):
    request = submit(flow)
    approve(request, flow.cost_1)
    [task] = pending(request, flow.leader)
    services.task_return(actor=flow.leader, task_id=task.pk, comment="补充进度证明")
    request.refresh_from_db()
    assert request.status == RequestStatus.RETURNED
    assert pending(request) == []
    services.request_resubmit(actor=flow.requester, request_id=request.pk, form_data=flow.data())
    request.refresh_from_db()
    assert request.status == RequestStatus.IN_PROGRESS
    assert request.current_round == 1
    assert [t.assignee for t in pending(request)] == [flow.leader]  # straight back


def test_resubmission_that_changes_the_route_starts_again(flow):
    request = submit(flow)
    approve(request, flow.cost_1)
    [task] = pending(request, flow.leader)
    services.task_return(actor=flow.leader, task_id=task.pk, comment="金额有误")
    services.request_resubmit(
        actor=flow.requester, request_id=request.pk, form_data=flow.data("1500000.00")
    )
    request.refresh_from_db()
    assert request.current_round == 2
    assert {t.assignee for t in pending(request)} == {flow.cost_1, flow.cost_2}
    assert ("gm", StepStatus.WAITING) in step_states(request)


def test_send_back_to_an_earlier_step(flow):
    request = submit(flow)
    approve(request, flow.cost_1)
    [task] = pending(request, flow.leader)
    with pytest.raises(ValidationFailed):
        services.task_return(actor=flow.leader, task_id=task.pk, comment="x", to_step=2)
    services.task_return(actor=flow.leader, task_id=task.pk, comment="请重新审核造价", to_step=0)
    assert {t.assignee for t in pending(request)} == {flow.cost_1, flow.cost_2}
    approve(request, flow.cost_2)
    assert [t.assignee for t in pending(request)] == [flow.leader]


def test_transfer_hands_the_task_over(flow, org):
    request = submit(flow)
    [task] = pending(request, flow.cost_1)
    with pytest.raises(ValidationFailed):
        services.task_transfer(actor=flow.cost_1, task_id=task.pk, to_user_id=flow.requester.pk)
    with pytest.raises(ValidationFailed):
        services.task_transfer(actor=flow.cost_1, task_id=task.pk, to_user_id=org.handler_b.pk)
    services.task_transfer(
        actor=flow.cost_1, task_id=task.pk, to_user_id=flow.head.pk, comment="出差，转部门负责人"
    )
    task.refresh_from_db()
    assert task.status == TaskStatus.TRANSFERRED
    assert {t.assignee for t in pending(request)} == {flow.cost_2, flow.head}
    approve(request, flow.head)
    assert [t.assignee for t in pending(request)] == [flow.leader]


def test_add_signer_before_and_after(flow, org):
    expert = make_user(company=org.company_a, name="外聘专家")
    request = submit(flow)
    approve(request, flow.cost_1)
    [task] = pending(request, flow.leader)
    services.task_add_signer(
        actor=flow.leader, task_id=task.pk, user_id=expert.pk, position="before"
    )
    assert [t.assignee for t in pending(request)] == [expert]
    approve(request, expert)
    assert [t.assignee for t in pending(request)] == [flow.leader]
    [task] = pending(request, flow.leader)
    services.task_add_signer(
        actor=flow.leader, task_id=task.pk, user_id=flow.head.pk, position="after"
    )
    approve(request, flow.leader)
    assert [t.assignee for t in pending(request)] == [flow.head]
    approve(request, flow.head)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED


def test_withdraw_is_for_the_requester_of_an_open_request(flow, document_calls):
    request = submit(flow)
    with pytest.raises(PermissionDenied):
        services.request_withdraw(actor=flow.cost_1, request_id=request.pk)
    services.request_withdraw(actor=flow.requester, request_id=request.pk)
    request.refresh_from_db()
    assert request.status == RequestStatus.WITHDRAWN
    assert pending(request) == []
    with pytest.raises(Conflict):
        services.request_withdraw(actor=flow.requester, request_id=request.pk)


def test_someone_approving_twice_is_approved_automatically(flow):
    definition = copy.deepcopy(PAYMENT_DEFINITION)
    definition["route"].insert(
        1,
        {
            "key": "cost_again",
            "name": "造价复核",
            "approver": {"kind": "users", "users": [flow.cost_1.pk]},
        },
    )
    services.template_save(
        actor=SYSTEM_ACTOR, code="payment", name="工程款支付", definition=definition
    )
    request = submit(flow)
    approve(request, flow.cost_1)
    assert [t.assignee for t in pending(request)] == [flow.leader]
    assert request.actions.filter(kind=ActionKind.AUTO_APPROVED).count() == 1


def test_only_the_pending_approver_acts(flow, org):
    request = submit(flow)
    [task] = pending(request, flow.cost_1)
    with pytest.raises(PermissionDenied):
        services.task_approve(actor=flow.requester, task_id=task.pk)
    with pytest.raises(NotFound):
        services.task_approve(actor=org.handler_b, task_id=task.pk)
    with pytest.raises(NotFound):
        services.task_approve(actor=org.no_role, task_id=task.pk)
    [leader_task] = ApprovalTask.objects.filter(request=request, assignee=flow.leader)
    with pytest.raises(Conflict):  # not reached yet: no node can be skipped
        services.task_approve(actor=flow.leader, task_id=leader_task.pk)
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING


def test_the_same_submission_twice_counts_once(flow):
    first = submit(flow, idempotency_key="form-123")
    second = submit(flow, idempotency_key="form-123")
    assert first.pk == second.pk
    assert ApprovalRequest.objects.count() == 1


def test_a_node_nobody_can_approve_refuses_the_submission(flow):
    definition = copy.deepcopy(PAYMENT_DEFINITION)
    definition["route"][0]["approver"] = {"kind": "role", "role": "warehouse_keeper"}
    services.template_save(
        actor=SYSTEM_ACTOR, code="payment", name="工程款支付", definition=definition
    )
    with pytest.raises(ValidationFailed) as refused:
        submit(flow)
    assert refused.value.code == ApprovalErrorCode.NO_APPROVER
    assert ApprovalRequest.objects.count() == 0


def test_form_errors_name_the_fields(flow, org):
    with pytest.raises(ValidationFailed) as refused:
        services.request_submit(
            actor=flow.requester,
            template_code="payment",
            form_data={"amount": "12.345", "project": flow.project.pk, "extra": 1},
        )
    assert set(refused.value.fields) == {"title", "amount", "extra"}
    other_project = org.project_a.__class__.objects.create(
        company=org.company_b, code="PB", name="乙项目", leader=org.handler_b
    )
    with pytest.raises(ValidationFailed) as refused:
        services.request_submit(
            actor=flow.requester,
            template_code="payment",
            form_data=flow.data() | {"project": other_project.pk},
        )
    assert list(refused.value.fields) == ["project"]


def test_who_sees_a_request(flow, org):
    request = submit(flow)
    visible = {
        who: selectors.request_visible(user=getattr(org, who)).filter(pk=request.pk).exists()
        for who in ["no_role", "handler_b", "admin_a", "inspector", "auditor", "handler_a"]
    }
    assert visible == {
        "no_role": False,
        "handler_b": False,
        "admin_a": False,
        "inspector": True,
        "auditor": True,
        "handler_a": True,
    }
    assert selectors.request_visible(user=flow.cost_2).filter(pk=request.pk).exists()
    assert not selectors.request_visible(user=flow.manager).filter(pk=request.pk).exists()
    with pytest.raises(NotFound):
        selectors.request_access(user=flow.manager, request_id=request.pk)
    with pytest.raises(PermissionDenied):  # oversight reads, never takes part
        services.request_comment(actor=org.inspector, request_id=request.pk, comment="x")


def test_urge_reminds_the_pending_approvers_once_an_hour(flow):
    request = submit(flow)
    services.request_urge(actor=flow.requester, request_id=request.pk)
    assert Notification.objects.filter(kind="urge", user=flow.cost_1).count() == 1
    with pytest.raises(Conflict):
        services.request_urge(actor=flow.requester, request_id=request.pk)


def test_a_bound_document_takes_effect_only_through_the_callback(flow, document_calls):
    definition = copy.deepcopy(PAYMENT_DEFINITION)
    services.template_save(
        actor=SYSTEM_ACTOR,
        code="contract",
        name="合同审批",
        definition=definition,
        document_type="test.document",
    )
    with pytest.raises(ValidationFailed):
        services.request_submit(
            actor=flow.requester, template_code="contract", form_data=flow.data()
        )
    request = services.request_submit(
        actor=flow.requester,
        template_code="contract",
        form_data=flow.data(),
        document_type="test.document",
        document_id="42",
    )
    with pytest.raises(Conflict):  # one open approval per document
        services.request_submit(
            actor=flow.requester,
            template_code="contract",
            form_data=flow.data(),
            document_type="test.document",
            document_id="42",
        )
    assert document_calls == []
    approve(request, flow.cost_1)
    assert document_calls == []
    approve(request, flow.leader)
    assert document_calls == [("approved", request.pk)]


def test_template_definitions_are_validated(org):
    bad = copy.deepcopy(PAYMENT_DEFINITION)
    bad["route"][2]["condition"] = {"all": [{"field": "nope", "op": "gt", "value": 1}]}
    with pytest.raises(ValidationFailed):
        services.template_save(actor=SYSTEM_ACTOR, code="x", name="x", definition=bad)
    bad = copy.deepcopy(PAYMENT_DEFINITION)
    bad["route"][0]["condition"] = "amount > 100"  # strings are never evaluated
    with pytest.raises(ValidationFailed):
        services.template_save(actor=SYSTEM_ACTOR, code="x", name="x", definition=bad)
    with pytest.raises(PermissionDenied):
        services.template_save(actor=org.admin_a, code="x", name="x", definition=PAYMENT_DEFINITION)
    services.template_save(actor=org.admin_group, code="x", name="x", definition=PAYMENT_DEFINITION)
