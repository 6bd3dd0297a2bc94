"""Stock reads: the PSI summary against the ledger it summarises, the ledger drill-down, the
balances, and the data scope of each."""

import datetime
from decimal import Decimal as D

import pytest

from qinglian.core import clock
from qinglian.trading.enums import ContractKind
from qinglian.trading.factories import make_contract
from qinglian.trading.models.stock import StockLedgerEntry
from qinglian.trading.selectors import stock as selectors
from qinglian.trading.services import stock as services

pytestmark = pytest.mark.django_db


def days_ago(days):
    return clock.today() - datetime.timedelta(days=days)


@pytest.fixture
def history(stock, org):
    """Four months of steel and coal in and out, some of it backdated, and a reversal."""
    t = stock.trading
    stock.receive("100", on=days_ago(120))
    stock.receive("40", commodity=t.coal, on=days_ago(110))
    stock.issue("30", on=days_ago(95))
    stock.receive("50", on=days_ago(70))
    wrong = stock.issue("10", commodity=t.coal, on=days_ago(60))
    services.stock_document_reverse(
        actor=t.keeper_a, document_id=wrong.pk, reason="开错单", posting_date=days_ago(58)
    )
    stock.issue("45", on=days_ago(31))
    stock.issue("5", on=days_ago(1))
    dearer = make_contract(
        company=org.company_a,
        partner=t.supplier,
        owner=t.purchaser_a,
        kind=ContractKind.PURCHASE,
        lines=[(t.steel, "100", "5650.00")],
    )
    services.stock_document_create(  # backdated, dearer: revalues the later issues
        actor=t.keeper_a,
        kind="receipt",
        contract_id=dearer.pk,
        warehouse_id=t.warehouse_a.pk,
        posting_date=days_ago(100),
        lines=[{"commodity_id": t.steel.pk, "quantity": "20"}],
        post=True,
    )
    return stock


def brute_force(date_from, date_to):
    """The summary straight from the ledger, entry by entry."""
    rows: dict[tuple[int, int, int], list[D]] = {}
    for entry in StockLedgerEntry.objects.filter(posting_date__lte=date_to):
        key = (entry.company_id, entry.warehouse_id, entry.commodity_id)
        row = rows.setdefault(key, [D(0)] * 6)
        if entry.posting_date < date_from:
            row[0] += entry.quantity
            row[1] += entry.value
        elif entry.direction == "in":
            row[2] += entry.quantity
            row[3] += entry.value
        else:
            row[4] -= entry.quantity
            row[5] -= entry.value
    return {key: tuple(values) for key, values in rows.items() if any(values)}


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (130, 0),  # everything
        (100, 100),  # one day
        (95, 60),  # across month edges
        (61, 31),
        (30, 1),
        (200, 150),  # before anything: no rows
    ],
)
def test_the_psi_summary_equals_the_ledger_it_sums(history, org, start, end):
    date_from, date_to = days_ago(start), days_ago(end)
    rows = selectors.psi_summary(user=org.inspector, date_from=date_from, date_to=date_to)
    found = {
        row.key: (
            row.opening_quantity,
            row.opening_value,
            row.in_quantity,
            row.in_value,
            row.out_quantity,
            row.out_value,
        )
        for row in rows
    }
    assert found == brute_force(date_from, date_to)
    for row in rows:
        assert row.closing_quantity == row.opening_quantity + row.in_quantity - row.out_quantity
        assert row.company == "甲公司" and row.warehouse == "甲一号库" and row.unit == "t"


def test_the_closing_figures_are_the_balances(history, org):
    t = history.trading
    rows = selectors.psi_summary(user=org.inspector, date_from=days_ago(365), date_to=clock.today())
    balances = {
        b.commodity_id: (b.quantity, b.value)
        for b in selectors.stock_balance_list(user=org.inspector, include_empty=True)
    }
    assert {r.commodity_id: (r.closing_quantity, r.closing_value) for r in rows} == balances
    assert balances[t.steel.pk][0] == D("90")
    assert balances[t.coal.pk][0] == D("40")


def test_the_summary_filters_and_keeps_to_the_scope(history, org):
    t = history.trading
    everything = {"date_from": days_ago(365), "date_to": clock.today()}
    assert len(selectors.psi_summary(user=org.inspector, **everything)) == 2
    assert len(selectors.psi_summary(user=t.keeper_a, **everything)) == 2
    assert selectors.psi_summary(user=t.keeper_b, **everything) == []
    assert selectors.psi_summary(user=org.no_role, **everything) == []
    only_coal = selectors.psi_summary(user=org.inspector, commodity_ids=[t.coal.pk], **everything)
    assert [row.commodity_id for row in only_coal] == [t.coal.pk]
    assert (
        selectors.psi_summary(user=t.keeper_a, company_ids=[org.company_b.pk], **everything) == []
    )
    assert (
        selectors.psi_summary(user=org.inspector, warehouse_ids=[t.warehouse_b.pk], **everything)
        == []
    )


def test_the_ledger_drills_down_by_series_by_voucher_and_by_cause(history, org):
    t = history.trading
    steel = selectors.stock_ledger_list(
        user=org.inspector,
        company_id=org.company_a.pk,
        warehouse_id=t.warehouse_a.pk,
        commodity_id=t.steel.pk,
    )
    dates = list(steel.values_list("posting_date", flat=True))
    assert dates == sorted(dates)
    out = steel.filter(direction="out", posting_date__gte=days_ago(95))
    assert sum(e.value for e in out) < 0
    revaluations = steel.filter(kind="revaluation")
    assert revaluations.count() == 3  # the three later steel issues
    cause = revaluations.first().caused_by_id
    assert selectors.stock_ledger_list(user=org.inspector, caused_by_id=cause).count() == 3
    issue = revaluations.first()
    voucher = selectors.stock_ledger_list(
        user=org.inspector, voucher_type="issue", voucher_id=issue.voucher_id
    )
    assert sorted(voucher.values_list("kind", flat=True)) == ["issue", "revaluation"]
    assert selectors.stock_ledger_list(user=t.keeper_b).count() == 0


def test_the_book_at_a_date(history, org):
    t = history.trading
    quantity, _value = selectors.stock_quantity_at(
        user=org.inspector,
        company_id=org.company_a.pk,
        warehouse_id=t.warehouse_a.pk,
        commodity_id=t.steel.pk,
        on=days_ago(96),
    )
    assert quantity == D("120")


def test_documents_and_stocktakes_read_in_scope(history, org):
    t = history.trading
    documents = selectors.stock_document_list(user=org.inspector)
    assert documents.count() == 9
    assert selectors.stock_document_list(user=t.keeper_b).count() == 0
    assert selectors.stock_document_list(user=org.inspector, kind="issue").count() == 5
    assert selectors.stock_document_list(user=org.inspector, status="reversed").count() == 1
    reversal = selectors.stock_document_list(user=org.inspector).filter(reverses__isnull=False)
    assert reversal.count() == 1
    with pytest.raises(Exception) as missing:
        selectors.stock_document_access(user=t.keeper_b, id=documents.first().pk)
    assert type(missing.value).__name__ == "NotFound"
