"""Money services: invoices (draft → posted → reversed), payments through approval with the
allowance rule and its exception, receipts posted directly, reversals, opening balances, and
the partner ledger they write (entries sum to the stored balance)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

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
    ApprovedPostingStatus,
    ContractKind,
    ContractStatus,
    InvoiceDirection,
    PartnerAccount,
    PartnerEntryKind,
    PaymentDirection,
    PaymentTerm,
    PostingStatus,
    TradingErrorCode,
)
from qinglian.trading.factories import make_contract
from qinglian.trading.models import Invoice, PartnerBalance, PartnerLedgerEntry, Payment
from qinglian.trading.models.money import OpeningBalance
from qinglian.trading.selectors import money as selectors
from qinglian.trading.services import money as services

TODAY = clock.today()
D = Decimal

pytestmark = pytest.mark.usefixtures("money_flows")


@pytest.fixture
def purchase(trading, org):
    """400,000.00 of steel, credit 30 days."""
    return make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "4000")],
    )


@pytest.fixture
def prepaid(trading, org):
    """400,000.00 of steel, 30 % prepayment."""
    return make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "4000")],
        payment_term=PaymentTerm.PREPAYMENT,
        prepayment_percent=D("30"),
        credit_days=0,
    )


@pytest.fixture
def sale(trading, org):
    """400,000.00 of steel to the customer, no credit days on the contract."""
    return make_contract(
        company=org.company_a,
        partner=trading.customer,
        owner=trading.salesperson_a,
        lines=[(trading.steel, "100", "4000")],
        kind=ContractKind.SALES,
        credit_days=0,
    )


def invoice(trading, contract, amount="100000.00", number="00012345", **extra):
    made = services.invoice_create(
        actor=trading.finance_a,
        contract_id=contract.pk,
        invoice_number=number,
        invoice_code=extra.pop("code", "3300212130"),
        invoice_date=extra.pop("invoice_date", TODAY),
        amount=amount,
        **extra,
    )
    return made


def posted_invoice(trading, contract, amount="100000.00", number="00012345", **extra):
    made = invoice(trading, contract, amount, number, **extra)
    return services.invoice_post(actor=trading.finance_a, invoice_id=made.pk)


def approve_all(payment):
    payment.refresh_from_db()
    request = ApprovalRequest.objects.get(pk=payment.approval_request_id)
    for _ in range(10):
        request.refresh_from_db()
        if request.status != RequestStatus.IN_PROGRESS:
            break
        for task in ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING):
            approval_services.task_approve(actor=task.assignee, task_id=task.pk)
    payment.refresh_from_db()
    return request


def pay(trading, contract, amount, **extra):
    payment = services.payment_create(
        actor=trading.finance_a, contract_id=contract.pk, amount=amount, paid_on=TODAY, **extra
    )
    services.payment_submit(actor=trading.finance_a, payment_id=payment.pk)
    payment.refresh_from_db()
    return payment


def ledger_sum(company, partner, account):
    return PartnerLedgerEntry.objects.filter(
        company=company, partner=partner, account=account
    ).aggregate(total=Sum("amount"))["total"] or D("0")


def books(org, trading, contract):
    """Everything a money refusal could have changed."""
    contract.refresh_from_db()
    balance = PartnerBalance.objects.filter(company=org.company_a).values_list(
        "partner_id", "receivable", "payable"
    )
    return (
        contract.invoiced_amount,
        contract.settled_amount,
        sorted(balance),
        PartnerLedgerEntry.objects.count(),
        sorted(Invoice.objects.values_list("id", "status", "version")),
        sorted(Payment.objects.values_list("id", "status", "version")),
        AuditEvent.objects.count(),
        ApprovalRequest.objects.count(),
    )


def assert_balanced(org, partner):
    balance = PartnerBalance.objects.get(company=org.company_a, partner=partner)
    assert balance.receivable == ledger_sum(org.company_a, partner, PartnerAccount.RECEIVABLE)
    assert balance.payable == ledger_sum(org.company_a, partner, PartnerAccount.PAYABLE)


# ---------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("term", "percent", "invoiced", "delivered", "settled", "reserved", "ceiling", "allowed"),
    [
        # Prepayment terms: before any invoice, the prepayment share of the contract.
        (PaymentTerm.PREPAYMENT, "30", "0", "0", "0", "0", "120000.00", "120000.00"),
        (PaymentTerm.PREPAYMENT, "30", "0", "0", "100000", "0", "120000.00", "20000.00"),
        # ... and once invoices exceed it, what is invoiced.
        (PaymentTerm.PREPAYMENT, "30", "250000", "0", "120000", "0", "250000", "130000.00"),
        # Payments under approval are reserved.
        (PaymentTerm.PREPAYMENT, "30", "0", "0", "0", "100000", "120000.00", "20000.00"),
        # Credit terms: nothing before an invoice.
        (PaymentTerm.CREDIT, "0", "0", "0", "0", "0", "0", "0"),
        (PaymentTerm.CREDIT, "0", "80000", "0", "30000", "0", "80000", "50000"),
        # A percentage without prepayment terms does not count.
        (PaymentTerm.CREDIT, "30", "0", "0", "0", "0", "0", "0"),
        # On delivery: what was delivered counts before the invoice.
        (PaymentTerm.ON_DELIVERY, "0", "0", "160000", "0", "0", "160000", "160000"),
        (PaymentTerm.CREDIT, "0", "0", "160000", "0", "0", "0", "0"),
        # Never below zero (after a reversal or an exception).
        (PaymentTerm.CREDIT, "0", "50000", "0", "80000", "0", "50000", "0"),
    ],
)
def test_payment_allowance(term, percent, invoiced, delivered, settled, reserved, ceiling, allowed):
    result = selectors.payment_allowance(
        payment_term=term,
        contract_amount=D("400000.00"),
        prepayment_percent=D(percent),
        invoiced=D(invoiced),
        delivered_value=D(delivered),
        settled=D(settled),
        reserved=D(reserved),
    )
    assert (result.ceiling, result.allowed) == (D(ceiling), D(allowed))


def test_invoice_number_key_normalises_but_keeps_leading_zeros():
    key = selectors.invoice_number_key
    assert key("3300212130", " 0001-2345 ") == key("3300212130", "00012345")
    assert key("", "ab 12") == "/AB12"
    assert key("", "012345") != key("", "12345")
    assert key("3300", "1") != key("3301", "1")


def test_due_date_rule():
    day = datetime.date(2026, 3, 1)
    assert selectors.due_date_for(day, credit_days=45, partner_days=30) == datetime.date(
        2026, 4, 15
    )
    assert selectors.due_date_for(day, credit_days=0, partner_days=30) == datetime.date(2026, 3, 31)
    assert selectors.due_date_for(day, credit_days=0, partner_days=0) == day


def item(kind, pk, amount, posted, due=None, against=None):
    return selectors.LedgerItem(
        key=(kind, pk),
        amount=D(amount),
        posting_date=datetime.date(2026, 1, posted),
        due_date=datetime.date(2026, 2, due) if due else None,
        against=against,
    )


def test_open_items_first_in_first_out():
    items = [
        item("invoice", 1, "100", 1, due=1),
        item("invoice", 2, "50", 2, due=15),
        item("invoice", 3, "70", 3, due=10),
        item("payment", 9, "-120", 5),
    ]
    result = selectors.allocate_open_items(items)
    # 120 settles invoice 1 (due first) and 20 of invoice 3 (due before invoice 2).
    assert [(i.key, i.outstanding) for i in result] == [
        (("invoice", 3), D("50")),
        (("invoice", 2), D("50")),
    ]


def test_open_items_reversal_cancels_its_voucher_and_credits_remain():
    items = [
        item("invoice", 1, "100", 1, due=1),
        item("invoice", 2, "80", 2, due=2),
        item("invoice", 3, "-100", 3, due=1, against=("invoice", 1)),  # 红冲 of invoice 1
        item("payment", 4, "-200", 4),
        item("payment", 5, "150", 5, against=("payment", 4)),  # the payment partly came back
    ]
    result = selectors.allocate_open_items(items)
    # Invoice 1 is gone; payment 4 nets to −50, which settles 50 of invoice 2.
    assert [(i.key, i.amount, i.outstanding) for i in result] == [
        (("invoice", 2), D("80"), D("30")),
    ]
    credit = selectors.allocate_open_items([item("payment", 1, "-40", 1)])
    assert [(i.key, i.outstanding) for i in credit] == [(("payment", 1), D("-40"))]


# ---------------------------------------------------------------- invoices


def test_purchase_invoice_posts_a_payable(trading, org, purchase):
    draft = invoice(trading, purchase, "113000.00")
    assert (draft.status, draft.direction, draft.partner_id) == (
        PostingStatus.DRAFT,
        InvoiceDirection.RECEIVED,
        trading.supplier.pk,
    )
    assert draft.tax_rate == D("0.1300") and draft.tax_amount == D("13000.00")
    assert not PartnerLedgerEntry.objects.exists()
    posted = services.invoice_post(actor=trading.finance_a, invoice_id=draft.pk)
    assert posted.status == PostingStatus.POSTED
    assert posted.due_date == TODAY + datetime.timedelta(days=30)  # the contract's credit days
    entry = PartnerLedgerEntry.objects.get()
    assert (entry.account, entry.kind, entry.amount, entry.contract_id, entry.due_date) == (
        PartnerAccount.PAYABLE,
        PartnerEntryKind.INVOICE,
        D("113000.00"),
        purchase.pk,
        posted.due_date,
    )
    assert (entry.voucher_type, entry.voucher_id) == ("invoice", posted.pk)
    purchase.refresh_from_db()
    assert purchase.invoiced_amount == D("113000.00")
    assert_balanced(org, trading.supplier)
    assert AuditEvent.objects.filter(action="trading.invoice.posted").count() == 1


def test_sales_invoice_falls_due_after_the_customers_payment_days(trading, org, sale):
    posted = posted_invoice(trading, sale, "50000.00")
    assert posted.direction == InvoiceDirection.ISSUED
    assert posted.due_date == TODAY + datetime.timedelta(days=30)  # customer.payment_days
    balance = PartnerBalance.objects.get(company=org.company_a, partner=trading.customer)
    assert (balance.receivable, balance.payable) == (D("50000.00"), D("0"))


def test_invoice_number_is_kept_verbatim_and_a_duplicate_refused(trading, org, purchase, sale):
    first = invoice(trading, purchase, number="0001-2345")
    assert first.invoice_number == "0001-2345"
    before = books(org, trading, purchase)
    with pytest.raises(Conflict) as refused:
        invoice(trading, purchase, number=" 00012345 ")
    assert refused.value.code == TradingErrorCode.DUPLICATE
    assert "invoice_number" in refused.value.fields
    assert books(org, trading, purchase) == before
    # Same number issued by us is another invoice; a different code too.
    invoice(trading, sale, number="00012345")
    invoice(trading, purchase, number="00012345", code="3300212131")
    # A cancelled draft frees its number.
    services.invoice_cancel(actor=trading.finance_a, invoice_id=first.pk)
    assert invoice(trading, purchase, number="00012345").status == PostingStatus.DRAFT


def test_duplicate_is_refused_across_companies(trading, org, purchase, money_flows):
    invoice(trading, purchase, number="99990001")
    theirs = make_contract(
        company=org.company_b,
        partner=trading.supplier,
        owner=trading.purchaser_b,
        lines=[(trading.steel, "10", "4000")],
    )
    with pytest.raises(Conflict):
        services.invoice_create(
            actor=money_flows.finance_b,
            contract_id=theirs.pk,
            invoice_number="99990001",
            invoice_code="3300212130",
            invoice_date=TODAY,
            amount="100.00",
        )


def test_invoice_beyond_contract_plus_tolerance_is_refused(trading, org, purchase):
    posted_invoice(trading, purchase, "400000.00", number="1")
    draft = invoice(trading, purchase, "20000.01", number="2")  # ceiling 420,000.00
    before = books(org, trading, purchase)
    with pytest.raises(ValidationFailed) as refused:
        services.invoice_post(actor=trading.finance_a, invoice_id=draft.pk)
    assert refused.value.code == TradingErrorCode.OVER_CONTRACT
    assert books(org, trading, purchase) == before
    services.invoice_update(actor=trading.finance_a, invoice_id=draft.pk, amount="20000.00")
    services.invoice_post(actor=trading.finance_a, invoice_id=draft.pk)


def test_invoice_reversal(trading, org, purchase):
    original = posted_invoice(trading, purchase, "113000.00")
    reversal = services.invoice_reverse(
        actor=trading.finance_a,
        invoice_id=original.pk,
        invoice_number="00099999",
        reason="单价开错",
    )
    original.refresh_from_db()
    assert original.status == PostingStatus.REVERSED
    assert (reversal.status, reversal.amount, reversal.reverses_id) == (
        PostingStatus.POSTED,
        D("-113000.00"),
        original.pk,
    )
    assert reversal.due_date == original.due_date
    purchase.refresh_from_db()
    assert purchase.invoiced_amount == D("0")
    assert ledger_sum(org.company_a, trading.supplier, PartnerAccount.PAYABLE) == D("0")
    assert PartnerLedgerEntry.objects.count() == 2  # append-only: nothing rewritten
    assert_balanced(org, trading.supplier)
    assert selectors.open_items(user=trading.finance_a, partner_id=trading.supplier.pk) == []
    before = books(org, trading, purchase)
    for target in (original, reversal):
        with pytest.raises(InvalidTransition):
            services.invoice_reverse(
                actor=trading.finance_a, invoice_id=target.pk, invoice_number="X1", reason="x"
            )
    assert books(org, trading, purchase) == before


def test_invoice_refusals_change_nothing(trading, org, purchase, money_flows):
    draft = invoice(trading, purchase)
    before = books(org, trading, purchase)
    with pytest.raises(PermissionDenied):
        services.invoice_post(actor=trading.purchaser_a, invoice_id=draft.pk)
    with pytest.raises(NotFound):
        services.invoice_post(actor=money_flows.finance_b, invoice_id=draft.pk)
    with pytest.raises(PermissionDenied):
        services.invoice_post(actor=org.inspector, invoice_id=draft.pk)
    with pytest.raises(InvalidTransition):
        services.invoice_reverse(
            actor=trading.finance_a, invoice_id=draft.pk, invoice_number="1", reason="x"
        )
    with pytest.raises(Conflict) as stale:
        services.invoice_update(
            actor=trading.finance_a, invoice_id=draft.pk, expected_version=9, amount="1.00"
        )
    assert stale.value.code == TradingErrorCode.STALE_VERSION
    with pytest.raises(ValidationFailed):
        services.invoice_update(
            actor=trading.finance_a,
            invoice_id=draft.pk,
            invoice_date=TODAY + datetime.timedelta(days=1),
        )
    assert books(org, trading, purchase) == before
    services.invoice_post(actor=trading.finance_a, invoice_id=draft.pk)
    before = books(org, trading, purchase)
    with pytest.raises(InvalidTransition):
        services.invoice_post(actor=trading.finance_a, invoice_id=draft.pk)
    with pytest.raises(Conflict) as immutable:
        services.invoice_update(actor=trading.finance_a, invoice_id=draft.pk, amount="1.00")
    assert immutable.value.code == TradingErrorCode.IMMUTABLE
    assert books(org, trading, purchase) == before


def test_no_invoice_against_a_contract_not_in_force(trading, org):
    draft = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "10", "4000")],
        status=ContractStatus.DRAFT,
    )
    with pytest.raises(Conflict) as refused:
        invoice(trading, draft)
    assert refused.value.code == TradingErrorCode.NOT_EFFECTIVE
    assert not Invoice.objects.exists()


# ---------------------------------------------------------------- payments


def test_payment_within_the_allowance_posts_on_approval(trading, org, prepaid):
    payment = pay(trading, prepaid, "120000.00")
    assert payment.status == ApprovedPostingStatus.PENDING
    assert payment.allowed_amount == D("120000.00")
    assert payment.number.startswith(f"FK{TODAY:%Y%m%d}-")
    request = payment.approval_request
    assert (request.document_type, request.document_id) == ("trading.payment", str(payment.pk))
    steps = dict(request.steps.values_list("node_key", "status"))
    assert steps["exception_leader"] == StepStatus.SKIPPED
    assert not PartnerLedgerEntry.objects.exists()  # nothing moves before approval
    approve_all(payment)
    assert payment.status == ApprovedPostingStatus.POSTED
    entry = PartnerLedgerEntry.objects.get()
    assert (entry.account, entry.kind, entry.amount) == (
        PartnerAccount.PAYABLE,
        PartnerEntryKind.PAYMENT,
        D("-120000.00"),
    )
    prepaid.refresh_from_db()
    assert prepaid.settled_amount == D("120000.00")
    assert_balanced(org, trading.supplier)
    assert AuditEvent.objects.filter(action="trading.payment.approved").count() == 1


def test_payment_beyond_the_allowance_is_refused(trading, org, prepaid):
    payment = services.payment_create(
        actor=trading.finance_a, contract_id=prepaid.pk, amount="120000.01", paid_on=TODAY
    )
    before = books(org, trading, prepaid)
    with pytest.raises(ValidationFailed) as refused:
        services.payment_submit(actor=trading.finance_a, payment_id=payment.pk)
    assert refused.value.code == TradingErrorCode.OVER_PAYABLE
    assert "amount" in refused.value.fields
    assert books(org, trading, prepaid) == before


def test_credit_contract_pays_only_what_is_invoiced(trading, org, purchase):
    payment = services.payment_create(
        actor=trading.finance_a, contract_id=purchase.pk, amount="1.00", paid_on=TODAY
    )
    with pytest.raises(ValidationFailed):
        services.payment_submit(actor=trading.finance_a, payment_id=payment.pk)
    posted_invoice(trading, purchase, "50000.00")
    services.payment_update(actor=trading.finance_a, payment_id=payment.pk, amount="50000.00")
    services.payment_submit(actor=trading.finance_a, payment_id=payment.pk)
    approve_all(payment)
    assert payment.status == ApprovedPostingStatus.POSTED
    assert selectors.contract_payment_allowance(purchase).allowed == D("0")


def test_payments_under_approval_are_reserved(trading, org, prepaid):
    pay(trading, prepaid, "100000.00")
    second = services.payment_create(
        actor=trading.finance_a, contract_id=prepaid.pk, amount="20000.01", paid_on=TODAY
    )
    with pytest.raises(ValidationFailed):
        services.payment_submit(actor=trading.finance_a, payment_id=second.pk)
    services.payment_update(actor=trading.finance_a, payment_id=second.pk, amount="20000.00")
    services.payment_submit(actor=trading.finance_a, payment_id=second.pk)


def test_exception_payment_needs_a_reason_and_a_higher_approval(trading, org, prepaid, money_flows):
    payment = services.payment_create(
        actor=trading.finance_a,
        contract_id=prepaid.pk,
        amount="200000.00",
        paid_on=TODAY,
        is_exception=True,
    )
    before = books(org, trading, prepaid)
    with pytest.raises(ValidationFailed) as refused:
        services.payment_submit(actor=trading.finance_a, payment_id=payment.pk)
    assert "exception_reason" in refused.value.fields
    assert books(org, trading, prepaid) == before
    services.payment_update(
        actor=trading.finance_a,
        payment_id=payment.pk,
        exception_reason="钢厂要求全款锁价，总经理办公会同意",
    )
    services.payment_submit(actor=trading.finance_a, payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.allowed_amount == D("120000.00")
    request = payment.approval_request
    assert request.form_data["is_exception"] == "是"
    steps = dict(request.steps.values_list("node_key", "status"))
    assert steps["exception_leader"] != StepStatus.SKIPPED
    approve_all(payment)
    assert payment.status == ApprovedPostingStatus.POSTED
    assert money_flows.leader_a.pk in ApprovalTask.objects.filter(
        request=request, status=TaskStatus.APPROVED
    ).values_list("assignee_id", flat=True)
    prepaid.refresh_from_db()
    assert prepaid.settled_amount == D("200000.00")
    # After an exception nothing more is allowed until invoices catch up.
    assert selectors.contract_payment_allowance(prepaid).allowed == D("0")


@pytest.mark.parametrize("decision", ["reject", "withdraw"])
def test_rejected_payment_is_closed_and_withdrawn_is_a_draft(trading, org, prepaid, decision):
    payment = pay(trading, prepaid, "50000.00")
    if decision == "reject":
        task = ApprovalTask.objects.get(request=payment.approval_request, status=TaskStatus.PENDING)
        approval_services.task_reject(actor=task.assignee, task_id=task.pk, comment="资金计划外")
    else:
        approval_services.request_withdraw(
            actor=trading.finance_a, request_id=payment.approval_request_id
        )
    payment.refresh_from_db()
    expected = (
        ApprovedPostingStatus.REJECTED if decision == "reject" else ApprovedPostingStatus.DRAFT
    )
    assert payment.status == expected
    assert not PartnerLedgerEntry.objects.exists()
    # The reservation is released.
    assert selectors.contract_payment_allowance(prepaid).allowed == D("120000.00")


def test_approval_rechecks_the_allowance(trading, org, purchase):
    bill = posted_invoice(trading, purchase, "80000.00")
    payment = pay(trading, purchase, "80000.00")
    services.invoice_reverse(
        actor=trading.finance_a, invoice_id=bill.pk, invoice_number="R1", reason="开错"
    )
    task = ApprovalTask.objects.get(request=payment.approval_request, status=TaskStatus.PENDING)
    with pytest.raises(ValidationFailed) as refused:
        approval_services.task_approve(actor=task.assignee, task_id=task.pk)
    assert refused.value.code == TradingErrorCode.OVER_PAYABLE
    payment.refresh_from_db()
    assert payment.status == ApprovedPostingStatus.PENDING


def test_payment_refusals(trading, org, prepaid, money_flows):
    payment = services.payment_create(
        actor=trading.finance_a, contract_id=prepaid.pk, amount="1000.00", paid_on=TODAY
    )
    before = books(org, trading, prepaid)
    with pytest.raises(PermissionDenied):
        services.payment_submit(actor=trading.purchaser_a, payment_id=payment.pk)
    with pytest.raises(NotFound):
        services.payment_submit(actor=money_flows.finance_b, payment_id=payment.pk)
    with pytest.raises(PermissionDenied):
        services.payment_submit(actor=org.inspector, payment_id=payment.pk)
    with pytest.raises(InvalidTransition):
        services.receipt_post(actor=trading.finance_a, payment_id=payment.pk)
    with pytest.raises(InvalidTransition):
        services.payment_reverse(actor=trading.finance_a, payment_id=payment.pk, reason="x")
    with pytest.raises(ValidationFailed):
        services.payment_update(actor=trading.finance_a, payment_id=payment.pk, amount="0")
    assert books(org, trading, prepaid) == before
    with pytest.raises(PermissionDenied):
        services.payment_create(
            actor=trading.purchaser_a, contract_id=prepaid.pk, amount="1.00", paid_on=TODAY
        )
    with pytest.raises(ValidationFailed):
        services.payment_create(
            actor=trading.finance_a, contract_id=prepaid.pk, amount="-5.00", paid_on=TODAY
        )
    assert books(org, trading, prepaid) == before


def test_payment_reversal(trading, org, prepaid):
    payment = pay(trading, prepaid, "100000.00")
    approve_all(payment)
    reversal = services.payment_reverse(
        actor=trading.finance_a, payment_id=payment.pk, reason="对方账户信息有误，银行退回"
    )
    payment.refresh_from_db()
    assert payment.status == ApprovedPostingStatus.REVERSED
    assert (reversal.amount, reversal.status, reversal.reverses_id) == (
        D("-100000.00"),
        ApprovedPostingStatus.POSTED,
        payment.pk,
    )
    prepaid.refresh_from_db()
    assert prepaid.settled_amount == D("0")
    assert ledger_sum(org.company_a, trading.supplier, PartnerAccount.PAYABLE) == D("0")
    assert_balanced(org, trading.supplier)
    assert selectors.contract_payment_allowance(prepaid).allowed == D("120000.00")
    with pytest.raises(InvalidTransition):
        services.payment_reverse(actor=trading.finance_a, payment_id=reversal.pk, reason="x")


# ---------------------------------------------------------------- receipts


def test_receipt_is_posted_directly_by_finance(trading, org, sale):
    posted_invoice(trading, sale, "60000.00")
    receipt = services.payment_create(
        actor=trading.finance_a, contract_id=sale.pk, amount="45000.00", paid_on=TODAY
    )
    assert (receipt.direction, receipt.number[:2]) == (PaymentDirection.IN, "SK")
    with pytest.raises(InvalidTransition):
        services.payment_submit(actor=trading.finance_a, payment_id=receipt.pk)
    services.receipt_post(actor=trading.finance_a, payment_id=receipt.pk)
    receipt.refresh_from_db()
    assert receipt.status == ApprovedPostingStatus.POSTED
    assert receipt.approval_request_id is None
    sale.refresh_from_db()
    assert sale.settled_amount == D("45000.00")
    balance = PartnerBalance.objects.get(company=org.company_a, partner=trading.customer)
    assert balance.receivable == D("15000.00")
    assert_balanced(org, trading.customer)
    items = selectors.open_items(user=trading.finance_a, partner_id=trading.customer.pk)
    assert [(i.voucher_type, i.outstanding, i.due_date) for i in items] == [
        ("invoice", D("15000.00"), TODAY + datetime.timedelta(days=30))
    ]
    # A customer may pay ahead: the receivable goes negative (an advance).
    early = services.payment_create(
        actor=trading.finance_a, contract_id=sale.pk, amount="20000.00", paid_on=TODAY
    )
    services.receipt_post(actor=trading.finance_a, payment_id=early.pk)
    balance.refresh_from_db()
    assert balance.receivable == D("-5000.00")
    with pytest.raises(ValidationFailed):
        services.payment_create(
            actor=trading.finance_a,
            contract_id=sale.pk,
            amount="1.00",
            paid_on=TODAY + datetime.timedelta(days=1),
        )


def test_receipt_reversal(trading, org, sale):
    receipt = services.payment_create(
        actor=trading.finance_a, contract_id=sale.pk, amount="1000.00", paid_on=TODAY
    )
    services.receipt_post(actor=trading.finance_a, payment_id=receipt.pk)
    services.payment_reverse(actor=trading.finance_a, payment_id=receipt.pk, reason="重复入账")
    sale.refresh_from_db()
    assert sale.settled_amount == D("0")
    assert_balanced(org, trading.customer)
    assert ledger_sum(org.company_a, trading.customer, PartnerAccount.RECEIVABLE) == D("0")


# ---------------------------------------------------------------- opening balances


def test_opening_balance_with_a_contract_and_its_reversal(trading, org, sale):
    opening = services.opening_balance_post(
        actor=trading.finance_a,
        company_id=org.company_a.pk,
        partner_id=trading.customer.pk,
        account=PartnerAccount.RECEIVABLE,
        amount="30000.00",
        posting_date=datetime.date(2026, 1, 1),
        due_date=datetime.date(2026, 1, 31),
        contract_id=sale.pk,
        reference="2025年末应收",
    )
    sale.refresh_from_db()
    assert sale.invoiced_amount == D("30000.00")
    entry = PartnerLedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.due_date, entry.voucher_type) == (
        PartnerEntryKind.OPENING,
        D("30000.00"),
        datetime.date(2026, 1, 31),
        "opening",
    )
    items = selectors.open_items(
        user=trading.finance_a, partner_id=trading.customer.pk, as_of=datetime.date(2026, 3, 1)
    )
    assert [(i.outstanding, i.days_overdue) for i in items] == [(D("30000.00"), 29)]
    services.opening_balance_reverse(actor=trading.finance_a, opening_id=opening.pk, reason="重复")
    sale.refresh_from_db()
    assert sale.invoiced_amount == D("0")
    assert_balanced(org, trading.customer)
    with pytest.raises(InvalidTransition):
        services.opening_balance_reverse(actor=trading.finance_a, opening_id=opening.pk, reason="x")


def test_opening_payable_without_contract_limits_payments_without_one(trading, org):
    services.opening_balance_post(
        actor=trading.finance_a,
        company_id=org.company_a.pk,
        partner_id=trading.supplier.pk,
        account=PartnerAccount.PAYABLE,
        amount="50000.00",
        posting_date=datetime.date(2026, 1, 1),
    )
    payment = services.payment_create(
        actor=trading.finance_a,
        company_id=org.company_a.pk,
        partner_id=trading.supplier.pk,
        direction=PaymentDirection.OUT,
        amount="50000.01",
        paid_on=TODAY,
    )
    with pytest.raises(ValidationFailed):
        services.payment_submit(actor=trading.finance_a, payment_id=payment.pk)
    services.payment_update(actor=trading.finance_a, payment_id=payment.pk, amount="50000.00")
    services.payment_submit(actor=trading.finance_a, payment_id=payment.pk)
    approve_all(payment)
    assert payment.status == ApprovedPostingStatus.POSTED
    assert ledger_sum(org.company_a, trading.supplier, PartnerAccount.PAYABLE) == D("0")
    assert_balanced(org, trading.supplier)


def test_opening_balance_refusals(trading, org, purchase):
    before = (OpeningBalance.objects.count(), AuditEvent.objects.count())
    kwargs = {
        "company_id": org.company_a.pk,
        "partner_id": trading.supplier.pk,
        "account": PartnerAccount.RECEIVABLE,
        "amount": "10.00",
        "posting_date": "2026-01-01",
    }
    with pytest.raises(PermissionDenied):
        services.opening_balance_post(actor=trading.purchaser_a, **kwargs)
    with pytest.raises(ValidationFailed):  # a purchase contract carries a payable
        services.opening_balance_post(actor=trading.finance_a, contract_id=purchase.pk, **kwargs)
    with pytest.raises(ValidationFailed):
        services.opening_balance_post(actor=trading.finance_a, **{**kwargs, "amount": "0"})
    assert (OpeningBalance.objects.count(), AuditEvent.objects.count()) == before


# ---------------------------------------------------------------- after an amendment


def test_money_follows_the_contract_into_its_amendment(trading, org, purchase):
    from qinglian.trading.services import contracts as contract_services

    bill = posted_invoice(trading, purchase, "100000.00")
    amendment = contract_services.contract_amend(actor=trading.purchaser_a, contract_id=purchase.pk)
    contract_services.contract_submit(actor=trading.purchaser_a, contract_id=amendment.pk)
    approve_all(amendment)
    assert amendment.status == ContractStatus.EFFECTIVE
    assert amendment.invoiced_amount == D("100000.00")
    # A draft invoice against the superseded revision posts against the amendment.
    late = invoice(trading, amendment, "5000.00", number="2")
    Invoice.objects.filter(pk=late.pk).update(contract=purchase)
    services.invoice_post(actor=trading.finance_a, invoice_id=late.pk)
    late.refresh_from_db()
    amendment.refresh_from_db()
    assert late.contract_id == amendment.pk
    assert amendment.invoiced_amount == D("105000.00")
    payment = pay(trading, purchase, "105000.00")
    assert payment.contract_id == amendment.pk
    services.invoice_reverse(
        actor=trading.finance_a, invoice_id=bill.pk, invoice_number="R-1", reason="x"
    )
    amendment.refresh_from_db()
    assert amendment.invoiced_amount == D("5000.00")
    rows = selectors.partner_contract_balances(
        user=trading.finance_a, partner_id=trading.supplier.pk
    )
    assert [(row.contract_id, row.payable) for row in rows] == [(purchase.pk, D("5000.00"))]
