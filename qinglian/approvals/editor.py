"""The structured flow editor: a template's form and route as rows an administrator fills in,
never JSON. Pure (no ORM): it turns posted rows into a definition, a definition into rows, and
applies the add / remove / move buttons; the services validate and save.

Every input of a row is named after the row's place ("route-1-cond-0-value"), and the rows are
renumbered on every render, so the order of the rows on the page is the order saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from .definitions import (
    LIST_OPERATORS,
    VALUELESS_OPERATORS,
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    Definition,
    problem_text,
)
from .enums import ApproverKind, NodeMode, RoleScope

FIELD_TYPE_CHOICES = [
    ("text", pgettext_lazy("flow editor", "Text")),
    ("textarea", pgettext_lazy("flow editor", "Long text")),
    ("number", pgettext_lazy("flow editor", "Number")),
    ("money", pgettext_lazy("flow editor", "Amount (yuan)")),
    ("date", pgettext_lazy("flow editor", "Date")),
    ("choice", pgettext_lazy("flow editor", "Choice")),
    ("person", pgettext_lazy("flow editor", "Person")),
    ("department", pgettext_lazy("flow editor", "Department")),
    ("project", pgettext_lazy("flow editor", "Engineering project")),
    ("attachment", pgettext_lazy("flow editor", "Attachment")),
    ("rows", pgettext_lazy("flow editor", "Detail table")),
]
COLUMN_TYPE_CHOICES = [choice for choice in FIELD_TYPE_CHOICES if choice[0] != "rows"]
OPERATOR_CHOICES = [
    ("eq", pgettext_lazy("flow editor", "equals")),
    ("ne", pgettext_lazy("flow editor", "does not equal")),
    ("gt", pgettext_lazy("flow editor", "is more than")),
    ("gte", pgettext_lazy("flow editor", "is at least")),
    ("lt", pgettext_lazy("flow editor", "is less than")),
    ("lte", pgettext_lazy("flow editor", "is at most")),
    ("in", pgettext_lazy("flow editor", "is one of")),
    ("not_in", pgettext_lazy("flow editor", "is none of")),
    ("empty", pgettext_lazy("flow editor", "is empty")),
    ("not_empty", pgettext_lazy("flow editor", "is filled in")),
]
MATCH_CHOICES = [
    ("all", pgettext_lazy("flow editor", "all of these hold")),
    ("any", pgettext_lazy("flow editor", "any of these holds")),
]
CC_AT_CHOICES = [
    ("start", pgettext_lazy("flow editor", "When it is submitted")),
    ("end", pgettext_lazy("flow editor", "When it is decided")),
]
LIST_SEPARATORS = re.compile(r"[,，、;；\n]")
MAX_ROWS = 100  # rows of one list the editor accepts from a post


class PostData(Protocol):
    """A QueryDict, or anything with its two reads."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[Any]: ...

    def __iter__(self) -> Any: ...


# ---------------------------------------------------------------- the rows


@dataclass
class _Row:
    prefix: str = ""
    problems: list[str] = field(default_factory=list)  # in words, shown on the row
    invalid: set[str] = field(default_factory=set)  # the settings to mark


@dataclass
class FieldRow(_Row):
    key: str = ""
    label: str = ""
    type: str = "text"
    required: bool = False
    choices: str = ""  # one per line
    help: str = ""
    columns: list[FieldRow] = field(default_factory=list)
    is_column: bool = False


@dataclass
class ApproverRow(_Row):
    kind: str = ApproverKind.DEPARTMENT_HEAD
    role: str = ""
    scope: str = RoleScope.REQUESTER_COMPANY
    users: list[Any] = field(default_factory=list)
    levels: str = "1"
    search: str = ""
    chosen: list[tuple[int, str]] = field(default_factory=list)  # filled by the view
    found: list[tuple[int, str]] = field(default_factory=list)  # filled by the view


@dataclass
class ConditionRow(_Row):
    field: str = ""
    op: str = "eq"
    value: str = ""


