from django.db import models
from django.utils.translation import gettext_lazy as _


class RequestStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    RETURNED = "returned", _("Sent back")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


OPEN_REQUEST_STATUSES = frozenset({RequestStatus.IN_PROGRESS, RequestStatus.RETURNED})


class StepStatus(models.TextChoices):
    WAITING = "waiting", _("Not reached")
    ACTIVE = "active", _("In progress")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    SKIPPED = "skipped", _("Skipped")
    CANCELLED = "cancelled", _("Cancelled")


class TaskStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    PENDING = "pending", _("To do")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    RETURNED = "returned", _("Sent back")
    TRANSFERRED = "transferred", _("Transferred")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_TASK_STATUSES = frozenset({TaskStatus.WAITING, TaskStatus.PENDING})


class NodeMode(models.TextChoices):
    SEQUENTIAL = "sequential", _("One after another")
    ALL = "all", _("All must approve (会签)")
    ANY = "any", _("Any one approves (或签)")


class ApproverKind(models.TextChoices):
    USERS = "users", _("Named people")
    ROLE = "role", _("A role in the company")
    DEPARTMENT_HEAD = "department_head", _("The requester's department head")
    LEVELS_UP = "levels_up", _("Department heads N levels up")
    LEADER_IN_CHARGE = "leader_in_charge", _("The leader in charge")


class RoleScope(models.TextChoices):
    REQUESTER_COMPANY = "requester_company", _("The requester's company")
    PROJECT_COMPANY = "project_company", _("The project's company")


class SelfApprovalRule(models.TextChoices):
    SKIP = "skip", _("Skip the requester at that node")
    SUPERIOR = "superior", _("Route to the requester's superior instead")


class ActionKind(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    RESUBMITTED = "resubmitted", _("Resubmitted")
    APPROVED = "approved", _("Approved")
    AUTO_APPROVED = "auto_approved", _("Approved automatically (already approved earlier)")
    REJECTED = "rejected", _("Rejected")
    RETURNED = "returned", _("Sent back")
    TRANSFERRED = "transferred", _("Transferred")
    SIGNER_ADDED = "signer_added", _("Signer added")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    URGED = "urged", _("Urged")
    COMMENTED = "commented", _("Commented")
    NODE_SKIPPED = "node_skipped", _("Node skipped")
    SELF_REROUTED = "self_rerouted", _("Requester removed from the route")
    REMINDED = "reminded", _("Reminder sent")
    ESCALATED = "escalated", _("Escalated")


class AddSignerPosition(models.TextChoices):
    BEFORE = "before", _("Before me")
    AFTER = "after", _("After me")


class ApprovalErrorCode(models.TextChoices):
    ALREADY_DECIDED = "approvals.already_decided", _("Already decided")
    NOT_REACHED = "approvals.not_reached", _("Not your turn yet")
    NOT_YOUR_TASK = "approvals.not_your_task", _("Not your task")
    NO_APPROVER = "approvals.no_approver", _("No approver found")
    INVALID_FORM = "approvals.invalid_form", _("Invalid form")
    CLOSED = "approvals.closed", _("The request is closed")
