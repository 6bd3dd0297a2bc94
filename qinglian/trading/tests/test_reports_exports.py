"""The reports' Excel exports: each .xlsx, read back with openpyxl, holds the page's figures,
figure for figure and row for row (the test reads both); the stock ledger export holds every
entry the filtered list holds; and the writer's memory does not grow with the rows."""

from __future__ import annotations

import datetime
import io
import re
import tempfile
import tracemalloc
from decimal import Decimal as D
from typing import Any

import openpyxl
import pytest
from django.urls import reverse

from qinglian.core import clock
from qinglian.core.workbook import XLSX_CONTENT_TYPE
from qinglian.trading import exports
from qinglian.trading.models.stock import StockDocument, StockLedgerEntry

from .test_reports_drilldown import build_world, days_ago

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
FIGURE_KINDS = {exports.QUANTITY, exports.MONEY, exports.PERCENT}


@pytest.fixture
def world(stock, org, shared_layers):
    return shared_layers.get("world", build_world, stock, org)


def page_rows(html: str, testid: str = "report-row") -> list[list[D]]:
    """The figures (data-value) of each row of a report page, in order."""
    return [
        [D(value) for value in re.findall(r'data-value="([^"]+)"', row)]
        for row in re.findall(rf'<tr data-testid="{testid}">(.*?)</tr>', html, re.S)
    ]


def workbook(response) -> list[tuple[Any, ...]]:
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    assert "attachment" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def sheet_rows(rows: list[tuple[Any, ...]], columns: list[exports.Column]) -> list[list[D]]:
    """The figures of each data row (the figure columns, blanks skipped), after the header."""
    headers = tuple(str(column.header) for column in columns)
    start = next(index for index, row in enumerate(rows) if row[: len(headers)] == headers)
    kinds = [column.kind for column in columns]
    result = []
    for row in rows[start + 1 :]:
        if all(cell is None for cell in row[: len(headers)]):
            break  # the blank line before the notes
        result.append(
            [
                D(str(cell))
                for cell, kind in zip(row, kinds, strict=False)
                if kind in FIGURE_KINDS and cell is not None
            ]
        )
    return result


def same(page: list[list[D]], sheet: list[list[D]]) -> None:
    assert len(page) == len(sheet)
    for page_row, sheet_row in zip(page, sheet, strict=True):
        assert page_row == sheet_row  # Decimal equality is numeric: 1.50 == 1.5


def export_of(client, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return workbook(client.get(reverse(name), params))


def test_psi_export_equals_the_page(client, world, org):
    client.force_login(org.inspector)
    for group_by in ("series", "commodity"):
        params = {
            "date_from": days_ago(96).isoformat(),
            "date_to": days_ago(2).isoformat(),
            "group_by": group_by,
        }
        html = client.get(reverse("trading:report_psi"), params).content.decode()
        rows = export_of(client, "trading:report_psi_export", params)
        sheet = sheet_rows(rows, exports.psi_columns())
        page = page_rows(html) + page_rows(html, "report-total")
        assert len(page) >= 3
        same(page, sheet)
        assert rows[0][0] == "Purchase–sales–inventory summary"
        assert any(
            row[0] and days_ago(96).isoformat() in str(row[0]) for row in rows[:6]
        )  # the period is printed above the table


def test_ageing_export_equals_the_page(client, world, org):
    client.force_login(org.inspector)
    html = client.get(reverse("trading:report_ageing")).content.decode()
    rows = export_of(client, "trading:report_ageing_export", {})
    page = page_rows(html) + page_rows(html, "report-total")
    assert page[0][-1] == D("200000.00")
    same(page, sheet_rows(rows, exports.ageing_columns()))


def test_contract_execution_export_equals_the_page(client, world, org):
    client.force_login(org.inspector)
    params = {"company": org.company_a.pk}
    html = client.get(reverse("trading:report_execution"), params).content.decode()
    rows = export_of(client, "trading:report_execution_export", params)
    page = page_rows(html)
    assert len(page) == 3 + 6  # three contracts, two lines each
    same(page, sheet_rows(rows, exports.execution_columns()))


def test_margin_export_equals_the_page(client, world, org):
    client.force_login(org.inspector)
    html = client.get(reverse("trading:report_margin")).content.decode()
    rows = export_of(client, "trading:report_margin_export", {})
    page = page_rows(html) + page_rows(html, "report-total")
    assert len(page) == 2
    same(page, sheet_rows(rows, exports.margin_columns()))


def test_concentration_export_equals_the_page(client, world, org):
    client.force_login(org.inspector)
    params = {"date_from": days_ago(200).isoformat(), "date_to": clock.today().isoformat()}
    html = client.get(reverse("trading:report_concentration"), params).content.decode()
    rows = export_of(client, "trading:report_concentration_export", params)
    summary = html.split('data-testid="concentration-summary"')[1].split("</div></div></div>")[0]
    total = D(re.search(r'data-value="([^"]+)"', summary)[1])
    page = [*page_rows(html), [total]]
    same(page, sheet_rows(rows, exports.concentration_columns()))
    hhi = re.search(r'data-testid="hhi">([^<]+)<', html)[1]
    assert any(row[0] and f"HHI: {hhi}" in str(row[0]) for row in rows)


def test_ledger_export_holds_every_entry_of_the_filtered_list(client, world, org):
    client.force_login(org.inspector)
    params = {"contract": world.stock.sales.pk}
    html = client.get(reverse("trading:stock_ledger_list"), params).content.decode()
    rows = export_of(client, "trading:stock_ledger_export", params)
    columns = exports.ledger_columns()
    listed = [
        [
            D(v)
            for v in re.findall(r'data-testid="entry-(?:quantity|value)" data-value="([^"]+)"', row)
        ]
        for row in re.findall(r'<tr data-testid="entry-row">(.*?)</tr>', html, re.S)
    ]
    assert len(listed) > 6
    same(listed, sheet_rows(rows, columns))
    documents = set(
        StockDocument.objects.filter(contract=world.stock.sales).values_list("number", flat=True)
    )
    assert {row[9] for row in rows if isinstance(row[0], datetime.datetime)} == documents
    everything = export_of(client, "trading:stock_ledger_export", {})
    assert len(sheet_rows(everything, columns)) == StockLedgerEntry.objects.count()


def test_an_export_shows_only_the_scope(client, world, org):
    client.force_login(world.trading.keeper_b)
    rows = export_of(client, "trading:stock_ledger_export", {})
    data = sheet_rows(rows, exports.ledger_columns())
    assert len(data) == StockLedgerEntry.objects.filter(company=org.company_b).count() == 1


def _peak(rows: int) -> int:
    def generate():
        for number in range(rows):
            yield [
                datetime.date(2026, 1, 1) + datetime.timedelta(days=number % 300),
                "甲公司",
                "一号库",
                f"螺纹钢 {number % 50}",
                "Goods issue",
                "Out",
                D("-12.345"),
                D("-55555.55"),
                "Goods issue",
                f"CK-2026-{number:06d}",
                number,
            ]

    with tempfile.TemporaryFile() as target:
        tracemalloc.start()
        try:
            exports.write_xlsx(
                target,
                title="t",
                parameters=[],
                columns=exports.ledger_columns(),
                rows=generate(),
            )
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_writing_more_rows_needs_no_more_memory():
    """Constant memory: ten times the rows, about the same peak (XlsxWriter's constant-memory
    mode flushes each row; the rows come from a generator)."""
    small, large = _peak(2_000), _peak(20_000)
    assert large < small * 1.5 + 256 * 1024, (small, large)
