"""Fixtures for supervision: two approval flows with amount thresholds, the people who act on
cases, a frozen clock, and history rows written the way an import of old approvals would
(requests with their decisions, times and facts), so rules can be tested on exact data."""

import contextlib
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


@contextlib.contextmanager
def frozen_at_now():
    """The clock as the `frozen` fixture sets it, for the shared builds (see the root
    conftest), which run before the test's own fixtures; a no-op once `frozen` has run."""
    if isinstance(clock.now, FrozenClock):
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", FrozenClock(NOW))
        yield


def build_people(org) -> People:
    with frozen_at_now():
        return _people(org)


def _people(org) -> People:
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
def people(org, frozen, shared_layers) -> People:
    return shared_layers.get("people", build_people, org)


def build_flows(people) -> People:
    with frozen_at_now():
        template_save(actor=SYSTEM_ACTOR, code="payment", name="付款", definition=PAYMENT)
        template_save(actor=SYSTEM_ACTOR, code="expense", name="费用报销", definition=EXPENSE)
    return people


@pytest.fixture
def flows(people, shared_layers):
    return shared_layers.get("flows", build_flows, people)


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
def world(org, flows, shared_layers):
    """A finding in A with a case for A's engineering department, an open finding in B, and
    a submitted rectification with a file."""
    return shared_layers.get("world", build_world, org, flows)


def build_world(org, flows):
    with frozen_at_now():
        return _world(org, flows)


def _world(org, flows):
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


# ---------------------------------------------------------------- trading history
# The trading fixtures (`trading`: company A's people, a supplier, a customer, steel and coal,
# warehouses; `stock`: effective contracts with receive/issue shortcuts through the services;
# `money_flows`: the contract and payment approval flows), and rows written the way an import
# of old trading history would write them — including what today's controls would refuse.

from qinglian.trading.tests.conftest import money_flows, stock, trading  # noqa: E402, F401

_trading_serial = itertools.count(1)


def trading_invoice(
    *,
    company,
    partner,
    number: str,
    amount: str,
    invoice_date: datetime.date,
    created_by,
    code: str = "",
    contract=None,
    direction: str = "received",
    status: str = "posted",
    reverses=None,
):
    from qinglian.trading.models import Invoice
    from qinglian.trading.selectors.money import invoice_number_key

    serial = next(_trading_serial)
    return Invoice.objects.create(
        company=company,
        direction=direction,
        invoice_number=number,
        invoice_code=code,
        # A unique key: imported history kept its duplicates (the constraint came later).
        number_key=f"{invoice_number_key(code, number)}#{serial}",
        partner=partner,
        contract=contract,
        amount=Decimal(amount),
        tax_rate=Decimal("0.1300"),
        tax_amount=Decimal("0"),
        invoice_date=invoice_date,
        status=status,
        reverses=reverses,
        created_by=created_by,
    )


def trading_payment(
    *,
    company,
    partner,
    amount: str,
    paid_on: datetime.date,
    created_by,
    contract=None,
    direction: str = "out",
    status: str = "posted",
    is_exception: bool = False,
    reverses=None,
):
    from qinglian.trading.models import Payment

    serial = next(_trading_serial)
    return Payment.objects.create(
        company=company,
        number=f"FK-H{serial:05d}",
        direction=direction,
        kind="supplier_payment" if direction == "out" else "customer_receipt",
        partner=partner,
        contract=contract,
        amount=Decimal(amount),
        paid_on=paid_on,
        status=status,
        is_exception=is_exception,
        exception_reason="历史例外" if is_exception else "",
        reverses=reverses,
        created_by=created_by,
    )


def trading_document(
    *,
    company,
    kind: str,
    partner,
    warehouse,
    posting_date: datetime.date,
    created_by,
    lines: list[dict[str, Any]],
    contract=None,
    status: str = "posted",
    reverses=None,
):
    """A receipt or issue with its lines (no ledger entries: the rules read the documents)."""
    from qinglian.trading.models import StockDocument, StockDocumentLine

    serial = next(_trading_serial)
    document = StockDocument.objects.create(
        company=company,
        number=f"{'RK' if kind == 'receipt' else 'CK'}-H{serial:05d}",
        kind=kind,
        status=status,
        warehouse=warehouse,
        contract=contract,
        partner=partner,
        posting_date=posting_date,
        reverses=reverses,
        created_by=created_by,
    )
    total_quantity = total_amount = Decimal(0)
    for number, line in enumerate(lines, start=1):
        quantity = Decimal(str(line["quantity"]))
        price = Decimal(str(line.get("unit_price", "1000")))
        amount = (quantity * price).quantize(Decimal("0.01"))
        StockDocumentLine.objects.create(
            document=document,
            line_number=number,
            contract_line=line.get("contract_line"),
            commodity=line["commodity"],
            quantity=quantity,
            weighed_quantity=(
                None if line.get("weighed") is None else Decimal(str(line["weighed"]))
            ),
            difference_reason=line.get("reason", ""),
            unit_price=price,
            amount=amount,
            cost=Decimal(str(line.get("cost", "0"))),
        )
        total_quantity += quantity
        total_amount += amount
    document.total_quantity = total_quantity
    document.total_amount = total_amount
    document.save(update_fields=["total_quantity", "total_amount"])
    return document
