"""Editing approval flows in the UI: group IT administrators only; a change is a new version."""

import json

import pytest
from django.test import Client

from qinglian.approvals.models import ApprovalTemplate
from qinglian.approvals.tests.conftest import PAYMENT_DEFINITION

pytestmark = pytest.mark.usefixtures("english")


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def post_flow(client, url, definition, raw_definition=None):
    return client.post(
        url,
        {
            "code": "payment",
            "name": "工程款支付",
            "category": "工程",
            "self_approval_rule": "superior",
            "skip_repeated_approver": "on",
            "resume_at_returning_node": "on",
            "is_active": "on",
            "definition": raw_definition or json.dumps(definition, ensure_ascii=False),
        },
    )


@pytest.mark.parametrize("who", ["handler_a", "admin_a", "inspector"])
def test_only_group_administrators_edit_flows(org, flow, who):
    client = client_for(getattr(org, who))
    assert client.get("/approvals/admin/").status_code == 403
    changed = {**PAYMENT_DEFINITION, "route": PAYMENT_DEFINITION["route"][:1]}
    assert post_flow(client, "/approvals/admin/payment/", changed).status_code == 403
    assert ApprovalTemplate.objects.get(code="payment").current_version.number == 1


def test_a_changed_route_is_a_new_version(org, flow):
    client = client_for(org.admin_group)
    page = client.get("/approvals/admin/payment/")
    assert page.status_code == 200
    assert "造价审核" in page.content.decode()
    changed = {**PAYMENT_DEFINITION, "route": PAYMENT_DEFINITION["route"][:2]}
    response = post_flow(client, "/approvals/admin/payment/", changed)
    assert response.status_code == 302
    template = ApprovalTemplate.objects.get(code="payment")
    assert template.current_version.number == 2
    assert [n["key"] for n in template.current_version.definition["route"]] == ["cost", "leader"]


def test_a_bad_definition_is_refused_with_its_path(org, flow):
    client = client_for(org.admin_group)
    bad = {**PAYMENT_DEFINITION, "route": [{"key": "x", "name": "X", "approver": {"kind": "role"}}]}
    response = post_flow(client, "/approvals/admin/payment/", bad)
    assert response.status_code == 200
    assert "route.0.approver" in response.content.decode()
    response = post_flow(client, "/approvals/admin/payment/", {}, raw_definition="{not json")
    assert "Not valid JSON" in response.content.decode()
    assert ApprovalTemplate.objects.get(code="payment").current_version.number == 1