@dataclass
class NodeRow(_Row):
    key: str = ""
    name: str = ""
    approver: ApproverRow = field(default_factory=ApproverRow)
    mode: str = NodeMode.ANY
    time_limit: str = ""
    match: str = "all"
    conditions: list[ConditionRow] = field(default_factory=list)
    bare: bool = False  # one comparison stored without an all/any group: keep it that way


@dataclass
class CcRow(_Row):
    at: str = "end"
    approver: ApproverRow = field(default_factory=lambda: ApproverRow(kind=ApproverKind.ROLE))


@dataclass
class EditorState(_Row):
    fields: list[FieldRow] = field(default_factory=list)
    route: list[NodeRow] = field(default_factory=list)
    cc: list[CcRow] = field(default_factory=list)
    title_field: str = ""
    amount_field: str = ""
    unsupported: str = ""  # why the editor cannot show a definition ("" = it can)

    def approvers(self) -> list[ApproverRow]:
        return [node.approver for node in self.route] + [copy.approver for copy in self.cc]

    @property
    def field_keys(self) -> set[str]:
        return {row.key for row in self.fields}

    def field_options(self) -> list[tuple[str, str]]:
        """(key, label) of the form's fields, for the condition and title/amount pickers."""
        return [(row.key, f"{row.label or row.key}（{row.key}）") for row in self.fields if row.key]

    def renumber(self) -> EditorState:
        for index, row in enumerate(self.fields):
            row.prefix = f"fields-{index}"
            for number, column in enumerate(row.columns):
                column.prefix = f"{row.prefix}-columns-{number}"
                column.is_column = True
        for index, node in enumerate(self.route):
            node.prefix = node.approver.prefix = f"route-{index}"
            for number, condition in enumerate(node.conditions):
                condition.prefix = f"{node.prefix}-cond-{number}"
        for index, copy in enumerate(self.cc):
            copy.prefix = copy.approver.prefix = f"cc-{index}"
        return self


def new_state() -> EditorState:
    """A new flow: one field and one node to start from."""
    return EditorState(
        fields=[FieldRow(key="reason", type="textarea", required=True)],
        route=[NodeRow(key="node_1")],
    ).renumber()


# ---------------------------------------------------------------- definition → rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _field_row(spec: dict[str, Any]) -> FieldRow:
    return FieldRow(
        key=str(spec.get("key", "")),
        label=str(spec.get("label", "")),
        type=str(spec.get("type", "text")),
        required=bool(spec.get("required")),
        choices="\n".join(str(choice) for choice in spec.get("choices") or []),
        help=str(spec.get("help", "")),
        columns=[_field_row(column) for column in spec.get("columns") or []],
    )


def _approver_row(spec: dict[str, Any]) -> ApproverRow:
    return ApproverRow(
        kind=str(spec.get("kind", "")),
        role=str(spec.get("role", "")),
        scope=str(spec.get("scope") or RoleScope.REQUESTER_COMPANY),
        users=list(spec.get("users") or []),
        levels=str(spec.get("levels", 1)),
    )


def _condition_rows(condition: Condition | None) -> tuple[str, list[ConditionRow], bool] | None:
    """(match, rows, bare), or None when the condition nests groups the rows cannot show."""
    if condition is None:
        return "all", [], False
    if isinstance(condition, Comparison):
        return "all", [_comparison_row(condition)], True
    match = "all" if isinstance(condition, AllOf) else "any"
    parts = condition.all if isinstance(condition, AllOf) else condition.any
    if not all(isinstance(part, Comparison) for part in parts):
        return None
    return match, [_comparison_row(part) for part in parts if isinstance(part, Comparison)], False


def _comparison_row(comparison: Comparison) -> ConditionRow:
    return ConditionRow(field=comparison.field, op=comparison.op, value=_text(comparison.value))


