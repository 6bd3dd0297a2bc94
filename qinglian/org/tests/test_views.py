"""Authorization matrix of every org-management page and every mutating POST.

Actors (conftest `org`): anonymous, no_role (works for A, holds no role), handler_b (B only),
handler_a (reads A), admin_a (IT administrator of A), inspector (reads the group, writes nothing).
A refused write must leave no trace: the same rows, the same versions, no new audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse

from qinglian.audit.models import AuditEvent
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_project, make_uscc
from qinglian.org.models import Company, Department, Project, RoleAssignment, User

ANONYMOUS = "anonymous"
ACTORS = ("anonymous", "no_role", "handler_b", "handler_a", "admin_a", "inspector")


def _login(client, org, actor: str) -> None:
    if actor != ANONYMOUS:
        client.force_login(getattr(org, actor))


def _assert_login_redirect(response) -> None:
    assert response.status_code == 302
    assert response.url.startswith(reverse("login") + "?next=")


def db_state() -> tuple[Any, ...]:
    """Everything a write to the org could touch, plus the audit trail's length."""
    return (
        AuditEvent.objects.count(),
        list(
            Company.objects.order_by("id").values_list(
                "id", "version", "code", "name", "address", "is_active", "parent_id"
            )
        ),
        list(
            Department.objects.order_by("id").values_list(
                "id", "version", "code", "name", "parent_id", "head_id", "is_active"
            )
        ),
        list(
            User.objects.order_by("id").values_list(
                "id", "version", "username", "name", "password", "company_id", "is_active"
            )
        ),
        list(
            Project.objects.order_by("id").values_list(
                "id", "version", "code", "name", "leader_id", "status"
            )
        ),
        list(
            RoleAssignment.objects.order_by("id").values_list(
                "id", "user_id", "role_id", "company_id", "include_subtree"
            )
        ),
    )


# ---------------------------------------------------------------- the objects of one company


@dataclass
class Side:
    """One company's objects that the pages act on."""

    company: Company
    department: Department
    person: User  # a handler of this company
    project: Project

    @property
    def assignment(self) -> RoleAssignment:
        return RoleAssignment.objects.get(
            user=self.person, role__code=RoleCode.HANDLER, company=self.company
        )


def side_a(org) -> Side:
    return Side(org.company_a, org.department_a, org.handler_a, org.project_a)


def side_b(org) -> Side:
    project_b = make_project(company=org.company_b, leader=org.handler_b)
    return Side(org.company_b, org.department_b, org.handler_b, project_b)


# ---------------------------------------------------------------- pages (GET)

DETAIL_PAGES: dict[str, Callable[[Side], str]] = {
    "company_detail": lambda s: reverse("org:company_detail", args=[s.company.pk]),
    "user_detail": lambda s: reverse("org:user_detail", args=[s.person.pk]),
    "project_detail": lambda s: reverse("org:project_detail", args=[s.project.pk]),
}

FORM_PAGES: dict[str, Callable[[Side], str]] = {
    "company_create": lambda s: reverse("org:company_create", args=[s.company.pk]),
    "company_edit": lambda s: reverse("org:company_edit", args=[s.company.pk]),
    "department_create": lambda s: reverse("org:department_create", args=[s.company.pk]),
    "department_edit": lambda s: reverse("org:department_edit", args=[s.department.pk]),
    "user_create": lambda s: reverse("org:user_create", args=[s.company.pk]),
    "user_edit": lambda s: reverse("org:user_edit", args=[s.person.pk]),
    "project_create": lambda s: reverse("org:project_create", args=[s.company.pk]),
    "project_edit": lambda s: reverse("org:project_edit", args=[s.project.pk]),
}

LIST_PAGES = ("company_list", "department_list", "user_list", "project_list")

