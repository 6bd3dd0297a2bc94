"""The warning register (预警): credit overrun, overdue receivables, contract, shipment and
warehouse warnings, stored with their state so the responsible people can acknowledge and
resolve them and supervision can read them.

A warning is keyed by a stable fingerprint per company (code and subject, e.g.
"contract_expiring:c12"): detection — when documents post and by the daily job — updates the
one row instead of adding twins. The state runs open → acknowledged → resolved; a warning whose
condition clears is resolved automatically (recorded as such), and one whose condition comes
back after it had cleared is opened again. `is_present` says whether the condition held at the
latest detection.

Thresholds (days before expiry, grace days for overdue receivables, the stocktake tolerance…)
are data, one row per company (WarningThresholds), changed only through an audited service.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class WarningKind(models.TextChoices):
    CREDIT = "credit", _("Credit overrun")
    OVERDUE = "overdue", _("Overdue receivables")
    CONTRACT = "contract", _("Contract warnings")
    SHIPMENT = "shipment", _("Shipment warnings")
    WAREHOUSE = "warehouse", _("Warehouse verification")


class WarningCode(models.TextChoices):
    CREDIT_OVER_LIMIT = "credit_over_limit", _("Credit limit exceeded")
    RECEIVABLE_OVERDUE = "receivable_overdue", _("Receivables overdue")
    CONTRACT_EXPIRING = "contract_expiring", _("Contract expiring")
    CONTRACT_OVER_EXECUTED = "contract_over_executed", _("Executed beyond the contract")
    CONTRACT_UNDER_EXECUTED = "contract_under_executed", _("Under-executed at expiry")
    CONTRACT_NOT_EFFECTIVE = "contract_not_effective", _("Executed while not in force")
    COUNTERPARTY_QUALIFICATION_EXPIRED = (
        "counterparty_qualification_expired",
        _("Counterparty's qualification expired"),
    )
    DELIVERY_OVERDUE = "delivery_overdue", _("Delivery date passed")
    ISSUED_BEFORE_PREPAYMENT = "issued_before_prepayment", _("Goods issued before the prepayment")
    STOCK_VARIANCE = "stock_variance", _("Stock variance beyond tolerance")


KIND_OF_CODE: dict[str, str] = {
    WarningCode.CREDIT_OVER_LIMIT: WarningKind.CREDIT,
    WarningCode.RECEIVABLE_OVERDUE: WarningKind.OVERDUE,
    WarningCode.CONTRACT_EXPIRING: WarningKind.CONTRACT,
    WarningCode.CONTRACT_OVER_EXECUTED: WarningKind.CONTRACT,
    WarningCode.CONTRACT_UNDER_EXECUTED: WarningKind.CONTRACT,
    WarningCode.CONTRACT_NOT_EFFECTIVE: WarningKind.CONTRACT,
    WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED: WarningKind.CONTRACT,
    WarningCode.DELIVERY_OVERDUE: WarningKind.SHIPMENT,
    WarningCode.ISSUED_BEFORE_PREPAYMENT: WarningKind.SHIPMENT,
    WarningCode.STOCK_VARIANCE: WarningKind.WAREHOUSE,
}


def codes_of_kind(kind: str) -> list[str]:
    return [code for code, of in KIND_OF_CODE.items() if of == kind]


class WarningState(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


# Not resolved: what the responsible people still have to deal with.
UNRESOLVED_STATES = (WarningState.OPEN, WarningState.ACKNOWLEDGED)


class WarningUnit(models.TextChoices):
    AMOUNT = "amount", _("CNY")
    QUANTITY = "quantity", _("quantity")
    DAYS = "days", _("days")
    PERCENT = "percent", _("%")
    DOCUMENTS = "documents", _("documents")


class TradingWarning(models.Model):
    id = models.BigAutoField(primary_key=True)
    company = models.ForeignKey(
        "org.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=WarningKind.choices)
    code = models.CharField(_("warning"), max_length=40, choices=WarningCode.choices)
    # "<code>:<subject>", stable across detections; unique per company.
    fingerprint = models.CharField(max_length=120)
    state = models.CharField(
        _("state"), max_length=12, choices=WarningState.choices, default=WarningState.OPEN
    )
    # Whether the condition held at the latest detection.
    is_present = models.BooleanField(_("condition holds"), default=True)
    # What it concerns. `contract` is the revision in force when last detected; `document_*`
    # names the document that shows it (a goods issue, a stocktake, an invoice…).
    partner = models.ForeignKey(
        "trading.Partner",
        verbose_name=_("counterparty"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    contract = models.ForeignKey(
        "trading.Contract",
        verbose_name=_("contract"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The first revision of `contract` (its chain): detections of one contract find its
    # warnings through it, whichever revision is in force.
    contract_original = models.ForeignKey(
        "trading.Contract", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    warehouse = models.ForeignKey(
        "trading.Warehouse",
        verbose_name=_("warehouse"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    commodity = models.ForeignKey(
        "trading.Commodity",
        verbose_name=_("commodity"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    document_type = models.CharField(max_length=24, blank=True)
    document_id = models.BigIntegerField(null=True, blank=True)
    document_label = models.CharField(_("document"), max_length=100, blank=True)
    # The figure measured and the threshold it was measured against, in `unit`.
    measured_value = models.DecimalField(_("measured"), max_digits=20, decimal_places=3)
    threshold_value = models.DecimalField(_("threshold"), max_digits=20, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=10, choices=WarningUnit.choices)
    # The date the condition is about: the expiry, the due date, the delivery deadline…
    reference_date = models.DateField(_("date"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    # Who must act: the listed people, and whoever holds `responsible_role` in the company.
    responsible_role = models.CharField(_("responsible role"), max_length=20, blank=True)
    first_seen_at = models.DateTimeField(_("first detected"))
    last_seen_at = models.DateTimeField(_("last detected"))
    cleared_at = models.DateTimeField(_("condition cleared"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledgement_note = models.TextField(_("note"), blank=True)
    # None with `is_auto_resolved`: the system resolved it when the condition cleared.
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("resolved by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolution_note = models.TextField(_("resolution"), blank=True)
    is_auto_resolved = models.BooleanField(_("resolved automatically"), default=False)
    reopened_count = models.PositiveIntegerField(_("times reopened"), default=0)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        verbose_name = _("trading warning")
        verbose_name_plural = _("trading warnings")
        constraints = [
            models.UniqueConstraint(
                fields=["company", "fingerprint"], name="trading_warning_fingerprint"
            ),
            models.CheckConstraint(
                condition=~Q(state="resolved") | Q(resolved_at__isnull=False),
                name="trading_warning_resolved_at",
            ),
            models.CheckConstraint(
                condition=~Q(state="resolved") | Q(is_auto_resolved=True) | ~Q(resolution_note=""),
                name="trading_warning_resolution_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "state", "kind"], name="trading_warning_state"),
            models.Index(fields=["company", "code", "state"], name="trading_warning_code"),
            models.Index(fields=["state", "kind"], name="trading_warning_group"),
        ]

    def __str__(self) -> str:
        return f"{self.get_code_display()} ({self.fingerprint})"


class TradingWarningResponsible(models.Model):
    """A person a warning is shown to as theirs (the contract's owner, the keeper…)."""

    warning = models.ForeignKey(
        TradingWarning, on_delete=models.CASCADE, related_name="responsible"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["warning", "user"], name="trading_warning_responsible_unique"
            )
        ]
        indexes = [models.Index(fields=["user", "warning"], name="trading_warning_user")]

    def __str__(self) -> str:
        return f"{self.warning_id}/{self.user_id}"


