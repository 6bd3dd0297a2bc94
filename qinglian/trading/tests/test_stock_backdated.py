"""Backdated postings: valued at the average of their own date, refused when they would make
any later point of the history negative, and followed by revaluation entries for every later
entry whose cost changed."""

import datetime
from collections import defaultdict
from decimal import Decimal as D

import pytest

from qinglian.core import clock
from qinglian.core.errors import ValidationFailed
from qinglian.trading import costing
from qinglian.trading.enums import ContractKind, TradingErrorCode
from qinglian.trading.factories import make_contract
from qinglian.trading.models.stock import StockBalance, StockLedgerEntry, StockMonthlyTotal
from qinglian.trading.selectors.stock import stock_balance_mismatches
from qinglian.trading.services import stock as services

pytestmark = pytest.mark.django_db


def days_ago(days):
    return clock.today() - datetime.timedelta(days=days)


def recost_from_scratch(company_id, warehouse_id, commodity_id):
    """Replay the whole series from nothing and return the entries whose booked value
    (revaluations included) differs from what costing gives now: empty when consistent."""
    entries = list(
        StockLedgerEntry.objects.filter(
            company_id=company_id, warehouse_id=warehouse_id, commodity_id=commodity_id
        ).order_by("posting_date", "id")
    )
    revalued: defaultdict[int, D] = defaultdict(D)
    for entry in entries:
        if entry.kind == "revaluation":
            revalued[entry.revalues_id or 0] += entry.value
    movements = [
        costing.Movement(
            entry.pk,
            entry.quantity,
            entry.value,
            costing.valuation_of(
                kind=entry.kind, quantity=entry.quantity, reverses_id=entry.reverses_id
            ),
            entry.reverses_id,
            entry.posting_date,
        )
        for entry in entries
        if entry.kind != "revaluation"
    ]
    series = costing.SeriesCosting()
    _values, changes = series.replay([], movements, dict(revalued))
    return [(change.movement.key, change.delta) for change in changes], series


@pytest.fixture
def dearer(org, stock):
    """A second purchase contract for steel at 5,650.00 incl. VAT (5,000.00 net)."""
    t = stock.trading
    return make_contract(
        company=org.company_a,
        partner=t.supplier,
        owner=t.purchaser_a,
        kind=ContractKind.PURCHASE,
        lines=[(t.steel, "1000", "5650.00")],
    )


def receive(stock, contract, quantity, on):
    return services.stock_document_create(
        actor=stock.trading.keeper_a,
        kind="receipt",
        contract_id=contract.pk,
        warehouse_id=stock.trading.warehouse_a.pk,
        posting_date=on,
        lines=[{"commodity_id": stock.trading.steel.pk, "quantity": str(quantity)}],
        post=True,
    )


def steel_balance(stock):
    row = StockBalance.objects.get(commodity=stock.trading.steel)
    return row.quantity, row.value, row.last_posting_date


def test_a_backdated_receipt_revalues_the_issues_after_it(stock, dearer):
    t = stock.trading
    stock.receive("10", on=days_ago(40))  # 10 @ 4,000 = 40,000
    issue = stock.issue("5", on=days_ago(20))  # 20,000 at the time
    assert issue.total_cost == D("20000.00")
    backdated = receive(stock, dearer, "10", days_ago(30))  # 10 @ 5,000 = 50,000
    # at day −20 the series held 20 t worth 90,000: the issue should have cost 22,500
    revaluation = StockLedgerEntry.objects.get(kind="revaluation")
    issue_entry = StockLedgerEntry.objects.get(kind="issue")
    backdated_entry = StockLedgerEntry.objects.get(voucher_id=backdated.pk, kind="receipt")
    assert (
        revaluation.quantity,
        revaluation.value,
        revaluation.posting_date,
        revaluation.direction,
    ) == (D("0"), D("-2500.00"), days_ago(20), "out")
    assert (revaluation.voucher_type, revaluation.voucher_id, revaluation.voucher_line_id) == (
        "issue",
        issue.pk,
        issue.lines.get().pk,
    )
    assert revaluation.revalues_id == issue_entry.pk
    assert revaluation.caused_by_id == backdated_entry.pk
    assert steel_balance(stock) == (D("15.000"), D("67500.00"), days_ago(20))
    assert recost_from_scratch(t.warehouse_a.company_id, t.warehouse_a.pk, t.steel.pk)[0] == []
    assert stock_balance_mismatches() == []


