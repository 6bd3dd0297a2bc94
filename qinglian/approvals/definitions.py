"""Template definitions: the form's fields, the route's nodes and their structured conditions.

Pure (no ORM): pydantic models validate what administrators save, and plain functions check a
form's data and decide a node's condition. Conditions are data — field, operator, value —
never evaluated strings.
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .enums import ApproverKind, NodeMode, RoleScope

FieldType = Literal[
    "text",
    "textarea",
    "number",
    "money",
    "date",
    "choice",
    "person",
    "department",
    "project",
    "attachment",
    "rows",
]
Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "empty", "not_empty"]
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FormField(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    label: str = Field(min_length=1, max_length=60)
    type: FieldType
    required: bool = False
    choices: list[str] = []
    help: str = ""
    columns: list[FormField] = []  # for "rows": the detail table's columns

    @model_validator(mode="after")
    def _shape(self) -> FormField:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"field {self.key}: a choice field needs choices")
        if self.type == "rows" and not self.columns:
            raise ValueError(f"field {self.key}: a detail table needs columns")
        if self.type != "rows" and self.columns:
            raise ValueError(f"field {self.key}: only a detail table has columns")
        return self


class Comparison(_Strict):
    field: str = Field(pattern=KEY_PATTERN)
    op: Operator
    value: Any = None


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)


Condition = Annotated[Comparison | AllOf | AnyOf, Field(union_mode="left_to_right")]


class Approver(_Strict):
    kind: ApproverKind
    role: str = ""
    scope: RoleScope = RoleScope.REQUESTER_COMPANY
    users: list[int] = []
    levels: int = Field(default=1, ge=1, le=5)

    @model_validator(mode="after")
    def _shape(self) -> Approver:
        if self.kind == ApproverKind.ROLE and not self.role:
            raise ValueError("a role approver names the role")
        if self.kind == ApproverKind.USERS and not self.users:
            raise ValueError("a named-people approver names at least one person")
        return self


class Node(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=60)
    approver: Approver
    mode: NodeMode = NodeMode.ANY
    condition: Condition | None = None
    time_limit_hours: int | None = Field(default=None, ge=1, le=24 * 30)


class CarbonCopy(_Strict):
    at: Literal["start", "end"]
    approver: Approver


class Definition(_Strict):
    """One template version: what is asked and who must agree."""

    fields: list[FormField] = Field(min_length=1)
    route: list[Node] = Field(min_length=1)
    cc: list[CarbonCopy] = []
    title_field: str = ""  # the field whose value titles the request ("" = template name)
    amount_field: str = ""  # the field supervision reads as the amount

    @field_validator("fields")
    @classmethod
    def _unique_fields(cls, fields: list[FormField]) -> list[FormField]:
        keys = [field.key for field in fields]
        if len(keys) != len(set(keys)):
            raise ValueError("field keys must be unique")
        return fields

    @field_validator("route")
    @classmethod
    def _unique_nodes(cls, route: list[Node]) -> list[Node]:
        keys = [node.key for node in route]
        if len(keys) != len(set(keys)):
            raise ValueError("node keys must be unique")
        return route

    @model_validator(mode="after")
    def _references(self) -> Definition:
        known = {field.key for field in self.fields}
        for node in self.route:
            for name in condition_fields(node.condition):
                if name not in known:
                    raise ValueError(f"node {node.key}: condition reads unknown field {name}")
        for name in (self.title_field, self.amount_field):
            if name and name not in known:
                raise ValueError(f"unknown field {name}")
        return self

    def field(self, key: str) -> FormField | None:
        return next((field for field in self.fields if field.key == key), None)


AllOf.model_rebuild()
AnyOf.model_rebuild()
Node.model_rebuild()
Definition.model_rebuild()


def condition_fields(condition: Condition | None) -> list[str]:
    if condition is None:
        return []
    if isinstance(condition, Comparison):
        return [condition.field]
    parts = condition.all if isinstance(condition, AllOf) else condition.any
    return [name for part in parts for name in condition_fields(part)]


# ---------------------------------------------------------------- evaluating conditions


def _comparable(value: Any) -> Any:
    """Numbers compare as decimals, dates as dates, everything else as text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            pass
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _compare(comparison: Comparison, data: dict[str, Any]) -> bool:
    actual = data.get(comparison.field)
    if comparison.op == "empty":
        return actual in (None, "", [])
    if comparison.op == "not_empty":
        return actual not in (None, "", [])
    if comparison.op in ("in", "not_in"):
        options = {str(_comparable(item)) for item in (comparison.value or [])}
        found = str(_comparable(actual)) in options
        return found if comparison.op == "in" else not found
    left, right = _comparable(actual), _comparable(comparison.value)
    if comparison.op == "eq":
        return str(left) == str(right)
    if comparison.op == "ne":
        return str(left) != str(right)
    if left is None or right is None or type(left) is not type(right):
        return False  # an ordering needs two values of one kind; a blank never passes
    if comparison.op == "gt":
        return bool(left > right)
    if comparison.op == "gte":
        return bool(left >= right)
    if comparison.op == "lt":
        return bool(left < right)
    return bool(left <= right)


