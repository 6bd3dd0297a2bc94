"""The closed loop in Debian's Chromium on a 375px phone: the inspector runs the rules from the
dashboard (ECharts, served locally), drills from a chart into the findings, opens a case on the
amounts clustered below a threshold, the subsidiary's general manager submits the rectification
with a file, and the inspector verifies and closes it. Nothing the content-security policy
blocks, no request to another host, no sideways scrolling.

(Split purchases, rule 2, come with the trading app's selectors; threshold clustering stands in
for them here.)"""

import re

import pytest
from django.urls import reverse

from qinglian.org.factories import PASSWORD
from qinglian.supervision.enums import CaseStatus, FindingStatus
from qinglian.supervision.models import Case, Finding
from qinglian.supervision.tests.conftest import days_ago, history_request

pytestmark = pytest.mark.browser

PHONE_WIDTH = 375


def test_closed_loop_on_a_phone(
    live_server, transactional_db, org, flows, phone, screenshot, tmp_path
):
    from playwright.sync_api import expect

    for days, amount in ((20, "990000.00"), (12, "985000.00"), (5, "999000.00")):
        history_request(requester=org.handler_a, amount=amount, submitted_at=days_ago(days))
    page = phone
    blocked: list[tuple[str, str]] = []
    elsewhere: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append((page.url, message.text[:60]))
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url)
            if not request.url.startswith((live_server.url, "data:", "blob:"))
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

    # The inspector runs the rules from the dashboard; the charts draw.
    sign_in(org.inspector)
    page.goto(live_server.url + reverse("supervision:dashboard"))
    page.get_by_test_id("run-now").first.click()
    expect(page.locator(".alert-success")).to_be_visible()
    page.goto(live_server.url + reverse("supervision:dashboard"))
    expect(page.locator('[data-chart-id="by-rule"][data-rendered="true"]')).to_be_attached()
    expect(page.locator('[data-chart-id="by-rule"] canvas')).to_have_count(1)
    expect(page.get_by_test_id("kpi-findings")).to_contain_text("1")
    fits("dashboard")
    screenshot(page, "supervision-dashboard-phone")

    # A click on the rule's bar drills down to the findings of that rule.
    chart = page.locator('[data-chart-id="by-rule"]')
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    expect(page).to_have_url(re.compile(r"/supervision/findings/\?rule=threshold_clustering$"))
    expect(page.get_by_test_id("finding-row")).to_have_count(1)
    fits("findings")
    page.get_by_test_id("finding-row").click()
    finding = Finding.objects.get()
    expect(page.get_by_test_id("finding-summary")).to_contain_text("3")
    expect(page.get_by_test_id("document-link")).to_have_count(3)
    fits("finding")
    screenshot(page, "supervision-finding-phone")

    # The inspector opens a case for company A's engineering department.
    page.get_by_test_id("open-case").click()
    page.select_option("#id_department", str(org.department_a.pk))
    page.fill("#id_instructions", "说明拆分原因，按合同金额整体报批，并对经办人进行提醒谈话。")
    fits("case-open")
    page.get_by_test_id("submit-case").click()
    expect(page.get_by_test_id("case-status")).to_be_visible()
    case = Case.objects.get()
    expect(page).to_have_url(
        re.compile(re.escape(reverse("supervision:case_detail", args=[case.pk])) + "$")
    )

    # The subsidiary's general manager finds the case and submits the rectification.
    sign_in(flows.manager_a)
    page.goto(live_server.url + reverse("supervision:case_list"))
    expect(page.get_by_test_id("case-row")).to_have_count(1)
    fits("unit-cases")
    page.get_by_test_id("case-row").click()
    page.fill("#id_text", "已组织整改：三笔付款按合同整体重新报批，经办人已谈话提醒。")
    evidence = tmp_path / "整改报告.txt"
    evidence.write_text("整改报告", encoding="utf-8")
    page.set_input_files("#id_attachments", str(evidence))
    fits("rectify")
    screenshot(page, "supervision-rectify-phone")
    page.get_by_test_id("submit-rectification").click()
    expect(page.locator(".supervision-case-verifying")).to_be_visible()
    expect(page.get_by_test_id("attachment-link")).to_have_count(1)

    # The inspector verifies and closes the case.
    sign_in(org.inspector)
    page.goto(live_server.url + reverse("supervision:case_detail", args=[case.pk]))
    page.check("input[name=decision][value=accept]")
    page.fill("#id_comment", "整改到位。")
    page.get_by_test_id("submit-verification").click()
    expect(page.get_by_test_id("verdict")).to_be_visible()
    fits("closed")
    screenshot(page, "supervision-case-closed-phone")
    case.refresh_from_db()
    finding.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    assert finding.status == FindingStatus.CLOSED
    assert blocked == [], sorted(set(blocked))
    assert elsewhere == []
