"""The structured flow editor in Debian's Chromium on a 375px phone: the group's IT
administrator builds a two-node leave flow with a condition (rows added with htmx, settings
shown only where they apply), saves it, and finds it stored as built. Nothing the
content-security policy blocks, no request to another host, no sideways scrolling."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from qinglian.approvals.models import ApprovalTemplate
from qinglian.org.factories import PASSWORD

pytestmark = pytest.mark.browser

PHONE_WIDTH = 375


def test_a_two_node_flow_with_a_condition_built_on_a_phone(
    live_server, transactional_db, org, phone, screenshot
):
    from playwright.sync_api import expect

    page = phone
    blocked: list[str] = []
    elsewhere: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url)
            if not request.url.startswith((live_server.url, "data:"))
            else None
        ),
    )

    def fits(name):
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH + 1, (name, width)

    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", org.admin_group.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("current-user")).to_be_attached()

    page.goto(live_server.url + reverse("approvals:admin_template_new"))
    fits("editor-new")
    page.fill("#id_code", "leave_short")
    page.fill("#id_name", "短假")

    # The form: the preset reason, then a number of days added with htmx.
    fields = page.get_by_test_id("field-row")
    expect(fields).to_have_count(1)
    fields.nth(0).get_by_test_id("field-label").fill("事由")
    page.get_by_test_id("add-field").click()
    expect(fields).to_have_count(2)
    days = fields.nth(1)
    days.get_by_test_id("field-label").fill("天数")
    days.get_by_test_id("field-key").fill("days")
    days.get_by_test_id("field-type").select_option("number")
    days.get_by_test_id("field-required").check()
    expect(days.get_by_test_id("field-choices")).to_be_hidden()  # only a choice field has them

    # The route: the department head, then the leader in charge above three days.
    nodes = page.get_by_test_id("node-card")
    expect(nodes).to_have_count(1)
    first = nodes.nth(0)
    first.get_by_test_id("node-name").fill("部门负责人")
    first.get_by_test_id("approver-kind").select_option("role")
    expect(first.get_by_test_id("approver-role")).to_be_visible()
    first.get_by_test_id("approver-kind").select_option("department_head")
    expect(first.get_by_test_id("approver-role")).to_be_hidden()
    first.get_by_test_id("node-time-limit").fill("24")
    page.get_by_test_id("add-node").click()
    expect(nodes).to_have_count(2)
    second = nodes.nth(1)
    second.get_by_test_id("node-name").fill("分管领导")
    second.get_by_test_id("approver-kind").select_option("leader_in_charge")
    second.get_by_test_id("add-condition").click()
    condition = nodes.nth(1).get_by_test_id("condition-row")
    expect(condition).to_have_count(1)
    expect(nodes.nth(1).get_by_test_id("node-name")).to_have_value("分管领导")  # kept
    condition.get_by_test_id("condition-field").select_option("days")
    condition.get_by_test_id("condition-op").select_option("gt")
    condition.get_by_test_id("condition-value").fill("3")
    fits("editor-built")
    screenshot(page, "approvals-flow-editor-phone")

    # A wrong value first: the problem ("route node 2, condition 1: value must be a number",
    # in the page's language) is summed up on top and shown on the condition's row.
    condition.get_by_test_id("condition-value").fill("three")
    page.get_by_test_id("save-flow").click()
    summary = page.get_by_test_id("editor-problems").locator("li")
    expect(summary).to_have_count(1)
    expect(summary).to_contain_text(re.compile(r"2\D+1\D"))
    wrong = page.get_by_test_id("node-card").nth(1).get_by_test_id("condition-row")
    expect(wrong.get_by_test_id("row-problems")).to_have_text(summary.inner_text())
    expect(wrong.get_by_test_id("condition-value")).to_have_class(re.compile("is-invalid"))
    expect(wrong.get_by_test_id("condition-value")).to_have_value("three")
    fits("editor-problem")
    screenshot(page, "approvals-flow-editor-problem-phone")
    assert not ApprovalTemplate.objects.filter(code="leave_short").exists()
    page.get_by_test_id("node-card").nth(1).get_by_test_id("condition-value").fill("3")
    page.get_by_test_id("save-flow").click()
    expect(page.get_by_test_id("flow-table")).to_contain_text("短假")

    definition = ApprovalTemplate.objects.get(code="leave_short").current_version.definition
    assert [(f["key"], f["type"], f["required"]) for f in definition["fields"]] == [
        ("reason", "textarea", True),
        ("days", "number", True),
    ]
    assert [(n["name"], n["approver"]["kind"]) for n in definition["route"]] == [
        ("部门负责人", "department_head"),
        ("分管领导", "leader_in_charge"),
    ]
    assert definition["route"][0]["time_limit_hours"] == 24
    assert definition["route"][1]["condition"] == {
        "all": [{"field": "days", "op": "gt", "value": "3"}]
    }

    # The saved flow opens again with its route preview.
    page.goto(live_server.url + reverse("approvals:admin_template_edit", args=["leave_short"]))
    expect(page.get_by_test_id("route-preview")).to_contain_text("分管领导")
    expect(page.get_by_test_id("preview-condition")).to_contain_text("天数")
    fits("editor-saved")
    screenshot(page, "approvals-flow-editor-saved-phone")
    assert blocked == []
    assert elsewhere == []
