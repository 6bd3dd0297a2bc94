"""Forms of the approval pages: a request's form built from its template's definition, and the
small form of each action. They parse input; the services decide and write.

Person, department and project choices come from the approvals selectors with the signed-in
user: records in that user's data scope plus those of their own company (any employee names a
colleague on a leave request), never another company's.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.forms.boundfield import BoundField
from django.utils.translation import gettext_lazy as _

from qinglian.core.errors import ApplicationError
from qinglian.core.forms import StyledFormMixin, add_service_errors
from qinglian.org.forms import DepartmentChoiceField, PersonChoiceField
from qinglian.org.models import User

from . import selectors
from .definitions import Definition, FormField
from .enums import AddSignerPosition
from .services import ATTACHMENT_EXTENSIONS, attachment_problem

ROWS_SHOWN = 5  # blank lines of a detail table ("rows" field) on a new form
IDEMPOTENCY_FIELD = "_idempotency_key"  # definition keys start with a letter: no clash
COMMENT_MAX_LENGTH = 2000


def cell_name(table: str, row: int, column: str) -> str:
    """The form field of one cell of a detail table: "items-2-amount" (rows count from 1)."""
    return f"{table}-{row}-{column}"


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class ProjectChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name}（{obj.code}）"


def _people(user: Any, company_id: int | None = None) -> QuerySet[User]:
    return selectors.person_choice_list(user=user, company_id=company_id)


def _input_field(spec: FormField, *, user: Any, required: bool) -> forms.Field | None:
    """The Django field for one field of a definition (None: not entered on this page)."""
    common: dict[str, Any] = {"label": spec.label, "required": required, "help_text": spec.help}
    if spec.type == "text":
        return forms.CharField(max_length=200, **common)
    if spec.type == "textarea":
        return forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 3}), **common)
    if spec.type == "number":
        return forms.DecimalField(
            widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}), **common
        )
    if spec.type == "money":
        return forms.DecimalField(
            min_value=Decimal(0),
            max_digits=18,
            decimal_places=2,
            widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
            **common,
        )
    if spec.type == "date":
        return forms.DateField(
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), **common
        )
    if spec.type == "choice":
        choices = [("", "—"), *((choice, choice) for choice in spec.choices)]
        return forms.ChoiceField(choices=choices, **common)
    if spec.type == "person":
        return PersonChoiceField(queryset=_people(user), empty_label="—", **common)
    if spec.type == "department":
        return DepartmentChoiceField(
            queryset=selectors.department_choice_list(user=user),
            with_company=True,
            empty_label="—",
            **common,
        )
    if spec.type == "project":
        return ProjectChoiceField(
            queryset=selectors.project_choice_list(user=user), empty_label="—", **common
        )
    if spec.type == "attachment":
        return forms.FileField(
            validators=[_allowed_file],
            widget=forms.FileInput(attrs={"accept": ACCEPT}),
            **common,
        )
    return None  # a table nested in a table, which no definition allows


ACCEPT = ",".join(f".{extension}" for extension in sorted(ATTACHMENT_EXTENSIONS))


def _allowed_file(upload: Any) -> None:
    """The services' own check of a file's type and size, answered on the form."""
    problem = attachment_problem(getattr(upload, "name", "") or "", getattr(upload, "size", 0))
    if problem:
        raise ValidationError(problem)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input (Django's documented pattern); cleans to a list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


def _plain(value: Any) -> Any:
    """A cleaned form value as the service takes it (JSON-like: text, numbers as text, ids)."""
    if value in (None, ""):
        return None
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@dataclass
class Table:
    """A detail table ("rows" field) as the template draws it."""

    spec: FormField
    columns: list[FormField]
    rows: list[tuple[int, list[BoundField]]]
    errors: list[str] = field(default_factory=list)


@dataclass
class Part:
    """One entry of the form's layout, in the definition's order."""

    kind: str  # "field" or "table"
    spec: FormField
    bound: BoundField | None = None
    table: Table | None = None


class RequestForm(StyledFormMixin, forms.Form):
    """The form of a template version. `initial_data` is a request's form data (resubmission);
    `idempotency_key` adds the hidden key that makes a double tap submit once."""

    def __init__(
        self,
        data: Any = None,
        files: Any = None,
        *,
        definition: Definition,
        user: Any,
        initial_data: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.definition = definition
        self.user = user
        initial = self._initial(initial_data or {})
        super().__init__(data, files, initial=initial)
        self.row_counts: dict[str, int] = {}
        self.kept_rows: dict[str, list[int]] = {}  # table -> form row numbers sent, in order
        self.table_errors: dict[str, list[str]] = {}
        for spec in definition.fields:
            if spec.type == "rows":
                self._add_table(spec, data, initial_data or {})
                continue
            kept = spec.type == "attachment" and (initial_data or {}).get(spec.key) is not None
            input_field = _input_field(spec, user=user, required=spec.required and not kept)
            if input_field is not None:
                if kept:  # resubmitting: the file sent before stays unless another is chosen
                    input_field.help_text = _("Leave empty to keep the file attached before.")
                self.fields[spec.key] = input_field
        if idempotency_key is not None:
            self.fields[IDEMPOTENCY_FIELD] = forms.CharField(
                max_length=64, required=False, widget=forms.HiddenInput
            )
            self.initial[IDEMPOTENCY_FIELD] = idempotency_key

    def _initial(self, data: dict[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for spec in self.definition.fields:
            value = data.get(spec.key)
            if spec.type == "rows":
                for number, row in enumerate(value if isinstance(value, list) else [], start=1):
                    for column in spec.columns:
                        if isinstance(row, dict) and row.get(column.key) is not None:
                            initial[cell_name(spec.key, number, column.key)] = row[column.key]
            elif value is not None and spec.type != "attachment":
                initial[spec.key] = value
        return initial

    def _add_table(self, spec: FormField, data: Any, initial_data: dict[str, Any]) -> None:
        existing = initial_data.get(spec.key)
        count = max(ROWS_SHOWN, len(existing) + 1 if isinstance(existing, list) else 0)
        prefix = f"{spec.key}-"
        for name in data or {}:
            number = name[len(prefix) :].split("-", 1)[0] if name.startswith(prefix) else ""
            if number.isdigit():
                count = max(count, min(int(number), 100))
        self.row_counts[spec.key] = count
        for number in range(1, count + 1):
            for column in spec.columns:
                cell = _input_field(column, user=self.user, required=False)
                if cell is not None:
                    cell.widget.attrs["aria-label"] = f"{column.label} {number}"
                    self.fields[cell_name(spec.key, number, column.key)] = cell

    @property
    def idempotency_key(self) -> str:
        return str(self.cleaned_data.get(IDEMPOTENCY_FIELD) or "")

    def form_data(self) -> dict[str, Any]:
        """The cleaned data as the service takes it; blank lines of a table are dropped."""
        data: dict[str, Any] = {}
        for spec in self.definition.fields:
            if spec.type == "rows":
                data[spec.key] = self._rows(spec)
            elif spec.key in self.fields and spec.type != "attachment":
                data[spec.key] = _plain(self.cleaned_data.get(spec.key))
        return data

    def attachments(self) -> dict[str, Any]:
        """The files chosen for the attachment fields, by field key."""
        return {
            spec.key: self.cleaned_data[spec.key]
            for spec in self.definition.fields
            if spec.type == "attachment" and self.cleaned_data.get(spec.key)
        }

    def _rows(self, spec: FormField) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        kept: list[int] = []
        for number in range(1, self.row_counts[spec.key] + 1):
            row = {
                column.key: _plain(self.cleaned_data.get(cell_name(spec.key, number, column.key)))
                for column in spec.columns
                if cell_name(spec.key, number, column.key) in self.fields
            }
            if any(value is not None for value in row.values()):
                rows.append(row)
                kept.append(number)
        self.kept_rows[spec.key] = kept
        return rows

    def layout(self) -> list[Part]:
        parts: list[Part] = []
        for spec in self.definition.fields:
            if spec.type == "rows":
                columns = [c for c in spec.columns if c.type != "attachment"]
                rows = [
                    (number, [self[cell_name(spec.key, number, c.key)] for c in columns])
                    for number in range(1, self.row_counts[spec.key] + 1)
                ]
                table = Table(spec, columns, rows, self.table_errors.get(spec.key, []))
                parts.append(Part("table", spec, table=table))
            elif spec.key in self.fields:
                parts.append(Part("field", spec, bound=self[spec.key]))
        return parts

    def field_for_problem(self, key: str) -> str | None:
        """The form field a service's problem key names ("items.2.amount" is the second line
        that was sent, whichever form row it came from)."""
        if key in self.fields and key not in self.row_counts:
            return key
        table, _dot, rest = key.partition(".")
        index, _dot, column = rest.partition(".")
        kept = self.kept_rows.get(table, [])
        if index.isdigit() and 1 <= int(index) <= len(kept):
            name = cell_name(table, kept[int(index) - 1], column)
            return name if name in self.fields else None
        return None


def add_request_errors(form: RequestForm, error: ApplicationError) -> None:
    """A service's refusal of the form data, on the fields (and detail-table cells) it names."""
    placed: dict[str, list[str]] = {}
    for key, messages in error.fields.items():
        name = form.field_for_problem(key)
        spec = form.definition.field(key)
        if name is not None:
            placed[name] = list(messages)
        elif spec is not None and spec.type == "rows":
            form.table_errors[key] = list(messages)
        elif spec is not None:  # not entered on this page
            for message in messages:
                form.add_error(None, f"{spec.label}: {message}")
    add_service_errors(form, type(error)(error.message, code=error.code, fields=placed))


