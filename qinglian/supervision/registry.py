"""The rule registry. Pure: no ORM.

A rule is one module under `rules/` that calls `register(Rule(...))`. It names what it watches,
its typed parameters (defaults and bounds that inspectors edit in the UI) and a `detect`
function: plain Python over the other apps' read-only selectors that returns `Hit`s. Nothing is
evaluated from strings; the parameters are values, checked here against their declared bounds.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from django.utils.functional import Promise
from django.utils.translation import gettext as _

from .enums import Area, ParameterKind, Severity

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
PARAMETER_CODE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,60}$")
MODEL_LABEL_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


class ParameterError(ValueError):
    """A parameter value outside its kind or bounds; `problems` maps the key to messages."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{key}: {' '.join(m)}" for key, m in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class Parameter:
    key: str
    label: str | Promise
    kind: ParameterKind
    default: Any
    minimum: Decimal | int | None = None
    maximum: Decimal | int | None = None
    help: str | Promise = ""
    unit: str | Promise = ""

    def clean(self, raw: Any) -> Any:
        """The stored (JSON) form of `raw`: int, decimal string, bool or a list of codes."""
        if self.kind == ParameterKind.BOOLEAN:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "on", "yes"):
                return True
            if text in ("0", "false", "off", "no", ""):
                return False
            raise ValueError(_("Expected yes or no."))
        if self.kind == ParameterKind.CODES:
            items = raw if isinstance(raw, (list, tuple)) else str(raw or "").split(",")
            codes = [str(item).strip() for item in items if str(item).strip()]
            for code in codes:
                if not PARAMETER_CODE_PATTERN.match(code):
                    raise ValueError(_("Not a valid code: %(code)s") % {"code": code})
            return list(dict.fromkeys(codes))
        if isinstance(raw, bool):
            raise ValueError(_("Not a number."))
        try:
            number = Decimal(str(raw).replace(",", "").strip())
        except InvalidOperation:
            raise ValueError(_("Not a number.")) from None
        if not number.is_finite():
            raise ValueError(_("Not a number."))
        if self.kind == ParameterKind.INTEGER and number != number.to_integral_value():
            raise ValueError(_("Expected a whole number."))
        if self.minimum is not None and number < Decimal(str(self.minimum)):
            raise ValueError(_("At least %(minimum)s.") % {"minimum": self.minimum})
        if self.maximum is not None and number > Decimal(str(self.maximum)):
            raise ValueError(_("At most %(maximum)s.") % {"maximum": self.maximum})
        if self.kind == ParameterKind.INTEGER:
            return int(number)
        return format(number.normalize(), "f")

    def value(self, stored: Any) -> Any:
        """The Python value a rule reads: int, Decimal, bool or list[str]."""
        if self.kind == ParameterKind.DECIMAL:
            return Decimal(str(stored))
        if self.kind == ParameterKind.INTEGER:
            return int(stored)
        if self.kind == ParameterKind.BOOLEAN:
            return bool(stored)
        return list(stored)

    def display(self, stored: Any) -> str:
        if self.kind == ParameterKind.BOOLEAN:
            return str(_("yes") if stored else _("no"))
        if self.kind == ParameterKind.CODES:
            return ", ".join(stored) if stored else str(_("(all)"))
        return f"{stored}{self.unit}"


@dataclass(frozen=True)
class DocumentLink:
    """A document a finding is about: an approval request now, trading documents later."""

    type: str  # "approvals.request", "org.user", "org.company" …
    id: str
    label: str
    number: str = ""  # the document's own number (a request's serial)
    source_id: str = ""  # the identifier in an old system, for imported history

    def as_json(self) -> dict[str, str]:
        data = {"type": self.type, "id": self.id, "label": self.label}
        if self.number:
            data["number"] = self.number
        if self.source_id:
            data["source_id"] = self.source_id
        return data


@dataclass
class Hit:
    """One rule hit: what it is about, where, the figures, the documents and the people."""

    subject_type: str
    subject_id: str
    subject_label: str
    company_id: int
    figures: dict[str, Any]
    documents: list[DocumentLink] = field(default_factory=list)
    people: list[int] = field(default_factory=list)
    department_id: int | None = None
    occurred_at: datetime.datetime | None = None
    severity: Severity | None = None  # None: the rule's severity
    key: str = ""  # narrows the subject further (a period, a threshold)


@dataclass(frozen=True)
class RuleContext:
    parameters: dict[str, Any]  # as `Parameter.value` returns them
    now: datetime.datetime


