"""Concurrent postings on PostgreSQL, with real threads and real row locks: many goods issues
against limited stock never drive it below zero; concurrent receipts and issues over several
series never lose or double an entry, nor deadlock; the contract's executed quantity counts
every posting exactly once; balances stay equal to the ledger.

The data is committed (transactional tests), so every thread — each on its own connection —
sees it."""

import datetime
import threading
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection

from qinglian.core import clock
from qinglian.core.errors import ValidationFailed
from qinglian.trading.enums import PostingStatus, TradingErrorCode
from qinglian.trading.models import ContractLine
from qinglian.trading.models.stock import StockBalance, StockDocument, StockLedgerEntry
from qinglian.trading.selectors.stock import stock_balance_mismatches

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgresql_only(transactional_db: None) -> None:
    """Real row locks; the tests using it carry the `postgres` marker."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite takes one database-wide write lock, so there are no "
            "row locks to race for (run with DATABASE_URL=postgres://...)"
        )


def race(calls: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run the calls at the same instant, one thread each: ("ok", result) or ("refused",
    code) per call, in the calls' order; anything else fails the test."""
    start = threading.Barrier(len(calls))
    outcomes: list[tuple[str, Any]] = [("not run", None)] * len(calls)
    errors: list[BaseException] = []

    def runner(index: int, call: Callable[[], Any]) -> Callable[[], None]:
        def work() -> None:
            try:
                start.wait(timeout=10)
                try:
                    outcomes[index] = ("ok", call())
                except ValidationFailed as refused:
                    outcomes[index] = ("refused", refused.code)
            except BaseException as error:  # reported by the test, not lost in the thread
                errors.append(error)
            finally:
                connection.close()

        return work

    threads = [threading.Thread(target=runner(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return outcomes


def test_concurrent_issues_never_drive_stock_below_zero(postgresql_only, stock):
    t = stock.trading
    stock.receive("10")
    for round_number in range(3):
        outcomes = race([lambda: stock.issue("1") for _ in range(14)])
        taken = [o for o in outcomes if o[0] == "ok"]
        refused = [o for o in outcomes if o[0] == "refused"]
        assert refused == [("refused", TradingErrorCode.INSUFFICIENT_STOCK)] * len(refused)
        if round_number == 0:
            assert len(taken) == 10
        balance = StockBalance.objects.get(commodity=t.steel)
        assert balance.quantity >= 0
        if round_number < 2:
            stock.receive("10")
    issues = StockLedgerEntry.objects.filter(kind="issue")
    assert issues.count() == StockDocument.objects.filter(kind="issue").count() == 30
    balance = StockBalance.objects.get(commodity=t.steel)
    assert (balance.quantity, balance.value) == (D("0"), D("0"))
    assert ContractLine.objects.get(contract=stock.sales, commodity=t.steel).executed_quantity == 30
    assert stock_balance_mismatches() == []


def test_concurrent_postings_over_several_series_lose_and_double_nothing(postgresql_only, stock):
    t = stock.trading
    stock.receive("50")
    stock.receive("50", commodity=t.coal)
    steel_first = [
        {"commodity_id": t.steel.pk, "quantity": "2"},
        {"commodity_id": t.coal.pk, "quantity": "3"},
    ]
    coal_first = list(reversed(steel_first))

    def posting(kind: str, lines: list[dict[str, Any]]) -> Callable[[], Any]:
        post = stock.receive if kind == "receipt" else stock.issue
        return lambda: post("0", lines=lines)

    calls: list[Callable[[], Any]] = [
        posting("receipt" if number % 4 < 2 else "issue", steel_first if number % 2 else coal_first)
        for number in range(16)
    ]
    outcomes = race(calls)
    assert [kind for kind, _value in outcomes] == ["ok"] * 16
    numbers = [document.number for _kind, document in outcomes]
    assert len(set(numbers)) == 16
    for commodity, each in ((t.steel, D("2")), (t.coal, D("3"))):
        balance = StockBalance.objects.get(commodity=commodity)
        assert balance.quantity == D("50")  # 8 receipts and 8 issues of the same size
        received = ContractLine.objects.get(contract=stock.purchase, commodity=commodity)
        assert received.executed_quantity == D("50") + 8 * each
        issued = ContractLine.objects.get(contract=stock.sales, commodity=commodity)
        assert issued.executed_quantity == 8 * each
    assert StockLedgerEntry.objects.count() == 2 + 16 * 2
    assert stock_balance_mismatches() == []


def test_a_backdated_receipt_racing_issues_keeps_the_series_consistent(postgresql_only, stock):
    t = stock.trading
    old = clock.today() - datetime.timedelta(days=30)
    stock.receive("20", on=old - datetime.timedelta(days=1))
    stock.issue("5", on=old + datetime.timedelta(days=5))
    calls: list[Callable[[], Any]] = [lambda: stock.issue("1") for _ in range(6)]
    calls.append(lambda: stock.receive("10", on=old))
    outcomes = race(calls)
    assert [kind for kind, _value in outcomes] == ["ok"] * 7
    balance = StockBalance.objects.get(commodity=t.steel)
    assert balance.quantity == D("19")
    assert StockDocument.objects.filter(status=PostingStatus.POSTED).count() == 9
    assert stock_balance_mismatches() == []
