"""Contract services: each lifecycle (draft → approval → effective → terminated / completed;
rejected and withdrawn back to draft; cancelled), amendments superseding their revision, and
every refusal leaving nothing changed and no audit event."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import RequestStatus, StepStatus, TaskStatus
from qinglian.approvals.models import ApprovalRequest, ApprovalTask
from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from qinglian.trading.enums import (
    AdmissionStatus,
    ContractKind,
    ContractStatus,
    PartnerKind,
    PaymentTerm,
    QualificationKind,
    TradingErrorCode,
)
from qinglian.trading.factories import make_partner
from qinglian.trading.models import Contract, Qualification, StockDocument
from qinglian.trading.services import contracts as services

TODAY = clock.today()


def lines(trading, quantity="100", price="4000"):
    return [{"commodity_id": trading.steel.pk, "quantity": quantity, "unit_price": price}]


def create(trading, org, *, kind=ContractKind.PURCHASE, actor=None, **extra):
    partner = trading.supplier if kind == ContractKind.PURCHASE else trading.customer
    actor = actor or (
        trading.purchaser_a if kind == ContractKind.PURCHASE else trading.salesperson_a
    )
    values = {
        "company_id": org.company_a.pk,
        "kind": kind,
        "partner_id": partner.pk,
        "payment_term": PaymentTerm.CREDIT,
        "credit_days": 30,
        "signed_on": TODAY,
        "delivery_start": TODAY,
        "delivery_end": TODAY + datetime.timedelta(days=90),
        "end_on": TODAY + datetime.timedelta(days=180),
        "lines": lines(trading),
    }
    values.update(extra)
    return services.contract_create(actor=actor, **values)


def approve_all(contract):
    """Every approver on the route approves, in turn."""
    contract.refresh_from_db()
    request = ApprovalRequest.objects.get(pk=contract.approval_request_id)
    for _ in range(10):
        request.refresh_from_db()
        if request.status != RequestStatus.IN_PROGRESS:
            break
        for task in ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING):
            approval_services.task_approve(actor=task.assignee, task_id=task.pk)
    contract.refresh_from_db()
    return request


def effective(trading, org, **extra):
    contract = create(trading, org, **extra)
    services.contract_submit(actor=contract.created_by, contract_id=contract.pk)
    approve_all(contract)
    assert contract.status == ContractStatus.EFFECTIVE
    return contract


def state(contract):
    contract.refresh_from_db()
    return (
        contract.status,
        contract.version,
        contract.total_amount,
        sorted(contract.lines.values_list("line_number", "quantity", "unit_price")),
        AuditEvent.objects.count(),
        ApprovalRequest.objects.count(),
    )


pytestmark = pytest.mark.usefixtures("money_flows")


# ---------------------------------------------------------------- drafts


def test_create_computes_lines_and_totals(trading, org):
    contract = create(
        trading,
        org,
        lines=[
            *lines(trading, "100", "4000"),
            {
                "commodity_id": trading.coal.pk,
                "quantity": "50.5",
                "unit_price": "812.3456",
                "tax_rate": "0.09",
                "quantity_tolerance_percent": "10",
            },
        ],
    )
    assert contract.status == ContractStatus.DRAFT
    assert contract.number == f"CG{TODAY:%Y%m%d}-0001"
    assert contract.revision == 0 and contract.original_id == contract.pk
    steel, coal = contract.lines.order_by("line_number")
    assert (steel.amount, steel.tax_rate, steel.quantity_tolerance_percent) == (
        Decimal("400000.00"),
        Decimal("0.1300"),
        Decimal("5.00"),
    )
    assert coal.amount == Decimal("41023.45")  # 50.5 × 812.3456 = 41023.4528
    assert (coal.tax_rate, coal.quantity_tolerance_percent) == (Decimal("0.0900"), Decimal("10.00"))
    assert contract.total_quantity == Decimal("150.500")
    assert contract.total_amount == Decimal("441023.45")
    # 400000 − 400000/1.13 = 46017.70; 41023.45 − 41023.45/1.09 = 3387.26
    assert contract.total_tax == Decimal("49404.96")
    event = AuditEvent.objects.get(action="trading.contract.created")
    assert event.object_id == str(contract.pk)
    assert event.changes["lines"] == [None, 2]


def test_given_number_is_kept_and_a_duplicate_refused(trading, org):
    create(trading, org, number="HT-2026-001")
    before = (Contract.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Conflict) as refused:
        create(trading, org, number="HT-2026-001")
    assert refused.value.code == TradingErrorCode.DUPLICATE
    assert (Contract.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize(
    "problem",
    ["not_admitted", "suspended", "expired_qualification", "customer_only"],
)
def test_purchase_counterparty_must_be_an_admitted_supplier(trading, org, problem):
    if problem == "not_admitted":
        partner = make_partner(company=org.group, admission_status=AdmissionStatus.NOT_ADMITTED)
    elif problem == "suspended":
        partner = make_partner(company=org.group, admission_status=AdmissionStatus.SUSPENDED)
    elif problem == "expired_qualification":
        partner = make_partner(company=org.group)
        Qualification.objects.create(
            partner=partner,
            kind=QualificationKind.BUSINESS_LICENCE,
            name="营业执照",
            expires_on=TODAY - datetime.timedelta(days=1),
        )
    else:
        partner = trading.customer
    before = (Contract.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationFailed) as refused:
        create(trading, org, partner_id=partner.pk)
    assert "partner" in refused.value.fields
    if problem != "customer_only":
        assert refused.value.code == TradingErrorCode.NOT_ADMITTED
    assert (Contract.objects.count(), AuditEvent.objects.count()) == before


def test_a_qualification_valid_today_is_fine(trading, org):
    Qualification.objects.create(
        partner=trading.supplier,
        kind=QualificationKind.BUSINESS_LICENCE,
        name="营业执照",
        expires_on=TODAY,
    )
    assert create(trading, org).status == ContractStatus.DRAFT


def test_sales_counterparty_must_be_a_customer(trading, org):
    with pytest.raises(ValidationFailed) as refused:
        create(trading, org, kind=ContractKind.SALES, partner_id=trading.supplier.pk)
    assert "partner" in refused.value.fields
    both = make_partner(company=org.group, kind=PartnerKind.BOTH)
    contract = create(trading, org, kind=ContractKind.SALES, partner_id=both.pk)
    assert contract.number.startswith("XS")


def test_partner_of_another_subsidiary_is_not_usable(trading, org):
    theirs = make_partner(company=org.company_b)
    with pytest.raises(ValidationFailed) as refused:
        create(trading, org, partner_id=theirs.pk)
    assert "partner" in refused.value.fields


@pytest.mark.parametrize(
    ("user", "error"),
    [
        ("salesperson_a", PermissionDenied),  # a sales role does not write purchase contracts
        ("finance_a", PermissionDenied),
        ("purchaser_b", NotFound),  # company A is out of B's scope
        ("inspector", PermissionDenied),  # reads everything, writes nothing
        ("no_role", NotFound),
    ],
)
def test_who_may_create_a_purchase_contract(trading, org, user, error):
    actor = getattr(trading, user, None) or getattr(org, user)
    before = (Contract.objects.count(), AuditEvent.objects.count())
    with pytest.raises(error):
        create(trading, org, actor=actor)
    assert (Contract.objects.count(), AuditEvent.objects.count()) == before


def test_line_problems_are_named_by_row(trading, org):
    with pytest.raises(ValidationFailed) as refused:
        create(
            trading,
            org,
            lines=[
                {"commodity_id": trading.steel.pk, "quantity": "0", "unit_price": "10"},
                {"commodity_id": 0, "quantity": "1.2345", "unit_price": "-1"},
                {
                    "commodity_id": trading.coal.pk,
                    "quantity": "1",
                    "unit_price": "1",
                    "tax_rate": "13",
                },
            ],
        )
    assert set(refused.value.fields) == {
        "lines.1.quantity",
        "lines.2.commodity",
        "lines.2.quantity",
        "lines.2.unit_price",
        "lines.3.tax_rate",
    }
    assert not Contract.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"payment_term": PaymentTerm.PREPAYMENT, "prepayment_percent": "0"}, "prepayment_percent"),
        ({"payment_term": PaymentTerm.CREDIT, "prepayment_percent": "30"}, "prepayment_percent"),
        ({"delivery_end": TODAY - datetime.timedelta(days=1)}, "delivery_end"),
        ({"end_on": TODAY + datetime.timedelta(days=10)}, "end_on"),
    ],
)
def test_header_problems(trading, org, extra, field):
    with pytest.raises(ValidationFailed) as refused:
        create(trading, org, **extra)
    assert field in refused.value.fields


def test_update_replaces_lines_with_a_version_check(trading, org):
    contract = create(trading, org)
    updated = services.contract_update(
        actor=trading.purchaser_a,
        contract_id=contract.pk,
        expected_version=1,
        remarks="改为两个品种",
        lines=[
            *lines(trading, "10", "4100"),
            {"commodity_id": trading.coal.pk, "quantity": "5", "unit_price": "800"},
        ],
    )
    assert updated.version == 2
    assert updated.total_amount == Decimal("45000.00")
    assert updated.lines.count() == 2
    event = AuditEvent.objects.filter(action="trading.contract.updated").get()
    assert event.changes["total_amount"] == ["400000.00", "45000.00"]
    before = state(contract)
    with pytest.raises(Conflict) as refused:
        services.contract_update(
            actor=trading.purchaser_a, contract_id=contract.pk, expected_version=1, remarks="x"
        )
    assert refused.value.code == TradingErrorCode.STALE_VERSION
    assert state(contract) == before


# ---------------------------------------------------------------- approval


def test_submit_and_approve_makes_it_effective(trading, org, money_flows):
    contract = create(trading, org)
    services.contract_submit(actor=trading.purchaser_a, contract_id=contract.pk, expected_version=1)
    contract.refresh_from_db()
    assert contract.status == ContractStatus.PENDING
    request = contract.approval_request
    assert (request.document_type, request.document_id) == ("trading.contract", str(contract.pk))
    assert request.form_data["amount"] == "400000.00"
    assert request.form_data["contract_type"] == "采购"
    steps = list(request.steps.order_by("index").values_list("node_key", "status"))
    assert steps == [
        ("preliminary_legal", StepStatus.ACTIVE),
        ("recheck_finance", StepStatus.WAITING),
        ("recheck_leader", StepStatus.SKIPPED),  # 400,000 is not above 1,000,000
        ("general_manager", StepStatus.SKIPPED),
    ]
    task = ApprovalTask.objects.get(request=request, status=TaskStatus.PENDING)
    assert task.assignee == money_flows.legal_a
    approval_services.task_approve(actor=money_flows.legal_a, task_id=task.pk)
    contract.refresh_from_db()
    assert contract.status == ContractStatus.PENDING  # 初审 alone does not make it effective
    task = ApprovalTask.objects.get(request=request, status=TaskStatus.PENDING)
    assert task.assignee == trading.finance_a
    approval_services.task_approve(actor=trading.finance_a, task_id=task.pk)
    contract.refresh_from_db()
    assert contract.status == ContractStatus.EFFECTIVE
    assert contract.effective_on == TODAY
    assert list(
        AuditEvent.objects.filter(action__startswith="trading.contract.")
        .values_list("action", flat=True)
        .order_by("id")
    ) == ["trading.contract.created", "trading.contract.submitted", "trading.contract.approved"]


def test_large_contract_goes_to_the_leader_and_the_general_manager(trading, org, money_flows):
    contract = create(trading, org, lines=lines(trading, "2000", "4000"))  # 8,000,000
    services.contract_submit(actor=trading.purchaser_a, contract_id=contract.pk)
    contract.refresh_from_db()
    steps = dict(contract.approval_request.steps.values_list("node_key", "status"))
    assert steps["recheck_leader"] == StepStatus.WAITING
    assert steps["general_manager"] == StepStatus.WAITING
    approve_all(contract)
    assert contract.status == ContractStatus.EFFECTIVE
    deciders = set(
        ApprovalTask.objects.filter(
            request=contract.approval_request, status=TaskStatus.APPROVED
        ).values_list("assignee__username", flat=True)
    )
    assert deciders == {"legal_a", "finance_a", "leader_a", "manager_a"}


@pytest.mark.parametrize("decision", ["reject", "withdraw"])
def test_rejected_or_withdrawn_goes_back_to_draft(trading, org, money_flows, decision):
    contract = create(trading, org)
    services.contract_submit(actor=trading.purchaser_a, contract_id=contract.pk)
    contract.refresh_from_db()
    if decision == "reject":
        task = ApprovalTask.objects.get(
            request=contract.approval_request, status=TaskStatus.PENDING
        )
        approval_services.task_reject(
            actor=money_flows.legal_a, task_id=task.pk, comment="违约条款"
        )
    else:
        approval_services.request_withdraw(
            actor=trading.purchaser_a, request_id=contract.approval_request_id
        )
    contract.refresh_from_db()
    assert contract.status == ContractStatus.DRAFT
    expected = "trading.contract.rejected" if decision == "reject" else "trading.contract.withdrawn"
    assert AuditEvent.objects.filter(action=expected, object_id=str(contract.pk)).count() == 1
    # Editable again, and submitted anew.
    services.contract_update(actor=trading.purchaser_a, contract_id=contract.pk, remarks="已修改")
    services.contract_submit(actor=trading.purchaser_a, contract_id=contract.pk)
    approve_all(contract)
    assert contract.status == ContractStatus.EFFECTIVE


def test_submit_refusals_change_nothing(trading, org):
    contract = create(trading, org, lines=[], delivery_end=None, end_on=None)
    before = state(contract)
    with pytest.raises(ValidationFailed) as refused:
        services.contract_submit(actor=trading.purchaser_a, contract_id=contract.pk)
    assert set(refused.value.fields) == {"lines", "delivery_end", "end_on"}
    assert state(contract) == before


def test_pending_contract_cannot_be_edited_or_resubmitted(trading, org):
    contract = create(trading, org)
    services.contract_submit(actor=trading.purchaser_a, contract_id=contract.pk)
    before = state(contract)
    with pytest.raises(Conflict) as refused:
        services.contract_update(actor=trading.purchaser_a, contract_id=contract.pk, remarks="x")
    assert refused.value.code == TradingErrorCode.IMMUTABLE
    with pytest.raises(InvalidTransition):
        services.contract_submit(actor=trading.purchaser_a, contract_id=contract.pk)
    assert state(contract) == before


def test_supplier_losing_its_admission_during_approval_blocks_it(trading, org, money_flows):
    contract = create(trading, org)
    services.contract_submit(actor=trading.purchaser_a, contract_id=contract.pk)
    contract.refresh_from_db()
    trading.supplier.admission_status = AdmissionStatus.SUSPENDED
    trading.supplier.save()
    legal = ApprovalTask.objects.get(request=contract.approval_request, status=TaskStatus.PENDING)
    approval_services.task_approve(actor=money_flows.legal_a, task_id=legal.pk)
    finance = ApprovalTask.objects.get(request=contract.approval_request, status=TaskStatus.PENDING)
    with pytest.raises(ValidationFailed) as refused:
        approval_services.task_approve(actor=trading.finance_a, task_id=finance.pk)
    assert refused.value.code == TradingErrorCode.NOT_ADMITTED
    contract.refresh_from_db()
    assert contract.status == ContractStatus.PENDING


def test_submit_by_someone_without_the_role_is_refused(trading, org):
    contract = create(trading, org)
    before = state(contract)
    with pytest.raises(PermissionDenied):
        services.contract_submit(actor=trading.salesperson_a, contract_id=contract.pk)
    with pytest.raises(NotFound):
        services.contract_submit(actor=trading.purchaser_b, contract_id=contract.pk)
    with pytest.raises(PermissionDenied):
        services.contract_submit(actor=org.inspector, contract_id=contract.pk)
    assert state(contract) == before


# ---------------------------------------------------------------- cancel, terminate, complete


def test_cancel_a_draft_only(trading, org):
    contract = create(trading, org)
    services.contract_cancel(actor=trading.purchaser_a, contract_id=contract.pk, reason="不签了")
    contract.refresh_from_db()
    assert (contract.status, contract.status_reason) == (ContractStatus.CANCELLED, "不签了")
    live = effective(trading, org)
    before = state(live)
    with pytest.raises(InvalidTransition):
        services.contract_cancel(actor=trading.purchaser_a, contract_id=live.pk)
    assert state(live) == before


def test_terminate_needs_a_reason_and_no_goods_waiting(trading, org):
    contract = effective(trading, org)
    before = state(contract)
    with pytest.raises(ValidationFailed):
        services.contract_terminate(actor=trading.purchaser_a, contract_id=contract.pk, reason=" ")
    draft = StockDocument.objects.create(
        company=org.company_a,
        number="RK-1",
        kind="receipt",
        warehouse=trading.warehouse_a,
        contract=contract,
        partner=trading.supplier,
        posting_date=TODAY,
        created_by=trading.keeper_a,
    )
    with pytest.raises(Conflict) as refused:
        services.contract_terminate(
            actor=trading.purchaser_a, contract_id=contract.pk, reason="供应商违约"
        )
    assert refused.value.code == TradingErrorCode.IMMUTABLE
    assert state(contract) == before
    draft.status = "cancelled"
    draft.save()
    services.contract_terminate(
        actor=trading.purchaser_a, contract_id=contract.pk, reason="供应商违约"
    )
    contract.refresh_from_db()
    assert contract.status == ContractStatus.TERMINATED
    assert (contract.terminated_on, contract.status_reason) == (TODAY, "供应商违约")
    assert AuditEvent.objects.filter(action="trading.contract.terminated").count() == 1


def test_complete_refused_while_money_documents_are_open(trading, org):
    from qinglian.trading.services import money as money_services

    contract = effective(trading, org)
    invoice = money_services.invoice_create(
        actor=trading.finance_a,
        contract_id=contract.pk,
        invoice_number="00012345",
        invoice_date=TODAY,
        amount="1000.00",
    )
    before = state(contract)
    with pytest.raises(Conflict):
        services.contract_complete(actor=trading.purchaser_a, contract_id=contract.pk)
    assert state(contract) == before
    # Termination is not blocked by an invoice: delivered goods are still invoiced.
    money_services.invoice_cancel(actor=trading.finance_a, invoice_id=invoice.pk)
    services.contract_complete(actor=trading.purchaser_a, contract_id=contract.pk)
    contract.refresh_from_db()
    assert (contract.status, contract.completed_on) == (ContractStatus.COMPLETED, TODAY)
    with pytest.raises(InvalidTransition):
        services.contract_terminate(actor=trading.purchaser_a, contract_id=contract.pk, reason="x")


# ---------------------------------------------------------------- amendments


def test_amendment_supersedes_and_carries_execution_over(trading, org):
    contract = effective(
        trading,
        org,
        lines=[
            *lines(trading, "100", "4000"),
            {"commodity_id": trading.coal.pk, "quantity": "50", "unit_price": "800"},
        ],
    )
    amendment = services.contract_amend(actor=trading.purchaser_a, contract_id=contract.pk)
    assert (amendment.status, amendment.revision, amendment.number) == (
        ContractStatus.DRAFT,
        1,
        contract.number,
    )
    assert (amendment.original_id, amendment.amends_id) == (contract.pk, contract.pk)
    assert amendment.lines.count() == 2
    with pytest.raises(Conflict):
        services.contract_amend(actor=trading.purchaser_a, contract_id=contract.pk)
    # Meanwhile goods arrive and money moves on the revision in force.
    contract.lines.filter(line_number=1).update(executed_quantity=Decimal("60"))
    Contract.objects.filter(pk=contract.pk).update(
        invoiced_amount=Decimal("240000.00"), settled_amount=Decimal("100000.00")
    )
    services.contract_update(
        actor=trading.purchaser_a,
        contract_id=amendment.pk,
        lines=[
            {
                "line_number": 1,
                "commodity_id": trading.steel.pk,
                "quantity": "150",
                "unit_price": "4000",
            },
        ],  # the coal line (not executed) is dropped, steel raised to 150 t
    )
    services.contract_submit(actor=trading.purchaser_a, contract_id=amendment.pk)
    approve_all(amendment)
    contract.refresh_from_db()
    assert amendment.status == ContractStatus.EFFECTIVE
    assert contract.status == ContractStatus.SUPERSEDED
    assert amendment.total_amount == Decimal("600000.00")
    assert amendment.lines.get().executed_quantity == Decimal("60.000")
    assert (amendment.invoiced_amount, amendment.settled_amount) == (
        Decimal("240000.00"),
        Decimal("100000.00"),
    )
    assert AuditEvent.objects.filter(
        action="trading.contract.superseded", object_id=str(contract.pk)
    ).exists()
    # Goods and money now book against the amendment, even when they name the old revision.
    locked = services.contract_lock_for_execution(contract_id=contract.pk)
    assert locked.pk == amendment.pk
    # The amended revision can be amended again.
    second = services.contract_amend(actor=trading.purchaser_a, contract_id=amendment.pk)
    assert (second.revision, second.original_id, second.amends_id) == (2, contract.pk, amendment.pk)


def test_amendment_may_not_drop_an_executed_line(trading, org):
    contract = effective(trading, org)
    contract.lines.update(executed_quantity=Decimal("30"))
    amendment = services.contract_amend(actor=trading.purchaser_a, contract_id=contract.pk)
    services.contract_update(
        actor=trading.purchaser_a,
        contract_id=amendment.pk,
        lines=[{"commodity_id": trading.steel.pk, "quantity": "20", "unit_price": "4000"}],
    )
    before = state(amendment)
    with pytest.raises(ValidationFailed) as refused:
        services.contract_submit(actor=trading.purchaser_a, contract_id=amendment.pk)
    assert "lines.1.quantity" in refused.value.fields
    assert state(amendment) == before


def test_amendment_keeps_the_counterparty(trading, org):
    contract = effective(trading, org)
    other = make_partner(company=org.group)
    amendment = services.contract_amend(actor=trading.purchaser_a, contract_id=contract.pk)
    with pytest.raises(ValidationFailed):
        services.contract_update(
            actor=trading.purchaser_a, contract_id=amendment.pk, partner_id=other.pk
        )


def test_cancelled_amendment_makes_room_for_the_next(trading, org):
    contract = effective(trading, org)
    first = services.contract_amend(actor=trading.purchaser_a, contract_id=contract.pk)
    services.contract_cancel(actor=trading.purchaser_a, contract_id=first.pk)
    second = services.contract_amend(actor=trading.purchaser_a, contract_id=contract.pk)
    assert second.revision == 2
    # Termination waits while an amendment is under way.
    with pytest.raises(Conflict):
        services.contract_terminate(actor=trading.purchaser_a, contract_id=contract.pk, reason="x")


def test_only_an_effective_contract_is_amended(trading, org):
    contract = create(trading, org)
    with pytest.raises(InvalidTransition):
        services.contract_amend(actor=trading.purchaser_a, contract_id=contract.pk)
    with pytest.raises(Conflict) as refused:
        services.contract_lock_for_execution(contract_id=contract.pk)
    assert refused.value.code == TradingErrorCode.NOT_EFFECTIVE
