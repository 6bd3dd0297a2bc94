"""Rule 3: amounts clustered just below an approval threshold read from the flows' routes."""

from decimal import Decimal

import pytest
from django.utils import translation

from qinglian.approvals import facts
from qinglian.approvals import services as approvals
from qinglian.approvals.history import history_versions
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.supervision import registry
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
    assert (hit.figures["threshold_source"], hit.figures["node"]) == ("flow", "总经理")
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


def test_look_back_and_band_parameters(org, flows):
    submit(org.handler_a, ["990000.00", "990000.00", "990000.00"], days=60)  # 60 to 62 days ago
    assert len(detect(RULE)) == 1
    assert detect(RULE, lookback_days=61) == []  # the oldest is left out: two remain
    assert len(detect(RULE, lookback_days=63)) == 1
    submit(org.handler_b, ["940000.00", "940000.00", "940000.00"])
    recent = {"lookback_days": 30}
    assert [hit.subject_id for hit in detect(RULE, band_percent="5", **recent)] == []
    assert [hit.subject_id for hit in detect(RULE, band_percent="6", **recent)] == [
        str(org.handler_b.pk)
    ]


def spread(requester, days_back, amount="990000.00", template="payment"):
    return [
        history_request(
            requester=requester,
            amount=amount,
            submitted_at=days_ago(days),
            template_code=template,
        )
        for days in days_back
    ]


@pytest.mark.parametrize(
    ("days_back", "found"),
    [
        ((200, 155, 110), 3),  # 90 days from the first to the last: inside the window
        ((201, 155, 110), 0),  # 91 days: a near miss
        ((300, 250, 200, 150), 0),  # never three within 90 days
        ((300, 250, 200, 190), 3),  # the last three
    ],
)
def test_the_window_slides_over_the_whole_history(org, flows, days_back, found):
    requests = spread(org.handler_a, days_back)
    hits = detect(RULE)
    assert sum(hit.figures["count"] for hit in hits) == found
    if found:
        assert {link.id for link in hits[0].documents} == {str(r.pk) for r in requests[-found:]}
        assert hits[0].figures["window_days"] == 90


def test_every_window_of_a_person_makes_one_finding_per_threshold(org, flows):
    early = spread(org.handler_a, (700, 690, 680))
    spread(org.handler_a, (400,))  # alone in its window: not part of the finding
    late = spread(org.handler_a, (30, 20, 10))
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key) for hit in hits] == [
        (str(org.handler_a.pk), "payment:1000000")
    ]
    assert [link.id for link in hits[0].documents] == [str(r.pk) for r in early + late]
    # 699 days back: the first of the early three is left out, and two are not enough
    assert [link.id for link in detect(RULE, lookback_days=699)[0].documents] == [
        str(r.pk) for r in late
    ]


def expense_history():
    """The flow imported expense claims are filed under when the installation has none: no
    route conditions, so no threshold of its own."""
    history_versions({"expense": ("expense_claim", "费用报销")})


def test_the_group_thresholds_check_history_whose_flow_has_none(org, flows):
    expense_history()
    claims = spread(org.handler_a, (60, 40, 20), amount="4620.00", template="expense_claim")
    spread(org.handler_b, (60, 40, 20), amount="5000.01", template="expense_claim")  # over it
    spread(org.handler_b, (59, 39, 19), amount="4499.99", template="expense_claim")  # under band
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key) for hit in hits] == [
        (str(org.handler_a.pk), "expense_claim:5000")
    ]
    assert [link.id for link in hits[0].documents] == [str(r.pk) for r in claims]
    assert (hits[0].figures["threshold_source"], hits[0].figures["node"]) == ("group", "")
    with translation.override("en"):
        summary = registry.rule_get(RULE).summarize(registry.jsonable(hits[0].figures))
    assert summary.startswith("3 requests of “费用报销（历史）” by 甲经办")
    assert summary.endswith(
        "between 4,500.00 and 5,000.00 yuan, just below the group's approval threshold set in "
        "the rule's parameters (together 13,860.00)"
    )
    assert detect(RULE, group_thresholds="") == []  # no threshold left for the flow
    assert detect(RULE, group_thresholds="expense:5000") == []  # another flow's threshold


def test_a_group_threshold_is_reached_by_the_amount_itself(org, flows):
    """The group's thresholds read "above it goes higher": the amount itself is just below."""
    expense_history()
    spread(org.handler_a, (30, 20, 10), amount="5000.00", template="expense_claim")
    assert [hit.figures["count"] for hit in detect(RULE)] == [3]


def test_flow_and_group_thresholds_are_used_together(org, flows):
    submit(org.handler_a, ["495000.00", "490000.00", "480000.00"])
    assert detect(RULE) == []  # the flow's only threshold is 1,000,000
    hits = detect(RULE, group_thresholds="payment:500000")
    assert [(hit.key, hit.figures["threshold_source"]) for hit in hits] == [
        ("payment:500000", "group")
    ]


def test_where_flow_and_group_name_one_amount_the_flows_condition_is_used(org, flows):
    """The expense flow's "amount >= 5,000" keeps 5,000 itself out of the band, though the
    group's threshold of 5,000 would keep it in."""
    submit(org.handler_a, ["5000.00", "4999.00", "4900.00"], template="expense")
    assert detect(RULE, group_thresholds="expense:5000") == []  # two in the band
    hits = detect(RULE, group_thresholds="expense:5000", min_count=2)
    assert [
        (hit.key, hit.figures["threshold_source"], hit.figures["node"], hit.figures["count"])
        for hit in hits
    ] == [("expense:5000", "flow", "分管领导", 2)]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (
            "trading_contract:5000000, expense_claim：5000, trading_contract = 1000000",
            ["expense_claim:5000", "trading_contract:1000000", "trading_contract:5000000"],
        ),
        (["expense_claim:5000.00", "expense_claim:5000"], ["expense_claim:5000"]),
        ("", []),
    ],
)
def test_the_group_thresholds_parameter_is_flow_code_and_amount(raw, stored):
    parameter = registry.rule_get(RULE).parameter("group_thresholds")
    assert parameter.clean(raw) == stored
    assert parameter.clean(", ".join(stored)) == stored  # as the edit form shows it


@pytest.mark.parametrize(
    "raw",
    ["expense_claim", "expense_claim:", ":5000", "expense_claim:5,000", "费用:5000", "x:0"],
)
def test_the_group_thresholds_parameter_refuses_what_is_not_flow_and_amount(raw):
    with pytest.raises(registry.ParameterError) as refused:
        registry.rule_get(RULE).clean_parameters({"group_thresholds": raw}, partial=True)
    assert list(refused.value.problems) == ["group_thresholds"]


def test_the_explanation_names_the_group_thresholds(english):
    explanation = registry.rule_get(RULE).explain({})
    assert (
        "the group's thresholds per flow in yuan (engineering_payment: 1,000,000; "
        "expense_claim: 5,000; trading_contract: 1,000,000 / 5,000,000)"
    ) in explanation
    assert "last 3650 days" in explanation


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


def test_at_submission_the_count_is_of_the_window_before_it(org, flows):
    spread(org.handler_a, (120, 60))  # 120 days ago: outside the 90 days before today
    request = approvals.request_submit(
        actor=org.handler_a,
        template_code="payment",
        form_data={"title": "进度款", "amount": "995000.00"},
    )
    assert [hit.figures["count"] for hit in check(RULE, request.pk)] == [2]
    assert [hit.figures["count"] for hit in check(RULE, request.pk, window_days=120)] == [3]
