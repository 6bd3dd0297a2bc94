"""Credit control services: the exposure row follows every document that changes it; the
credit-limit and overdue blocks on goods issues and sales contracts, each with its near miss
and its approved exception (used once, recorded); reversals and terminations release exposure;
the exception's own lifecycle through the approval flow; the audited credit policy."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import RequestStatus, TaskStatus
from qinglian.approvals.models import ApprovalRequest, ApprovalTask
from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import (
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from qinglian.trading.enums import (
    ContractKind,
    ContractStatus,
    CreditGrade,
    PartnerAccount,
    PaymentTerm,
    PostingStatus,
)
from qinglian.trading.factories import make_contract
from qinglian.trading.models import (
    Contract,
    CreditDocumentKind,
    CreditException,
    CreditExceptionStatus,
    CreditExposure,
    CreditPolicy,
    Partner,
    StockDocument,
)
from qinglian.trading.selectors import credit as selectors
from qinglian.trading.services import contracts as contract_services
from qinglian.trading.services import credit as services
from qinglian.trading.services import money as money_services
from qinglian.trading.services import stock as stock_services

TODAY = clock.today()
D = Decimal


@pytest.fixture
def flows(money_flows):
    from qinglian.approvals.services import template_save

    for flow in services.APPROVAL_FLOWS:
        template_save(actor=SYSTEM_ACTOR, **flow)
    return money_flows


pytestmark = pytest.mark.usefixtures("flows")


def set_limit(partner, limit, grade=""):
    Partner.objects.filter(pk=partner.pk).update(credit_limit=D(limit), credit_grade=grade)
    partner.refresh_from_db()


def row(partner):
    found = CreditExposure.objects.get(partner=partner)
    return (found.receivable, found.uninvoiced, found.open_orders)


def exposure(partner):
    return selectors.credit_standing(partner=partner).exposure


def approve_all(document):
    document.refresh_from_db()
    request = ApprovalRequest.objects.get(pk=document.approval_request_id)
    for _ in range(10):
        request.refresh_from_db()
        if request.status != RequestStatus.IN_PROGRESS:
            break
        for task in ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING):
            approval_services.task_approve(actor=task.assignee, task_id=task.pk)
    document.refresh_from_db()
    return request


def reject_first(document):
    document.refresh_from_db()
    task = ApprovalTask.objects.filter(
        request_id=document.approval_request_id, status=TaskStatus.PENDING
    ).first()
    approval_services.task_reject(actor=task.assignee, task_id=task.pk, comment="不同意")
    document.refresh_from_db()


def exception(trading, amount="0", *, approve=True, **extra):
    extra.setdefault("valid_until", TODAY + datetime.timedelta(days=7))
    extra.setdefault("reason", "大客户季度末集中提货，回款有保证")
    made = services.credit_exception_request(
        actor=extra.pop("actor", trading.salesperson_a),
        partner_id=extra.pop("partner_id", trading.customer.pk),
        amount=amount,
        **extra,
    )
    if approve:
        approve_all(made)
        assert made.status == CreditExceptionStatus.APPROVED
    return made


def no_open_orders(org, manager):
    """The group's policy without open orders: goods issues then grow the exposure."""
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_user

    group_manager = make_user(
        company=org.group, roles=(RoleCode.GENERAL_MANAGER,), username="gm_group", name="集团总"
    )
    return services.credit_policy_save(
        actor=group_manager,
        company_id=org.group.pk,
        include_receivables=True,
        include_uninvoiced=True,
        include_open_orders=False,
        overdue_block_enabled=True,
        overdue_block_days=30,
        overdue_block_amount="0",
    )


