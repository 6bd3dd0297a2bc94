"""The IT administrator's org-management pages.

Thin by rule (STYLE.md): read through the scoped selectors, parse a form, make one service call,
redirect with a message. The services make the real permission decision; the checks here only
keep the pages honest: out of scope is "not found" (the access selectors), in scope without the
IT administrator role is "forbidden" before a form is even shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from qinglian.core.errors import Conflict, PermissionDenied, ValidationFailed
from qinglian.core.forms import add_service_errors

from . import forms, selectors, services
from .enums import RoleCode
from .models import Company, Department, User
from .scopes import can_administer_group, can_administer_org, can_read_audit, data_scope

PAGE_SIZE = 50
T = TypeVar("T")
require_GET_or_POST = require_http_methods(["GET", "HEAD", "POST"])

# ---------------------------------------------------------------- helpers


def _require_org_admin(user: Any, company_id: int | None) -> None:
    """After an access selector has answered "found": refuse those who may only read."""
    if not can_administer_org(user, company_id):
        raise PermissionDenied(_("Only an IT administrator of this company may do this."))


def _posted(request: HttpRequest) -> Any:
    """The form data of a POST, or None so a GET renders an unbound form."""
    return request.POST if request.method == "POST" else None


def _attempt(form: Any, action: Callable[[], T]) -> T | None:
    """Run one service call; a refusal the user can fix goes onto the form."""
    try:
        return action()
    except (ValidationFailed, Conflict) as error:
        add_service_errors(form, error)
        return None


def _pk_or_none(instance: Any) -> int | None:
    return instance.pk if instance is not None else None


def _tree(items: Iterable[T], depth: Callable[[T], int]) -> list[tuple[T, str]]:
    """Each item with an indent for its depth, relative to the shallowest item shown."""
    listed = list(items)
    top = min((depth(item) for item in listed), default=0)
    return [(item, forms.TREE_INDENT * (depth(item) - top)) for item in listed]


def _department_depth(department: Department) -> int:
    return department.path.count("/") - 2


def _create_target(user: Any, company_id: int | None) -> int | None:
    """Where a list page's "New" button creates: the filtered company, else the user's own."""
    target = company_id if company_id is not None else getattr(user, "company_id", None)
    return target if can_administer_org(user, target) else None


def _page(request: HttpRequest, queryset: QuerySet[Any]) -> Page[Any]:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _form_page(
    request: HttpRequest, form: Any, *, title: str, cancel_url: str, subtitle: str = ""
) -> HttpResponse:
    return render(
        request,
        "org/form.html",
        {"form": form, "title": title, "subtitle": subtitle, "cancel_url": cancel_url},
    )


# ---------------------------------------------------------------- companies


@login_required
def company_list(request: HttpRequest) -> HttpResponse:
    form = forms.SearchForm(request.GET)
    companies = selectors.company_list(user=request.user, search=form.search)
    return render(
        request,
        "org/company_list.html",
        {
            "form": form,
            "rows": _tree(companies, lambda company: company.depth),
            "admin_company_ids": forms.administered_company_ids(request.user),
        },
    )


@login_required
def company_detail(request: HttpRequest, pk: int) -> HttpResponse:
    company = selectors.company_access(user=request.user, company_id=pk)
    departments = selectors.department_list(user=request.user, company_id=pk)
    return render(
        request,
        "org/company_detail.html",
        {
            "company": company,
            "parent_is_visible": data_scope(request.user).can_read(company.parent_id),
            "department_rows": _tree(departments, _department_depth),
            "user_count": selectors.user_list(
                user=request.user, company_id=pk, active_only=True
            ).count(),
            "projects": selectors.project_list(user=request.user, company_id=pk),
            "can_administer": can_administer_org(request.user, pk),
            "can_read_audit": can_read_audit(request.user, pk),
        },
    )


@login_required
@require_GET_or_POST
def company_create(request: HttpRequest, pk: int) -> HttpResponse:
    """A subsidiary under company `pk`."""
    parent = selectors.company_access(user=request.user, company_id=pk)
    _require_org_admin(request.user, parent.pk)
    form = forms.CompanyForm(_posted(request))
    if form.is_valid():
        company = _attempt(
            form,
            lambda: services.company_create(
                actor=request.user, parent_id=parent.pk, **form.cleaned_data
            ),
        )
        if company is not None:
            messages.success(request, _("Company “%(name)s” created.") % {"name": company.name})
            return redirect("org:company_detail", company.pk)
    return _form_page(
        request,
        form,
        title=_("New subsidiary"),
        subtitle=_("Under %(parent)s") % {"parent": parent.name},
        cancel_url=reverse("org:company_detail", args=[parent.pk]),
    )


@login_required
@require_GET_or_POST
def company_edit(request: HttpRequest, pk: int) -> HttpResponse:
    company = selectors.company_access(user=request.user, company_id=pk)
    _require_org_admin(request.user, company.pk)
    initial = {name: getattr(company, name) for name in forms.CompanyEditForm.base_fields}
    form = forms.CompanyEditForm(_posted(request), initial=initial)
    if form.is_valid():
        changes = dict(form.cleaned_data)
        version = changes.pop("version")
        updated = _attempt(
            form,
            lambda: services.company_update(
                actor=request.user, company_id=company.pk, expected_version=version, **changes
            ),
        )
        if updated is not None:
            messages.success(request, _("Changes saved."))
            return redirect("org:company_detail", company.pk)
    return _form_page(
        request,
        form,
        title=_("Edit company"),
        subtitle=company.name,
        cancel_url=reverse("org:company_detail", args=[company.pk]),
    )


# ---------------------------------------------------------------- departments


def _department_list_url(company_id: int) -> str:
    return f"{reverse('org:department_list')}?{urlencode({'company': company_id})}"


@login_required
def department_list(request: HttpRequest) -> HttpResponse:
    form = forms.CompanyFilterForm(request.GET, user=request.user)
    departments = selectors.department_list(
        user=request.user, company_id=form.company_id, search=form.search
    )
    return render(
        request,
        "org/department_list.html",
        {
            "form": form,
            "rows": _tree(departments, _department_depth),
            "create_company_id": _create_target(request.user, form.company_id),
            "admin_company_ids": forms.administered_company_ids(request.user),
        },
    )


@login_required
@require_GET_or_POST
def department_create(request: HttpRequest, pk: int) -> HttpResponse:
    """A department of company `pk`."""
    company = selectors.company_access(user=request.user, company_id=pk)
    _require_org_admin(request.user, company.pk)
    form = forms.DepartmentForm(_posted(request), user=request.user, company_id=company.pk)
    if form.is_valid():
        data = form.cleaned_data
        department = _attempt(
            form,
            lambda: services.department_create(
                actor=request.user,
                company_id=company.pk,
                code=data["code"],
                name=data["name"],
                parent_id=_pk_or_none(data["parent"]),
                head_id=_pk_or_none(data["head"]),
            ),
        )
        if department is not None:
            messages.success(
                request, _("Department “%(name)s” created.") % {"name": department.name}
            )
            return redirect(_department_list_url(company.pk))
    return _form_page(
        request,
        form,
        title=_("New department"),
        subtitle=company.name,
        cancel_url=_department_list_url(company.pk),
    )


@login_required
@require_GET_or_POST
def department_edit(request: HttpRequest, pk: int) -> HttpResponse:
    department = selectors.department_access(user=request.user, department_id=pk)
    _require_org_admin(request.user, department.company_id)
    initial = {
        "code": department.code,
        "name": department.name,
        "parent": department.parent_id,
        "head": department.head_id,
        "is_active": department.is_active,
        "version": department.version,
    }
    form = forms.DepartmentEditForm(
        _posted(request),
        initial=initial,
        user=request.user,
        company_id=department.company_id,
        department=department,
    )
    if form.is_valid():
        data = form.cleaned_data
        updated = _attempt(
            form,
            lambda: services.department_update(
                actor=request.user,
                department_id=department.pk,
                expected_version=data["version"],
                code=data["code"],
                name=data["name"],
                parent_id=_pk_or_none(data["parent"]),
                head_id=_pk_or_none(data["head"]),
                is_active=data["is_active"],
            ),
        )
        if updated is not None:
            messages.success(request, _("Changes saved."))
            return redirect(_department_list_url(department.company_id))
    return _form_page(
        request,
        form,
        title=_("Edit department"),
        subtitle=f"{department.company.name} · {department.name}",
        cancel_url=_department_list_url(department.company_id),
    )


# ---------------------------------------------------------------- users


@login_required
def user_list(request: HttpRequest) -> HttpResponse:
    form = forms.UserFilterForm(request.GET, user=request.user)
    people = selectors.user_list(
        user=request.user,
        company_id=form.company_id,
        department_id=form.department_id,
        search=form.search,
    )
    return render(
        request,
        "org/user_list.html",
        {
            "form": form,
            "page_obj": _page(request, people),
            "create_company_id": _create_target(request.user, form.company_id),
        },
    )


def _user_detail_page(
    request: HttpRequest,
    person: User,
    *,
    grant_form: forms.RoleGrantForm | None = None,
    password_form: forms.PasswordResetForm | None = None,
) -> HttpResponse:
    """The person's page; a grant or password form that failed comes back bound."""
    can_administer = can_administer_org(request.user, person.company_id)
    if can_administer:
        grant_form = grant_form or forms.RoleGrantForm(user=request.user, person=person)
        password_form = password_form or forms.PasswordResetForm()
    return render(
        request,
        "org/user_detail.html",
        {
            "person": person,  # never "user": that is the signed-in user in every template
            "assignments": selectors.role_assignment_list(user=request.user, user_id=person.pk),
            "admin_company_ids": forms.administered_company_ids(request.user),
            "can_administer": can_administer,
            "can_read_audit": can_read_audit(request.user, person.company_id),
            "grant_form": grant_form,
            "password_form": password_form,
        },
    )


