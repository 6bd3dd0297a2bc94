"""The reader: a hand-made folder covering every table reads clean; each kind of fault gives
exactly the problem it should, with file, row (the header is row 1) and column."""

from __future__ import annotations

import datetime
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import translation

from qinglian.legacy.reader import ERROR, WARNING, FolderChanged, Problem, read_folder
from qinglian.legacy.spec import FORMAT

CLEAN = Path(__file__).parent / "data" / "clean"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "batch"
    shutil.copytree(CLEAN, target)
    return target


def edit(folder: Path, file: str, old: str, new: str) -> None:
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {file}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def located(problems: list[Problem]) -> list[tuple[str, int | None, str, str, str]]:
    return [(p.file, p.row, p.column, p.code, p.severity) for p in problems]


def test_the_hand_made_folder_covers_every_table_and_reads_clean():
    batch = read_folder(CLEAN)

    assert batch.problems == []
    assert batch.is_clean
    assert set(batch.counts) == set(FORMAT.load_order())
    assert all(count > 0 for count in batch.counts.values()), batch.counts
    assert batch.row_total == 68
    assert sorted(batch.rows) == sorted(FORMAT.load_order())


def test_values_are_typed_per_column_and_identifiers_kept_verbatim():
    batch = read_folder(CLEAN)
    invoices = FORMAT["invoices"]
    rows = {invoices.key_of(row): row for row in batch.iter_rows("invoices")}
    number = invoices.positions["invoice_no"]

    assert rows["INV-R-0001"][number] == "00012345"  # leading zeros kept
    assert rows["INV-I-0001"][number] == "0A-00789"  # dash and case kept
    assert rows["INV-R-0002"][invoices.positions["invoice_code"]] is None
    assert rows["INV-R-0001"][invoices.positions["amount"]] == Decimal("180774.00")
    assert rows["INV-I-0001"][invoices.positions["due_date"]] == datetime.date(2025, 3, 22)
    steps = FORMAT["approval_steps"]
    first = next(batch.iter_rows("approval_steps"))
    decided_at = first[steps.positions["decided_at"]]
    assert decided_at == datetime.datetime(
        2025, 1, 6, 3, 0, tzinfo=datetime.UTC
    )  # 11:00 in Shanghai
    assert decided_at.utcoffset() == datetime.timedelta(hours=8)
    assert first[steps.positions["seq"]] == 1
    employees = FORMAT["employees"]
    keeper = next(row for row in batch.iter_rows("employees") if row[0] == "E005")
    assert keeper[employees.positions["department"]] is None  # an empty code
    assert keeper[employees.positions["title"]] == "仓管员"
    assert keeper[employees.positions["phone"]] == ""  # an empty text


def test_the_fingerprint_depends_on_the_content_only(folder: Path, tmp_path: Path):
    first = read_folder(CLEAN)
    again = read_folder(folder)

    assert again.fingerprint == first.fingerprint
    edit(folder, "payments.csv", "首笔货款", "首笔货款。")
    assert read_folder(folder).fingerprint != first.fingerprint


def test_a_broken_reference_names_the_file_row_and_columns(folder: Path):
    edit(
        folder,
        "goods_receipt_lines.csv",
        "RK-0002,1,CG-2025-001,1,",
        "RK-0002,1,CG-2025-001,2,",
    )

    batch = read_folder(folder)

    assert located(batch.problems) == [
        ("goods_receipt_lines.csv", 3, "contract_no, contract_line_no", "broken_reference", ERROR)
    ]
    assert batch.problems[0].value == "(CG-2025-001, 2)"
    assert "contract_lines.csv" in batch.problems[0].message
    assert not batch.is_clean
    assert batch.rows == {}


def test_a_forward_reference_is_checked_too(folder: Path):
    # approval_requests come before contracts in the load order; the subject still must exist.
    edit(folder, "approval_requests.csv", "contract,XS-2025-001,", "contract,XS-2025-009,")

    batch = read_folder(folder)

    assert located(batch.problems) == [
        ("approval_requests.csv", 5, "subject_id", "broken_reference", ERROR)
    ]