def sales_contract(trading, org, quantity="100", price="4000", **extra):
    values = {
        "company_id": org.company_a.pk,
        "kind": ContractKind.SALES,
        "partner_id": trading.customer.pk,
        "payment_term": PaymentTerm.CREDIT,
        "credit_days": 30,
        "signed_on": TODAY,
        "delivery_start": TODAY,
        "delivery_end": TODAY + datetime.timedelta(days=90),
        "end_on": TODAY + datetime.timedelta(days=180),
        "lines": [{"commodity_id": trading.steel.pk, "quantity": quantity, "unit_price": price}],
    }
    values.update(extra)
    return contract_services.contract_create(actor=trading.salesperson_a, **values)


def submit(contract, trading):
    return contract_services.contract_submit(actor=trading.salesperson_a, contract_id=contract.pk)


# ---------------------------------------------------------------- the exposure row


def test_every_posting_keeps_the_row_equal_to_its_sources(stock, org):
    t = stock.trading
    customer = t.customer
    stock.receive("100")
    issue = stock.issue("10")  # 10 t × 5,000 = 50,000 of the 4,440,000 contract
    assert row(customer) == (D("0.00"), D("50000.00"), D("4390000.00"))
    bill = money_services.invoice_create(
        actor=t.finance_a,
        contract_id=stock.sales.pk,
        invoice_number="90000001",
        invoice_code="3300212130",
        invoice_date=TODAY,
        amount="30000.00",
    )
    money_services.invoice_post(actor=t.finance_a, invoice_id=bill.pk)
    assert row(customer) == (D("30000.00"), D("20000.00"), D("4390000.00"))
    receipt = money_services.payment_create(
        actor=t.finance_a,
        contract_id=stock.sales.pk,
        amount="12000.00",
        paid_on=TODAY,
        direction="in",
    )
    money_services.receipt_post(actor=t.finance_a, payment_id=receipt.pk)
    assert row(customer) == (D("18000.00"), D("20000.00"), D("4390000.00"))
    # reversals release what they undo
    money_services.payment_reverse(actor=t.finance_a, payment_id=receipt.pk, reason="退票")
    assert row(customer) == (D("30000.00"), D("20000.00"), D("4390000.00"))
    money_services.invoice_reverse(
        actor=t.finance_a, invoice_id=bill.pk, invoice_number="90000002", reason="开错"
    )
    assert row(customer) == (D("0.00"), D("50000.00"), D("4390000.00"))
    stock_services.stock_document_reverse(actor=t.keeper_a, document_id=issue.pk, reason="退货")
    assert row(customer) == (D("0.00"), D("0.00"), D("4440000.00"))
    assert row(customer) == tuple(
        getattr(selectors.exposure_components(partner_id=customer.pk), name)
        for name in ("receivable", "uninvoiced", "open_orders")
    )


def test_terminating_or_completing_a_contract_releases_its_open_order(stock, org):
    t = stock.trading
    stock.receive("100")
    stock.issue("10")
    contract_services.contract_terminate(
        actor=t.salesperson_a, contract_id=stock.sales.pk, reason="客户停产"
    )
    # what was issued and not invoiced stays; the undelivered rest is released
    assert row(t.customer) == (D("0.00"), D("50000.00"), D("0.00"))


def test_opening_receivables_count(org, trading):
    money_services.opening_balance_post(
        actor=trading.finance_a,
        company_id=org.company_a.pk,
        partner_id=trading.customer.pk,
        account=PartnerAccount.RECEIVABLE,
        amount="8000.00",
        posting_date=TODAY,
        due_date=TODAY,
    )
    assert row(trading.customer) == (D("8000.00"), D("0.00"), D("0.00"))


def test_pure_contract_exposure_rule():
    def rule(amount, issued, invoiced, is_open=True):
        return selectors.order_exposure(
            amount=D(amount), issued=D(issued), invoiced=D(invoiced), is_open=is_open
        )

    assert rule("100", "0", "0") == (D("100"), D("0"))
    assert rule("100", "40", "10") == (D("60"), D("30"))
    # invoiced ahead of delivery: the receivable carries it, the open order shrinks
    assert rule("100", "10", "50") == (D("50"), D("0"))
    # issued beyond the amount (tolerance): no open order left
    assert rule("100", "104", "0") == (D("0"), D("104"))
    assert rule("100", "40", "0", is_open=False) == (D("0"), D("40"))


