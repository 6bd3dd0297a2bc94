"""Goods receipts and issues through the services: each lifecycle (draft, post, cancel,
reverse), costing, contract execution, and every refusal leaving nothing behind."""

import datetime
from decimal import Decimal as D

import pytest

from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from qinglian.trading.enums import ContractStatus, PostingStatus, TradingErrorCode
from qinglian.trading.models import ContractLine
from qinglian.trading.models.stock import (
    StockBalance,
    StockDocument,
    StockDocumentLine,
    StockLedgerEntry,
)
from qinglian.trading.selectors.stock import stock_balance_mismatches
from qinglian.trading.services import stock as services

pytestmark = pytest.mark.django_db


def today():
    return clock.today()


def balance(stock, commodity=None, warehouse=None):
    row = StockBalance.objects.filter(
        warehouse=warehouse or stock.trading.warehouse_a,
        commodity=commodity or stock.trading.steel,
    ).first()
    return (row.quantity, row.value) if row else (D("0"), D("0"))


def executed(contract, commodity):
    return ContractLine.objects.get(contract=contract, commodity=commodity).executed_quantity


def snapshot():
    """Everything a refused posting must leave as it was."""
    return (
        StockDocument.objects.count(),
        StockDocumentLine.objects.count(),
        StockLedgerEntry.objects.count(),
        list(StockBalance.objects.order_by("pk").values_list("quantity", "value")),
        list(ContractLine.objects.order_by("pk").values_list("executed_quantity", flat=True)),
        AuditEvent.objects.filter(action__startswith="trading.stock").count(),
    )


# ---------------------------------------------------------------- receipts


def test_a_posted_receipt_books_stock_at_the_price_net_of_vat(stock):
    receipt = stock.receive("10", weighed_quantity=D("10.02"))
    assert receipt.status == PostingStatus.POSTED
    assert receipt.number.startswith(f"RK{today():%Y%m%d}-")
    assert receipt.partner_id == stock.trading.supplier.pk
    assert (receipt.total_quantity, receipt.total_amount, receipt.total_cost) == (
        D("10"),
        D("45200.00"),
        D("40000.00"),
    )
    line = receipt.lines.get()
    assert (line.quantity, line.weighed_quantity, line.cost) == (
        D("10.000"),
        D("10.020"),
        D("40000.00"),
    )
    assert balance(stock) == (D("10.000"), D("40000.00"))
    assert executed(stock.purchase, stock.trading.steel) == D("10")
    entry = StockLedgerEntry.objects.get()
    assert (entry.kind, entry.direction, entry.quantity, entry.value) == (
        "receipt",
        "in",
        D("10.000"),
        D("40000.00"),
    )
    assert (entry.voucher_type, entry.voucher_id, entry.voucher_line_id) == (
        "receipt",
        receipt.pk,
        line.pk,
    )
    event = AuditEvent.objects.get(action="trading.stock_document.posted")
    assert event.object_id == str(receipt.pk)
    assert stock_balance_mismatches() == []


