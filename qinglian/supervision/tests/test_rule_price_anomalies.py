"""Rule 9: sales below the ledger's moving-average cost, and unit prices far off the month's
average for the commodity."""

import datetime
from decimal import Decimal

import pytest

from qinglian.supervision import services
from qinglian.supervision.models import Finding
from qinglian.supervision.tests.conftest import trading_document
from qinglian.supervision.tests.helpers import detect
from qinglian.trading.enums import ContractKind
from qinglian.trading.factories import make_contract
from qinglian.trading.services import stock as stock_services

RULE = "price_anomalies"


def march(day):
    return datetime.date(2026, 3, day)


def post(trading, kind, contract, quantity, on, commodity=None):
    return stock_services.stock_document_create(
        actor=trading.keeper_a,
        kind=kind,
        contract_id=contract.pk,
        warehouse_id=trading.warehouse_a.pk,
        posting_date=on,
        lines=[{"commodity_id": (commodity or trading.steel).pk, "quantity": Decimal(quantity)}],
        post=True,
    )


def sales(org, trading, price):
    return make_contract(
        company=org.company_a,
        partner=trading.customer,
        owner=trading.salesperson_a,
        kind=ContractKind.SALES,
        lines=[(trading.steel, "500", price)],
    )


def test_a_sale_below_the_moving_average_cost(org, trading, stock, frozen):
    post(trading, "receipt", stock.purchase, "100", march(2))  # 4,520.00 incl. VAT: 4,000 net
    at_cost = post(trading, "issue", sales(org, trading, "4520.00"), "10", march(3))
    assert detect(RULE, deviation_percent=0) == []  # exactly at cost
    below = post(trading, "issue", sales(org, trading, "4519.00"), "10", march(4))
    hits = detect(RULE, deviation_percent=0)
    assert [(hit.subject_id, hit.key) for hit in hits] == [(str(below.pk), "below_cost")]
    row = hits[0].figures["lines"][0]
    assert row["unit_cost"] == Decimal("4000.0000")
    assert row["unit_price_net"] == Decimal("3999.1150")
    assert row["loss"] == Decimal("8.85")
    assert hits[0].figures["partner"] == trading.customer.name
    assert [link.type for link in hits[0].documents] == [
        "trading.stock_document",
        "trading.contract",
    ]
    assert detect(RULE, deviation_percent=0, cost_margin_percent="0.1") == []
    assert detect(RULE, deviation_percent=0, check_below_cost=False) == []
    assert at_cost.pk


def test_the_cost_includes_revaluations_after_a_backdated_receipt(org, trading, stock, frozen):
    post(trading, "receipt", stock.purchase, "100", march(2))
    issue = post(trading, "issue", stock.sales, "50", march(4))  # 5,000 incl.: 4,424.78 net
    assert detect(RULE, deviation_percent=0) == []
    dear = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "11300.00")],
    )
    post(trading, "receipt", dear, "10", march(3))  # backdated: the average becomes 4,545.45
    hits = detect(RULE, deviation_percent=0)
    assert [(hit.subject_id, hit.key) for hit in hits] == [(str(issue.pk), "below_cost")]
    assert hits[0].figures["lines"][0]["unit_cost"] == Decimal("4545.4546")


@pytest.fixture
def month(org, trading, frozen):
    def line(kind, price, day=10, quantity="10"):
        return trading_document(
            company=org.company_a,
            kind=kind,
            partner=trading.supplier if kind == "receipt" else trading.customer,
            warehouse=trading.warehouse_a,
            posting_date=datetime.date(2026, 2, day),
            created_by=trading.keeper_a,
            lines=[{"commodity": trading.steel, "quantity": quantity, "unit_price": price}],
        )

    return line


@pytest.mark.parametrize(
    ("price", "deviation"),
    [("5424.00", None), ("5424.46", Decimal("20.01"))],  # 4,800.00 and 4,800.41 net
)
def test_a_purchase_dearer_than_the_months_average(month, price, deviation):
    for day in range(1, 6):
        month("receipt", "4520.00", day)  # 4,000.00 net
    dear = month("receipt", price)
    hits = detect(RULE)
    if deviation is None:
        assert hits == []  # 20 % over the others' average: not more
        return
    assert [(hit.subject_id, hit.key) for hit in hits] == [(str(dear.pk), "off_average")]
    row = hits[0].figures["lines"][0]
    assert (row["deviation_percent"], row["average_net"]) == (deviation, Decimal("4000.0000"))
    assert row["month_lines"] == 6


def test_too_few_lines_make_no_average(month):
    for day in range(1, 4):
        month("receipt", "4520.00", day)
    month("receipt", "9040.00")
    assert detect(RULE) == []  # 4 lines in the month
    assert len(detect(RULE, min_lines=4)) == 1


def test_a_sale_cheaper_than_the_average_and_either_way(month):
    for day in range(1, 5):
        month("issue", "5000.00", day)
    cheap = month("issue", "3990.00")
    dear = month("issue", "6500.00", quantity="1")
    hits = detect(RULE, check_below_cost=False)
    assert [(hit.subject_id, hit.key) for hit in hits] == [(str(cheap.pk), "off_average")]
    assert [hit.subject_id for hit in detect(RULE, check_below_cost=False, both_ways=True)] == [
        str(cheap.pk),
        str(dear.pk),
    ]
    assert detect(RULE, check_below_cost=False, deviation_percent=0) == []


def test_reversed_documents_and_other_months_are_apart(month, org, trading):
    for day in range(1, 6):
        month("receipt", "4520.00", day)
    trading_document(
        company=org.company_a,
        kind="receipt",
        partner=trading.supplier,
        warehouse=trading.warehouse_a,
        posting_date=datetime.date(2026, 1, 31),
        created_by=trading.keeper_a,
        lines=[{"commodity": trading.steel, "quantity": "10", "unit_price": "9040.00"}],
    )
    trading_document(
        company=org.company_a,
        kind="receipt",
        partner=trading.supplier,
        warehouse=trading.warehouse_a,
        posting_date=datetime.date(2026, 2, 20),
        created_by=trading.keeper_a,
        status="reversed",
        lines=[{"commodity": trading.steel, "quantity": "10", "unit_price": "9040.00"}],
    )
    assert detect(RULE) == []


def test_a_rerun_finds_the_same_finding(month, org):
    for day in range(1, 5):
        month("receipt", "4520.00", day)
    month("receipt", "9040.00")
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    assert Finding.objects.get(rule_code=RULE).seen_count == 2


def test_queries_do_not_grow_with_the_lines(month, django_assert_max_num_queries):
    for day in range(1, 25):
        month("receipt", "4520.00", day)
        month("receipt", "9040.00", day)
        month("issue", "100.00", day)
    with django_assert_max_num_queries(8):
        hits = detect(RULE)
    assert len(hits) == 24  # the dear receipts
