"""Credit selectors: ageing buckets at their edges, receipts settling the earliest due first
per contract, unapplied credits, totals, scoping; the standing list; the pure rules."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from qinglian.core import clock
from qinglian.trading.enums import ContractKind, PartnerAccount, PartnerKind
from qinglian.trading.factories import make_contract, make_partner
from qinglian.trading.selectors import credit as selectors
from qinglian.trading.services import money as money_services

TODAY = clock.today()
D = Decimal

pytestmark = pytest.mark.usefixtures("money_flows")


def days_ago(days):
    return TODAY - datetime.timedelta(days=days)


@pytest.fixture
def sale(trading, org):
    return make_contract(
        company=org.company_a,
        partner=trading.customer,
        owner=trading.salesperson_a,
        kind=ContractKind.SALES,
        lines=[(trading.steel, "100", "4000")],
        credit_days=0,
    )


def invoice(trading, contract, amount, due_days_ago, number):
    made = money_services.invoice_create(
        actor=trading.finance_a,
        contract_id=contract.pk,
        invoice_number=number,
        invoice_code="3300212130",
        # no credit days on the contract: due after the customer's 30 payment days
        invoice_date=days_ago(due_days_ago + 30),
        amount=amount,
    )
    return money_services.invoice_post(actor=trading.finance_a, invoice_id=made.pk)


def receipt(trading, amount, contract=None, partner=None):
    made = money_services.payment_create(
        actor=trading.finance_a,
        contract_id=contract.pk if contract else None,
        partner_id=None if contract else (partner or trading.customer).pk,
        company_id=None if contract else trading.finance_a.company_id,
        amount=amount,
        paid_on=TODAY,
        direction="in",
    )
    return money_services.receipt_post(actor=trading.finance_a, payment_id=made.pk)


def test_bucket_edges():
    assert [selectors.ageing_bucket(days) for days in (0, 1, 30, 31, 60, 61, 90, 91, 400)] == [
        "not_due",
        "days_0_30",
        "days_0_30",
        "days_31_60",
        "days_31_60",
        "days_61_90",
        "days_61_90",
        "over_90",
        "over_90",
    ]
    assert [key for key, _label in selectors.AGEING_BUCKETS] == [
        "not_due",
        "days_0_30",
        "days_31_60",
        "days_61_90",
        "over_90",
    ]


def test_ageing_allocates_receipts_to_the_earliest_due_first(org, trading, sale):
    invoice(trading, sale, "100.00", 95, "A1")  # > 90
    invoice(trading, sale, "200.00", 75, "A2")  # 61-90
    invoice(trading, sale, "300.00", 45, "A3")  # 31-60
    invoice(trading, sale, "400.00", 10, "A4")  # 0-30
    invoice(trading, sale, "500.00", 0, "A5")  # due today: not yet overdue
    receipt(trading, "150.00", contract=sale)  # settles A1 and half of A2
    report = selectors.receivable_ageing(user=trading.finance_a)
    (row,) = report.rows
    assert (row.company_id, row.partner_id) == (org.company_a.pk, trading.customer.pk)
    assert (row.not_due, row.days_0_30, row.days_31_60, row.days_61_90, row.over_90) == (
        D("500.00"),
        D("400.00"),
        D("300.00"),
        D("150.00"),
        D("0"),
    )
    assert (row.credits, row.overdue, row.open, row.balance) == (
        D("0.00"),
        D("850.00"),
        D("1350.00"),
        D("1350.00"),
    )
    assert report.total.open == D("1350.00")
    assert sum(item.outstanding for item in report.items) == D("1350.00")
    assert selectors.overdue_amount(partner_id=trading.customer.pk) == D("850.00")
    assert selectors.overdue_amount(partner_id=trading.customer.pk, more_than_days=30) == D(
        "450.00"
    )
    assert selectors.overdue_amount(partner_id=trading.customer.pk, more_than_days=75) == D("0")


def test_a_receipt_without_a_contract_stays_an_unapplied_credit(org, trading, sale):
    invoice(trading, sale, "100.00", 40, "B1")
    receipt(trading, "30.00")
    (row,) = selectors.receivable_ageing(user=trading.finance_a).rows
    assert (row.days_31_60, row.credits, row.balance) == (D("100.00"), D("30.00"), D("70.00"))


def test_a_reversed_invoice_leaves_nothing_open(org, trading, sale):
    posted = invoice(trading, sale, "100.00", 40, "C1")
    money_services.invoice_reverse(
        actor=trading.finance_a, invoice_id=posted.pk, invoice_number="C2", reason="开错"
    )
    assert selectors.receivable_ageing(user=trading.finance_a).rows == []
    assert selectors.overdue_amount(partner_id=trading.customer.pk) == D("0")


def test_ageing_is_scoped_and_the_unscoped_variant_sees_all(org, trading, sale, money_flows):
    other = make_partner(company=org.company_b, kind=PartnerKind.CUSTOMER, name="乙客户")
    invoice(trading, sale, "100.00", 5, "D1")
    money_services.opening_balance_post(
        actor=money_flows.finance_b,
        company_id=org.company_b.pk,
        partner_id=other.pk,
        account=PartnerAccount.RECEIVABLE,
        amount="70.00",
        posting_date=days_ago(200),
        due_date=days_ago(120),
    )
    assert [
        row.partner_name for row in selectors.receivable_ageing(user=trading.finance_a).rows
    ] == [trading.customer.name]
    assert [
        row.partner_name for row in selectors.receivable_ageing(user=money_flows.finance_b).rows
    ] == ["乙客户"]
    assert selectors.receivable_ageing(user=org.no_role).rows == []
    everything = selectors.receivable_ageing(user=org.inspector)
    assert everything.total.open == D("170.00")
    assert (everything.total.days_0_30, everything.total.over_90) == (D("100.00"), D("70.00"))
    unscoped = selectors.receivable_ageing_unscoped()
    assert unscoped.total.open == D("170.00")
    # as of a past day, only what was posted by then
    past = selectors.receivable_ageing_unscoped(as_of=days_ago(100))
    assert (past.total.open, past.total.days_0_30) == (D("70.00"), D("70.00"))


def test_the_standing_list_is_scoped_to_master_data(org, trading, sale, money_flows):
    own = make_partner(company=org.company_a, kind=PartnerKind.CUSTOMER, name="甲自有客户")
    make_contract(
        company=org.company_a,
        partner=own,
        owner=trading.salesperson_a,
        kind=ContractKind.SALES,
        lines=[(trading.steel, "1", "1000")],
    )
    invoice(trading, sale, "100.00", 5, "E1")  # creates the group customer's row
    money_services.opening_balance_post(
        actor=trading.finance_a,
        company_id=org.company_a.pk,
        partner_id=own.pk,
        account=PartnerAccount.RECEIVABLE,
        amount="10.00",
        posting_date=TODAY,
    )
    names = lambda user: {s.partner.name for s in selectors.credit_exposure_list(user=user)}  # noqa: E731
    assert names(trading.salesperson_a) == {trading.customer.name, "甲自有客户"}
    assert names(money_flows.salesperson_b) == {trading.customer.name}  # group master data
    assert names(org.no_role) == set()
    assert names(org.inspector) == {trading.customer.name, "甲自有客户"}
    standing = selectors.credit_exposure_get(user=trading.salesperson_a, partner_id=own.pk)
    assert standing.components == selectors.Components(D("10.00"), D("0.00"), D("1000.00"))
    assert standing.exposure == D("1010.00")