def state_from_definition(definition: dict[str, Any]) -> EditorState:
    """The rows of a stored (valid) definition; `unsupported` says why the editor cannot show
    it, if it cannot (then the JSON view edits it)."""
    parsed = Definition.model_validate(definition)
    state = EditorState(
        fields=[_field_row(spec) for spec in definition.get("fields") or []],
        cc=[
            CcRow(at=str(copy.get("at", "end")), approver=_approver_row(copy.get("approver", {})))
            for copy in definition.get("cc") or []
        ],
        title_field=str(definition.get("title_field", "")),
        amount_field=str(definition.get("amount_field", "")),
    )
    if any(column.columns for row in state.fields for column in row.columns):
        state.unsupported = _("A detail table inside a detail table.")
    for spec, node in zip(definition.get("route") or [], parsed.route, strict=True):
        shown = _condition_rows(node.condition)
        if shown is None:
            state.unsupported = _("Node “%(name)s” has a condition with groups inside groups.") % {
                "name": node.name
            }
            shown = ("all", [], False)
        match, conditions, bare = shown
        limit = spec.get("time_limit_hours")
        state.route.append(
            NodeRow(
                key=node.key,
                name=node.name,
                approver=_approver_row(spec.get("approver", {})),
                mode=str(node.mode),
                time_limit="" if limit is None else str(limit),
                match=match,
                conditions=conditions,
                bare=bare,
            )
        )
    return state.renumber()


# ---------------------------------------------------------------- posted rows → rows


def _indexes(data: PostData, prefix: str, marker: str) -> list[int]:
    """The row numbers posted under `prefix` ("route-" → 0, 1, …), in order."""
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)-{re.escape(marker)}$")
    found = {int(match.group(1)) for name in data if (match := pattern.match(str(name)))}
    return sorted(found)[:MAX_ROWS]


def _get(data: PostData, name: str) -> str:
    return str(data.get(name) or "").strip()


def _posted_field(data: PostData, prefix: str, *, is_column: bool = False) -> FieldRow:
    row = FieldRow(
        key=_get(data, f"{prefix}-key"),
        label=_get(data, f"{prefix}-label"),
        type=_get(data, f"{prefix}-type") or "text",
        required=bool(data.get(f"{prefix}-required")),
        choices="\n".join(
            line.strip() for line in str(data.get(f"{prefix}-choices") or "").splitlines()
        ).strip(),
        help=_get(data, f"{prefix}-help"),
        is_column=is_column,
    )
    if not is_column:
        row.columns = [
            _posted_field(data, f"{prefix}-columns-{number}", is_column=True)
            for number in _indexes(data, f"{prefix}-columns-", "key")
        ]
    return row


def _posted_approver(data: PostData, prefix: str) -> ApproverRow:
    users = [str(value).strip() for value in data.getlist(f"{prefix}-users")]
    return ApproverRow(
        kind=_get(data, f"{prefix}-kind"),
        role=_get(data, f"{prefix}-role"),
        scope=_get(data, f"{prefix}-scope") or RoleScope.REQUESTER_COMPANY,
        users=list(dict.fromkeys(int(user) if user.isdigit() else user for user in users if user)),
        levels=_get(data, f"{prefix}-levels") or "1",
        search=_get(data, f"{prefix}-search"),
    )


def _posted_node(data: PostData, prefix: str) -> NodeRow:
    return NodeRow(
        key=_get(data, f"{prefix}-key"),
        name=_get(data, f"{prefix}-name"),
        approver=_posted_approver(data, prefix),
        mode=_get(data, f"{prefix}-mode") or NodeMode.ANY,
        time_limit=_get(data, f"{prefix}-time_limit"),
        match="any" if _get(data, f"{prefix}-match") == "any" else "all",
        conditions=[
            ConditionRow(
                field=_get(data, f"{prefix}-cond-{number}-field"),
                op=_get(data, f"{prefix}-cond-{number}-op") or "eq",
                value=_get(data, f"{prefix}-cond-{number}-value"),
            )
            for number in _indexes(data, f"{prefix}-cond-", "field")
        ],
        bare=bool(data.get(f"{prefix}-bare")),
    )


def _fill_keys(rows: list[Any], stem: str) -> None:
    """A row left without a key gets the first free "<stem>_<n>"."""
    taken = {row.key for row in rows if row.key}
    number = 1
    for row in rows:
        if row.key:
            continue
        while f"{stem}_{number}" in taken:
            number += 1
        row.key = f"{stem}_{number}"
        taken.add(row.key)


