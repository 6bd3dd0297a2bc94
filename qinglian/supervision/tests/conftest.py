"""Fixtures for supervision: two approval flows with amount thresholds, the people who act on
cases, a frozen clock, and history rows written the way an import of old approvals would
(requests with their decisions, times and facts), so rules can be tested on exact data."""

import datetime
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from qinglian.approvals.enums import ActionKind, RequestStatus, StepStatus, TaskStatus
from qinglian.approvals.models import (
    ApprovalAction,
    ApprovalRequest,
    ApprovalStep,
    ApprovalTask,
    ApprovalTemplate,
)
from qinglian.approvals.services import template_save
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.org import services as org_services
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_user
from qinglian.org.models import User
from qinglian.supervision import services
from qinglian.supervision.models import Finding

# A Wednesday, mid-morning, Shanghai time.
NOW = timezone.make_aware(datetime.datetime(2026, 3, 11, 10, 0))

PAYMENT: dict[str, Any] = {
    "fields": [
        {"key": "title", "label": "事由", "type": "text", "required": True},
        {"key": "amount", "label": "金额", "type": "money", "required": True},
        {"key": "payee", "label": "收款人", "type": "person"},
    ],
    "route": [
        {"key": "head", "name": "部门负责人", "approver": {"kind": "department_head"}},
        {"key": "finance", "name": "财务", "approver": {"kind": "role", "role": "finance"}},
        {
            "key": "gm",
            "name": "总经理",
            "approver": {"kind": "role", "role": "general_manager"},
            "condition": {"all": [{"field": "amount", "op": "gt", "value": "1000000"}]},
        },
    ],
    "title_field": "title",
    "amount_field": "amount",
}

EXPENSE: dict[str, Any] = {
    "fields": [
        {"key": "title", "label": "事由", "type": "text", "required": True},
        {"key": "amount", "label": "金额", "type": "money", "required": True},
    ],
    "route": [
        {"key": "finance", "name": "财务", "approver": {"kind": "role", "role": "finance"}},
        {
            "key": "leader",
            "name": "分管领导",
            "approver": {"kind": "role", "role": "leader_in_charge"},
            "condition": {"any": [{"field": "amount", "op": "gte", "value": "5000"}]},
        },
    ],
    "title_field": "title",
    "amount_field": "amount",
}


