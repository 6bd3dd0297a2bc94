from django.db import models
from django.utils.translation import gettext_lazy as _


class Area(models.TextChoices):
    """What a rule watches: the source's 人、财、事、权."""

    PEOPLE = "people", _("People")
    MONEY = "money", _("Money")
    MATTERS = "matters", _("Matters")
    POWER = "power", _("Power")


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}


class ParameterKind(models.TextChoices):
    INTEGER = "integer", _("Whole number")
    DECIMAL = "decimal", _("Number")
    BOOLEAN = "boolean", _("Yes or no")
    CODES = "codes", _("List of codes")


class FindingStatus(models.TextChoices):
    OPEN = "open", _("To triage")
    DISMISSAL_REQUESTED = "dismissal_requested", _("Dismissal awaiting a second inspector")
    DISMISSED = "dismissed", _("Dismissed")
    IN_CASE = "in_case", _("Case open")
    CLOSED = "closed", _("Rectified and closed")


# Findings still waiting for someone: the dashboard's "open" figures count these.
LIVE_FINDING_STATUSES = frozenset(
    {FindingStatus.OPEN, FindingStatus.DISMISSAL_REQUESTED, FindingStatus.IN_CASE}
)


class CaseStatus(models.TextChoices):
    RECTIFYING = "rectifying", _("Rectification due")
    VERIFYING = "verifying", _("Rectification submitted, awaiting verification")
    CLOSED = "closed", _("Closed")


OPEN_CASE_STATUSES = frozenset({CaseStatus.RECTIFYING, CaseStatus.VERIFYING})


class CaseEventKind(models.TextChoices):
    OPENED = "opened", _("Case opened")
    RECTIFICATION_SUBMITTED = "rectification_submitted", _("Rectification submitted")
    ACCEPTED = "accepted", _("Rectification accepted, case closed")
    REJECTED = "rejected", _("Rectification rejected, back to the unit")
    ESCALATED = "escalated", _("Overdue: escalated")


class RunTrigger(models.TextChoices):
    MANUAL = "manual", _("On demand")
    SCHEDULE = "schedule", _("Scheduled")
    COMMAND = "command", _("Command line")


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    FAILED = "failed", _("Failed")


class SupervisionErrorCode(models.TextChoices):
    NOT_INSPECTOR = "supervision.not_inspector", _("Only an inspector may do this")
    FOUR_EYES = "supervision.four_eyes", _("A second inspector must confirm")
    WRONG_STATUS = "supervision.wrong_status", _("Not possible in the current status")
    STALE = "supervision.stale", _("Changed by someone else")
    INVALID_PARAMETERS = "supervision.invalid_parameters", _("Invalid rule parameters")
    UNKNOWN_RULE = "supervision.unknown_rule", _("Unknown rule")