class WarningThresholds(models.Model):
    """A company's warning thresholds; a company without a row uses the defaults below. Changed
    only by `warning_thresholds_update` (audited, with an optimistic version check)."""

    company = models.OneToOneField(
        "org.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    contract_expiring_days = models.PositiveIntegerField(
        _("warn this many days before a contract expires"), default=30
    )
    overdue_grace_days = models.PositiveIntegerField(
        _("receivables overdue by more than this many days"), default=0
    )
    overdue_min_amount = models.DecimalField(
        _("overdue amounts above"), default=Decimal("0"), max_digits=18, decimal_places=2
    )
    credit_usage_percent = models.DecimalField(
        _("credit exposure above this percentage of the limit"),
        default=Decimal("100"),
        max_digits=6,
        decimal_places=2,
    )
    # None: each commodity's own stocktake tolerance.
    stock_variance_tolerance_percent = models.DecimalField(
        _("stocktake variance tolerance (%)"),
        null=True,
        blank=True,
        max_digits=6,
        decimal_places=2,
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        verbose_name = _("warning thresholds")
        verbose_name_plural = _("warning thresholds")
        constraints = [
            models.CheckConstraint(
                condition=Q(overdue_min_amount__gte=0)
                & Q(credit_usage_percent__gt=0)
                & (
                    Q(stock_variance_tolerance_percent__isnull=True)
                    | Q(stock_variance_tolerance_percent__gte=0)
                ),
                name="trading_warning_thresholds_positive",
            )
        ]

    def __str__(self) -> str:
        return f"{self.company_id}"
