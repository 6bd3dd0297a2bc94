"""The partners-and-commodities import: checked row by row first, all or nothing, problems by
sheet, row and column; the template round-trips; the page and its permissions."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from io import BytesIO
from typing import Any

import openpyxl
import pytest
from django.urls import reverse

from qinglian.audit.models import AuditEvent
from qinglian.core.uscc import check_character
from qinglian.core.workbook import XLSX_CONTENT_TYPE
from qinglian.trading import importing
from qinglian.trading.enums import AdmissionStatus
from qinglian.trading.importing import COMMODITIES, PARTNERS, master_workbook_import
from qinglian.trading.models import Commodity, Partner, PartnerContact

pytestmark = pytest.mark.usefixtures("english")


def uscc(serial: int) -> str:
    first17 = f"91440300MA5{serial:06d}"
    return first17 + check_character(first17)


def bad_uscc(serial: int) -> str:
    good = uscc(serial)
    return good[:-1] + ("0" if good[-1] != "0" else "1")


def workbook(
    partners: Sequence[dict[str, Any]] = (), commodities: Sequence[dict[str, Any]] = ()
) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for spec, rows in ((PARTNERS, partners), (COMMODITIES, commodities)):
        if rows is None:
            continue
        sheet = book.create_sheet(spec.name)
        sheet.append([column.header for column in spec.columns])
        for values in rows:
            unknown = set(values) - {column.key for column in spec.columns}
            assert not unknown, unknown
            sheet.append([values.get(column.key, "") for column in spec.columns])
    output = BytesIO()
    book.save(output)
    return output.getvalue()


def partner_row(serial: int, **extra: Any) -> dict[str, Any]:
    return {
        "company_code": "G",
        "code": f"IMP{serial:03d}",
        "name": f"导入供应商{serial}",
        "kind": "供应商",
        "uscc": uscc(serial),
        **extra,
    }


def commodity_row(serial: int, **extra: Any) -> dict[str, Any]:
    return {"company_code": "G", "code": f"C{serial:03d}", "name": f"商品{serial}", **extra}


def messages(result: importing.ImportResult) -> list[str]:
    return [str(problem) for problem in result.problems]


def test_import_creates_partners_contacts_and_commodities(org, trading):
    events = AuditEvent.objects.count()
    result = master_workbook_import(
        actor=trading.purchaser_a,
        source=workbook(
            partners=[
                partner_row(
                    1,
                    bank_account="6222 0000 1111 2222",
                    contact_name="赵六",
                    contact_phone="13700000000",
                ),
                partner_row(2, kind="customer", uscc=""),
                partner_row(3, kind="供应商和客户", company_code="A"),
            ],
            commodities=[
                commodity_row(1, tolerance_percent="0.5%", tax_rate="9%"),
                commodity_row(2, unit="kg", quantity_tolerance_percent="10"),
            ],
        ),
        filename="master.xlsx",
    )
    assert messages(result) == []
    assert result.counts == importing.ImportCounts(partners=3, contacts=1, commodities=2)
    first = Partner.objects.get(code="IMP001")
    assert (first.company_id, first.kind, first.bank_account) == (
        org.group.pk,
        "supplier",
        "6222000011112222",
    )
    assert first.admission_status == AdmissionStatus.NOT_ADMITTED
    assert Partner.objects.get(code="IMP003").company_id == org.company_a.pk
    assert list(PartnerContact.objects.filter(partner=first).values_list("name", flat=True)) == [
        "赵六"
    ]
    one = Commodity.objects.get(code="C001")
    assert (one.tolerance_percent, one.tax_rate, one.unit) == (
        Decimal("0.50"),
        Decimal("0.0900"),
        "t",
    )
    two = Commodity.objects.get(code="C002")
    assert (two.unit, two.quantity_tolerance_percent, two.tax_rate) == (
        "kg",
        Decimal("10.00"),
        Decimal("0.1300"),
    )
    assert AuditEvent.objects.count() == events + 5


def test_every_problem_is_named_and_nothing_is_written(org, trading):
    trading.supplier.refresh_from_db()
    before = (Partner.objects.count(), Commodity.objects.count(), AuditEvent.objects.count())
    result = master_workbook_import(
        actor=trading.purchaser_a,
        source=workbook(
            partners=[
                partner_row(1),  # fine, but the import is all or nothing
                partner_row(2, kind="agent", uscc=bad_uscc(2)),
                partner_row(3, company_code="B"),  # purchaser of A does not edit B's data
                partner_row(4, code=trading.supplier.code, uscc=trading.supplier.uscc),
                partner_row(5, code="IMP001", uscc=uscc(1)),  # repeats row 2
                partner_row(6, contact_phone="13700000000"),  # details without a contact
                partner_row(7, company_code="NOPE", name=""),
            ],
            commodities=[
                commodity_row(1, code="STEEL"),
                commodity_row(2, tolerance_percent="abc", tax_rate="130%"),
                commodity_row(3, quantity_tolerance_percent="1.234"),
            ],
        ),
    )
    found = messages(result)
    assert found[0].startswith("合作方 row 3, column D (类型): “agent” is not one of:")
    assert found[1].startswith("合作方 row 3, column E (统一社会信用代码): The check character")
    assert found[2:] == [
        "合作方 row 4, column A (所属单位编码): No company with code “B” among those whose "
        "master data you see.",
        f"合作方 row 5, column B (编码): “{trading.supplier.code}” already exists; the import "
        "only creates new records.",
        f"合作方 row 5, column E (统一社会信用代码): Already registered as partner "
        f"{trading.supplier.code} {trading.supplier.name}.",
        "合作方 row 6, column B (编码): Duplicate: “IMP001” is also on row 2.",
        f"合作方 row 6, column E (统一社会信用代码): Duplicate: “{uscc(1)}” is also on row 2.",
        "合作方 row 7, column J (联系人): Name the contact whose details are given.",
        "合作方 row 8, column A (所属单位编码): No company with code “NOPE” among those whose "
        "master data you see.",
        "合作方 row 8, column C (名称): This field is required.",
        "商品 row 2, column B (编码): “STEEL” already exists; the import only creates new records.",
        "商品 row 3, column F (磅差容差): “abc” is not a number.",
        "商品 row 3, column H (税率): Must be at most 1.",
        "商品 row 4, column G (数量容差): At most 2 decimal places.",
    ]
    assert (
        Partner.objects.count(),
        Commodity.objects.count(),
        AuditEvent.objects.count(),
    ) == before


def test_dry_run_writes_nothing(org, trading):
    result = master_workbook_import(
        actor=trading.salesperson_a,
        source=workbook(partners=[partner_row(1)], commodities=[commodity_row(1)]),
        dry_run=True,
    )
    assert result.is_success and result.dry_run
    assert result.counts == importing.ImportCounts(partners=1, contacts=0, commodities=1)
    assert not Partner.objects.filter(code="IMP001").exists()
    assert not Commodity.objects.filter(code="C001").exists()


def test_commodity_rows_need_the_commodity_role(org, trading):
    # Finance edits partners but not commodities.
    result = master_workbook_import(
        actor=trading.finance_a,
        source=workbook(partners=[partner_row(1)], commodities=[commodity_row(1)]),
    )
    assert messages(result) == [
        "商品 row 2, column A (所属单位编码): You may not change master data of company “G”."
    ]
    assert not Partner.objects.filter(code="IMP001").exists()


@pytest.mark.parametrize("user", ["no_role", "inspector", "handler_a"])
def test_import_refused_to_those_without_the_roles(org, trading, user):
    from qinglian.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        master_workbook_import(actor=getattr(org, user), source=workbook(partners=[partner_row(1)]))
    assert not Partner.objects.filter(code="IMP001").exists()


def test_not_a_workbook(org, trading):
    result = master_workbook_import(
        actor=trading.purchaser_a, source=b"code,name\n", filename="partners.csv"
    )
    assert messages(result) == [
        "Only Excel workbooks (.xlsx) can be imported. Save .xls, .csv or .et files as .xlsx first."
    ]


def test_template_round_trip_imports_its_examples(org, trading):
    template = importing.template_workbook()
    book = openpyxl.load_workbook(BytesIO(template))
    assert book.sheetnames == ["合作方", "商品", "说明"]
    assert [cell.value for cell in book["商品"][1]] == [c.header for c in COMMODITIES.columns]
    result = master_workbook_import(actor=trading.purchaser_a, source=template)
    assert messages(result) == []
    assert result.counts == importing.ImportCounts(partners=2, contacts=1, commodities=2)


# ---------------------------------------------------------------- the page


@pytest.mark.parametrize(
    ("user", "status"),
    [
        (None, 302),
        ("no_role", 403),
        ("inspector", 403),
        ("keeper_b", 200),  # commodities
        ("purchaser_a", 200),
    ],
)
def test_import_page_and_template_access(client, org, trading, user, status):
    actor = None if user is None else getattr(trading, user, None) or getattr(org, user)
    if actor is not None:
        client.force_login(actor)
    assert client.get(reverse("trading:master_import")).status_code == status
    response = client.get(reverse("trading:master_import_template"))
    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == XLSX_CONTENT_TYPE


def test_import_page_upload(client, org, trading):
    client.force_login(trading.purchaser_a)
    upload = BytesIO(workbook(partners=[partner_row(1)]))
    upload.name = "partners.xlsx"
    response = client.post(reverse("trading:master_import"), {"file": upload})
    assert response.status_code == 200
    assert b'data-testid="import-result"' in response.content
    assert Partner.objects.filter(code="IMP001").exists()
    upload = BytesIO(workbook(partners=[partner_row(1)]))
    upload.name = "partners.xlsx"
    response = client.post(reverse("trading:master_import"), {"file": upload})
    assert b'data-testid="import-failed"' in response.content
    assert b"already exists" in response.content


# ---------------------------------------------------------------- the shared parsers


def test_workbook_value_parsers():
    import datetime

    from qinglian.core.workbook import Column, Problems, SheetRow, SheetSpec, WorkbookData

    spec = SheetSpec(
        key="t",
        name="表",
        label="T",
        columns=tuple(Column(key, key, key, "", "") for key in ("n", "d", "i", "c")),
    )
    book = WorkbookData()
    found = Problems(book, (spec,))

    def row(**values):
        return SheetRow(2, {"n": "", "d": "", "i": "", "c": "", **values})

    assert found.decimal(spec, row(n="1,234.50"), "n", places=2) == Decimal("1234.50")
    assert found.decimal(spec, row(n="13%"), "n", places=4, percent_sign="fraction") == Decimal(
        "0.1300"
    )
    assert found.decimal(spec, row(n="0.3%"), "n", places=2, percent_sign="points") == Decimal(
        "0.30"
    )
    assert found.decimal(spec, row(n=""), "n", places=2) is None
    assert found.date(spec, row(d="2026/3/31"), "d") == datetime.date(2026, 3, 31)
    assert found.date(spec, row(d="2026-03-31"), "d") == datetime.date(2026, 3, 31)
    assert found.integer(spec, row(i="-7"), "i") == -7
    assert found.choice(spec, row(c="Both "), "c", {"both": "B"}) == "B"
    assert not found
    assert found.decimal(spec, row(n="1e30"), "n", places=2) is None
    assert found.decimal(spec, row(n="x"), "n", places=2) is None
    assert found.date(spec, row(d="2026-02-30"), "d") is None
    assert found.integer(spec, row(i="1.5"), "i", minimum=0) is None
    assert found.integer(spec, row(i="-1"), "i", minimum=0) is None
    assert [problem.message for problem in found.sorted()] == [
        "“1e30” is too large.",
        "“x” is not a number.",
        "“2026-02-30” is not a date; write it as 2026-03-31.",
        "“1.5” is not a whole number.",
        "Must be at least 0.",
    ]
