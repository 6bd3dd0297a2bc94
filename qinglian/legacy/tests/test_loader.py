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

from qinglian.approvals import facts as approval_facts
from qinglian.approvals.demo import EXPENSE_CLAIM
from qinglian.approvals.models import ApprovalAction, ApprovalRequest, ApprovalTask
from qinglian.approvals.services import template_save
from qinglian.audit.models import AuditEvent
from qinglian.core.errors import Conflict
from qinglian.legacy.loader import LoadRefused, legacy_import
from qinglian.legacy.models import ImportBatch
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_company, make_department, make_uscc, make_user
from qinglian.org.models import Company, Department, RoleAssignment, User
from qinglian.org.services import role_builtin_ensure
from qinglian.trading import facts as trading_facts
from qinglian.trading.models import (
    Contract,
    ContractLine,
    CreditException,
    CreditExposure,
    Invoice,
    Partner,
    PartnerBalance,
    PartnerLedgerEntry,
    PartnerStatusChange,
    Payment,
    Qualification,
    StockBalance,
    StockDocument,
    StockLedgerEntry,
    Stocktake,
)
from qinglian.trading.models.stock import StockMonthlyTotal
from qinglian.trading.selectors import credit as credit_selectors
from qinglian.trading.selectors.master import REQUIRED_QUALIFICATION_KINDS
from qinglian.trading.selectors.stock import psi_summary
from qinglian.trading.services import contracts as contract_services
from qinglian.trading.services import credit as credit_services
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
        "receivables (derived, checked only)": 1,
    }
    assert report.written["trading.partnerstatuschange"] == PartnerStatusChange.objects.count() == 4
    assert report.written["trading.creditexception"] == CreditException.objects.count() == 1
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
    # the payment request points at its payment; the engineering payment's has no document
    payment = ApprovalRequest.objects.get(source_id="AR-0002")
    assert (payment.document_type, payment.document_id) == (
        "trading.payment",
        str(Payment.objects.get(source_id="PAY-0001").pk),
    )
    assert Payment.objects.get(source_id="PAY-0001").approval_request == payment
    assert ApprovalRequest.objects.get(source_id="AR-0007").document_type == ""
    assert request.submitted_at == datetime.datetime.fromisoformat("2025-01-06T09:30:00+08:00")
    tasks = list(ApprovalTask.objects.filter(request=request).order_by("step__index"))
    assert [task.assignee.employee_number for task in tasks] == ["E002", "E003"]
    # the decision facts supervision reads: seconds from the task arriving to the decision
    assert tasks[0].decision_seconds == 90 * 60  # 09:30 → 11:00
    assert tasks[0].decided_after_hours is False
    assert ApprovalRequest.objects.get(source_id="AR-0008").status == "in_progress"


def test_the_stock_ledger_is_rebuilt_at_moving_average_and_adds_up():
    legacy_import(CLEAN)

    # opening 120 t at 3,850 and receipts at their price, both net of 13 % VAT; the issue on
    # 3 February at the average of the moment; the stocktake loss of 0.05 t at the average of
    # 31 March.
    quantity, value = Decimal("120.000"), money(Decimal("462000.00") / Decimal("1.13"))
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


# ---------------------------------------------------------------- what supervision's rules 1, 6
# and 8 read: payees, the admission status history, credit exceptions


