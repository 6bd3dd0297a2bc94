"""Rule 2: contracts split under an approval threshold, with one counterparty or with
counterparties that share a bank account, phone or address."""

import datetime
from decimal import Decimal

import pytest
from django.utils import translation

from qinglian.core import clock
from qinglian.supervision import registry, services
from qinglian.supervision.models import Finding
from qinglian.supervision.rules import split_purchases
from qinglian.supervision.rules._approvals import Threshold
from qinglian.supervision.tests.helpers import check, detect
from qinglian.trading import facts
from qinglian.trading.enums import ContractKind, ContractStatus
from qinglian.trading.factories import make_contract, make_partner

RULE = "split_purchases"
DAY = datetime.date(2026, 2, 1)


def contract(org, trading, amount, *, on=DAY, partner=None, company=None, **extra):
    """A purchase contract of `amount` yuan (one lot of steel)."""
    return make_contract(
        company=company or org.company_a,
        partner=partner or trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "1", amount)],
        signed_on=on,
        **extra,
    )


def later(days):
    return DAY + datetime.timedelta(days=days)


def test_two_contracts_under_the_flow_threshold_together_over_it(org, trading, money_flows, frozen):
    first = contract(org, trading, "600000")
    second = contract(org, trading, "600000", on=later(10))
    contract(org, trading, "600000", company=org.company_b)  # another company: not grouped
    hits = detect(RULE)
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.subject_type, hit.subject_id, hit.key) == (
        "trading.contract",
        str(first.pk),
        "1000000",
    )
    assert hit.company_id == org.company_a.pk
    assert hit.figures["threshold"] == Decimal("1000000")
    # The flow names the same amount as the group's default: the flow's node is shown.
    assert (hit.figures["threshold_source"], hit.figures["node"]) == ("flow", "复核·分管领导")
    assert hit.figures["total"] == Decimal("1200000.00")
    assert [row["id"] for row in hit.figures["contracts"]] == [first.pk, second.pk]
    assert [(link.type, link.id) for link in hit.documents] == [
        ("trading.contract", str(first.pk)),
        ("trading.contract", str(second.pk)),
        ("trading.partner", str(trading.supplier.pk)),
    ]
    assert hit.people == [trading.purchaser_a.pk]
    rule = registry.rule_get(RULE)
    with translation.override("en"):
        summary = rule.summarize(registry.jsonable(hit.figures))
    assert summary.endswith(
        "each at most 1,000,000.00 yuan, together 1,200,000.00 yuan (threshold: the flow's "
        "route condition where “复核·分管领导” must approve)"
    )


def test_exactly_at_the_threshold_stays_on_the_lower_route(org, trading, money_flows, frozen):
    contract(org, trading, "500000")
    contract(org, trading, "500000", on=later(5))
    assert detect(RULE) == []  # together 1,000,000: not over "amount > 1,000,000"
    contract(org, trading, "0.01", on=later(6))  # under 10 % of the threshold: not counted
    assert detect(RULE) == []
    assert len(detect(RULE, min_percent_of_threshold=0)) == 1


def test_the_window_is_counted_from_the_first_contract(org, trading, money_flows, frozen):
    contract(org, trading, "600000")
    contract(org, trading, "600000", on=later(31))
    assert detect(RULE) == []
    assert len(detect(RULE, window_days=31)) == 1


def test_a_contract_over_the_threshold_is_no_part_of_a_split(org, trading, money_flows, frozen):
    contract(org, trading, "1200000")
    contract(org, trading, "300000", on=later(1))
    assert detect(RULE) == []


def test_drafts_and_cancelled_contracts_are_left_out(org, trading, money_flows, frozen):
    contract(org, trading, "600000", status=ContractStatus.DRAFT)
    contract(org, trading, "600000", on=later(1), status=ContractStatus.CANCELLED)
    contract(org, trading, "600000", on=later(2))
    assert detect(RULE) == []