# ---------------------------------------------------------------- goods issue: credit limit


def test_goods_issue_at_the_limit_passes_and_one_cent_over_is_blocked(stock, org):
    t = stock.trading
    no_open_orders(org, t.manager_a)
    stock.receive("100")
    set_limit(t.customer, "50000.00")
    stock.issue("10")  # exposure 50,000.00 = the limit: the near miss
    assert exposure(t.customer) == D("50000.00")
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        stock.issue("0.002")  # 10.00 more
    error = refused.value
    assert error.code == services.CREDIT_LIMIT_CODE
    for text in (t.customer.name, "50000.00", "10.00", "50010.00"):
        assert text in error.message
    assert "credit_limit" in error.fields
    # nothing happened
    assert AuditEvent.objects.count() == events
    assert StockDocument.objects.filter(kind="issue").count() == 1
    # the row keeps every component; the policy leaves the open orders out of the exposure
    assert row(t.customer) == (D("0.00"), D("50000.00"), D("4390000.00"))


def test_an_approved_exception_lets_one_goods_issue_through_and_is_used_up(stock, org):
    t = stock.trading
    no_open_orders(org, t.manager_a)
    stock.receive("100")
    set_limit(t.customer, "50000.00")
    stock.issue("10")
    granted = exception(t, "5000.00")
    assert granted.approved_by_id == t.manager_a.pk  # the general manager decided last
    issued = stock.issue("1")  # 5,000.00 over: exactly what the exception allows
    granted.refresh_from_db()
    assert granted.status == CreditExceptionStatus.USED
    assert granted.used_document_kind == CreditDocumentKind.GOODS_ISSUE
    assert granted.used_document_id == issued.pk
    assert granted.used_document_number == issued.number
    assert granted.used_document_amount == D("5000.00")
    assert granted.used_exposure == D("55000.00")
    assert granted.used_limit == D("50000.00")
    assert granted.used_by_id == t.keeper_a.pk
    assert AuditEvent.objects.filter(
        action="trading.credit_exception.used", object_id=str(granted.pk)
    ).exists()
    applied = AuditEvent.objects.get(action="trading.credit.exception_applied")
    assert (applied.object_type, applied.object_id) == ("trading.stockdocument", str(issued.pk))
    assert applied.changes["credit_exception"] == [None, granted.number]
    # one shot: the next issue is blocked again
    with pytest.raises(ValidationFailed):
        stock.issue("0.001")


def test_an_exception_too_small_expired_or_for_another_contract_does_not_help(stock, org):
    t = stock.trading
    no_open_orders(org, t.manager_a)
    stock.receive("100")
    set_limit(t.customer, "50000.00")
    stock.issue("10")
    small = exception(t, "4999.99")
    other = make_contract(
        company=org.company_a,
        partner=t.customer,
        owner=t.salesperson_a,
        kind=ContractKind.SALES,
        lines=[(t.steel, "10", "5000.00")],
    )
    elsewhere = exception(t, "100000.00", contract_id=other.pk)
    expired = exception(t, "100000.00")
    CreditException.objects.filter(pk=expired.pk).update(valid_until=TODAY - datetime.timedelta(1))
    with pytest.raises(ValidationFailed):
        stock.issue("1")
    for item in (small, elsewhere, expired):
        item.refresh_from_db()
        assert item.status == CreditExceptionStatus.APPROVED
    # the one for this very contract does
    mine = exception(t, "5000.00", contract_id=stock.sales.pk)
    stock.issue("1")
    mine.refresh_from_db()
    assert mine.status == CreditExceptionStatus.USED


