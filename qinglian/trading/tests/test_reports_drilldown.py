"""The reports' drill-down: every figure of every report is a link, and following it lists
exactly the ledger entries (or open items) the figure adds up — the test follows each link
on the page, reads every entry listed (all pages), sums them itself and compares; the total
the list shows under it must agree too. Then one path all the way: a PSI figure → the ledger →
the goods issue → its contract's approval trail → the audit events.

`build_world` is the history the report tests share (other test_reports_* modules use it)."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

import pytest
from django.urls import reverse

from qinglian.core import clock
from qinglian.trading.costing import net_value
from qinglian.trading.enums import ContractKind, PartnerKind
from qinglian.trading.factories import make_contract, make_partner
from qinglian.trading.services import money as money_services
from qinglian.trading.services import stock as stock_services

pytestmark = pytest.mark.django_db


def days_ago(days: int) -> datetime.date:
    return clock.today() - datetime.timedelta(days=days)


@dataclass
class World:
    stock: Any
    org: Any
    second_supplier: Any
    dearer: Any  # a second purchase contract (a backdated receipt on it revalues issues)
    invoices: list[Any]

    @property
    def trading(self) -> Any:
        return self.stock.trading


def build_world(stock, org) -> World:
    """Company A: four months of steel and coal in and out (a backdated, dearer receipt that
    revalues later issues, a reversed issue), a second supplier, sales invoices falling due in
    different ageing buckets and a partial receipt, a purchase invoice; company B: a receipt."""
    t = stock.trading
    stock.receive("100", on=days_ago(120))
    stock.receive("40", commodity=t.coal, on=days_ago(110))
    stock.issue("30", on=days_ago(95))
    stock.receive("50", on=days_ago(70))
    wrong = stock.issue("10", commodity=t.coal, on=days_ago(60))
    stock_services.stock_document_reverse(
        actor=t.keeper_a, document_id=wrong.pk, reason="开错单", posting_date=days_ago(58)
    )
    stock.issue("45", on=days_ago(31))
    stock.issue("12", commodity=t.coal, on=days_ago(20))
    stock.issue("5", on=days_ago(1))
    second = make_partner(company=org.group, kind=PartnerKind.SUPPLIER, name="西山煤业有限公司")
    dearer = make_contract(
        company=org.company_a,
        partner=second,
        owner=t.purchaser_a,
        kind=ContractKind.PURCHASE,
        lines=[(t.steel, "100", "5650.00"), (t.coal, "100", "950.00")],
    )
    stock_services.stock_document_create(  # backdated and dearer: revalues the later issues
        actor=t.keeper_a,
        kind="receipt",
        contract_id=dearer.pk,
        warehouse_id=t.warehouse_a.pk,
        posting_date=days_ago(100),
        lines=[{"commodity_id": t.steel.pk, "quantity": "20"}],
        post=True,
    )
    stock_services.stock_document_create(
        actor=t.keeper_a,
        kind="receipt",
        contract_id=dearer.pk,
        warehouse_id=t.warehouse_a.pk,
        posting_date=days_ago(15),
        lines=[{"commodity_id": t.coal.pk, "quantity": "30"}],
        post=True,
    )
    stock_services.stock_document_create(  # company B's own receipt
        actor=t.keeper_b,
        kind="receipt",
        contract_id=stock.purchase_b.pk,
        warehouse_id=t.warehouse_b.pk,
        posting_date=days_ago(3),
        lines=[{"commodity_id": t.steel.pk, "quantity": "25"}],
        post=True,
    )
    # Money last: with overdue invoices booked, credit control may refuse further issues.
    invoices = []
    for number, (on, amount) in enumerate(
        [(100, "100000.00"), (75, "60000.00"), (40, "50000.00"), (5, "20000.00")], start=1
    ):
        draft = money_services.invoice_create(
            actor=t.finance_a,
            contract_id=stock.sales.pk,
            invoice_number=f"0000{number:04d}",
            invoice_date=days_ago(on),
            amount=amount,
        )
        invoices.append(money_services.invoice_post(actor=t.finance_a, invoice_id=draft.pk))
    receipt = money_services.payment_create(
        actor=t.finance_a, contract_id=stock.sales.pk, amount="30000.00", paid_on=days_ago(30)
    )
    money_services.receipt_post(actor=t.finance_a, payment_id=receipt.pk)
    purchase_invoice = money_services.invoice_create(
        actor=t.finance_a,
        contract_id=stock.purchase.pk,
        invoice_number="88000001",
        invoice_date=days_ago(60),
        amount="200000.00",
    )
    money_services.invoice_post(actor=t.finance_a, invoice_id=purchase_invoice.pk)
    return World(stock=stock, org=org, second_supplier=second, dearer=dearer, invoices=invoices)


@pytest.fixture
def world(stock, org, shared_layers) -> World:
    return shared_layers.get("world", build_world, stock, org)


# ---------------------------------------------------------------- reading the pages

FIGURE = re.compile(
    r'<a href="(?P<url>[^"]+)" class="text-decoration-none" data-value="(?P<value>[^"]+)" '
    r'data-testid="figure">'
)
ANY_FIGURE = re.compile(r'data-testid="figure"')


def figures(html: str) -> list[tuple[str, D]]:
    """Every linked figure of a report page: (url, value)."""
    return [
        (match["url"].replace("&amp;", "&"), D(match["value"])) for match in FIGURE.finditer(html)
    ]


def _value(html: str, testid: str) -> D | None:
    match = re.search(rf'data-testid="{testid}" data-value="([^"]+)"', html)
    return D(match[1]) if match else None


@dataclass
class Listed:
    """What a drill-down page lists, summed by the test from the rows (all pages), beside the
    totals the page prints."""

    count: int
    quantity: D
    value: D
    amount: D
    net_amount: D
    shown: dict[str, D | None]


def follow_stock_ledger(client, url: str) -> Listed:
    path = url.split("#")[0]
    assert path.startswith(reverse("trading:stock_ledger_list")), path
    count, quantity, value, amount, net = 0, D(0), D(0), D(0), D(0)
    shown: dict[str, D | None] = {}
    page = 1
    while True:
        response = client.get(path + ("&" if "?" in path else "?") + f"page={page}")
        assert response.status_code == 200
        html = response.content.decode()
        if page == 1:
            shown = {
                name: _value(html, f"total-{name}")
                for name in ("count", "quantity", "value", "amount", "net-amount")
            }
        rows = re.findall(r'data-testid="entry-row">(.*?)</tr>', html, re.S)
        for row in rows:
            count += 1
            quantity += D(re.search(r'data-testid="entry-quantity" data-value="([^"]+)"', row)[1])
            value += D(re.search(r'data-testid="entry-value" data-value="([^"]+)"', row)[1])
            found = re.search(r'data-testid="entry-amount" data-value="([^"]+)"', row)
            amount += D(found[1]) if found else D(0)
            found = re.search(r'data-testid="entry-net-amount" data-value="([^"]+)"', row)
            net += D(found[1]) if found else D(0)
        if response.context["page_obj"].has_next():
            page += 1
            continue
        break
    listed = Listed(count, quantity, value, amount, net, shown)
    # the totals printed under the list agree with the rows
    assert shown["count"] == count
    assert shown["quantity"] == quantity
    assert shown["value"] == value
    if shown["amount"] is not None:
        assert (shown["amount"], shown["net-amount"]) == (amount, net)
    return listed


@dataclass
class Money:
    entries: D  # the listed partner-ledger entries, summed
    entry_count: int
    open_items: D  # the listed open items, summed
    shown_entries: D | None
    shown_open_items: D | None


def follow_partner_ledger(client, url: str) -> Money:
    path = url.split("#")[0]
    assert "/partner-ledger/" in path, path
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    entries_section = html.split('data-testid="ledger-entry-list"')[1]
    entries = [
        D(v)
        for v in re.findall(
            r'data-testid="entry-row">.*?data-value="([^"]+)"', entries_section, re.S
        )
    ]
    assert not response.context["page_obj"].has_next()  # a handful of entries in these tests
    items_section = html.split('data-testid="open-items"')[1].split(
        'data-testid="ledger-entry-list"'
    )[0]
    items = [
        D(v)
        for v in re.findall(r'data-testid="open-item">.*?data-value="([^"]+)"', items_section, re.S)
    ]
    money = Money(
        entries=sum(entries, D(0)),
        entry_count=len(entries),
        open_items=sum(items, D(0)),
        shown_entries=_value(html, "entries-total-amount"),
        shown_open_items=_value(html, "open-items-total"),
    )
    assert money.shown_open_items == money.open_items
    if money.shown_entries is not None:
        assert money.shown_entries == money.entries
    return money


def report_page(client, name: str, **params) -> tuple[Any, str]:
    response = client.get(reverse(name), params)
    assert response.status_code == 200
    return response, response.content.decode()


def every_figure_is_linked(html: str, *, except_total: bool = False) -> None:
    """Every figure on the page is a link (the ageing's total row adds up the rows above it
    and has no single list to link to)."""
    if except_total:
        html = re.sub(r"<tfoot.*?</tfoot>", "", html, flags=re.S)
    assert len(ANY_FIGURE.findall(html)) == len(figures(html)) > 0


# ---------------------------------------------------------------- 1. PSI summary


@pytest.mark.parametrize("group_by", ["series", "commodity", "warehouse", "company"])
def test_psi_figures_equal_the_ledger_entries_they_link_to(client, world, org, group_by):
    client.force_login(org.inspector)
    response, html = report_page(
        client,
        "trading:report_psi",
        date_from=days_ago(96).isoformat(),
        date_to=days_ago(25).isoformat(),
        group_by=group_by,
    )
    every_figure_is_linked(html)
    report = response.context["report"]
    assert len(report.rows) >= (1 if group_by in ("warehouse", "company") else 2)
    for row in [*report.rows, report.total]:
        for column in ("opening", "in", "out", "closing"):
            listed = follow_stock_ledger(client, row.links[column])
            quantity = getattr(row, f"{column}_quantity")
            value = getattr(row, f"{column}_value")
            if column == "out":  # what left: the entries are negative
                assert (quantity, value) == (-listed.quantity, -listed.value), (row, column)
            else:
                assert (quantity, value) == (listed.quantity, listed.value), (row, column)
    # the page's links are exactly these
    expected = {url for row in [*report.rows, report.total] for url in row.links.values()}
    assert {url for url, _value in figures(html)} == expected


def test_psi_total_equals_the_rows_and_a_filter_narrows_both(client, world, org):
    t = world.trading
    client.force_login(org.inspector)
    response, _html = report_page(
        client,
        "trading:report_psi",
        date_from=days_ago(130).isoformat(),
        date_to=clock.today().isoformat(),
        commodity=t.coal.pk,
        company=org.company_a.pk,
    )
    report = response.context["report"]
    assert [row.commodity_id for row in report.rows] == [t.coal.pk]
    assert report.total.in_quantity == sum(r.in_quantity for r in report.rows) == D("70")
    # 40 + 30 received; 10 issued and reversed (both "out"), 12 issued: out 12
    assert report.total.out_quantity == D("12")
    listed = follow_stock_ledger(client, report.total.links["in"])
    assert listed.quantity == D("70")


# ---------------------------------------------------------------- 2. receivables ageing


def test_ageing_figures_equal_the_open_items_and_entries_they_link_to(client, world, org):
    t = world.trading
    client.force_login(org.inspector)
    response, html = report_page(client, "trading:report_ageing")
    every_figure_is_linked(html, except_total=True)
    report = response.context["report"]
    (row,) = report.rows
    assert (row.partner_id, row.company_id) == (t.customer.pk, org.company_a.pk)
    # 100,000 due 70 days ago less the 30,000 receipt; 60,000 due 45 days ago; 50,000 due 10
    # days ago; 20,000 due in 25 days (30 credit days)
    assert (row.not_due, row.days_0_30, row.days_31_60, row.days_61_90, row.over_90) == (
        D("20000.00"),
        D("50000.00"),
        D("60000.00"),
        D("70000.00"),
        D("0"),
    )
    for key in ("not_due", "days_0_30", "days_31_60", "days_61_90", "over_90", "overdue"):
        listed = follow_partner_ledger(client, row.links[key])
        assert getattr(row, key) == listed.open_items, key
    credits = follow_partner_ledger(client, row.links["credits"])
    assert row.credits == -credits.open_items == D("0")
    balance = follow_partner_ledger(client, row.links["balance"])
    assert row.balance == balance.entries == D("200000.00")
    assert balance.entry_count == 5  # four invoices and the receipt
    assert {url for url, _value in figures(html)} == set(row.links.values())


def test_ageing_unapplied_credits_link_to_the_receipts_not_matched(client, world, org):
    t = world.trading
    advance = money_services.payment_create(
        actor=t.finance_a, contract_id=world.stock.sales.pk, amount="500000.00", paid_on=days_ago(2)
    )
    money_services.receipt_post(actor=t.finance_a, payment_id=advance.pk)
    client.force_login(org.inspector)
    response, _html = report_page(client, "trading:report_ageing")
    (row,) = response.context["report"].rows
    assert row.credits == D("300000.00")  # 530,000 received against 230,000 invoiced
    assert row.credits == -follow_partner_ledger(client, row.links["credits"]).open_items
    assert row.balance == follow_partner_ledger(client, row.links["balance"]).entries
    assert row.balance == D("-300000.00")


# ---------------------------------------------------------------- 3. contract execution


def test_contract_execution_figures_equal_the_entries_they_link_to(client, world, org):
    stock = world.stock
    client.force_login(org.inspector)
    response, html = report_page(client, "trading:report_execution", company=org.company_a.pk)
    every_figure_is_linked(html)
    executions = {c.contract_id: c for c in response.context["contracts"]}
    assert set(executions) == {stock.sales.pk, stock.purchase.pk, world.dearer.pk}
    for contract in executions.values():
        listed = follow_stock_ledger(client, contract.links["executed"])
        assert contract.executed_amount == listed.amount, contract.number
        for line in contract.lines:
            entries = follow_stock_ledger(client, line.links["executed"])
            sign = -1 if contract.kind == ContractKind.SALES else 1  # issues are negative
            assert line.executed_quantity == sign * entries.quantity, (contract.number, line)
            assert line.executed_amount == entries.amount, (contract.number, line)
        invoiced = follow_partner_ledger(client, contract.links["invoiced"])
        settled = follow_partner_ledger(client, contract.links["settled"])
        opening = follow_partner_ledger(client, contract.links["opening"])
        outstanding = follow_partner_ledger(client, contract.links["outstanding"])
        assert contract.invoiced == invoiced.entries
        assert contract.settled == -settled.entries  # receipts reduce the receivable
        assert contract.opening == opening.entries
        assert contract.outstanding == outstanding.entries
    sales = executions[stock.sales.pk]
    steel, coal = sales.lines
    assert steel.executed_quantity == D("80")  # 30 + 45 + 5
    assert coal.executed_quantity == D("12")  # 10 issued and reversed, 12
    assert (sales.invoiced, sales.settled, sales.outstanding) == (
        D("230000.00"),
        D("30000.00"),
        D("200000.00"),
    )
    # the stored counters agree with the ledger
    assert steel.executed_quantity == stock.sales.lines.get(line_number=1).executed_quantity


def test_contract_execution_counts_every_revision(client, stock, org, money_flows):
    from qinglian.trading.services import contracts as contract_services

    t = stock.trading
    stock.receive("100")
    stock.issue("30")
    amendment = contract_services.contract_amend(actor=t.salesperson_a, contract_id=stock.sales.pk)
    contract_services.contract_submit(actor=t.salesperson_a, contract_id=amendment.pk)
    approve_all(amendment)
    amendment.refresh_from_db()
    assert amendment.status == "effective"
    stock_services.stock_document_create(
        actor=t.keeper_a,
        kind="issue",
        contract_id=amendment.pk,
        warehouse_id=t.warehouse_a.pk,
        posting_date=clock.today(),
        lines=[{"commodity_id": t.steel.pk, "quantity": "3"}],
        post=True,
    )
    client.force_login(org.inspector)
    response, _html = report_page(client, "trading:report_execution", kind="sales")
    (sales,) = response.context["contracts"]
    assert sales.contract_id == amendment.pk
    steel = sales.lines[0]
    assert steel.executed_quantity == D("33")
    assert steel.executed_quantity == -follow_stock_ledger(client, steel.links["executed"]).quantity
    assert steel.executed_quantity == amendment.lines.get(line_number=1).executed_quantity
    assert sales.executed_amount == follow_stock_ledger(client, sales.links["executed"]).amount


def approve_all(document):
    """Every approver on the route approves, in turn."""
    from qinglian.approvals import services as approval_services
    from qinglian.approvals.enums import RequestStatus, TaskStatus
    from qinglian.approvals.models import ApprovalRequest, ApprovalTask

    document.refresh_from_db()
    request = ApprovalRequest.objects.get(pk=document.approval_request_id)
    for _round in range(10):
        request.refresh_from_db()
        if request.status != RequestStatus.IN_PROGRESS:
            break
        for task in ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING):
            approval_services.task_approve(actor=task.assignee, task_id=task.pk)
    return request


# ---------------------------------------------------------------- 4. deal margin


def test_margin_figures_equal_the_issue_entries_they_link_to(client, world, org):
    stock = world.stock
    client.force_login(org.inspector)
    response, html = report_page(client, "trading:report_margin")
    every_figure_is_linked(html)
    report = response.context["report"]
    (row,) = report.rows
    assert row.contract_id == stock.sales.pk
    listed = follow_stock_ledger(client, row.links["entries"])
    assert row.revenue == listed.net_amount
    assert row.cost == -listed.value  # what left the warehouse, revaluations included
    assert row.quantity == -listed.quantity
    assert row.margin == row.revenue - row.cost
    # per issue line, net of 13 % VAT: steel 30, 45 and 5 t at 5,000.00; coal 10 t at
    # 1,100.00 and its reversal, 12 t
    lines = [("30", "5000"), ("45", "5000"), ("5", "5000"), ("10", "1100"), ("-10", "1100")]
    lines.append(("12", "1100"))
    assert (
        row.revenue
        == sum((net_value(D(q), D(p), D("0.13")) for q, p in lines), D(0))
        == D("365663.71")
    )
    total = follow_stock_ledger(client, report.total.links["entries"])
    assert (report.total.revenue, report.total.cost) == (total.net_amount, -total.value)
    # the backdated receipt revalued issues: some entries are revaluations, and they count
    assert listed.count > 6


def test_margin_for_a_period_counts_only_its_issues(client, world, org):
    client.force_login(org.inspector)
    response, _html = report_page(
        client,
        "trading:report_margin",
        date_from=days_ago(40).isoformat(),
        date_to=days_ago(10).isoformat(),
    )
    (row,) = response.context["report"].rows
    assert row.quantity == D("57")  # 45 t of steel and 12 t of coal
    listed = follow_stock_ledger(client, row.links["entries"])
    assert (row.revenue, row.cost) == (listed.net_amount, -listed.value)


# ---------------------------------------------------------------- 5. supplier concentration


def test_concentration_figures_equal_the_receipts_they_link_to(client, world, org):
    client.force_login(org.inspector)
    response, html = report_page(
        client,
        "trading:report_concentration",
        date_from=days_ago(200).isoformat(),
        date_to=clock.today().isoformat(),
    )
    every_figure_is_linked(html)
    report = response.context["report"]
    assert [row.partner_id for row in report.rows] == [
        world.trading.supplier.pk,
        world.second_supplier.pk,
    ]
    for row in report.rows:
        assert row.amount == follow_stock_ledger(client, row.links["entries"]).amount
    assert report.total_amount == follow_stock_ledger(client, report.links["entries"]).amount
    first, second = report.rows
    # supplier: 150 t steel at 4,520 + 40 t coal at 904 (+ company B's 7 t through the
    # inspector's scope); second: 20 t steel at 5,650 + 30 t coal at 950
    assert second.amount == D("113000.00") + D("28500.00")
    assert first.amount == D("714160.00") + D("113000.00")
    assert first.cumulative_share < D("100") == second.cumulative_share


# ---------------------------------------------------------------- one path all the way


def test_an_inspector_drills_from_the_psi_report_to_the_audit_trail(
    client, stock, org, money_flows
):
    """PSI "out" figure → the ledger entries → the goods issue → its contract's approval trail
    and the document's audit events: every step opens for the inspector."""
    from qinglian.trading.enums import PaymentTerm
    from qinglian.trading.services import contracts as contract_services

    t = stock.trading
    contract = contract_services.contract_create(
        actor=t.salesperson_a,
        company_id=org.company_a.pk,
        kind=ContractKind.SALES,
        partner_id=t.customer.pk,
        payment_term=PaymentTerm.CREDIT,
        credit_days=30,
        signed_on=clock.today(),
        delivery_start=clock.today(),
        delivery_end=clock.today() + datetime.timedelta(days=30),
        end_on=clock.today() + datetime.timedelta(days=60),
        lines=[{"commodity_id": t.steel.pk, "quantity": "10", "unit_price": "5000"}],
    )
    contract_services.contract_submit(actor=t.salesperson_a, contract_id=contract.pk)
    request = approve_all(contract)
    stock.receive("20")
    issue = stock_services.stock_document_create(
        actor=t.keeper_a,
        kind="issue",
        contract_id=contract.pk,
        warehouse_id=t.warehouse_a.pk,
        posting_date=clock.today(),
        lines=[{"commodity_id": t.steel.pk, "quantity": "4"}],
        post=True,
    )
    client.force_login(org.inspector)
    response, _html = report_page(client, "trading:report_psi")
    (row,) = response.context["report"].rows
    assert row.out_quantity == D("4")
    ledger = client.get(row.links["out"].split("#")[0]).content.decode()
    document_url = reverse("trading:stock_document_detail", args=[issue.pk])
    assert f'href="{document_url}" data-testid="entry-source"' in ledger
    document = client.get(document_url)
    assert document.status_code == 200
    page = document.content.decode()
    approval_url = reverse("approvals:detail", args=[request.pk])
    assert f'href="{approval_url}" data-testid="approval-link"' in page
    assert client.get(approval_url).status_code == 200
    trail = re.search(r'href="([^"]+)" data-testid="audit-trail-link"', page)[1].replace(
        "&amp;", "&"
    )
    assert "object_type=trading.stockdocument" in trail
    audit = client.get(trail)
    assert audit.status_code == 200
    assert "trading.stock_document.posted" in audit.content.decode()
