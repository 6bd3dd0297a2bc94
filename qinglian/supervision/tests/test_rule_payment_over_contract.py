"""Rule 4: payments beyond the contract or ahead of the invoices, and payments without an
effective contract, replayed from the payment history."""

import datetime
from decimal import Decimal

import pytest

from qinglian.core import clock
from qinglian.supervision import registry, services
from qinglian.supervision.enums import Severity
from qinglian.supervision.models import Finding
from qinglian.supervision.tests.conftest import trading_document, trading_invoice, trading_payment
from qinglian.supervision.tests.helpers import check, detect
from qinglian.trading.enums import ContractStatus, PaymentTerm
from qinglian.trading.factories import make_contract
from qinglian.trading.models.money import OpeningBalance

RULE = "payment_over_contract"
DAY = datetime.date(2026, 2, 1)


def on(days):
    return DAY + datetime.timedelta(days=days)


@pytest.fixture
def purchase(org, trading, frozen):
    """100 t of steel at 1,000.00: 100,000 yuan, ceiling 105,000 with the 5 % tolerance."""
    return make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "1000.00")],
    )


def pay(trading, contract, amount, days, **extra):
    return trading_payment(
        company=contract.company,
        partner=contract.partner,
        contract=contract,
        amount=amount,
        paid_on=on(days),
        created_by=trading.finance_a,
        **extra,
    )


def invoice(trading, contract, amount, days, number):
    return trading_invoice(
        company=contract.company,
        partner=contract.partner,
        contract=contract,
        number=number,
        amount=amount,
        invoice_date=on(days),
        created_by=trading.finance_a,
    )


def reasons(hits):
    return sorted((hit.subject_id, hit.key) for hit in hits)


def test_payments_beyond_the_contract_ceiling(org, trading, purchase):
    invoice(trading, purchase, "110000.00", 0, "00000001")
    pay(trading, purchase, "60000.00", 1)
    pay(trading, purchase, "45000.00", 2)
    assert detect(RULE) == []  # 105,000: exactly the ceiling
    third = pay(trading, purchase, "0.01", 3)
    hits = detect(RULE)
    assert reasons(hits) == [(str(purchase.pk), "over_contract")]
    hit = hits[0]
    assert hit.severity == Severity.HIGH
    assert hit.figures["ceiling"] == Decimal("105000.00")
    assert hit.figures["paid"] == Decimal("105000.01")
    assert [row["id"] for row in hit.figures["payments"]] == [third.pk]
    assert ("trading.payment", str(third.pk)) in [(link.type, link.id) for link in hit.documents]
    assert detect(RULE, tolerance_percent="1") == []
    assert detect(RULE, check_contract=False) == []


def test_payments_ahead_of_the_invoices_of_their_day(org, trading, purchase):
    invoice(trading, purchase, "50000.00", 0, "00000001")
    pay(trading, purchase, "50000.00", 1)
    assert detect(RULE) == []
    early = pay(trading, purchase, "10000.00", 2)
    invoice(trading, purchase, "10000.00", 3, "00000002")  # came later: no excuse
    hits = detect(RULE)
    assert reasons(hits) == [(str(purchase.pk), "over_invoiced")]
    row = hits[0].figures["payments"][0]
    assert (row["id"], row["paid_after"], row["allowed"]) == (
        early.pk,
        Decimal("60000.00"),
        Decimal("50000.00"),
    )
    assert detect(RULE, check_invoiced=False) == []


def test_a_prepayment_contract_may_be_paid_its_share_before_invoices(org, trading, frozen):
    contract = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "1000.00")],
        payment_term=PaymentTerm.PREPAYMENT,
        prepayment_percent=Decimal("30"),
    )
    pay(trading, contract, "30000.00", 1)
    assert detect(RULE) == []
    pay(trading, contract, "0.01", 2)
    assert reasons(detect(RULE)) == [(str(contract.pk), "over_invoiced")]


