"""The reports on a 375px phone in Debian's Chromium: every report page fits the screen (no
sideways scrolling), nothing the content-security policy blocks, and the inspector drills from
a PSI figure to the ledger entries, the goods issue and its contract's approval trail."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from qinglian.core import clock
from qinglian.org.factories import PASSWORD
from qinglian.trading.enums import ContractKind, PartnerKind, PaymentTerm
from qinglian.trading.factories import make_partner
from qinglian.trading.services import contracts as contract_services
from qinglian.trading.services import stock as stock_services

from .test_reports_drilldown import approve_all, build_world, days_ago

pytestmark = pytest.mark.browser
PHONE_WIDTH = 375


def test_reports_on_a_phone(
    live_server, transactional_db, stock, org, money_flows, phone, screenshot
):
    from playwright.sync_api import expect

    build_world(stock, org)
    t = stock.trading
    today = clock.today()
    # a customer in good standing (the world's customer has overdue debt: credit control
    # refuses it new contracts)
    punctual = make_partner(company=org.group, kind=PartnerKind.CUSTOMER, name="南湖钢构有限公司")
    contract = contract_services.contract_create(
        actor=t.salesperson_a,
        company_id=org.company_a.pk,
        kind=ContractKind.SALES,
        partner_id=punctual.pk,
        payment_term=PaymentTerm.CREDIT,
        credit_days=30,
        signed_on=today,
        delivery_start=today,
        delivery_end=today + datetime.timedelta(days=30),
        end_on=today + datetime.timedelta(days=60),
        lines=[{"commodity_id": t.coal.pk, "quantity": "10", "unit_price": "1200"}],
    )
    contract_services.contract_submit(actor=t.salesperson_a, contract_id=contract.pk)
    request = approve_all(contract)
    issue = stock_services.stock_document_create(
        actor=t.keeper_a,
        kind="issue",
        contract_id=contract.pk,
        warehouse_id=t.warehouse_a.pk,
        posting_date=today,
        lines=[{"commodity_id": t.coal.pk, "quantity": "4"}],
        post=True,
    )
    page = phone
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    def fits(name):
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH + 1, (name, width)

    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", org.inspector.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("current-user")).to_be_attached()

    page.goto(live_server.url + reverse("trading:report_index"))
    expect(page.get_by_test_id("report-link")).to_have_count(5)
    fits("index")
    for name, shot in (
        ("trading:report_ageing", "trading-report-ageing-phone"),
        ("trading:report_execution", "trading-report-execution-phone"),
        ("trading:report_margin", "trading-report-margin-phone"),
        ("trading:report_concentration", "trading-report-concentration-phone"),
    ):
        page.goto(live_server.url + reverse(name))
        expect(page.get_by_test_id("report-row").first).to_be_visible()
        expect(page.get_by_test_id("export-link")).to_be_visible()
        fits(name)
        screenshot(page, shot)

    page.goto(
        live_server.url
        + reverse("trading:report_psi")
        + f"?date_from={days_ago(5).isoformat()}&date_to={today.isoformat()}&commodity={t.coal.pk}"
    )
    expect(page.get_by_test_id("report-row")).to_have_count(1)
    fits("psi")
    screenshot(page, "trading-report-psi-phone")
    # the "out" quantity of the coal row: the fifth figure (opening q/v, in q/v, out q)
    page.get_by_test_id("report-row").get_by_test_id("figure").nth(4).click()
    expect(page.get_by_test_id("ledger-totals")).to_be_visible()
    expect(page.get_by_test_id("entry-row")).to_have_count(1)
    fits("ledger")
    screenshot(page, "trading-report-ledger-drill-phone")
    page.get_by_test_id("entry-source").click()
    expect(page.get_by_test_id("document-number")).to_contain_text(issue.number)
    fits("document")
    page.get_by_test_id("approval-link").click()
    assert page.url.endswith(reverse("approvals:detail", args=[request.pk]))
    fits("approval")
    screenshot(page, "trading-report-approval-trail-phone")
    assert blocked == []