def condition_holds(condition: Condition | None, data: dict[str, Any]) -> bool:
    if condition is None:
        return True
    if isinstance(condition, Comparison):
        return _compare(condition, data)
    if isinstance(condition, AllOf):
        return all(condition_holds(part, data) for part in condition.all)
    return any(condition_holds(part, data) for part in condition.any)


# ---------------------------------------------------------------- checking a form's data


def _clean_value(field: FormField, raw: Any) -> tuple[Any, str | None]:
    """(clean value, problem) for one field."""
    if raw in (None, "", []):
        return None, (_("This field is required.") if field.required else None)
    if field.type in ("text", "textarea"):
        text = str(raw).strip()
        limit = 200 if field.type == "text" else 5000
        return text, (
            _("At most %(limit)d characters.") % {"limit": limit} if len(text) > limit else None
        )
    if field.type in ("number", "money"):
        try:
            number = Decimal(str(raw).replace(",", "").strip())
        except InvalidOperation:
            return None, _("Not a number.")
        if not number.is_finite():
            return None, _("Not a number.")
        if field.type == "money":
            if number < 0:
                return None, _("Must not be negative.")
            if number != number.quantize(Decimal("0.01")):
                return None, _("At most two decimal places.")
            return str(number.quantize(Decimal("0.01"))), None
        return str(number), None
    if field.type == "date":
        try:
            return datetime.date.fromisoformat(str(raw)).isoformat(), None
        except ValueError:
            return None, _("Not a date (YYYY-MM-DD).")
    if field.type == "choice":
        return str(raw), (None if str(raw) in field.choices else _("Not one of the choices."))
    if field.type in ("person", "department", "project", "attachment"):
        try:
            return int(raw), None
        except (TypeError, ValueError):
            return None, _("Not a valid choice.")
    # rows
    if not isinstance(raw, list):
        return None, _("Expected a list of rows.")
    return raw, None


def clean_form_data(
    definition: Definition, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The cleaned data and the problems by field ("items.2.amount" for a detail row)."""
    cleaned: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    unknown = set(data) - {field.key for field in definition.fields}
    for name in sorted(unknown):
        problems[name] = [_("Not a field of this form.")]
    for field in definition.fields:
        value, problem = _clean_value(field, data.get(field.key))
        if problem:
            problems[field.key] = [problem]
            continue
        if field.type == "rows" and value is not None:
            rows = []
            for index, row in enumerate(value, start=1):
                row_clean, row_problems = clean_form_data(
                    Definition.model_construct(fields=field.columns, route=[], cc=[]),
                    row if isinstance(row, dict) else {},
                )
                rows.append(row_clean)
                for key, messages in row_problems.items():
                    problems[f"{field.key}.{index}.{key}"] = messages
            value = rows
        cleaned[field.key] = value
    return cleaned, problems