# ---------------------------------------------------------------- actions


def _comment(*, required: bool, label: Any = None) -> forms.CharField:
    return forms.CharField(
        label=label or _("Comment"),
        required=required,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ApproveForm(StyledFormMixin, forms.Form):
    comment = _comment(required=False, label=_("Comment (optional)"))


class RejectForm(StyledFormMixin, forms.Form):
    comment = _comment(required=True, label=_("Reason for rejecting"))


class ReturnForm(StyledFormMixin, forms.Form):
    """Send back to the requester (blank) or to an earlier approved step (its index); the
    service checks the step, so a posted form needs no `steps`."""

    to_step = forms.IntegerField(
        label=_("Send back to"), required=False, min_value=0, widget=forms.Select
    )
    comment = _comment(required=True, label=_("What needs to change"))

    def __init__(
        self, *args: Any, steps: list[tuple[int, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", _("The requester")), *((index, name) for index, name in steps or [])]
        widget = self.fields["to_step"].widget
        assert isinstance(widget, forms.Select)
        widget.choices = choices


class _PersonForm(StyledFormMixin, forms.Form):
    """A person of the request's company or the signed-in user's scope (as the service
    accepts), other than themselves and the requester."""

    person_field = ""

    def __init__(
        self, *args: Any, user: Any, exclude: list[Any], company_id: int | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        people = _people(user, company_id).exclude(pk__in=exclude)
        field = self.fields[self.person_field]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = people


class TransferForm(_PersonForm):
    person_field = "to_user"
    to_user = PersonChoiceField(
        label=_("Transfer to"), queryset=User.objects.none(), empty_label="—"
    )
    comment = _comment(required=False, label=_("Comment (optional)"))


class AddSignerForm(_PersonForm):
    person_field = "user"
    user = PersonChoiceField(label=_("Also ask"), queryset=User.objects.none(), empty_label="—")
    position = forms.ChoiceField(
        label=_("When"),
        choices=AddSignerPosition.choices,
        initial=AddSignerPosition.BEFORE,
    )
    comment = _comment(required=False, label=_("Comment (optional)"))


class WithdrawForm(StyledFormMixin, forms.Form):
    comment = _comment(required=False, label=_("Reason (optional)"))


class CommentForm(StyledFormMixin, forms.Form):
    """A comment, files, or both."""

    comment = _comment(required=False)
    attachments = MultipleFileField(label=_("Files"), required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("comment", "").strip() and not cleaned.get("attachments"):
            self.add_error("comment", _("Write a comment or attach a file."))
        return cleaned