def test_an_exception_for_one_goods_issue_serves_only_that_draft(stock, org):
    t = stock.trading
    no_open_orders(org, t.manager_a)
    stock.receive("100")
    set_limit(t.customer, "1000.00")
    draft = stock.issue("1", post=False)
    granted = exception(t, "4000.00", stock_document_id=draft.pk)
    with pytest.raises(ValidationFailed):
        stock.issue("1")  # another issue: not covered
    stock_services.stock_document_post(actor=t.keeper_a, document_id=draft.pk)
    granted.refresh_from_db()
    assert (granted.status, granted.used_document_id) == (CreditExceptionStatus.USED, draft.pk)


def test_no_limit_set_never_blocks_but_grade_d_means_no_credit(stock, org):
    t = stock.trading
    no_open_orders(org, t.manager_a)
    stock.receive("100")
    set_limit(t.customer, "0")
    stock.issue("10")  # 0 and no grade: no limit set
    set_limit(t.customer, "0", grade=CreditGrade.D)
    with pytest.raises(ValidationFailed) as refused:
        stock.issue("1")
    assert refused.value.code == services.CREDIT_LIMIT_CODE


def test_with_open_orders_counted_the_contract_reserves_and_issues_within_it_pass(stock, org):
    t = stock.trading
    stock.receive("900")
    stock.receive("500", commodity=t.coal)
    set_limit(t.customer, "4440000.00")  # exactly the sales contract: the near miss
    stock.issue("800")
    stock.issue("399", commodity=t.coal)
    assert exposure(t.customer) == D("4440000.00")
    stock.issue("1", commodity=t.coal)  # the whole contract issued: still within
    with pytest.raises(ValidationFailed):
        stock.issue("1")  # beyond the contract's amount, inside its quantity tolerance


def test_a_lowered_limit_stops_issues_even_within_the_contract(stock, org):
    t = stock.trading
    stock.receive("100")
    set_limit(t.customer, "100.00")  # the 4,440,000 contract is already far above it
    with pytest.raises(ValidationFailed) as refused:
        stock.issue("1")  # adds nothing (the open order becomes uninvoiced): still refused
    assert "4440000.00" in refused.value.message


# ---------------------------------------------------------------- sales contracts


def test_a_contract_within_the_headroom_takes_effect_one_cent_more_is_refused(stock, org):
    t = stock.trading
    set_limit(t.customer, "4840000.00")  # 4,440,000 in force: 400,000 headroom
    fits = sales_contract(t, org, quantity="100", price="4000")  # 400,000.00
    submit(fits, t)
    approve_all(fits)
    assert fits.status == ContractStatus.EFFECTIVE
    assert exposure(t.customer) == D("4840000.00")
    too_much = sales_contract(t, org, quantity="0.001", price="10")  # 0.01
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        submit(too_much, t)
    error = refused.value
    assert error.code == services.CREDIT_LIMIT_CODE
    for text in (t.customer.name, "4840000.00", "0.01", "4840000.01"):
        assert text in error.message
    too_much.refresh_from_db()
    assert too_much.status == ContractStatus.DRAFT
    assert AuditEvent.objects.count() == events


def test_the_decision_is_taken_when_the_contract_takes_effect(stock, org):
    """Two contracts each fit when submitted; only the first approved fits at effect."""
    t = stock.trading
    set_limit(t.customer, "4840000.00")
    first = sales_contract(t, org)
    second = sales_contract(t, org)
    submit(first, t)
    submit(second, t)
    approve_all(first)
    with pytest.raises(ValidationFailed) as refused:
        approve_all(second)
    assert refused.value.code == services.CREDIT_LIMIT_CODE
    second.refresh_from_db()
    assert second.status == ContractStatus.PENDING
    assert exposure(t.customer) == D("4840000.00")
    # an exception for that contract lets the approval through, and is used by it
    granted = exception(t, "400000.00", contract_id=second.pk)
    approve_all(second)
    assert second.status == ContractStatus.EFFECTIVE
    granted.refresh_from_db()
    assert granted.status == CreditExceptionStatus.USED
    assert granted.used_document_kind == CreditDocumentKind.SALES_CONTRACT
    assert granted.used_document_id == second.pk
    assert granted.used_exposure == D("5240000.00")
    assert exposure(t.customer) == D("5240000.00")


