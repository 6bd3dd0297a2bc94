"""Custom roles: group IT administrators add them; built-in roles stay fixed."""

import json

import pytest
from django.test import Client

from qinglian.audit.models import AuditEvent
from qinglian.core.errors import NotFound, PermissionDenied, ValidationFailed
from qinglian.org import services
from qinglian.org.enums import RoleCode
from qinglian.org.models import Role


def test_group_admin_adds_and_renames_a_custom_role(org):
    role = services.role_create(
        actor=org.admin_group, code="Bidding_Officer", name="招标专员", description="招投标"
    )
    assert role.code == "bidding_officer"
    event = AuditEvent.objects.get(action="org.role.created")
    assert event.chain.key == f"company:{org.group.pk}"
    services.role_update(actor=org.admin_group, role_id=role.pk, name="招采专员")
    assert AuditEvent.objects.get(action="org.role.updated").changes == {
        "name": ["招标专员", "招采专员"]
    }
    services.role_assignment_grant(
        actor=org.admin_a,
        user_id=org.handler_a.pk,
        role_code="bidding_officer",
        company_id=org.company_a.pk,
    )


@pytest.mark.parametrize(
    ("who", "error"),
    [("admin_a", NotFound), ("inspector", PermissionDenied), ("handler_a", NotFound)],
)
def test_only_group_administrators_manage_roles(org, who, error):
    before = (Role.objects.count(), AuditEvent.objects.count())
    with pytest.raises(error):
        services.role_create(actor=getattr(org, who), code="x_role", name="某角色")
    assert (Role.objects.count(), AuditEvent.objects.count()) == before


def test_built_in_roles_are_fixed_and_codes_are_checked(org):
    handler = Role.objects.get(code=RoleCode.HANDLER)
    with pytest.raises(ValidationFailed):
        services.role_update(actor=org.admin_group, role_id=handler.pk, name="随便")
    with pytest.raises(ValidationFailed) as refused:
        services.role_create(actor=org.admin_group, code="9bad code", name="坏")
    assert "code" in refused.value.fields
    with pytest.raises(ValidationFailed):
        services.role_create(actor=org.admin_group, code="handler", name="重复")


@pytest.mark.parametrize(
    ("who", "status", "can_add"),
    [
        ("anonymous", 302, False),
        ("no_role", 200, False),
        ("handler_a", 200, False),
        ("admin_a", 200, False),
        ("inspector", 200, False),
        ("admin_group", 200, True),
    ],
)
def test_role_page_matrix(org, who, status, can_add):
    client = Client()
    if who != "anonymous":
        client.force_login(getattr(org, who))
    page = client.get("/org/roles/")
    assert page.status_code == status
    if status == 200:
        assert ('data-testid="role-create"' in page.content.decode()) is can_add
    posted = client.post("/org/roles/", {"code": "new_role", "name": "新角色"})
    assert Role.objects.filter(code="new_role").exists() is can_add
    if can_add:
        assert posted.status_code == 302
    elif who != "anonymous":
        assert posted.status_code == 403


def test_role_holders_are_counted_within_the_readers_scope(org):
    client = Client()
    client.force_login(org.handler_b)
    rows = {role.code: role.holder_count for role in client.get("/org/roles/").context["roles"]}
    assert rows["handler"] == 1  # handler_b only; handler_a is in company A
    client.force_login(org.inspector)
    rows = {role.code: role.holder_count for role in client.get("/org/roles/").context["roles"]}
    assert rows["handler"] == 2


def test_role_api(org):
    client = Client()
    client.force_login(org.admin_a)
    body = json.dumps({"code": "api_role", "name": "接口角色"})
    assert client.post("/api/org/roles", body, content_type="application/json").status_code == 404
    client.force_login(org.admin_group)
    created = client.post("/api/org/roles", body, content_type="application/json")
    assert created.status_code == 201
    role_id = created.json()["id"]
    patched = client.patch(
        f"/api/org/roles/{role_id}", json.dumps({"name": "改名"}), content_type="application/json"
    )
    assert patched.json()["label"] == "改名"
