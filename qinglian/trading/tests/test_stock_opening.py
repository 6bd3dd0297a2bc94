"""Opening stock (期初库存) through the service."""

import datetime
from decimal import Decimal as D

import pytest

from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.errors import NotFound, PermissionDenied, ValidationFailed
from qinglian.trading.enums import TradingErrorCode
from qinglian.trading.factories import make_warehouse
from qinglian.trading.models.stock import StockBalance, StockLedgerEntry, StockOpening
from qinglian.trading.selectors.stock import stock_balance_mismatches
from qinglian.trading.services import stock as services

pytestmark = pytest.mark.django_db


def go_live():
    return clock.today() - datetime.timedelta(days=90)


def post(stock, lines, actor=None, company=None):
    return services.stock_opening_post(
        actor=actor or stock.trading.finance_a,
        company_id=(company or stock.trading.warehouse_a.company).pk,
        posting_date=go_live(),
        lines=lines,
        source="期初库存.xlsx",
    )


def test_opening_stock_starts_each_series(stock, org):
    t = stock.trading
    second = make_warehouse(company=org.company_a, code="WA2", name="甲二号库")
    opening = post(
        stock,
        [
            {
                "warehouse_id": t.warehouse_a.pk,
                "commodity_id": t.steel.pk,
                "quantity": "120",
                "unit_cost": "3980.5",
            },
            {
                "warehouse_id": second.pk,
                "commodity_id": t.coal.pk,
                "quantity": "35.5",
                "unit_cost": "700",
            },
        ],
    )
    assert opening.number.startswith("QC")
    assert (opening.total_quantity, opening.total_value) == (D("155.5"), D("502510.00"))
    entries = StockLedgerEntry.objects.filter(voucher_type="opening", voucher_id=opening.pk)
    assert sorted(entries.values_list("kind", "direction", "quantity", "value")) == [
        ("opening", "in", D("35.500"), D("24850.00")),
        ("opening", "in", D("120.000"), D("477660.00")),
    ]
    steel = StockBalance.objects.get(warehouse=t.warehouse_a, commodity=t.steel)
    assert (steel.quantity, steel.value, steel.last_posting_date) == (
        D("120"),
        D("477660.00"),
        go_live(),
    )
    assert AuditEvent.objects.filter(action="trading.stock_opening.posted").count() == 1
    # goods then move as usual, at the opening cost
    assert stock.issue("20").total_cost == D("79610.00")
    assert stock_balance_mismatches() == []


def test_a_series_with_entries_refuses_an_opening(stock, english):
    t = stock.trading
    stock.receive("10")
    with pytest.raises(ValidationFailed) as refused:
        post(
            stock,
            [
                {
                    "warehouse_id": t.warehouse_a.pk,
                    "commodity_id": t.coal.pk,
                    "quantity": "1",
                    "unit_cost": "1",
                },
                {
                    "warehouse_id": t.warehouse_a.pk,
                    "commodity_id": t.steel.pk,
                    "quantity": "1",
                    "unit_cost": "1",
                },
            ],
        )
    assert refused.value.code == TradingErrorCode.DUPLICATE
    assert list(refused.value.fields) == ["lines.2.commodity"]
    assert StockOpening.objects.count() == 0
    assert StockLedgerEntry.objects.count() == 1


def test_each_bad_row_is_named(stock):
    t = stock.trading
    with pytest.raises(ValidationFailed) as refused:
        post(
            stock,
            [
                {
                    "warehouse_id": t.warehouse_b.pk,
                    "commodity_id": t.steel.pk,
                    "quantity": "1",
                    "unit_cost": "1",
                },
                {
                    "warehouse_id": t.warehouse_a.pk,
                    "commodity_id": t.steel.pk,
                    "quantity": "0",
                    "unit_cost": "-1",
                },
                {
                    "warehouse_id": t.warehouse_a.pk,
                    "commodity_id": t.steel.pk,
                    "quantity": "1.0001",
                    "unit_cost": "1.00001",
                },
            ],
        )
    assert set(refused.value.fields) == {
        "lines.1.warehouse",
        "lines.2.quantity",
        "lines.2.unit_cost",
        "lines.3.commodity",
        "lines.3.quantity",
        "lines.3.unit_cost",
    }
    assert StockLedgerEntry.objects.count() == 0


def test_only_finance_posts_opening_stock(stock, org):
    t = stock.trading
    line = [
        {
            "warehouse_id": t.warehouse_a.pk,
            "commodity_id": t.steel.pk,
            "quantity": "1",
            "unit_cost": "1",
        }
    ]
    with pytest.raises(PermissionDenied):
        post(stock, line, actor=t.keeper_a)
    with pytest.raises(PermissionDenied):
        post(stock, line, actor=org.inspector)
    with pytest.raises(NotFound):
        post(stock, line, actor=t.keeper_b)
    assert StockOpening.objects.count() == 0
