"""Opening balances from Excel: all or nothing, problems by row and column, the same file
never twice, the template, and who may import (service, page, API)."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from qinglian.audit.models import AuditEvent
from qinglian.core.errors import PermissionDenied
from qinglian.trading.enums import ContractKind, PartnerEntryKind
from qinglian.trading.factories import make_contract, make_partner
from qinglian.trading.models import PartnerBalance, PartnerLedgerEntry
from qinglian.trading.models.money import OpeningBalance
from qinglian.trading.services import money as services

HEADERS = ["单位编码", "合作方编码", "科目", "金额", "期初日期", "到期日", "合同编号", "摘要"]
D = Decimal
pytestmark = pytest.mark.usefixtures("english", "money_flows")


def workbook(*rows, headers=HEADERS, sheet="期初余额"):
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    ws.append(headers)
    for row in rows:
        ws.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def sale(trading, org):
    return make_contract(
        company=org.company_a,
        partner=trading.customer,
        owner=trading.salesperson_a,
        kind=ContractKind.SALES,
        lines=[(trading.steel, "100", "4000")],
        number="XS-2025-09",
    )


def good_rows(trading):
    return (
        (
            "A",
            trading.customer.code,
            "应收",
            "1,280,000.00",
            "2026-01-01",
            "2026-02-15",
            "XS-2025-09",
            "12月发票",
        ),
        ("A", trading.customer.code, "应收", "20000", "2026-01-01", "2025-12-31", "", ""),
        ("A", trading.supplier.code, "应付", "-200,000.00", "2026-01-01", "", "", "预付货款"),
    )


def test_import_posts_every_row(trading, org, sale):
    data = workbook(*good_rows(trading))
    result = services.opening_balances_import(actor=trading.finance_a, source=data)
    assert result.is_success, result.problems
    assert (result.counts.rows, result.counts.receivable, result.counts.payable) == (
        3,
        D("1300000.00"),
        D("-200000.00"),
    )
    assert OpeningBalance.objects.count() == 3
    assert set(OpeningBalance.objects.values_list("import_batch", flat=True)) == {
        __import__("hashlib").sha256(data).hexdigest()
    }
    assert PartnerLedgerEntry.objects.filter(kind=PartnerEntryKind.OPENING).count() == 3
    receivable = PartnerBalance.objects.get(company=org.company_a, partner=trading.customer)
    assert receivable.receivable == D("1300000.00")
    sale.refresh_from_db()
    assert sale.invoiced_amount == D("1280000.00")
    assert AuditEvent.objects.filter(action="trading.opening_balance.posted").count() == 3
    # The same file again is refused, whole.
    again = services.opening_balances_import(actor=trading.finance_a, source=data)
    assert not again.is_success
    assert "already imported" in again.problems[0].message
    assert OpeningBalance.objects.count() == 3


def test_dry_run_writes_nothing(trading, org, sale):
    result = services.opening_balances_import(
        actor=trading.finance_a, source=workbook(*good_rows(trading)), dry_run=True
    )
    assert result.is_success and result.dry_run
    assert result.counts.rows == 3
    assert not OpeningBalance.objects.exists()
    assert not PartnerLedgerEntry.objects.exists()


def test_every_problem_is_named_and_nothing_is_written(trading, org, sale):
    purchase = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "1", "1")],
        number="CG-1",
    )
    theirs = make_partner(company=org.company_b, code="BONLY")
    data = workbook(
        *good_rows(trading),
        ("B", trading.customer.code, "应收", "1", "2026-01-01", "", "", ""),  # not B's finance
        ("A", "NOPE", "应收", "1", "2026-01-01", "", "", ""),
        ("A", theirs.code, "应收", "1", "2026-01-01", "", "", ""),  # B's own partner
        ("A", trading.customer.code, "其他", "0", "2026-13-01", "明天", "", ""),
        ("A", trading.customer.code, "应收", "1", "2026-01-01", "", purchase.number, ""),
        ("A", trading.customer.code, "应收", "1", "2026-01-01", "", "NO-SUCH", ""),
        ("A", "", "应收", "1.005", "2026-01-01", "", "", ""),
    )
    before = (OpeningBalance.objects.count(), AuditEvent.objects.count())
    result = services.opening_balances_import(actor=trading.finance_a, source=data)
    assert not result.is_success
    found = {(p.row, p.column) for p in result.problems}
    assert found == {
        (5, "A"),
        (6, "B"),
        (7, "B"),
        (8, "C"),
        (8, "D"),
        (8, "E"),
        (8, "F"),
        (9, "G"),
        (10, "G"),
        (11, "B"),
        (11, "D"),
    }
    assert (OpeningBalance.objects.count(), AuditEvent.objects.count()) == before
    assert not PartnerLedgerEntry.objects.exists()


def test_empty_or_foreign_workbooks_are_refused(trading):
    empty = services.opening_balances_import(actor=trading.finance_a, source=workbook())
    assert not empty.is_success
    wrong = services.opening_balances_import(actor=trading.finance_a, source=b"not a workbook")
    assert not wrong.is_success


def test_only_finance_imports(trading, org):
    for actor in (trading.purchaser_a, org.inspector, org.no_role):
        with pytest.raises(PermissionDenied):
            services.opening_balances_import(actor=actor, source=workbook())


def test_template_reads_back(trading):
    template = services.opening_balances_template()
    book = openpyxl.load_workbook(io.BytesIO(template))
    assert "期初余额" in book.sheetnames
    headers = [cell.value for cell in book["期初余额"][1]]
    assert [str(h).rstrip("*") for h in headers] == HEADERS


# ---------------------------------------------------------------- page and API


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 302),
        ("no_role", 403),
        ("purchaser_a", 403),
        ("inspector", 403),
        ("finance_a", 200),
    ],
)
@pytest.mark.parametrize("url", ["opening_balance_import", "opening_balance_import_template"])
def test_page_matrix(client, trading, org, url, who, expected):
    user = (
        {"anonymous": None}.get(who)
        if who == "anonymous"
        else (getattr(trading, who, None) or getattr(org, who))
    )
    if user is not None:
        client.force_login(user)
    assert client.get(reverse(f"trading:{url}")).status_code == expected


def test_upload_page(client, trading, org, sale):
    client.force_login(trading.finance_a)
    upload = SimpleUploadedFile("期初.xlsx", workbook(*good_rows(trading)))
    response = client.post(reverse("trading:opening_balance_import"), {"file": upload})
    assert response.status_code == 200
    assert b'data-testid="import-result"' in response.content
    assert OpeningBalance.objects.count() == 3
    bad = SimpleUploadedFile("bad.xlsx", workbook(("A", "NOPE", "应收", "1", "2026-01-01")))
    response = client.post(reverse("trading:opening_balance_import"), {"file": bad})
    assert b'data-testid="import-error"' in response.content
    assert OpeningBalance.objects.count() == 3


def test_api_import(trading, org, sale):
    client = Client()
    client.force_login(trading.finance_a)
    upload = SimpleUploadedFile("期初.xlsx", workbook(*good_rows(trading)))
    checked = client.post(
        "/api/trading/opening-balances/import", {"file": upload, "dry_run": "true"}
    )
    assert checked.status_code == 200, checked.content
    assert checked.json()["is_success"] and checked.json()["dry_run"]
    assert checked.json()["counts"]["rows"] == 3
    assert not OpeningBalance.objects.exists()
    client.force_login(trading.purchaser_a)
    refused = client.post(
        "/api/trading/opening-balances/import",
        {"file": SimpleUploadedFile("x.xlsx", workbook(*good_rows(trading)))},
    )
    assert refused.status_code == 403
    assert Client().get("/api/trading/opening-balances/import/template").status_code == 401
