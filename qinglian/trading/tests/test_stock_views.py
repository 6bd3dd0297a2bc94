"""The stock pages: the whole path through them (a receipt and an issue saved and posted from
the forms, a reversal, a stocktake, the ledger drill-down), and the authorization matrix over
every page — anonymous, no role, wrong company, right company, the group-wide inspector."""

import datetime
import io
from decimal import Decimal as D

import pytest
from django.urls import reverse

from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.trading.enums import PostingStatus
from qinglian.trading.models.stock import StockDocument, StockLedgerEntry, Stocktake
from qinglian.trading.services import stock as services

pytestmark = pytest.mark.django_db


def today():
    return clock.today()


@pytest.fixture
def world(stock, org, shared_layers):
    return shared_layers.get("world", build_world, stock, org)


def build_world(stock, org):
    """A posted receipt and issue, a draft receipt and a draft stocktake in company A."""
    from qinglian.approvals import services as approvals

    for flow in services.APPROVAL_FLOWS:
        approvals.template_save(actor=SYSTEM_ACTOR, **flow)
    t = stock.trading
    receipt = stock.receive("20")
    issue = stock.issue("5")
    draft = stock.receive("3", post=False)
    stocktake = services.stocktake_create(
        actor=t.keeper_a,
        warehouse_id=t.warehouse_a.pk,
        counted_on=today(),
        lines=[{"commodity_id": t.steel.pk, "counted_quantity": "15"}],
    )
    return {
        "stock": stock,
        "receipt": receipt,
        "issue": issue,
        "draft": draft,
        "stocktake": stocktake,
    }


