"""The loader: the hand-made folder loads as one batch with the right counts per table, the
ledgers are rebuilt so they add up (stock: balances = sum of entries = the PSI summary, at
moving-average cost; partners: balances = sum of entries), history is kept as it was (source
ids verbatim, duplicates and self-approvals not "fixed"), a broken folder writes nothing, the
same folder twice changes nothing, imported employees cannot log in."""

from __future__ import annotations

import datetime
import shutil
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import Sum
from django.urls import reverse

from qinglian.approvals.models import ApprovalAction, ApprovalRequest, ApprovalTask
from qinglian.audit.models import AuditEvent
from qinglian.core.errors import Conflict
from qinglian.legacy.loader import LoadRefused, legacy_import
from qinglian.legacy.models import ImportBatch
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_user
from qinglian.org.models import Company, Department, RoleAssignment, User
from qinglian.org.services import role_builtin_ensure
from qinglian.trading.models import (
    Contract,
    ContractLine,
    CreditExposure,
    Invoice,
    PartnerBalance,
    PartnerLedgerEntry,
    Payment,
    StockBalance,
    StockDocument,
    StockLedgerEntry,
    Stocktake,
)
from qinglian.trading.models.stock import StockMonthlyTotal
from qinglian.trading.selectors.stock import psi_summary
from qinglian.trading.services import contracts as contract_services
from qinglian.trading.services import money as money_services
from qinglian.trading.services import stock as stock_services

CLEAN = Path(__file__).parent / "data" / "clean"
CENT = Decimal("0.01")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles(db):
    role_builtin_ensure()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "batch"
    shutil.copytree(CLEAN, target)
    return target


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def test_the_hand_made_folder_loads_with_the_right_counts():
    report = legacy_import(CLEAN)

    assert report.created and report.row_total == 68
    assert (
        report.written["org.company"]
        == Company.objects.filter(import_batch=report.batch_id).count()
        == 2
    )
    assert Department.objects.filter(import_batch=report.batch_id).count() == 4
    assert User.objects.filter(import_batch=report.batch_id).count() == 8
    assert ApprovalRequest.objects.filter(import_batch=report.batch_id).count() == 8
    # 14 decided steps: one task and one decision action each, plus one submission per request
    assert ApprovalTask.objects.count() == 14
    assert ApprovalAction.objects.filter(kind="submitted").count() == 8
    # the engineering contract, its line and the engineering / expense payments have no
    # trading model: they stay in their approval requests and are reported as skipped
    assert Contract.objects.filter(import_batch=report.batch_id).count() == 2
    assert ContractLine.objects.count() == 2
    assert StockDocument.objects.filter(kind="receipt").count() == 2
    assert StockDocument.objects.filter(kind="issue").count() == 1
    assert Stocktake.objects.count() == 1
    assert Invoice.objects.count() == 4
    assert Payment.objects.count() == 2
    assert report.skipped == {
        "contracts of kind engineering (kept in their approval requests)": 1,
        "contract lines without a commodity (engineering)": 1,
        "payments of kind expense_reimbursement (kept in their approval requests)": 1,
        "payments of kind engineering_payment (kept in their approval requests)": 1,
        "partner_status_history (status as at the export date kept on the partner)": 4,
        "receivables (derived, checked only)": 1,
    }
    batch = ImportBatch.objects.get()
    assert batch.id == report.batch_id and batch.row_total == 68
    assert batch.rows["approval_steps"] == 14
    # one audit event per table written and one for the batch, not one per row
    events = AuditEvent.objects.filter(object_id=report.batch_id)
    assert events.filter(action="legacy.batch.loaded").count() == 1
    assert events.filter(action="legacy.table.loaded").count() == len(report.written)


