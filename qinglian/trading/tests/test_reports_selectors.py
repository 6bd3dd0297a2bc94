"""The report selectors: the pure rules (percentages, the Herfindahl–Hirschman index), each
report's figures on a known history, and the scope."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from qinglian.trading.costing import net_value
from qinglian.trading.selectors import reports
from qinglian.trading.selectors.stock import psi_summary

from .test_reports_drilldown import build_world, days_ago

# ---------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [("1", "3", "33.33"), ("2", "3", "66.67"), ("5", "0", None), ("-1", "8", "-12.50")],
)
def test_percent(part, whole, expected):
    assert reports.percent(D(part), D(whole)) == (D(expected) if expected else None)


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        (["100"], "10000.00"),  # one supplier: a monopoly
        (["50", "50"], "5000.00"),
        (["25", "25", "25", "25"], "2500.00"),
        (["70", "20", "10"], "5400.00"),
        (["60", "40", "-5", "0"], "5200.00"),  # only positive purchases count
        ([], "0"),
    ],
)
def test_herfindahl(amounts, expected):
    assert reports.herfindahl(D(a) for a in amounts) == D(expected)


# ---------------------------------------------------------------- the reports

pytestmark_db = pytest.mark.django_db


@pytest.fixture
def world(stock, org, shared_layers):
    return shared_layers.get("world", build_world, stock, org)


@pytestmark_db
@pytest.mark.parametrize("group_by", list(reports.PsiGrouping))
def test_psi_groups_add_up_the_series(world, org, group_by):
    start, end = days_ago(96), days_ago(2)
    series = psi_summary(user=org.inspector, date_from=start, date_to=end)
    report = reports.psi_report(user=org.inspector, date_from=start, date_to=end, group_by=group_by)
    for name in ("opening_value", "in_quantity", "in_value", "out_value", "closing_value"):
        expected = sum((getattr(row, name) for row in series), D(0))
        assert getattr(report.total, name) == expected
        assert sum((getattr(row, name) for row in report.rows), D(0)) == expected
    keys: dict[str, set[Any]] = {
        reports.PsiGrouping.SERIES: {
            (r.company_id, r.warehouse_id, r.commodity_id) for r in series
        },
        reports.PsiGrouping.COMMODITY: {r.commodity_id for r in series},
        reports.PsiGrouping.WAREHOUSE: {r.warehouse_id for r in series},
        reports.PsiGrouping.COMPANY: {r.company_id for r in series},
    }
    assert len(report.rows) == len(keys[group_by])


@pytestmark_db
def test_margin_cost_includes_revaluations(world, org):
    """The dearer receipt dated 100 days ago revalued the issues after it: the margin's cost
    is what the ledger finally took out, not the cost booked when each issue was posted."""
    from qinglian.trading.models.stock import StockDocumentLine

    report = reports.deal_margin(user=org.inspector)
    (row,) = report.rows
    booked = sum(
        (
            line.cost
            for line in StockDocumentLine.objects.filter(
                document__contract=world.stock.sales, document__status__in=["posted", "reversed"]
            )
        ),
        D(0),
    )
    assert row.cost != booked
    assert row.revenue == sum(
        (
            net_value(line.quantity, line.unit_price, line.contract_line.tax_rate)
            for line in StockDocumentLine.objects.filter(document__contract=world.stock.sales)
            .exclude(document__status="draft")
            .select_related("contract_line")
        ),
        D(0),
    )
    assert row.margin_percent == reports.percent(row.margin, row.revenue)


@pytestmark_db
def test_concentration_top_n_and_shares(world, org):
    report = reports.supplier_concentration(
        user=org.inspector, date_from=days_ago(200), date_to=days_ago(0), top=1
    )
    assert report.supplier_count == 2
    (first,) = report.rows
    assert first.partner_id == world.trading.supplier.pk
    assert report.top_amount == first.amount
    assert report.others_amount == D("141500.00")
    assert report.top_share == first.share == first.cumulative_share
    assert report.hhi == reports.herfindahl([first.amount, D("141500.00")])


@pytestmark_db
def test_open_items_in_each_bucket_add_up_to_the_ageing(world, org):
    ageing = reports.receivable_ageing(user=org.inspector, as_of=days_ago(0))
    (row,) = ageing.rows
    for key, _label in reports.AGEING_BUCKETS:
        items = reports.open_items_in_bucket(
            user=org.inspector,
            partner_id=row.partner_id or 0,
            company_id=row.company_id,
            as_of=ageing.as_of,
            bucket=key,
        )
        assert sum((item.outstanding for item in items), D(0)) == row.bucket(key)
    # a day before the oldest invoice falls due nothing is overdue yet
    early = reports.receivable_ageing(user=org.inspector, as_of=days_ago(71))
    assert early.rows[0].overdue == D("0")


@pytestmark_db
def test_reports_read_only_the_scope(world, org):
    b = world.trading.keeper_b
    assert reports.deal_margin(user=b).rows == []
    assert reports.receivable_ageing(user=b, as_of=days_ago(0)).rows == []
    assert list(reports.contract_execution_list(user=b)) == [world.stock.purchase_b]
    assert (
        reports.psi_report(user=org.no_role, date_from=days_ago(200), date_to=days_ago(0)).rows
        == []
    )
