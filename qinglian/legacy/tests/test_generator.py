"""The generator: its history reads clean, is the same for the same seed, keeps stock
non-negative, and holds exactly the planted cases — every rule's planted case is there, and
the clean noise around them triggers none (checked by the re-statements in detectors.py)."""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from qinglian.legacy.generator import generate
from qinglian.legacy.reader import read_folder
from qinglian.legacy.records import MANIFEST
from qinglian.legacy.spec import FORMAT

from . import detectors

RULES = {
    "self_approval",
    "split_purchases",
    "threshold_clustering",
    "payment_over_contract",
    "duplicate_invoices",
    "supplier_not_admitted",
    "related_parties",
    "credit_exceptions",
    "price_anomalies",
    "quantity_variances",
    "unusual_approval_timing",
    "overdue_shipments",
    "contract_execution",
    "benford_first_digit",
    "supplier_concentration",
    "trading_warnings",
}


def digests(folder: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
    }


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """20,000 rows: enough for every rule, Benford's 300 amounts included."""
    folder = tmp_path_factory.mktemp("history")
    generate(folder, rows=20_000, seed=11)
    return folder, json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rows(history: tuple[Path, dict[str, Any]]) -> detectors.Rows:
    batch = read_folder(history[0])
    assert batch.is_clean, batch.problems[:5]
    return detectors.Rows(batch)


