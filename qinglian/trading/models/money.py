"""Invoices, payments and receipts, and the partner ledger (receivables and payables per
contract, with due dates from the payment terms)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from qinglian.core.models import Imported, TimeStampedModel

from ..enums import (
    ApprovedPostingStatus,
    InvoiceDirection,
    PartnerAccount,
    PartnerEntryKind,
    PaymentDirection,
    PaymentKind,
    PostingStatus,
)


class Invoice(Imported, TimeStampedModel):
    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(_("direction"), max_length=10, choices=InvoiceDirection.choices)
    # Kept verbatim (leading zeros, dashes, case): duplicate detection compares normalised forms.
    invoice_number = models.CharField(_("invoice number"), max_length=40)
    invoice_code = models.CharField(_("invoice code"), max_length=20, blank=True)
    # "<code>/<number>" upper-cased without spaces and dashes (leading zeros kept): one live
    # invoice per direction and key, whichever company recorded it (the tax authority numbers
    # invoices nationally, so a second record is a duplicate, never a coincidence).
    number_key = models.CharField(max_length=64, editable=False, default="")
    partner = models.ForeignKey(
        "trading.Partner", verbose_name=_("counterparty"), on_delete=models.PROTECT
    )
    contract = models.ForeignKey(
        "trading.Contract",
        verbose_name=_("contract"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    amount = models.DecimalField(_("amount incl. VAT"), max_digits=18, decimal_places=2)
    tax_rate = models.DecimalField(_("VAT rate"), max_digits=5, decimal_places=4)
    tax_amount = models.DecimalField(
        _("VAT"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    invoice_date = models.DateField(_("invoice date"))
    due_date = models.DateField(_("due date"), null=True, blank=True, db_index=True)
    status = models.CharField(
        _("status"), max_length=12, choices=PostingStatus.choices, default=PostingStatus.DRAFT
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    reason = models.CharField(_("reason for the reversal"), max_length=255, blank=True)
    remarks = models.TextField(_("remarks"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    posted_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-invoice_date", "-id"]
        verbose_name = _("invoice")
        constraints = [
            models.UniqueConstraint(
                fields=["direction", "number_key"],
                # Imported history keeps the duplicates it had (supervision finds them).
                condition=~Q(status="cancelled") & Q(import_batch=""),
                name="trading_invoice_unique_number",
            ),
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="trading_invoice_source_id"
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="trading_invoice_not_zero"),
        ]
        indexes = [
            models.Index(fields=["company", "direction", "invoice_date"]),
            models.Index(fields=["invoice_number"]),
        ]

    def __str__(self) -> str:
        return self.invoice_number


class Payment(Imported, TimeStampedModel):
    """A payment to a supplier or a receipt from a customer. Payments go through approval; one
    beyond what the contract and its invoices allow needs an approved exception."""

    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    number = models.CharField(_("number"), max_length=60)
    direction = models.CharField(_("direction"), max_length=4, choices=PaymentDirection.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=PaymentKind.choices)
    partner = models.ForeignKey(
        "trading.Partner", verbose_name=_("counterparty"), on_delete=models.PROTECT
    )
    contract = models.ForeignKey(
        "trading.Contract",
        verbose_name=_("contract"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    invoice = models.ForeignKey(
        Invoice,
        verbose_name=_("invoice"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    paid_on = models.DateField(_("date"))
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=ApprovedPostingStatus.choices,
        default=ApprovedPostingStatus.DRAFT,
    )
    # Over what the contract and invoices allow: only with a stated reason, approved as such.
    is_exception = models.BooleanField(_("exception beyond the allowed amount"), default=False)
    exception_reason = models.TextField(_("reason for the exception"), blank=True)
    # What the contract and invoices allowed when it was submitted (kept for supervision).
    allowed_amount = models.DecimalField(
        _("allowed amount"), null=True, blank=True, max_digits=18, decimal_places=2
    )
    bank_account = models.CharField(_("bank account"), max_length=40, blank=True)
    approval_request = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    reason = models.CharField(_("reason for the reversal"), max_length=255, blank=True)
    remarks = models.TextField(_("remarks"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    posted_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-paid_on", "-id"]
        verbose_name = _("payment")
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="trading_payment_number"),
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="trading_payment_source_id"
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="trading_payment_not_zero"),
        ]

    def __str__(self) -> str:
        return self.number


class OpeningBalance(models.Model):
    """An opening receivable or payable of a partner with one company (optionally per contract,
    with its due date), entered by finance or imported from a workbook. Posted when saved; a
    correction is a reversal (`reverses`, negated amount)."""

    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(
        "trading.Partner", verbose_name=_("counterparty"), on_delete=models.PROTECT
    )
    contract = models.ForeignKey(
        "trading.Contract",
        verbose_name=_("contract"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    account = models.CharField(_("account"), max_length=12, choices=PartnerAccount.choices)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    posting_date = models.DateField(_("opening date"))
    due_date = models.DateField(_("due date"), null=True, blank=True)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    # The SHA-256 of the imported workbook: the same file is not imported twice.
    import_batch = models.CharField(max_length=64, blank=True, db_index=True)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-posting_date", "-id"]
        verbose_name = _("opening balance")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="trading_opening_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.get_account_display()} {self.amount}"


class PartnerLedgerEntry(models.Model):
    """Append-only. Receivable entries are positive when the customer owes more; payable
    entries positive when we owe the supplier more."""

    id = models.BigAutoField(primary_key=True)
    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey("trading.Partner", on_delete=models.PROTECT, related_name="+")
    contract = models.ForeignKey(
        "trading.Contract", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    account = models.CharField(max_length=12, choices=PartnerAccount.choices)
    kind = models.CharField(max_length=12, choices=PartnerEntryKind.choices)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    posting_date = models.DateField()
    due_date = models.DateField(null=True, blank=True)
    voucher_type = models.CharField(max_length=12)  # "invoice", "payment", "opening"
    voucher_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["company", "partner", "account", "posting_date"],
                name="trading_ple_partner",
            ),
            models.Index(fields=["contract", "account"], name="trading_ple_contract"),
            models.Index(fields=["voucher_type", "voucher_id"], name="trading_ple_voucher"),
        ]

    def __str__(self) -> str:
        return f"{self.voucher_type} {self.voucher_id}: {self.amount}"


class PartnerBalance(models.Model):
    """The current receivable and payable of a partner with one company: the sum of its ledger,
    locked by every posting that changes it (and, in part 2, the credit exposure)."""

    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey("trading.Partner", on_delete=models.PROTECT, related_name="+")
    receivable = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=2)
    payable = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "partner"], name="trading_partner_balance_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.company_id}/{self.partner_id}"