def test_payment_on_delivery_counts_the_goods_received_by_then(org, trading, frozen):
    contract = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "1000.00")],
        payment_term=PaymentTerm.ON_DELIVERY,
    )
    trading_document(
        company=org.company_a,
        kind="receipt",
        partner=trading.supplier,
        warehouse=trading.warehouse_a,
        contract=contract,
        posting_date=on(0),
        created_by=trading.keeper_a,
        lines=[{"commodity": trading.steel, "quantity": "40", "unit_price": "1000.00"}],
    )
    pay(trading, contract, "40000.00", 0)
    assert detect(RULE) == []
    pay(trading, contract, "0.01", 1)
    assert reasons(detect(RULE)) == [(str(contract.pk), "over_invoiced")]


def test_approved_exceptions_are_reported_at_medium_severity(org, trading, purchase):
    pay(trading, purchase, "1000.00", 1, is_exception=True)
    hits = detect(RULE)
    assert reasons(hits) == [(str(purchase.pk), "over_invoiced")]
    assert hits[0].severity == Severity.MEDIUM
    assert detect(RULE, include_exceptions=False) == []


def test_a_reversed_payment_is_netted_and_not_reported(org, trading, purchase):
    invoice(trading, purchase, "50000.00", 0, "00000001")
    wrong = pay(trading, purchase, "60000.00", 1, status="reversed")
    pay(trading, purchase, "-60000.00", 2, reverses=wrong)
    pay(trading, purchase, "50000.00", 3)
    assert detect(RULE) == []


def test_payments_before_the_contract_took_effect_or_never(org, trading, frozen):
    late = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "1000.00")],
        effective_on=on(10),
        payment_term=PaymentTerm.PREPAYMENT,
        prepayment_percent=Decimal("100"),
    )
    pay(trading, late, "1000.00", 10)
    assert detect(RULE) == []  # on the day it took effect
    early = pay(trading, late, "1000.00", 9)
    never = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "1000.00")],
        status=ContractStatus.PENDING,
        payment_term=PaymentTerm.PREPAYMENT,
        prepayment_percent=Decimal("100"),
    )
    pay(trading, never, "1000.00", 1)
    hits = detect(RULE)
    assert reasons(hits) == sorted(
        [(str(late.pk), "not_effective"), (str(never.pk), "not_effective")]
    )
    by_subject = {hit.subject_id: hit for hit in hits}
    assert [row["id"] for row in by_subject[str(late.pk)].figures["payments"]] == [early.pk]
    assert detect(RULE, check_not_effective=False) == []


def test_payments_without_a_contract_beyond_the_opening_payables(org, trading, frozen):
    OpeningBalance.objects.create(
        company=org.company_a,
        partner=trading.supplier,
        account="payable",
        amount=Decimal("20000.00"),
        posting_date=datetime.date(2025, 12, 31),
    )
    for amount, days in (("15000.00", 1), ("5000.00", 2)):
        trading_payment(
            company=org.company_a,
            partner=trading.supplier,
            amount=amount,
            paid_on=on(days),
            created_by=trading.finance_a,
        )
    assert detect(RULE) == []
    beyond = trading_payment(
        company=org.company_a,
        partner=trading.supplier,
        amount="0.01",
        paid_on=on(3),
        created_by=trading.finance_a,
    )
    trading_payment(  # company B has no opening payables, but receipts from customers count not
        company=org.company_b,
        partner=trading.customer,
        amount="900.00",
        paid_on=on(3),
        created_by=trading.finance_a,
        direction="in",
    )
    hits = detect(RULE)
    assert [(hit.subject_type, hit.subject_id, hit.key) for hit in hits] == [
        ("trading.payment", str(beyond.pk), "no_contract")
    ]
    assert hits[0].figures["opening_payables"] == Decimal("20000.00")
    assert detect(RULE, check_without_contract=False) == []


def test_the_ceiling_is_the_revision_in_force(org, trading, purchase):
    invoice(trading, purchase, "220000.00", 0, "00000001")
    pay(trading, purchase, "100000.00", 1)
    purchase.status = ContractStatus.SUPERSEDED
    purchase.save(update_fields=["status"])
    amendment = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "200", "1000.00")],
        number=purchase.number,
        revision=1,
        effective_on=on(5),
    )
    amendment.original = purchase
    amendment.save(update_fields=["original"])
    pay(trading, amendment, "100000.00", 6)
    assert detect(RULE) == []  # 200,000 paid against 210,000 of the amendment
    pay(trading, amendment, "10000.01", 7)
    hits = detect(RULE)
    assert reasons(hits) == [(str(purchase.pk), "over_contract")]
    assert hits[0].figures["contract"] == f"{purchase.number} (1)"


