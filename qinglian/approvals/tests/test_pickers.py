"""Pickers for people without roles: an employee with no role assignment (an empty data scope)
still names colleagues, departments and projects of their own company on a request — on the
page and through the API — and never another company's."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from qinglian.approvals import selectors, services
from qinglian.approvals.models import ApprovalRequest, ApprovalTask
from qinglian.audit.models import AuditEvent
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import ValidationFailed
from qinglian.org.factories import make_department, make_project, make_user

pytestmark = pytest.mark.usefixtures("english")

NEW = "/approvals/new/seal/"


@pytest.fixture
def seal(org):
    """A seal-use flow naming a colleague, a department, a project and people in detail rows;
    approved by company A's handler. Plus B's department and project to be refused."""
    services.template_save(
        actor=SYSTEM_ACTOR,
        code="seal",
        name="用印申请",
        definition={
            "fields": [
                {"key": "colleague", "label": "经办同事", "type": "person", "required": True},
                {"key": "department", "label": "用印部门", "type": "department"},
                {"key": "project", "label": "工程项目", "type": "project"},
                {
                    "key": "items",
                    "label": "用印明细",
                    "type": "rows",
                    "columns": [
                        {"key": "what", "label": "文件", "type": "text"},
                        {"key": "who", "label": "经手人", "type": "person"},
                    ],
                },
            ],
            "route": [
                {
                    "key": "office",
                    "name": "办公室",
                    "approver": {"kind": "users", "users": [org.handler_a.pk]},
                }
            ],
        },
    )
    return {
        "department_b": org.department_b,
        "project_b": make_project(company=org.company_b, leader=org.handler_b),
        "department_a2": make_department(company=org.company_a, name="甲办公室"),
    }


def options(html, name):
    """The option values of the <select name=…> on a page."""
    found = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert found, name
    return {int(value) for value in re.findall(r'<option value="(\d+)"', found.group(1))}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def api_submit(client, form_data):
    body = {"template_code": "seal", "form_data": form_data}
    return client.post("/api/approvals/requests", json.dumps(body), content_type="application/json")


def nothing_happened(before):
    assert ApprovalRequest.objects.count() == before["requests"]
    assert AuditEvent.objects.count() == before["audit"]


def counts():
    return {"requests": ApprovalRequest.objects.count(), "audit": AuditEvent.objects.count()}


# ---------------------------------------------------------------- the selectors


def test_an_employee_without_a_role_names_their_own_company_only(org, seal):
    no_role = org.no_role
    people = set(selectors.person_choice_list(user=no_role).values_list("pk", flat=True))
    assert org.handler_a.pk in people and org.admin_a.pk in people and no_role.pk in people
    assert org.handler_b.pk not in people and org.admin_group.pk not in people
    departments = set(selectors.department_choice_list(user=no_role).values_list("pk", flat=True))
    assert departments == {org.department_a.pk, seal["department_a2"].pk}
    projects = set(selectors.project_choice_list(user=no_role).values_list("pk", flat=True))
    assert projects == {org.project_a.pk}


def test_the_scope_adds_to_the_own_company_and_inactive_people_are_not_offered(org, seal):
    # B's handler: their role covers B only.
    people = set(selectors.person_choice_list(user=org.handler_b).values_list("pk", flat=True))
    assert org.handler_b.pk in people and org.handler_a.pk not in people
    # The group-wide inspector: everybody.
    everyone = set(selectors.person_choice_list(user=org.inspector).values_list("pk", flat=True))
    assert {org.handler_a.pk, org.handler_b.pk, org.no_role.pk} <= everyone
    left = make_user(company=org.company_a, name="已离职")
    left.is_active = False
    left.save()
    assert not selectors.person_choice_list(user=org.no_role).filter(pk=left.pk).exists()
    # Anonymous: nothing.
    from django.contrib.auth.models import AnonymousUser

    assert not selectors.person_choice_list(user=AnonymousUser()).exists()


# ---------------------------------------------------------------- the page


def test_the_request_form_offers_the_own_company_to_an_employee_without_a_role(org, seal):
    client = client_for(org.no_role)
    html = client.get(NEW).content.decode()
    colleagues = options(html, "colleague")
    assert org.handler_a.pk in colleagues and org.handler_b.pk not in colleagues
    assert options(html, "department") == {org.department_a.pk, seal["department_a2"].pk}
    assert options(html, "project") == {org.project_a.pk}
    assert org.handler_a.pk in options(html, "items-1-who")

    response = client.post(
        NEW,
        {
            "colleague": org.handler_a.pk,
            "department": seal["department_a2"].pk,
            "project": org.project_a.pk,
            "items-1-what": "合同",
            "items-1-who": org.admin_a.pk,
        },
    )
    assert response.status_code == 302
    request = ApprovalRequest.objects.get()
    assert request.requester == org.no_role
    assert request.form_data["colleague"] == org.handler_a.pk
    assert request.form_data["items"] == [{"what": "合同", "who": org.admin_a.pk}]
    # The requester sees the names on their request, not numbers.
    page = client.get(f"/approvals/{request.pk}/").content.decode()
    assert "甲经办" in page and "甲办公室" in page and f"#{org.handler_a.pk}" not in page


@pytest.mark.parametrize("field", ["colleague", "department", "project", "items-1-who"])
def test_another_companys_record_posted_on_the_page_is_refused_on_its_field(org, seal, field):
    client = client_for(org.no_role)
    data = {"colleague": org.handler_a.pk, "items-1-what": "合同"}
    data[field] = {
        "colleague": org.handler_b.pk,
        "department": seal["department_b"].pk,
        "project": seal["project_b"].pk,
        "items-1-who": org.handler_b.pk,
    }[field]
    before = counts()
    response = client.post(NEW, data)
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
    nothing_happened(before)


# ---------------------------------------------------------------- the API and the service


def test_the_api_accepts_the_own_company(org, seal):
    response = api_submit(
        client_for(org.no_role),
        {
            "colleague": org.handler_a.pk,
            "department": org.department_a.pk,
            "project": org.project_a.pk,
            "items": [{"what": "合同", "who": org.handler_a.pk}],
        },
    )
    assert response.status_code == 201, response.content
    assert ApprovalTask.objects.get().assignee == org.handler_a


@pytest.mark.parametrize(
    ("form_data", "field"),
    [
        ({"colleague": "handler_b"}, "colleague"),
        ({"department": "department_b"}, "department"),
        ({"project": "project_b"}, "project"),
        ({"items": [{"what": "合同"}, {"what": "章程", "who": "handler_b"}]}, "items.2.who"),
        ({"colleague": 999999}, "colleague"),
    ],
)
def test_the_api_refuses_another_companys_record_and_names_the_field(org, seal, form_data, field):
    records = {
        "handler_b": org.handler_b.pk,
        "department_b": seal["department_b"].pk,
        "project_b": seal["project_b"].pk,
    }

    def resolve(value):
        if isinstance(value, list):
            return [{key: resolve(cell) for key, cell in row.items()} for row in value]
        return records.get(value, value)

    data = {"colleague": org.handler_a.pk, **{k: resolve(v) for k, v in form_data.items()}}
    before = counts()
    response = api_submit(client_for(org.no_role), data)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["fields"] == {field: ["Not found."]}
    nothing_happened(before)


def test_the_other_company_cannot_name_this_one(org, seal):
    """B's handler (scope: B) cannot name A's people on a request of their own."""
    with pytest.raises(ValidationFailed) as refused:
        services.request_submit(
            actor=org.handler_b, template_code="seal", form_data={"colleague": org.handler_a.pk}
        )
    assert refused.value.fields == {"colleague": ["Not found."]}
    assert not ApprovalRequest.objects.exists()


def test_an_approver_without_a_role_transfers_to_a_colleague_of_the_requests_company(org, seal):
    request = services.request_submit(
        actor=org.no_role, template_code="seal", form_data={"colleague": org.admin_a.pk}
    )
    colleague = make_user(company=org.company_a, name="甲同事")  # no role either
    task = ApprovalTask.objects.get(request=request)
    services.task_transfer(actor=org.handler_a, task_id=task.pk, to_user_id=colleague.pk)
    client = client_for(colleague)
    html = client.get(f"/approvals/{request.pk}/").content.decode()
    offered = options(html, "to_user")
    assert org.admin_a.pk in offered and org.handler_a.pk in offered
    assert org.handler_b.pk not in offered
    assert colleague.pk not in offered and org.no_role.pk not in offered  # self, requester
    assert org.handler_b.pk not in options(html, "user")  # add signer
    new_task = ApprovalTask.objects.get(request=request, assignee=colleague)
    response = client.post(f"/approvals/tasks/{new_task.pk}/transfer/", {"to_user": org.admin_a.pk})
    assert response.status_code == 302
    assert ApprovalTask.objects.filter(request=request, assignee=org.admin_a).exists()
