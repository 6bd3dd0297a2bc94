"""Stocktakes and third-party warehouse statements: counted against the books, variances posted
only through the approval flow (the keeper's superior → finance → the leader in charge)."""

import datetime
from decimal import Decimal as D

import pytest

from qinglian.approvals import services as approvals
from qinglian.approvals.enums import RequestStatus, TaskStatus
from qinglian.approvals.models import ApprovalTask
from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_user
from qinglian.trading.enums import ApprovedPostingStatus, TradingErrorCode
from qinglian.trading.models.stock import StockBalance, StockLedgerEntry, Stocktake
from qinglian.trading.selectors.stock import stock_balance_mismatches
from qinglian.trading.services import stock as services

pytestmark = pytest.mark.django_db


def days_ago(days):
    return clock.today() - datetime.timedelta(days=days)


@pytest.fixture
def flow(org, stock):
    """The shipped stocktake flow, and a leader in charge of company A."""
    for definition in services.APPROVAL_FLOWS:
        approvals.template_save(actor=SYSTEM_ACTOR, **definition)
    return make_user(
        company=org.company_a,
        roles=(RoleCode.LEADER_IN_CHARGE,),
        username="leader_a",
        name="甲分管领导",
    )


def count(stock, lines, *, on=None, actor=None, kind="count"):
    return services.stocktake_create(
        actor=actor or stock.trading.keeper_a,
        warehouse_id=stock.trading.warehouse_a.pk,
        counted_on=on or clock.today(),
        kind=kind,
        lines=lines,
    )


def approve_all(request_id):
    """Each step's approver approves, in route order."""
    deciders: list[str] = []
    while True:
        task = (
            ApprovalTask.objects.filter(request_id=request_id, status=TaskStatus.PENDING)
            .select_related("assignee")
            .first()
        )
        if task is None:
            return deciders
        deciders.append(task.assignee.username)
        approvals.task_approve(actor=task.assignee, task_id=task.pk)


def test_variances_post_only_after_the_whole_route_approves(stock, flow):
    t = stock.trading
    stock.receive("100")  # 400,000.00: 4,000 a tonne
    stocktake = count(
        stock,
        [
            {"commodity_id": t.steel.pk, "counted_quantity": "97.5", "reason": "锈蚀损耗"},
            {
                "commodity_id": t.coal.pk,
                "counted_quantity": "2",
                "unit_cost": "800",
                "reason": "上月漏记入库",
            },
        ],
    )
    assert stocktake.number.startswith("PD")
    lines = {line.commodity_id: line for line in stocktake.lines.all()}
    assert lines[t.steel.pk].book_quantity == D("100.000")
    assert lines[t.coal.pk].book_quantity == D("0.000")
    services.stocktake_submit(actor=t.keeper_a, stocktake_id=stocktake.pk)
    stocktake.refresh_from_db()
    assert stocktake.status == ApprovedPostingStatus.PENDING
    request = stocktake.approval_request
    assert request.document_type == "trading.stocktake"
    assert request.form_data["variance_value"] == "11600.00"  # 2.5 × 4,000 + 2 × 800
    assert len(request.form_data["lines"]) == 2
    assert not StockLedgerEntry.objects.filter(kind="stocktake").exists()
    deciders = approve_all(request.pk)
    assert deciders == ["manager_a", "finance_a", "leader_a"]
    request.refresh_from_db()
    stocktake.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert stocktake.status == ApprovedPostingStatus.POSTED
    entries = {
        entry.commodity_id: entry
        for entry in StockLedgerEntry.objects.filter(kind="stocktake", voucher_id=stocktake.pk)
    }
    steel, coal = entries[t.steel.pk], entries[t.coal.pk]
    assert (steel.quantity, steel.value, steel.direction) == (D("-2.5"), D("-10000.00"), "out")
    assert (coal.quantity, coal.value, coal.direction) == (D("2"), D("1600.00"), "in")
    assert steel.voucher_line_id == lines[t.steel.pk].pk
    assert StockBalance.objects.get(commodity=t.steel).quantity == D("97.5")
    assert {line.commodity_id: line.cost for line in stocktake.lines.all()} == {
        t.steel.pk: D("-10000.00"),
        t.coal.pk: D("1600.00"),
    }
    posted = AuditEvent.objects.get(action="trading.stocktake.posted")
    assert posted.actor_id == flow.pk
    assert stock_balance_mismatches() == []