def planted(manifest: dict[str, Any], rule: str, table: str, check: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in manifest["planted"]:
        if item["rule"] == rule and (check is None or item["check"] == check):
            found.update(item["ids"].get(table, []))
    return found


def test_a_small_history_reads_clean_with_every_table(tmp_path: Path):
    summary = generate(tmp_path, rows=3_000, seed=3)

    batch = read_folder(tmp_path)

    assert batch.problems == []
    assert batch.row_total == summary.rows
    assert all(batch.counts[table.name] > 0 for table in FORMAT), batch.counts
    assert 2_400 <= summary.rows <= 3_600
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["rows"] == summary.rows
    assert {item["rule"] for item in manifest["planted"]} == RULES - {"benford_first_digit"}
    assert manifest["skipped"] == [
        {
            "rule": "benford_first_digit",
            "check": "company_year",
            "reason": "too few rows for 300 amounts",
        }
    ]


def test_the_same_seed_gives_the_same_bytes(tmp_path: Path):
    generate(tmp_path / "one", rows=2_000, seed=5)
    generate(tmp_path / "two", rows=2_000, seed=5)
    generate(tmp_path / "three", rows=2_000, seed=6)

    assert digests(tmp_path / "one") == digests(tmp_path / "two")
    assert digests(tmp_path / "one") != digests(tmp_path / "three")
    assert read_folder(tmp_path / "one").fingerprint == read_folder(tmp_path / "two").fingerprint


def test_the_size_follows_the_rows_asked_for(history: tuple[Path, dict[str, Any]]):
    manifest = history[1]

    assert 18_000 <= manifest["rows"] <= 22_000
    assert manifest["rows_requested"] == 20_000


def test_every_rule_has_a_planted_case(history: tuple[Path, dict[str, Any]]):
    manifest = history[1]

    assert {item["rule"] for item in manifest["planted"]} == RULES
    assert manifest["skipped"] == []
    for item in manifest["planted"]:
        assert item["ids"] and all(item["ids"].values()), item


def test_stock_never_goes_negative(rows: detectors.Rows):
    events: list[tuple[Any, int, str, str, Decimal]] = []
    for kind, document, line in detectors.stock_documents(rows):
        at = document["received_at" if kind == "receipt" else "issued_at"]
        sign = 1 if kind == "receipt" else -1
        events.append((at, sign, document["warehouse"], line["commodity"], sign * line["doc_qty"]))
    stock: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in rows["opening_stock"]:
        stock[(row["warehouse"], row["commodity"])] = row["qty"]
    counts = {(t["counted_at"], t["warehouse"], t["commodity"]): t for t in rows["stocktakes"]}
    for (at, warehouse, commodity), take in counts.items():
        events.append((at, 0, warehouse, commodity, take["counted_qty"] - take["book_qty"]))
    lowest = Decimal(0)
    for _at, _order, warehouse, commodity, change in sorted(events, key=lambda e: (e[0], -e[1])):
        stock[(warehouse, commodity)] += change
        lowest = min(lowest, stock[(warehouse, commodity)])

    assert lowest >= 0
    assert len(events) > 1_000


def test_stocktakes_count_what_the_books_hold(rows: detectors.Rows):
    # The book quantity of a count is the stock the documents leave (receipts before issues
    # on a moment, the count at month end).
    takes = rows["stocktakes"]
    assert takes
    assert all(take["book_qty"] > 0 for take in takes)


def test_the_planted_cases_are_found_and_nothing_else(
    history: tuple[Path, dict[str, Any]], rows: detectors.Rows
):
    manifest = history[1]
    over = detectors.payment_over_contract(rows)
    prices = detectors.price_anomalies(rows)
    variances = detectors.quantity_variances(rows)
    execution = detectors.contract_execution(rows)

    assert detectors.self_approval(rows) == planted(manifest, "self_approval", "approval_requests")
    assert detectors.split_purchases(rows) == planted(manifest, "split_purchases", "contracts")
    assert detectors.threshold_clustering(rows) == planted(
        manifest, "threshold_clustering", "approval_requests"
    )
    for check in ("over_contract", "over_invoiced", "not_effective"):
        assert over[check] == planted(manifest, "payment_over_contract", "contracts", check)
    assert over["no_contract"] == planted(
        manifest, "payment_over_contract", "payments", "no_contract"
    )
    assert detectors.duplicate_invoices(rows) == planted(manifest, "duplicate_invoices", "invoices")
    assert detectors.supplier_not_admitted(rows) == planted(
        manifest, "supplier_not_admitted", "partners"
    )
    assert detectors.related_parties(rows) == planted(manifest, "related_parties", "partners")
    assert detectors.credit_exceptions(rows) == planted(manifest, "credit_exceptions", "partners")
    assert detectors.credit_exception_approvers(rows) == set()  # the customer's case only
    assert prices["below_cost"] == planted(manifest, "price_anomalies", "goods_issues")
    assert prices["off_average"] == planted(manifest, "price_anomalies", "goods_receipts")
    assert variances["weighing"] == planted(manifest, "quantity_variances", "goods_receipts")
    assert variances["stocktake"] == planted(manifest, "quantity_variances", "stocktakes")
    assert detectors.unusual_timing(rows) == planted(
        manifest, "unusual_approval_timing", "approval_requests"
    )
    assert detectors.overdue_shipments(rows) == planted(
        manifest, "overdue_shipments", "goods_issues"
    )
    for check in ("not_effective", "over_executed"):
        assert execution[check] == planted(manifest, "contract_execution", "contracts", check)
    assert detectors.contracts_not_in_force(rows) == planted(
        manifest, "trading_warnings", "contracts"
    )
    assert detectors.benford(rows) == {
        (company, item["year"])
        for item in manifest["planted"]
        if item["rule"] == "benford_first_digit"
        for company in item["ids"]["companies"]
    }
    assert detectors.supplier_concentration(rows) == {
        (company, item["year"], partner)
        for item in manifest["planted"]
        if item["rule"] == "supplier_concentration"
        for company in item["ids"]["companies"]
        for partner in item["ids"]["partners"]
    }


def test_the_overdue_customer_pays_nothing_while_its_goods_leave(
    history: tuple[Path, dict[str, Any]], rows: detectors.Rows
):
    # Receipts settle the charges that fell due first (rule 12, trading's credit control): a
    # customer paying its later invoices would clear the overdue one. This one pays nothing
    # from the first due date until after the last goods left, and each issue after that date
    # leaves over 30 days (the grace) after it.
    (case,) = [item for item in history[1]["planted"] if item["rule"] == "overdue_shipments"]
    (customer,) = case["ids"]["partners"]
    (invoice,) = case["ids"]["invoices"]
    due = rows.by("invoices", "invoice_id")[invoice]["due_date"]
    issues = rows.by("goods_issues", "issue_no")
    shipped = sorted(
        detectors.local(issues[number]["issued_at"]).date()
        for number in case["ids"]["goods_issues"]
    )
    paid = [
        payment["paid_date"]
        for payment in rows["payments"]
        if payment["partner"] == customer and payment["kind"] == "customer_receipt"
    ]

    assert len(shipped) >= 2 and (shipped[0] - due).days > 30
    assert paid and not [day for day in paid if due <= day <= shipped[-1]]


def test_clean_amounts_follow_benfords_law(rows: detectors.Rows, history: tuple[Path, Any]):
    planted_years = {
        (company, item["year"])
        for item in history[1]["planted"]
        if item["rule"] == "benford_first_digit"
        for company in item["ids"]["companies"]
    }
    counts: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0] * 10)
    for request in rows["approval_requests"]:
        if request["status"] == "approved" and request["type"] in (
            "expense",
            "engineering_payment",
        ):
            key = (request["company"], detectors.local(request["submitted_at"]).year)
            counts[key][int(str(request["amount"])[0])] += 1
    checked = 0
    for key, digits in counts.items():
        total = sum(digits)
        if key in planted_years or total < 100:
            continue
        mad = sum(abs(digits[d] / total - math.log10(1 + 1 / d)) for d in range(1, 10)) / 9
        assert mad < 0.008, (key, total, mad)  # Nigrini's "close conformity": 0.006
        checked += 1
    assert checked >= 2


def test_invoice_numbers_are_written_as_the_old_systems_did(rows: detectors.Rows):
    numbers = [invoice["invoice_no"] for invoice in rows["invoices"]]

    assert any(number.startswith("0") for number in numbers)  # leading zeros kept
    assert any(len(number) == 20 for number in numbers)  # all-electronic invoices
    assert any("-" in number for number in numbers)  # the planted re-booking


def test_the_generate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    call_command("legacy_generate", str(tmp_path), "--rows", "2000", "--seed", "4")

    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == sum(1 for _ in _data_rows(tmp_path))
    assert summary["planted"] >= 30
    assert "split_purchases" in summary["rules"]

    call_command("legacy_check", str(tmp_path))
    checked = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert checked["errors"] == 0
    assert checked["rows"] == summary["rows"]


def test_the_check_command_fails_on_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    generate(tmp_path, rows=1_000, seed=2)
    (tmp_path / "commodities.csv").unlink()

    with pytest.raises(SystemExit) as exit:
        call_command("legacy_check", str(tmp_path))

    assert exit.value.code == 1
    out = capsys.readouterr().out
    assert "commodities.csv error missing_file" in out


def _data_rows(folder: Path) -> Any:
    for table in FORMAT:
        with (folder / table.file).open(encoding="utf-8") as handle:
            yield from list(handle)[1:]
