"""Rule 10: stocktake variances and weighing differences beyond tolerance."""

import datetime
import itertools
from decimal import Decimal

import pytest

from qinglian.supervision import registry, services
from qinglian.supervision.models import Finding
from qinglian.supervision.rules.quantity_variances import difference_percent
from qinglian.supervision.tests.conftest import trading_document
from qinglian.supervision.tests.helpers import detect
from qinglian.trading.models import Stocktake, StocktakeLine

RULE = "quantity_variances"
_serial = itertools.count(1)


@pytest.fixture
def count(org, trading, frozen):
    """A stocktake of company A's warehouse with (commodity, book, counted) lines."""

    def count(*lines, status="posted", on=datetime.date(2026, 3, 1)):
        stocktake = Stocktake.objects.create(
            company=org.company_a,
            number=f"PD-{next(_serial):04d}",
            kind="count",
            warehouse=trading.warehouse_a,
            counted_on=on,
            status=status,
            counter=trading.keeper_a,
        )
        for commodity, book, counted in lines:
            StocktakeLine.objects.create(
                stocktake=stocktake,
                commodity=commodity,
                book_quantity=Decimal(book),
                counted_quantity=Decimal(counted),
                reason="盘亏",
            )
        return stocktake

    return count


def test_the_difference_in_percent():
    assert difference_percent(Decimal("1000"), Decimal("997")) == Decimal("0.3")
    assert difference_percent(Decimal("0"), Decimal("0")) == Decimal("0")
    assert difference_percent(Decimal("0"), Decimal("1")) is None


def test_a_stocktake_variance_beyond_the_commodity_tolerance(trading, count):
    count((trading.steel, "1000", "997"), (trading.coal, "500", "501.5"))  # 0.30 % each
    assert detect(RULE) == []
    beyond = count((trading.steel, "1000", "996.999"), (trading.coal, "500", "500"))
    hits = detect(RULE)
    assert [(hit.subject_type, hit.subject_id, hit.key) for hit in hits] == [
        ("trading.stocktake", str(beyond.pk), "stocktake")
    ]
    assert hits[0].figures["lines"] == [
        {
            "commodity": "螺纹钢 HRB400 Φ20",
            "book_quantity": Decimal("1000.000"),
            "counted_quantity": Decimal("996.999"),
            "variance": Decimal("-3.001"),
            "variance_percent": Decimal("0.30"),
            "tolerance_percent": Decimal("0.30"),
            "value": Decimal("0.00"),
            "reason": "盘亏",
        }
    ]
    assert hits[0].people == [trading.keeper_a.pk]
    assert detect(RULE, use_commodity_tolerance=False, tolerance_percent="1") == []
    assert detect(RULE, min_quantity="3.001") == []
    assert detect(RULE, check_stocktakes=False) == []
    rule = registry.rule_get(RULE)
    assert "996.999" in rule.summarize(registry.jsonable(hits[0].figures))


def test_goods_found_where_the_book_is_empty(trading, count):
    found = count((trading.steel, "0", "5"))
    hits = detect(RULE)
    assert [hit.subject_id for hit in hits] == [str(found.pk)]
    assert hits[0].figures["lines"][0]["variance_percent"] is None
    assert "∞" in registry.rule_get(RULE).summarize(registry.jsonable(hits[0].figures))


@pytest.mark.parametrize("status", ["draft", "rejected", "cancelled"])
def test_stocktakes_never_submitted_or_refused_are_left_out(trading, count, status):
    count((trading.steel, "1000", "900"), status=status)
    assert detect(RULE) == []


def test_old_stocktakes_are_left_out(trading, count):
    count((trading.steel, "1000", "900"), on=datetime.date(2024, 1, 1))
    assert detect(RULE) == []
    assert len(detect(RULE, lookback_days=1000)) == 1


def test_a_weighing_difference_posted_with_a_reason(trading, stock):
    within = stock.receive("100", weighed_quantity=Decimal("100.300"))
    beyond = stock.receive(
        "100", weighed_quantity=Decimal("100.301"), difference_reason="磅差，司机签字确认"
    )
    hits = detect(RULE)
    assert [(hit.subject_type, hit.subject_id, hit.key) for hit in hits] == [
        ("trading.stock_document", str(beyond.pk), "weighing")
    ]
    row = hits[0].figures["lines"][0]
    assert (row["quantity"], row["weighed_quantity"], row["reason"]) == (
        Decimal("100.000"),
        Decimal("100.301"),
        "磅差，司机签字确认",
    )
    assert detect(RULE, check_weighing=False) == []
    assert within.pk


def test_reversed_documents_and_reversals_are_left_out(org, trading, frozen):
    def document(status="posted", reverses=None, quantity="100", weighed="90"):
        return trading_document(
            company=org.company_a,
            kind="issue",
            partner=trading.customer,
            warehouse=trading.warehouse_a,
            posting_date=datetime.date(2026, 3, 1),
            created_by=trading.keeper_a,
            status=status,
            reverses=reverses,
            lines=[{"commodity": trading.coal, "quantity": quantity, "weighed": weighed}],
        )

    original = document(status="reversed")
    document(reverses=original, quantity="-100", weighed="-90")
    document(status="draft")
    assert detect(RULE) == []
    posted = document()
    assert [hit.subject_id for hit in detect(RULE)] == [str(posted.pk)]


def test_a_rerun_finds_the_same_finding(org, trading, count):
    count((trading.steel, "1000", "900"))
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    assert (finding.seen_count, finding.subject_type) == (2, "trading.stocktake")
