from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .enums import (
    Area,
    CaseEventKind,
    CaseStatus,
    FindingStatus,
    RunStatus,
    RunTrigger,
    Severity,
)


class RuleSetting(models.Model):
    """A rule's current parameters. One row per rule code, created with the defaults the first
    time the rule is shown or run; every change is a new `RuleParameterVersion`."""

    rule_code = models.CharField(_("rule"), max_length=40, unique=True)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    version = models.PositiveIntegerField(_("parameter version"), default=1)
    parameters = models.JSONField(_("parameters"), default=dict)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        ordering = ["rule_code"]
        verbose_name = _("rule setting")

    def __str__(self) -> str:
        return f"{self.rule_code} v{self.version}"


class RuleParameterVersion(models.Model):
    """Every parameter set a rule ever ran with: a finding names the version it was found
    under and carries its values in its evidence."""

    rule_code = models.CharField(max_length=40)
    number = models.PositiveIntegerField()
    parameters = models.JSONField()
    is_enabled = models.BooleanField(default=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["rule_code", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule_code", "number"], name="supervision_parameter_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule_code} v{self.number}"


class Run(models.Model):
    """One run of some rules: on demand, on the schedule, or from the command line."""

    trigger = models.CharField(_("trigger"), max_length=12, choices=RunTrigger.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    rule_codes = models.JSONField(default=list)
    # forced to run every rule in full; otherwise a rule whose inputs did not change since its
    # last run is skipped (its findings seen again, "skipped" in its stats)
    is_full = models.BooleanField(_("full run"), default=False)
    new_count = models.PositiveIntegerField(_("new findings"), default=0)
    seen_again_count = models.PositiveIntegerField(_("seen again"), default=0)
    # per rule: {"hits": n, "new": n, "seen_again": n, "seconds": s, "parameter_version": v},
    # with "skipped": true (and "since_run") for a rule skipped as unchanged, or {"error": …}
    stats = models.JSONField(default=dict)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("supervision run")

    def __str__(self) -> str:
        return f"run {self.pk} ({self.trigger})"

    @property
    def ran_rule_codes(self) -> list[str]:
        """The rules this run detected in full (failed ones included)."""
        return [code for code in self.rule_codes if not self.stats.get(code, {}).get("skipped")]

    @property
    def skipped_rule_codes(self) -> list[str]:
        """The rules skipped as unchanged: their findings were seen again as they were."""
        return [code for code in self.rule_codes if self.stats.get(code, {}).get("skipped")]


class RuleState(models.Model):
    """What a rule's last successful run read (the watermark of its inputs: tables, audit trail,
    parameters, code, day) and the run whose hits are its current findings. A run whose inputs
    equal these skips the rule; a failed run deletes the row, so the next one runs in full."""

    rule_code = models.CharField(max_length=40, unique=True)
    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="+")
    inputs = models.JSONField(default=dict)
    hits = models.PositiveIntegerField(default=0)  # findings the run hit (new or seen again)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["rule_code"]

    def __str__(self) -> str:
        return f"{self.rule_code} @ run {self.run_id}"


class Finding(models.Model):
    """A rule hit about one subject (a request, a person, a company-year). Its fingerprint is
    stable per (rule, subject): a re-run records that it was seen again, never a twin."""

    rule_code = models.CharField(_("rule"), max_length=40, db_index=True)
    fingerprint = models.CharField(max_length=64, unique=True)
    area = models.CharField(_("area"), max_length=10, choices=Area.choices)
    severity = models.CharField(_("severity"), max_length=8, choices=Severity.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=FindingStatus.choices, default=FindingStatus.OPEN
    )
    company = models.ForeignKey(
        "org.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    department = models.ForeignKey(
        "org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject_type = models.CharField(max_length=40)
    subject_id = models.CharField(max_length=64)
    subject_label = models.CharField(_("subject"), max_length=200)
    # figures, documents, people and the exact parameter values the rule used
    evidence = models.JSONField(_("evidence"), default=dict)
    parameter_version = models.PositiveIntegerField(_("parameter version"))
    occurred_at = models.DateTimeField(_("occurred"), null=True, blank=True)
    first_run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="+")
    last_run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="+")
    first_seen_at = models.DateTimeField(_("found"), db_index=True)
    last_seen_at = models.DateTimeField(_("last seen"))
    seen_count = models.PositiveIntegerField(_("times seen"), default=1)
    dismissal_reason = models.TextField(_("reason for dismissal"), blank=True)
    dismissal_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dismissal_requested_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dismissed_at = models.DateTimeField(null=True, blank=True)
    lock_version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-first_seen_at", "-id"]
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        indexes = [
            models.Index(fields=["company", "status"], name="supervision_finding_company"),
            models.Index(fields=["rule_code", "status"], name="supervision_finding_rule"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=FindingStatus.DISMISSED) | ~Q(dismissal_reason=""),
                name="supervision_finding_dismissal_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(seen_count__gte=1), name="supervision_finding_seen_count_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_code}: {self.subject_label}"


class FindingDocument(models.Model):
    """A document a finding is about, for "the risks of this document" and drill-downs."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="documents")
    document_type = models.CharField(max_length=60)
    document_id = models.CharField(max_length=64)
    label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["document_type", "document_id"], name="supervision_document_idx")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["finding", "document_type", "document_id"],
                name="supervision_document_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.document_type}:{self.document_id}"


class Case(models.Model):
    """The closed loop for one finding: the responsible unit rectifies by a deadline, an
    inspector verifies (accept → closed, reject → rectify again); overdue cases escalate."""

    serial = models.CharField(_("number"), max_length=32, unique=True)
    finding = models.OneToOneField(Finding, on_delete=models.PROTECT, related_name="case")
    company = models.ForeignKey(
        "org.Company",
        verbose_name=_("responsible company"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    department = models.ForeignKey(
        "org.Department",
        verbose_name=_("responsible department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("responsible person"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    instructions = models.TextField(_("what must be rectified"))
    deadline = models.DateField(_("rectification deadline"))
    status = models.CharField(
        _("status"), max_length=12, choices=CaseStatus.choices, default=CaseStatus.RECTIFYING
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(_("opened"))
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalations"), default=0)
    escalated_at = models.DateTimeField(_("last escalated"), null=True, blank=True)
    lock_version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        indexes = [
            models.Index(fields=["company", "status"], name="supervision_case_company"),
            models.Index(fields=["status", "deadline"], name="supervision_case_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=CaseStatus.CLOSED) | Q(closed_at__isnull=False),
                name="supervision_case_closed_has_time",
            )
        ]

    def __str__(self) -> str:
        return self.serial


class Rectification(models.Model):
    """What the unit did, with its evidence; the inspector's verdict on it."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="rectifications")
    round = models.PositiveSmallIntegerField(default=1)
    text = models.TextField(_("rectification"))
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(_("submitted"))
    is_accepted = models.BooleanField(_("accepted"), null=True)  # None: not verified yet
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_comment = models.TextField(_("verification comment"), blank=True)

    class Meta:
        ordering = ["case_id", "round"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "round"], name="supervision_rectification_round_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.case_id} #{self.round}"


class RectificationAttachment(models.Model):
    rectification = models.ForeignKey(
        Rectification, on_delete=models.PROTECT, related_name="attachments"
    )
    file = models.FileField(upload_to="supervision/%Y/%m/")
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100, blank=True)
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class CaseEvent(models.Model):
    """The case's own trail, shown on its page (the audit trail holds the same, hash-chained)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=24, choices=CaseEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind}"
