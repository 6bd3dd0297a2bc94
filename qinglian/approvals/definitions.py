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
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

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
FIELD_TYPES: tuple[str, ...] = FieldType.__args__  # type: ignore[attr-defined]
OPERATORS: tuple[str, ...] = Operator.__args__  # type: ignore[attr-defined]
ORDERING_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
LIST_OPERATORS = frozenset({"in", "not_in"})
VALUELESS_OPERATORS = frozenset({"empty", "not_empty"})
NUMBER_TYPES = frozenset({"number", "money"})
REFERENCE_TYPES = frozenset({"person", "department", "project", "attachment"})


def _problem(kind: str, message: str, **context: Any) -> PydanticCustomError:
    """A validation problem whose `context["field"]` names the setting at fault (below the
    model's own location) and `context["location"]` an absolute one, for the editors."""
    return PydanticCustomError(kind, message, context)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique_keys(keys: list[str], where: str, message: str) -> None:
    """Refuse the first row whose key an earlier row already has."""
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise _problem("duplicate_key", message, location=f"{where}.{index}.key")
        seen.add(key)


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
            raise _problem("choices_missing", "a choice field needs choices", field="choices")
        if self.type == "rows" and not self.columns:
            raise _problem("columns_missing", "a detail table needs columns", field="columns")
        if self.type != "rows" and self.columns:
            raise _problem("columns_unexpected", "only a detail table has columns", field="columns")
        return self


class Comparison(_Strict):
    field: str = Field(pattern=KEY_PATTERN)
    op: Operator
    value: Any = None


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)


def _condition_kind(value: Any) -> str | None:
    """Which shape a condition has, so a wrong one is reported against that shape only."""
    if isinstance(value, Comparison):
        return "comparison"
    if isinstance(value, AllOf):
        return "all_of"
    if isinstance(value, AnyOf):
        return "any_of"
    if isinstance(value, dict):
        if "all" in value:
            return "all_of"
        if "any" in value:
            return "any_of"
        return "comparison"
    return None


CONDITION_TAGS = frozenset({"comparison", "all_of", "any_of"})  # in error locations only
Condition = Annotated[
    Annotated[Comparison, Tag("comparison")]
    | Annotated[AllOf, Tag("all_of")]
    | Annotated[AnyOf, Tag("any_of")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition_shape",
        custom_error_message="a condition is {field, op, value}, {all: [...]} or {any: [...]}",
    ),
]


class Approver(_Strict):
    kind: ApproverKind
    role: str = ""
    scope: RoleScope = RoleScope.REQUESTER_COMPANY
    users: list[int] = []
    levels: int = Field(default=1, ge=1, le=5)

    @model_validator(mode="after")
    def _shape(self) -> Approver:
        if self.kind == ApproverKind.ROLE and not self.role:
            raise _problem("role_missing", "a role approver names the role", field="role")
        if self.kind == ApproverKind.USERS and not self.users:
            raise _problem(
                "users_missing", "a named-people approver names at least one person", field="users"
            )
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
        _unique_keys([field.key for field in fields], "fields", "field keys must be unique")
        return fields

    @field_validator("route")
    @classmethod
    def _unique_nodes(cls, route: list[Node]) -> list[Node]:
        _unique_keys([node.key for node in route], "route", "node keys must be unique")
        return route

    @model_validator(mode="after")
    def _references(self) -> Definition:
        known = {field.key for field in self.fields}
        for index, node in enumerate(self.route):
            for path, comparison in comparisons(node.condition, f"route.{index}.condition"):
                if comparison.field not in known:
                    raise _problem(
                        "unknown_field",
                        "node {node}: condition reads unknown field {name}",
                        node=node.key,
                        name=comparison.field,
                        location=f"{path}.field",
                    )
        for setting in ("title_field", "amount_field"):
            name = getattr(self, setting)
            if name and name not in known:
                raise _problem("unknown_field", "unknown field {name}", name=name, location=setting)
        return self

    def field(self, key: str) -> FormField | None:
        return next((field for field in self.fields if field.key == key), None)


AllOf.model_rebuild()
AnyOf.model_rebuild()
Node.model_rebuild()
Definition.model_rebuild()


def condition_fields(condition: Condition | None) -> list[str]:
    return [comparison.field for _path, comparison in comparisons(condition, "")]


def comparisons(condition: Condition | None, path: str) -> list[tuple[str, Comparison]]:
    """Every comparison of a condition with its location ("route.1.condition.all.0")."""
    if condition is None:
        return []
    if isinstance(condition, Comparison):
        return [(path, condition)]
    word, parts = ("all", condition.all) if isinstance(condition, AllOf) else ("any", condition.any)
    return [
        found
        for index, part in enumerate(parts)
        for found in comparisons(part, f"{path}.{word}.{index}")
    ]


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