def test_a_run_looks_back_over_years_of_history(org, trading, money_flows, frozen):
    """Imported history is what inspectors want scanned: ten years back by default."""
    old = datetime.date(2017, 3, 20)  # 3,278 days before the run (2026-03-11)
    first = contract(org, trading, "600000", on=old)
    contract(org, trading, "600000", on=old + datetime.timedelta(days=1))
    assert [hit.subject_id for hit in detect(RULE)] == [str(first.pk)]
    assert len(detect(RULE, lookback_days=3278)) == 1  # signed on the first day looked at
    assert detect(RULE, lookback_days=3277) == []  # the first contract a day too old


def test_the_highest_threshold_crossed_is_reported_once(org, trading, money_flows, frozen):
    contracts = [contract(org, trading, "950000", on=later(day)) for day in range(6)]
    hits = detect(RULE)
    assert [(hit.key, hit.figures["count"]) for hit in hits] == [("5000000", 6)]
    assert hits[0].subject_id == str(contracts[0].pk)


def test_counterparties_sharing_a_bank_account_count_as_one(org, trading, money_flows, frozen):
    one = make_partner(company=org.group, bank_account="6222 0012-3456 7890", name="甲供应商")
    other = make_partner(company=org.group, bank_account="622200123456 7890", name="乙供应商")
    contract(org, trading, "600000", partner=one)
    contract(org, trading, "600000", on=later(3), partner=other)
    hits = detect(RULE)
    assert len(hits) == 1
    assert [item["id"] for item in hits[0].figures["counterparties"]] == [one.pk, other.pk]
    assert hits[0].figures["shared"] == [
        {"attribute": "bank_account", "value": "6222001234567890", "partners": [one.pk, other.pk]}
    ]
    assert detect(RULE, include_related=False) == []


def test_a_group_threshold_of_the_inspectors_and_sales_contracts(org, trading, money_flows, frozen):
    for day in (0, 1):
        make_contract(
            company=org.company_a,
            partner=trading.customer,
            owner=trading.salesperson_a,
            kind=ContractKind.SALES,
            lines=[(trading.steel, "100", "1000.00")],
            signed_on=later(day),
        )
    assert detect(RULE) == []  # 200,000 together: under every threshold
    hits = detect(RULE, group_thresholds="150000, 1000000, 5000000")
    assert [(hit.key, hit.figures["threshold_source"]) for hit in hits] == [("150000", "group")]
    assert detect(RULE, group_thresholds="200000") == []  # together exactly 200,000: not over
    assert detect(RULE, group_thresholds="150000", contract_kinds="purchase") == []


def test_the_group_thresholds_check_history_whose_flow_has_none(org, trading, frozen):
    """No contract flow with conditions (imported history): the group's thresholds apply."""
    first = contract(org, trading, "600000")
    contract(org, trading, "600000", on=later(1))
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key) for hit in hits] == [(str(first.pk), "1000000")]
    assert (hits[0].figures["threshold_source"], hits[0].figures["node"]) == ("group", "")
    with translation.override("en"):
        summary = registry.rule_get(RULE).summarize(registry.jsonable(hits[0].figures))
    assert summary.endswith(
        "together 1,200,000.00 yuan (threshold: the group's approval threshold set in the "
        "rule's parameters)"
    )
    assert detect(RULE, group_thresholds="") == []  # neither a flow nor the group's: no check
    assert detect(RULE, group_thresholds="1200000") == []  # together exactly at it: a near miss


def test_flow_and_group_thresholds_are_used_together(org, trading, money_flows, frozen):
    contract(org, trading, "450000")
    contract(org, trading, "400000", on=later(1))
    assert detect(RULE) == []  # 850,000 together: under the flow's 1,000,000
    hits = detect(RULE, group_thresholds="800000")  # the group's rules send 800,000 up
    assert [(hit.key, hit.figures["threshold_source"]) for hit in hits] == [("800000", "group")]
    assert hits[0].figures["total"] == Decimal("850000.00")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("5000000, 1000000", ["1000000", "5000000"]),
        ("1000000，5000000；1000000.00", ["1000000", "5000000"]),
        (["800000", 1000000], ["800000", "1000000"]),
        ("", []),
    ],
)
def test_the_group_thresholds_parameter_is_a_list_of_amounts(raw, stored):
    parameter = registry.rule_get(RULE).parameter("group_thresholds")
    assert parameter.clean(raw) == stored
    # the edit form shows the stored list joined with ", " and reads it back unchanged
    assert parameter.clean(", ".join(stored)) == stored


