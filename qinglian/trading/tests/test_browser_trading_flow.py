"""Issue 5's acceptance flow in Debian's Chromium on a 375×812 phone, through the real pages
only (the people, the approval flows, a commodity, a warehouse and one customer are prepared):

1. the purchaser registers a supplier from the trading hub, files its business licence and
   applies for admission; the route (general manager as the purchaser's superior, legal
   review, leader in charge) approves it from their inboxes and the supplier is admitted;
2. the purchaser's contract with the new supplier is approved (legal review, finance) and the
   warehouse keeper receives the goods;
3. the salesperson proposes the customer's credit limit (finance, general manager approve) and
   a sales contract (legal review, finance approve); the general manager has the company's
   exposure count receivables and goods issued but not invoiced, not open orders;
4. the keeper issues goods: the second issue brings the exposure exactly to the limit and
   passes, the third would go 5,000.00 over and is refused with the customer, the limit and
   the overrun named — nothing is posted;
5. the inspector (group-wide, read-only) drills from the PSI summary's "out" figure to the
   ledger entries, the goods issue, its contract's approval trail and its audit trail.

Screenshots of each main step in test-artifacts/trading-flow-*.png. Every page fits the phone
(no sideways scrolling) and nothing is blocked by the content-security policy."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from qinglian.approvals.enums import RequestStatus
from qinglian.approvals.models import ApprovalRequest
from qinglian.approvals.services import template_save
from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.org.factories import PASSWORD, make_uscc
from qinglian.trading.enums import (
    AdmissionStatus,
    ApprovalDocumentStatus,
    ContractKind,
    ContractStatus,
    PartnerKind,
    PostingStatus,
)
from qinglian.trading.factories import make_partner
from qinglian.trading.models import (
    Contract,
    CreditChange,
    CreditPolicy,
    Partner,
    SupplierAdmission,
)
from qinglian.trading.models.stock import StockDocument
from qinglian.trading.selectors import credit as credit_selectors
from qinglian.trading.services import contracts as contract_services

pytestmark = pytest.mark.browser
PHONE_WIDTH = 375  # the `phone` fixture's viewport (conftest.py): 375×812

SUPPLIER = "江北钢材贸易有限公司"
CUSTOMER = "临港建材有限公司"
LIMIT = Decimal("200000.00")


def test_supplier_to_credit_block_to_inspector_drill_on_a_phone(
    live_server, transactional_db, org, trading, master_flows, phone, screenshot
):
    from playwright.sync_api import expect

    # ---------------------------------------------------------------- prepared data
    # The contract approval flow next to the admission and credit-change flows master_flows
    # loads; its legal reviewer and leader in charge serve both. A customer of company A with
    # no credit limit yet (0: no limit set).
    for flow in contract_services.APPROVAL_FLOWS:
        template_save(actor=SYSTEM_ACTOR, **flow)
    legal, leader = master_flows.legal_a, master_flows.leader_a
    customer = make_partner(
        company=org.company_a, kind=PartnerKind.CUSTOMER, name=CUSTOMER, payment_days=30
    )
    assert customer.credit_limit == 0
    today = clock.today()
    base = live_server.url

    page = phone
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    def sign_in(user, landing="trading:home"):
        """Through the real login page, landing on `landing` (the login's ?next=)."""
        page.context.clear_cookies()
        page.goto(base + reverse("login") + "?next=" + reverse(landing))
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.get_by_test_id("current-user")).to_be_attached()
        assert page.url.split("?")[0] == base + reverse(landing), page.url

    def fits(name):
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH + 1, (name, width)

    def shot(name):
        fits(name)
        screenshot(page, f"trading-flow-{name}")

    def approve_from_inbox(user, title, comment=None, *, signed_in=False):
        """The approver finds the task in their inbox: without a comment, one tap there
        (htmx swaps the row); with one, they open the request and approve on its page."""
        if not signed_in:
            sign_in(user, "approvals:inbox")
        row = page.get_by_test_id("task-row").filter(has_text=title)
        expect(row).to_have_count(1)
        if comment is None:
            row.get_by_test_id("approve-button").click()
            expect(row.locator('[data-status="approved"]')).to_be_visible()
            return
        row.get_by_test_id("task-link").click()
        expect(page.get_by_test_id("action-panel")).to_be_visible()
        page.fill("#approve-comment", comment)
        page.get_by_test_id("approve").click()
        expect(page.locator(".alert-success")).to_be_visible()

    def hub_link(url_name):
        """Open a section from the trading hub /trading/."""
        if page.url.split("?")[0] != base + reverse("trading:home"):
            page.goto(base + reverse("trading:home"))
        page.get_by_test_id("trading-sections").locator(f'a[href="{reverse(url_name)}"]').click()

    # ---------------------------------------------------------------- 1. supplier admitted
    sign_in(trading.purchaser_a)
    expect(page.get_by_test_id("trading-sections")).to_be_visible()
    shot("01-hub")
    hub_link("trading:partner_list")
    page.get_by_test_id("new-partner").click()
    page.fill("#id_code", "JB001")
    page.fill("#id_name", SUPPLIER)
    page.select_option("#id_kind", PartnerKind.SUPPLIER)
    page.fill("#id_uscc", make_uscc(7301))
    page.get_by_test_id("master-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("partner-name")).to_have_text(SUPPLIER)
    supplier = Partner.objects.get(code="JB001")
    assert supplier.admission_status == AdmissionStatus.NOT_ADMITTED
    page.get_by_test_id("add-qualification").click()
    page.select_option("#id_kind", "business_licence")
    page.fill("#id_number", "91320000MA1JB0001X")
    page.fill("#id_expires_on", (today + datetime.timedelta(days=3 * 365)).isoformat())
    page.get_by_test_id("master-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("qualification-row")).to_have_count(1)
    page.get_by_test_id("apply-admission").click()
    page.fill("#id_reason", "螺纹钢长期供货，价格低于现有供应商 3%。")
    page.get_by_test_id("master-form").locator("button[type=submit]").click()
    page.get_by_test_id("submit-admission").click()
    expect(page.get_by_test_id("approval-link")).to_be_visible()
    admission = SupplierAdmission.objects.get(partner=supplier)
    assert admission.status == ApprovalDocumentStatus.PENDING
    supplier.refresh_from_db()
    assert supplier.admission_status == AdmissionStatus.PENDING
    shot("02-admission-submitted")

    admission_title = f"供应商准入：{SUPPLIER}"
    approve_from_inbox(trading.manager_a, admission_title)  # the superior, one tap
    approve_from_inbox(legal, admission_title)
    approve_from_inbox(leader, admission_title, "同意准入")
    expect(page.locator('[data-testid="request-status"] [data-status="approved"]')).to_be_visible()
    expect(page.get_by_test_id("trail")).to_contain_text("同意准入")
    shot("03-admission-approved")
    admission.refresh_from_db()
    supplier.refresh_from_db()
    assert admission.status == ApprovalDocumentStatus.APPROVED
    assert supplier.admission_status == AdmissionStatus.ADMITTED
    page.get_by_test_id("open-document").click()
    expect(page.get_by_test_id("admission-actions")).to_be_visible()
    page.locator(f'a[href="{reverse("trading:partner_detail", args=[supplier.pk])}"]').click()
    expect(page.get_by_test_id("supply-check")).to_have_class(re.compile(r"text-success"))

    # ---------------------------------------------------------------- 2. purchase, receipt
    sign_in(trading.purchaser_a)
    hub_link("trading:contract_list")
    page.get_by_test_id("new-purchase-contract").click()
    page.select_option("#id_partner", str(supplier.pk))  # admitted: now on the list
    page.fill("#id_signed_on", today.isoformat())
    page.fill("#id_delivery_end", (today + datetime.timedelta(days=30)).isoformat())
    page.fill("#id_end_on", (today + datetime.timedelta(days=60)).isoformat())
    page.select_option("#id_payment_term", "credit")
    page.fill("#id_credit_days", "30")
    page.select_option("#id_lines-0-commodity", str(trading.steel.pk))
    page.fill("#id_lines-0-quantity", "100")
    page.fill("#id_lines-0-unit_price", "4000")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("contract-amount")).to_contain_text(re.compile(r"400,?000\.00"))
    purchase = Contract.objects.get(kind=ContractKind.PURCHASE)
    page.get_by_test_id("submit-contract").click()
    expect(page.get_by_test_id("approval-link")).to_be_visible()
    purchase.refresh_from_db()
    assert purchase.status == ContractStatus.PENDING

    purchase_title = f"采购合同 {purchase.number} {SUPPLIER}"
    approve_from_inbox(legal, purchase_title)
    approve_from_inbox(trading.finance_a, purchase_title, "价格合理")
    page.get_by_test_id("open-document").click()
    expect(page.get_by_test_id("contract-status")).to_contain_text("已生效")
    purchase.refresh_from_db()
    assert purchase.status == ContractStatus.EFFECTIVE
    shot("04-purchase-effective")

    sign_in(trading.keeper_a)
    hub_link("trading:stock_document_list")
    page.get_by_test_id("new-receipt").click()
    page.select_option("#id_contract", str(purchase.pk))
    page.get_by_test_id("choose-contract").click()
    expect(page.get_by_test_id("line-row")).to_have_count(1)
    page.fill("#id_lines-0-quantity", "100")
    page.get_by_test_id("save-and-post").click()
    expect(page.get_by_test_id("document-number")).to_be_visible()
    receipt = StockDocument.objects.get(kind="receipt")
    assert receipt.status == PostingStatus.POSTED
    assert receipt.total_quantity == Decimal("100")
    expect(page.get_by_test_id("entry-row")).to_have_count(1)
    shot("05-receipt-posted")

    # ---------------------------------------------------------------- 3. credit and sales
    sign_in(trading.salesperson_a)
    hub_link("trading:partner_list")
    page.get_by_test_id("partner-row").filter(has_text=CUSTOMER).get_by_role("link").first.click()
    expect(page.get_by_test_id("partner-name")).to_have_text(CUSTOMER)
    page.get_by_test_id("propose-credit").click()
    page.fill("#id_credit_limit", "200000")
    page.fill("#id_payment_days", "30")
    page.fill("#id_reason", "新客户，首年授信二十万元。")
    page.get_by_test_id("master-form").locator("button[type=submit]").click()
    page.get_by_test_id("submit-credit").click()
    expect(page.get_by_test_id("approval-link")).to_be_visible()
    change = CreditChange.objects.get(partner=customer)
    assert change.status == ApprovalDocumentStatus.PENDING

    hub_link("trading:contract_list")
    page.get_by_test_id("new-sales-contract").click()
    page.select_option("#id_partner", str(customer.pk))
    page.fill("#id_signed_on", today.isoformat())
    page.fill("#id_delivery_end", (today + datetime.timedelta(days=30)).isoformat())
    page.fill("#id_end_on", (today + datetime.timedelta(days=60)).isoformat())
    page.select_option("#id_payment_term", "credit")
    page.fill("#id_credit_days", "30")
    page.select_option("#id_lines-0-commodity", str(trading.steel.pk))
    page.fill("#id_lines-0-quantity", "90")
    page.fill("#id_lines-0-unit_price", "5000")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("contract-amount")).to_contain_text(re.compile(r"450,?000\.00"))
    sales = Contract.objects.get(kind=ContractKind.SALES)
    page.get_by_test_id("submit-contract").click()
    expect(page.get_by_test_id("approval-link")).to_be_visible()
    shot("06-sales-submitted")

    sales_title = f"销售合同 {sales.number} {CUSTOMER}"
    credit_title = f"客户信用调整：{CUSTOMER}"
    approve_from_inbox(legal, sales_title)
    # finance has both in the inbox: the credit terms with one tap, the contract on its page
    approve_from_inbox(trading.finance_a, credit_title)
    expect(page.get_by_test_id("count-pending")).to_have_text("1")
    approve_from_inbox(trading.finance_a, sales_title, "同意销售", signed_in=True)
    sales.refresh_from_db()
    assert sales.status == ContractStatus.EFFECTIVE
    approve_from_inbox(trading.manager_a, credit_title, "同意授信")
    shot("07-credit-approved")
    change.refresh_from_db()
    customer.refresh_from_db()
    assert change.status == ApprovalDocumentStatus.APPROVED
    assert customer.credit_limit == LIMIT

    # The general manager counts what was delivered and not yet invoiced, not what the
    # contracts still promise: each goods issue then adds to the exposure.
    page.goto(base + reverse("trading:credit_policy_list"))
    page.get_by_test_id("policy-row").filter(has_text=org.company_a.name).get_by_test_id(
        "edit-policy"
    ).click()
    expect(page.locator("#id_include_open_orders")).to_be_checked()
    page.uncheck("#id_include_open_orders")
    page.locator("form button[type=submit]").last.click()
    expect(page.locator(".alert-success")).to_be_visible()
    policy = CreditPolicy.objects.get(company=org.company_a)
    assert (policy.include_receivables, policy.include_uninvoiced) == (True, True)
    assert policy.include_open_orders is False
    shot("08-credit-policy")

    # ---------------------------------------------------------------- 4. issues, the block
    sign_in(trading.keeper_a)

    def issue(quantity):
        hub_link("trading:stock_document_list")
        page.get_by_test_id("new-issue").click()
        page.select_option("#id_contract", str(sales.pk))
        page.get_by_test_id("choose-contract").click()
        page.fill("#id_lines-0-quantity", quantity)
        page.get_by_test_id("save-and-post").click()

    issue("20")  # 100,000.00
    expect(page.get_by_test_id("document-number")).to_be_visible()
    issue("20")  # 200,000.00: exactly the limit, the near miss passes
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page.get_by_test_id("document-number")).to_contain_text(
        StockDocument.objects.filter(kind="issue").latest("pk").number
    )
    first, second = StockDocument.objects.filter(kind="issue").order_by("pk")
    assert (first.status, second.status) == (PostingStatus.POSTED, PostingStatus.POSTED)
    assert (first.total_amount, second.total_amount) == (Decimal("100000.00"),) * 2
    assert credit_selectors.credit_standing(partner=customer).exposure == LIMIT
    shot("09-issue-at-the-limit")

    events = AuditEvent.objects.count()
    issue("1")  # 5,000.00 more: refused
    refusal = page.get_by_test_id("form-errors")
    expect(refusal).to_be_visible()
    for text in (
        CUSTOMER,
        "将超出信用额度",
        "额度 200000.00",
        "当前占用 200000.00",
        "之后占用 205000.00",
        "超出 5000.00",
        "需要已批准的信用例外",
    ):
        expect(refusal).to_contain_text(text)
    shot("10-credit-block")
    # nothing happened: no third issue, no ledger entry, no audit event, exposure unchanged
    assert StockDocument.objects.filter(kind="issue").count() == 2
    assert AuditEvent.objects.count() == events
    assert credit_selectors.credit_standing(partner=customer).exposure == LIMIT
    sales.refresh_from_db()
    assert sales.lines.get().executed_quantity == Decimal("40")

    # ---------------------------------------------------------------- 5. the inspector
    sign_in(org.inspector)
    hub_link("trading:report_index")
    page.locator(f'a[data-testid="report-link"][href="{reverse("trading:report_psi")}"]').click()
    row = page.get_by_test_id("report-row")
    expect(row).to_have_count(1)  # steel in A's warehouse
    expect(row).to_contain_text(trading.warehouse_a.name)
    figures = row.get_by_test_id("figure")
    # opening quantity, value; in quantity, value; out quantity, value; closing …
    expect(figures.nth(2)).to_have_attribute("data-value", re.compile(r"^100(\.0+)?$"))
    expect(figures.nth(4)).to_have_attribute("data-value", re.compile(r"^40(\.0+)?$"))
    expect(figures.nth(6)).to_have_attribute("data-value", re.compile(r"^60(\.0+)?$"))
    shot("11-psi-report")
    figures.nth(4).click()  # the "out" quantity
    expect(page.get_by_test_id("ledger-totals")).to_be_visible()
    expect(page.get_by_test_id("entry-row")).to_have_count(2)
    expect(page.get_by_test_id("total-count")).to_have_attribute("data-value", "2")
    shot("12-ledger-entries")
    page.get_by_test_id("entry-source").filter(has_text=second.number).click()
    expect(page.get_by_test_id("document-number")).to_contain_text(second.number)
    expect(page.get_by_test_id("document-number")).to_contain_text("出库")
    expect(page.locator("main")).to_contain_text(CUSTOMER)
    expect(page.get_by_test_id("reverse")).to_have_count(0)  # the inspector reads only
    expect(page.get_by_test_id("post")).to_have_count(0)
    shot("13-goods-issue")

    page.get_by_test_id("approval-link").click()
    assert sales.approval_request_id is not None
    request = ApprovalRequest.objects.get(pk=sales.approval_request_id)
    assert request.status == RequestStatus.APPROVED
    expect(page).to_have_url(re.compile(re.escape(reverse("approvals:detail", args=[request.pk]))))
    expect(page.locator('[data-testid="request-status"] [data-status="approved"]')).to_be_visible()
    expect(page.get_by_test_id("request-amount")).to_contain_text(re.compile(r"450,?000\.00"))
    trail = page.get_by_test_id("trail")
    expect(page.get_by_test_id("trail-entry")).to_have_count(3)  # submitted, two approvals
    for text in (trading.salesperson_a.name, legal.name, trading.finance_a.name, "同意销售"):
        expect(trail).to_contain_text(text)
    expect(page.get_by_test_id("action-panel")).to_have_count(0)
    shot("14-approval-trail")

    page.go_back()
    page.get_by_test_id("audit-trail-link").click()
    expect(page.get_by_test_id("trail-object")).to_contain_text(second.number)
    expect(page.get_by_test_id("timeline")).to_contain_text("trading.stock_document.posted")
    expect(page.get_by_test_id("timeline")).to_contain_text(trading.keeper_a.name)
    shot("15-audit-trail")

    assert blocked == []