def _lines(contract, **quantities):
    """Formset data: one row per contract line; `quantities` by line number."""
    data = {
        "lines-TOTAL_FORMS": str(contract.lines.count()),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for index, line in enumerate(contract.lines.order_by("line_number")):
        data[f"lines-{index}-contract_line"] = str(line.pk)
        values = quantities.get(f"line{line.line_number}", {})
        for name in ("quantity", "weighed_quantity", "difference_reason"):
            data[f"lines-{index}-{name}"] = str(values.get(name, ""))
    return data


# ---------------------------------------------------------------- the path through the pages


def test_a_keeper_receives_issues_and_reverses_on_the_pages(client, stock, english):
    t = stock.trading
    client.force_login(t.keeper_a)
    start = client.get(reverse("trading:stock_receipt_create"))
    assert start.status_code == 200
    assert stock.purchase.number in start.content.decode()
    url = reverse("trading:stock_receipt_create") + f"?contract={stock.purchase.pk}"
    page = client.get(url)
    assert page.status_code == 200
    assert "Save and post" in page.content.decode()
    refused = client.post(
        url,
        {
            "warehouse": t.warehouse_a.pk,
            "posting_date": today().isoformat(),
            "post": "1",
            **_lines(stock.purchase, line1={"quantity": "100", "weighed_quantity": "99"}),
        },
    )
    assert refused.status_code == 200  # the reason is missing: shown on the row
    assert "beyond the tolerance" in refused.content.decode()
    assert StockDocument.objects.count() == 0
    response = client.post(
        url,
        {
            "warehouse": t.warehouse_a.pk,
            "posting_date": today().isoformat(),
            "post": "1",
            "idempotency_key": "form-1",
            **_lines(
                stock.purchase,
                line1={"quantity": "100", "weighed_quantity": "99", "difference_reason": "途耗"},
                line2={"quantity": "10"},
            ),
        },
    )
    receipt = StockDocument.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("trading:stock_document_detail", args=[receipt.pk])
    assert receipt.status == PostingStatus.POSTED
    assert receipt.lines.count() == 2
    detail = client.get(response["Location"])
    assert detail.status_code == 200
    assert "400,000.00" in detail.content.decode()
    # an issue, then its reversal
    issue_url = reverse("trading:stock_issue_create") + f"?contract={stock.sales.pk}"
    client.post(
        issue_url,
        {
            "warehouse": t.warehouse_a.pk,
            "posting_date": today().isoformat(),
            "post": "1",
            **_lines(stock.sales, line1={"quantity": "30"}),
        },
    )
    issue = StockDocument.objects.get(kind="issue")
    assert issue.total_cost == D("120000.00")
    reverse_url = reverse("trading:stock_document_reverse", args=[issue.pk])
    assert client.get(reverse_url).status_code == 200
    response = client.post(
        reverse_url,
        {"posting_date": today().isoformat(), "reason": "客户拒收", "version": issue.version},
    )
    reversal = StockDocument.objects.get(reverses=issue)
    assert response["Location"] == reverse("trading:stock_document_detail", args=[reversal.pk])
    issue.refresh_from_db()
    assert issue.status == PostingStatus.REVERSED
    # the ledger drill-down by series and by voucher
    ledger = client.get(
        reverse("trading:stock_ledger_list"),
        {"warehouse": t.warehouse_a.pk, "commodity": t.steel.pk},
    )
    assert ledger.status_code == 200
    assert ledger.content.decode().count('data-testid="entry-row"') == 3
    voucher = client.get(
        reverse("trading:stock_ledger_list"), {"voucher_type": "issue", "voucher_id": issue.pk}
    )
    assert voucher.content.decode().count('data-testid="entry-row"') == 1


def test_a_draft_is_edited_posted_and_another_cancelled_on_the_pages(client, world):
    stock, draft = world["stock"], world["draft"]
    client.force_login(stock.trading.keeper_a)
    edit_url = reverse("trading:stock_document_edit", args=[draft.pk])
    assert client.get(edit_url).status_code == 200
    response = client.post(
        edit_url,
        {
            "warehouse": stock.trading.warehouse_a.pk,
            "posting_date": today().isoformat(),
            "version": draft.version,
            **_lines(stock.purchase, line1={"quantity": "4"}),
        },
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.total_quantity, draft.status) == (D("4"), PostingStatus.DRAFT)
    client.post(reverse("trading:stock_document_post", args=[draft.pk]), {"version": draft.version})
    draft.refresh_from_db()
    assert draft.status == PostingStatus.POSTED
    other = stock.receive("1", post=False)
    client.post(reverse("trading:stock_document_cancel", args=[other.pk]), {"version": 1})
    other.refresh_from_db()
    assert other.status == PostingStatus.CANCELLED


def test_a_stocktake_is_counted_and_submitted_on_the_pages(client, world, org):
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_user

    make_user(company=org.company_a, roles=(RoleCode.LEADER_IN_CHARGE,), username="leader")
    stock = world["stock"]
    t = stock.trading
    client.force_login(t.keeper_a)
    start = reverse("trading:stocktake_create")
    assert client.get(start).status_code == 200
    query = f"?warehouse={t.warehouse_a.pk}&kind=count&counted_on={today().isoformat()}"
    page = client.get(start + query)
    assert page.status_code == 200
    assert "STEEL" in page.content.decode()  # a row for what the warehouse holds
    data = {
        "counted_on": today().isoformat(),
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-0-commodity": str(t.steel.pk),
        "lines-0-counted_quantity": "14",
        "lines-0-reason": "短少",
        "lines-1-commodity": "",
        "lines-1-counted_quantity": "",
    }
    response = client.post(start + query, data)
    assert response.status_code == 302
    stocktake = Stocktake.objects.exclude(pk=world["stocktake"].pk).get()
    assert stocktake.lines.get().book_quantity == D("15")
    client.post(reverse("trading:stocktake_submit", args=[stocktake.pk]), {"version": 1})
    stocktake.refresh_from_db()
    assert stocktake.status == "pending"
    detail = client.get(reverse("trading:stocktake_detail", args=[stocktake.pk]))
    assert stocktake.approval_request.serial in detail.content.decode()


def test_the_summary_links_every_figure_to_its_entries(client, world, org):
    client.force_login(org.inspector)
    response = client.get(
        reverse("trading:stock_summary"),
        {"date_from": today().replace(day=1).isoformat(), "date_to": today().isoformat()},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('data-testid="summary-row"') == 1
    assert "direction=out" in body


def test_opening_stock_is_imported_from_a_workbook(client, stock, org):
    import openpyxl

    t = stock.trading
    client.force_login(t.finance_a)
    template = client.get(reverse("trading:stock_opening_template"))
    assert template.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(template.content))
    sheet = book["期初库存"]
    sheet.delete_rows(2, 10)
    day = (today() - datetime.timedelta(days=30)).isoformat()
    sheet.append(["A", "WA", "STEEL", "50", "4000", day])
    sheet.append(["A", "WA", "NOPE", "-1", "x", day])
    upload = io.BytesIO()
    book.save(upload)
    upload.seek(0)
    upload.name = "期初.xlsx"
    refused = client.post(reverse("trading:stock_opening_import"), {"file": upload})
    assert refused.status_code == 200
    assert 'data-testid="import-problems"' in refused.content.decode()
    assert StockLedgerEntry.objects.count() == 0
    sheet.delete_rows(3, 1)
    upload = io.BytesIO()
    book.save(upload)
    upload.seek(0)
    upload.name = "期初.xlsx"
    response = client.post(reverse("trading:stock_opening_import"), {"file": upload})
    assert response.status_code == 302
    entry = StockLedgerEntry.objects.get()
    assert (entry.kind, entry.quantity, entry.value) == ("opening", D("50"), D("200000.00"))
    assert client.get(reverse("trading:stock_opening_list")).status_code == 200


# ---------------------------------------------------------------- the authorization matrix


READ_PAGES = [
    ("trading:stock_balance_list", None),
    ("trading:stock_document_list", None),
    ("trading:stocktake_list", None),
    ("trading:stock_ledger_list", None),
    ("trading:stock_summary", None),
    ("trading:stock_opening_list", None),
    ("trading:stock_document_detail", "receipt"),
    ("trading:stocktake_detail", "stocktake"),
]
WRITE_PAGES = [
    ("trading:stock_receipt_create", None),
    ("trading:stock_issue_create", None),
    ("trading:stock_document_edit", "draft"),
    ("trading:stock_document_reverse", "receipt"),
    ("trading:stocktake_create", None),
    ("trading:stocktake_edit", "stocktake"),
]
POST_ACTIONS = [
    ("trading:stock_document_post", "draft"),
    ("trading:stock_document_cancel", "draft"),
    ("trading:stock_document_reverse", "issue"),
    ("trading:stocktake_submit", "stocktake"),
    ("trading:stocktake_cancel", "stocktake"),
]


def _url(world, name, target):
    return reverse(name, args=[world[target].pk]) if target else reverse(name)


def _user(world, org, who):
    t = world["stock"].trading
    return {
        "no_role": org.no_role,
        "wrong_company": t.keeper_b,
        "right_company": t.keeper_a,
        "inspector": org.inspector,
        "purchaser": t.purchaser_a,
    }[who]


@pytest.mark.parametrize(("name", "target"), READ_PAGES + WRITE_PAGES)
def test_anonymous_is_sent_to_sign_in(client, world, name, target):
    response = client.get(_url(world, name, target))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.parametrize(("name", "target"), READ_PAGES)
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("no_role", {None: 200, "receipt": 404, "stocktake": 404}),
        ("wrong_company", {None: 200, "receipt": 404, "stocktake": 404}),
        ("right_company", {None: 200, "receipt": 200, "stocktake": 200}),
        ("inspector", {None: 200, "receipt": 200, "stocktake": 200}),
        ("purchaser", {None: 200, "receipt": 200, "stocktake": 200}),  # reads in scope
    ],
)
def test_who_reads_the_pages(client, world, org, name, target, who, expected):
    client.force_login(_user(world, org, who))
    assert client.get(_url(world, name, target)).status_code == expected[target]