@pytest.mark.parametrize("raw", ["1,000,000", "1000000,500", "0", "-5", "abc", "1e13"])
def test_the_group_thresholds_parameter_refuses_what_is_not_an_amount(raw):
    rule = registry.rule_get(RULE)
    with pytest.raises(registry.ParameterError) as refused:
        rule.clean_parameters({"group_thresholds": raw}, partial=True)
    assert list(refused.value.problems) == ["group_thresholds"]


def test_the_explanation_names_the_group_thresholds(english):
    rule = registry.rule_get(RULE)
    assert rule.explain({}).endswith(
        "the group's contract approval thresholds in yuan: 1,000,000 / 5,000,000."
    )
    assert rule.explain({"group_thresholds": []}).endswith("thresholds in yuan: (none).")


def test_a_rerun_and_a_later_contract_find_the_same_finding(org, trading, money_flows, frozen):
    contract(org, trading, "600000")
    contract(org, trading, "600000", on=later(1))
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    contract(org, trading, "300000", on=later(2))
    frozen.advance(hours=1)
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    assert Finding.objects.filter(rule_code=RULE).count() == 1
    finding.refresh_from_db()
    assert finding.seen_count == 2
    assert finding.evidence["figures"]["count"] == 3
    assert finding.evidence["parameters"]["window_days"] == 30


def test_the_check_at_submission_names_the_contract_that_completes_a_split(
    org, trading, money_flows, frozen
):
    first = contract(org, trading, "600000")
    pending = contract(org, trading, "600000", on=later(1), status=ContractStatus.PENDING)
    alone = contract(org, trading, "300000", on=later(90))
    rule = registry.rule_get(RULE)
    assert rule is not None and rule.check_document is not None
    context = registry.RuleContext(rule.values({}), clock.now())
    hits = list(rule.check_document(context, "trading.contract", str(pending.pk)))
    assert [hit.subject_id for hit in hits] == [str(first.pk)]
    assert list(rule.check_document(context, "trading.contract", str(alone.pk))) == []
    assert list(rule.check_document(context, "trading.payment", str(pending.pk))) == []


def test_split_groups_is_pure_and_slides_past_a_lonely_contract():
    def fact(pk, day, amount):
        return facts.ContractFact(
            id=pk,
            chain_id=pk,
            revision=0,
            number=f"C{pk}",
            company_id=1,
            department_id=None,
            kind="purchase",
            partner_id=1,
            status="effective",
            signed_on=later(day),
            effective_on=None,
            terminated_on=None,
            end_on=None,
            created_on=DAY,
            payment_term="credit",
            prepayment_percent=Decimal(0),
            total_quantity=Decimal(1),
            total_amount=Decimal(amount),
            owner_id=1,
        )

    contracts = [fact(1, 0, "400"), fact(2, 40, "600"), fact(3, 45, "600"), fact(4, 100, "900")]
    groups = split_purchases.split_groups(
        contracts,
        Threshold(Decimal(1000), True),
        window_days=30,
        min_count=2,
        min_percent=Decimal(0),
    )
    assert [[c.id for c in group] for group in groups] == [[2, 3]]


def test_the_approval_page_check_of_a_submitted_contract(org, trading, money_flows, frozen):
    from qinglian.trading.services import contracts as contract_services

    contract(org, trading, "600000", on=later(1))
    draft = contract(org, trading, "600000", on=later(2), status=ContractStatus.DRAFT)
    submitted = contract_services.contract_submit(actor=trading.purchaser_a, contract_id=draft.pk)
    assert submitted.approval_request_id is not None
    hits = check(RULE, submitted.approval_request_id)
    assert [(hit.figures["count"], hit.figures["total"]) for hit in hits] == [
        (2, Decimal("1200000.00"))
    ]