def test_source_ids_are_kept_verbatim_and_history_is_not_fixed():
    legacy_import(CLEAN)

    invoice = Invoice.objects.get(source_id="INV-R-0001")
    assert invoice.invoice_number == "00012345"  # leading zeros kept
    assert invoice.is_imported and invoice.status == "posted"
    assert Invoice.objects.get(source_id="INV-I-0001").invoice_number == "0A-00789"
    contract = Contract.objects.get(source_id="CG-2025-001")
    assert contract.number == "CG-2025-001" and contract.status == "completed"
    assert contract.approval_request.source_id == "AR-0001"
    request = ApprovalRequest.objects.get(source_id="AR-0001")
    assert request.status == "approved"
    assert request.document_type == "trading.contract" and request.document_id == str(contract.pk)
    assert request.submitted_at == datetime.datetime.fromisoformat("2025-01-06T09:30:00+08:00")
    tasks = list(ApprovalTask.objects.filter(request=request).order_by("step__index"))
    assert [task.assignee.employee_number for task in tasks] == ["E002", "E003"]
    # the decision facts supervision reads: seconds from the task arriving to the decision
    assert tasks[0].decision_seconds == 90 * 60  # 09:30 → 11:00
    assert tasks[0].decided_after_hours is False
    assert ApprovalRequest.objects.get(source_id="AR-0008").status == "in_progress"


def test_the_stock_ledger_is_rebuilt_at_moving_average_and_adds_up():
    legacy_import(CLEAN)

    # opening 120 t at 3,850; receipts at their price net of 13 % VAT; the issue on 3 February
    # at the average of the moment; the stocktake loss of 0.05 t at the average of 31 March.
    quantity, value = Decimal("120.000"), Decimal("462000.00")
    quantity, value = (
        quantity + Decimal("45.650"),
        value + money(Decimal("180774.00") / Decimal("1.13")),
    )
    issued = money(Decimal("30") * value / quantity)
    quantity, value = quantity - 30, value - issued
    quantity, value = (
        quantity + Decimal("54.350"),
        value + money(Decimal("215226.00") / Decimal("1.13")),
    )
    lost = money(Decimal("0.05") * value / quantity)
    quantity, value = quantity - Decimal("0.05"), value - lost

    balance = StockBalance.objects.get()
    assert (balance.quantity, balance.value) == (quantity, value) == (Decimal("189.950"), value)
    totals = StockLedgerEntry.objects.aggregate(q=Sum("quantity"), v=Sum("value"))
    assert (totals["q"], totals["v"]) == (balance.quantity, balance.value)
    assert StockDocument.objects.get(source_id="CK-0001").total_cost == issued
    assert Stocktake.objects.get().lines.get().cost == -lost
    assert StockLedgerEntry.objects.count() == 5
    months = StockMonthlyTotal.objects.aggregate(
        i=Sum("in_quantity"), o=Sum("out_quantity"), iv=Sum("in_value"), ov=Sum("out_value")
    )
    assert months["i"] - months["o"] == balance.quantity
    assert months["iv"] - months["ov"] == balance.value
    # an inspector of the imported group reads it (imported users themselves cannot)
    inspector = make_user(company=Company.objects.get(source_id="QL"), roles=(RoleCode.INSPECTOR,))
    rows = psi_summary(
        user=inspector, date_from=datetime.date(2025, 1, 1), date_to=datetime.date(2025, 12, 31)
    )
    assert len(rows) == 1
    assert rows[0].out_value == issued + lost
    assert (rows[0].closing_quantity, rows[0].closing_value) == (balance.quantity, balance.value)
    # a period starting mid-way: opening + movements still close on the balance
    rows = psi_summary(
        user=inspector, date_from=datetime.date(2025, 2, 10), date_to=datetime.date(2025, 12, 31)
    )
    assert rows[0].opening_quantity == Decimal("135.650")
    assert (rows[0].closing_quantity, rows[0].closing_value) == (balance.quantity, balance.value)