READ_EXPECTED = {
    "no_role": 404,
    "handler_b": 404,
    "handler_a": 200,
    "admin_a": 200,
    "inspector": 200,
}
FORM_EXPECTED = {
    "no_role": 404,
    "handler_b": 404,
    "handler_a": 403,
    "admin_a": 200,
    "inspector": 403,
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("page", sorted(DETAIL_PAGES))
def test_detail_pages_of_company_a(client, org, page, actor):
    _login(client, org, actor)
    response = client.get(DETAIL_PAGES[page](side_a(org)))
    if actor == ANONYMOUS:
        _assert_login_redirect(response)
    else:
        assert response.status_code == READ_EXPECTED[actor]


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("page", sorted(FORM_PAGES))
def test_form_pages_of_company_a(client, org, page, actor):
    _login(client, org, actor)
    response = client.get(FORM_PAGES[page](side_a(org)))
    if actor == ANONYMOUS:
        _assert_login_redirect(response)
    else:
        assert response.status_code == FORM_EXPECTED[actor]


@pytest.mark.parametrize("page", sorted({**DETAIL_PAGES, **FORM_PAGES}))
def test_admin_of_a_finds_nothing_of_company_b(client, org, page):
    client.force_login(org.admin_a)
    url = {**DETAIL_PAGES, **FORM_PAGES}[page](side_b(org))
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("page", sorted(FORM_PAGES))
def test_group_administrator_opens_every_form_of_b(client, org, page):
    client.force_login(org.admin_group)
    assert client.get(FORM_PAGES[page](side_b(org))).status_code == 200


@pytest.mark.parametrize("page", sorted({**DETAIL_PAGES, **FORM_PAGES}))
def test_missing_objects_are_not_found(client, org, page):
    client.force_login(org.admin_group)
    missing = Side(
        Company(pk=999_999),
        Department(pk=999_999),
        User(pk=999_999),
        Project(pk=999_999),
    )
    assert client.get({**DETAIL_PAGES, **FORM_PAGES}[page](missing)).status_code == 404


def _listed_company_ids(page: str, response) -> set[int]:
    context = response.context
    if page == "company_list":
        return {company.pk for company, _indent in context["rows"]}
    if page == "department_list":
        return {department.company_id for department, _indent in context["rows"]}
    return {item.company_id for item in context["page_obj"].object_list}


@pytest.mark.parametrize("page", LIST_PAGES)
@pytest.mark.parametrize("actor", ACTORS)
def test_list_pages_show_only_the_scope(client, org, page, actor):
    make_project(company=org.company_b, leader=org.handler_b)
    _login(client, org, actor)
    response = client.get(reverse(f"org:{page}"))
    if actor == ANONYMOUS:
        _assert_login_redirect(response)
        return
    assert response.status_code == 200
    a, b, group = org.company_a.pk, org.company_b.pk, org.group.pk
    expected = {
        "no_role": set(),
        "handler_b": {b},
        "handler_a": {a},
        "admin_a": {a},
        "inspector": {group, a, b},
    }[actor]
    if page in ("department_list", "project_list"):
        expected -= {group}  # the group itself has neither departments nor projects
    assert _listed_company_ids(page, response) == expected


def test_list_filters_ignore_companies_outside_the_scope(client, org):
    client.force_login(org.handler_a)
    response = client.get(reverse("org:user_list"), {"company": org.company_b.pk})
    assert response.status_code == 200
    assert _listed_company_ids("user_list", response) == {org.company_a.pk}


# ---------------------------------------------------------------- writes (POST)


def _company_create(s: Side) -> tuple[str, dict[str, Any]]:
    data = {"code": "NEW1", "name": "新设子公司", "uscc": make_uscc(90_001), "short_name": "新设"}
    return reverse("org:company_create", args=[s.company.pk]), data


def _company_edit(s: Side) -> tuple[str, dict[str, Any]]:
    c = s.company
    data = {
        "code": c.code,
        "name": c.name + "（更名）",
        "uscc": c.uscc,
        "short_name": c.short_name,
        "address": "新地址",
        "is_active": "on",
        "version": c.version,
    }
    return reverse("org:company_edit", args=[c.pk]), data


def _department_create(s: Side) -> tuple[str, dict[str, Any]]:
    data = {"code": "NEWD", "name": "新部门", "parent": s.department.pk, "head": s.person.pk}
    return reverse("org:department_create", args=[s.company.pk]), data


def _department_edit(s: Side) -> tuple[str, dict[str, Any]]:
    d = s.department
    data = {
        "code": d.code,
        "name": d.name + "（更名）",
        "parent": "",
        "head": s.person.pk,
        "is_active": "on",
        "version": d.version,
    }
    return reverse("org:department_edit", args=[d.pk]), data


def _user_create(s: Side) -> tuple[str, dict[str, Any]]:
    data = {
        "username": "newcomer",
        "employee_number": "E90001",
        "name": "新员工",
        "department": s.department.pk,
        "phone": "13800000000",
        "password": "",
    }
    return reverse("org:user_create", args=[s.company.pk]), data


def _user_edit(s: Side) -> tuple[str, dict[str, Any]]:
    p = s.person
    data = {
        "username": p.username,
        "employee_number": p.employee_number,
        "name": p.name + "（更名）",
        "company": p.company_id,
        "department": p.department_id,
        "position": "主管",
        "phone": p.phone,
        "email": p.email,
        "is_active": "on",
        "version": p.version,
    }
    return reverse("org:user_edit", args=[p.pk]), data


def _user_password_reset(s: Side) -> tuple[str, dict[str, Any]]:
    data = {"password": "Fresh-secret-2024", "password_confirm": "Fresh-secret-2024"}
    return reverse("org:user_password_reset", args=[s.person.pk]), data


def _role_grant(s: Side) -> tuple[str, dict[str, Any]]:
    data = {"role": RoleCode.PURCHASER.value, "company": s.company.pk, "include_subtree": "on"}
    return reverse("org:role_assignment_grant", args=[s.person.pk]), data


def _role_revoke(s: Side) -> tuple[str, dict[str, Any]]:
    return reverse("org:role_assignment_revoke", args=[s.assignment.pk]), {}


def _project_create(s: Side) -> tuple[str, dict[str, Any]]:
    data = {
        "code": "NEWP",
        "name": "新工程",
        "leader": s.person.pk,
        "department": s.department.pk,
        "status": "planned",
        "budget": "1000000.00",
        "start_date": "2025-01-01",
        "end_date": "2025-12-31",
    }
    return reverse("org:project_create", args=[s.company.pk]), data


def _project_edit(s: Side) -> tuple[str, dict[str, Any]]:
    p = s.project
    data = {
        "code": p.code,
        "name": p.name + "（更名）",
        "leader": p.leader_id,
        "department": "",
        "status": "suspended",
        "budget": "",
        "description": "暂停",
        "version": p.version,
    }
    return reverse("org:project_edit", args=[p.pk]), data


WRITES: dict[str, Callable[[Side], tuple[str, dict[str, Any]]]] = {
    "company_create": _company_create,
    "company_edit": _company_edit,
    "department_create": _department_create,
    "department_edit": _department_edit,
    "user_create": _user_create,
    "user_edit": _user_edit,
    "user_password_reset": _user_password_reset,
    "role_assignment_grant": _role_grant,
    "role_assignment_revoke": _role_revoke,
    "project_create": _project_create,
    "project_edit": _project_edit,
}

# What the admin's successful write records in the audit trail.
WRITE_ACTIONS = {
    "company_create": "org.company.created",
    "company_edit": "org.company.updated",
    "department_create": "org.department.created",
    "department_edit": "org.department.updated",
    "user_create": "org.user.created",
    "user_edit": "org.user.updated",
    "user_password_reset": "org.user.password_reset",
    "role_assignment_grant": "org.role_assignment.granted",
    "role_assignment_revoke": "org.role_assignment.revoked",
    "project_create": "org.project.created",
    "project_edit": "org.project.updated",
}

REFUSED = {"anonymous": 302, "no_role": 404, "handler_b": 404, "handler_a": 403, "inspector": 403}


@pytest.mark.parametrize("actor", sorted(REFUSED))
@pytest.mark.parametrize("write", sorted(WRITES))
def test_refused_writes_leave_no_trace(client, org, write, actor):
    url, data = WRITES[write](side_a(org))
    _login(client, org, actor)
    before = db_state()
    response = client.post(url, data)
    if actor == ANONYMOUS:
        _assert_login_redirect(response)
    else:
        assert response.status_code == REFUSED[actor]
    assert db_state() == before


@pytest.mark.parametrize("write", sorted(WRITES))
def test_admin_of_a_cannot_write_to_b(client, org, write):
    url, data = WRITES[write](side_b(org))
    client.force_login(org.admin_a)
    before = db_state()
    assert client.post(url, data).status_code == 404
    assert db_state() == before


@pytest.mark.parametrize("write", sorted(WRITES))
def test_admin_of_a_writes_to_a(client, org, write):
    side = side_a(org)
    url, data = WRITES[write](side)
    client.force_login(org.admin_a)
    events_before = AuditEvent.objects.count()
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    new_events = list(AuditEvent.objects.order_by("id")[events_before:])
    assert [event.action for event in new_events] == [WRITE_ACTIONS[write]]
    assert new_events[0].actor_id == org.admin_a.pk


@pytest.mark.parametrize("write", sorted(WRITES))
def test_group_administrator_writes_to_b(client, org, write):
    url, data = WRITES[write](side_b(org))
    client.force_login(org.admin_group)
    events_before = AuditEvent.objects.count()
    assert client.post(url, data).status_code == 302
    assert AuditEvent.objects.count() == events_before + 1


@pytest.mark.parametrize(
    "page", ["role_assignment_grant", "role_assignment_revoke", "user_password_reset"]
)
def test_post_only_endpoints_refuse_get(client, org, page):
    client.force_login(org.admin_a)
    url, _data = WRITES[page](side_a(org))
    assert client.get(url).status_code == 405