class FrozenClock:
    def __init__(self, moment: datetime.datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime.datetime:
        return self.moment

    def set(self, moment: datetime.datetime) -> datetime.datetime:
        self.moment = moment
        return moment

    def advance(self, **delta: float) -> datetime.datetime:
        self.moment += datetime.timedelta(**delta)
        return self.moment


@pytest.fixture
def frozen(monkeypatch):
    frozen = FrozenClock(NOW)
    monkeypatch.setattr(clock, "now", frozen)
    return frozen


@dataclass
class People:
    head_a: User  # head of department A
    finance_a: User
    finance_b: User
    manager_a: User  # general manager of A: a unit leader for A's cases
    leader_a: User  # leader in charge of A
    inspector_2: User  # a second group-wide inspector (four eyes)
    inspector_a: User  # an inspector of company A only
    staff_a: User  # another employee of A (a payee)


@pytest.fixture
def people(org, frozen) -> People:
    company = org.company_a
    head = make_user(
        company=company,
        department=org.department_a,
        roles=(RoleCode.DEPARTMENT_HEAD,),
        username="head_a",
        name="甲部门负责人",
    )
    org_services.department_update(
        actor=SYSTEM_ACTOR, department_id=org.department_a.pk, head_id=head.pk
    )
    result = People(
        head_a=head,
        finance_a=make_user(
            company=company, roles=(RoleCode.FINANCE,), username="finance_a", name="甲财务"
        ),
        finance_b=make_user(
            company=org.company_b, roles=(RoleCode.FINANCE,), username="finance_b", name="乙财务"
        ),
        manager_a=make_user(
            company=company,
            roles=(RoleCode.GENERAL_MANAGER,),
            username="manager_a",
            name="甲总经理",
        ),
        leader_a=make_user(
            company=company,
            roles=(RoleCode.LEADER_IN_CHARGE,),
            username="leader_a",
            name="甲分管领导",
        ),
        inspector_2=make_user(
            company=org.group, roles=(RoleCode.INSPECTOR,), username="inspector_2", name="纪委二"
        ),
        inspector_a=make_user(
            company=company, roles=(RoleCode.INSPECTOR,), username="inspector_a", name="甲纪检"
        ),
        staff_a=make_user(
            company=company, department=org.department_a, username="staff_a", name="甲员工"
        ),
    )
    make_user(
        company=org.company_b,
        roles=(RoleCode.GENERAL_MANAGER, RoleCode.LEADER_IN_CHARGE),
        username="manager_b",
        name="乙总经理",
    )
    return result


@pytest.fixture
def flows(people):
    template_save(actor=SYSTEM_ACTOR, code="payment", name="付款", definition=PAYMENT)
    template_save(actor=SYSTEM_ACTOR, code="expense", name="费用报销", definition=EXPENSE)
    return people


_serial = itertools.count(1)


def history_request(
    *,
    requester: User,
    amount: str | Decimal | None,
    submitted_at: datetime.datetime,
    template_code: str = "payment",
    decisions: tuple[tuple[User, datetime.datetime, int, bool], ...] = (),
    status: str = RequestStatus.APPROVED,
    form_data: dict[str, Any] | None = None,
    automatic: tuple[User, ...] = (),
) -> ApprovalRequest:
    """A request as an import of old approvals writes it: the request, one step, and per
    decision (approver, decided at, seconds it took, after hours) a task and an action."""
    template = ApprovalTemplate.objects.select_related("current_version").get(code=template_code)
    number = next(_serial)
    request = ApprovalRequest.objects.create(
        serial=f"H{number:06d}",
        company_id=requester.company_id or 0,
        template=template,
        version=template.current_version,  # type: ignore[misc]
        requester=requester,
        department_id=requester.department_id,
        title=f"历史申请{number}",
        form_data=form_data or {"title": f"历史申请{number}", "amount": str(amount)},
        amount=None if amount is None else Decimal(str(amount)),
        status=status,
        submitted_at=submitted_at,
        finished_at=submitted_at + datetime.timedelta(days=1),
    )
    step = ApprovalStep.objects.create(
        request=request,
        index=0,
        node_key="review",
        name="审核",
        mode="any",
        status=StepStatus.APPROVED,
    )
    for user, decided_at, seconds, after_hours in decisions:
        task = ApprovalTask.objects.create(
            request=request,
            step=step,
            assignee=user,
            status=TaskStatus.APPROVED,
            activated_at=decided_at - datetime.timedelta(seconds=seconds),
            decided_at=decided_at,
            decided_after_hours=after_hours,
            decision_seconds=seconds,
        )
        ApprovalAction.objects.create(
            request=request,
            task=task,
            step_index=0,
            actor=user,
            kind=ActionKind.APPROVED,
            data={"after_hours": after_hours, "seconds": seconds},
            created_at=decided_at,
        )
    for user in automatic:
        task = ApprovalTask.objects.create(
            request=request,
            step=step,
            assignee=user,
            status=TaskStatus.APPROVED,
            activated_at=submitted_at,
            decided_at=submitted_at,
            decided_after_hours=True,
            decision_seconds=0,
        )
        ApprovalAction.objects.create(
            request=request,
            task=task,
            step_index=0,
            actor=None,
            kind=ActionKind.AUTO_APPROVED,
            data={"assignee": user.pk},
            created_at=submitted_at,
        )
    return request


def days_ago(days: float, hour: int = 10) -> datetime.datetime:
    moment = NOW - datetime.timedelta(days=days)
    return moment.replace(hour=hour, minute=0)


# ---------------------------------------------------------------- the authorization matrix

WHO = [
    "anonymous",
    "no_role",
    "handler_a",
    "admin_group",
    "manager_a",
    "manager_b",
    "auditor",
    "inspector",
    "inspector_a",
]
OVERSIGHT = {"auditor", "inspector", "inspector_a"}


def user_of(org, who):
    if who == "anonymous":
        return None
    return getattr(org, who, None) or User.objects.get(username=who)


def client_for(client, user):
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def world(org, flows):
    """A finding in A with a case for A's engineering department, an open finding in B, and
    a submitted rectification with a file."""
    for requester in (org.handler_a, org.handler_b):
        history_request(
            requester=requester,
            amount="80000.00",
            submitted_at=days_ago(5),
            decisions=((requester, days_ago(4), 600, False),),
        )
    services.run_rules(actor=org.inspector)
    finding_a = Finding.objects.get(company=org.company_a)
    finding_b = Finding.objects.get(company=org.company_b)
    case = services.case_open(
        actor=org.inspector,
        finding_id=finding_a.pk,
        company_id=org.company_a.pk,
        department_id=org.department_a.pk,
        deadline=datetime.date(2026, 4, 10),
        instructions="完善审批权限设置",
    )
    rectification = services.case_rectification_submit(
        actor=flows.head_a,
        case_id=case.pk,
        text="已调整",
        files=[SimpleUploadedFile("a.pdf", b"%PDF", content_type="application/pdf")],
    )
    return {
        "finding_a": finding_a,
        "finding_b": finding_b,
        "case": case,
        "attachment": rectification.attachments.get(),
    }