def test_the_partner_ledger_is_rebuilt_and_adds_up():
    legacy_import(CLEAN)

    for balance in PartnerBalance.objects.all():
        entries = PartnerLedgerEntry.objects.filter(
            company_id=balance.company_id, partner_id=balance.partner_id
        )
        receivable = entries.filter(account="receivable").aggregate(s=Sum("amount"))["s"] or 0
        payable = entries.filter(account="payable").aggregate(s=Sum("amount"))["s"] or 0
        assert (balance.receivable, balance.payable) == (receivable, payable)
    supplier = PartnerBalance.objects.get(partner__source_id="S001")
    # two received invoices (180,774 + 215,226) less one payment of 180,774
    assert supplier.payable == Decimal("215226.00")
    customer = PartnerBalance.objects.get(partner__source_id="C001")
    assert customer.receivable == Decimal("0.00")  # invoiced 135,600, received 135,600
    # the customer's credit exposure row follows the rebuilt ledger and open sales contract
    exposure = CreditExposure.objects.get(partner__source_id="C001")
    assert exposure.receivable == Decimal("0.00")
    assert exposure.open_orders + exposure.uninvoiced > 0  # 226,000 contracted, 135,600 issued
    contract = Contract.objects.get(source_id="CG-2025-001")
    assert contract.invoiced_amount == Decimal("396000.00")
    assert contract.settled_amount == Decimal("180774.00")
    line = ContractLine.objects.get(contract=contract)
    assert line.executed_quantity == Decimal("100.000")


def test_a_broken_folder_writes_nothing(folder: Path):
    path = folder / "payments.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace("PAY-0002,out", "PAY-0002,sideways"),
        encoding="utf-8",
    )

    with pytest.raises(LoadRefused) as refused:
        legacy_import(folder)

    assert refused.value.problems and refused.value.problems[0].file == "payments.csv"
    assert not ImportBatch.objects.exists()
    assert not Company.objects.exists() and not User.objects.exists()
    assert not AuditEvent.objects.exists()


def test_history_that_cannot_be_booked_rolls_back_everything(folder: Path):
    # more goes out than ever came in: the stock would fall below zero
    path = folder / "goods_issue_lines.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace("30.000,30.040", "900.000,900.000"),
        encoding="utf-8",
    )

    with pytest.raises(LoadRefused, match="would be"):
        legacy_import(folder)

    assert not ImportBatch.objects.exists()
    assert not Company.objects.exists() and not StockDocument.objects.exists()


def test_loading_the_same_folder_twice_changes_nothing(folder: Path):
    first = legacy_import(folder)
    counts = (
        User.objects.count(),
        Invoice.objects.count(),
        StockLedgerEntry.objects.count(),
        AuditEvent.objects.count(),
    )

    second = legacy_import(folder)

    assert not second.created and second.batch_id == first.batch_id
    assert second.written == first.written
    assert counts == (
        User.objects.count(),
        Invoice.objects.count(),
        StockLedgerEntry.objects.count(),
        AuditEvent.objects.count(),
    )
    assert ImportBatch.objects.count() == 1


def test_a_changed_folder_with_the_same_source_ids_is_refused_not_duplicated(folder: Path):
    legacy_import(folder)
    path = folder / "payments.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace("首笔货款", "首笔货款（改）"), encoding="utf-8"
    )

    with pytest.raises(LoadRefused, match="already imported"):  # source ids are unique
        legacy_import(folder)

    assert ImportBatch.objects.count() == 1
    assert Payment.objects.filter(source_id="PAY-0001").count() == 1


def test_imported_employees_cannot_log_in_and_get_mapped_roles(rf):
    legacy_import(CLEAN)

    user = User.objects.get(employee_number="E004")
    assert not user.is_active and not user.has_usable_password()
    # even with a password set, the account stays closed until an administrator activates it
    user.set_password("Legacy-2025-pass")
    user.save()
    request = rf.post("/login/")
    assert authenticate(request, username=user.username, password="Legacy-2025-pass") is None
    User.objects.filter(pk=user.pk).update(is_active=True)
    assert authenticate(request, username=user.username, password="Legacy-2025-pass") == user
    assert user.source_id == "E004" and user.is_imported
    roles = dict(RoleAssignment.objects.values_list("user__employee_number", "role__code"))
    assert roles["E001"] == "general_manager"  # inspector
    assert roles["E002"] == "department_head"
    assert Department.objects.get(code="CG").head.employee_number == "E002"