def test_a_bad_date(folder: Path):
    edit(folder, "contracts.csv", ",2025-02-10,2025-02-12,", ",2025-02-30,2025-02-12,")

    batch = read_folder(folder)

    assert located(batch.problems) == [("contracts.csv", 4, "signed_date", "bad_date", ERROR)]
    assert batch.problems[0].value == "2025-02-30"


@pytest.mark.parametrize("text", ["2025/02/10", "20250210", "2025-2-10", "2025-W06-1"])
def test_dates_must_be_written_year_month_day_with_dashes(folder: Path, text: str):
    edit(folder, "contracts.csv", ",2025-02-10,2025-02-12,", f",{text},2025-02-12,")

    assert located(read_folder(folder).problems) == [
        ("contracts.csv", 4, "signed_date", "bad_date", ERROR)
    ]


def test_a_moment_needs_its_offset(folder: Path):
    edit(folder, "stocktakes.csv", "2025-03-31T16:00:00+08:00", "2025-03-31T16:00:00")

    assert located(read_folder(folder).problems) == [
        ("stocktakes.csv", 2, "counted_at", "bad_moment", ERROR)
    ]


def test_a_duplicate_key_names_the_first_row(folder: Path):
    edit(folder, "invoices.csv", "INV-R-0003,received", "INV-R-0001,received")

    with translation.override("en"):
        batch = read_folder(folder)

    # The duplicate, and the payment that named the invoice that is gone.
    assert located(batch.problems) == [
        ("invoices.csv", 5, "invoice_id", "duplicate_key", ERROR),
        ("payments.csv", 4, "invoice_id", "broken_reference", ERROR),
    ]
    assert "row 2" in batch.problems[0].message


def test_a_repeated_invoice_number_is_history_not_a_duplicate_key(folder: Path):
    edit(folder, "invoices.csv", "INV-R-0003,received,00223344,", "INV-R-0003,received,00012345,")

    assert read_folder(folder).problems == []


def test_a_missing_column(folder: Path):
    path = folder / "payments.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n", encoding="utf-8")

    batch = read_folder(folder)

    assert located(batch.problems) == [("payments.csv", 1, "note", "missing_column", ERROR)]
    assert batch.counts["payments"] == 0


def test_an_unknown_and_a_repeated_column(folder: Path):
    edit(folder, "stocktakes.csv", ",counter\n", ",counter,remark\n")
    edit(folder, "stocktakes.csv", ",E005\n", ",E005,\n")
    edit(folder, "commodities.csv", ",tax_rate\n", ",tax_rate,unit\n")
    edit(folder, "commodities.csv", ",0.13\n", ",0.13,吨\n")

    assert located(read_folder(folder).problems) == [
        ("commodities.csv", 1, "unit", "duplicate_column", ERROR),
        ("stocktakes.csv", 1, "remark", "unknown_column", ERROR),
    ]


def test_a_missing_file_does_not_cascade(folder: Path):
    (folder / "commodities.csv").unlink()

    batch = read_folder(folder)

    # Every line naming a commodity would be a broken reference; the missing file says it.
    assert located(batch.problems) == [("commodities.csv", None, "", "missing_file", ERROR)]


def test_columns_may_come_in_any_order_and_a_byte_order_mark_is_ignored(folder: Path):
    path = folder / "warehouses.csv"
    path.write_text(
        "\ufeffname,code,kind,company,address\n青联物资一号库,WH01,own,QLWZ,杭州市余杭区\n",
        encoding="utf-8",
    )

    batch = read_folder(folder)

    assert batch.problems == []
    assert batch.rows["warehouses"] == [("WH01", "QLWZ", "青联物资一号库", "own", "杭州市余杭区")]