def test_submit_only_peeks_at_an_exception(stock, org):
    t = stock.trading
    set_limit(t.customer, "4440000.00")
    granted = exception(t, "400000.00")
    contract = sales_contract(t, org)
    submit(contract, t)
    granted.refresh_from_db()
    assert granted.status == CreditExceptionStatus.APPROVED  # not used at submission
    approve_all(contract)
    granted.refresh_from_db()
    assert (granted.status, granted.used_document_id) == (
        CreditExceptionStatus.USED,
        contract.pk,
    )


def test_an_amendment_that_does_not_raise_the_amount_is_not_blocked(stock, org):
    t = stock.trading
    set_limit(t.customer, "100.00")  # far below the 4,440,000 in force
    amendment = contract_services.contract_amend(actor=t.salesperson_a, contract_id=stock.sales.pk)
    submit(amendment, t)
    approve_all(amendment)
    assert amendment.status == ContractStatus.EFFECTIVE
    raised = contract_services.contract_amend(actor=t.salesperson_a, contract_id=amendment.pk)
    contract_services.contract_update(
        actor=t.salesperson_a,
        contract_id=raised.pk,
        lines=[
            {"commodity_id": t.steel.pk, "quantity": "801", "unit_price": "5000.00"},
            {"commodity_id": t.coal.pk, "quantity": "400", "unit_price": "1100.00"},
        ],
    )
    with pytest.raises(ValidationFailed) as refused:
        submit(raised, t)
    assert "5000.00" in refused.value.message  # the amendment adds 5,000.00


def test_purchase_contracts_and_receipts_are_never_checked(stock, org):
    t = stock.trading
    set_limit(t.supplier, "1.00")
    stock.receive("100")
    assert not CreditExposure.objects.filter(partner=t.supplier).exists()


# ---------------------------------------------------------------- overdue


def opening(org, trading, amount, days_ago):
    return money_services.opening_balance_post(
        actor=trading.finance_a,
        company_id=org.company_a.pk,
        partner_id=trading.customer.pk,
        account=PartnerAccount.RECEIVABLE,
        amount=amount,
        posting_date=TODAY - datetime.timedelta(days=days_ago + 30),
        due_date=TODAY - datetime.timedelta(days=days_ago),
    )


def test_debt_exactly_30_days_past_due_does_not_block_31_days_does(stock, org):
    t = stock.trading
    stock.receive("100")
    opening(org, t, "1000.00", days_ago=30)
    stock.issue("1")  # the near miss: not *more* than 30 days
    opening(org, t, "1.00", days_ago=31)
    with pytest.raises(ValidationFailed) as refused:
        stock.issue("1")
    error = refused.value
    assert error.code == services.OVERDUE_CODE
    assert t.customer.name in error.message and "1.00" in error.message
    assert "overdue" in error.fields
    with pytest.raises(ValidationFailed):
        submit(sales_contract(t, org), t)


def test_the_overdue_amount_threshold_is_exclusive(stock, org):
    t = stock.trading
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_user

    gm = make_user(company=org.group, roles=(RoleCode.GENERAL_MANAGER,), username="gm_g2")
    services.credit_policy_save(
        actor=gm,
        company_id=org.group.pk,
        include_receivables=True,
        include_uninvoiced=True,
        include_open_orders=True,
        overdue_block_enabled=True,
        overdue_block_days=0,
        overdue_block_amount="1000.00",
    )
    stock.receive("100")
    opening(org, t, "1000.00", days_ago=1)
    stock.issue("1")  # 1,000.00 overdue = the amount tolerated
    opening(org, t, "0.01", days_ago=1)
    with pytest.raises(ValidationFailed):
        stock.issue("1")