Detector = Callable[[RuleContext], Iterable[Hit]]
# (context, document type, document id) -> hits about that one document, for a cheap check at
# the moment it is submitted.
DocumentCheck = Callable[[RuleContext, str, str], Iterable[Hit]]
Summarizer = Callable[[Mapping[str, Any]], str]
# How a rule's result depends on the moment it runs (`RuleContext.now`): not at all; on the
# local date only (windows and ages counted in days, the year); or on the exact moment
# (windows measured back from now to the second).
AsOf = Literal["none", "day", "moment"]


@dataclass(frozen=True)
class Rule:
    code: str
    number: int  # the number in the supervision catalogue (issue 6's list)
    title: str | Promise
    explanation: str | Promise  # "%(key)s" placeholders take the parameters' displayed values
    area: Area
    severity: Severity
    parameters: tuple[Parameter, ...]
    detect: Detector
    summarize: Summarizer  # one line from a hit's figures, in the reader's language
    check_document: DocumentCheck | None = None
    # What `detect` reads, for incremental runs: the tables as model labels ("trading.payment").
    # A run skips the rule while none of them changed (new rows, or audit events about them),
    # nor its parameters, its code or, per `as_of`, the day. None: not declared, always run.
    reads: tuple[str, ...] | None = None
    as_of: AsOf = "moment"

    def parameter(self, key: str) -> Parameter:
        return next(parameter for parameter in self.parameters if parameter.key == key)

    def defaults(self) -> dict[str, Any]:
        return {parameter.key: parameter.clean(parameter.default) for parameter in self.parameters}

    def clean_parameters(self, raw: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
        """Stored values for every parameter; unknown keys and bad values are refused together.
        With `partial`, missing keys keep their defaults."""
        problems: dict[str, list[str]] = {}
        for key in sorted(set(raw) - {parameter.key for parameter in self.parameters}):
            problems[key] = [_("Not a parameter of this rule.")]
        cleaned: dict[str, Any] = {}
        for parameter in self.parameters:
            if parameter.key not in raw:
                if partial:
                    cleaned[parameter.key] = parameter.clean(parameter.default)
                    continue
                problems[parameter.key] = [_("This field is required.")]
                continue
            try:
                cleaned[parameter.key] = parameter.clean(raw[parameter.key])
            except ValueError as error:
                problems[parameter.key] = [str(error)]
        if problems:
            raise ParameterError(problems)
        return cleaned

    def values(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Python values for `detect`, falling back to defaults for parameters added later."""
        merged = {
            **self.defaults(),
            **{k: v for k, v in stored.items() if k in self.parameter_keys()},
        }
        return {p.key: p.value(merged[p.key]) for p in self.parameters}

    def parameter_keys(self) -> set[str]:
        return {parameter.key for parameter in self.parameters}

    def explain(self, stored: Mapping[str, Any]) -> str:
        """The explanation with the exact parameter values filled in."""
        merged = {**self.defaults(), **stored}
        shown = {p.key: p.display(merged[p.key]) for p in self.parameters}
        return str(self.explanation) % shown


_rules: dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    if not CODE_PATTERN.match(rule.code):
        raise ValueError(f"rule code {rule.code!r} is not a lower-case identifier")
    existing = _rules.get(rule.code)
    if existing is not None and existing is not rule:
        raise ValueError(f"rule {rule.code} is already registered")
    for parameter in rule.parameters:
        parameter.clean(parameter.default)  # a default outside its own bounds is a bug
    rule.explain({})  # every placeholder names a parameter
    if rule.as_of not in ("none", "day", "moment"):
        raise ValueError(f"rule {rule.code}: as_of {rule.as_of!r} is not none, day or moment")
    for label in rule.reads or ():
        if not MODEL_LABEL_PATTERN.match(label):
            raise ValueError(f"rule {rule.code}: {label!r} is not a model label (app.model)")
    _rules[rule.code] = rule
    return rule


def unregister(code: str) -> None:
    """For tests."""
    _rules.pop(code, None)


def rule_get(code: str) -> Rule | None:
    return _rules.get(code)


def all_rules() -> list[Rule]:
    return sorted(_rules.values(), key=lambda rule: (rule.number, rule.code))


def fingerprint(rule_code: str, subject_type: str, subject_id: str, key: str = "") -> str:
    """Stable per (rule, subject): a re-run finds the same finding again instead of a new one."""
    text = "\x1f".join((rule_code, subject_type, subject_id, key))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def jsonable(value: Any) -> Any:
    """Figures as JSON: decimals as strings (exact), dates as ISO text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    return value