def test_every_bad_cell_of_a_row_is_reported(folder: Path):
    edit(
        folder,
        "contract_lines.csv",
        "XS-2025-001,1,RB400,50.000,4520.00,226000.00,5.00,0.13",
        "XS-2025-001,1,RB400,50.0001,4520.001,226000.00,105,1.13",
    )

    assert located(read_folder(folder).problems) == [
        ("contract_lines.csv", 3, "quantity", "too_many_decimals", ERROR),
        ("contract_lines.csv", 3, "unit_price", "too_many_decimals", ERROR),
        ("contract_lines.csv", 3, "qty_tolerance_pct", "out_of_range", ERROR),
        ("contract_lines.csv", 3, "tax_rate", "out_of_range", ERROR),
    ]


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("180774.005", "too_many_decimals"),
        ('"180,774.00"', "bad_number"),  # quoted: one field
        ("1.8e5", "bad_number"),
        ("-180774.00", "negative"),
        ("", "required"),
        (" 180774.00", "bad_number"),
    ],
)
def test_amounts(folder: Path, amount: str, code: str):
    edit(folder, "payments.csv", "INV-R-0001,180774.00,", f"INV-R-0001,{amount},")

    assert located(read_folder(folder).problems) == [("payments.csv", 2, "amount", code, ERROR)]


def test_amounts_with_two_decimals_or_fewer_are_fine(folder: Path):
    edit(folder, "payments.csv", "INV-R-0001,180774.00,", "INV-R-0001,180774.0,")

    assert read_folder(folder).problems == []


def test_a_bad_enum_lists_the_allowed_values(folder: Path):
    edit(folder, "warehouses.csv", ",own,", ",leased,")

    batch = read_folder(folder)

    assert located(batch.problems) == [("warehouses.csv", 2, "kind", "bad_enum", ERROR)]
    assert "own, third_party" in batch.problems[0].message


def test_a_wrong_number_of_fields(folder: Path):
    edit(folder, "opening_stock.csv", ",2025-01-01\n", ",2025-01-01,extra\n")

    assert located(read_folder(folder).problems) == [
        ("opening_stock.csv", 2, "", "field_count", ERROR)
    ]


def test_a_file_that_is_not_utf8(folder: Path):
    path = folder / "commodities.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))

    problems = read_folder(folder).problems

    assert [(p.file, p.code) for p in problems] == [("commodities.csv", "unreadable_file")]


def test_a_wrong_uscc_check_character_is_only_a_warning(folder: Path):
    edit(folder, "partners.csv", "91330200MA2H000033", "91330200MA2H000034")

    batch = read_folder(folder)

    assert located(batch.problems) == [("partners.csv", 2, "uscc", "uscc", WARNING)]
    assert batch.is_clean
    assert batch.rows["partners"][0][2] == "91330200MA2H000034"  # kept as given


def test_a_step_after_a_rejected_step(folder: Path):
    edit(
        folder,
        "approval_steps.csv",
        "AR-0003,1,dept_head,E002,rejected,2025-02-13T09:40:00+08:00,票据不全\n",
        "AR-0003,1,dept_head,E002,rejected,2025-02-13T09:40:00+08:00,票据不全\n"
        "AR-0003,2,finance,E003,approved,2025-02-13T10:00:00+08:00,\n",
    )

    assert located(read_folder(folder).problems) == [
        ("approval_steps.csv", 7, "seq", "step_after_rejection", ERROR)
    ]


def test_an_approved_request_with_a_rejected_step(folder: Path):
    edit(folder, "approval_steps.csv", "AR-0005,2,gm,E006,approved", "AR-0005,2,gm,E006,rejected")

    assert located(read_folder(folder).problems) == [
        ("approval_steps.csv", 10, "decision", "approved_with_rejection", ERROR)
    ]


def test_a_receivable_repeats_its_invoice_number_byte_for_byte(folder: Path):
    edit(folder, "receivables.csv", "INV-I-0001,0A-00789,", "INV-I-0001,0a-00789,")

    assert located(read_folder(folder).problems) == [
        ("receivables.csv", 2, "invoice_no", "invoice_no_mismatch", ERROR)
    ]