def test_receipts_settle_the_oldest_debt_first(stock, org):
    t = stock.trading
    stock.receive("100")
    opening(org, t, "500.00", days_ago=40)
    money_services.opening_balance_post(
        actor=t.finance_a,
        company_id=org.company_a.pk,
        partner_id=t.customer.pk,
        account=PartnerAccount.RECEIVABLE,
        amount="-500.00",  # an advance received: settles the overdue item
        posting_date=TODAY,
    )
    stock.issue("1")
    assert selectors.overdue_amount(partner_id=t.customer.pk) == D("0.00")


def test_only_an_exception_lifting_the_overdue_block_helps(stock, org):
    t = stock.trading
    stock.receive("100")
    opening(org, t, "100.00", days_ago=60)
    amount_only = exception(t, "100000.00")
    with pytest.raises(ValidationFailed):
        stock.issue("1")
    amount_only.refresh_from_db()
    assert amount_only.status == CreditExceptionStatus.APPROVED
    lifting = exception(t, "0", allow_overdue=True)
    issued = stock.issue("1")
    lifting.refresh_from_db()
    assert (lifting.status, lifting.used_document_id) == (CreditExceptionStatus.USED, issued.pk)
    assert lifting.used_overdue_amount == D("100.00")


def test_overdue_block_can_be_switched_off(stock, org):
    t = stock.trading
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_user

    gm = make_user(company=org.group, roles=(RoleCode.GENERAL_MANAGER,), username="gm_g3")
    services.credit_policy_save(
        actor=gm,
        company_id=org.group.pk,
        include_receivables=True,
        include_uninvoiced=True,
        include_open_orders=True,
        overdue_block_enabled=False,
        overdue_block_days=30,
        overdue_block_amount="0",
    )
    stock.receive("100")
    opening(org, t, "100.00", days_ago=60)
    assert stock.issue("1").status == PostingStatus.POSTED


# ---------------------------------------------------------------- exceptions


