from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from qinglian.core.models import Imported, TimeStampedModel
from qinglian.core.uscc import validate_uscc

from .enums import CompanyKind, ProjectStatus, RoleCode


class Company(Imported, TimeStampedModel):
    """A node of the group's company tree. `path` is the materialised path of ids ("/1/4/")."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200, unique=True)
    short_name = models.CharField(_("short name"), max_length=60, blank=True)
    uscc = models.CharField(
        _("unified social credit code"), max_length=18, unique=True, validators=[validate_uscc]
    )
    kind = models.CharField(_("kind"), max_length=16, choices=CompanyKind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent company"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    address = models.CharField(_("address"), max_length=255, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["path"]
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=CompanyKind.GROUP, parent__isnull=True)
                | Q(kind=CompanyKind.SUBSIDIARY, parent__isnull=False),
                name="org_company_group_is_root",
            ),
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="org_company_source_id"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Department(Imported, TimeStampedModel):
    company = models.ForeignKey(
        Company, verbose_name=_("company"), on_delete=models.PROTECT, related_name="departments"
    )
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    head = models.ForeignKey(
        "User",
        verbose_name=_("department head"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="headed_departments",
    )
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["company__path", "path"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="org_department_code_unique"),
            models.UniqueConstraint(
                fields=["company", "source_id"],
                condition=~Q(source_id=""),
                name="org_department_source_id",
            ),
            models.UniqueConstraint(
                fields=["company", "parent", "name"], name="org_department_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class QinglianUserManager(UserManager["User"]):
    pass


class User(Imported, AbstractUser):
    """An employee. Logs in with `username`; belongs to one company and department."""

    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    name = models.CharField(pgettext_lazy("person", "name"), max_length=60)
    employee_number = models.CharField(_("employee number"), max_length=32, unique=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    # Kept to see conflicts of interest (supervision rule 7: a partner paid into an employee's
    # account, or registered at an employee's home).
    bank_name = models.CharField(_("bank"), max_length=100, blank=True)
    bank_account = models.CharField(_("bank account"), max_length=40, blank=True)
    home_address = models.CharField(_("home address"), max_length=255, blank=True)
    company = models.ForeignKey(
        Company,
        verbose_name=_("company"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )
    department = models.ForeignKey(
        Department,
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    position = models.CharField(_("position"), max_length=60, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects: ClassVar[QinglianUserManager] = QinglianUserManager()
    REQUIRED_FIELDS: ClassVar[list[str]] = ["email", "name", "employee_number"]

    class Meta:
        ordering = ["employee_number"]
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(
                fields=["source_id"], condition=~Q(source_id=""), name="org_user_source_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.employee_number}）" if self.name else self.username

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name


class Role(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=60)
    description = models.CharField(_("description"), max_length=255, blank=True)
    is_oversight = models.BooleanField(
        _("read-only oversight"),
        default=False,
        help_text=_("Reads everything in its scope, changes no business data."),
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The translated name for built-in roles, the stored name for others."""
        if self.code in RoleCode.values:
            return str(RoleCode(self.code).label)
        return self.name


class RoleAssignment(models.Model):
    """A user holds a role over a company and (by default) every company below it."""

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="role_assignments"
    )
    role = models.ForeignKey(Role, verbose_name=_("role"), on_delete=models.PROTECT)
    company = models.ForeignKey(
        Company,
        verbose_name=_("scope company"),
        on_delete=models.PROTECT,
        related_name="role_assignments",
    )
    include_subtree = models.BooleanField(_("includes subsidiaries"), default=True)
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user_id", "role_id"]
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "company"], name="org_role_assignment_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} · {self.company}"


class Project(TimeStampedModel):
    """An engineering project: payments against it are approved by its leader in charge."""

    company = models.ForeignKey(
        Company, verbose_name=_("company"), on_delete=models.PROTECT, related_name="projects"
    )
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=200)
    leader = models.ForeignKey(
        User,
        verbose_name=_("leader in charge"),
        on_delete=models.PROTECT,
        related_name="led_projects",
    )
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ProjectStatus.choices, default=ProjectStatus.ACTIVE
    )
    budget = models.DecimalField(
        _("budget (yuan)"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    start_date = models.DateField(_("start date"), null=True, blank=True)
    end_date = models.DateField(_("end date"), null=True, blank=True)
    description = models.TextField(_("description"), blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["company_id", "code"]
        verbose_name = _("engineering project")
        verbose_name_plural = _("engineering projects")
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="org_project_code_unique"),
            models.CheckConstraint(
                condition=Q(start_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(start_date__lte=models.F("end_date")),
                name="org_project_dates_ordered",
            ),
            models.CheckConstraint(
                condition=Q(budget__isnull=True) | Q(budget__gte=0), name="org_project_budget_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A bearer token for other systems. Only a SHA-256 of the secret is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=60)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