def test_a_draft_changes_nothing_until_it_is_posted(stock):
    draft = stock.receive("10", post=False)
    assert draft.status == PostingStatus.DRAFT
    assert StockLedgerEntry.objects.count() == 0
    assert executed(stock.purchase, stock.trading.steel) == 0
    updated = services.stock_document_update(
        actor=stock.trading.keeper_a,
        document_id=draft.pk,
        warehouse_id=stock.trading.warehouse_a.pk,
        posting_date=today(),
        lines=[
            {"commodity_id": stock.trading.steel.pk, "quantity": "12"},
            {"commodity_id": stock.trading.coal.pk, "quantity": "5"},
        ],
        remarks="两车",
        expected_version=1,
    )
    assert (updated.version, updated.total_quantity) == (2, D("17"))
    posted = services.stock_document_post(
        actor=stock.trading.keeper_a, document_id=draft.pk, expected_version=2
    )
    assert posted.status == PostingStatus.POSTED
    assert posted.total_cost == D("48000.00") + D("4000.00")
    assert balance(stock) == (D("12.000"), D("48000.00"))
    assert balance(stock, stock.trading.coal) == (D("5.000"), D("4000.00"))
    actions = list(
        AuditEvent.objects.filter(object_type="trading.stockdocument", object_id=str(draft.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "trading.stock_document.created",
        "trading.stock_document.updated",
        "trading.stock_document.posted",
    ]


def test_a_draft_can_be_cancelled_but_not_posted_afterwards(stock):
    draft = stock.receive("10", post=False)
    services.stock_document_cancel(actor=stock.trading.keeper_a, document_id=draft.pk)
    draft.refresh_from_db()
    assert draft.status == PostingStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        services.stock_document_post(actor=stock.trading.keeper_a, document_id=draft.pk)
    assert StockLedgerEntry.objects.count() == 0


def test_a_posted_document_is_immutable(stock):
    receipt = stock.receive("10")
    before = snapshot()
    with pytest.raises(Conflict) as refused:
        services.stock_document_update(
            actor=stock.trading.keeper_a,
            document_id=receipt.pk,
            warehouse_id=stock.trading.warehouse_a.pk,
            posting_date=today(),
            lines=[{"commodity_id": stock.trading.steel.pk, "quantity": "1"}],
        )
    assert refused.value.code == TradingErrorCode.IMMUTABLE
    with pytest.raises(Conflict):
        services.stock_document_cancel(actor=stock.trading.keeper_a, document_id=receipt.pk)
    assert snapshot() == before


def test_a_stale_version_is_refused(stock):
    draft = stock.receive("10", post=False)
    with pytest.raises(Conflict) as refused:
        services.stock_document_post(
            actor=stock.trading.keeper_a, document_id=draft.pk, expected_version=7
        )
    assert refused.value.code == TradingErrorCode.STALE_VERSION


def test_the_same_idempotency_key_creates_one_document(stock):
    first = stock.receive("10", idempotency_key="tap-1")
    again = stock.receive("10", idempotency_key="tap-1")
    assert again.pk == first.pk
    assert StockLedgerEntry.objects.count() == 1


# ---------------------------------------------------------------- issues and costing


def test_issues_leave_at_the_moving_average_and_the_last_takes_the_rest(stock):
    stock.receive("10")  # 40,000.00
    services.stock_document_create(
        actor=stock.trading.keeper_a,
        kind="receipt",
        contract_id=stock.purchase.pk,
        warehouse_id=stock.trading.warehouse_a.pk,
        posting_date=today(),
        lines=[{"commodity_id": stock.trading.steel.pk, "quantity": "20"}],
        post=True,
    )  # 20 × 4,000 = 80,000.00 → 30 t / 120,000.00
    first = stock.issue("7")
    assert first.total_cost == D("28000.00")
    assert first.total_amount == D("35000.00")
    assert first.number.startswith("CK")
    assert balance(stock) == (D("23.000"), D("92000.00"))
    last = stock.issue("23")
    assert last.total_cost == D("92000.00")
    assert balance(stock) == (D("0.000"), D("0.00"))
    assert executed(stock.sales, stock.trading.steel) == D("30")
    out = StockLedgerEntry.objects.filter(kind="issue").values_list("direction", "value")
    assert sorted(out) == [("out", D("-92000.00")), ("out", D("-28000.00"))]
    assert stock_balance_mismatches() == []


def test_an_issue_beyond_the_stock_is_refused_naming_the_line(stock, english):
    stock.receive("10")
    before = snapshot()
    with pytest.raises(ValidationFailed) as refused:
        stock.issue(
            "0",
            lines=[
                {"commodity_id": stock.trading.coal.pk, "quantity": "0"},
                {"commodity_id": stock.trading.steel.pk, "quantity": "10.001"},
            ],
        )
    assert "lines.1.quantity" in refused.value.fields  # zero is not a quantity
    with pytest.raises(ValidationFailed) as refused:
        stock.issue("10.001")
    assert refused.value.code == TradingErrorCode.INSUFFICIENT_STOCK
    assert list(refused.value.fields) == ["lines.1.quantity"]
    assert "10.000 held, 10.001 to take out" in refused.value.message
    assert snapshot() == before


def test_an_issue_where_nothing_was_ever_held_is_refused(stock):
    with pytest.raises(ValidationFailed) as refused:
        stock.issue("1", commodity=stock.trading.coal)
    assert refused.value.code == TradingErrorCode.INSUFFICIENT_STOCK
    assert StockBalance.objects.count() == 0


# ---------------------------------------------------------------- contract and weighing rules


def test_receipts_beyond_the_contract_and_its_tolerance_are_refused(stock, english):
    stock.receive("1000")
    stock.receive("50")  # the 5 % tolerance: up to 1,050 t
    before = snapshot()
    with pytest.raises(ValidationFailed) as refused:
        stock.receive("0.001")
    assert refused.value.code == TradingErrorCode.OVER_CONTRACT
    assert list(refused.value.fields) == ["lines.1.quantity"]
    assert "1,050.000 with the tolerance" in refused.value.message
    assert snapshot() == before


def test_two_lines_on_one_contract_line_count_together(stock):
    stock.receive("1000")
    with pytest.raises(ValidationFailed) as refused:
        stock.receive(
            "0",
            lines=[
                {"commodity_id": stock.trading.steel.pk, "quantity": "30"},
                {"commodity_id": stock.trading.steel.pk, "quantity": "30"},
            ],
        )
    assert set(refused.value.fields) == {"lines.1.quantity", "lines.2.quantity"}


def test_a_weighing_difference_beyond_tolerance_needs_a_reason(stock, english):
    before = snapshot()
    with pytest.raises(ValidationFailed) as refused:
        stock.receive("100", weighed_quantity=D("99.6"))  # 0.40 % > 0.30 %
    assert refused.value.code == TradingErrorCode.TOLERANCE
    assert list(refused.value.fields) == ["lines.1.difference_reason"]
    message = refused.value.fields["lines.1.difference_reason"][0]
    assert message.startswith("Line 1: the weighed quantity differs")
    assert "0.40 %" in message
    assert snapshot() == before
    within = stock.receive("100", weighed_quantity=D("99.7"))  # exactly the tolerance
    explained = stock.receive(
        "100", weighed_quantity=D("99.6"), difference_reason="途耗，司机签字确认"
    )
    assert within.status == explained.status == PostingStatus.POSTED


def test_the_contract_must_be_effective_and_of_the_right_kind(stock, english):
    with pytest.raises(ValidationFailed) as refused:
        services.stock_document_create(
            actor=stock.trading.keeper_a,
            kind="receipt",
            contract_id=stock.sales.pk,
            warehouse_id=stock.trading.warehouse_a.pk,
            posting_date=today(),
            lines=[{"commodity_id": stock.trading.steel.pk, "quantity": "1"}],
        )
    assert refused.value.fields["contract"] == ["A goods receipt needs a purchase contract."]
    type(stock.purchase).objects.filter(pk=stock.purchase.pk).update(
        status=ContractStatus.TERMINATED
    )
    before = snapshot()
    with pytest.raises(ValidationFailed) as refused:
        stock.receive("1")
    assert refused.value.code == TradingErrorCode.NOT_EFFECTIVE
    assert snapshot() == before


def test_a_commodity_not_on_the_contract_is_refused(stock, org):
    from qinglian.trading.factories import make_commodity

    ore = make_commodity(company=org.group, code="ORE", name="铁矿石")
    with pytest.raises(ValidationFailed) as refused:
        stock.receive("1", commodity=ore)
    assert list(refused.value.fields) == ["lines.1.commodity"]


def test_the_warehouse_must_belong_to_the_contracts_company(stock):
    with pytest.raises(ValidationFailed) as refused:
        stock.receive("1", warehouse_id=stock.trading.warehouse_b.pk)
    assert list(refused.value.fields) == ["warehouse"]


def test_a_future_date_is_refused(stock):
    with pytest.raises(ValidationFailed) as refused:
        stock.receive("1", on=today() + datetime.timedelta(days=1))
    assert list(refused.value.fields) == ["posting_date"]


# ---------------------------------------------------------------- who may


def test_only_the_companys_keeper_writes(stock, org):
    before = snapshot()
    with pytest.raises(PermissionDenied):
        stock.receive("1", actor=stock.trading.purchaser_a)
    with pytest.raises(PermissionDenied):
        stock.receive("1", actor=org.inspector)  # reads everything, writes nothing
    with pytest.raises(NotFound):
        stock.receive("1", actor=stock.trading.keeper_b)  # another company's contract
    with pytest.raises(NotFound):
        stock.receive("1", actor=org.no_role)
    assert snapshot() == before
    draft = stock.receive("1", post=False)
    with pytest.raises(NotFound):
        services.stock_document_post(actor=stock.trading.keeper_b, document_id=draft.pk)
    with pytest.raises(PermissionDenied):
        services.stock_document_post(actor=org.inspector, document_id=draft.pk)


# ---------------------------------------------------------------- reversals


def test_reversing_a_receipt_takes_its_goods_out_at_the_average(stock):
    receipt = stock.receive("10")  # 40,000.00
    stock.receive("10", lines=[{"commodity_id": stock.trading.steel.pk, "quantity": "10"}])
    stock.issue("5")  # 5 × 4,000 = 20,000.00
    reversal = services.stock_document_reverse(
        actor=stock.trading.keeper_a, document_id=receipt.pk, reason="供应商发错货"
    )
    receipt.refresh_from_db()
    assert receipt.status == PostingStatus.REVERSED
    assert (reversal.status, reversal.reverses_id, reversal.kind) == (
        PostingStatus.POSTED,
        receipt.pk,
        "receipt",
    )
    assert (reversal.total_quantity, reversal.total_amount, reversal.total_cost) == (
        D("-10"),
        D("-45200.00"),
        D("-40000.00"),
    )
    line = reversal.lines.get()
    assert (line.quantity, line.amount, line.cost) == (D("-10"), D("-45200.00"), D("-40000.00"))
    entry = StockLedgerEntry.objects.get(voucher_id=reversal.pk, voucher_type="receipt")
    original = StockLedgerEntry.objects.get(voucher_id=receipt.pk, voucher_type="receipt")
    assert (entry.quantity, entry.value, entry.reverses_id, entry.direction) == (
        D("-10"),
        D("-40000.00"),
        original.pk,
        "in",
    )
    assert balance(stock) == (D("5.000"), D("20000.00"))
    assert executed(stock.purchase, stock.trading.steel) == D("10")
    event = AuditEvent.objects.get(action="trading.stock_document.reversed")
    assert event.changes["reversal"] == [None, reversal.number]
    assert stock_balance_mismatches() == []


def test_reversing_an_issue_brings_its_goods_back_at_their_cost(stock):
    stock.receive("10")  # 4,000 a tonne
    issue = stock.issue("4")  # 16,000.00
    stock.receive("10", lines=[{"commodity_id": stock.trading.steel.pk, "quantity": "10"}])
    reversal = services.stock_document_reverse(
        actor=stock.trading.keeper_a, document_id=issue.pk, reason="客户退货"
    )
    assert reversal.total_cost == D("-16000.00")
    assert balance(stock) == (D("20.000"), D("80000.00"))
    assert executed(stock.sales, stock.trading.steel) == D("0")


def test_a_reversal_that_would_leave_negative_stock_is_refused(stock):
    receipt = stock.receive("10")
    stock.issue("8")
    before = snapshot()
    with pytest.raises(ValidationFailed) as refused:
        services.stock_document_reverse(
            actor=stock.trading.keeper_a, document_id=receipt.pk, reason="错单"
        )
    assert refused.value.code == TradingErrorCode.INSUFFICIENT_STOCK
    assert snapshot() == before


def test_a_reversal_needs_a_reason_a_sane_date_and_a_posted_original(stock):
    receipt = stock.receive("10", on=today() - datetime.timedelta(days=3))
    with pytest.raises(ValidationFailed) as refused:
        services.stock_document_reverse(
            actor=stock.trading.keeper_a,
            document_id=receipt.pk,
            reason=" ",
            posting_date=today() - datetime.timedelta(days=4),
        )
    assert set(refused.value.fields) == {"reason", "posting_date"}
    reversal = services.stock_document_reverse(
        actor=stock.trading.keeper_a, document_id=receipt.pk, reason="错单"
    )
    with pytest.raises(InvalidTransition):
        services.stock_document_reverse(
            actor=stock.trading.keeper_a, document_id=receipt.pk, reason="再冲"
        )
    with pytest.raises(Conflict):
        services.stock_document_reverse(
            actor=stock.trading.keeper_a, document_id=reversal.pk, reason="冲红冲"
        )
    draft = stock.receive("1", post=False)
    with pytest.raises(InvalidTransition):
        services.stock_document_reverse(
            actor=stock.trading.keeper_a, document_id=draft.pk, reason="草稿"
        )


def test_a_corrected_document_is_just_a_new_document(stock):
    wrong = stock.receive("10")
    services.stock_document_reverse(
        actor=stock.trading.keeper_a, document_id=wrong.pk, reason="数量录错"
    )
    right = stock.receive("12")
    assert right.reverses_id is None
    assert balance(stock) == (D("12.000"), D("48000.00"))
    assert executed(stock.purchase, stock.trading.steel) == D("12")
    assert stock_balance_mismatches() == []
