"""Forms for the org-management pages: they parse input, the services decide and write.

Every choice of a company, department or person is built from the selectors, so a form never
offers anything outside the signed-in user's data scope; companies to write under are further
narrowed to those the user administers.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from qinglian.core.forms import StyledFormMixin

from . import selectors
from .enums import ProjectStatus, RoleCode
from .models import Company, Department, Project, Role, User
from .scopes import data_scope

TREE_INDENT = "\u3000"  # an ideographic space: one level of a tree in a <select> or table

# ---------------------------------------------------------------- choice fields


def administered_company_ids(user: Any) -> frozenset[int]:
    """The companies where `user` is an IT administrator."""
    return data_scope(user).companies_with_role(RoleCode.IT_ADMIN)


def administered_companies(user: Any) -> QuerySet[Company]:
    return selectors.company_list(user=user).filter(pk__in=administered_company_ids(user))


def _active_or_current(queryset: QuerySet[Any], current_id: int | None) -> QuerySet[Any]:
    """Offer active rows, plus the one already chosen so an edit form validates unchanged."""
    condition = Q(is_active=True)
    if current_id is not None:
        condition |= Q(pk=current_id)
    return queryset.filter(condition)


class CompanyChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Company) -> str:
        # The group and its subsidiaries sit flush; deeper levels are indented.
        return TREE_INDENT * max(obj.depth - 1, 0) + obj.name


class DepartmentChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    """Names a department with its company when the choices span several companies."""

    def __init__(self, *args: Any, with_company: bool = False, **kwargs: Any) -> None:
        self.with_company = with_company
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Department) -> str:
        indent = TREE_INDENT * max(obj.path.count("/") - 2, 0)
        if self.with_company:
            company = obj.company.short_name or obj.company.name
            return f"{company} · {indent}{obj.name}"
        return indent + obj.name


class PersonChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: User) -> str:
        return str(obj)


class RoleChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Role) -> str:
        return obj.label


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ScopedForm(forms.Form):
    """A form whose choices come from the selectors.

    `configure()` runs right after the fields are copied, so validation sees the real choices.
    Subclasses store what `configure()` needs before calling `super().__init__()`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.configure()

    def configure(self) -> None:
        pass

    def set_choices(self, name: str, queryset: QuerySet[Any]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = queryset


# ---------------------------------------------------------------- filters (GET)


class CompanyFilterForm(StyledFormMixin, ScopedForm):
    """Search and company filter of a list; an unknown or out-of-scope value is ignored."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Name or code")}),
    )
    company = CompanyChoiceField(
        label=_("Company"),
        queryset=Company.objects.none(),
        required=False,
        empty_label=_("All companies"),
        widget=forms.Select(attrs={"data-autosubmit": ""}),
    )

    def __init__(self, data: Any, *, user: Any) -> None:
        self.user = user
        super().__init__(data)

    def configure(self) -> None:
        self.set_choices("company", selectors.company_list(user=self.user))

    def value(self, name: str) -> Any:
        self.is_valid()  # invalid filters drop out of cleaned_data
        return self.cleaned_data.get(name)

    @property
    def search(self) -> str:
        return str(self.value("q") or "").strip()

    @property
    def company_id(self) -> int | None:
        company = self.value("company")
        return company.pk if company is not None else None


class SearchForm(StyledFormMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Name, code or credit code")}
        ),
    )

    @property
    def search(self) -> str:
        self.is_valid()
        return str(self.cleaned_data.get("q") or "").strip()


class UserFilterForm(CompanyFilterForm):
    department = DepartmentChoiceField(
        label=_("Department"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("All departments"),
        widget=forms.Select(attrs={"data-autosubmit": ""}),
    )

    def configure(self) -> None:
        super().configure()
        self.fields["q"].widget.attrs["placeholder"] = _("Name, username, employee number or phone")
        company_id = _int_or_none(self.data.get("company"))
        self.set_choices(
            "department", selectors.department_list(user=self.user, company_id=company_id)
        )
        field = self.fields["department"]
        assert isinstance(field, DepartmentChoiceField)
        field.with_company = company_id is None

    @property
    def department_id(self) -> int | None:
        department = self.value("department")
        return department.pk if department is not None else None


# ---------------------------------------------------------------- companies


class CompanyForm(StyledFormMixin, forms.Form):
    code = forms.CharField(label=_("Code"), max_length=32)
    name = forms.CharField(label=_("Name"), max_length=200)
    short_name = forms.CharField(label=_("Short name"), max_length=60, required=False)
    uscc = forms.CharField(
        label=_("Unified social credit code"),
        max_length=18,
        help_text=_("18 characters, as printed on the business licence."),
    )
    address = forms.CharField(label=_("Address"), max_length=255, required=False)


class CompanyEditForm(CompanyForm):
    is_active = forms.BooleanField(label=_("Active"), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)


# ---------------------------------------------------------------- departments


class DepartmentForm(StyledFormMixin, ScopedForm):
    code = forms.CharField(label=_("Code"), max_length=32)
    name = forms.CharField(label=_("Name"), max_length=100)
    parent = DepartmentChoiceField(
        label=_("Parent department"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("(top level)"),
    )
    head = PersonChoiceField(
        label=_("Department head"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("(none)"),
    )

    def __init__(
        self,
        *args: Any,
        user: Any,
        company_id: int,
        department: Department | None = None,
        **kwargs: Any,
    ) -> None:
        self.user, self.company_id, self.department = user, company_id, department
        super().__init__(*args, **kwargs)

    def configure(self) -> None:
        department = self.department
        parents = _active_or_current(
            selectors.department_list(user=self.user, company_id=self.company_id),
            department.parent_id if department else None,
        )
        if department is not None:  # neither itself nor anything below it
            parents = parents.exclude(path__startswith=department.path)
        self.set_choices("parent", parents)
        self.set_choices(
            "head",
            _active_or_current(
                selectors.user_list(user=self.user, company_id=self.company_id),
                department.head_id if department else None,
            ),
        )


class DepartmentEditForm(DepartmentForm):
    is_active = forms.BooleanField(label=_("Active"), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)


# ---------------------------------------------------------------- users


class UserForm(StyledFormMixin, ScopedForm):
    username = forms.CharField(label=_("User name"), max_length=150)
    employee_number = forms.CharField(label=_("Employee number"), max_length=32)
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=60)
    department = DepartmentChoiceField(
        label=_("Department"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("(none)"),
    )
    position = forms.CharField(label=_("Position"), max_length=60, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    password = forms.CharField(
        label=_("Initial password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Leave it empty and the person cannot sign in until a password is set."),
    )

    def __init__(self, *args: Any, user: Any, company_id: int, **kwargs: Any) -> None:
        self.user, self.company_id = user, company_id
        super().__init__(*args, **kwargs)

    def configure(self) -> None:
        self.set_choices(
            "department",
            _active_or_current(
                selectors.department_list(user=self.user, company_id=self.company_id), None
            ),
        )


class UserEditForm(StyledFormMixin, ScopedForm):
    username = forms.CharField(label=_("User name"), max_length=150)
    employee_number = forms.CharField(label=_("Employee number"), max_length=32)
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=60)
    company = CompanyChoiceField(label=_("Company"), queryset=Company.objects.none())
    department = DepartmentChoiceField(
        label=_("Department"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("(none)"),
        with_company=True,
    )
    position = forms.CharField(label=_("Position"), max_length=60, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    is_active = forms.BooleanField(
        label=_("Active"),
        required=False,
        help_text=_("An inactive person cannot sign in, and their roles give no access."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: Any, person: User, **kwargs: Any) -> None:
        self.user, self.person = user, person
        super().__init__(*args, **kwargs)

    def configure(self) -> None:
        self.set_choices("company", administered_companies(self.user))
        self.set_choices(
            "department",
            _active_or_current(
                selectors.department_list(user=self.user).filter(
                    company_id__in=administered_company_ids(self.user)
                ),
                self.person.department_id,
            ),
        )


class RoleGrantForm(StyledFormMixin, ScopedForm):
    role = RoleChoiceField(label=_("Role"), queryset=Role.objects.none(), to_field_name="code")
    company = CompanyChoiceField(label=_("Scope company"), queryset=Company.objects.none())
    include_subtree = forms.BooleanField(
        label=_("Include its subsidiaries"), required=False, initial=True
    )

    def __init__(self, *args: Any, user: Any, person: User, **kwargs: Any) -> None:
        self.user, self.person = user, person
        super().__init__(*args, **kwargs)

    def configure(self) -> None:
        roles = selectors.role_list()
        if self.person.pk == self.user.pk:  # nobody grants administrator rights to themselves
            roles = roles.exclude(code=RoleCode.IT_ADMIN)
        self.set_choices("role", roles)
        self.set_choices("company", administered_companies(self.user))


class PasswordResetForm(StyledFormMixin, forms.Form):
    password = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_confirm = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password"), cleaned.get("password_confirm")
        if first and second and first != second:
            self.add_error("password_confirm", _("The two passwords differ."))
        return cleaned


# ---------------------------------------------------------------- projects


class ProjectForm(StyledFormMixin, ScopedForm):
    code = forms.CharField(label=_("Code"), max_length=32)
    name = forms.CharField(label=_("Name"), max_length=200)
    leader = PersonChoiceField(label=_("Leader in charge"), queryset=User.objects.none())
    department = DepartmentChoiceField(
        label=_("Department"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("(none)"),
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=ProjectStatus.choices, initial=ProjectStatus.ACTIVE
    )
    budget = forms.DecimalField(
        label=_("Budget (yuan)"), max_digits=16, decimal_places=2, min_value=0, required=False
    )
    start_date = forms.DateField(
        label=_("Start date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end_date = forms.DateField(
        label=_("End date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(
        self, *args: Any, user: Any, company_id: int, project: Project | None = None, **kwargs: Any
    ) -> None:
        self.user, self.company_id, self.project = user, company_id, project
        super().__init__(*args, **kwargs)

    def configure(self) -> None:
        project = self.project
        self.set_choices(
            "leader",
            _active_or_current(
                selectors.user_list(user=self.user, company_id=self.company_id),
                project.leader_id if project else None,
            ),
        )
        self.set_choices(
            "department",
            _active_or_current(
                selectors.department_list(user=self.user, company_id=self.company_id),
                project.department_id if project else None,
            ),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start_date"), cleaned.get("end_date")
        if start and end and start > end:
            self.add_error("end_date", _("Must not be before the start date."))
        return cleaned


class ProjectEditForm(ProjectForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class RoleForm(StyledFormMixin, forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        help_text=_("Lower-case letters, digits and underscores, e.g. bidding_officer."),
    )
    name = forms.CharField(label=_("Name"), max_length=60)
    description = forms.CharField(label=_("Description"), max_length=255, required=False)


class RoleEditForm(StyledFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60)
    description = forms.CharField(label=_("Description"), max_length=255, required=False)