def test_lists_show_only_the_scope(client, world, org):
    t = world["stock"].trading
    for user, rows in ((t.keeper_b, 0), (org.no_role, 0), (t.keeper_a, 3), (org.inspector, 3)):
        client.force_login(user)
        body = client.get(reverse("trading:stock_document_list")).content.decode()
        assert body.count('data-testid="document-row"') == rows
        balances = client.get(reverse("trading:stock_balance_list")).content.decode()
        assert balances.count('data-testid="balance-row"') == (1 if rows else 0)


@pytest.mark.parametrize(("name", "target"), WRITE_PAGES)
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("no_role", {None: 403, "draft": 404, "receipt": 404, "stocktake": 404}),
        ("wrong_company", {None: 200, "draft": 404, "receipt": 404, "stocktake": 404}),
        ("right_company", {None: 200, "draft": 200, "receipt": 200, "stocktake": 200}),
        ("inspector", {None: 403, "draft": 403, "receipt": 403, "stocktake": 403}),
        ("purchaser", {None: 403, "draft": 403, "receipt": 403, "stocktake": 403}),
    ],
)
def test_who_opens_the_forms(client, world, org, name, target, who, expected):
    client.force_login(_user(world, org, who))
    assert client.get(_url(world, name, target)).status_code == expected[target]


