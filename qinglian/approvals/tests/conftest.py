from dataclasses import dataclass
from typing import Any

import pytest

from qinglian.approvals import registry
from qinglian.approvals.services import template_save
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.org import services as org_services
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_project, make_user
from qinglian.org.models import Project, User

PAYMENT_DEFINITION: dict[str, Any] = {
    "fields": [
        {"key": "title", "label": "事由", "type": "text", "required": True},
        {"key": "amount", "label": "金额", "type": "money", "required": True},
        {"key": "project", "label": "工程项目", "type": "project", "required": True},
    ],
    "route": [
        {
            "key": "cost",
            "name": "造价审核",
            "approver": {"kind": "role", "role": "cost_auditor"},
            "mode": "any",
        },
        {"key": "leader", "name": "分管领导", "approver": {"kind": "leader_in_charge"}},
        {
            "key": "gm",
            "name": "总经理",
            "approver": {"kind": "role", "role": "general_manager"},
            "condition": {"all": [{"field": "amount", "op": "gt", "value": "1000000"}]},
        },
    ],
    "cc": [{"at": "end", "approver": {"kind": "role", "role": "finance"}}],
    "title_field": "title",
    "amount_field": "amount",
}


@dataclass
class Flow:
    requester: User
    head: User
    cost_1: User
    cost_2: User
    leader: User
    manager: User
    finance: User
    project: Project

    def data(self, amount="50000.00", **extra):
        return {"title": "三号泊位进度款", "amount": amount, "project": self.project.pk, **extra}


def build_flow(org) -> Flow:
    company = org.company_a
    head = make_user(company=company, roles=(RoleCode.DEPARTMENT_HEAD,), name="部门负责人")
    org_services.department_update(
        actor=SYSTEM_ACTOR, department_id=org.department_a.pk, head_id=head.pk
    )
    leader = make_user(company=company, roles=(RoleCode.LEADER_IN_CHARGE,), name="分管领导")
    flow = Flow(
        requester=org.handler_a,
        head=head,
        cost_1=make_user(company=company, roles=(RoleCode.COST_AUDITOR,), name="造价一"),
        cost_2=make_user(company=company, roles=(RoleCode.COST_AUDITOR,), name="造价二"),
        leader=leader,
        manager=make_user(company=company, roles=(RoleCode.GENERAL_MANAGER,), name="总经理"),
        finance=make_user(company=company, roles=(RoleCode.FINANCE,), name="财务"),
        project=make_project(company=company, leader=leader),
    )
    template_save(
        actor=SYSTEM_ACTOR, code="payment", name="工程款支付", definition=PAYMENT_DEFINITION
    )
    return flow


@pytest.fixture
def flow(org, shared_layers) -> Flow:
    return shared_layers.get("flow", build_flow, org)


@pytest.fixture
def document_calls():
    """A registered document type that records the engine's callbacks."""
    calls: list[tuple[str, int]] = []

    def record(kind):
        return lambda *, request, actor: calls.append((kind, request.pk))

    registry.register_document_type(
        registry.DocumentType(
            key="test.document",
            label="测试单据",
            on_approved=record("approved"),
            on_rejected=record("rejected"),
            on_withdrawn=record("withdrawn"),
        )
    )
    yield calls
    registry.unregister_document_type("test.document")
