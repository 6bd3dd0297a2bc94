"""The editor's pure parts: where a problem is, in words; rows to a definition and back; the
add / remove / move buttons."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from pydantic import ValidationError

from qinglian.approvals import editor
from qinglian.approvals.definitions import (
    Definition,
    definition_problems,
    describe_location,
    problem_text,
    validation_problems,
)

pytestmark = pytest.mark.usefixtures("english")

BASE = {
    "fields": [
        {"key": "amount", "label": "金额", "type": "money", "required": True},
        {"key": "kind", "label": "类型", "type": "choice", "choices": ["差旅", "招待"]},
        {"key": "day", "label": "日期", "type": "date"},
        {"key": "who", "label": "同事", "type": "person"},
    ],
    "route": [{"key": "head", "name": "部门负责人", "approver": {"kind": "department_head"}}],
}


def with_condition(condition):
    return {**BASE, "route": [{**BASE["route"][0], "condition": condition}]}


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("route.1.condition.all.0.value", ("route node 2, condition 1", "value")),
        ("route.0.condition.any.1.all.0.op", ("route node 1, condition 2.1", "operator")),
        ("route.0.condition", ("route node 1", "condition")),
        ("route.2.approver.users.0", ("route node 3", "people")),
        ("fields.0.columns.2.key", ("form field 1, column 3", "key")),
        ("cc.0.approver.role", ("cc 1", "role")),
        ("title_field", ("", "title field")),
        ("fields", ("", "form fields")),
    ],
)
def test_locations_in_words(location, words):
    assert describe_location(location) == words


def test_a_problem_in_words():
    assert (
        problem_text("route.1.condition.all.0.value", "must be a number")
        == "route node 2, condition 1: value must be a number"
    )
    assert problem_text("route.0", "is required") == "route node 1: is required"
    assert problem_text("definition", "must be an object") == "must be an object"


def test_shape_problems_are_located_below_the_condition_tags():
    with pytest.raises(ValidationError) as refused:
        Definition.model_validate(
            with_condition({"any": [{"all": [{"field": "amount", "op": "bigger", "value": 1}]}]})
        )
    assert validation_problems(refused.value) == {
        "route.0.condition.any.0.all.0.op": ["is not one of the allowed values"]
    }
    with pytest.raises(ValidationError) as refused:
        Definition.model_validate(with_condition("amount > 5000"))
    assert validation_problems(refused.value) == {
        "route.0.condition": ["must be a comparison or an all / any group"]
    }
    with pytest.raises(ValidationError) as refused:
        Definition.model_validate(with_condition({"all": [{"field": "nope", "op": "empty"}]}))
    assert validation_problems(refused.value) == {
        "route.0.condition.all.0.field": ["“nope” is not a field of this form"]
    }


NUMBER = "must be a number"
ORDER = "only compares numbers, amounts and dates by size"


@pytest.mark.parametrize(
    ("field", "op", "value", "problems"),
    [
        ("amount", "gt", "5000", {}),
        ("amount", "gt", 5000, {}),
        ("amount", "gt", "lots", {"value": [NUMBER]}),
        ("amount", "gt", True, {"value": [NUMBER]}),
        ("amount", "eq", None, {"value": ["is required"]}),
        ("day", "lt", "2026-02-30", {"value": ["must be a date (YYYY-MM-DD)"]}),
        ("kind", "in", ["差旅", "购物"], {"value": ["must be one of the field's choices"]}),
        ("kind", "in", "差旅", {"value": ["must list at least one value"]}),
        ("kind", "gt", "差旅", {"op": [ORDER]}),
        ("kind", "empty", "x", {"value": ["must be left empty"]}),
        ("who", "eq", "张三", {"value": ["must be an id (a whole number)"]}),
        ("who", "eq", 12, {}),
    ],
)
def test_a_comparison_must_be_able_to_work(field, op, value, problems):
    comparison = {"field": field, "op": op, "value": value}
    definition = Definition.model_validate(with_condition({"all": [comparison]}))
    prefix = "route.0.condition.all.0."
    assert definition_problems(definition) == {
        prefix + setting: messages for setting, messages in problems.items()
    }


# ---------------------------------------------------------------- rows


def post(state):
    """The rows as the page would post them."""
    data = QueryDict(mutable=True)
    for row in state.fields:
        for name, value in (
            ("key", row.key),
            ("label", row.label),
            ("type", row.type),
            ("choices", row.choices),
            ("help", row.help),
        ):
            data[f"{row.prefix}-{name}"] = value
        if row.required:
            data[f"{row.prefix}-required"] = "on"
    for node in state.route:
        for name, value in (
            ("key", node.key),
            ("name", node.name),
            ("kind", node.approver.kind),
            ("mode", node.mode),
            ("match", node.match),
            ("time_limit", node.time_limit),
        ):
            data[f"{node.prefix}-{name}"] = value
        if node.bare:
            data[f"{node.prefix}-bare"] = "1"
        for condition in node.conditions:
            data[f"{condition.prefix}-field"] = condition.field
            data[f"{condition.prefix}-op"] = condition.op
            data[f"{condition.prefix}-value"] = condition.value
    return data


def test_a_single_comparison_stays_single_and_a_group_stays_a_group():
    for condition in (
        {"field": "amount", "op": "gt", "value": "5000"},
        {"any": [{"field": "kind", "op": "in", "value": ["差旅", "招待"]}]},
    ):
        stored = Definition.model_validate(with_condition(condition)).model_dump(mode="json")
        state = editor.state_from_definition(stored)
        assert state.unsupported == ""
        again = editor.definition_from_state(editor.state_from_post(post(state)))
        assert Definition.model_validate(again).model_dump(mode="json") == stored


def test_nested_groups_are_left_to_the_json_view():
    stored = Definition.model_validate(
        with_condition({"any": [{"all": [{"field": "amount", "op": "gt", "value": "1"}]}]})
    ).model_dump(mode="json")
    assert "groups inside groups" in editor.state_from_definition(stored).unsupported


def test_the_buttons_add_move_and_remove_rows_and_ignore_stale_ones():
    state = editor.new_state()
    assert [row.prefix for row in state.fields] == ["fields-0"]
    editor.apply_action(state, "add:route")
    editor.apply_action(state, "add:route")
    assert [node.key for node in state.route] == ["node_1", "node_2", "node_3"]
    editor.apply_action(state, "down:route-0")
    assert [node.key for node in state.route] == ["node_2", "node_1", "node_3"]
    editor.apply_action(state, "up:route-0")  # already first
    editor.apply_action(state, "down:route-2")  # already last
    assert [node.key for node in state.route] == ["node_2", "node_1", "node_3"]
    editor.apply_action(state, "add:route-1-cond")
    assert state.route[1].conditions[0].prefix == "route-1-cond-0"
    editor.apply_action(state, "remove:route-0")
    assert [node.prefix for node in state.route] == ["route-0", "route-1"]
    assert state.route[0].conditions[0].prefix == "route-0-cond-0"
    for stale in ("remove:route-7", "add:nowhere", "up:route-x", "remove:fields-0-columns-3", "x"):
        editor.apply_action(state, stale)
    assert len(state.route) == 2 and len(state.fields) == 1
    editor.apply_action(state, "add:fields-0-columns")
    assert state.fields[0].columns[0].prefix == "fields-0-columns-0"
    assert state.fields[0].columns[0].is_column
    editor.apply_action(state, "add:fields-0-columns-0-columns")  # no table in a table
    assert state.fields[0].columns[0].columns == []


def test_problems_land_on_their_rows():
    state = editor.new_state()
    editor.apply_action(state, "add:route-0-cond")
    texts = editor.attach_problems(
        state,
        {
            "route.0.condition.all.0.value": ["must be a number"],
            "route.0.approver.role": ["is required"],
            "fields.0.key": ["is required"],
            "amount_field": ["must name a number or amount field"],
        },
    )
    assert texts[0] == "route node 1, condition 1: value must be a number"
    assert state.route[0].conditions[0].invalid == {"value"}
    assert state.route[0].approver.invalid == {"role"}
    assert state.fields[0].invalid == {"key"}
    assert state.invalid == {"amount_field"}