def test_revaluations_compound_over_several_backdated_entries(stock, dearer):
    t = stock.trading
    stock.receive("10", on=days_ago(60))
    stock.issue("4", on=days_ago(10))
    stock.issue("3", on=days_ago(5))
    receive(stock, dearer, "10", days_ago(30))
    receive(stock, dearer, "5", days_ago(50))
    stock.receive("2", on=days_ago(20))
    assert StockLedgerEntry.objects.filter(kind="revaluation").count() == 6
    changes, replayed = recost_from_scratch(t.warehouse_a.company_id, t.warehouse_a.pk, t.steel.pk)
    assert changes == []
    quantity, value, last = steel_balance(stock)
    assert (quantity, value) == (replayed.quantity, replayed.value) == (D("20.000"), value)
    assert last == days_ago(5)
    assert stock_balance_mismatches() == []


def test_a_backdated_issue_is_valued_at_the_average_of_its_date(stock, dearer):
    stock.receive("10", on=days_ago(30))  # 4,000 a tonne
    receive(stock, dearer, "10", days_ago(10))  # 5,000 a tonne, later
    issue = stock.issue("5", on=days_ago(20))  # before the dearer receipt
    assert issue.total_cost == D("20000.00")
    # the dearer receipt is an inflow at its own value: nothing to revalue after the issue
    assert not StockLedgerEntry.objects.filter(kind="revaluation").exists()
    assert steel_balance(stock)[:2] == (D("15.000"), D("70000.00"))


def test_a_backdated_issue_that_empties_a_past_day_is_refused(stock, english):
    stock.receive("10", on=days_ago(30))
    stock.issue("8", on=days_ago(10))
    stock.receive("20", on=days_ago(5))
    before = list(StockLedgerEntry.objects.values_list("pk", flat=True)), steel_balance(stock)
    # 22 t are held today, but on day −10 only 2 t were left after the issue
    with pytest.raises(ValidationFailed) as refused:
        stock.issue("5", on=days_ago(20))
    assert refused.value.code == TradingErrorCode.INSUFFICIENT_STOCK
    assert list(refused.value.fields) == ["lines.1.quantity"]
    assert "would fall to -3.000 on " + days_ago(10).isoformat() in refused.value.message
    after = list(StockLedgerEntry.objects.values_list("pk", flat=True)), steel_balance(stock)
    assert after == before
    assert stock.issue("2", on=days_ago(20)).total_cost == D("8000.00")


def test_a_backdated_issue_beyond_the_stock_of_its_day_is_refused(stock, english):
    stock.receive("10", on=days_ago(30))
    stock.receive("50", on=days_ago(5))
    with pytest.raises(ValidationFailed) as refused:
        stock.issue("11", on=days_ago(20))
    assert "10.000 held, 11.000 to take out" in refused.value.message


def test_a_backdated_reversal_of_an_issue_carries_the_revaluation(stock, dearer):
    t = stock.trading
    stock.receive("10", on=days_ago(40))
    issue = stock.issue("6", on=days_ago(20))
    services.stock_document_reverse(
        actor=t.keeper_a, document_id=issue.pk, reason="退货", posting_date=days_ago(15)
    )
    stock.issue("3", on=days_ago(10))
    receive(stock, dearer, "10", days_ago(30))
    # the issue, its reversal and the later issue are re-costed; the pair still cancels out
    revalued = dict(
        StockLedgerEntry.objects.filter(kind="revaluation").values_list("revalues_id", "value")
    )
    issue_entry = StockLedgerEntry.objects.get(voucher_id=issue.pk, kind="issue")
    reversal_entry = StockLedgerEntry.objects.get(reverses_id=issue_entry.pk)
    assert revalued[issue_entry.pk] == -revalued[reversal_entry.pk] == D("-3000.00")
    assert recost_from_scratch(t.warehouse_a.company_id, t.warehouse_a.pk, t.steel.pk)[0] == []
    assert stock_balance_mismatches() == []


def test_monthly_totals_follow_backdated_entries_and_revaluations(stock, dearer):
    stock.receive("10", on=days_ago(70))
    stock.issue("5", on=days_ago(3))
    receive(stock, dearer, "10", days_ago(65))
    totals = {
        row.month: (row.in_quantity, row.in_value, row.out_quantity, row.out_value)
        for row in StockMonthlyTotal.objects.all()
    }
    issue_month = days_ago(3).replace(day=1)
    assert totals[issue_month][2:] == (D("5.000"), D("22500.00"))
    assert sum(v[1] for v in totals.values()) == D("90000.00")
    assert stock_balance_mismatches() == []
