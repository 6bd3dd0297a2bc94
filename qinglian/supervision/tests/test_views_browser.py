"""The closed loop in Debian's Chromium on a 375px phone, on a split purchase (rule 2): company
A signed three purchase contracts within a month with two steel suppliers that share a bank
account, each under the contract flow's 1,000,000-yuan threshold, together over it. The
inspector runs the rules from the dashboard (ECharts, served locally), drills from the
findings-by-rule chart into the split-purchase finding, opens a case for company A, A's general
manager submits the rectification with a file, and the inspector verifies and closes it.
Nothing the content-security policy blocks, no request to another host, no sideways
scrolling."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import translation

from qinglian.org.factories import PASSWORD
from qinglian.supervision import registry
from qinglian.supervision.enums import CaseStatus, FindingStatus
from qinglian.supervision.models import Case, Finding
from qinglian.trading.factories import make_contract, make_partner

pytestmark = pytest.mark.browser

PHONE_WIDTH = 375
RULE = "split_purchases"


def test_closed_loop_on_a_split_purchase_on_a_phone(
    live_server, transactional_db, org, trading, money_flows, frozen, phone, screenshot, tmp_path
):
    from playwright.sync_api import expect

    # Two suppliers, one bank account (written differently): one counterparty in disguise.
    tangshan = make_partner(
        company=org.group, name="唐山钢铁贸易有限公司", bank_account="6222 0012 3456 7890"
    )
    jidong = make_partner(
        company=org.group, name="冀东钢材经销部", bank_account="6222-0012-3456-7890"
    )

    def purchase(partner, amount, signed_on, company=None):
        return make_contract(
            company=company or org.company_a,
            partner=partner,
            owner=trading.purchaser_a,
            lines=[(trading.steel, "1", amount)],
            signed_on=datetime.date(2026, 2, signed_on),
        )

    split = [
        purchase(tangshan, "380000.00", 10),
        purchase(jidong, "360000.00", 18),
        purchase(tangshan, "340000.00", 27),
    ]
    purchase(tangshan, "380000.00", 12, company=org.company_b)  # B's alone: under the threshold
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
    finding = Finding.objects.get(rule_code=RULE)
    with translation.override("zh-hans"):
        title = str(registry.rule_get(RULE).title)
    page.goto(live_server.url + reverse("supervision:dashboard"))
    chart = page.locator('[data-chart-id="by-rule"][data-rendered="true"]')
    expect(chart).to_be_attached()
    expect(chart.locator("canvas")).to_have_count(1)
    expect(page.get_by_test_id("kpi-findings")).to_contain_text(str(Finding.objects.count()))
    fits("dashboard")
    screenshot(page, "supervision-split-dashboard-phone")

    # A tap on rule 2's bar drills down to the findings of that rule.
    chart.scroll_into_view_if_needed()
    table = page.get_by_test_id("chart-table-by-rule")
    labels = [text.strip() for text in table.locator("tbody th").all_text_contents()]
    assert f"2. {title}" in labels, labels
    row = labels.index(f"2. {title}")
    point = page.evaluate(
        """([row]) => {
            const element = document.querySelector('[data-chart-id="by-rule"]');
            const chart = window.echarts.getInstanceByDom(element);
            const value = chart.getOption().series[0].data[row].value;
            return chart.convertToPixel({seriesIndex: 0}, [value / 2, row]);
        }""",
        [row],
    )
    box = chart.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    expect(page).to_have_url(re.compile(rf"/supervision/findings/\?rule={RULE}$"))
    expect(page.get_by_test_id("finding-row")).to_have_count(1)
    expect(page.get_by_test_id("finding-row")).to_contain_text(f"2. {title}")
    fits("findings")
    page.get_by_test_id("finding-row").click()
    expect(page).to_have_url(
        re.compile(re.escape(reverse("supervision:finding_detail", args=[finding.pk])) + "$")
    )
    expect(page.get_by_test_id("rule-explanation")).to_contain_text(title)
    summary = page.get_by_test_id("finding-summary")
    expect(summary).to_contain_text(tangshan.name)
    expect(summary).to_contain_text(jidong.name)
    expect(summary).to_contain_text("1,080,000.00")
    # The three contracts and both suppliers; B's contract is no part of it.
    expect(page.get_by_test_id("document-link")).to_have_text(
        [contract.number for contract in split] + [tangshan.name, jidong.name]
    )
    fits("finding")
    screenshot(page, "supervision-split-finding-phone")

    # The inspector opens a case for company A as a whole (no department).
    page.get_by_test_id("open-case").click()
    expect(page.locator("#id_company")).to_have_value(str(org.company_a.pk))
    page.select_option("#id_department", "")
    page.fill(
        "#id_instructions",
        "说明三份钢材采购合同拆分签订的原因，按合同总额补办审批，并对经办人进行提醒谈话。",
    )
    fits("case-open")
    page.get_by_test_id("submit-case").click()
    expect(page.get_by_test_id("case-status")).to_be_visible()
    case = Case.objects.get()
    assert (case.finding_id, case.company_id, case.department_id) == (
        finding.pk,
        org.company_a.pk,
        None,
    )
    expect(page).to_have_url(
        re.compile(re.escape(reverse("supervision:case_detail", args=[case.pk])) + "$")
    )

    # A's general manager finds the case and submits the rectification.
    sign_in(trading.manager_a)
    page.goto(live_server.url + reverse("supervision:case_list"))
    expect(page.get_by_test_id("case-row")).to_have_count(1)
    fits("unit-cases")
    page.get_by_test_id("case-row").click()
    page.fill("#id_text", "已组织整改：三份合同按总额补办分管领导审批，经办人已谈话提醒。")
    evidence = tmp_path / "整改报告.txt"
    evidence.write_text("整改报告", encoding="utf-8")
    page.set_input_files("#id_attachments", str(evidence))
    fits("rectify")
    screenshot(page, "supervision-split-rectify-phone")
    page.get_by_test_id("submit-rectification").click()
    expect(page.locator(".supervision-case-verifying")).to_be_visible()
    expect(page.get_by_test_id("attachment-link")).to_have_count(1)
    case.refresh_from_db()
    assert case.status == CaseStatus.VERIFYING

    # The inspector verifies and closes the case.
    sign_in(org.inspector)
    page.goto(live_server.url + reverse("supervision:case_detail", args=[case.pk]))
    page.check("input[name=decision][value=accept]")
    page.fill("#id_comment", "整改到位。")
    page.get_by_test_id("submit-verification").click()
    expect(page.get_by_test_id("verdict")).to_be_visible()
    fits("closed")
    screenshot(page, "supervision-split-case-closed-phone")
    case.refresh_from_db()
    finding.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    assert finding.status == FindingStatus.CLOSED
    assert blocked == [], sorted(set(blocked))
    assert elsewhere == []