def test_a_rejected_stocktake_posts_nothing_and_can_be_corrected(stock, flow):
    t = stock.trading
    stock.receive("10")
    stocktake = count(stock, [{"commodity_id": t.steel.pk, "counted_quantity": "9", "reason": "?"}])
    services.stocktake_submit(actor=t.keeper_a, stocktake_id=stocktake.pk)
    stocktake.refresh_from_db()
    task = ApprovalTask.objects.get(request=stocktake.approval_request, status=TaskStatus.PENDING)
    approvals.task_reject(actor=task.assignee, task_id=task.pk, comment="重新盘点")
    stocktake.refresh_from_db()
    assert stocktake.status == ApprovedPostingStatus.REJECTED
    assert not StockLedgerEntry.objects.filter(kind="stocktake").exists()
    services.stocktake_update(
        actor=t.keeper_a,
        stocktake_id=stocktake.pk,
        counted_on=clock.today(),
        lines=[{"commodity_id": t.steel.pk, "counted_quantity": "10"}],
    )
    services.stocktake_submit(actor=t.keeper_a, stocktake_id=stocktake.pk)
    stocktake.refresh_from_db()
    assert stocktake.status == ApprovedPostingStatus.POSTED  # no variance: nothing to approve
    assert not StockLedgerEntry.objects.filter(kind="stocktake").exists()


def test_a_withdrawn_stocktake_returns_to_draft(stock, flow):
    t = stock.trading
    stock.receive("10")
    stocktake = count(stock, [{"commodity_id": t.steel.pk, "counted_quantity": "10.01"}])
    services.stocktake_submit(actor=t.keeper_a, stocktake_id=stocktake.pk)
    stocktake.refresh_from_db()
    approvals.request_withdraw(actor=t.keeper_a, request_id=stocktake.approval_request_id)
    stocktake.refresh_from_db()
    assert stocktake.status == ApprovedPostingStatus.DRAFT
    services.stocktake_cancel(actor=t.keeper_a, stocktake_id=stocktake.pk)
    stocktake.refresh_from_db()
    assert stocktake.status == ApprovedPostingStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        services.stocktake_submit(actor=t.keeper_a, stocktake_id=stocktake.pk)


def test_the_book_is_read_again_when_the_variance_posts(stock, flow):
    """Goods moving between the count and the approval (dated after the count) do not change
    the variance; a backdated movement before the count does."""
    t = stock.trading
    stock.receive("10", on=days_ago(10))
    stocktake = count(
        stock,
        [{"commodity_id": t.steel.pk, "counted_quantity": "8", "reason": "短少"}],
        on=days_ago(5),
    )
    services.stocktake_submit(actor=t.keeper_a, stocktake_id=stocktake.pk)
    stock.issue("1", on=days_ago(7))  # backdated before the count: the book is now 9
    stock.issue("3")  # today, after the count
    stocktake.refresh_from_db()
    approve_all(stocktake.approval_request_id)
    entry = StockLedgerEntry.objects.get(kind="stocktake")
    assert (entry.quantity, entry.posting_date) == (D("-1"), days_ago(5))
    assert StockBalance.objects.get(commodity=t.steel).quantity == D("5")
    assert stock_balance_mismatches() == []


def test_a_loss_that_would_make_later_stock_negative_cannot_be_approved(stock, flow):
    t = stock.trading
    stock.receive("10", on=days_ago(10))
    stocktake = count(
        stock,
        [{"commodity_id": t.steel.pk, "counted_quantity": "2", "reason": "被盗"}],
        on=days_ago(5),
    )
    services.stocktake_submit(actor=t.keeper_a, stocktake_id=stocktake.pk)
    stock.issue("9")  # today: only 1 t would be left after the loss of 8
    stocktake.refresh_from_db()
    with pytest.raises(ValidationFailed) as refused:
        approve_all(stocktake.approval_request_id)
    assert refused.value.code == TradingErrorCode.INSUFFICIENT_STOCK
    stocktake.refresh_from_db()
    assert stocktake.status == ApprovedPostingStatus.PENDING
    assert not StockLedgerEntry.objects.filter(kind="stocktake").exists()


