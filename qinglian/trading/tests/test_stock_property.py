"""Property: any sequence of receipts, issues and reversals — dated at random, so many of them
backdated — keeps every balance at or above zero, the stored balances equal to the ledger's
sums (and to the monthly totals), and the booked values equal to what moving-average costing
gives when the whole series is replayed from nothing."""

import datetime
from collections import defaultdict
from decimal import Decimal as D

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qinglian.core import clock
from qinglian.core.errors import ValidationFailed
from qinglian.trading import costing
from qinglian.trading.enums import ContractKind
from qinglian.trading.factories import make_contract
from qinglian.trading.models.stock import StockBalance, StockLedgerEntry
from qinglian.trading.selectors.stock import stock_balance_mismatches
from qinglian.trading.services import stock as services

pytestmark = pytest.mark.django_db

received = st.decimals(min_value=D("5"), max_value=D("40"), places=1)
issued = st.decimals(min_value=D("0.5"), max_value=D("15"), places=1)
days = st.integers(min_value=0, max_value=75)
receipt = st.tuples(st.just("receive"), st.integers(0, 1), st.integers(0, 1), received, days)
operation = st.one_of(
    receipt,
    st.tuples(st.just("issue"), st.integers(0, 1), st.just(0), issued, days),
    st.tuples(st.just("issue"), st.integers(0, 1), st.just(0), issued, days),
    st.tuples(st.just("reverse"), st.integers(0, 30), st.just(0), st.just(D(0)), days),
)


class Rollback(Exception):
    pass


def replay_differences():
    """Entries whose booked value differs from a replay of their series from nothing."""
    differences = []
    series = defaultdict(list)
    revalued: defaultdict[int, D] = defaultdict(D)
    for entry in StockLedgerEntry.objects.order_by("posting_date", "id"):
        if entry.kind == "revaluation":
            revalued[entry.revalues_id or 0] += entry.value
        else:
            series[(entry.warehouse_id, entry.commodity_id)].append(entry)
    for entries in series.values():
        movements = [
            costing.Movement(
                e.pk,
                e.quantity,
                e.value,
                costing.valuation_of(kind=e.kind, quantity=e.quantity, reverses_id=e.reverses_id),
                e.reverses_id,
                e.posting_date,
            )
            for e in entries
        ]
        _values, changes = costing.SeriesCosting().replay([], movements, dict(revalued))
        differences += [(change.movement.key, change.delta) for change in changes]
    return differences


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=receipt, operations=st.lists(operation, min_size=1, max_size=14), backdate=days)
def test_random_postings_keep_stock_and_ledger_consistent(stock, org, first, operations, backdate):
    t = stock.trading
    commodities = [t.steel, t.coal]
    try:
        with transaction.atomic():
            dearer = make_contract(
                company=org.company_a,
                partner=t.supplier,
                owner=t.purchaser_a,
                kind=ContractKind.PURCHASE,
                lines=[(t.steel, "1000", "5313.00"), (t.coal, "1000", "1017.00")],
            )
            contracts = [stock.purchase, dearer]
            posted = []
            # the last operation is always a backdated receipt, far in the past
            operations = [first, *operations, ("receive", 0, 1, D("7.5"), 76 + backdate % 5)]
            for kind, first, second, quantity, age in operations:
                on = clock.today() - datetime.timedelta(days=age)
                try:
                    if kind == "receive":
                        posted.append(
                            services.stock_document_create(
                                actor=t.keeper_a,
                                kind="receipt",
                                contract_id=contracts[second].pk,
                                warehouse_id=t.warehouse_a.pk,
                                posting_date=on,
                                lines=[
                                    {"commodity_id": commodities[first].pk, "quantity": quantity}
                                ],
                                post=True,
                            )
                        )
                    elif kind == "issue":
                        posted.append(stock.issue(quantity, commodity=commodities[first], on=on))
                    elif posted:
                        original = posted[first % len(posted)]
                        services.stock_document_reverse(
                            actor=t.keeper_a,
                            document_id=original.pk,
                            reason="随机红冲",
                            posting_date=max(on, original.posting_date),
                        )
                except ValidationFailed:
                    pass  # refused (not enough stock, now or later): nothing may have changed
                except Exception as error:  # an illegal reversal (already reversed, a reversal)
                    if type(error).__name__ not in ("InvalidTransition", "Conflict"):
                        raise
                assert not StockBalance.objects.filter(quantity__lt=0).exists()
                assert not StockBalance.objects.filter(value__lt=0).exists()
                assert stock_balance_mismatches() == []
            assert replay_differences() == []
            revaluations = StockLedgerEntry.objects.filter(kind="revaluation").count()
            event(f"revaluation entries: {'some' if revaluations else 'none'}")
            event(f"documents posted: {'over 5' if len(posted) > 5 else '5 or fewer'}")
            raise Rollback
    except Rollback:
        pass
