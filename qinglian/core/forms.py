"""Form helpers shared by every app's pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.boundfield import BoundField

from .errors import ApplicationError


def _toolkit_class(widget: forms.Widget) -> str:
    if isinstance(widget, (forms.CheckboxInput, forms.RadioSelect)):
        return "form-check-input"
    if isinstance(widget, (forms.Select, forms.SelectMultiple)):
        return "form-select"
    return "form-control"


class StyledBoundField(BoundField):
    """Adds the toolkit's CSS classes when the widget is drawn, and marks a field invalid when it
    has errors at that moment — including errors a service added after validation."""

    def build_widget_attrs(
        self, attrs: dict[str, Any], widget: forms.Widget | None = None
    ) -> dict[str, Any]:
        attrs = super().build_widget_attrs(attrs, widget)
        widget = widget or self.field.widget
        css = [widget.attrs.get("class", ""), attrs.get("class", ""), _toolkit_class(widget)]
        if self.form.is_bound and self.errors:
            css.append("is-invalid")
        attrs["class"] = " ".join(part for part in css if part)
        return attrs


class StyledFormMixin:
    """Forms drawn with the toolkit's classes (see StyledBoundField); styling never validates."""

    bound_field_class: type[BoundField] | None = StyledBoundField


def add_service_errors(form: forms.BaseForm, error: ApplicationError) -> None:
    """Show a service's refusal on the form: field errors where they belong, the rest on top."""
    placed = False
    for field, messages in error.fields.items():
        target = next((n for n in (field.removesuffix("_id"), field) if n in form.fields), None)
        for message in messages:
            if target is None:
                continue  # not a field of this form: the summary below carries it
            form.add_error(target, message or error.message)
            placed = True
    if not placed or set(error.fields) - set(form.fields) - {name + "_id" for name in form.fields}:
        form.add_error(None, error.message)
