from django import forms

from qinglian.core.errors import ValidationFailed
from qinglian.core.forms import StyledFormMixin, add_service_errors


class SampleForm(StyledFormMixin, forms.Form):
    name = forms.CharField()
    kind = forms.ChoiceField(choices=[])
    active = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)
        kind.choices = [("a", "A")]  # set after construction, as scoped forms do


def test_styling_does_not_validate_before_choices_are_set():
    form = SampleForm({"name": "x", "kind": "a"})
    assert form.is_valid(), form.errors
    html = str(form["kind"])
    assert 'class="form-select"' in html
    assert 'class="form-check-input"' in str(form["active"])


def test_service_errors_land_on_fields_and_mark_them_invalid(settings):
    form = SampleForm({"name": "x", "kind": "a"})
    assert form.is_valid()
    add_service_errors(
        form,
        ValidationFailed("Please fix it.", fields={"name": ["taken"], "uscc": ["bad code"]}),
    )
    assert form.errors["name"] == ["taken"]
    assert "is-invalid" in str(form["name"])
    assert "is-invalid" not in str(form["kind"])
    assert form.non_field_errors() == ["Please fix it."]


def test_a_service_error_without_fields_goes_on_top(settings):
    form = SampleForm({"name": "x", "kind": "a"})
    form.is_valid()
    add_service_errors(form, ValidationFailed("Stale, reload."))
    assert form.non_field_errors() == ["Stale, reload."]
