"""Rule 13: contracts executed while not in force, or beyond quantity plus tolerance."""

import datetime
from decimal import Decimal

import pytest

from qinglian.supervision import registry, services
from qinglian.supervision.models import Finding
from qinglian.supervision.tests.conftest import trading_document, trading_payment
from qinglian.supervision.tests.helpers import detect
from qinglian.trading.enums import ContractKind, ContractStatus
from qinglian.trading.factories import make_contract

RULE = "contract_execution"


def feb(day):
    return datetime.date(2026, 2, day)


@pytest.fixture
def book(org, trading, frozen):
    def book(contract, quantity, on, *, line=1, **extra):
        kind = "receipt" if contract.kind == ContractKind.PURCHASE else "issue"
        contract_line = contract.lines.get(line_number=line)
        return trading_document(
            company=contract.company,
            kind=kind,
            partner=contract.partner,
            warehouse=trading.warehouse_a,
            contract=contract,
            posting_date=on,
            created_by=trading.keeper_a,
            lines=[
                {
                    "commodity": contract_line.commodity,
                    "contract_line": contract_line,
                    "quantity": quantity,
                }
            ],
            **extra,
        )

    return book


def purchase(org, trading, **extra):
    return make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "1000.00")],  # 5 % tolerance: 105 t allowed
        **extra,
    )


def test_goods_received_before_the_contract_took_effect(org, trading, book):
    contract = purchase(org, trading, effective_on=feb(10))
    early = book(contract, "10", feb(9))
    book(contract, "10", feb(10))
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key) for hit in hits] == [(str(contract.pk), "not_effective")]
    assert hits[0].figures["documents"] == [
        {
            "what": "receipt",
            "number": early.number,
            "on": feb(9),
            "why": "before_effective",
            "quantity_or_amount": Decimal("10.000"),
        }
    ]
    assert [link.type for link in hits[0].documents] == [
        "trading.contract",
        "trading.stock_document",
        "trading.partner",
    ]
    assert detect(RULE, check_not_effective=False) == []


@pytest.mark.parametrize(
    "status", [ContractStatus.DRAFT, ContractStatus.PENDING, ContractStatus.CANCELLED]
)
def test_goods_against_a_contract_never_effective(org, trading, book, status):
    contract = purchase(org, trading, status=status)
    book(contract, "10", feb(1))
    hits = detect(RULE)
    assert [hit.figures["documents"][0]["why"] for hit in hits] == ["never_effective"]


def test_goods_issued_after_the_contract_was_terminated(org, trading, book):
    contract = make_contract(
        company=org.company_a,
        partner=trading.customer,
        owner=trading.salesperson_a,
        kind=ContractKind.SALES,
        lines=[(trading.coal, "100", "900.00")],
        status=ContractStatus.TERMINATED,
        effective_on=feb(1),
        terminated_on=feb(20),
    )
    book(contract, "10", feb(20))
    assert detect(RULE) == []
    book(contract, "10", feb(21))
    assert [hit.figures["documents"][0]["why"] for hit in detect(RULE)] == ["after_termination"]


def test_payments_count_only_when_included(org, trading, book):
    contract = purchase(org, trading, effective_on=feb(10))
    trading_payment(
        company=org.company_a,
        partner=trading.supplier,
        contract=contract,
        amount="1000.00",
        paid_on=feb(5),
        created_by=trading.finance_a,
    )
    assert detect(RULE) == []
    hits = detect(RULE, include_payments=True)
    assert [item["what"] for item in hits[0].figures["documents"]] == ["payment"]


def test_a_line_executed_beyond_quantity_and_tolerance(org, trading, book):
    contract = purchase(org, trading)
    book(contract, "60", feb(1))
    last = book(contract, "45", feb(2))
    assert detect(RULE) == []  # 105 t: exactly the allowance
    wrong = book(contract, "1", feb(3), status="reversed")
    book(contract, "-1", feb(4), reverses=wrong)
    assert detect(RULE) == []  # netted by its reversal
    book(contract, "0.001", feb(5))
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key) for hit in hits] == [(str(contract.pk), "over_executed")]
    assert hits[0].figures["lines"] == [
        {
            "line": 1,
            "commodity_id": trading.steel.pk,
            "commodity": "螺纹钢 HRB400 Φ20",
            "quantity": Decimal("100.000"),
            "tolerance_percent": Decimal("5.00"),
            "allowance": Decimal("105.000"),
            "executed": Decimal("105.001"),
            "excess": Decimal("0.001"),
        }
    ]
    assert ("trading.stock_document", str(last.pk)) in [
        (link.type, link.id) for link in hits[0].documents
    ]
    assert detect(RULE, extra_tolerance_percent="1") == []
    assert detect(RULE, check_over_execution=False) == []
    rule = registry.rule_get(RULE)
    assert "105.001" in rule.summarize(registry.jsonable(hits[0].figures))


def test_execution_is_summed_over_the_revisions(org, trading, book):
    first = purchase(org, trading, status=ContractStatus.SUPERSEDED, effective_on=feb(1))
    book(first, "100", feb(1))
    amendment = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "200", "1000.00")],
        number=first.number,
        revision=1,
        effective_on=feb(2),
    )
    amendment.original = first
    amendment.amends = first
    amendment.save(update_fields=["original", "amends"])
    book(amendment, "110", feb(3))
    assert detect(RULE) == []  # 210 t against 200 t + 5 %
    book(amendment, "0.001", feb(4))
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key) for hit in hits] == [(str(first.pk), "over_executed")]
    assert hits[0].figures["contract"] == f"{first.number} (1)"


def test_a_rerun_finds_the_same_finding(org, trading, book):
    contract = purchase(org, trading, effective_on=feb(10))
    book(contract, "10", feb(1))
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    book(contract, "10", feb(2))
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    assert finding.seen_count == 2
    assert len(finding.evidence["figures"]["documents"]) == 2


def test_queries_do_not_grow_with_the_contracts(org, trading, book, django_assert_max_num_queries):
    for _number in range(30):
        contract = purchase(org, trading, effective_on=feb(10))
        book(contract, "10", feb(1))
        book(contract, "100", feb(11))
    with django_assert_max_num_queries(10):
        hits = detect(RULE)
    assert sorted({hit.key for hit in hits}) == ["not_effective", "over_executed"]
    assert len(hits) == 60
