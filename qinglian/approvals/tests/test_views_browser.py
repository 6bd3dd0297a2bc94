"""The engineering payment end to end in Debian's Chromium on a 375px phone: the handler submits,
the cost auditor approves with one tap in the inbox (htmx), the leader approves on the request's
page, and the handler sees it approved with the whole trail. Nothing the content-security policy
blocks, no request to another host, no sideways scrolling."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from qinglian.approvals.enums import RequestStatus, TaskStatus
from qinglian.approvals.models import ApprovalRequest, ApprovalTask
from qinglian.org.factories import PASSWORD

pytestmark = pytest.mark.browser

PHONE_WIDTH = 375  # the `phone` fixture's viewport (conftest.py)


def test_engineering_payment_on_a_phone(live_server, transactional_db, flow, phone, screenshot):
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

    def sign_in(user):
        page.context.clear_cookies()
        page.goto(live_server.url + reverse("login"))
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.get_by_test_id("current-user")).to_be_attached()

    def fits(name):
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH + 1, (name, width)

    # The handler starts a payment from the inbox.
    sign_in(flow.requester)
    page.goto(live_server.url + reverse("approvals:inbox"))
    fits("inbox-empty")
    page.get_by_test_id("new-request").click()
    expect(page.get_by_test_id("template-link")).to_have_count(1)
    fits("new")
    screenshot(page, "approvals-new-phone")
    page.get_by_test_id("template-link").click()
    page.fill("#id_title", "三号泊位进度款")
    page.fill("#id_amount", "50000")
    page.select_option("#id_project", str(flow.project.pk))
    fits("form")
    screenshot(page, "approvals-submit-form-phone")
    page.get_by_test_id("submit-request").click()
    expect(page.get_by_test_id("request-status")).to_be_visible()
    request = ApprovalRequest.objects.get()
    expect(page).to_have_url(
        re.compile(re.escape(reverse("approvals:detail", args=[request.pk])) + "$")
    )
    expect(page.get_by_test_id("route-step")).to_have_count(3)
    fits("detail-submitted")
    screenshot(page, "approvals-detail-submitted-phone")

    # The cost auditor approves with one tap in the inbox; only the row changes.
    sign_in(flow.cost_1)
    inbox_url = live_server.url + reverse("approvals:inbox")
    page.goto(inbox_url)
    expect(page.get_by_test_id("count-pending")).to_have_text("1")
    fits("inbox-pending")
    screenshot(page, "approvals-inbox-phone")
    page.get_by_test_id("approve-button").click()
    expect(page.locator('[data-testid="task-row"] [data-status="approved"]')).to_be_visible()
    assert page.url == inbox_url  # swapped in place, no navigation
    expect(page.get_by_test_id("count-pending")).to_have_text("0")
    expect(page.get_by_test_id("count-done")).to_have_text("1")
    screenshot(page, "approvals-inbox-approved-phone")
    assert ApprovalTask.objects.get(assignee=flow.cost_1).status == TaskStatus.APPROVED

    # The leader opens the request from the inbox and approves on its page.
    sign_in(flow.leader)
    page.goto(inbox_url)
    page.get_by_test_id("task-link").click()
    expect(page.get_by_test_id("action-panel")).to_be_visible()
    approve = page.get_by_test_id("approve")
    assert approve.bounding_box()["y"] < 812  # one tap, no scrolling
    fits("detail-leader")
    screenshot(page, "approvals-detail-leader-phone")
    page.fill("#approve-comment", "同意支付")
    approve.click()
    expect(page.locator(".alert-success")).to_be_visible()
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED

    # The handler sees it approved, with the whole route and trail.
    sign_in(flow.requester)
    page.goto(inbox_url)
    page.get_by_test_id("tab-submitted").click()  # htmx swaps the list in place
    expect(page).to_have_url(re.compile(r"\?tab=submitted$"))
    expect(page.locator('[data-testid="submitted-row"] [data-status="approved"]')).to_be_visible()
    page.locator('[data-testid="submitted-row"] a').click()
    expect(page.locator('[data-testid="request-status"] [data-status="approved"]')).to_be_visible()
    expect(page.get_by_test_id("trail-entry")).to_have_count(3)
    expect(page.get_by_test_id("trail")).to_contain_text("同意支付")
    expect(page.get_by_test_id("route")).to_contain_text(flow.leader.name)
    expect(page.get_by_test_id("action-panel")).to_have_count(0)
    fits("detail-approved")
    screenshot(page, "approvals-detail-approved-phone")

    assert blocked == []
    assert elsewhere == []
