from django.db import models
from django.utils.translation import gettext_lazy as _


class RoleCode(models.TextChoices):
    HANDLER = "handler", _("Handler")
    PURCHASER = "purchaser", _("Purchaser")
    SALESPERSON = "salesperson", _("Salesperson")
    COST_AUDITOR = "cost_auditor", _("Cost auditor")
    LEGAL_REVIEWER = "legal_reviewer", _("Legal reviewer")
    FINANCE = "finance", _("Finance")
    WAREHOUSE_KEEPER = "warehouse_keeper", _("Warehouse keeper")
    DEPARTMENT_HEAD = "department_head", _("Department head")
    LEADER_IN_CHARGE = "leader_in_charge", _("Leader in charge")
    GENERAL_MANAGER = "general_manager", _("General manager")
    INSPECTOR = "inspector", _("Discipline inspector")
    AUDITOR = "auditor", _("Internal auditor")
    IT_ADMIN = "it_admin", _("IT administrator")


# Oversight roles read everything in their scope and change no business data.
OVERSIGHT_ROLES = frozenset({RoleCode.INSPECTOR, RoleCode.AUDITOR})


class CompanyKind(models.TextChoices):
    GROUP = "group", _("Group")
    SUBSIDIARY = "subsidiary", _("Subsidiary")


class ProjectStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    ACTIVE = "active", _("In progress")
    COMPLETED = "completed", _("Completed")
    SUSPENDED = "suspended", _("Suspended")


class OrgErrorCode(models.TextChoices):
    DUPLICATE = "org.duplicate", _("Already exists")
    TREE_CYCLE = "org.tree_cycle", _("Would make a cycle in the tree")
    STALE_VERSION = "org.stale_version", _("Changed by someone else")