def state_from_post(data: PostData) -> EditorState:
    state = EditorState(
        fields=[_posted_field(data, f"fields-{i}") for i in _indexes(data, "fields-", "key")],
        route=[_posted_node(data, f"route-{i}") for i in _indexes(data, "route-", "key")],
        cc=[
            CcRow(at=_get(data, f"cc-{i}-at") or "end", approver=_posted_approver(data, f"cc-{i}"))
            for i in _indexes(data, "cc-", "at")
        ],
        title_field=_get(data, "title_field"),
        amount_field=_get(data, "amount_field"),
    )
    _fill_keys(state.fields, "field")
    for row in state.fields:
        _fill_keys(row.columns, "column")
    _fill_keys(state.route, "node")
    return state.renumber()


# ---------------------------------------------------------------- rows → definition


def _number_or_text(text: str) -> Any:
    """A whole number as a number; anything else as typed, for the check to name."""
    return int(text) if text.isdigit() else text


def _field_spec(row: FieldRow) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "key": row.key,
        "label": row.label,
        "type": row.type,
        "required": row.required,
    }
    if row.type == "choice":
        spec["choices"] = [line for line in row.choices.splitlines() if line.strip()]
    if row.help:
        spec["help"] = row.help
    if row.type == "rows":
        spec["columns"] = [_field_spec(column) for column in row.columns]
    return spec


def _approver_spec(row: ApproverRow) -> dict[str, Any]:
    spec: dict[str, Any] = {"kind": row.kind}
    if row.kind == ApproverKind.ROLE:
        spec.update(role=row.role, scope=row.scope)
    elif row.kind == ApproverKind.USERS:
        spec["users"] = list(row.users)
    elif row.kind == ApproverKind.LEVELS_UP:
        spec["levels"] = _number_or_text(row.levels)
    return spec


def _comparison_spec(row: ConditionRow) -> dict[str, Any]:
    value: Any
    if row.op in VALUELESS_OPERATORS:
        value = None
    elif row.op in LIST_OPERATORS:
        value = [part.strip() for part in LIST_SEPARATORS.split(row.value) if part.strip()]
    else:
        value = row.value or None
    return {"field": row.field, "op": row.op, "value": value}


def _condition_spec(node: NodeRow) -> dict[str, Any] | None:
    if not node.conditions:
        return None
    parts = [_comparison_spec(row) for row in node.conditions]
    if node.bare and len(parts) == 1 and node.match == "all":
        return parts[0]
    return {node.match: parts}


def definition_from_state(state: EditorState) -> dict[str, Any]:
    """The definition the rows describe, unchecked: the service checks it."""
    return {
        "fields": [_field_spec(row) for row in state.fields],
        "route": [
            {
                "key": node.key,
                "name": node.name,
                "approver": _approver_spec(node.approver),
                "mode": node.mode,
                "condition": _condition_spec(node),
                "time_limit_hours": _number_or_text(node.time_limit) if node.time_limit else None,
            }
            for node in state.route
        ],
        "cc": [{"at": copy.at, "approver": _approver_spec(copy.approver)} for copy in state.cc],
        "title_field": state.title_field,
        "amount_field": state.amount_field,
    }


# ---------------------------------------------------------------- the buttons


def _rows_at(state: EditorState, path: str) -> tuple[list[Any], int | None] | None:
    """The list a button's path points into and the row's index there ("route-1-cond-0" →
    (state.route[1].conditions, 0); "route-1-cond" → (…, None))."""
    parts = path.split("-")
    lists: dict[str, list[Any]] = {"fields": state.fields, "route": state.route, "cc": state.cc}
    if parts[0] not in lists:
        return None
    rows = lists[parts[0]]
    parts = parts[1:]
    while parts:
        if not parts[0].isdigit():
            return None
        index = int(parts[0])
        if len(parts) == 1:
            return (rows, index) if index < len(rows) else None
        if index >= len(rows):
            return None
        owner, child = rows[index], parts[1]
        if child == "columns" and isinstance(owner, FieldRow) and not owner.is_column:
            rows = owner.columns
        elif child == "cond" and isinstance(owner, NodeRow):
            rows = owner.conditions
        else:
            return None
        parts = parts[2:]
    return rows, None