@login_required
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _user_detail_page(request, selectors.user_access(user=request.user, user_id=pk))


@login_required
@require_GET_or_POST
def user_create(request: HttpRequest, pk: int) -> HttpResponse:
    """An employee of company `pk`."""
    company = selectors.company_access(user=request.user, company_id=pk)
    _require_org_admin(request.user, company.pk)
    form = forms.UserForm(_posted(request), user=request.user, company_id=company.pk)
    if form.is_valid():
        data = dict(form.cleaned_data)
        department = data.pop("department")
        person = _attempt(
            form,
            lambda: services.user_create(
                actor=request.user,
                company_id=company.pk,
                department_id=_pk_or_none(department),
                **data,
            ),
        )
        if person is not None:
            messages.success(request, _("Person %(name)s added.") % {"name": person})
            return redirect("org:user_detail", person.pk)
    return _form_page(
        request,
        form,
        title=_("New person"),
        subtitle=company.name,
        cancel_url=f"{reverse('org:user_list')}?{urlencode({'company': company.pk})}",
    )


@login_required
@require_GET_or_POST
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    person = selectors.user_access(user=request.user, user_id=pk)
    _require_org_admin(request.user, person.company_id)
    initial = {
        name: getattr(person, name)
        for name in ("username", "employee_number", "name", "position", "phone", "email")
    } | {
        "company": person.company_id,
        "department": person.department_id,
        "is_active": person.is_active,
        "version": person.version,
    }
    form = forms.UserEditForm(_posted(request), initial=initial, user=request.user, person=person)
    if form.is_valid():
        changes = dict(form.cleaned_data)
        version = changes.pop("version")
        company: Company = changes.pop("company")
        department = changes.pop("department")
        updated = _attempt(
            form,
            lambda: services.user_update(
                actor=request.user,
                user_id=person.pk,
                expected_version=version,
                company_id=company.pk,
                department_id=_pk_or_none(department),
                **changes,
            ),
        )
        if updated is not None:
            messages.success(request, _("Changes saved."))
            return redirect("org:user_detail", person.pk)
    return _form_page(
        request,
        form,
        title=_("Edit person"),
        subtitle=str(person),
        cancel_url=reverse("org:user_detail", args=[person.pk]),
    )


