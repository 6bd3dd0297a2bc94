"""Goods receipts and issues, stocktakes, and the stock ledger.

The ledger (StockLedgerEntry) is append-only: one row per document line with the signed quantity
and value, dated by `posting_date` and ordered within a date by `id`. No running balance is
stored on a ledger row (the ERPNext lesson): the current balance per (company, warehouse,
commodity) lives in StockBalance, locked in key order by every posting, and equals the sum of
the ledger. Moving-average cost = balance value / balance quantity. A backdated entry is
followed by revaluation entries (kind "revaluation", quantity 0) for the issues after it whose
cost changed, computed in one pass over that series.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from qinglian.core.models import TimeStampedModel

from ..enums import (
    ApprovedPostingStatus,
    PostingStatus,
    StockDocumentKind,
    StockEntryKind,
    StocktakeKind,
)


class StockDocument(TimeStampedModel):
    """A goods receipt (入库, against a purchase contract) or goods issue (出库, against a sales
    contract). A reversal (红冲) is a document of the same kind with `reverses` set and negated
    quantities."""

    company = models.ForeignKey(
        "org.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    number = models.CharField(_("number"), max_length=60)
    kind = models.CharField(_("kind"), max_length=10, choices=StockDocumentKind.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=PostingStatus.choices, default=PostingStatus.DRAFT
    )
    warehouse = models.ForeignKey(
        "trading.Warehouse", verbose_name=_("warehouse"), on_delete=models.PROTECT
    )
    contract = models.ForeignKey(
        "trading.Contract",
        verbose_name=_("contract"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stock_documents",
    )
    partner = models.ForeignKey(
        "trading.Partner", verbose_name=_("counterparty"), on_delete=models.PROTECT
    )
    posting_date = models.DateField(_("date"))
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    keeper = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("warehouse keeper"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    total_quantity = models.DecimalField(
        _("quantity"), default=Decimal("0"), max_digits=18, decimal_places=3
    )
    total_amount = models.DecimalField(
        _("amount incl. VAT"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    total_cost = models.DecimalField(
        _("stock value"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
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
        ordering = ["-posting_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="trading_stock_doc_number")
        ]
        indexes = [models.Index(fields=["company", "kind", "posting_date"])]

    def __str__(self) -> str:
        return self.number


class StockDocumentLine(models.Model):
    document = models.ForeignKey(StockDocument, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveSmallIntegerField(_("line"))
    contract_line = models.ForeignKey(
        "trading.ContractLine", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    commodity = models.ForeignKey(
        "trading.Commodity", verbose_name=_("commodity"), on_delete=models.PROTECT
    )
    # Stock is booked at the document quantity; the weighbridge reading is kept beside it and a
    # difference beyond the commodity's tolerance needs a reason.
    quantity = models.DecimalField(_("document quantity"), max_digits=18, decimal_places=3)
    weighed_quantity = models.DecimalField(
        _("weighed quantity"), null=True, blank=True, max_digits=18, decimal_places=3
    )
    difference_reason = models.CharField(_("reason for the difference"), max_length=255, blank=True)
    unit_price = models.DecimalField(_("unit price incl. VAT"), max_digits=18, decimal_places=4)
    amount = models.DecimalField(_("amount incl. VAT"), max_digits=18, decimal_places=2)
    # The value booked to stock: receipts at the price net of VAT, issues at moving-average cost
    # when posted (later revaluations are separate ledger entries).
    cost = models.DecimalField(
        _("stock value"), default=Decimal("0"), max_digits=18, decimal_places=2
    )

    class Meta:
        ordering = ["document_id", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "line_number"], name="trading_stock_line_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.document_id}/{self.line_number}"


class Stocktake(TimeStampedModel):
    """A physical count or a third-party warehouse statement compared with the book; variances
    are posted to the ledger only through approval."""

    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    number = models.CharField(_("number"), max_length=60)
    kind = models.CharField(_("kind"), max_length=12, choices=StocktakeKind.choices)
    warehouse = models.ForeignKey("trading.Warehouse", on_delete=models.PROTECT)
    counted_on = models.DateField(_("counted on"))
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=ApprovedPostingStatus.choices,
        default=ApprovedPostingStatus.DRAFT,
    )
    counter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("counted by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    approval_request = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    remarks = models.TextField(_("remarks"), blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-counted_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="trading_stocktake_number")
        ]

    def __str__(self) -> str:
        return self.number


class StocktakeLine(models.Model):
    stocktake = models.ForeignKey(Stocktake, on_delete=models.CASCADE, related_name="lines")
    commodity = models.ForeignKey("trading.Commodity", on_delete=models.PROTECT)
    book_quantity = models.DecimalField(_("book quantity"), max_digits=18, decimal_places=3)
    counted_quantity = models.DecimalField(_("counted quantity"), max_digits=18, decimal_places=3)
    reason = models.CharField(_("reason for the variance"), max_length=255, blank=True)
    # Value of the variance at moving-average cost, set when posted.
    cost = models.DecimalField(
        _("variance value"), default=Decimal("0"), max_digits=18, decimal_places=2
    )

    class Meta:
        ordering = ["stocktake_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stocktake", "commodity"], name="trading_stocktake_line_commodity"
            ),
            models.CheckConstraint(
                condition=Q(counted_quantity__gte=0), name="trading_stocktake_counted"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stocktake_id}/{self.commodity_id}"


class StockLedgerEntry(models.Model):
    """Append-only (UPDATE and DELETE refused by database triggers)."""

    id = models.BigAutoField(primary_key=True)
    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey("trading.Warehouse", on_delete=models.PROTECT, related_name="+")
    commodity = models.ForeignKey("trading.Commodity", on_delete=models.PROTECT, related_name="+")
    posting_date = models.DateField()
    kind = models.CharField(max_length=12, choices=StockEntryKind.choices)
    quantity = models.DecimalField(max_digits=18, decimal_places=3)
    value = models.DecimalField(max_digits=18, decimal_places=2)
    # The source document: a StockDocument (receipt/issue), a Stocktake, or an opening batch.
    voucher_type = models.CharField(max_length=12, choices=StockEntryKind.choices)
    voucher_id = models.BigIntegerField()
    voucher_line_id = models.BigIntegerField(null=True, blank=True)
    # For a revaluation: the backdated entry that caused it.
    caused_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["company", "warehouse", "commodity", "posting_date", "id"],
                name="trading_sle_series",
            ),
            models.Index(fields=["posting_date", "company"], name="trading_sle_date"),
            models.Index(fields=["voucher_type", "voucher_id"], name="trading_sle_voucher"),
        ]

    def __str__(self) -> str:
        return f"{self.voucher_type} {self.voucher_id}: {self.quantity} / {self.value}"


class StockBalance(models.Model):
    """The current balance of one (company, warehouse, commodity): the sum of its ledger."""

    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey("trading.Warehouse", on_delete=models.PROTECT, related_name="+")
    commodity = models.ForeignKey("trading.Commodity", on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=3)
    value = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "warehouse", "commodity"], name="trading_stock_balance_key"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="trading_stock_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company_id}/{self.warehouse_id}/{self.commodity_id}"
