"""Goods receipts and issues, stocktakes, opening stock, and the stock ledger.

The ledger (StockLedgerEntry) is append-only: one row per document line with the signed quantity
and value, dated by `posting_date` and ordered within a date by `id`; it is read through its
series index (company, warehouse, commodity, date, id) — see the selectors. No running balance is
stored on a ledger row (the ERPNext lesson): the current balance per (company, warehouse,
commodity) — a "series" — lives in StockBalance, locked in key order by every posting, and
equals the sum of the ledger. Moving-average cost = balance value / balance quantity
(`qinglian.trading.costing` holds the rules, without the ORM).

A backdated entry (dated before the series' `last_posting_date`) is valued at the average of its
own date, and is followed by revaluation entries (kind "revaluation", quantity 0, dated like the
entry they revalue, `revalues` pointing at it, `caused_by` at the backdated entry) for every
later entry whose cost changed, computed in one pass over that series.

StockMonthlyTotal keeps, per series and calendar month, the in and out quantities and values
(updated in the posting transaction, under the series' balance lock), so the purchase–sales–
inventory summary reads months instead of the whole history and scans the ledger only for the
partial months at the edges of the period.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from qinglian.core.models import Imported, TimeStampedModel

from ..enums import (
    ApprovedPostingStatus,
    PostingStatus,
    StockDirection,
    StockDocumentKind,
    StockEntryKind,
    StocktakeKind,
)


class StockDocument(Imported, TimeStampedModel):
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
    # A client's key for "create this document once" (a double tap, a retried API call).
    idempotency_key = models.CharField(max_length=64, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-posting_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="trading_stock_doc_number"),
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="trading_stock_doc_idempotent",
            ),
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="trading_stock_doc_source_id"
            ),
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


class Stocktake(Imported, TimeStampedModel):
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
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-counted_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="trading_stocktake_number"),
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="trading_stocktake_source_id"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class StocktakeLine(models.Model):
    stocktake = models.ForeignKey(Stocktake, on_delete=models.CASCADE, related_name="lines")
    commodity = models.ForeignKey("trading.Commodity", on_delete=models.PROTECT)
    book_quantity = models.DecimalField(_("book quantity"), max_digits=18, decimal_places=3)
    counted_quantity = models.DecimalField(_("counted quantity"), max_digits=18, decimal_places=3)
    reason = models.CharField(_("reason for the variance"), max_length=255, blank=True)
    # For goods found where the book is empty (no average to value them at).
    unit_cost = models.DecimalField(
        _("unit cost excl. VAT"), null=True, blank=True, max_digits=18, decimal_places=4
    )
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

    @property
    def variance(self) -> Decimal:
        return self.counted_quantity - self.book_quantity


class StockLedgerEntry(models.Model):
    """Append-only (UPDATE and DELETE refused by database triggers).

    Its references carry no foreign-key constraint and no single-column index: the series
    (company, warehouse, commodity) of every entry has a StockBalance row — created or locked in
    the same transaction — whose constraints hold all three, so the database already refuses to
    delete anything an entry points at; and a backdated posting may append hundreds of
    thousands of revaluation entries, each of which would otherwise pay for three foreign-key
    checks and three more index insertions. The composite indexes below serve every read.
    """

    id = models.BigAutoField(primary_key=True)
    company = models.ForeignKey(
        "org.Company",
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    warehouse = models.ForeignKey(
        "trading.Warehouse",
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    commodity = models.ForeignKey(
        "trading.Commodity",
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    posting_date = models.DateField()
    kind = models.CharField(max_length=12, choices=StockEntryKind.choices)
    direction = models.CharField(max_length=3, choices=StockDirection.choices)
    quantity = models.DecimalField(max_digits=18, decimal_places=3)
    value = models.DecimalField(max_digits=18, decimal_places=2)
    # The source document: a StockDocument (receipt/issue), a Stocktake, or a StockOpening.
    # A revaluation carries the voucher of the entry it revalues.
    voucher_type = models.CharField(max_length=12, choices=StockEntryKind.choices)
    voucher_id = models.BigIntegerField()
    voucher_line_id = models.BigIntegerField(null=True, blank=True)
    # Links between entries carry no constraint and no index either: an entry can never be
    # deleted (triggers refuse it) and the services only link entries they have just read under
    # the series lock. Reversals are few: a small partial index finds them.
    # For a reversal (红冲): the entry it reverses.
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    # For a revaluation: the entry whose cost changed (same series and date — the partial
    # index below finds it), and the backdated entry that changed it.
    revalues = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    caused_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["company", "warehouse", "commodity", "posting_date", "id"],
                name="trading_sle_series",
            ),
            # No index by date nor by voucher: each costs every posting (and a large backdated
            # revaluation) an insertion, and the reads do without — the summary reads the
            # series of its scope through the series index, a document's entries are found
            # through its company, warehouse and date (selectors.stock_ledger_list), only the
            # entries of an opening batch (many warehouses) by their voucher.
            models.Index(
                fields=["voucher_id"],
                condition=Q(voucher_type=StockEntryKind.OPENING),
                name="trading_sle_openings",
            ),
            # The revaluations already booked after a backdated date, summed per entry before
            # a series is re-costed (few rows among many: a small partial index).
            models.Index(
                fields=["company", "warehouse", "commodity", "posting_date", "revalues", "value"],
                condition=Q(kind=StockEntryKind.REVALUATION),
                name="trading_sle_revaluations",
            ),
            models.Index(
                fields=["reverses"],
                condition=Q(reverses__isnull=False),
                name="trading_sle_reversals",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind=StockEntryKind.REVALUATION) | Q(quantity=0),
                name="trading_sle_revaluation_value_only",
            )
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
    # The latest posting date in the series: an entry dated before it is backdated.
    last_posting_date = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "warehouse", "commodity"], name="trading_stock_balance_key"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="trading_stock_balance_not_negative"
            ),
            # Moving-average costing never values stock below zero, nor leaves value without
            # goods (an outflow that empties the series takes the whole remaining value).
            models.CheckConstraint(
                condition=Q(value__gte=0) & (Q(quantity__gt=0) | Q(value=0)),
                name="trading_stock_balance_value",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company_id}/{self.warehouse_id}/{self.commodity_id}"

    @property
    def unit_cost(self) -> Decimal | None:
        """The moving-average cost (None when nothing is held)."""
        if not self.quantity or self.quantity <= 0:
            return None
        return (self.value / self.quantity).quantize(Decimal("0.0001"))


class StockMonthlyTotal(models.Model):
    """In and out of one series in one calendar month (`month` is its first day): the period
    snapshot the purchase–sales–inventory summary reads. Out quantities and values are stored
    as positive numbers (what left the warehouse)."""

    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey("trading.Warehouse", on_delete=models.PROTECT, related_name="+")
    commodity = models.ForeignKey("trading.Commodity", on_delete=models.PROTECT, related_name="+")
    month = models.DateField()
    in_quantity = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=3)
    in_value = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=2)
    out_quantity = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=3)
    out_value = models.DecimalField(default=Decimal("0"), max_digits=18, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "warehouse", "commodity", "month"],
                name="trading_stock_month_key",
            )
        ]
        indexes = [models.Index(fields=["month", "company"], name="trading_stock_month_date")]

    def __str__(self) -> str:
        return f"{self.company_id}/{self.warehouse_id}/{self.commodity_id} {self.month:%Y-%m}"


class StockOpening(Imported, TimeStampedModel):
    """A batch of opening stock (期初库存): the quantity and unit cost per warehouse and
    commodity when the company starts keeping its stock here. Its lines are the ledger entries
    (kind "opening") it posted."""

    company = models.ForeignKey(
        "org.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    number = models.CharField(_("number"), max_length=60)
    posting_date = models.DateField(_("date"))
    source = models.CharField(_("source"), max_length=255, blank=True)
    total_quantity = models.DecimalField(
        _("quantity"), default=Decimal("0"), max_digits=18, decimal_places=3
    )
    total_value = models.DecimalField(
        _("stock value"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-posting_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="trading_stock_opening_no"),
            models.UniqueConstraint(
                fields=["company", "source_id"],
                condition=~Q(source_id=""),
                name="trading_stock_opening_source_id",
            ),
        ]

    def __str__(self) -> str:
        return self.number