def test_request_records_the_standing_and_goes_to_approval(stock, org):
    t = stock.trading
    set_limit(t.customer, "4000000.00")
    made = exception(t, "440000.00", approve=False)
    assert made.status == CreditExceptionStatus.PENDING
    assert made.number.startswith("XE")
    assert (made.credit_limit, made.exposure) == (D("4000000.00"), D("4440000.00"))
    assert made.approval_request_id is not None
    assert made.requested_by_id == t.salesperson_a.pk
    actions = list(
        AuditEvent.objects.filter(object_id=str(made.pk), object_type="trading.creditexception")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["trading.credit_exception.created", "trading.credit_exception.submitted"]


def test_rejected_exceptions_are_not_usable(stock, org):
    t = stock.trading
    no_open_orders(org, t.manager_a)
    stock.receive("10")
    set_limit(t.customer, "1.00")
    made = exception(t, "100000.00", approve=False)
    reject_first(made)
    assert made.status == CreditExceptionStatus.REJECTED
    with pytest.raises(ValidationFailed):
        stock.issue("1")


def test_an_approved_unused_exception_can_be_given_back(stock, org):
    t = stock.trading
    made = exception(t, "100.00")
    services.credit_exception_cancel(actor=t.salesperson_a, exception_id=made.pk, reason="不需要")
    made.refresh_from_db()
    assert made.status == CreditExceptionStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        services.credit_exception_cancel(actor=t.salesperson_a, exception_id=made.pk)


def test_exception_input_is_checked(stock, org):
    t = stock.trading
    with pytest.raises(ValidationFailed) as refused:
        services.credit_exception_request(
            actor=t.salesperson_a,
            partner_id=t.supplier.pk,
            amount="0",
            reason="",
            valid_until=TODAY - datetime.timedelta(days=1),
        )
    assert set(refused.value.fields) == {"partner", "amount", "reason", "valid_until"}
    assert not CreditException.objects.exists()


def test_who_may_request_and_cancel(stock, org, money_flows):
    t = stock.trading
    for outsider in (t.keeper_a, org.inspector, money_flows.salesperson_b, org.no_role):
        with pytest.raises(PermissionDenied):
            services.credit_exception_request(
                actor=outsider,
                company_id=org.company_a.pk,
                partner_id=t.customer.pk,
                amount="1",
                reason="x",
                valid_until=TODAY,
            )
    made = exception(t, "1.00")
    with pytest.raises(NotFound):
        services.credit_exception_cancel(actor=money_flows.salesperson_b, exception_id=made.pk)
    with pytest.raises(PermissionDenied):
        services.credit_exception_cancel(actor=org.inspector, exception_id=made.pk)
    made.refresh_from_db()
    assert made.status == CreditExceptionStatus.APPROVED


# ---------------------------------------------------------------- the policy


def test_the_policy_is_the_nearest_and_audited(org, trading):
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_user

    assert selectors.credit_policy_for(company_id=org.company_a.pk) == selectors.DEFAULT_POLICY
    gm = make_user(company=org.group, roles=(RoleCode.GENERAL_MANAGER,), username="gm_g4")
    policy = services.credit_policy_save(
        actor=gm,
        company_id=org.group.pk,
        include_receivables=True,
        include_uninvoiced=False,
        include_open_orders=True,
        overdue_block_enabled=True,
        overdue_block_days=45,
        overdue_block_amount="10.00",
    )
    inherited = selectors.credit_policy_for(company_id=org.company_a.pk)
    assert (inherited.company_id, inherited.include_uninvoiced, inherited.overdue_block_days) == (
        org.group.pk,
        False,
        45,
    )
    event = AuditEvent.objects.get(action="trading.credit_policy.created")
    assert event.changes["include_uninvoiced"] == [True, False]
    services.credit_policy_save(
        actor=gm,
        company_id=org.group.pk,
        include_receivables=True,
        include_uninvoiced=True,
        include_open_orders=True,
        overdue_block_enabled=True,
        overdue_block_days=45,
        overdue_block_amount="10.00",
        expected_version=policy.version,
    )
    event = AuditEvent.objects.get(action="trading.credit_policy.updated")
    assert event.changes == {"include_uninvoiced": [False, True]}


def test_only_the_general_manager_sets_the_policy(org, trading):
    for outsider in (trading.finance_a, org.inspector, trading.salesperson_a):
        with pytest.raises((PermissionDenied, NotFound)):
            services.credit_policy_save(
                actor=outsider,
                company_id=org.company_a.pk,
                include_receivables=True,
                include_uninvoiced=True,
                include_open_orders=True,
                overdue_block_enabled=False,
                overdue_block_days=0,
                overdue_block_amount="0",
            )
    assert not CreditPolicy.objects.exists()
    with pytest.raises(ValidationFailed):
        services.credit_policy_save(
            actor=trading.manager_a,
            company_id=org.company_a.pk,
            include_receivables=False,
            include_uninvoiced=False,
            include_open_orders=False,
            overdue_block_enabled=True,
            overdue_block_days=-1,
            overdue_block_amount="x",
        )
    assert not CreditPolicy.objects.exists()


def test_factories_contracts_without_a_row_are_computed(stock, org):
    """A customer with no exposure row yet (data made before credit control) is computed from
    its documents."""
    t = stock.trading
    assert not CreditExposure.objects.filter(partner=t.customer).exists()
    standing = selectors.credit_standing(partner=t.customer)
    assert standing.exposure == D("4440000.00") and standing.updated_at is None
    assert not standing.limit_applies and standing.headroom is None
    assert Contract.objects.filter(partner=t.customer).count() == 1


def test_rebuild_brings_rows_made_outside_the_services_up_to_date(stock, org):
    t = stock.trading
    assert services.exposure_rebuild() == 1  # the customer of the factory-made sales contract
    assert row(t.customer) == (D("0.00"), D("0.00"), D("4440000.00"))
    CreditExposure.objects.filter(partner=t.customer).update(open_orders=D("1"))
    services.exposure_rebuild(partner_ids=[t.customer.pk])
    assert row(t.customer) == (D("0.00"), D("0.00"), D("4440000.00"))
