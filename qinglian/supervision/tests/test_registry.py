"""The rule registry: typed parameters with bounds, explanations with the values used, stable
fingerprints, one module per rule."""

from decimal import Decimal

import pytest

from qinglian.supervision import registry, rules
from qinglian.supervision.enums import Area, ParameterKind, Severity

pytestmark = pytest.mark.usefixtures("english")


def make_rule(**extra):
    return registry.Rule(
        code=extra.pop("code", "zz_test"),
        number=98,
        title="test",
        explanation=extra.pop("explanation", "At least %(count)s, within %(share)s, %(flag)s."),
        area=Area.MONEY,
        severity=Severity.LOW,
        parameters=extra.pop(
            "parameters",
            (
                registry.Parameter(
                    "count", "count", ParameterKind.INTEGER, 3, minimum=1, maximum=9
                ),
                registry.Parameter(
                    "share", "share", ParameterKind.DECIMAL, "0.5", minimum=0, maximum=1, unit="%"
                ),
                registry.Parameter("flag", "flag", ParameterKind.BOOLEAN, True),
                registry.Parameter("codes", "codes", ParameterKind.CODES, ["a"]),
            ),
        ),
        detect=lambda context: [],
        summarize=lambda figures: "",
        **extra,
    )


def test_every_rule_module_registers_its_rule():
    assert set(rules.discover()) >= {
        "self_approval",
        "threshold_clustering",
        "unusual_timing",
        "benford",
        "split_purchases",
        "payment_over_contract",
        "duplicate_invoices",
        "supplier_admission",
        "related_parties",
        "price_anomalies",
        "quantity_variances",
        "contract_execution",
        "supplier_concentration",
        "credit_exceptions",
        "overdue_shipments",
        "trading_warnings",
    }
    assert [(rule.number, rule.code) for rule in registry.all_rules()] == [
        (1, "self_approval"),
        (2, "split_purchases"),
        (3, "threshold_clustering"),
        (4, "payment_over_contract"),
        (5, "duplicate_invoices"),
        (6, "supplier_not_admitted"),
        (7, "related_parties"),
        (8, "credit_exceptions"),
        (9, "price_anomalies"),
        (10, "quantity_variances"),
        (11, "unusual_approval_timing"),
        (12, "overdue_shipments"),
        (13, "contract_execution"),
        (14, "benford_first_digit"),
        (15, "supplier_concentration"),
        (16, "trading_warnings"),
    ]
    for rule in registry.all_rules():
        assert rule.explain(rule.defaults())  # every placeholder names a parameter
        assert str(rule.title)


@pytest.mark.parametrize(
    ("key", "raw", "stored"),
    [
        ("count", "3", 3),
        ("count", 9, 9),
        ("share", "0.50", "0.5"),
        ("share", "1", "1"),
        ("share", "100.00", None),
        ("count", "10", None),
        ("count", "0", None),
        ("count", "2.5", None),
        ("count", "x", None),
        ("count", True, None),
        ("share", "NaN", None),
        ("flag", "on", True),
        ("flag", "", False),
        ("flag", "maybe", None),
        ("codes", "a, b,a", ["a", "b"]),
        ("codes", ["x y"], None),
    ],
)
def test_parameter_values_are_typed_and_bounded(key, raw, stored):
    rule = make_rule()
    parameter = rule.parameter(key)
    if stored is None:
        with pytest.raises(ValueError):
            parameter.clean(raw)
    else:
        assert parameter.clean(raw) == stored


def test_values_and_explanation():
    rule = make_rule()
    stored = rule.clean_parameters({"count": "4", "share": "0.25", "flag": False, "codes": ""})
    assert rule.values(stored) == {
        "count": 4,
        "share": Decimal("0.25"),
        "flag": False,
        "codes": [],
    }
    assert rule.explain(stored) == "At least 4, within 0.25%, no."
    # A parameter added after a finding was stored shows its default.
    assert rule.values({"count": 2}) == {
        "count": 2,
        "share": Decimal("0.5"),
        "flag": True,
        "codes": ["a"],
    }


def test_unknown_and_missing_parameters_are_refused_together():
    with pytest.raises(registry.ParameterError) as error:
        make_rule().clean_parameters({"count": 0, "other": 1})
    assert set(error.value.problems) == {"count", "other", "share", "flag", "codes"}


def test_registration_checks_the_rule():
    with pytest.raises(ValueError):
        registry.register(make_rule(code="Bad-Code"))
    with pytest.raises(KeyError):
        registry.register(make_rule(explanation="%(missing)s"))
    with pytest.raises(ValueError):  # a default outside its own bounds
        registry.register(
            make_rule(
                parameters=(registry.Parameter("n", "n", ParameterKind.INTEGER, 0, minimum=1),),
                explanation="",
            )
        )
    rule = registry.register(make_rule())
    try:
        with pytest.raises(ValueError):
            registry.register(make_rule())  # another rule under the same code
    finally:
        registry.unregister(rule.code)


def test_fingerprints_are_stable_per_rule_and_subject():
    one = registry.fingerprint("self_approval", "approvals.request", "7")
    assert one == registry.fingerprint("self_approval", "approvals.request", "7")
    assert len(one) == 64
    assert one != registry.fingerprint("self_approval", "approvals.request", "8")
    assert one != registry.fingerprint("other", "approvals.request", "7")
    assert registry.fingerprint("r", "t", "1", "2026") != registry.fingerprint(
        "r", "t", "1", "2025"
    )