def _blank_like(path: str) -> Any:
    if path == "fields":
        return FieldRow()
    if path.endswith("-columns"):
        return FieldRow(is_column=True)
    if path == "route":
        return NodeRow()
    if path.endswith("-cond"):
        return ConditionRow()
    return CcRow()


def apply_action(state: EditorState, action: str) -> EditorState:
    """add:<list>, remove:<row>, up:<row>, down:<row>; anything else (find:…) changes nothing."""
    verb, _colon, path = action.partition(":")
    found = _rows_at(state, path)
    if found is None:
        return state.renumber()
    rows, index = found
    if verb == "add" and index is None and len(rows) < MAX_ROWS:
        rows.append(_blank_like(path))
        if path == "route":
            _fill_keys(state.route, "node")
    elif verb == "remove" and index is not None:
        rows.pop(index)
    elif verb == "up" and index:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and index is not None and index + 1 < len(rows):
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
    return state.renumber()


# ---------------------------------------------------------------- problems on the rows


def _target(state: EditorState, parts: list[str]) -> tuple[_Row, str]:
    """The row a problem's location points at, and the setting there ("" = the row)."""
    if parts[0] in ("fields", "route", "cc") and len(parts) > 1 and parts[1].isdigit():
        rows: list[Any] = getattr(state, parts[0])
        index = int(parts[1])
        if index >= len(rows):
            return state, parts[0]
        row: _Row = rows[index]
        rest = parts[2:]
        if (
            isinstance(row, FieldRow)
            and rest[:1] == ["columns"]
            and len(rest) > 1
            and rest[1].isdigit()
            and int(rest[1]) < len(row.columns)
        ):
            row, rest = row.columns[int(rest[1])], rest[2:]
        if isinstance(row, NodeRow) and rest[:1] == ["condition"]:
            numbers = [part for part in rest[1:] if part.isdigit()]
            if len(numbers) == 1 and int(numbers[0]) < len(row.conditions):
                return row.conditions[int(numbers[0])], rest[-1]
            return row, "condition"
        while rest and rest[-1].isdigit():  # "users.0": the setting is the list
            rest = rest[:-1]
        if isinstance(row, (NodeRow, CcRow)) and rest[:1] == ["approver"]:
            return row.approver, rest[1] if len(rest) > 1 else "kind"
        return row, rest[-1] if rest else ""
    return state, parts[-1]


def attach_problems(state: EditorState, problems: Mapping[str, list[str]]) -> list[str]:
    """Put a service's problems (by location) on the rows they concern; returns them all in
    words for the summary ("route node 2, condition 1: value must be a number")."""
    texts: list[str] = []
    for location, messages in problems.items():
        row, setting = _target(state, location.split("."))
        for message in messages:
            text = problem_text(location, message)
            texts.append(text)
            row.problems.append(text)
        if setting:
            row.invalid.add(setting)
    return texts


# ---------------------------------------------------------------- conditions in words


def condition_text(definition: Definition, condition: Condition | None) -> str:
    """ "金额 is more than 1000000 and 类型 is one of 差旅, 招待" for the route preview."""
    if condition is None:
        return ""
    if isinstance(condition, Comparison):
        spec = definition.field(condition.field)
        operator = dict(OPERATOR_CHOICES).get(condition.op, condition.op)
        label = spec.label if spec is not None else condition.field
        if condition.op in VALUELESS_OPERATORS:
            return f"{label} {operator}"
        return f"{label} {operator} {_text(condition.value)}"
    joiner = _(" and ") if isinstance(condition, AllOf) else _(" or ")
    parts = condition.all if isinstance(condition, AllOf) else condition.any
    texts = [
        f"({text})" if isinstance(part, (AllOf, AnyOf)) else text
        for part in parts
        if (text := condition_text(definition, part))
    ]
    return joiner.join(texts)