# ---------------------------------------------------------------- checking a definition on save


def _value_problem(field: FormField, value: Any) -> str | None:
    """What is wrong with one value a condition compares `field` with (None: nothing)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return _("is required")
    if isinstance(value, (dict, list)):
        return _("must be a single value")
    if field.type in NUMBER_TYPES:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return _("must be a number")
        return None if number.is_finite() and not isinstance(value, bool) else _("must be a number")
    if field.type == "date":
        try:
            datetime.date.fromisoformat(str(value).strip())
        except ValueError:
            return _("must be a date (YYYY-MM-DD)")
        return None
    if field.type == "choice" and str(value) not in field.choices:
        return _("must be one of the field's choices")
    if field.type in REFERENCE_TYPES and (
        isinstance(value, bool) or not str(value).strip().isdigit()
    ):
        return _("must be an id (a whole number)")
    return None


def comparison_problems(field: FormField, comparison: Comparison) -> list[tuple[str, str]]:
    """(setting, problem) for a comparison of `field` that could never work as meant: an order
    on text, a number field against "abc", a choice that is not offered."""
    op, value = comparison.op, comparison.value
    if field.type == "rows" and op not in VALUELESS_OPERATORS:
        return [("op", _("can only be “is empty” or “is filled in” for a detail table"))]
    if op in VALUELESS_OPERATORS:
        return [] if value in (None, "", []) else [("value", _("must be left empty"))]
    if op in ORDERING_OPERATORS and field.type not in {*NUMBER_TYPES, "date"}:
        return [("op", _("only compares numbers, amounts and dates by size"))]
    if op in LIST_OPERATORS:
        if not isinstance(value, list) or not value:
            return [("value", _("must list at least one value"))]
        values = value
    else:
        values = [value]
    for item in values:
        problem = _value_problem(field, item)
        if problem:
            return [("value", problem)]
    return []


def _field_problems(field: FormField, location: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if any(not choice.strip() for choice in field.choices):
        found.append((f"{location}.choices", _("must not be blank")))
    if len(set(field.choices)) != len(field.choices):
        found.append((f"{location}.choices", _("must not repeat")))
    keys = [column.key for column in field.columns]
    if len(keys) != len(set(keys)):
        found.append((f"{location}.columns", _("must have distinct keys")))
    for index, column in enumerate(field.columns):
        found.extend(_field_problems(column, f"{location}.columns.{index}"))
    return found


def definition_problems(definition: Definition) -> dict[str, list[str]]:
    """What a parsed definition gets wrong beyond its shape, by location ("route.1.condition.
    all.0.value"). Checked when a definition is saved, not when a stored one is read, so a
    version saved under older rules still opens."""
    problems: dict[str, list[str]] = {}
    found: list[tuple[str, str]] = []
    for index, field in enumerate(definition.fields):
        found.extend(_field_problems(field, f"fields.{index}"))
    amount = definition.field(definition.amount_field) if definition.amount_field else None
    if amount is not None and amount.type not in NUMBER_TYPES:
        found.append(("amount_field", _("must name a number or amount field")))
    for index, node in enumerate(definition.route):
        for path, comparison in comparisons(node.condition, f"route.{index}.condition"):
            compared = definition.field(comparison.field)
            if compared is not None:  # an unknown field was refused when parsing
                found.extend(
                    (f"{path}.{setting}", problem)
                    for setting, problem in comparison_problems(compared, comparison)
                )
    for location, problem in found:
        problems.setdefault(location, []).append(problem)
    return problems


# ---------------------------------------------------------------- reporting problems


def _message(kind: str, context: dict[str, Any], fallback: str) -> str:
    """A validation error in the user's language, phrased to follow the setting's name."""
    limit = context.get("max_length") or context.get("ge") or context.get("le")
    messages: dict[str, str] = {
        "missing": _("is required"),
        "string_too_short": _("is required"),
        "too_short": _("needs at least one entry"),
        "string_too_long": _("is too long (at most %(limit)s characters)") % {"limit": limit},
        "string_pattern_mismatch": _(
            "must start with a lowercase letter and use only a–z, 0–9 and _ (at most 40)"
        ),
        "literal_error": _("is not one of the allowed values"),
        "enum": _("is not one of the allowed values"),
        "int_parsing": _("must be a whole number"),
        "int_type": _("must be a whole number"),
        "int_from_float": _("must be a whole number"),
        "greater_than_equal": _("must be at least %(limit)s") % {"limit": limit},
        "less_than_equal": _("must be at most %(limit)s") % {"limit": limit},
        "extra_forbidden": _("is not a known setting"),
        "bool_parsing": _("must be yes or no"),
        "bool_type": _("must be yes or no"),
        "list_type": _("must be a list"),
        "string_type": _("must be text"),
        "model_type": _("must be an object"),
        "model_attributes_type": _("must be an object"),
        "dict_type": _("must be an object"),
        "choices_missing": _("must list at least one choice"),
        "columns_missing": _("must list at least one column"),
        "columns_unexpected": _("are only for a detail table"),
        "role_missing": _("is required for a role approver"),
        "users_missing": _("must name at least one person"),
        "unknown_field": _("“%(name)s” is not a field of this form")
        % {"name": context.get("name", "")},
        "condition_shape": _("must be a comparison or an all / any group"),
        "duplicate_key": _("is already used by an earlier row"),
    }
    return messages.get(kind, fallback)


def validation_problems(error: PydanticValidationError) -> dict[str, list[str]]:
    """Pydantic's errors by location ("route.1.approver.role"), in the user's language; the
    location leaves out the condition shapes' tags and, where a check names one, points at the
    setting at fault."""
    problems: dict[str, list[str]] = {}
    for item in error.errors():
        context = dict(item.get("ctx") or {})
        parts = [str(part) for part in item["loc"] if part not in CONDITION_TAGS]
        if context.get("field"):
            parts.append(str(context["field"]))
        location = str(context.get("location") or ".".join(parts) or "definition")
        problems.setdefault(location, []).append(_message(item["type"], context, item["msg"]))
    return problems


def _setting_label(name: str) -> str:
    labels = {
        "key": _("key"),
        "label": _("label"),
        "type": _("type"),
        "required": _("required"),
        "choices": _("choices"),
        "help": _("help text"),
        "columns": _("columns"),
        "name": _("name"),
        "approver": _("approver"),
        "kind": _("approver"),
        "role": _("role"),
        "scope": _("role scope"),
        "users": _("people"),
        "levels": _("levels"),
        "mode": _("mode"),
        "condition": _("condition"),
        "time_limit_hours": _("time limit"),
        "field": _("field"),
        "op": _("operator"),
        "value": _("value"),
        "at": _("when"),
        "title_field": _("title field"),
        "amount_field": _("amount field"),
        "fields": _("form fields"),
        "route": _("route"),
        "cc": _("cc"),
    }
    return labels.get(name, name)


def describe_location(location: str) -> tuple[str, str]:
    """(place, setting) in words: "route.1.condition.all.0.value" → ("route node 2,
    condition 1", "value"); "fields.0.columns.2.key" → ("form field 1, column 3", "key")."""
    parts = location.split(".")
    places: list[str] = []

    def number(index: int) -> int | None:
        return int(parts[index]) + 1 if index < len(parts) and parts[index].isdigit() else None

    rest: list[str] = parts
    if parts[0] in ("fields", "route", "cc") and number(1) is not None:
        row = number(1)
        places.append(
            {
                "fields": _("form field %(number)d"),
                "route": _("route node %(number)d"),
                "cc": _("cc %(number)d"),
            }[parts[0]]
            % {"number": row}
        )
        rest = parts[2:]
        if parts[0] == "fields" and rest[:1] == ["columns"] and len(rest) > 1 and rest[1].isdigit():
            places.append(_("column %(number)d") % {"number": int(rest[1]) + 1})
            rest = rest[2:]
        if rest[:1] == ["condition"]:
            numbers = [str(int(part) + 1) for part in rest[1:] if part.isdigit()]
            tail = [part for part in rest[1:] if not part.isdigit() and part not in ("all", "any")]
            if numbers:
                places.append(_("condition %(number)s") % {"number": ".".join(numbers)})
                rest = tail
        if rest[:1] == ["approver"] and len(rest) > 1:
            rest = rest[1:]
    while rest and rest[-1].isdigit():  # "users.0": the setting is the list
        rest = rest[:-1]
    setting = _setting_label(rest[-1]) if rest else ""
    return ", ".join(places), setting


def problem_text(location: str, problem: str) -> str:
    """One problem in words: "route node 2, condition 1: value must be a number"."""
    place, setting = describe_location(location)
    if location == "definition":
        return problem
    if place and setting:
        return _("%(place)s: %(setting)s %(problem)s") % {
            "place": place,
            "setting": setting,
            "problem": problem,
        }
    if place:
        return _("%(place)s: %(problem)s") % {"place": place, "problem": problem}
    return _("%(setting)s %(problem)s") % {"setting": setting or location, "problem": problem}