def test_the_command_prints_the_report_and_a_dry_run_writes_nothing():
    out = StringIO()
    call_command("legacy_import", str(CLEAN), "--dry-run", stdout=out)
    assert "Dry run" in out.getvalue()
    assert not ImportBatch.objects.exists() and not Company.objects.exists()

    out = StringIO()
    call_command("legacy_import", str(CLEAN), stdout=out)
    text = out.getvalue()
    assert "Loaded batch" in text and "68 rows in" in text and "rows/s" in text
    out = StringIO()
    call_command("legacy_import", str(CLEAN), stdout=out)
    assert "Already loaded" in out.getvalue()


@pytest.fixture
def imported_staff():
    """A live user of the imported trading company who may write every trading document."""
    legacy_import(CLEAN)
    company = Company.objects.get(source_id="QLWZ")
    return make_user(
        company=company,
        roles=(
            RoleCode.PURCHASER,
            RoleCode.SALESPERSON,
            RoleCode.WAREHOUSE_KEEPER,
            RoleCode.FINANCE,
        ),
    )


def test_imported_documents_show_their_source_id_on_their_pages(client, imported_staff):
    client.force_login(imported_staff)
    contract = Contract.objects.get(source_id="CG-2025-001")
    page = client.get(reverse("trading:contract_detail", args=[contract.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="imported-badge"' in html
    assert '<code class="text-break" data-testid="source-id">CG-2025-001</code>' in html
    document = StockDocument.objects.get(source_id="RK-0001")
    html = client.get(reverse("trading:stock_document_detail", args=[document.pk])).content
    assert b'data-testid="source-id">RK-0001<' in html
    # approval requests: read by the inspectors of the group
    client.force_login(
        make_user(company=Company.objects.get(source_id="QL"), roles=(RoleCode.INSPECTOR,))
    )
    request = ApprovalRequest.objects.get(source_id="AR-0001")
    page = client.get(reverse("approvals:detail", args=[request.pk]))
    assert page.status_code == 200
    assert b'data-testid="source-id">AR-0001<' in page.content


def test_a_document_made_here_shows_no_badge(client, imported_staff):
    client.force_login(imported_staff)
    contract = Contract.objects.get(source_id="CG-2025-001")
    Contract.objects.filter(pk=contract.pk).update(import_batch="")  # as if made here
    html = client.get(reverse("trading:contract_detail", args=[contract.pk])).content
    assert b"imported-badge" not in html


def test_the_services_refuse_to_change_imported_documents(imported_staff):
    contract = Contract.objects.get(source_id="CG-2025-001")
    with pytest.raises(Conflict, match="只读"):
        contract_services.contract_terminate(
            actor=imported_staff, contract_id=contract.pk, reason="历史合同不应被修改"
        )
    with pytest.raises(Conflict, match="只读"):
        contract_services.contract_amend(actor=imported_staff, contract_id=contract.pk)
    document = StockDocument.objects.get(source_id="RK-0001")
    with pytest.raises(Conflict, match="只读"):
        stock_services.stock_document_reverse(
            actor=imported_staff, document_id=document.pk, reason="冲销"
        )
    invoice = Invoice.objects.get(source_id="INV-R-0001")
    with pytest.raises(Conflict, match="只读"):
        money_services.invoice_reverse(
            actor=imported_staff, invoice_id=invoice.pk, invoice_number="99990001", reason="冲销"
        )
    assert StockDocument.objects.count() == 3 and Invoice.objects.count() == 4
    contract.refresh_from_db()
    assert contract.status == "completed"