def test_a_variance_beyond_tolerance_needs_a_reason_and_found_goods_a_cost(stock, flow):
    t = stock.trading
    stock.receive("100")
    before = Stocktake.objects.count(), AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        count(
            stock,
            [
                {"commodity_id": t.steel.pk, "counted_quantity": "99.6"},  # 0.4 % short
                {"commodity_id": t.coal.pk, "counted_quantity": "1"},  # nothing on the books
            ],
        )
    assert refused.value.code == TradingErrorCode.TOLERANCE
    assert set(refused.value.fields) == {"lines.1.reason", "lines.2.reason", "lines.2.unit_cost"}
    assert (Stocktake.objects.count(), AuditEvent.objects.count()) == before
    within = count(stock, [{"commodity_id": t.steel.pk, "counted_quantity": "99.7"}])
    assert within.status == ApprovedPostingStatus.DRAFT


def test_bad_lines_are_named(stock, flow):
    t = stock.trading
    with pytest.raises(ValidationFailed) as refused:
        count(
            stock,
            [
                {"commodity_id": t.steel.pk, "counted_quantity": "-1"},
                {"commodity_id": t.steel.pk, "counted_quantity": "x"},
                {"commodity_id": 0, "counted_quantity": "1"},
            ],
        )
    assert set(refused.value.fields) == {
        "lines.1.counted_quantity",
        "lines.2.commodity",
        "lines.2.counted_quantity",
        "lines.3.commodity",
    }
    with pytest.raises(ValidationFailed) as refused:
        count(stock, [], on=clock.today() + datetime.timedelta(days=1))
    assert set(refused.value.fields) == {"counted_on"}


def test_a_third_party_statement_follows_the_same_path(stock, flow):
    t = stock.trading
    stock.receive("10")
    statement = count(
        stock,
        [{"commodity_id": t.steel.pk, "counted_quantity": "10.5", "reason": "对账单多出"}],
        kind="statement",
    )
    services.stocktake_submit(actor=t.keeper_a, stocktake_id=statement.pk)
    statement.refresh_from_db()
    approve_all(statement.approval_request_id)
    statement.refresh_from_db()
    assert (statement.kind, statement.status) == ("statement", ApprovedPostingStatus.POSTED)
    assert StockLedgerEntry.objects.get(kind="stocktake").value == D("2000.00")


def test_only_the_companys_keeper_counts(stock, flow, org):
    t = stock.trading
    with pytest.raises(PermissionDenied):
        count(stock, [{"commodity_id": t.steel.pk, "counted_quantity": "1"}], actor=org.inspector)
    with pytest.raises(NotFound):
        count(stock, [{"commodity_id": t.steel.pk, "counted_quantity": "1"}], actor=t.keeper_b)
    with pytest.raises(PermissionDenied):
        count(stock, [{"commodity_id": t.steel.pk, "counted_quantity": "1"}], actor=t.finance_a)
    stocktake = count(stock, [{"commodity_id": t.steel.pk, "counted_quantity": "0"}])
    with pytest.raises(NotFound):
        services.stocktake_submit(actor=t.keeper_b, stocktake_id=stocktake.pk)
    assert Stocktake.objects.count() == 1


def test_a_submitted_stocktake_cannot_be_changed(stock, flow):
    t = stock.trading
    stock.receive("10")
    stocktake = count(stock, [{"commodity_id": t.steel.pk, "counted_quantity": "9", "reason": "x"}])
    services.stocktake_submit(actor=t.keeper_a, stocktake_id=stocktake.pk)
    with pytest.raises(Conflict):
        services.stocktake_update(
            actor=t.keeper_a,
            stocktake_id=stocktake.pk,
            counted_on=clock.today(),
            lines=[{"commodity_id": t.steel.pk, "counted_quantity": "10"}],
        )
    with pytest.raises(InvalidTransition):
        services.stocktake_cancel(actor=t.keeper_a, stocktake_id=stocktake.pk)
