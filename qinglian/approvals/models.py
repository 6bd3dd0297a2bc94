from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from qinglian.core.models import Imported

from .definitions import Definition
from .enums import (
    ActionKind,
    NodeMode,
    RequestStatus,
    SelfApprovalRule,
    StepStatus,
    TaskStatus,
)


class ApprovalTemplate(models.Model):
    """An approval flow (工程款支付, 合同审批 …). Its definition lives in versions; requests keep
    the version they started with."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    category = models.CharField(_("category"), max_length=40, blank=True)
    description = models.TextField(_("description"), blank=True)
    # A business document type registered by another app ("trading.contract"), or "" for a
    # stand-alone form such as leave or seal use.
    document_type = models.CharField(_("document type"), max_length=60, blank=True)
    self_approval_rule = models.CharField(
        _("when the route reaches the requester"),
        max_length=16,
        choices=SelfApprovalRule.choices,
        default=SelfApprovalRule.SUPERIOR,
    )
    skip_repeated_approver = models.BooleanField(
        _("approve automatically where a person already approved earlier"), default=True
    )
    resume_at_returning_node = models.BooleanField(
        _("after a send-back, resubmission returns to the node that sent it back"), default=True
    )
    is_active = models.BooleanField(_("active"), default=True)
    current_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["category", "code"]
        verbose_name = _("approval template")

    def __str__(self) -> str:
        return self.name


class TemplateVersion(models.Model):
    """An immutable definition (form fields + route) validated by `definitions.Definition`."""

    template = models.ForeignKey(
        ApprovalTemplate, on_delete=models.PROTECT, related_name="versions"
    )
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="approvals_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.template.code} v{self.number}"

    def parsed(self) -> Definition:
        """The definition, validated. A version never changes (a changed definition is a new
        version), so each is parsed once per process. The key holds the creation time too, so a
        reused id (a test database rolled back) is never taken for an earlier version."""
        key = (self.pk, self.created_at)
        parsed = _parsed_definitions.get(key)
        if parsed is None:
            if len(_parsed_definitions) >= 1000:
                _parsed_definitions.clear()
            parsed = _parsed_definitions[key] = Definition.model_validate(self.definition)
        return parsed


_parsed_definitions: dict[tuple[int | None, object], Definition] = {}


class ApprovalRequest(Imported, models.Model):
    serial = models.CharField(_("number"), max_length=32, unique=True)
    company = models.ForeignKey(
        "org.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="+"
    )
    template = models.ForeignKey(ApprovalTemplate, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="+")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requester"),
        on_delete=models.PROTECT,
        related_name="approval_requests",
    )
    department = models.ForeignKey(
        "org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(_("title"), max_length=200)
    form_data = models.JSONField(default=dict)
    amount = models.DecimalField(
        _("amount"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=RequestStatus.choices,
        default=RequestStatus.IN_PROGRESS,
        db_index=True,
    )
    document_type = models.CharField(max_length=60, blank=True)
    document_id = models.CharField(max_length=64, blank=True)
    current_round = models.PositiveSmallIntegerField(default=1)
    returned_from_step = models.PositiveSmallIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, blank=True)
    submitted_at = models.DateTimeField(_("submitted"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    lock_version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = _("approval request")
        constraints = [
            models.UniqueConstraint(
                fields=["requester", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="approvals_request_idempotent",
            ),
            models.UniqueConstraint(
                fields=["document_type", "document_id"],
                condition=~Q(document_type="") & Q(status__in=["in_progress", "returned"]),
                name="approvals_one_open_request_per_document",
            ),
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="approvals_request_source_id"
            ),
        ]
        indexes = [
            models.Index(fields=["requester", "-submitted_at"], name="approvals_req_requester"),
            models.Index(fields=["company", "-submitted_at"], name="approvals_req_company"),
        ]

    def __str__(self) -> str:
        return f"{self.serial} {self.title}"


class ApprovalStep(models.Model):
    """One node of the route as it runs for one request."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="steps")
    round = models.PositiveSmallIntegerField(default=1)  # a resubmission from the start: +1
    index = models.PositiveSmallIntegerField()
    node_key = models.CharField(max_length=40)
    name = models.CharField(max_length=60)
    mode = models.CharField(max_length=12, choices=NodeMode.choices)
    status = models.CharField(max_length=12, choices=StepStatus.choices, default=StepStatus.WAITING)
    note = models.CharField(max_length=200, blank=True)
    approver_ids = models.JSONField(default=list)  # resolved at submission, shown as the route
    time_limit_hours = models.PositiveIntegerField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["request_id", "round", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "round", "index"], name="approvals_step_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.request_id}#{self.index} {self.name}"


class ApprovalTask(models.Model):
    """One person's decision at one step. The inbox is the PENDING tasks of a person."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="tasks")
    step = models.ForeignKey(ApprovalStep, on_delete=models.CASCADE, related_name="tasks")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_tasks"
    )
    order = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=12, choices=TaskStatus.choices, default=TaskStatus.WAITING)
    is_added = models.BooleanField(default=False)  # added by 加签
    # A step sent back to runs again with fresh tasks; the earlier ones stay as history.
    superseded = models.BooleanField(default=False)
    waits_for = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    # Facts supervision reads later: decided outside working hours, how long the decision took.
    decided_after_hours = models.BooleanField(null=True)
    decision_seconds = models.PositiveIntegerField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # No default ordering: ordering by the step would join it into every task query. Each
        # read that shows tasks orders them itself (by step, then "order", then id).
        indexes = [
            models.Index(
                fields=["assignee", "status", "-activated_at"], name="approvals_task_inbox"
            ),
            models.Index(fields=["status", "due_at"], name="approvals_task_due"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}:{self.step_id} {self.assignee_id} {self.status}"


class ApprovalAction(models.Model):
    """What happened on a request, in order: the trail every party sees."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="actions")
    task = models.ForeignKey(
        ApprovalTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    step_index = models.PositiveSmallIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=ActionKind.choices)
    comment = models.TextField(blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.kind}"


class CarbonCopy(models.Model):
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="ccs")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_ccs"
    )
    at = models.CharField(max_length=8)  # "start", "end", or "escalate" (told of a late task)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["request", "user", "at"], name="approvals_cc_unique")
        ]

    def __str__(self) -> str:
        return f"cc {self.user_id} on {self.request_id}"


class Attachment(models.Model):
    request = models.ForeignKey(
        ApprovalRequest,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    action = models.ForeignKey(
        ApprovalAction, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(upload_to="approvals/%Y/%m/")
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    content_type = models.CharField(max_length=100, blank=True)
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """In-app notices (a task arrived, a request was decided, a reminder); e-mail mirrors them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    request = models.ForeignKey(
        ApprovalRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=20)
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    # The notice is its own e-mail outbox: set once the e-mail copy was handed to the mail
    # server, or found to have no address (`services.notification_emails_send`).
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at"], name="approvals_notice_unread"),
            models.Index(
                fields=["id"],
                condition=Q(emailed_at__isnull=True),
                name="approvals_notice_unmailed",
            ),
        ]

    def __str__(self) -> str:
        return self.message