@login_required
@require_POST
def role_assignment_grant(request: HttpRequest, pk: int) -> HttpResponse:
    person = selectors.user_access(user=request.user, user_id=pk)
    _require_org_admin(request.user, person.company_id)
    form = forms.RoleGrantForm(request.POST, user=request.user, person=person)
    if form.is_valid():
        data = form.cleaned_data
        assignment = _attempt(
            form,
            lambda: services.role_assignment_grant(
                actor=request.user,
                user_id=person.pk,
                role_code=data["role"].code,
                company_id=data["company"].pk,
                include_subtree=data["include_subtree"],
            ),
        )
        if assignment is not None:
            messages.success(request, _("Role granted."))
            return redirect("org:user_detail", person.pk)
    return _user_detail_page(request, person, grant_form=form)


@login_required
@require_POST
def role_assignment_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = selectors.role_assignment_access(user=request.user, assignment_id=pk)
    services.role_assignment_revoke(actor=request.user, assignment_id=assignment.pk)
    messages.success(request, _("Role revoked."))
    return redirect("org:user_detail", assignment.user_id)


@login_required
@require_POST
def user_password_reset(request: HttpRequest, pk: int) -> HttpResponse:
    person = selectors.user_access(user=request.user, user_id=pk)
    _require_org_admin(request.user, person.company_id)
    form = forms.PasswordResetForm(request.POST)
    if form.is_valid():
        done = _attempt(
            form,
            lambda: services.user_password_reset(
                actor=request.user, user_id=person.pk, new_password=form.cleaned_data["password"]
            ),
        )
        if done is not None:
            messages.success(request, _("New password set; tell the person to change it."))
            return redirect("org:user_detail", person.pk)
    return _user_detail_page(request, person, password_form=form)