def test_old_payments_are_left_out(org, trading, purchase):
    pay(trading, purchase, "1000.00", -400)  # before the contract took effect, uninvoiced
    assert detect(RULE) == []
    assert reasons(detect(RULE, lookback_days=500)) == [
        (str(purchase.pk), "not_effective"),
        (str(purchase.pk), "over_invoiced"),
    ]


def test_a_rerun_finds_the_same_finding(org, trading, purchase):
    pay(trading, purchase, "1000.00", 1)
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    pay(trading, purchase, "1000.00", 2)
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    assert finding.seen_count == 2
    assert len(finding.evidence["figures"]["payments"]) == 2
    assert finding.subject_type == "trading.contract"


def test_the_check_of_a_payment_under_approval(org, trading, purchase):
    invoice(trading, purchase, "50000.00", 0, "00000001")
    within = pay(trading, purchase, "50000.00", 1, status="pending")
    beyond = pay(trading, purchase, "50000.01", 1, status="pending")
    rule = registry.rule_get(RULE)
    assert rule is not None and rule.check_document is not None
    context = registry.RuleContext(rule.values({}), clock.now())
    assert list(rule.check_document(context, "trading.payment", str(within.pk))) == []
    hits = list(rule.check_document(context, "trading.payment", str(beyond.pk)))
    assert [(hit.key, hit.figures["paid"]) for hit in hits] == [
        ("over_invoiced", Decimal("50000.01"))
    ]
    assert detect(RULE) == []  # nothing is booked beyond yet


def test_the_approval_page_check_of_an_exception_payment(org, trading, money_flows, purchase):
    from qinglian.trading.services import money as money_services

    payment = money_services.payment_create(
        actor=trading.finance_a,
        contract_id=purchase.pk,
        amount="1000.00",
        paid_on=on(1),
        is_exception=True,
        exception_reason="紧急预付",
    )
    payment = money_services.payment_submit(actor=trading.finance_a, payment_id=payment.pk)
    hits = check(RULE, payment.approval_request_id)
    assert [(hit.subject_id, hit.key, hit.severity) for hit in hits] == [
        (str(purchase.pk), "over_invoiced", Severity.MEDIUM)
    ]
    assert check("split_purchases", payment.approval_request_id) == []


def test_the_check_of_a_payment_without_a_contract(org, trading, frozen):
    other = trading_payment(  # another supplier's payments are no concern of this one
        company=org.company_a,
        partner=trading.customer,
        amount="5.00",
        paid_on=on(1),
        created_by=trading.finance_a,
    )
    pending = trading_payment(
        company=org.company_a,
        partner=trading.supplier,
        amount="10.00",
        paid_on=on(2),
        created_by=trading.finance_a,
        status="pending",
    )
    rule = registry.rule_get(RULE)
    assert rule is not None and rule.check_document is not None
    context = registry.RuleContext(rule.values({}), clock.now())
    hits = list(rule.check_document(context, "trading.payment", str(pending.pk)))
    assert [(hit.subject_id, hit.key, hit.figures["paid"]) for hit in hits] == [
        (str(pending.pk), "no_contract", Decimal("10.00"))
    ]
    assert [hit.subject_id for hit in detect(RULE)] == [str(other.pk)]


def test_queries_do_not_grow_with_the_contracts(
    org, trading, frozen, django_assert_max_num_queries
):
    for _number in range(25):
        contract = make_contract(
            company=org.company_a,
            partner=trading.supplier,
            owner=trading.purchaser_a,
            lines=[(trading.steel, "1", "1000.00")],
            payment_term=PaymentTerm.ON_DELIVERY,
        )
        pay(trading, contract, "2000.00", 1)
        trading_payment(
            company=org.company_a,
            partner=trading.supplier,
            amount="1.00",
            paid_on=on(1),
            created_by=trading.finance_a,
        )
    with django_assert_max_num_queries(12):
        hits = detect(RULE)
    assert len(hits) == 25 * 2 + 25  # over the contract and ahead of deliveries; no contract