def append_row(folder: Path, name: str, line: str) -> None:
    path = folder / name
    path.write_text(path.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")


def replace_in(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_partner_status_history_is_loaded_as_history(folder: Path):
    append_row(folder, "partner_status_history.csv", "S001,suspended,2025-02-15,质量问题暂停合作")

    report = legacy_import(folder)

    supplier = Partner.objects.get(source_id="S001")
    assert list(
        PartnerStatusChange.objects.filter(partner=supplier).values_list(
            "valid_from", "status", "reason", "source_id", "import_batch"
        )
    ) == [
        (datetime.date(2023, 4, 1), "pending", "提交准入申请", "S001@2023-04-01", report.batch_id),
        (
            datetime.date(2023, 5, 10),
            "admitted",
            "准入审核通过",
            "S001@2023-05-10",
            report.batch_id,
        ),
        (
            datetime.date(2025, 2, 15),
            "suspended",
            "质量问题暂停合作",
            "S001@2025-02-15",
            report.batch_id,
        ),
    ]
    # the partner itself keeps its status as at the export date
    assert supplier.admission_status == "admitted"
    assert report.written["trading.partnerstatuschange"] == 5
    # what supervision reads: oldest first, per partner
    assert [
        (fact.valid_from, fact.status)
        for fact in trading_facts.partner_status_facts(partner_ids=[supplier.pk])
    ] == [
        (datetime.date(2023, 4, 1), "pending"),
        (datetime.date(2023, 5, 10), "admitted"),
        (datetime.date(2025, 2, 15), "suspended"),
    ]


def test_a_status_history_row_naming_an_unknown_partner_is_refused(folder: Path):
    append_row(folder, "partner_status_history.csv", "S999,suspended,2025-02-15,暂停")

    with pytest.raises(LoadRefused) as refused:
        legacy_import(folder)

    assert [(p.file, p.row, p.column, p.code) for p in refused.value.problems] == [
        ("partner_status_history.csv", 6, "partner", "broken_reference")
    ]
    assert not PartnerStatusChange.objects.exists() and not Partner.objects.exists()


def test_imported_qualifications_are_a_required_kind():
    legacy_import(CLEAN)

    qualification = Qualification.objects.get(partner__source_id="S001")
    assert qualification.expires_on == datetime.date(2027, 5, 9)
    assert qualification.kind in REQUIRED_QUALIFICATION_KINDS
    assert not Qualification.objects.filter(partner__source_id="C001").exists()  # no expiry


def test_the_payee_of_an_expense_claim_is_kept_in_its_person_field(folder: Path, client):
    # AR-0006 was requested by E004 and paid to E001, who is not on its trail
    replace_in(folder, "payments.csv", "AR-0006,E004,", "AR-0006,E001,")

    legacy_import(folder)

    claim = ApprovalRequest.objects.get(source_id="AR-0006")
    payee = User.objects.get(employee_number="E001")
    assert claim.form_data["payee"] == payee.pk
    # the flow made for the history declares it as a person field (what rule 1 reads)
    assert [
        (fact.request_id, fact.field_key, fact.field_label, fact.user_id)
        for fact in approval_facts.person_field_facts()
    ] == [(claim.pk, "payee", "收款人", payee.pk)]
    # requests without a payee name nobody
    assert "payee" not in ApprovalRequest.objects.get(source_id="AR-0003").form_data
    # the request's page shows whom it was paid to
    client.force_login(
        make_user(company=Company.objects.get(source_id="QL"), roles=(RoleCode.INSPECTOR,))
    )
    html = client.get(reverse("approvals:detail", args=[claim.pk])).content.decode()
    assert "收款人" in html and payee.name in html


def test_the_payee_goes_to_the_person_field_of_an_existing_expense_flow():
    """In an installation that has the shipped expense claim flow, the payee is its 实际报销人."""
    admin = make_user(company=make_company(name="东港集团"), roles=(RoleCode.IT_ADMIN,))
    template_save(actor=admin, code="expense_claim", name="费用报销", definition=EXPENSE_CLAIM)

    legacy_import(CLEAN)

    claim = ApprovalRequest.objects.get(source_id="AR-0006")
    assert claim.template.code == "expense_claim" and claim.template.name == "费用报销"
    assert claim.form_data["claimant"] == User.objects.get(employee_number="E004").pk
    assert "payee" not in claim.form_data


def test_a_payment_naming_an_unknown_payee_is_refused(folder: Path):
    replace_in(folder, "payments.csv", "AR-0006,E004,", "AR-0006,E404,")

    with pytest.raises(LoadRefused) as refused:
        legacy_import(folder)

    assert [(p.file, p.row, p.column, p.code) for p in refused.value.problems] == [
        ("payments.csv", 3, "payee_employee", "broken_reference")
    ]
    assert not ApprovalRequest.objects.exists()


def test_credit_exception_requests_become_credit_exceptions_as_decided(folder: Path):
    append_row(
        folder,
        "approval_requests.csv",
        "AR-0009,credit_exception,QLWZ,XS,E007,C001,80000.00,customer,C001,再次超额发货,"
        "2025-03-20T09:00:00+08:00,rejected,2025-03-20T15:00:00+08:00",
    )
    append_row(
        folder, "approval_steps.csv", "AR-0009,1,finance,E003,rejected,2025-03-20T15:00:00+08:00,"
    )
    append_row(  # still under approval when the old platform was exported
        folder,
        "approval_requests.csv",
        "AR-0010,credit_exception,QLWZ,XS,E007,,,customer,C001,逾期解锁发货,"
        "2025-03-28T09:00:00+08:00,pending,",
    )
    append_row(
        folder, "approval_steps.csv", "AR-0010,1,finance,E003,approved,2025-03-28T10:00:00+08:00,"
    )

    report = legacy_import(folder)

    granted = CreditException.objects.get(source_id="AR-0005")
    request = ApprovalRequest.objects.get(source_id="AR-0005")
    user = {u.employee_number: u for u in User.objects.all()}
    assert (granted.number, granted.status, granted.import_batch) == (
        "AR-0005",
        "approved",
        report.batch_id,
    )
    assert granted.partner.source_id == "C001" and granted.company.source_id == "QLWZ"
    assert (granted.amount, granted.allow_overdue) == (Decimal("50000.00"), False)
    assert granted.reason == "上海建工临时超额发货"
    assert granted.requested_by == user["E007"]
    assert granted.approved_by == user["E006"]  # the last to approve: the general manager
    assert granted.approval_request == request
    assert granted.submitted_at == datetime.datetime.fromisoformat("2025-02-03T09:05:00+08:00")
    assert granted.decided_at == datetime.datetime.fromisoformat("2025-02-03T11:20:00+08:00")
    assert granted.valid_until == datetime.date(2025, 2, 3)
    assert (request.document_type, request.document_id) == (
        "trading.credit_exception",
        str(granted.pk),
    )
    refused = CreditException.objects.get(source_id="AR-0009")
    assert (refused.status, refused.approved_by) == ("rejected", None)
    assert refused.decided_at == datetime.datetime.fromisoformat("2025-03-20T15:00:00+08:00")
    asked = CreditException.objects.get(source_id="AR-0010")
    assert (asked.status, asked.approved_by, asked.decided_at) == ("pending", None, None)
    assert (asked.amount, asked.allow_overdue) == (Decimal("0"), True)  # the overdue block
    assert asked.partner.source_id == "C001"  # named by the subject only
    # not bound to its request: nothing may decide it here
    assert ApprovalRequest.objects.get(source_id="AR-0010").document_type == ""
    # what rule 8 counts: the granted one only, approved by the general manager
    assert [
        (fact.number, fact.approved_by_id, fact.approval_request_id)
        for fact in trading_facts.credit_exception_facts()
    ] == [("AR-0005", user["E006"].pk, request.pk)]


def test_imported_credit_exceptions_are_read_only_and_never_let_a_document_through(
    imported_staff,
):
    granted = CreditException.objects.get(source_id="AR-0005")

    with pytest.raises(Conflict, match="只读"):
        credit_services.credit_exception_cancel(actor=imported_staff, exception_id=granted.pk)

    granted.refresh_from_db()
    assert granted.status == "approved" and granted.version == 1
    assert not AuditEvent.objects.filter(action__startswith="trading.credit_exception").exists()
    # not even on the day it was granted
    assert not credit_selectors.usable_credit_exceptions(
        company_id=granted.company_id, partner_id=granted.partner_id, on=granted.valid_until
    ).exists()
    CreditException.objects.filter(pk=granted.pk).update(import_batch="")  # as if made here
    assert credit_selectors.usable_credit_exceptions(
        company_id=granted.company_id, partner_id=granted.partner_id, on=granted.valid_until
    ).exists()


# ---------------------------------------------------------------- into an installation that has
# its company tree already


@pytest.fixture
def tree_here():
    """A group made here whose subsidiary is QLWZ of the folder (same code and USCC), with a
    purchasing department of its own; the group itself has another code, but the folder's
    group's USCC."""
    group = make_company(code="DGJT", name="东港集团有限公司", uscc="91330100MA2H00001P")
    trading = make_company(
        parent=group, code="QLWZ", name="东港商贸有限公司", uscc="91330100MA2H00002T"
    )
    purchasing = make_department(company=trading, code="CG", name="采购部（本系统）")
    return group, trading, purchasing


def test_companies_and_departments_already_here_are_matched_not_duplicated(tree_here):
    group, trading, purchasing = tree_here
    companies_before = set(Company.objects.values_list("pk", flat=True))

    report = legacy_import(CLEAN)

    assert set(Company.objects.values_list("pk", flat=True)) == companies_before  # no new tree
    assert Company.objects.filter(parent__isnull=True).count() == 1
    assert report.written["org.company"] == 0
    assert report.skipped["companies already here (matched by code or USCC)"] == 2
    assert report.skipped["departments already here (matched by company and code)"] == 1
    # their history is booked on them
    assert Contract.objects.get(source_id="CG-2025-001").company == trading
    assert User.objects.get(employee_number="E004").company == trading
    assert User.objects.get(employee_number="E004").department == purchasing
    assert ApprovalRequest.objects.get(source_id="AR-0001").company == trading
    assert Partner.objects.get(source_id="S001").company == group  # owned by the group
    # the departments they lack are added under them; theirs are left as they were
    assert Department.objects.get(company=trading, code="CW").import_batch == report.batch_id
    assert Department.objects.get(company=group, code="BGS").is_imported
    purchasing.refresh_from_db()
    assert (purchasing.name, purchasing.head, purchasing.import_batch) == (
        "采购部（本系统）",
        None,
        "",
    )
    group.refresh_from_db()
    assert (group.code, group.name, group.import_batch, group.source_id) == (
        "DGJT",
        "东港集团有限公司",
        "",
        "",
    )
    # the batch's audit events are in the group's own chain
    assert AuditEvent.objects.filter(action="legacy.batch.loaded", chain__company=group).exists()


def test_a_code_here_with_another_uscc_is_refused(folder: Path):
    other = make_company(code="QL", name="青联另一家公司", uscc=make_uscc(4242))

    with pytest.raises(LoadRefused) as refused:
        legacy_import(folder)

    assert [(p.file, p.row, p.column, p.code) for p in refused.value.problems] == [
        ("companies.csv", 2, "code", "company_conflict")
    ]
    assert other.name in refused.value.problems[0].message
    assert Company.objects.count() == 1 and not User.objects.exists()
    assert not ImportBatch.objects.exists()


def test_a_code_and_a_uscc_naming_two_companies_here_are_refused(folder: Path):
    group = make_company(code="DGJT", name="东港集团有限公司", uscc="91330100MA2H00001P")
    make_company(parent=group, code="QLWZ", name="东港物流有限公司", uscc=make_uscc(4243))
    # the folder's subsidiary has the group's USCC here
    replace_in(folder, "companies.csv", "91330100MA2H00002T", "91330100MA2H00001P")

    with pytest.raises(LoadRefused) as refused:
        legacy_import(folder)

    problems = [(p.file, p.row, p.column, p.code) for p in refused.value.problems]
    assert ("companies.csv", 3, "uscc", "company_conflict") in problems
    assert Company.objects.count() == 2 and not Department.objects.filter(code="CW").exists()