def test_a_goods_line_names_its_documents_contract(folder: Path):
    edit(folder, "goods_issue_lines.csv", "CK-0001,1,XS-2025-001,1,", "CK-0001,1,CG-2025-001,1,")

    assert located(read_folder(folder).problems) == [
        ("goods_issue_lines.csv", 2, "contract_no", "contract_mismatch", ERROR)
    ]


def test_history_that_today_would_block_is_not_a_problem(folder: Path):
    # A self-approval, a payment beyond the contract, a shipment after the contract ended.
    edit(folder, "approval_steps.csv", "AR-0001,1,dept_head,E002,", "AR-0001,1,dept_head,E004,")
    edit(folder, "payments.csv", "INV-R-0001,180774.00,", "INV-R-0001,980774.00,")
    edit(folder, "contracts.csv", "2025-12-31,,226000.00", "2025-01-31,2025-01-31,226000.00")

    assert read_folder(folder).problems == []


def test_problems_beyond_the_cap_are_counted(folder: Path):
    path = folder / "stocktakes.csv"
    bad = "PD,QLWZ,WH01,RB400,yesterday,1.000,1.000,E005\n"
    path.write_text(path.read_text(encoding="utf-8") + bad * 30, encoding="utf-8")

    batch = read_folder(folder, max_problems=10)

    assert len(batch.problems) == 10
    assert batch.problem_counts == {"bad_moment": 30, "duplicate_key": 29}
    assert batch.problem_total == 59
    assert not batch.is_clean


def test_rows_can_be_streamed_again_and_a_changed_file_is_refused(folder: Path):
    batch = read_folder(folder, keep_rows=False)
    assert batch.rows == {}
    assert len(list(batch.iter_rows("approval_steps"))) == 14

    edit(folder, "approval_steps.csv", "同意支付", "同意付款")
    with pytest.raises(FolderChanged):
        list(batch.iter_rows("approval_steps"))


def test_the_group_has_one_root_and_no_loops(folder: Path):
    edit(folder, "companies.csv", ",青联集团,,", ",青联集团,QLWZ,")

    batch = read_folder(folder)

    assert located(batch.problems) == [
        ("companies.csv", None, "parent_code", "no_root", ERROR),
        ("companies.csv", 2, "parent_code", "parent_cycle", ERROR),
        ("companies.csv", 3, "parent_code", "parent_cycle", ERROR),
    ]


def test_two_roots(folder: Path):
    edit(folder, "companies.csv", "青联物资,QL,", "青联物资,,")

    assert located(read_folder(folder).problems) == [
        ("companies.csv", 3, "parent_code", "several_roots", ERROR)
    ]


def test_a_header_only_file_and_blank_lines_are_fine(folder: Path):
    (folder / "stocktakes.csv").write_text(
        "stocktake_id,company,warehouse,commodity,counted_at,book_qty,counted_qty,counter\n",
        encoding="utf-8",
    )
    path = folder / "receivables.csv"
    path.write_text(path.read_text(encoding="utf-8") + "\n\n", encoding="utf-8")

    batch = read_folder(folder)

    assert batch.problems == []
    assert batch.counts["stocktakes"] == 0
    assert batch.counts["receivables"] == 1


def test_another_csv_in_the_folder_is_only_a_warning(folder: Path):
    (folder / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")

    batch = read_folder(folder)

    assert located(batch.problems) == [("notes.csv", None, "", "unknown_file", WARNING)]
    assert batch.is_clean


def test_a_bad_row_does_not_make_the_rows_naming_it_broken(folder: Path):
    # The contract's own row has a bad amount; its lines, receipts and invoices still name it.
    edit(folder, "contracts.csv", ",396000.00,completed,", ",396000.001,completed,")

    assert located(read_folder(folder).problems) == [
        ("contracts.csv", 2, "amount", "too_many_decimals", ERROR)
    ]


def test_full_width_digits_are_not_numbers(folder: Path):
    edit(folder, "opening_stock.csv", ",120.000,", ",１２０.000,")

    assert located(read_folder(folder).problems) == [
        ("opening_stock.csv", 2, "qty", "bad_number", ERROR)
    ]
