"""Rule 3: amounts clustered just below an approval threshold read from the flows' routes."""

from decimal import Decimal

import pytest

from qinglian.approvals import facts
from qinglian.approvals import services as approvals
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.supervision.tests.conftest import PAYMENT, days_ago, history_request
from qinglian.supervision.tests.helpers import check, detect

RULE = "threshold_clustering"


def submit(requester, amounts, *, template="payment", days=5):
    return [
        history_request(
            requester=requester,
            amount=amount,
            submitted_at=days_ago(days + index),
            template_code=template,
        )
        for index, amount in enumerate(amounts)
    ]


def test_thresholds_are_read_from_route_conditions_on_the_amount_field():
    definition = {
        "amount_field": "amount",
        "route": [
            {
                "key": "a",
                "name": "A",
                "condition": {"field": "amount", "op": "gt", "value": "1000"},
            },
            {
                "key": "b",
                "name": "B",
                "condition": {
                    "all": [
                        {"field": "kind", "op": "eq", "value": "x"},
                        {"any": [{"field": "amount", "op": "gte", "value": "5000"}]},
                    ]
                },
            },
            {"key": "c", "name": "C", "condition": {"field": "amount", "op": "lt", "value": "200"}},
            {"key": "d", "name": "D", "condition": {"field": "other", "op": "gt", "value": "9"}},
            {"key": "e", "name": "E"},
        ],
    }
    assert facts.thresholds_in(definition) == [
        ("a", "A", Decimal("1000"), True),
        ("b", "B", Decimal("5000"), False),
        ("c", "C", Decimal("200"), False),
    ]
    assert facts.thresholds_in({**definition, "amount_field": ""}) == []


def test_three_payments_just_below_a_million_by_one_person(org, flows):
    cluster = submit(org.handler_a, ["990000.00", "1000000.00", "950000.00"])
    submit(org.handler_b, ["990000.00"])  # someone else: not part of the cluster
    hits = detect(RULE)
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.subject_type, hit.subject_id) == ("org.user", str(org.handler_a.pk))
    assert hit.key == "payment:1000000"
    assert hit.figures["count"] == 3
    assert hit.figures["threshold"] == Decimal("1000000")
    assert hit.figures["node"] == "总经理"
    assert hit.figures["total"] == Decimal("2940000.00")
    assert sorted(link.id for link in hit.documents) == sorted(str(r.pk) for r in cluster)


def test_two_in_the_band_are_not_enough(org, flows):
    submit(org.handler_a, ["990000.00", "999999.99"])
    assert detect(RULE) == []
    assert len(detect(RULE, min_count=2)) == 1


def test_near_misses_just_outside_the_band_and_just_over_the_threshold(org, flows):
    # The band is [900,000, 1,000,000]: "amount > 1,000,000" keeps 1,000,000 on the lower route.
    submit(org.handler_a, ["899999.99", "1000000.01", "990000.00", "995000.00"])
    assert detect(RULE) == []
    submit(org.handler_a, ["900000.00"])
    assert detect(RULE)[0].figures["count"] == 3


def test_a_gte_threshold_excludes_the_threshold_itself(org, flows):
    """Expenses: "amount >= 5,000" sends 5,000 up, so only amounts under it are just below."""
    submit(org.handler_a, ["5000.00", "4999.99", "4600.00"], template="expense")
    assert detect(RULE) == []
    submit(org.handler_a, ["4500.00"], template="expense")
    hits = detect(RULE)
    assert hits[0].key == "expense:5000"
    assert hits[0].figures["count"] == 3


def test_window_and_band_parameters(org, flows):
    submit(org.handler_a, ["990000.00", "990000.00", "990000.00"], days=60)
    assert detect(RULE, window_days=59) == []
    assert len(detect(RULE, window_days=63)) == 1
    submit(org.handler_b, ["940000.00", "940000.00", "940000.00"])
    recent = {"window_days": 30}
    assert [hit.subject_id for hit in detect(RULE, band_percent="5", **recent)] == []
    assert [hit.subject_id for hit in detect(RULE, band_percent="6", **recent)] == [
        str(org.handler_b.pk)
    ]


def test_template_filter(org, flows):
    submit(org.handler_a, ["990000.00", "990000.00", "990000.00"])
    assert detect(RULE, template_codes="expense") == []
    assert len(detect(RULE, template_codes="payment,expense")) == 1


def test_a_threshold_changed_in_a_new_version_applies_to_new_requests(org, flows):
    earlier = submit(org.handler_a, ["990000.00", "990000.00"])
    definition = {**PAYMENT, "route": [*PAYMENT["route"][:2], {**PAYMENT["route"][2]}]}
    definition["route"][2]["condition"] = {
        "all": [{"field": "amount", "op": "gt", "value": "500000"}]
    }
    approvals.template_save(actor=SYSTEM_ACTOR, code="payment", name="付款", definition=definition)
    later = submit(org.handler_a, ["499000.00"])
    assert detect(RULE) == []  # two below the old threshold, one below the new one
    submit(org.handler_a, ["498000.00", "497000.00"])
    hits = detect(RULE)
    assert [hit.key for hit in hits] == ["payment:500000"]
    assert str(later[0].pk) in {link.id for link in hits[0].documents}
    assert not {str(r.pk) for r in earlier} & {link.id for link in hits[0].documents}


@pytest.mark.parametrize(("amount", "expected"), [("995000.00", 1), ("850000.00", 0)])
def test_at_submission_an_amount_just_below_is_a_risk(org, flows, amount, expected):
    request = approvals.request_submit(
        actor=org.handler_a,
        template_code="payment",
        form_data={"title": "进度款", "amount": amount},
    )
    hits = check(RULE, request.pk)
    assert len(hits) == expected
    if hits:
        assert hits[0].figures["count"] == 1
