"""A purchase contract end to end in Debian's Chromium on a 375px phone: the purchaser fills
the form, adds and removes line rows (htmx), saves and submits; the legal reviewer and finance
approve; finance books an invoice and a payment against it; the partner ledger shows the
balance. Nothing the content-security policy blocks, no sideways scrolling."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse

from qinglian.core import clock
from qinglian.org.factories import PASSWORD
from qinglian.trading.enums import ContractStatus, PostingStatus
from qinglian.trading.models import Contract, Invoice

pytestmark = pytest.mark.browser
PHONE_WIDTH = 375


def test_purchase_contract_on_a_phone(
    live_server, transactional_db, trading, money_flows, phone, screenshot
):
    from playwright.sync_api import expect

    page = phone
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
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

    today = clock.today()
    sign_in(trading.purchaser_a)
    page.goto(live_server.url + reverse("trading:contract_list"))
    fits("list-empty")
    page.get_by_test_id("new-purchase-contract").click()
    page.select_option("#id_partner", str(trading.supplier.pk))
    page.fill("#id_delivery_end", (today + datetime.timedelta(days=30)).isoformat())
    page.fill("#id_end_on", (today + datetime.timedelta(days=60)).isoformat())
    page.select_option("#id_payment_term", "credit")
    page.fill("#id_credit_days", "30")
    page.select_option("#id_lines-0-commodity", str(trading.steel.pk))
    page.fill("#id_lines-0-quantity", "100")
    page.fill("#id_lines-0-unit_price", "4000")
    # Two more rows through htmx, then the middle one removed again.
    page.get_by_test_id("add-line").click()
    expect(page.get_by_test_id("line-row")).to_have_count(2)
    page.get_by_test_id("add-line").click()
    expect(page.get_by_test_id("line-row")).to_have_count(3)
    page.get_by_test_id("remove-line").nth(1).click()
    expect(page.get_by_test_id("line-row")).to_have_count(2)
    page.select_option("#id_lines-2-commodity", str(trading.coal.pk))
    page.fill("#id_lines-2-quantity", "50")
    page.fill("#id_lines-2-unit_price", "800")
    fits("form")
    screenshot(page, "trading-contract-form-phone")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("contract-status")).to_be_visible()
    contract = Contract.objects.get()
    assert contract.total_amount == 440000
    expect(page.get_by_test_id("execution-row")).to_have_count(2)
    fits("detail-draft")
    page.get_by_test_id("submit-contract").click()
    expect(page.get_by_test_id("approval-link")).to_be_visible()
    screenshot(page, "trading-contract-pending-phone")

    for approver in (money_flows.legal_a, trading.finance_a):
        sign_in(approver)
        contract.refresh_from_db()
        page.goto(
            live_server.url + reverse("approvals:detail", args=[contract.approval_request_id])
        )
        page.get_by_test_id("approve").click()
        expect(page.get_by_test_id("request-status")).to_be_visible()
    contract.refresh_from_db()
    assert contract.status == ContractStatus.EFFECTIVE

    # Finance books an invoice against it from the contract's page.
    page.goto(live_server.url + reverse("trading:contract_detail", args=[contract.pk]))
    page.get_by_test_id("new-invoice").click()
    page.fill("#id_invoice_number", "00012345")
    page.fill("#id_invoice_code", "3300212130")
    page.fill("#id_invoice_date", today.isoformat())
    page.fill("#id_amount", "113000.00")
    fits("invoice-form")
    page.get_by_test_id("save").click()
    page.get_by_test_id("post-invoice").click()
    expect(page.get_by_test_id("ledger-entries")).to_be_visible()
    assert Invoice.objects.get().status == PostingStatus.POSTED
    fits("invoice-detail")
    screenshot(page, "trading-invoice-posted-phone")

    page.goto(live_server.url + reverse("trading:contract_detail", args=[contract.pk]))
    expect(page.get_by_test_id("invoiced")).to_contain_text(re.compile(r"113,?000\.00"))
    fits("detail-effective")
    screenshot(page, "trading-contract-effective-phone")

    page.goto(
        live_server.url + reverse("trading:partner_ledger_detail", args=[trading.supplier.pk])
    )
    expect(page.get_by_test_id("open-item")).to_have_count(1)
    fits("ledger")
    screenshot(page, "trading-partner-ledger-phone")
    assert blocked == []
