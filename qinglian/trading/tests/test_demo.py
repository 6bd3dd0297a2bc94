"""The trading demo of 东港商贸 loads through the services into a consistent state, and a second
run creates nothing. No database-specific marker: it runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from qinglian.approvals.demo import approval_requests_load, approval_templates_load
from qinglian.approvals.enums import TaskStatus
from qinglian.approvals.models import ApprovalTask
from qinglian.audit.models import AuditEvent
from qinglian.audit.services import audit_chain_verify
from qinglian.org.demo import demo_load
from qinglian.trading.demo import MARKER_CODE, trading_demo_load
from qinglian.trading.enums import (
    AdmissionStatus,
    ApprovedPostingStatus,
    ContractStatus,
    PostingStatus,
)
from qinglian.trading.models import (
    Contract,
    Invoice,
    Partner,
    Payment,
    StockBalance,
    StockDocument,
    StockLedgerEntry,
    Stocktake,
)

pytestmark = pytest.mark.django_db


def test_trading_demo_loads_once_in_a_working_state():
    demo_load()
    approval_templates_load()
    approval_requests_load()

    first = trading_demo_load()

    assert first.flows == 5
    assert first.created > 40
    assert Partner.objects.filter(code=MARKER_CODE).exists()
    # Contracts: three purchase and three sales effective, one purchase draft.
    statuses = sorted(Contract.objects.values_list("kind", "status"))
    assert statuses.count(("purchase", ContractStatus.EFFECTIVE)) == 3
    assert statuses.count(("sales", ContractStatus.EFFECTIVE)) == 3
    assert statuses.count(("purchase", ContractStatus.DRAFT)) == 1
    # Suppliers admitted, one with a qualification running out within 30 days.
    suppliers = Partner.objects.filter(code__startswith="SM-GYS-")
    assert suppliers.count() == 4
    assert set(suppliers.values_list("admission_status", flat=True)) == {AdmissionStatus.ADMITTED}
    # Customers carry the approved credit limits.
    assert Partner.objects.get(code="SM-KH-002").credit_limit == Decimal("5000000.00")
    # Stock: every balance is the sum of its ledger and holds goods.
    balances = list(StockBalance.objects.all())
    assert len(balances) == 4
    for balance in balances:
        ledger = StockLedgerEntry.objects.filter(
            company_id=balance.company_id,
            warehouse_id=balance.warehouse_id,
            commodity_id=balance.commodity_id,
        ).aggregate(quantity=Sum("quantity"), value=Sum("value"))
        assert balance.quantity == ledger["quantity"]
        assert balance.value == ledger["value"]
        assert balance.quantity > 0
    assert StockDocument.objects.filter(status=PostingStatus.POSTED).count() == 7
    assert StockDocument.objects.filter(lines__difference_reason__gt="").exists()
    assert Invoice.objects.filter(status=PostingStatus.POSTED).count() == 4
    # Money: a posted payment and receipt, one payment waiting in an inbox.
    payments = sorted(Payment.objects.values_list("direction", "status"))
    assert payments == [
        ("in", ApprovedPostingStatus.POSTED),
        ("out", ApprovedPostingStatus.PENDING),
        ("out", ApprovedPostingStatus.POSTED),
    ]
    pending_payment = Payment.objects.get(status=ApprovedPostingStatus.PENDING)
    assert ApprovalTask.objects.filter(
        request_id=pending_payment.approval_request_id, status=TaskStatus.PENDING
    ).exists()
    # The stocktake waits for its variance approval.
    stocktake = Stocktake.objects.get()
    assert stocktake.status == ApprovedPostingStatus.PENDING
    assert ApprovalTask.objects.filter(
        request_id=stocktake.approval_request_id, status=TaskStatus.PENDING
    ).exists()
    assert audit_chain_verify().is_intact

    counts = {
        model: model.objects.count()
        for model in (Partner, Contract, StockDocument, Invoice, Payment, Stocktake, AuditEvent)
    }
    second = trading_demo_load()

    assert (second.flows, second.created) == (0, 0)
    assert {model: model.objects.count() for model in counts} == counts
