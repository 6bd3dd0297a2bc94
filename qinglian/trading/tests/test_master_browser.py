"""The master-data pages in Debian's Chromium on a 375px phone: no sideways scrolling, nothing
the content-security policy blocks, no request to another host; a purchaser registers a
supplier, adds its licence and applies for admission from the phone."""

from __future__ import annotations

import pytest
from django.urls import reverse

from qinglian.org.factories import PASSWORD
from qinglian.trading.enums import ApprovalDocumentStatus
from qinglian.trading.models import Partner, SupplierAdmission

pytestmark = pytest.mark.browser

PHONE_WIDTH = 375


def test_master_pages_fit_a_phone(
    live_server, transactional_db, org, trading, master_flows, phone, screenshot
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
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", trading.purchaser_a.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("current-user")).to_be_attached()

    # Register a supplier.
    page.goto(live_server.url + reverse("trading:partner_create"))
    page.fill("#id_code", "PHONE1")
    page.fill("#id_name", "手机登记钢材有限公司")
    page.select_option("#id_kind", "supplier")
    page.get_by_test_id("master-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("partner-name")).to_have_text("手机登记钢材有限公司")
    partner = Partner.objects.get(code="PHONE1")

    # Its licence, then the application.
    page.get_by_test_id("add-qualification").click()
    page.select_option("#id_kind", "business_licence")
    page.fill("#id_expires_on", "2035-12-31")
    page.get_by_test_id("master-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("qualification-row")).to_have_count(1)
    page.get_by_test_id("apply-admission").click()
    page.get_by_test_id("master-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("submit-admission")).to_be_visible()
    admission = SupplierAdmission.objects.get(partner=partner)
    assert admission.status == ApprovalDocumentStatus.DRAFT

    pages = {
        "partners": reverse("trading:partner_list"),
        "partner": reverse("trading:partner_detail", args=[partner.pk]),
        "partner-edit": reverse("trading:partner_edit", args=[partner.pk]),
        "admission": reverse("trading:admission_detail", args=[admission.pk]),
        "admissions": reverse("trading:admission_list"),
        "credit-changes": reverse("trading:credit_change_list"),
        "expiring": reverse("trading:qualification_expiring"),
        "commodities": reverse("trading:commodity_list"),
        "commodity": reverse("trading:commodity_detail", args=[trading.steel.pk]),
        "warehouses": reverse("trading:warehouse_list"),
        "import": reverse("trading:master_import"),
    }
    for name, url in pages.items():
        page.goto(live_server.url + url)
        expect(page.locator("h1").first).to_be_visible()
        screenshot(page, f"trading-master-{name}-phone")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH + 1, (name, width)

    assert blocked == []
    assert elsewhere == []
