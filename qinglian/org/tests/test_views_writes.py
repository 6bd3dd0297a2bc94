"""Happy paths and refusals the pages show on the form: the effect, the audit event, the message."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from qinglian.audit.models import AuditEvent
from qinglian.org.enums import CompanyKind, ProjectStatus, RoleCode
from qinglian.org.factories import PASSWORD, make_department, make_uscc
from qinglian.org.models import Company, Department, Project, RoleAssignment, User

from .test_views import db_state

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def admin_client(client, org):
    client.force_login(org.admin_a)
    return client


def _last_event(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).latest("id")


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# ---------------------------------------------------------------- companies


def test_admin_creates_a_subsidiary_under_their_company(admin_client, org):
    response = admin_client.post(
        reverse("org:company_create", args=[org.company_a.pk]),
        {"code": "A1", "name": "甲一公司", "uscc": make_uscc(91_001), "address": "杭州"},
    )
    company = Company.objects.get(code="A1")
    assert response.status_code == 302
    assert response.url == reverse("org:company_detail", args=[company.pk])
    assert (company.parent_id, company.kind, company.depth) == (
        org.company_a.pk,
        CompanyKind.SUBSIDIARY,
        2,
    )
    assert company.path == f"{org.company_a.path}{company.pk}/"
    event = _last_event("org.company.created")
    assert (event.object_type, event.object_id, event.actor_id) == (
        "org.company",
        str(company.pk),
        org.admin_a.pk,
    )
    assert _messages(response) == ["Company “甲一公司” created."]


def test_company_create_shows_service_errors_on_the_form(admin_client, org):
    before = db_state()
    response = admin_client.post(
        reverse("org:company_create", args=[org.company_a.pk]),
        {"code": "A1", "name": org.company_b.name, "uscc": "91330100MA2T00000X"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) >= {"name", "uscc"}
    assert db_state() == before


def test_admin_edits_company_and_the_version_moves(admin_client, org):
    company = org.company_a
    version = company.version
    response = admin_client.post(
        reverse("org:company_edit", args=[company.pk]),
        {
            "code": company.code,
            "name": "甲公司（新）",
            "uscc": company.uscc,
            "short_name": "甲",
            "address": "新地址",
            "is_active": "on",
            "version": company.version,
        },
    )
    assert response.status_code == 302
    company.refresh_from_db()
    assert (company.name, company.short_name, company.address) == ("甲公司（新）", "甲", "新地址")
    assert company.version == version + 1
    event = _last_event("org.company.updated")
    assert event.changes["name"] == ["甲公司", "甲公司（新）"]


def test_company_edit_with_a_stale_version_shows_the_conflict(admin_client, org):
    company = org.company_a
    url = reverse("org:company_edit", args=[company.pk])
    form = admin_client.get(url).context["form"]
    stale = {name: form[name].value() for name in form.fields}
    stale["is_active"] = "on"
    admin_client.post(url, {**stale, "address": "第一次修改"})  # someone else, first
    before = db_state()
    response = admin_client.post(url, {**stale, "address": "第二次修改"})
    assert response.status_code == 200
    assert "Someone else changed this record meanwhile" in response.content.decode()
    assert db_state() == before
    company.refresh_from_db()
    assert company.address == "第一次修改"


def test_the_group_cannot_be_deactivated(client, org):
    client.force_login(org.admin_group)
    group = org.group
    before = db_state()
    response = client.post(
        reverse("org:company_edit", args=[group.pk]),
        {"code": group.code, "name": group.name, "uscc": group.uscc, "version": group.version},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["is_active"] == ["The group cannot be deactivated."]
    assert db_state() == before


def test_company_edit_form_is_prefilled(admin_client, org):
    response = admin_client.get(reverse("org:company_edit", args=[org.company_a.pk]))
    form = response.context["form"]
    assert form["name"].value() == "甲公司"
    assert form["version"].value() == org.company_a.version
    assert 'type="hidden" name="version"' in response.content.decode()


# ---------------------------------------------------------------- departments


def test_admin_creates_a_sub_department_with_a_head(admin_client, org):
    response = admin_client.post(
        reverse("org:department_create", args=[org.company_a.pk]),
        {"code": "SUB", "name": "一组", "parent": org.department_a.pk, "head": org.handler_a.pk},
    )
    assert response.status_code == 302
    assert response.url == reverse("org:department_list") + f"?company={org.company_a.pk}"
    department = Department.objects.get(code="SUB")
    assert (department.company_id, department.parent_id, department.head_id) == (
        org.company_a.pk,
        org.department_a.pk,
        org.handler_a.pk,
    )
    assert _last_event("org.department.created").object_id == str(department.pk)


def test_department_choices_stay_in_the_company(admin_client, org):
    response = admin_client.get(reverse("org:department_create", args=[org.company_a.pk]))
    form = response.context["form"]
    assert list(form.fields["parent"].queryset) == [org.department_a]
    heads = set(form.fields["head"].queryset)
    assert org.handler_a in heads and org.handler_b not in heads
    before = db_state()
    response = admin_client.post(
        reverse("org:department_create", args=[org.company_a.pk]),
        {"code": "X", "name": "越界", "parent": org.department_b.pk, "head": org.handler_b.pk},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"parent", "head"}
    assert db_state() == before


def test_department_cannot_move_under_its_own_child(admin_client, org):
    child = make_department(company=org.company_a, name="子部门", parent_id=org.department_a.pk)
    department = org.department_a
    url = reverse("org:department_edit", args=[department.pk])
    offered = set(admin_client.get(url).context["form"].fields["parent"].queryset)
    assert child not in offered and department not in offered
    before = db_state()
    response = admin_client.post(
        url,
        {
            "code": department.code,
            "name": department.name,
            "parent": child.pk,
            "is_active": "on",
            "version": department.version,
        },
    )
    assert response.status_code == 200
    assert "parent" in response.context["form"].errors
    assert db_state() == before


def test_admin_deactivates_a_department_and_changes_its_head(admin_client, org):
    department = org.department_a
    response = admin_client.post(
        reverse("org:department_edit", args=[department.pk]),
        {
            "code": department.code,
            "name": "甲工程一部",
            "head": org.admin_a.pk,
            "version": department.version,
        },
    )
    assert response.status_code == 302
    department.refresh_from_db()
    assert (department.name, department.head_id, department.is_active) == (
        "甲工程一部",
        org.admin_a.pk,
        False,
    )
    assert _last_event("org.department.updated").changes["is_active"] == [True, False]


def test_department_edit_with_a_stale_version_is_refused(admin_client, org):
    department = org.department_a
    before = db_state()
    response = admin_client.post(
        reverse("org:department_edit", args=[department.pk]),
        {"code": department.code, "name": "改名", "version": department.version + 5},
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Someone else changed this record meanwhile; reload and try again."
    ]
    assert db_state() == before


# ---------------------------------------------------------------- users


def test_admin_creates_a_person_who_cannot_sign_in_yet(admin_client, org):
    response = admin_client.post(
        reverse("org:user_create", args=[org.company_a.pk]),
        {
            "username": "zhangsan",
            "employee_number": "E77777",
            "name": "张三",
            "department": org.department_a.pk,
            "phone": "13900000000",
            "email": "zhangsan@example.com",
        },
    )
    person = User.objects.get(username="zhangsan")
    assert response.status_code == 302
    assert response.url == reverse("org:user_detail", args=[person.pk])
    assert (person.company_id, person.department_id, person.phone) == (
        org.company_a.pk,
        org.department_a.pk,
        "13900000000",
    )
    assert not person.has_usable_password()
    assert _last_event("org.user.created").object_id == str(person.pk)


def test_admin_creates_a_person_with_an_initial_password(admin_client, org):
    admin_client.post(
        reverse("org:user_create", args=[org.company_a.pk]),
        {"username": "lisi", "employee_number": "E77778", "name": "李四", "password": PASSWORD},
    )
    assert User.objects.get(username="lisi").check_password(PASSWORD)


def test_user_create_reports_a_taken_username_and_a_weak_password(admin_client, org):
    before = db_state()
    response = admin_client.post(
        reverse("org:user_create", args=[org.company_a.pk]),
        {"username": "handler_b", "employee_number": "E77779", "name": "重名"},
    )
    assert response.status_code == 200
    assert "username" in response.context["form"].errors
    response = admin_client.post(
        reverse("org:user_create", args=[org.company_a.pk]),
        {"username": "wangwu", "employee_number": "E77779", "name": "王五", "password": "123"},
    )
    assert "password" in response.context["form"].errors
    assert db_state() == before


def test_admin_deactivates_a_person(admin_client, org):
    person = org.handler_a
    response = admin_client.post(
        reverse("org:user_edit", args=[person.pk]),
        {
            "username": person.username,
            "employee_number": person.employee_number,
            "name": person.name,
            "company": org.company_a.pk,
            "department": org.department_a.pk,
            "version": person.version,
        },
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.is_active is False
    assert _last_event("org.user.updated").changes["is_active"] == [True, False]


def test_admin_cannot_deactivate_themselves(admin_client, org):
    me = org.admin_a
    before = db_state()
    response = admin_client.post(
        reverse("org:user_edit", args=[me.pk]),
        {
            "username": me.username,
            "employee_number": me.employee_number,
            "name": me.name,
            "company": org.company_a.pk,
            "version": me.version,
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["is_active"] == ["You cannot deactivate yourself."]
    assert db_state() == before


def test_user_edit_offers_only_administered_companies(admin_client, org):
    form = admin_client.get(reverse("org:user_edit", args=[org.handler_a.pk])).context["form"]
    assert list(form.fields["company"].queryset) == [org.company_a]
    assert list(form.fields["department"].queryset) == [org.department_a]


def test_user_edit_with_a_stale_version_is_refused(admin_client, org):
    person = org.handler_a
    before = db_state()
    response = admin_client.post(
        reverse("org:user_edit", args=[person.pk]),
        {
            "username": person.username,
            "employee_number": person.employee_number,
            "name": "改名",
            "company": org.company_a.pk,
            "is_active": "on",
            "version": person.version - 1,
        },
    )
    assert response.status_code == 200
    assert "Someone else changed this record" in response.content.decode()
    assert db_state() == before


def test_admin_resets_a_password(admin_client, org):
    response = admin_client.post(
        reverse("org:user_password_reset", args=[org.handler_a.pk]),
        {"password": "Brand-new-2025", "password_confirm": "Brand-new-2025"},
    )
    assert response.status_code == 302
    org.handler_a.refresh_from_db()
    assert org.handler_a.check_password("Brand-new-2025")
    event = _last_event("org.user.password_reset")
    assert event.changes == {"password": ["***", "***"]}


@pytest.mark.parametrize(
    ("password", "confirm", "field"),
    [("Brand-new-2025", "Brand-new-2026", "password_confirm"), ("short1", "short1", "password")],
)
def test_password_reset_errors_come_back_on_the_detail_page(
    admin_client, org, password, confirm, field
):
    before = db_state()
    response = admin_client.post(
        reverse("org:user_password_reset", args=[org.handler_a.pk]),
        {"password": password, "password_confirm": confirm},
    )
    assert response.status_code == 200
    assert response.templates[0].name == "org/user_detail.html"
    assert field in response.context["password_form"].errors
    assert db_state() == before


def test_admin_grants_and_revokes_a_role(admin_client, org):
    person = org.handler_a
    response = admin_client.post(
        reverse("org:role_assignment_grant", args=[person.pk]),
        {"role": RoleCode.PURCHASER.value, "company": org.company_a.pk},
    )
    assert response.status_code == 302
    assignment = RoleAssignment.objects.get(user=person, role__code=RoleCode.PURCHASER)
    assert (assignment.company_id, assignment.include_subtree, assignment.granted_by_id) == (
        org.company_a.pk,
        False,
        org.admin_a.pk,
    )
    assert _last_event("org.role_assignment.granted").object_id == str(assignment.pk)

    response = admin_client.post(reverse("org:role_assignment_revoke", args=[assignment.pk]))
    assert response.status_code == 302
    assert response.url == reverse("org:user_detail", args=[person.pk])
    assert not RoleAssignment.objects.filter(pk=assignment.pk).exists()
    assert _last_event("org.role_assignment.revoked").object_id == str(assignment.pk)


def test_granting_a_role_twice_shows_the_conflict(admin_client, org):
    before = db_state()
    response = admin_client.post(
        reverse("org:role_assignment_grant", args=[org.handler_a.pk]),
        {"role": RoleCode.HANDLER.value, "company": org.company_a.pk, "include_subtree": "on"},
    )
    assert response.status_code == 200
    assert response.context["grant_form"].non_field_errors() == [
        "This user already holds this role for this company."
    ]
    assert db_state() == before


def test_segregation_of_duties_shows_on_the_role_field(client, org):
    client.force_login(org.admin_group)
    before = db_state()
    response = client.post(
        reverse("org:role_assignment_grant", args=[org.admin_a.pk]),
        {"role": RoleCode.INSPECTOR.value, "company": org.company_a.pk},
    )
    assert response.status_code == 200
    assert "role" in response.context["grant_form"].errors
    assert db_state() == before


def test_nobody_makes_themselves_administrator_or_drops_their_own_admin_role(admin_client, org):
    before = db_state()
    response = admin_client.post(
        reverse("org:role_assignment_grant", args=[org.admin_a.pk]),
        {"role": RoleCode.IT_ADMIN.value, "company": org.company_a.pk},
    )
    assert response.status_code == 200
    assert "role" in response.context["grant_form"].errors  # not even offered
    own = RoleAssignment.objects.get(user=org.admin_a, role__code=RoleCode.IT_ADMIN)
    response = admin_client.post(reverse("org:role_assignment_revoke", args=[own.pk]))
    assert response.status_code == 403
    assert db_state() == before
    page = admin_client.get(reverse("org:user_detail", args=[org.admin_a.pk])).content.decode()
    assert "revoke-role" not in page
    assert 'value="it_admin"' not in page


def test_user_detail_shows_actions_only_to_the_administrator(client, org):
    url = reverse("org:user_detail", args=[org.handler_a.pk])
    client.force_login(org.admin_a)
    page = client.get(url).content.decode()
    for marker in ("edit-user", "revoke-role", "grant-form", "password-form", "data-confirm="):
        assert marker in page
    for reader in (org.handler_a, org.inspector):
        client.force_login(reader)
        page = client.get(url).content.decode()
        for marker in ("edit-user", "revoke-role", "grant-form", "password-form"):
            assert marker not in page


# ---------------------------------------------------------------- projects


def test_admin_creates_and_edits_a_project(admin_client, org):
    response = admin_client.post(
        reverse("org:project_create", args=[org.company_a.pk]),
        {
            "code": "P-NEW",
            "name": "新厂房",
            "leader": org.handler_a.pk,
            "department": org.department_a.pk,
            "status": ProjectStatus.PLANNED,
            "budget": "2500000.50",
            "start_date": "2025-03-01",
            "end_date": "2026-03-01",
            "description": "一期",
        },
    )
    project = Project.objects.get(code="P-NEW")
    assert response.status_code == 302
    assert response.url == reverse("org:project_detail", args=[project.pk])
    assert str(project.budget) == "2500000.50"
    assert project.leader_id == org.handler_a.pk
    assert _last_event("org.project.created").object_id == str(project.pk)

    response = admin_client.post(
        reverse("org:project_edit", args=[project.pk]),
        {
            "code": "P-NEW",
            "name": "新厂房",
            "leader": org.admin_a.pk,
            "status": ProjectStatus.ACTIVE,
            "version": project.version,
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.leader_id, project.status, project.budget, project.department_id) == (
        org.admin_a.pk,
        ProjectStatus.ACTIVE,
        None,
        None,
    )
    assert _last_event("org.project.updated").changes["leader_id"] == [
        org.handler_a.pk,
        org.admin_a.pk,
    ]


def test_project_form_refuses_an_end_before_the_start_and_a_foreign_leader(admin_client, org):
    before = db_state()
    response = admin_client.post(
        reverse("org:project_create", args=[org.company_a.pk]),
        {
            "code": "P-BAD",
            "name": "错误",
            "leader": org.handler_b.pk,
            "status": ProjectStatus.ACTIVE,
            "start_date": "2025-05-01",
            "end_date": "2025-04-01",
        },
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"leader", "end_date"}
    assert db_state() == before


def test_project_edit_with_a_stale_version_is_refused(admin_client, org):
    project = org.project_a
    before = db_state()
    response = admin_client.post(
        reverse("org:project_edit", args=[project.pk]),
        {
            "code": project.code,
            "name": "改名",
            "leader": project.leader_id,
            "status": project.status,
            "version": project.version + 1,
        },
    )
    assert response.status_code == 200
    assert "Someone else changed this record" in response.content.decode()
    assert db_state() == before
