"""Rule 15: one supplier's share of a company's purchases in a calendar year."""

import datetime
from decimal import Decimal

import pytest

from qinglian.supervision import registry, services
from qinglian.supervision.models import Finding
from qinglian.supervision.tests.conftest import trading_document
from qinglian.supervision.tests.helpers import detect
from qinglian.trading.factories import make_contract, make_partner

RULE = "supplier_concentration"


@pytest.fixture
def receive(org, trading, frozen):
    def receive(partner, amount, *, on=datetime.date(2026, 2, 1), company=None, **extra):
        return trading_document(
            company=company or org.company_a,
            kind="receipt",
            partner=partner,
            warehouse=trading.warehouse_a,
            posting_date=on,
            created_by=trading.keeper_a,
            lines=[{"commodity": trading.steel, "quantity": "1", "unit_price": amount}],
            **extra,
        )

    return receive


def test_a_supplier_with_more_than_half_of_a_companys_purchases(org, trading, receive):
    other = make_partner(company=org.group, name="第二供应商")
    receive(trading.supplier, "600000.00")
    receive(other, "600000.00")
    receive(trading.supplier, "100000.00", company=org.company_b)  # B's purchases are apart
    assert detect(RULE) == []  # exactly half: not more
    receive(trading.supplier, "0.01")
    contract = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "1", "1000.00")],
    )
    hits = detect(RULE)
    assert [(hit.subject_type, hit.subject_id, hit.key) for hit in hits] == [
        ("trading.partner", str(trading.supplier.pk), f"{org.company_a.pk}:2026")
    ]
    figures = hits[0].figures
    assert (figures["amount"], figures["total"], figures["share_percent"]) == (
        Decimal("600000.01"),
        Decimal("1200000.01"),
        Decimal("50.00"),
    )
    assert figures["supplier_count"] == 2
    assert [(link.type, link.id) for link in hits[0].documents] == [
        ("trading.partner", str(trading.supplier.pk)),
        ("trading.contract", str(contract.pk)),
    ]
    assert detect(RULE, share_percent="60") == []
    rule = registry.rule_get(RULE)
    assert "50.00" in rule.summarize(registry.jsonable(figures))


def test_small_buyers_and_old_years_are_left_out(org, trading, receive):
    receive(trading.supplier, "999999.99")
    assert detect(RULE) == []  # under a million in the year
    assert len(detect(RULE, min_company_total="999999.99")) == 1
    receive(trading.supplier, "2000000.00", on=datetime.date(2024, 6, 1))
    assert detect(RULE) == []
    assert [hit.key for hit in detect(RULE, years=3)] == [f"{org.company_a.pk}:2024"]


def test_reversals_are_netted(org, trading, receive):
    other = make_partner(company=org.group)
    receive(other, "500000.00")
    wrong = receive(trading.supplier, "2000000.00", status="reversed")
    receive(trading.supplier, "-2000000.00", reverses=wrong)
    receive(trading.supplier, "500000.00")
    assert detect(RULE) == []  # half each once the reversal is netted


def test_suppliers_sharing_a_bank_account_count_as_one(org, trading, receive):
    one = make_partner(company=org.group, bank_account="6222000011112222", name="一号")
    two = make_partner(company=org.group, bank_account="6222-0000-1111-2222", name="二号")
    three = make_partner(company=org.group, name="三号")
    receive(one, "400000.00")
    receive(two, "400000.00")
    receive(three, "400000.00")
    hits = detect(RULE)
    assert [hit.subject_id for hit in hits] == [str(one.pk)]
    assert [item["id"] for item in hits[0].figures["suppliers"]] == [one.pk, two.pk]
    assert detect(RULE, group_related=False) == []


def test_a_rerun_finds_the_same_finding(org, trading, receive):
    receive(trading.supplier, "2000000.00")
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    assert (finding.seen_count, finding.company_id) == (2, org.company_a.pk)
