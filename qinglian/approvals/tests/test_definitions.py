"""Pure checks of definitions: structured conditions and form cleaning."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from qinglian.approvals.definitions import Definition, clean_form_data, condition_holds

pytestmark = pytest.mark.usefixtures("english")

BASE = {
    "fields": [
        {"key": "amount", "label": "金额", "type": "money", "required": True},
        {"key": "kind", "label": "类型", "type": "choice", "choices": ["差旅", "招待"]},
        {"key": "day", "label": "日期", "type": "date"},
        {
            "key": "items",
            "label": "明细",
            "type": "rows",
            "columns": [
                {"key": "what", "label": "项目", "type": "text", "required": True},
                {"key": "cost", "label": "金额", "type": "money"},
            ],
        },
    ],
    "route": [{"key": "head", "name": "部门负责人", "approver": {"kind": "department_head"}}],
}


def definition(**route_node):
    data = {**BASE, "route": [{**BASE["route"][0], **route_node}]}
    return Definition.model_validate(data)


@pytest.mark.parametrize(
    ("condition", "data", "holds"),
    [
        ({"field": "amount", "op": "gt", "value": "5000"}, {"amount": "5000.01"}, True),
        ({"field": "amount", "op": "gt", "value": "5000"}, {"amount": "5000.00"}, False),
        ({"field": "amount", "op": "gte", "value": 5000}, {"amount": "5000.00"}, True),
        ({"field": "amount", "op": "lt", "value": "5000"}, {"amount": None}, False),
        ({"field": "kind", "op": "in", "value": ["招待"]}, {"kind": "招待"}, True),
        ({"field": "kind", "op": "not_in", "value": ["招待"]}, {"kind": "招待"}, False),
        ({"field": "kind", "op": "empty"}, {}, True),
        ({"field": "day", "op": "lt", "value": "2026-01-01"}, {"day": "2025-12-31"}, True),
        ({"field": "day", "op": "gt", "value": "100"}, {"day": "2025-12-31"}, False),
        (
            {
                "any": [
                    {"field": "kind", "op": "eq", "value": "招待"},
                    {
                        "all": [
                            {"field": "amount", "op": "gt", "value": "100"},
                            {"field": "kind", "op": "eq", "value": "差旅"},
                        ]
                    },
                ]
            },
            {"kind": "差旅", "amount": "150"},
            True,
        ),
    ],
)
def test_conditions(condition, data, holds):
    assert condition_holds(definition(condition=condition).route[0].condition, data) is holds


def test_conditions_are_data_never_code():
    with pytest.raises(ValidationError):
        definition(condition="amount > 5000")
    with pytest.raises(ValidationError):
        definition(condition={"field": "amount", "op": "__import__", "value": "os"})
    with pytest.raises(ValidationError):
        definition(condition={"field": "unknown", "op": "gt", "value": 1})


def test_form_cleaning_names_every_problem_including_detail_rows():
    cleaned, problems = clean_form_data(
        definition(),
        {
            "amount": "1,200.5",
            "kind": "购物",
            "day": "2026-02-30",
            "items": [{"what": "机票", "cost": "800"}, {"cost": "-1"}],
        },
    )
    assert cleaned["amount"] == "1200.50"
    assert problems == {
        "kind": ["Not one of the choices."],
        "day": ["Not a date (YYYY-MM-DD)."],
        "items.2.what": ["This field is required."],
        "items.2.cost": ["Must not be negative."],
    }


@given(st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False))
def test_money_round_trips(value):
    cleaned, problems = clean_form_data(definition(), {"amount": str(value)})
    assert problems == {}
    assert cleaned["amount"] == f"{value:.2f}"
