"""Form helpers shared by every app's pages."""

from __future__ import annotations

from typing import Any

from django import forms

from .errors import ApplicationError


class StyledFormMixin:
    """Adds the toolkit's CSS classes to every widget and marks invalid fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():  # type: ignore[attr-defined]
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, (forms.Select, forms.SelectMultiple)):
                css = "form-select"
            else:
                css = "form-control"
            if self.is_bound and name in self.errors:  # type: ignore[attr-defined]
                css += " is-invalid"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


def add_service_errors(form: forms.BaseForm, error: ApplicationError) -> None:
    """Show a service's refusal on the form: field errors where they belong, the rest on top."""
    placed = False
    for field, messages in error.fields.items():
        target = field.removesuffix("_id")
        for message in messages:
            if target in form.fields:
                form.add_error(target, message or error.message)
                placed = True
            elif field in form.fields:
                form.add_error(field, message or error.message)
                placed = True
    if not placed:
        form.add_error(None, error.message)