# ---------------------------------------------------------------- projects

PROJECT_VALUES = ("code", "name", "status", "budget", "start_date", "end_date", "description")


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    form = forms.CompanyFilterForm(request.GET, user=request.user)
    projects = selectors.project_list(
        user=request.user, company_id=form.company_id, search=form.search
    )
    return render(
        request,
        "org/project_list.html",
        {
            "form": form,
            "page_obj": _page(request, projects),
            "create_company_id": _create_target(request.user, form.company_id),
        },
    )


@login_required
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_access(user=request.user, project_id=pk)
    return render(
        request,
        "org/project_detail.html",
        {
            "project": project,
            "can_administer": can_administer_org(request.user, project.company_id),
            "can_read_audit": can_read_audit(request.user, project.company_id),
        },
    )


@login_required
@require_GET_or_POST
def project_create(request: HttpRequest, pk: int) -> HttpResponse:
    """An engineering project of company `pk`."""
    company = selectors.company_access(user=request.user, company_id=pk)
    _require_org_admin(request.user, company.pk)
    form = forms.ProjectForm(_posted(request), user=request.user, company_id=company.pk)
    if form.is_valid():
        data = form.cleaned_data
        project = _attempt(
            form,
            lambda: services.project_create(
                actor=request.user,
                company_id=company.pk,
                leader_id=data["leader"].pk,
                department_id=_pk_or_none(data["department"]),
                **{name: data[name] for name in PROJECT_VALUES},
            ),
        )
        if project is not None:
            messages.success(request, _("Project “%(name)s” created.") % {"name": project.name})
            return redirect("org:project_detail", project.pk)
    return _form_page(
        request,
        form,
        title=_("New project"),
        subtitle=company.name,
        cancel_url=f"{reverse('org:project_list')}?{urlencode({'company': company.pk})}",
    )


@login_required
@require_GET_or_POST
def project_edit(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_access(user=request.user, project_id=pk)
    _require_org_admin(request.user, project.company_id)
    initial = {name: getattr(project, name) for name in PROJECT_VALUES} | {
        "leader": project.leader_id,
        "department": project.department_id,
        "version": project.version,
    }
    form = forms.ProjectEditForm(
        _posted(request),
        initial=initial,
        user=request.user,
        company_id=project.company_id,
        project=project,
    )
    if form.is_valid():
        data = form.cleaned_data
        updated = _attempt(
            form,
            lambda: services.project_update(
                actor=request.user,
                project_id=project.pk,
                expected_version=data["version"],
                leader_id=data["leader"].pk,
                department_id=_pk_or_none(data["department"]),
                **{name: data[name] for name in PROJECT_VALUES},
            ),
        )
        if updated is not None:
            messages.success(request, _("Changes saved."))
            return redirect("org:project_detail", project.pk)
    return _form_page(
        request,
        form,
        title=_("Edit project"),
        subtitle=project.name,
        cancel_url=reverse("org:project_detail", args=[project.pk]),
    )


# ---------------------------------------------------------------- roles


@login_required
@require_GET_or_POST
def role_list(request: HttpRequest) -> HttpResponse:
    may_edit = can_administer_group(request.user)
    if request.method == "POST" and not may_edit:
        raise PermissionDenied(_("Only an IT administrator of the group manages roles."))
    form = forms.RoleForm(_posted(request))
    if form.is_valid():
        role = _attempt(form, lambda: services.role_create(actor=request.user, **form.cleaned_data))
        if role is not None:
            messages.success(request, _("Role %(name)s added.") % {"name": role.label})
            return redirect("org:role_list")
    context = {
        "roles": selectors.role_list_with_holders(user=request.user),
        "form": form if may_edit else None,
        "builtin_codes": set(RoleCode.values),
    }
    return render(request, "org/role_list.html", context)


@login_required
@require_GET_or_POST
def role_edit(request: HttpRequest, pk: int) -> HttpResponse:
    role = selectors.role_access(role_id=pk)
    if not can_administer_group(request.user):
        raise PermissionDenied(_("Only an IT administrator of the group manages roles."))
    form = forms.RoleEditForm(
        _posted(request), initial={"name": role.name, "description": role.description}
    )
    if form.is_valid():
        saved = _attempt(
            form,
            lambda: services.role_update(actor=request.user, role_id=role.pk, **form.cleaned_data),
        )
        if saved is not None:
            messages.success(request, _("Role %(name)s saved.") % {"name": saved.label})
            return redirect("org:role_list")
    return _form_page(
        request, form, title=_("Edit role"), subtitle=role.code, cancel_url=reverse("org:role_list")
    )