def test_a_keeper_cannot_open_another_companys_contract(client, world):
    stock = world["stock"]
    client.force_login(stock.trading.keeper_b)
    url = reverse("trading:stock_receipt_create") + f"?contract={stock.purchase.pk}"
    response = client.get(url)
    assert response.status_code == 200  # the chooser, without A's contract
    assert stock.purchase.number not in response.content.decode()


@pytest.mark.parametrize(("name", "target"), POST_ACTIONS)
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("no_role", 404),
        ("wrong_company", 404),
        ("inspector", 403),
        ("purchaser", 403),
    ],
)
def test_who_may_not_act_changes_nothing(client, world, org, name, target, who, expected):
    client.force_login(_user(world, org, who))
    documents = list(StockDocument.objects.order_by("pk").values_list("status", flat=True))
    stocktakes = list(Stocktake.objects.order_by("pk").values_list("status", flat=True))
    events = AuditEvent.objects.count()
    response = client.post(_url(world, name, target), {"reason": "x", "version": 1})
    assert response.status_code == expected
    assert list(StockDocument.objects.order_by("pk").values_list("status", flat=True)) == (
        documents
    )
    assert list(Stocktake.objects.order_by("pk").values_list("status", flat=True)) == stocktakes
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(("name", "target"), POST_ACTIONS)
def test_the_companys_keeper_acts(client, world, name, target):
    client.force_login(world["stock"].trading.keeper_a)
    response = client.post(
        _url(world, name, target),
        {"reason": "错单", "posting_date": today().isoformat(), "version": 1},
    )
    assert response.status_code == 302


def test_only_finance_imports_opening_stock(client, world, org):
    t = world["stock"].trading
    for user, expected in (
        (t.keeper_a, 403),
        (org.inspector, 403),
        (org.no_role, 403),
        (t.finance_a, 200),
    ):
        client.force_login(user)
        assert client.get(reverse("trading:stock_opening_import")).status_code == expected
        assert client.get(reverse("trading:stock_opening_template")).status_code == expected


# ---------------------------------------------------------------- query budgets


@pytest.mark.parametrize(
    "name",
    [
        "trading:stock_document_list",
        "trading:stock_balance_list",
        "trading:stock_ledger_list",
        "trading:stocktake_list",
        "trading:stock_summary",
        "trading:stock_opening_list",
    ],
)
def test_list_pages_cost_the_same_however_many_rows(client, world, org, name):
    """The statements a list page runs do not grow with its rows (no query per row)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    stock = world["stock"]
    client.force_login(org.inspector)
    url = reverse(name)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for _ in range(6):
        stock.receive("2", commodity=stock.trading.coal)
        stock.issue("1", commodity=stock.trading.coal)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(many.captured_queries) <= 16
